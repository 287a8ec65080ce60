#!/usr/bin/env bash
# The main job: starts a real Kafka broker and a throwaway PostgreSQL with
# kafka_fdw, and shows data flowing both ways (SQL -> Kafka -> kcat, and
# kcat -> Kafka -> SQL).  Installs what is missing and builds first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/deps.sh
export PATH="$(pg_config --bindir):$PATH"
make -s -j2 >/dev/null && make -s install >/dev/null

export KAFKA_STATE_DIR="$ROOT/demo/tmp/kafka" PG_STATE_DIR="$ROOT/demo/tmp/pg"
cleanup() { bash test/pg_cluster.sh stop >/dev/null 2>&1 || true; bash test/kafka_broker.sh stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
echo "== starting Kafka (Apache Kafka 3.9.1 from Maven Central) and PostgreSQL 15"
KAFKA_BROKERS=$(bash test/kafka_broker.sh start | tail -1); export KAFKA_BROKERS
eval "$(bash test/pg_cluster.sh start)"; export PGHOST PGPORT PGUSER=postgres
echo "   broker $KAFKA_BROKERS, postgres port $PGPORT"

run() { echo; echo "-- $1"; shift; "$@"; }
psql -X -q -v ON_ERROR_STOP=1 -v brokers="$KAFKA_BROKERS" <<'SQL'
\set ECHO queries
CREATE EXTENSION kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers');
CREATE USER MAPPING FOR PUBLIC SERVER kafka;
SELECT kafka.create_topic('kafka', 'orders', 3);
SELECT * FROM kafka.topics('kafka');

CREATE FOREIGN TABLE orders (
  part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  k text OPTIONS (key 'true'), id int, item text, qty int
) SERVER kafka OPTIONS (topic 'orders', format 'json');

-- SQL -> Kafka: one JSON message per row, acknowledged before INSERT returns
INSERT INTO orders (k, id, item, qty) VALUES ('c1', 1, 'tea', 2), ('c2', 2, 'cake', 1), ('c1', 3, 'milk', 4);
SQL
echo; echo "-- kcat reads what SQL produced:"
kcat -C -b "$KAFKA_BROKERS" -t orders -e -q -f '   partition %p offset %o key %k: %s\n' | sort
echo; echo "-- kcat produces three more messages (one is not JSON):"
printf 'c3:{"id":4,"item":"jam","qty":1}\nc4:{"id":5,"item":"bread","qty":2}\nc5:oops\n' | kcat -P -b "$KAFKA_BROKERS" -t orders -K:
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\set ECHO queries
-- Kafka -> SQL: a scan reads up to the high watermark taken when it starts
SELECT * FROM kafka.partitions('kafka', 'orders');
SELECT part, off, k, id, item, qty FROM orders ORDER BY id NULLS LAST;
EXPLAIN (COSTS OFF) SELECT * FROM orders WHERE part = 1 AND off >= 1;
-- load the topic into a table in one statement
CREATE TABLE orders_copy AS SELECT id, item, qty FROM orders WHERE id IS NOT NULL;
SELECT count(*) AS loaded FROM orders_copy;
-- incremental, exactly-once loads through a consumer group
CREATE FOREIGN TABLE orders_feed (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  id int, item text, qty int) SERVER kafka OPTIONS (topic 'orders', format 'json', group 'loader');
CREATE TABLE orders_loaded (id int, item text, qty int);
INSERT INTO orders_loaded SELECT id, item, qty FROM orders_feed WHERE id IS NOT NULL;
INSERT INTO orders_loaded SELECT id, item, qty FROM orders_feed;   -- again: nothing new
SELECT * FROM kafka.group_lag('kafka', 'loader');
-- ad hoc reads and produce without DDL
SELECT * FROM kafka.produce('kafka', 'orders', '{"id": 6, "item": "figs", "qty": 3}'::jsonb, 'c6');
SELECT partition, "offset", convert_from(value, 'UTF8') AS value FROM kafka.consume('kafka', 'orders') ORDER BY 1, 2;
-- the group picks up only the new message
INSERT INTO orders_loaded SELECT id, item, qty FROM orders_feed;
SELECT count(*) AS loaded_once FROM orders_loaded;
SQL
echo; echo "-- Kafka's own tool sees the group's positions:"
bash test/kafka_broker.sh tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
  --bootstrap-server "$KAFKA_BROKERS" --describe --group loader 2>/dev/null | sed 's/^/   /'
echo
echo "-- kafka_copy, the COPY program from the same core: topic -> COPY text"
"$(pg_config --bindir)/kafka_copy" consume -b "$KAFKA_BROKERS" -t orders --format json --columns id,item,qty --meta partition,offset | sed 's/^/   /'

echo
echo "-- change data capture: a pipeline streams a publication's row changes to Kafka"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\set ECHO queries
CREATE TABLE customers (id int PRIMARY KEY, name text, tier text);
CREATE PUBLICATION shop_pub FOR TABLE customers;
SELECT kafka.create_pipeline('shop', 'kafka', 'shop_pub');
INSERT INTO customers VALUES (1, 'Ada', 'gold'), (2, 'Bob', 'silver');
UPDATE customers SET tier = 'platinum' WHERE id = 1;
DELETE FROM customers WHERE id = 2;
SQL
for _ in $(seq 1 100); do   # the worker starts within a second; wait for its 4 events
  n=$(psql -X -At -c "SELECT count(*) FROM kafka.consume('kafka', 'shop.public.customers')" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 4 ] && break; sleep 0.2
done
echo "-- kcat reads the change events (key | value | headers; a delete is a tombstone):"
kcat -C -b "$KAFKA_BROKERS" -t shop.public.customers -e -q -f '   %k | %s | %h\n'
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\set ECHO queries
SELECT name, state, events_sent, lag_bytes, last_error FROM kafka.pipeline_status;
SQL

echo
echo "-- a sink applies a topic into a table continuously (exactly once, through a group);"
echo "-- ignore_junk skips the message that is not JSON ('oops')"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\set ECHO queries
CREATE FOREIGN TABLE orders_in (id int, item text, qty int)
  SERVER kafka OPTIONS (topic 'orders', format 'json', group 'orders_sink', ignore_junk 'true');
CREATE TABLE orders_sunk (id int, item text, qty int);
SELECT kafka.create_sink('orders_sink', 'orders_in', 'orders_sunk');
SQL
wait_rows() {  # wait_rows N: until orders_sunk has N rows (the sink worker starts within a second)
  for _ in $(seq 1 100); do
    [ "$(psql -X -At -c 'SELECT count(*) FROM orders_sunk' 2>/dev/null)" = "$1" ] && return; sleep 0.2
  done
}
wait_rows 6
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\set ECHO queries
SELECT id, item, qty FROM orders_sunk ORDER BY id;
SELECT * FROM kafka.produce('kafka', 'orders', '{"id": 7, "item": "honey", "qty": 1}'::jsonb, 'c7');
SQL
wait_rows 7
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\set ECHO queries
SELECT name, state, rows_applied, last_error FROM kafka.sink_status;
SQL

echo; echo "== done (broker and cluster stop now)"
