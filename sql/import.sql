-- IMPORT FOREIGN SCHEMA: tables inferred from sampled messages;
-- kafka_get_watermarks.
\set VERBOSITY default
SELECT kafka.create_topic('kafka', 'imp_orders', 2);
SELECT kafka.create_topic('kafka', 'app.events-v2', 1);
SELECT kafka.create_topic('kafka', 'imp_empty', 3);
SELECT kafka.create_topic('kafka', 'imp_text', 1);
SELECT kafka.create_topic('kafka', 'imp_binary', 1);
-- mixed member types: ints then floats, timestamps, uuids, nested, members in some messages only
\! printf 'k1:{"id":1,"amount":2,"at":"2026-01-01T10:00:00Z","uid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","Order ID":"x","nested":{"a":1},"flag":true,"mixed":1}\nk2:{"id":2,"amount":2.5,"at":"2026-01-02 11:00:00+01","only_here":"y","flag":false,"mixed":"one","tags":["a"]}\n' | kcat -P -b "$KAFKA_BROKERS" -t imp_orders -K: -p 0
\! printf 'k3:{"id":3,"amount":-1e3,"uid":null,"_offset":5}\n' | kcat -P -b "$KAFKA_BROKERS" -t imp_orders -K: -p 1
\! printf '{"a":1}\n{"a":"s"}\n' | kcat -P -b "$KAFKA_BROKERS" -t app.events-v2
\! printf 'hello\nworld\n' | kcat -P -b "$KAFKA_BROKERS" -t imp_text
\! printf '\377\001binary\n' | kcat -P -b "$KAFKA_BROKERS" -t imp_binary

CREATE SCHEMA topics;
IMPORT FOREIGN SCHEMA kafka FROM SERVER kafka INTO topics;
-- one table per topic (internal __ topics skipped)
SELECT (SELECT count(*) FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
         WHERE c.relnamespace = 'topics'::regnamespace) =
       (SELECT count(*) FROM kafka.topics('kafka') WHERE topic NOT LIKE '\_\_%') AS one_per_topic;
-- (columns and their options from the catalog: psql 18's \d quotes the option name json)
SELECT attname, format_type(atttypid, atttypmod) AS type, array_to_string(attfdwoptions, ', ') AS options
  FROM pg_attribute WHERE attrelid = 'topics.imp_orders'::regclass AND attnum > 0 ORDER BY attnum;
SELECT s.srvname, array_to_string(ft.ftoptions, ', ') AS options
  FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = 'topics.imp_orders'::regclass;
\d topics."app.events-v2"
\d topics.imp_empty
\d topics.imp_text
\d topics.imp_binary
-- the imported tables return every message with the inferred types
SELECT _partition, _offset, _key, id, amount, at, uid, order_id, nested, flag, only_here, mixed, tags, _offset_2
  FROM topics.imp_orders ORDER BY id;
SELECT a FROM topics."app.events-v2" ORDER BY _offset;
SELECT value FROM topics.imp_text ORDER BY _offset;
SELECT value FROM topics.imp_binary;
SELECT count(*) FROM topics.imp_empty;
-- LIMIT TO and EXCEPT, options passed through
CREATE SCHEMA t2;
IMPORT FOREIGN SCHEMA kafka LIMIT TO (imp_orders, "app.events-v2") FROM SERVER kafka INTO t2
  OPTIONS (format 'json', sample_size '2000', strict 'true');
SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 't2'::regnamespace ORDER BY 1;
CREATE SCHEMA t3;
IMPORT FOREIGN SCHEMA kafka EXCEPT (imp_orders, imp_text) FROM SERVER kafka INTO t3 OPTIONS (sample 'earliest', sample_size '1');
SELECT relname FROM pg_class WHERE relnamespace = 't3'::regnamespace AND relname LIKE 'imp%' ORDER BY 1;
-- a name that collides with an existing table is an ERROR naming it
IMPORT FOREIGN SCHEMA kafka LIMIT TO (imp_orders) FROM SERVER kafka INTO t2;
-- bad options
IMPORT FOREIGN SCHEMA kafka FROM SERVER kafka INTO t3 OPTIONS (format 'xml');
IMPORT FOREIGN SCHEMA kafka FROM SERVER kafka INTO t3 OPTIONS (sample 'middle');
IMPORT FOREIGN SCHEMA kafka LIMIT TO (imp_text) FROM SERVER kafka INTO t2 OPTIONS (bogus 'x');

-- ANALYZE samples messages and gives the planner real statistics
SELECT kafka.create_topic('kafka', 'imp_stats', 3);
\! seq 1 3000 | awk '{printf "k%d:{\"id\":%d,\"cat\":\"c%d\",\"v\":%d}\n", $1, $1, $1%5, $1%100}' | kcat -P -b "$KAFKA_BROKERS" -t imp_stats -K:
IMPORT FOREIGN SCHEMA kafka LIMIT TO (imp_stats) FROM SERVER kafka INTO t2;
-- one consumer client for all of ANALYZE's sampling rounds (8 here)
SELECT kafka._bridge_selftest('range_consumers') AS clients_before \gset
ANALYZE t2.imp_stats;
SELECT kafka._bridge_selftest('range_consumers') - :clients_before AS clients_made;
SELECT reltuples FROM pg_class WHERE oid = 't2.imp_stats'::regclass;
SELECT attname, null_frac, n_distinct FROM pg_stats WHERE schemaname = 't2' AND tablename = 'imp_stats'
  AND attname IN ('cat', 'v', '_partition', 'id') ORDER BY attname;
SELECT most_common_vals::text::text[] @> '{c0,c1,c2,c3,c4}' AS all_categories FROM pg_stats
 WHERE schemaname = 't2' AND tablename = 'imp_stats' AND attname = 'cat';
-- estimates follow the watermarks and the statistics
EXPLAIN (COSTS ON, TIMING OFF, SUMMARY OFF) SELECT * FROM t2.imp_stats WHERE cat = 'c1';
-- with a sample smaller than the topic, ANALYZE reads a bounded number of messages
-- (PostgreSQL 18's ANALYZE VERBOSE adds a report with timings: only the two INFO lines are kept)
\setenv PGDATABASE :DBNAME
\! PGOPTIONS='-c default_statistics_target=1' psql -X -q -c 'ANALYZE VERBOSE t2.imp_stats' 2>&1 | grep -E '^INFO:  (analyzing|"imp_stats")'

-- kafka_get_watermarks agrees with kafka.partitions and kcat
SELECT * FROM kafka.kafka_get_watermarks('topics.imp_orders');
SELECT * FROM kafka.partitions('kafka', 'imp_orders');
\! kcat -C -b "$KAFKA_BROKERS" -t imp_orders -e -q -f '%p\n' | sort | uniq -c | awk '{print "partition " $2 ": " $1 " messages"}'
SELECT * FROM kafka.kafka_get_watermarks('pg_class');
