-- Role columns (partition, offset, timestamp, headers) of other types than
-- the usual ones: converted through the type, never reinterpreted; message
-- timestamps Kafka cannot store are refused; timestamp without time zone is
-- UTC both ways.
\set VERBOSITY default
SELECT kafka.create_topic('kafka', 'roletypes', 2);
-- headers as json and as text (INSERT crashed the backend)
CREATE FOREIGN TABLE rt_json (part int OPTIONS (partition 'true'), h json OPTIONS (headers 'true'), id int)
  SERVER kafka OPTIONS (topic 'roletypes');
INSERT INTO rt_json (part, h, id) VALUES (1, '{"a":"b"}', 3);
CREATE FOREIGN TABLE rt_text (h text OPTIONS (headers 'true'), part text OPTIONS (partition 'true'),
  off text OPTIONS (offset 'true'), id int) SERVER kafka OPTIONS (topic 'roletypes');
INSERT INTO rt_text (h, part, id) VALUES ('{"c":"d"}', '1', 4) RETURNING part, off, id;
INSERT INTO rt_text (part, id) VALUES ('one', 5);
SELECT part, off, h, id FROM rt_text ORDER BY part, off;
-- timestamps
CREATE FOREIGN TABLE rt_ts (part int OPTIONS (partition 'true'), ts timestamp OPTIONS (timestamp 'true'), id int)
  SERVER kafka OPTIONS (topic 'roletypes');
SET TimeZone = 'America/New_York';
INSERT INTO rt_ts (part, ts, id) VALUES (0, '2026-03-01 12:00:00', 6);
SELECT ts, id FROM rt_ts WHERE id = 6;
SET TimeZone = 'Asia/Tokyo';
SELECT ts, id FROM rt_ts WHERE id = 6;
RESET TimeZone;
INSERT INTO rt_ts (part, ts, id) VALUES (0, 'infinity', 7);
INSERT INTO rt_ts (part, ts, id) VALUES (0, '1969-12-31 23:59:59', 8);
INSERT INTO rt_ts (part, ts, id) VALUES (0, '1970-01-01 00:00:00', 9);
INSERT INTO rt_ts (part, ts, id) VALUES (0, '1970-01-01 00:00:00.001', 10);
SELECT ts, id FROM rt_ts WHERE id = 10;
CREATE FOREIGN TABLE rt_date (part int OPTIONS (partition 'true'), d date OPTIONS (timestamp 'true'), id int)
  SERVER kafka OPTIONS (topic 'roletypes');
INSERT INTO rt_date (part, d, id) VALUES (0, '2026-05-17', 11);
SELECT d, id FROM rt_date WHERE id = 11;
-- an int offset column past 2^31 - 1 is an error, not a wrapped number
CREATE FOREIGN TABLE rt_small (off smallint OPTIONS (offset 'true'), id int) SERVER kafka OPTIONS (topic 'roletypes');
INSERT INTO rt_ts (part, id) SELECT 1, g FROM generate_series(1, 32770) g;
SET max_parallel_workers_per_gather = 0;  -- the error's context names the leader only
SELECT count(off) FROM rt_small;
RESET max_parallel_workers_per_gather;
-- a JSON null header value is a header without a value, not an empty one
INSERT INTO rt_text (h, part, id) VALUES ('{"n": null, "e": ""}', '0', 12);
SELECT h FROM rt_text WHERE id = 12 AND part = '0';
SELECT headers FROM kafka.consume('kafka', 'roletypes', 0) WHERE headers ? 'n';
-- smaller ones
SELECT * FROM kafka.consume('kafka', 'roletypes', from_offset => -5);
CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER dummy_srv FOREIGN DATA WRAPPER dummy_fdw;
CREATE FOREIGN TABLE not_kafka (a int) SERVER dummy_srv;
SELECT * FROM kafka.kafka_get_watermarks('not_kafka');
DROP FOREIGN DATA WRAPPER dummy_fdw CASCADE;
-- the older kafka_fdw's users: num_partitions, kafka_get_watermarks without a schema,
-- CSV lines with more fields than columns are bad lines (as COPY)
CREATE FOREIGN TABLE rt_csv (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  a int, b text, raw text OPTIONS (junk 'true'), err text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'roletypes_csv', format 'csv', num_partitions '1');
SELECT kafka.create_topic('kafka', 'roletypes_csv', 1);
SELECT partition, "offset" FROM kafka.produce('kafka', 'roletypes_csv', '1,x'::text);
SELECT partition, "offset" FROM kafka.produce('kafka', 'roletypes_csv', '2,y,extra'::text);
SELECT off, a, b, raw, err FROM rt_csv ORDER BY off;
ALTER FOREIGN TABLE rt_csv OPTIONS (ADD strict 'true');
SELECT off, a, b FROM rt_csv ORDER BY off;
SELECT * FROM kafka_get_watermarks('rt_csv');
SELECT kafka.delete_topic('kafka', 'roletypes_csv');
SELECT kafka.delete_topic('kafka', 'roletypes');
-- a producer that hit a fatal error (as a fenced or failed idempotent one
-- does) is replaced at the end of the transaction, not kept failing
SELECT kafka.create_topic('kafka', 'fatal_producer', 1);
CREATE FOREIGN TABLE rt_fatal (id int) SERVER kafka OPTIONS (topic 'fatal_producer');
INSERT INTO rt_fatal VALUES (100);
BEGIN;
SELECT kafka._bridge_selftest('fatal_producers') AS producers_failed;
INSERT INTO rt_fatal VALUES (101);
ROLLBACK;
INSERT INTO rt_fatal VALUES (102);
SELECT id FROM rt_fatal ORDER BY id;
