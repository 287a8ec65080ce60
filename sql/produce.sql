-- INSERT, COPY FROM, RETURNING, kafka.produce, kafka.send, transactions,
-- read_committed, read back through foreign tables and kcat.
\set VERBOSITY default
SELECT kafka.create_topic('kafka', 'orders', 3);
CREATE FOREIGN TABLE orders (
  part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  k text OPTIONS (key 'true'), ts timestamptz OPTIONS (timestamp 'true'), h jsonb OPTIONS (headers 'true'),
  id int, item text, qty numeric OPTIONS (json 'quantity'), tags text[], extra jsonb, ok bool
) SERVER kafka OPTIONS (topic 'orders', format 'json');
INSERT INTO orders (part, k, ts, h, id, item, qty, tags, extra, ok) VALUES
  (0, 'a', '2026-01-01 00:00:00+00', '{"src": "sql", "n": 1}', 1, 'tea "green"', 2.50, '{x,y}', '{"a": [1, 2]}', true),
  (1, 'b', NULL, NULL, 2, NULL, NULL, NULL, NULL, NULL);
INSERT INTO orders (part, k, id, item) VALUES (2, 'c', 3, 'cake') RETURNING part, off, id;
SELECT part, off, k, ts = '2026-01-01 00:00:00+00' AS ts_kept, ts > now() - interval '1 hour' AS ts_now, h, id, item, qty, tags, extra, ok FROM orders ORDER BY id;
-- a scan planned before a write of the same statement still reads that
-- write (an SQL function's body is planned as a whole before it runs, up to
-- 17): a scan takes its watermarks when it starts, not when it is planned
SELECT kafka.create_topic('kafka', 'planned_marks', 2);
CREATE FOREIGN TABLE planned_marks (id int) SERVER kafka OPTIONS (topic 'planned_marks', format 'json');
CREATE FUNCTION insert_then_count(n int) RETURNS bigint LANGUAGE sql AS $$
  INSERT INTO planned_marks SELECT g FROM generate_series(1, n) g;
  SELECT count(*) FROM planned_marks;
$$;
SELECT insert_then_count(3) AS after_3, insert_then_count(2) AS after_5;
SELECT count(*) FROM planned_marks;
PREPARE count_marks AS SELECT count(*) FROM planned_marks;
EXECUTE count_marks;
INSERT INTO planned_marks VALUES (9);
EXECUTE count_marks;
DEALLOCATE count_marks;
DROP FUNCTION insert_then_count(int);
-- The planner's watermarks serve the scan of the same statement only when
-- nothing ran in this session in between (src/fdw/scan_plan.cpp).  In each
-- case below the scan must read a message written after the planning: by
-- another process (kcat, run by COPY FROM PROGRAM inside the statement or
-- transaction, so that nothing of ours produces) or by this session.
\getenv brokers KAFKA_BROKERS
SELECT format('printf ''{"id": 20}\n'' | kcat -P -b %s -t planned_marks -p 0', :'brokers') AS produce_elsewhere \gset
CREATE TABLE marks_sink (line text);
SELECT count(*) AS before_all FROM planned_marks;
-- a generic plan planned in one PL/pgSQL call (whose scan does not start)
-- and run in a later call of the same statement
CREATE FUNCTION count_marks_if(b bool) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT count(*) FROM planned_marks WHERE b);
END $$;
CREATE FUNCTION count_around_a_write(cmd text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE before bigint; after bigint;
BEGIN
  before := count_marks_if(false);
  EXECUTE format('COPY marks_sink FROM PROGRAM %L', cmd);
  after := count_marks_if(true);
  RETURN before || ' then ' || after;
END $$;
SET plan_cache_mode = force_generic_plan;
SELECT count_around_a_write(:'produce_elsewhere');
-- EXPLAIN EXECUTE, then EXECUTE of the same generic plan, in one query string
PREPARE count_prepared AS SELECT count(*) FROM planned_marks;
EXPLAIN (COSTS OFF) EXECUTE count_prepared \; COPY marks_sink FROM PROGRAM :'produce_elsewhere' \; EXECUTE count_prepared;
-- PREPARE/EXECUTE repeated after writes
EXECUTE count_prepared;
INSERT INTO planned_marks VALUES (21);
EXECUTE count_prepared;
COPY marks_sink FROM PROGRAM :'produce_elsewhere';
EXECUTE count_prepared;
DEALLOCATE count_prepared;
RESET plan_cache_mode;
-- a cursor reads up to the watermarks of its first FETCH
BEGIN;
DECLARE marks CURSOR FOR SELECT count(*) FROM planned_marks;
COPY marks_sink FROM PROGRAM :'produce_elsewhere';
FETCH marks;
CLOSE marks;
DECLARE marks CURSOR FOR SELECT count(*) FROM planned_marks \; COPY marks_sink FROM PROGRAM :'produce_elsewhere' \; FETCH marks;
COMMIT;
-- a write of the same statement before its scan starts
WITH produced AS MATERIALIZED (SELECT * FROM kafka.produce('kafka', 'planned_marks', '{"id": 22}'::jsonb, partition => 1))
SELECT (SELECT count(*) FROM produced) AS produced, (SELECT count(*) FROM planned_marks) AS counted;
SELECT count(*) AS after_all, count(*) FILTER (WHERE id = 20) AS from_kcat FROM planned_marks;
DROP FUNCTION count_around_a_write(text);
DROP FUNCTION count_marks_if(bool);
DROP TABLE marks_sink;
-- The extended query protocol (most drivers): a statement is planned at Bind
-- and run at Execute, two client messages; the planner's watermarks serve
-- its scan (PostgreSQL takes the portal's snapshot at Bind too), so each
-- count costs one ListOffsets round, as with the simple protocol (three
-- counts per run through pgbench; rounds counted by this backend)
CREATE TABLE marks_rounds (i serial, mode int, n bigint, rounds int);
\setenv PGDATABASE :DBNAME
\! pgbench -n -t 3 -M extended -D mode=1 -f sql/include/marks_rounds.pgbench > /dev/null
\! pgbench -n -t 3 -M simple -D mode=2 -f sql/include/marks_rounds.pgbench > /dev/null
SELECT mode, string_agg(d::text, ',' ORDER BY i) AS rounds_per_count,
       bool_and(n = (SELECT count(*) FROM planned_marks)) AS counts_right
  FROM (SELECT i, mode, n, rounds - lag(rounds) OVER (PARTITION BY mode ORDER BY i) AS d FROM marks_rounds) s
 WHERE d IS NOT NULL GROUP BY mode ORDER BY mode;
DROP TABLE marks_rounds;
-- what kcat reads: the JSON is row_to_json's
\! kcat -C -b "$KAFKA_BROKERS" -t orders -e -q -f '%p %k %s\n' | sort
-- the JSON is byte for byte row_to_json's (simple column types take a faster path)
SELECT kafka.create_topic('kafka', 'rowjson', 1);
CREATE FOREIGN TABLE rowjson (i int, f float8, n numeric, b bool, t text, j jsonb, u uuid, c varchar(3),
  d date, ts timestamptz, arr int[], tarr text[], js json)
  SERVER kafka OPTIONS (topic 'rowjson', format 'json');
CREATE TABLE rowjson_src (i int, f float8, n numeric, b bool, t text, j jsonb, u uuid, c varchar(3),
  d date, ts timestamptz, arr int[], tarr text[], js json);
INSERT INTO rowjson_src VALUES
  (1, 1.5, 10.250, true, E'tab\there "q" \\ \u00e9', '{"a": [1, {"b": null}]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'abc',
   '2026-01-02', '2026-01-02 03:04:05.123+02', '{1,2,NULL}', '{"a b","c\"d"}', '{"k" : [1,  2]}'),
  (-2, 'NaN', 'NaN', false, '', '"str"', NULL, NULL, 'infinity', '-infinity', '{}', '{}', 'null'),
  (NULL, '-Infinity', 1e-20, NULL, E'line\nbreak\u0001', 'null', NULL, 'x', NULL, NULL, NULL, NULL, NULL),
  (2147483647, 1e300, 123456789012345678901234567890, true, '🙂', '[]', NULL, '', '0001-01-01 BC', '2000-01-01 00:00:00+00',
   '{{1,2},{3,4}}', '{NULL}', '"x"');
INSERT INTO rowjson SELECT * FROM rowjson_src;
SELECT count(*) AS rows, count(*) FILTER (WHERE convert_from(c.value, 'UTF8') = row_to_json(r)::text) AS identical
  FROM kafka.consume('kafka', 'rowjson') c
  JOIN (SELECT row_number() OVER () - 1 AS rn, * FROM rowjson_src) s ON s.rn = c."offset"
  CROSS JOIN LATERAL (SELECT s.i, s.f, s.n, s.b, s.t, s.j, s.u, s.c, s.d, s.ts, s.arr, s.tarr, s.js) r;

-- keyed rows without a partition go where Java's murmur2 partitioner puts them
SELECT kafka.create_topic('kafka', 'keyed', 3);
CREATE FOREIGN TABLE keyed (part int OPTIONS (partition 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'keyed', format 'text');
-- test vectors of Kafka's UtilsTest and librdkafka's murmur2 tests, with
-- toPositive(murmur2(key)) % 3 computed independently
CREATE TABLE murmur_vectors (k text, java_partition int);
INSERT INTO murmur_vectors VALUES ('21', 0), ('foobar', 0), ('a-little-bit-long-string', 2),
  ('a-little-bit-longer-string', 2), ('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', 2), ('abc', 0),
  ('kafka', 1), ('giberish123456789', 2), ('1234', 0), ('234', 2), ('34', 0), ('4', 1), ('23456', 2),
  ('hejsan', 1), ('', 0);
INSERT INTO keyed (k, v) SELECT k, 'v' FROM murmur_vectors;
SELECT m.k, m.java_partition, kf.part, m.java_partition = kf.part AS agrees
  FROM murmur_vectors m JOIN keyed kf USING (k) ORDER BY m.k;
-- a table's own partitioner option applies to its rows
SELECT kafka.create_topic('kafka', 'keyed_crc', 3);
CREATE FOREIGN TABLE keyed_crc (part int OPTIONS (partition 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'keyed_crc', format 'text', partitioner 'consistent');
INSERT INTO keyed_crc (k, v) SELECT k, 'v' FROM murmur_vectors;
SELECT count(*) FILTER (WHERE c.part <> m.java_partition) > 0 AS differs_from_murmur2
  FROM keyed_crc c JOIN murmur_vectors m USING (k);
-- Kafka clients keep one partitioner per topic: a second table writing to the
-- same topic through the same server with another partitioner is refused (it
-- would silently get the first one's)
CREATE FOREIGN TABLE keyed_crc_default (k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'keyed_crc', format 'text');
INSERT INTO keyed_crc_default VALUES ('21', 'v');
DROP FOREIGN TABLE keyed_crc_default;

-- COPY FROM and INSERT ... SELECT
CREATE FOREIGN TABLE order_lines (id int, item text) SERVER kafka OPTIONS (topic 'orders', format 'csv');
COPY order_lines FROM stdin;
10	copy one
11	copy, two
\.
INSERT INTO order_lines SELECT g, 'bulk ' || g FROM generate_series(100, 1099) g;
SELECT count(*) FROM kafka.consume('kafka', 'orders');
\! kcat -C -b "$KAFKA_BROKERS" -t orders -e -q | grep copy | sort

-- tombstones: a NULL value column, or all payload columns NULL with tombstone_on_null
CREATE FOREIGN TABLE tomb (k text OPTIONS (key 'true'), v text OPTIONS (value 'true'))
  SERVER kafka OPTIONS (topic 'orders', format 'text');
INSERT INTO tomb VALUES ('t1', NULL), ('t2', '');
CREATE FOREIGN TABLE tomb_json (k text OPTIONS (key 'true'), id int, item text)
  SERVER kafka OPTIONS (topic 'orders', format 'json', tombstone_on_null 'true');
INSERT INTO tomb_json VALUES ('t3', NULL, NULL);
SELECT convert_from(key, 'UTF8') AS k, value IS NULL AS tombstone, length(value) AS len
  FROM kafka.consume('kafka', 'orders') WHERE convert_from(key, 'UTF8') LIKE 't_' ORDER BY 1;

-- kafka.produce (synchronous) and kafka.send (at commit)
SELECT kafka.create_topic('kafka', 'produced', 2);
SELECT * FROM kafka.produce('kafka', 'produced', 'hello'::text, 'p1', 1);
SELECT * FROM kafka.produce('kafka', 'produced', '{"id": 20}'::jsonb, 'p2', 1, '{"h": "v"}', '2026-05-01 12:00:00+00');
SELECT * FROM kafka.produce('kafka', 'produced', '\x00ff'::bytea, NULL, 1);
SELECT * FROM kafka.produce('kafka', 'produced', NULL::text, 'p3', 1);
SELECT "offset", convert_from(key, 'UTF8') AS key, value, ts = '2026-05-01 12:00:00+00' AS ts_given, ts > now() - interval '1 hour' AS ts_recent, headers FROM kafka.consume('kafka', 'produced', 1) ORDER BY 1;
BEGIN;
SELECT kafka.send('kafka', 'orders', 'sent-then-rolled-back', 's1', 2);
ROLLBACK;
BEGIN;
SELECT kafka.send('kafka', 'orders', 'sent-and-committed', 's2', 2);
SAVEPOINT sp;
SELECT kafka.send('kafka', 'orders', 'in-rolled-back-savepoint', 's3', 2);
ROLLBACK TO sp;
COMMIT;
SELECT convert_from(value, 'UTF8') FROM kafka.consume('kafka', 'orders', 2) WHERE convert_from(key, 'UTF8') LIKE 's_';

-- transactions: read_committed consumers never see rolled-back messages
SELECT kafka.create_topic('kafka', 'txn', 1);
CREATE FOREIGN TABLE txn_w (v text) SERVER kafka OPTIONS (topic 'txn', format 'text', transactional 'true');
CREATE FOREIGN TABLE txn_rc (off bigint OPTIONS (offset 'true'), v text) SERVER kafka OPTIONS (topic 'txn', format 'text');
CREATE FOREIGN TABLE txn_ru (off bigint OPTIONS (offset 'true'), v text) SERVER kafka OPTIONS (topic 'txn', format 'text', isolation_level 'read_uncommitted');
BEGIN;
INSERT INTO txn_w VALUES ('c1'), ('c2');
INSERT INTO txn_w VALUES ('c3');
COMMIT;
BEGIN;
INSERT INTO txn_w VALUES ('aborted1'), ('aborted2');
ROLLBACK;
INSERT INTO txn_w VALUES ('autocommit');
-- Kafka writes commit markers just after the commit returns: give it a moment
SELECT pg_sleep(1);
SELECT v FROM txn_rc ORDER BY off;
SELECT v FROM txn_ru ORDER BY off;
\! kcat -C -b "$KAFKA_BROKERS" -t txn -e -q -X isolation.level=read_committed
-- a savepoint rolled back after producing dooms the Kafka transaction
BEGIN;
INSERT INTO txn_w VALUES ('before-sp');
SAVEPOINT sp1;
INSERT INTO txn_w VALUES ('in-sp');
ROLLBACK TO sp1;
COMMIT;
-- a savepoint released keeps its messages
BEGIN;
SAVEPOINT sp2;
INSERT INTO txn_w VALUES ('released');
RELEASE sp2;
COMMIT;
SELECT pg_sleep(1);
SELECT v FROM txn_rc ORDER BY off;
-- PREPARE TRANSACTION is refused once messages were produced
BEGIN;
INSERT INTO txn_w VALUES ('prepared');
PREPARE TRANSACTION 'kafka_px';
SELECT v FROM txn_rc WHERE v = 'prepared';

-- bad input
CREATE FOREIGN TABLE ro (v text) SERVER kafka OPTIONS (topic 'orders', format 'text', readonly 'true');
INSERT INTO ro VALUES ('x');
CREATE FOREIGN TABLE two_cols (a text, b text) SERVER kafka OPTIONS (topic 'orders', format 'text');
INSERT INTO two_cols VALUES ('x', 'y');
INSERT INTO orders (part, id) VALUES (7, 1);
INSERT INTO orders (part, id) VALUES (-1, 1);
INSERT INTO orders (h, id) VALUES ('[1]', 1);
SELECT * FROM kafka.produce('kafka', 'orders', repeat('x', 2000000), NULL, 0);
SELECT * FROM kafka.produce('kafka', 'orders', 'x'::text, NULL, 99);
-- a failed delivery fails the statement: nothing reports success
\getenv brokers KAFKA_BROKERS
CREATE SERVER noauto FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers', "allow.auto.create.topics" 'false');
SET kafka_fdw.timeout = 3000;
SELECT * FROM kafka.produce('noauto', 'no_such_topic_auto_off', 'x'::text);
RESET kafka_fdw.timeout;
DROP SERVER noauto;
-- permissions: USAGE on the server is needed for the functions
SET ROLE regress_kafka_user;
SELECT * FROM kafka.produce('kafka', 'produced', 'by user'::text, NULL, 0);
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER kafka FROM regress_kafka_user;
SET ROLE regress_kafka_user;
SELECT * FROM kafka.produce('kafka', 'produced', 'denied'::text);
SELECT kafka.send('kafka', 'produced', 'denied'::text);
SELECT * FROM kafka.consume('kafka', 'orders');
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER kafka TO regress_kafka_user;
