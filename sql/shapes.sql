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
-- (force_parallel_mode is debug_parallel_query from PostgreSQL 16 on)
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'debug_parallel_query'
            ELSE 'force_parallel_mode' END AS parallel_guc \gset
SELECT set_config(:'parallel_guc', 'on', false) AS parallel_mode;
SELECT count(*) FROM g1;
SELECT set_config(:'parallel_guc', 'off', false) AS parallel_mode;
INSERT INTO loc SELECT off::int FROM g1 WHERE part = 1;
SELECT count(*) FROM loc;
-- one group read twice in a statement: each message once
CREATE FOREIGN TABLE g2 (id int) SERVER kafka OPTIONS (topic 'shapes_ev', format 'json', group 'shapes_g2');
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM g2 UNION ALL SELECT id FROM g2) u;
SELECT count(*) FROM kafka.reset_group('kafka', 'shapes_g2', 'shapes_ev', 'earliest');
-- two reads open at once would return the same messages: refused
SELECT (SELECT count(*) FROM g2) FROM g2 LIMIT 1;
SELECT count(*) FROM g2;

-- OR of partition/offset/timestamp conditions: a union of ranges, each
-- message once (overlaps merged), the clauses kept as filters
EXPLAIN (COSTS OFF) SELECT * FROM ev WHERE (part = 1 AND off = 1) OR (part = 2 AND off = 2);
SELECT part, off, id FROM ev WHERE (part = 1 AND off = 1) OR (part = 2 AND off = 2) ORDER BY part;
EXPLAIN (COSTS OFF) SELECT * FROM ev WHERE (part, off) IN ((1, 1), (2, 2), (2, 2));
SELECT part, off, id FROM ev WHERE (part, off) IN ((1, 1), (2, 2), (2, 2)) ORDER BY part;
SELECT l AS "QUERY PLAN" FROM explain_analyze(
  'SELECT * FROM ev WHERE part = 1 AND (off BETWEEN 10 AND 20 OR off BETWEEN 50 AND 60)') l;
EXPLAIN (COSTS OFF) SELECT * FROM ev WHERE part = 1 AND (off BETWEEN 10 AND 20 OR off BETWEEN 15 AND 60 OR off > 98);
SELECT count(*), count(DISTINCT off) FROM ev WHERE part = 1 AND (off BETWEEN 10 AND 20 OR off BETWEEN 15 AND 60 OR off > 98);
-- an arm that is not a partition/offset condition: the OR narrows nothing
EXPLAIN (COSTS OFF) SELECT * FROM ev WHERE part = 1 OR id = 2005;
-- an AND arm keeps what it understands
EXPLAIN (COSTS OFF) SELECT * FROM ev WHERE (part = 1 AND id = 1005) OR (part = 2 AND off IN (3, 4));
-- timestamps inside an OR; a NULL comparison matches nothing
SELECT diff('SELECT * FROM ev WHERE (part = 0 AND ts >= (SELECT ts FROM ev_local WHERE part = 0 AND off = 50)) OR off < 2');
EXPLAIN (COSTS OFF) SELECT * FROM ev WHERE (part = 0 AND ts >= now() + interval '1 day') OR off = NULL::bigint OR (part = 2 AND off = 7);
SELECT part, off FROM ev WHERE (part = 0 AND ts >= now() + interval '1 day') OR off = NULL::bigint OR (part = 2 AND off = 7);
-- parameters (generic plan) and a parallel scan of many ranges
PREPARE qor(int, bigint[]) AS SELECT part, off FROM ev WHERE (part = $1 AND off = ANY ($2)) OR (part <> $1 AND off < 2);
SET plan_cache_mode = force_generic_plan;
SELECT l AS "QUERY PLAN" FROM explain_analyze('EXECUTE qor(1, ''{7, 3, 3, 99, 500}'')') l;
CREATE TEMP TABLE qor_out AS EXECUTE qor(1, '{7, 3, 3, 99, 500}');
SELECT * FROM qor_out ORDER BY part, off;
RESET plan_cache_mode;
DEALLOCATE qor;

-- a parallel scan reads every range, however many (it kept the first 4,096)
SELECT kafka.create_topic('kafka', 'shapes_many', 2);
CREATE FOREIGN TABLE many (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), id int)
  SERVER kafka OPTIONS (topic 'shapes_many', format 'json');
INSERT INTO many (part, id) SELECT p, g FROM generate_series(0, 1) p, generate_series(0, 4299) g;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT count(*), sum(off) FROM many WHERE off = ANY (ARRAY(SELECT generate_series(0, 4299, 2)::bigint));
SELECT count(*), sum(off) FROM many WHERE off = ANY (ARRAY(SELECT generate_series(0, 4299, 2)::bigint));
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
SELECT count(*), sum(off) FROM many WHERE off = ANY (ARRAY(SELECT generate_series(0, 4299, 2)::bigint));
SELECT kafka.delete_topic('kafka', 'shapes_many');

-- RETURNING through a partitioned parent, and AFTER ROW triggers: the
-- partition and offset the broker assigned
SELECT kafka.create_topic('kafka', 'shapes_ret', 2);
CREATE TABLE retp (part int, off bigint, id int) PARTITION BY LIST (part);
CREATE FOREIGN TABLE retp_0 PARTITION OF retp FOR VALUES IN (0) SERVER kafka OPTIONS (topic 'shapes_ret', format 'json');
ALTER FOREIGN TABLE retp_0 ALTER part OPTIONS (partition 'true'), ALTER off OPTIONS (offset 'true');
CREATE FOREIGN TABLE retp_1 PARTITION OF retp FOR VALUES IN (1) SERVER kafka OPTIONS (topic 'shapes_ret', format 'json');
ALTER FOREIGN TABLE retp_1 ALTER part OPTIONS (partition 'true'), ALTER off OPTIONS (offset 'true');
INSERT INTO retp (part, id) VALUES (0, 1), (1, 2), (1, 3) RETURNING part, off, id;
CREATE TABLE seen (tg text, part int, off bigint, id int);
CREATE FUNCTION record_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO seen VALUES (TG_NAME, NEW.part, NEW.off, NEW.id); RETURN NULL; END $$;
CREATE TRIGGER after_row AFTER INSERT ON retp_1 FOR EACH ROW EXECUTE FUNCTION record_seen();
INSERT INTO retp (part, id) VALUES (1, 4), (0, 5);
INSERT INTO retp_1 (part, id) VALUES (1, 6);
COPY retp (part, id) FROM STDIN;
1	7
\.
SELECT * FROM seen ORDER BY off;
SELECT part, off, id FROM retp_0 ORDER BY part, off;  -- each foreign partition reads the whole topic
SELECT kafka.delete_topic('kafka', 'shapes_ret');

-- The differential matrix: query shapes x conditions x settings, each run
-- on the topic and on the local copy; only mismatches and errors are
-- printed (as NOTICEs), then the number of checks.  In a shape, {t} is the
-- topic relation and {c} a condition on its alias e.
CREATE VIEW ev_view AS SELECT * FROM ev;
CREATE VIEW ev_view_local AS SELECT * FROM ev_local;
CREATE FUNCTION ev_fn(lo bigint) RETURNS SETOF ev LANGUAGE sql STABLE AS $$ SELECT * FROM ev WHERE off >= lo $$;
CREATE FUNCTION ev_fn_local(lo bigint) RETURNS SETOF ev_local LANGUAGE sql STABLE AS $$ SELECT * FROM ev_local WHERE off >= lo $$;
-- a partitioned parent: a local partition and the topic as default partition
CREATE TABLE ev_parent (part int, off bigint, k text, ts timestamptz, id int) PARTITION BY LIST (part);
CREATE TABLE ev_parent_7 PARTITION OF ev_parent FOR VALUES IN (7);
CREATE FOREIGN TABLE ev_parent_topic PARTITION OF ev_parent DEFAULT SERVER kafka OPTIONS (topic 'shapes_ev', format 'json');
ALTER FOREIGN TABLE ev_parent_topic ALTER part OPTIONS (partition 'true'), ALTER off OPTIONS (offset 'true'),
  ALTER k OPTIONS (key 'true'), ALTER ts OPTIONS (timestamp 'true');
CREATE TABLE ev_parent_local (part int, off bigint, k text, ts timestamptz, id int) PARTITION BY LIST (part);
CREATE TABLE ev_parent_local_7 PARTITION OF ev_parent_local FOR VALUES IN (7);
CREATE TABLE ev_parent_local_d PARTITION OF ev_parent_local DEFAULT;
INSERT INTO ev_parent_local SELECT * FROM ev_local;
-- an inheritance parent with a row of its own and the topic as a child
CREATE TABLE ev_inh (part int, off bigint, k text, ts timestamptz, id int);
CREATE FOREIGN TABLE ev_inh_topic (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  k text OPTIONS (key 'true'), ts timestamptz OPTIONS (timestamp 'true'), id int)
  SERVER kafka OPTIONS (topic 'shapes_ev', format 'json');
ALTER FOREIGN TABLE ev_inh_topic INHERIT ev_inh;
CREATE TABLE ev_inh_local (part int, off bigint, k text, ts timestamptz, id int);
CREATE TABLE ev_inh_local_c () INHERITS (ev_inh_local);
INSERT INTO ev_inh_local_c SELECT * FROM ev_local;
INSERT INTO ev_parent_7 VALUES (7, 0, 'x7', '2020-01-01 00:00:00+00', 7000);
INSERT INTO ev_parent_local VALUES (7, 0, 'x7', '2020-01-01 00:00:00+00', 7000);
INSERT INTO ev_inh VALUES (7, 0, 'x7', '2020-01-01 00:00:00+00', 7000);
INSERT INTO ev_inh_local VALUES (7, 0, 'x7', '2020-01-01 00:00:00+00', 7000);
-- a group table on the same topic: its position is reset before each check
CREATE FOREIGN TABLE gm (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  k text OPTIONS (key 'true'), ts timestamptz OPTIONS (timestamp 'true'), id int)
  SERVER kafka OPTIONS (topic 'shapes_ev', format 'json', group 'shapes_gm');

-- group tables push down the partitions of an OR
EXPLAIN (COSTS OFF) SELECT * FROM gm WHERE (part = 1 AND off = 1) OR (part = 2 AND off = 2);

-- the same query on the local copies
CREATE FUNCTION localize(q text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(regexp_replace(q, '\mgm\M', 'ev_local', 'g'), '\m(ev|ev_view|ev_fn|ev_parent|ev_inh)\M', '\1_local', 'g')
$$;
-- the rows of a query as a sorted text array; mode 'prepared' runs it as a
-- prepared statement with parameters ($1 int, $2 bigint, $3 bigint[], $4 timestamptz),
-- 'matview' through a materialized view (created, then refreshed)
CREATE FUNCTION rows_of(q text, mode text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE r text[];
BEGIN
  IF mode = 'prepared' THEN
    IF EXISTS (SELECT FROM pg_prepared_statements WHERE name = 'mx') THEN DEALLOCATE mx; END IF;
    EXECUTE 'PREPARE mx(int, bigint, bigint[], timestamptz) AS ' || q;
    EXECUTE format('CREATE TEMP TABLE mx_rows AS EXECUTE mx(1, 40, ''{1, 5, 99, 7}'', %L)',
                   (SELECT ts FROM ev_local WHERE part = 0 AND off = 50));
    DEALLOCATE mx;
    q := 'TABLE mx_rows';
  ELSIF mode = 'matview' THEN
    EXECUTE 'CREATE MATERIALIZED VIEW mx_view AS ' || q;
    REFRESH MATERIALIZED VIEW mx_view;
    q := 'TABLE mx_view';
  END IF;
  EXECUTE format('SELECT coalesce(array_agg(t::text ORDER BY t::text), ''{}'') FROM (%s) t', q) INTO r;
  IF mode = 'prepared' THEN DROP TABLE mx_rows; END IF;
  IF mode = 'matview' THEN DROP MATERIALIZED VIEW mx_view; END IF;
  RETURN r;
END $$;
CREATE TABLE m_shapes (id serial, q text);
CREATE TABLE m_conds (id serial, c text);
CREATE TABLE m_settings (id serial, s text);
CREATE TABLE m_runs (title text, checks int);
CREATE FUNCTION matrix(title text, sources text[], shapes int[], conds int[], settings int[], mode text DEFAULT 'plain')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  src text; q text; c text; st text; kv text; qt text; r1 text[]; r2 text[]; saved text[]; line text;
  n int := 0; bad int := 0; par int := 0;
BEGIN
  FOR st IN SELECT s FROM m_settings WHERE id = ANY (settings) ORDER BY id LOOP
    saved := '{}';
    FOREACH kv IN ARRAY string_to_array(st, ' ') LOOP
      saved := saved || ARRAY[split_part(kv, '=', 1), current_setting(split_part(kv, '=', 1))];
      PERFORM set_config(split_part(kv, '=', 1), split_part(kv, '=', 2), false);
    END LOOP;
    FOREACH src IN ARRAY sources LOOP
      FOR q IN SELECT m.q FROM m_shapes m WHERE id = ANY (shapes) ORDER BY id LOOP
        FOR c IN SELECT m.c FROM m_conds m WHERE id = ANY (conds) ORDER BY id LOOP
          qt := replace(replace(q, '{t}', src), '{c}', '(' || c || ')');
          n := n + 1;
          BEGIN
            IF src = 'gm' THEN
              PERFORM kafka.reset_group('kafka', 'shapes_gm', 'shapes_ev', 'earliest');
            END IF;
            r1 := rows_of(qt, mode);
            r2 := rows_of(localize(qt), mode);
            IF r1 IS DISTINCT FROM r2 THEN
              bad := bad + 1;
              RAISE NOTICE 'mismatch [%] %: % rows, expected %', st, qt, cardinality(r1), cardinality(r2);
            END IF;
            IF st LIKE '%parallel%' AND mode = 'plain' THEN
              FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || qt LOOP
                IF line LIKE '%Parallel Foreign Scan%' THEN par := par + 1; EXIT; END IF;
              END LOOP;
            END IF;
          EXCEPTION WHEN others THEN
            bad := bad + 1;
            RAISE NOTICE 'error [%] %: %', st, qt, SQLERRM;
          END;
        END LOOP;
      END LOOP;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(saved, 1), 0) / 2 LOOP
      PERFORM set_config(saved[2 * i - 1], saved[2 * i], false);
    END LOOP;
  END LOOP;
  INSERT INTO m_runs VALUES (title, n);
  RETURN format('%s: %s checks, %s mismatches', title, n, bad) ||
         CASE WHEN par > 0 THEN format(', %s with a parallel foreign scan', par) ELSE '' END;
END $$;
INSERT INTO m_shapes (q) VALUES
  ('SELECT e.part, e.off, e.k, e.ts, e.id FROM {t} e WHERE {c}'),                                    -- 1
  ('SELECT l.a, e.off, e.id FROM loc l JOIN {t} e ON e.off = l.a WHERE {c}'),                         -- 2 joins
  ('SELECT l.a, e.off, e.id FROM {t} e JOIN loc l ON e.off = l.a WHERE {c}'),
  ('SELECT l.a, e.id FROM loc l LEFT JOIN {t} e ON e.off = l.a AND {c}'),
  ('SELECT e.id, f.id FROM {t} e JOIN ev f ON f.part = e.part AND f.off = e.off + 1 WHERE {c}'),       -- 5
  ('SELECT l.a, e.part, e.off FROM loc l FULL JOIN (SELECT * FROM {t} e WHERE {c}) e ON l.a = e.off'),
  ('SELECT * FROM (SELECT e.part, e.off, e.id FROM {t} e WHERE {c}) s WHERE s.id % 2 = 0'),           -- 7 subqueries, CTEs
  ('WITH x AS MATERIALIZED (SELECT e.part, e.off, e.id FROM {t} e WHERE {c}) SELECT l.a, x.* FROM loc l, x WHERE x.off < 5'),
  ('WITH x AS NOT MATERIALIZED (SELECT e.part, e.off, e.id FROM {t} e WHERE {c}) SELECT l.a, x.* FROM loc l, x WHERE x.off < 5'),
  ('SELECT l.a FROM loc l WHERE EXISTS (SELECT 1 FROM {t} e WHERE e.off = l.a AND {c})'),             -- 10 EXISTS/IN
  ('SELECT l.a FROM loc l WHERE NOT EXISTS (SELECT 1 FROM {t} e WHERE e.off = l.a AND {c})'),
  ('SELECT l.a FROM loc l WHERE l.a IN (SELECT e.off FROM {t} e WHERE {c})'),
  ('SELECT l.a FROM loc l WHERE l.a NOT IN (SELECT e.off FROM {t} e WHERE {c})'),
  ('SELECT l.a, (SELECT count(*) FROM {t} e WHERE e.off = l.a AND {c}) FROM loc l'),
  ('SELECT l.a, x.id FROM loc l CROSS JOIN LATERAL (SELECT e.id FROM {t} e WHERE e.off = l.a AND {c}) x'),  -- 15 LATERAL
  ('SELECT l.a, x.* FROM loc l CROSS JOIN LATERAL (SELECT e.part, e.off FROM {t} e WHERE {c} ORDER BY e.part, e.off LIMIT 3) x'),
  ('SELECT l.a, x.la, x.part FROM loc l LEFT JOIN LATERAL (SELECT e.part, l.a AS la FROM {t} e WHERE {c} AND e.id IN (1001, 2005)) x ON true'),
  ('(SELECT e.part, e.off FROM {t} e WHERE {c}) UNION (SELECT e.part, e.off FROM ev e WHERE e.part = 2 AND e.off < 5)'),  -- 18 set operations
  ('(SELECT e.part, e.off FROM {t} e WHERE {c}) INTERSECT ALL (SELECT e.part, e.off FROM ev e WHERE e.off % 3 = 0)'),
  ('(SELECT e.part, e.off FROM {t} e WHERE {c}) EXCEPT (SELECT e.part, e.off FROM ev e WHERE e.off > 50)'),
  ('SELECT e.part, e.off FROM {t} e WHERE {c} UNION ALL SELECT e.part, e.off FROM ev e WHERE e.part = 0 AND e.off IN (1, 2)'),
  ('SELECT e.part, e.off, row_number() OVER (PARTITION BY e.part ORDER BY e.off), sum(e.id) OVER (PARTITION BY e.part ORDER BY e.off ROWS 2 PRECEDING) FROM {t} e WHERE {c}'),  -- 22 window, aggregates
  ('SELECT e.part, count(*), sum(e.id), min(e.off), max(e.ts) FROM {t} e WHERE {c} GROUP BY e.part'),
  ('SELECT count(*), count(DISTINCT e.k) FROM {t} e WHERE {c}'),
  ('SELECT e.part, e.off FROM {t} e WHERE {c} ORDER BY e.part, e.off LIMIT 7 OFFSET 3'),            -- 25 LIMIT/OFFSET
  ('SELECT count(*) FROM (SELECT 1 FROM {t} e WHERE {c} LIMIT 5) s'),
  ('SELECT count(*) FROM (SELECT 1 FROM {t} e WHERE {c} OFFSET 250) s');
INSERT INTO m_conds (c) VALUES
  ('true'),                                                                        -- 1 nothing pushed
  ('e.part = 1'),                                                                  -- 2 partition
  ('e.part IN (0, 2) AND e.off BETWEEN 10 AND 40'),                                -- 3 partition and offset
  ('e.off >= 95'),                                                                 -- 4 offset
  ('e.ts >= (SELECT ts FROM ev_local WHERE part = 0 AND off = 50)'),               -- 5 timestamp (a subquery)
  ('e.ts > ''2000-01-01''::timestamptz AND e.part <> 1'),                          -- 6 timestamp (a constant)
  ('(e.part = 1 AND e.off = 1) OR (e.part = 2 AND e.off = 2)'),                    -- 7 OR of ranges
  ('(e.part, e.off) IN ((0, 5), (2, 7), (2, 7), (1, 300))'),                       -- 8 row IN
  ('e.part = 1 AND (e.off BETWEEN 10 AND 20 OR e.off BETWEEN 15 AND 60 OR e.off > 97)'),  -- 9 overlapping ranges
  ('(e.part = 0 AND e.ts >= (SELECT ts FROM ev_local WHERE part = 0 AND off = 90)) OR e.off < 3 OR e.off = NULL::bigint'),  -- 10 timestamp in an OR
  ('e.part <> 1 AND e.off NOT IN (1, 2, 3) AND e.off < 6');                        -- 11 negations
-- prepared statements: conditions on the parameters
INSERT INTO m_conds (c) VALUES
  ('e.part = $1 AND e.off >= $2'),                                                 -- 12
  ('(e.part = $1 AND e.off = ANY ($3)) OR (e.part <> $1 AND e.off > $2)'),         -- 13
  ('e.ts >= $4 OR (e.part = $1 AND e.off < 3)');                                   -- 14
INSERT INTO m_settings (s) VALUES
  (''),                                                                            -- 1 defaults
  ('enable_hashjoin=off enable_mergejoin=off'),                                    -- 2 nested loops
  ('enable_nestloop=off enable_mergejoin=off'),                                    -- 3 hash joins
  ('enable_nestloop=off enable_hashjoin=off'),                                     -- 4 merge joins
  ('enable_material=off enable_hashjoin=off enable_mergejoin=off'),                -- 5 the topic rescanned as inner
  (:'parallel_guc' || '=on'),                                                      -- 6
  (:'parallel_guc' || '=regress'),                                                 -- 7
  ('parallel_setup_cost=0 parallel_tuple_cost=0 min_parallel_table_scan_size=0'),  -- 8 parallel scans
  ('plan_cache_mode=force_custom_plan'),                                           -- 9
  ('plan_cache_mode=force_generic_plan');                                          -- 10
-- every shape on the topic table with every condition, then under every
-- planner setting with a partition/offset, an OR-of-ranges and a timestamp-in-OR condition
SELECT matrix('topic table', '{ev}', array(SELECT generate_series(1, 27)), array(SELECT generate_series(1, 11)), '{1}');
SELECT matrix('topic table, planner settings', '{ev}', array(SELECT generate_series(1, 27)), '{1, 3, 7, 10}',
              array(SELECT generate_series(2, 8)));
-- views, inlined SQL functions, partitioned and inheritance parents
SELECT matrix('views, SQL functions, parents', '{ev_view, ev_fn(0), ev_parent, ev_inh}',
              '{1, 2, 4, 8, 10, 13, 15, 17, 18, 22, 25}', '{2, 7, 10}', '{1, 2, 8}');
-- prepared statements, custom and generic plans
SELECT matrix('prepared statements', '{ev, ev_view, ev_parent}', '{1, 2, 4, 10, 15, 21, 23, 26}', '{12, 13, 14}', '{9, 10}', 'prepared');
-- materialized views (created, then refreshed)
SELECT matrix('materialized views', '{ev, ev_parent}', '{1, 2, 7, 23}', array(SELECT generate_series(1, 11)), '{1}', 'matview');
-- a group table (partition conditions are pushed down, the others filter).
-- Not in shapes that rescan it (a correlated subquery or LATERAL, a nested
-- loop without Material): a group's rescan continues where it stopped.
SELECT matrix('group table', '{gm}', '{1, 2, 3, 4, 6, 7, 8, 10, 12, 15, 18, 21, 22, 23, 25, 26}',
              '{1, 2, 3, 7, 10}', '{1, 2, 8}');
SELECT sum(checks) AS "matrix size (query x setting combinations checked)" FROM m_runs;
-- more offsets than the pushdown keeps as intervals (an IN list of 20,001,
-- an OR of 12,000 arms): their span is read, the conditions filter; the
-- same rows as the local copy
SELECT (SELECT count(*) FROM ev WHERE off = ANY (ARRAY(SELECT generate_series(0, 40000, 2)::bigint)))
     = (SELECT count(*) FROM ev_local WHERE off = ANY (ARRAY(SELECT generate_series(0, 40000, 2)::bigint))) AS in_list_same;
DO $$
DECLARE q text; a bigint; b bigint;
BEGIN
  SELECT string_agg(format('(part = %s AND off = %s)', g % 3, g % 97), ' OR ') INTO q FROM generate_series(1, 12000) g;
  EXECUTE 'SELECT count(*) FROM ev WHERE ' || q INTO a;
  EXECUTE 'SELECT count(*) FROM ev_local WHERE ' || q INTO b;
  RAISE NOTICE 'an OR of 12,000 arms: % rows from the topic, % from the local copy', a, b;
END $$;
SELECT kafka.delete_topic('kafka', 'shapes_ev');
