-- Consumer groups: incremental reads, positions moved in the reading
-- transaction, rollbacks, savepoints, LIMIT and cursors, functions, gaps,
-- Kafka's own view of the group.
\set VERBOSITY default
SELECT kafka.create_topic('kafka', 'g_orders', 3);
\! for i in 1 2 3 4 5 6; do echo "$i:{\"id\":$i,\"item\":\"item $i\",\"qty\":$i}"; done | kcat -P -b "$KAFKA_BROKERS" -t g_orders -p 0 -K:
\! for i in 7 8 9; do echo "$i:{\"id\":$i,\"item\":\"item $i\",\"qty\":$i}"; done | kcat -P -b "$KAFKA_BROKERS" -t g_orders -p 1 -K:
-- the DDL as written
CREATE FOREIGN TABLE orders_feed (
  part int    OPTIONS (partition 'true'),
  off  bigint OPTIONS (offset 'true'),
  id int, item text, qty int
) SERVER kafka OPTIONS (topic 'g_orders', format 'json', group 'loader');
CREATE TABLE orders_local (id int, item text, qty int);
EXPLAIN (COSTS OFF) INSERT INTO orders_local SELECT id, item, qty FROM orders_feed;
INSERT INTO orders_local SELECT id, item, qty FROM orders_feed;   -- everything so far
INSERT INTO orders_local SELECT id, item, qty FROM orders_feed;   -- run it again: nothing new
SELECT count(*), count(DISTINCT id) FROM orders_local;
SELECT topic, partition, next_offset FROM kafka.group_offsets ORDER BY partition;
SELECT * FROM kafka.group_lag('kafka', 'loader');
-- new messages: only those are read
\! for i in 10 11; do echo "$i:{\"id\":$i,\"item\":\"item $i\",\"qty\":$i}"; done | kcat -P -b "$KAFKA_BROKERS" -t g_orders -p 2 -K:
-- ROLLBACK returns the position
BEGIN;
INSERT INTO orders_local SELECT id, item, qty FROM orders_feed;
SELECT count(*) FROM orders_local;
ROLLBACK;
SELECT partition, next_offset, lag FROM kafka.group_lag('kafka', 'loader') ORDER BY 1;
-- an ERROR later in the transaction returns it too
BEGIN;
INSERT INTO orders_local SELECT id, item, qty FROM orders_feed;
SELECT 1/0;
COMMIT;
SELECT partition, next_offset, lag FROM kafka.group_lag('kafka', 'loader') ORDER BY 1;
-- a rolled-back savepoint returns it; a second scan in the transaction continues after the first
BEGIN;
SAVEPOINT s1;
SELECT id FROM orders_feed ORDER BY id;
ROLLBACK TO s1;
SELECT id FROM orders_feed WHERE part = 2 ORDER BY id;
SELECT id FROM orders_feed ORDER BY id;
COMMIT;
SELECT partition, next_offset, lag FROM kafka.group_lag('kafka', 'loader') ORDER BY 1;
-- a WHERE clause above the scan does not hold messages back: they are consumed
\! for i in 12 13; do echo "$i:{\"id\":$i,\"item\":\"item $i\",\"qty\":$i}"; done | kcat -P -b "$KAFKA_BROKERS" -t g_orders -p 0 -K:
SELECT id FROM orders_feed WHERE id = 12;
SELECT id FROM orders_feed;
-- LIMIT and cursors move the position only past what was returned
\! for i in 14 15 16 17; do echo "$i:{\"id\":$i,\"item\":\"item $i\",\"qty\":$i}"; done | kcat -P -b "$KAFKA_BROKERS" -t g_orders -p 1 -K:
SELECT id FROM orders_feed LIMIT 1;
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM orders_feed;
FETCH 2 FROM c;
CLOSE c;
COMMIT;
SELECT id FROM orders_feed;
SELECT partition, next_offset, lag FROM kafka.group_lag('kafka', 'loader') ORDER BY 1;
-- group scans are not parallel
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
EXPLAIN (COSTS OFF) SELECT * FROM orders_feed;
RESET parallel_setup_cost; RESET parallel_tuple_cost;
-- reset_group and set_group_offset, transactional like scans
BEGIN;
SELECT * FROM kafka.reset_group('kafka', 'loader', 'g_orders', 'earliest');
SELECT count(*) FROM orders_feed;
ROLLBACK;
SELECT partition, next_offset FROM kafka.group_lag('kafka', 'loader') ORDER BY 1;
SELECT * FROM kafka.reset_group('kafka', 'loader', 'g_orders', 'latest');
SELECT * FROM kafka.reset_group('kafka', 'loader', 'g_orders', '2000-01-01 00:00:00+00');
SELECT * FROM kafka.reset_group('kafka', 'loader', 'g_orders', '2100-01-01 00:00:00+00');
SELECT kafka.set_group_offset('kafka', 'loader', 'g_orders', 1, 5);
SELECT id FROM orders_feed ORDER BY id;
SELECT kafka.set_group_offset('kafka', 'loader', 'g_orders', 7, 5);
SELECT * FROM kafka.reset_group('kafka', 'loader', 'g_orders', 'yesterday-ish');
-- an unknown group has the whole topic as lag (through the tables that use it)
CREATE FOREIGN TABLE other_feed (id int) SERVER kafka OPTIONS (topic 'g_orders', format 'json', group 'fresh', group_start 'earliest');
SELECT * FROM kafka.group_lag('kafka', 'fresh');
SELECT * FROM kafka.group_lag('kafka', 'nobody');
-- group_start 'latest': a new group starts at the end
CREATE FOREIGN TABLE late_feed (id int) SERVER kafka OPTIONS (topic 'g_orders', format 'json', group 'late', group_start 'latest');
SELECT count(*) FROM late_feed;
-- a topic created again under the same name: the group starts over, with a WARNING
SELECT kafka.create_topic('kafka', 'g_again', 1);
\! for i in 1 2 3 4 5; do echo "{\"id\":$i}"; done | kcat -P -b "$KAFKA_BROKERS" -t g_again -p 0
CREATE FOREIGN TABLE again_feed (id int) SERVER kafka OPTIONS (topic 'g_again', format 'json', group 'again');
SELECT count(*) FROM again_feed;
SELECT kafka.delete_topic('kafka', 'g_again');
SELECT kafka.create_topic('kafka', 'g_again', 1);
\! for i in 6 7; do echo "{\"id\":$i}"; done | kcat -P -b "$KAFKA_BROKERS" -t g_again -p 0
SELECT id FROM again_feed ORDER BY id;
SELECT partition, next_offset, lag FROM kafka.group_lag('kafka', 'again');
-- positions: a user without USAGE on the server cannot read or move them
SET ROLE regress_kafka_user;
SELECT * FROM kafka.group_offsets;
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER kafka FROM regress_kafka_user;
SET ROLE regress_kafka_user;
SELECT * FROM kafka.group_lag('kafka', 'loader');
SELECT kafka.set_group_offset('kafka', 'loader', 'g_orders', 0, 0);
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER kafka TO regress_kafka_user;
-- bad options
CREATE FOREIGN TABLE bad_feed (id int) SERVER kafka OPTIONS (topic 'g_orders', group 'x', group_start 'middle');
CREATE FOREIGN TABLE bad_feed (id int) SERVER kafka OPTIONS (topic 'g_orders', group 'x', on_gap 'ignore');
