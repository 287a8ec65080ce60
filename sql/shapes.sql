-- Topic tables in every query shape: joins, subqueries, CTEs, views,
-- materialized views, LATERAL, EXISTS, inlined SQL functions, INSERT ...
-- SELECT, partitioned parents, parallel plans.  Each query with a pushed-down
-- condition runs against the topic table and against a local copy of the
-- same rows: the results must be equal (differential).
\set VERBOSITY default
SELECT kafka.create_topic('kafka', 'shapes_ev', 3);
CREATE FOREIGN TABLE ev (
  part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  k text OPTIONS (key 'true'), ts timestamptz OPTIONS (timestamp 'true'), id int
) SERVER kafka OPTIONS (topic 'shapes_ev', format 'json');
INSERT INTO ev (part, k, id) SELECT p, 'k' || g, p * 1000 + g FROM generate_series(0, 2) p, generate_series(0, 99) g;
CREATE TABLE ev_local AS SELECT * FROM ev;
SELECT count(*), count(DISTINCT (part, off)) FROM ev_local;
CREATE TABLE loc (a int);
INSERT INTO loc VALUES (1), (2);

-- same(q_topic, q_local): true when both return the same rows (as multisets)
CREATE FUNCTION same(q1 text, q2 text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM (((%s) EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL (%s))) d', q1, q2, q2, q1) INTO n;
  RETURN n = 0;
END $$;
-- diff(q): q on the topic table against q on the local copy
CREATE FUNCTION diff(q text) RETURNS boolean LANGUAGE sql AS $$
  SELECT same(q, regexp_replace(q, '\mev\M', 'ev_local', 'g'))
$$;

-- a pushed-down condition with the topic table not first in the range table
SELECT count(*) FROM loc, ev WHERE ev.part = 1;
SELECT diff('SELECT loc.a, ev.off FROM loc, ev WHERE ev.part = 1 AND ev.off < 10');
SELECT diff('SELECT * FROM (SELECT 1 AS x) s, (SELECT * FROM ev WHERE part = 2 AND off >= 95) t');
SELECT diff('WITH c AS MATERIALIZED (SELECT * FROM ev WHERE part = 0 AND off BETWEEN 3 AND 7) SELECT * FROM loc, c');
SELECT diff('WITH c AS NOT MATERIALIZED (SELECT * FROM ev WHERE part = 0 AND off IN (1, 5, 99)) SELECT * FROM loc, c');
SELECT diff('SELECT a FROM loc WHERE EXISTS (SELECT 1 FROM ev WHERE part = 1 AND off = loc.a)');
SELECT diff('SELECT a FROM loc WHERE a IN (SELECT off::int FROM ev WHERE part = 2 AND off < 2)');
SELECT diff('SELECT a FROM loc WHERE a NOT IN (SELECT off::int FROM ev WHERE part = 2 AND off < 2)');
SELECT diff('SELECT o, x.id FROM generate_series(0, 99) o CROSS JOIN LATERAL (SELECT id FROM ev WHERE part = 1 AND off = o) x');
SELECT count(*) FROM generate_series(0, 99) o CROSS JOIN LATERAL (SELECT id FROM ev WHERE part = 1 AND off = o) x;
-- LATERAL that refers to the outer rel in its target list
SELECT loc.a, x.la, x.part FROM loc LEFT JOIN LATERAL (SELECT ev.part, loc.a AS la FROM ev WHERE ev.id IN (1001, 2005)) x ON true ORDER BY 1, 3;
SELECT diff('SELECT loc.a, x.la, x.part FROM loc LEFT JOIN LATERAL (SELECT ev.part, loc.a AS la FROM ev WHERE ev.id IN (1001, 2005)) x ON true');
EXPLAIN (COSTS OFF) SELECT count(*) FROM loc, ev WHERE ev.part = 1;
-- views and materialized views
CREATE VIEW ev_p1 AS SELECT * FROM ev WHERE part = 1;
SELECT count(*), sum(id) FROM loc, ev_p1;
CREATE MATERIALIZED VIEW ev_mv AS SELECT loc.a, ev.off FROM loc, ev WHERE ev.part = 2 AND ev.off < 5;
REFRESH MATERIALIZED VIEW ev_mv;
SELECT count(*) FROM ev_mv;
-- INSERT ... SELECT and an inlined SQL function
INSERT INTO loc SELECT off::int FROM ev WHERE part = 1 AND off < 3;
SELECT count(*) FROM loc;
CREATE FUNCTION ev_of(p int) RETURNS SETOF ev LANGUAGE sql STABLE AS $$ SELECT * FROM ev WHERE part = p AND off < 4 $$;
SELECT count(*) FROM loc, ev_of(2);
-- the join methods, the topic on either side
SET enable_hashjoin = off; SET enable_mergejoin = off;
SELECT diff('SELECT l.a, e.id FROM loc l JOIN ev e ON e.off = l.a WHERE e.part = 0');
SELECT diff('SELECT l.a, e.id FROM ev e JOIN loc l ON e.off = l.a WHERE e.part = 0');
RESET enable_hashjoin; SET enable_nestloop = off;
SELECT diff('SELECT l.a, e.id FROM loc l JOIN ev e ON e.off = l.a WHERE e.part = 0');
SET enable_hashjoin = off; SET enable_mergejoin = on;
SELECT diff('SELECT l.a, e.id FROM loc l JOIN ev e ON e.off = l.a WHERE e.part = 0');
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_nestloop;
-- prepared statements, custom and generic plans
PREPARE q(int, bigint) AS SELECT count(*), sum(id) FROM loc, ev WHERE ev.part = $1 AND ev.off >= $2;
SET plan_cache_mode = force_custom_plan;
EXECUTE q(1, 90);
SET plan_cache_mode = force_generic_plan;
EXECUTE q(1, 90);
EXECUTE q(2, 0);
RESET plan_cache_mode;
-- a topic table as a partition of a partitioned table
CREATE TABLE allev (part int, off bigint, k text, ts timestamptz, id int) PARTITION BY LIST (part);
CREATE FOREIGN TABLE allev_1 (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), k text, ts timestamptz, id int)
  SERVER kafka OPTIONS (topic 'shapes_ev', format 'json');
ALTER TABLE allev ATTACH PARTITION allev_1 FOR VALUES IN (1);
SELECT count(*) FROM loc, allev WHERE allev.part = 1 AND allev.off < 50;
SELECT same('SELECT allev.off FROM loc, allev WHERE allev.part = 1 AND allev.off < 50',
            'SELECT e.off FROM loc, ev_local e WHERE e.part = 1 AND e.off < 50');
-- group tables in a parallel plan, and in INSERT ... SELECT
CREATE FOREIGN TABLE g1 (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), id int)
  SERVER kafka OPTIONS (topic 'shapes_ev', format 'json', group 'shapes_g1');
CREATE TABLE bigl AS SELECT g AS a FROM generate_series(1, 100000) g;
ANALYZE bigl;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT count(*) FROM bigl JOIN g1 ON bigl.a = g1.id WHERE g1.part = 1;
SELECT count(*) FROM bigl JOIN g1 ON bigl.a = g1.id WHERE g1.part = 1;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
SET force_parallel_mode = on;
SELECT count(*) FROM g1;
RESET force_parallel_mode;
INSERT INTO loc SELECT off::int FROM g1 WHERE part = 1;
SELECT count(*) FROM loc;
-- one group read twice in a statement: each message once
CREATE FOREIGN TABLE g2 (id int) SERVER kafka OPTIONS (topic 'shapes_ev', format 'json', group 'shapes_g2');
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM g2 UNION ALL SELECT id FROM g2) u;
SELECT count(*) FROM kafka.reset_group('kafka', 'shapes_g2', 'shapes_ev', 'earliest');
-- two reads open at once would return the same messages: refused
SELECT (SELECT count(*) FROM g2) FROM g2 LIMIT 1;
SELECT count(*) FROM g2;
SELECT kafka.delete_topic('kafka', 'shapes_ev');
