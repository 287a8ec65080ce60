-- SELECT from topics: metadata columns, formats, bad messages, exact ends,
-- pushdown, rescans, parallel scans, kafka.consume.
\set VERBOSITY default
SELECT kafka.create_topic('kafka', 'events', 3);
-- partition 0: three good messages with keys and headers
\! printf 'k1:{"id":1,"name":"alice","price":"10.50","ok":true,"uid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","at":"2026-01-02T03:04:05Z","tags":["x","y"],"nums":[1,2,3],"meta":{"a":{"b":1}}}\nk2:{"id":2,"name":"bob","price":7,"ok":false,"nums":[],"meta":[1,"two"]}\nk3:{"name":"tab\\there \\u00e9\\ud83d\\ude00","id":3,"extra":1}\n' | kcat -P -b "$KAFKA_BROKERS" -t events -p 0 -K: -H source=test -H trace=abc
-- partition 1: bad messages: not JSON, JSON but not an object, a wrong type, a tombstone
\! printf 'k4:not json\nk5:[1,2]\nk6:{"id":"six","name":"x"}\nk7:\n' | kcat -P -b "$KAFKA_BROKERS" -t events -p 1 -K: -Z
-- partition 2: stays empty
SELECT * FROM kafka.partitions('kafka', 'events') ORDER BY 1;

-- the DDL users write, as written
CREATE FOREIGN TABLE events (
  part   int         OPTIONS (partition 'true'),
  off    bigint      OPTIONS (offset 'true'),
  k      text        OPTIONS (key 'true'),
  ts     timestamptz OPTIONS (timestamp 'true'),
  hdrs   jsonb       OPTIONS (headers 'true'),
  id     int,
  name   text,
  amount numeric     OPTIONS (json 'price'),
  raw    text        OPTIONS (junk 'true'),
  err    text        OPTIONS (junk_error 'true')
) SERVER kafka OPTIONS (topic 'events', format 'json');
SELECT part, off, k, hdrs, id, name, amount, raw, err FROM events ORDER BY part, off;
SELECT count(*), count(ts) AS with_ts, min(ts) > now() - interval '1 hour' AS recent FROM events;
-- the same query on an unchanged topic returns the same rows, every time
SELECT count(*) FROM events;
SELECT count(*) FROM events;

-- column types through their input functions
CREATE FOREIGN TABLE typed (
  part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  id bigint, ok bool, uid uuid, at timestamptz, tags text[], nums int[], meta jsonb,
  price numeric, name varchar(5), v jsonb OPTIONS (value 'true'), kb bytea OPTIONS (key 'true')
) SERVER kafka OPTIONS (topic 'events', format 'json');
SELECT id, ok, uid, at, tags, nums, meta, price, name, kb FROM typed WHERE part = 0 ORDER BY off;
SELECT off, v->>'name' AS name_from_value FROM typed WHERE part = 0 ORDER BY off;

-- strict: an ERROR naming topic, partition, offset and column
CREATE FOREIGN TABLE strict_events (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), id int, name text)
  SERVER kafka OPTIONS (topic 'events', format 'json', strict 'true');
SELECT count(*) FROM strict_events WHERE part = 0;
SELECT id FROM strict_events ORDER BY id;
SELECT name FROM strict_events WHERE part = 1;
-- tombstones are not errors: NULL payload columns
SELECT off, id, name FROM strict_events WHERE part = 1 AND off = 3;
-- a bad field (not the whole message) names the column
SELECT id FROM strict_events WHERE part = 1 AND off = 2;

-- ignore_junk without junk columns skips messages that cannot be decoded
CREATE FOREIGN TABLE skip_junk (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), id int)
  SERVER kafka OPTIONS (topic 'events', format 'json', ignore_junk 'true');
SELECT part, off, id FROM skip_junk ORDER BY part, off;

-- text, bytea and csv formats; invalid UTF-8 and NUL bytes
SELECT kafka.create_topic('kafka', 'raw', 1);
\! printf 'plain text\n\377\376 not utf8\n1;"a;b";\\N\n2;;x\n' | kcat -P -b "$KAFKA_BROKERS" -t raw
CREATE FOREIGN TABLE raw_text (off bigint OPTIONS (offset 'true'), body text, raw text OPTIONS (junk 'true'), err text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'raw', format 'text');
SELECT off, body, raw, err FROM raw_text ORDER BY off;
CREATE FOREIGN TABLE raw_bytes (off bigint OPTIONS (offset 'true'), body bytea) SERVER kafka OPTIONS (topic 'raw', format 'bytea');
SELECT off, body FROM raw_bytes ORDER BY off;
CREATE FOREIGN TABLE raw_csv (off bigint OPTIONS (offset 'true'), a int, b text, c text, err text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'raw', format 'csv', delimiter ';', null '\N');
SELECT off, a, b, c, err FROM raw_csv ORDER BY off;

-- the older C kafka_fdw's DDL, unchanged
SELECT kafka.create_topic('kafka', 'compat', 1);
\! printf '1,hello,2026-01-01,2026-01-01 10:00:00\n2,"with, comma",,\nbad,x,y,z\n' | kcat -P -b "$KAFKA_BROKERS" -t compat
CREATE FOREIGN TABLE kafka_test_part (
  part int OPTIONS (partition 'true'),
  offs bigint OPTIONS (offset 'true'),
  some_int int,
  some_text text,
  some_date date,
  some_time timestamp,
  junk text OPTIONS (junk 'true'),
  junk_err text OPTIONS (junk_error 'true')
) SERVER kafka OPTIONS (format 'csv', topic 'compat', batch_size '30', buffer_delay '100', strict 'false', ignore_junk 'false');
SELECT * FROM kafka_test_part WHERE part = 0 AND offs >= 0 ORDER BY offs;

-- pushdown: partitions, offsets, timestamps, LIMIT; EXPLAIN shows them
EXPLAIN (COSTS OFF) SELECT off FROM events WHERE part = 1;
EXPLAIN (COSTS OFF) SELECT off FROM events WHERE part IN (0, 2) AND off BETWEEN 1 AND 2;
EXPLAIN (COSTS OFF) SELECT off FROM events WHERE part <> 1 AND off > 0 AND ts >= '2000-01-01';
EXPLAIN (COSTS OFF) SELECT k FROM events LIMIT 2;
-- (librdkafka 2.4+ adds fetch.queue.backoff.ms=1 to the fetch defaults: left
-- out here, the rest of the plan is the same on every librdkafka)
CREATE FUNCTION explain_verbose(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
    RETURN NEXT regexp_replace(l, ', fetch\.queue\.backoff\.ms=[0-9]+', '');
  END LOOP;
END $$;
SELECT l AS "QUERY PLAN" FROM explain_verbose('SELECT off FROM events WHERE part = 1') l;
SELECT l AS "QUERY PLAN" FROM explain_analyze('SELECT off FROM events WHERE part IN (0, 1) AND off BETWEEN 1 AND 2') l;
SELECT part, off FROM events WHERE part = 1 ORDER BY off;
SELECT part, off FROM events WHERE part IN (0, 2) AND off BETWEEN 1 AND 2 ORDER BY part, off;
SELECT part, off FROM events WHERE part <> 0 AND off < 2 ORDER BY part, off;
SELECT part, off FROM events WHERE off = 2 ORDER BY part;
SELECT count(*) FROM events WHERE ts >= now() - interval '1 hour';
SELECT count(*) FROM events WHERE ts > now() + interval '1 hour';
SELECT count(*) FROM (SELECT k FROM events LIMIT 2) s;
SELECT count(*) FROM events WHERE part = NULL;
-- parameters: prepared statements with custom and generic plans, subqueries
PREPARE q(int, bigint) AS SELECT part, off FROM events WHERE part = $1 AND off >= $2 ORDER BY off;
EXECUTE q(0, 1);
SET plan_cache_mode = force_generic_plan;
EXECUTE q(1, 2);
EXPLAIN (COSTS OFF) EXECUTE q(1, 2);
RESET plan_cache_mode;
SELECT count(*) FROM events WHERE part = (SELECT 0);
-- rescans (nested loop with a changing parameter) return every row each time
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
SELECT v.p, (SELECT count(*) FROM events e WHERE e.part = v.p) FROM (VALUES (0), (1), (0), (2)) v(p);
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material;

-- parallel scans return the same rows as serial ones
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT part, off FROM events;
SELECT part, count(*), sum(off) FROM events GROUP BY part ORDER BY part;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT part, count(*), sum(off) FROM events GROUP BY part ORDER BY part;
RESET max_parallel_workers_per_gather;

-- compressed batches are read exactly
SELECT kafka.create_topic('kafka', 'compressed', 1);
\! seq 1 100 | kcat -P -b "$KAFKA_BROKERS" -t compressed -z gzip
\! seq 101 200 | kcat -P -b "$KAFKA_BROKERS" -t compressed -z snappy
\! seq 201 300 | kcat -P -b "$KAFKA_BROKERS" -t compressed -z lz4
\! seq 301 400 | kcat -P -b "$KAFKA_BROKERS" -t compressed -z zstd
CREATE FOREIGN TABLE compressed (n int) SERVER kafka OPTIONS (topic 'compressed', format 'text');
SELECT count(*), sum(n), count(DISTINCT n) FROM compressed;

-- kafka.consume: ad hoc reads, bounded like a scan
SELECT partition, "offset", convert_from(key, 'UTF8') AS key, length(value) AS len, headers
  FROM kafka.consume('kafka', 'events', 0) ORDER BY "offset";
SELECT count(*) FROM kafka.consume('kafka', 'events');
SELECT "offset" FROM kafka.consume('kafka', 'events', 0, 1, 1);
SELECT count(*) FROM kafka.consume('kafka', 'events', 9);

-- a topic that does not exist
CREATE FOREIGN TABLE missing (v text) SERVER kafka OPTIONS (topic 'no_such_topic', format 'text');
SELECT * FROM missing;
-- UPDATE and DELETE are not supported
UPDATE events SET name = 'x';
DELETE FROM events;
