-- Non-strict decoding: only data errors become NULL + junk_error; code that
-- an input runs (a domain's CHECK, a composite's columns) runs in a
-- subtransaction; anything else is raised as it is.
\set VERBOSITY default
SELECT kafka.create_topic('kafka', 'decode', 1);
CREATE FUNCTION dec_nonneg(int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 >= 0';
CREATE DOMAIN dec_sqlcheck AS int CHECK (dec_nonneg(VALUE));
CREATE FUNCTION dec_plcheck(int) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF $1 = 13 THEN RAISE EXCEPTION 'unlucky %', $1 USING ERRCODE = 'invalid_parameter_value'; END IF;
  RETURN true;
END $$;
CREATE DOMAIN dec_plpgsql AS int CHECK (dec_plcheck(VALUE));
CREATE TYPE dec_pair AS (a int, b text);
SELECT count(*) FROM (VALUES
  ('{"d": 1, "p": 1, "c": "(1,x)"}'), ('{"d": -2, "p": 2, "c": "(2,y)"}'),
  ('{"d": 3, "p": 13, "c": "(3,z)"}'), ('{"d": 4, "p": 4, "c": "(nope,w)"}'),
  ('{"d": 5, "p": 5, "c": {"a": 5, "b": "obj"}}')) v(v), LATERAL kafka.produce('kafka', 'decode', v.v);
CREATE FOREIGN TABLE dec (off bigint OPTIONS (offset 'true'), d dec_sqlcheck, p dec_plpgsql, c dec_pair,
  junk_error text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'decode', format 'json', strict 'false');
-- a SQL-function CHECK keeps -2 out (it came through); a PL/pgSQL CHECK's
-- error and a bad composite are bad values; a JSON object fills a composite
SELECT off, d, p, c, junk_error FROM dec ORDER BY off;
-- no leaked TupleDesc references (WARNINGs at commit), no SPI state left
-- behind for a calling PL/pgSQL function
CREATE FUNCTION dec_count() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  SELECT count(*) FILTER (WHERE junk_error IS NULL) INTO n FROM dec;
  RETURN n;
END $$;
SELECT dec_count();
SELECT * FROM (SELECT dec_count() UNION ALL SELECT count(c) FROM dec) x;
-- statements with such columns stay out of parallel mode (no
-- subtransactions there)
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'debug_parallel_query'
            ELSE 'force_parallel_mode' END AS parallel_guc \gset
SELECT set_config(:'parallel_guc', 'on', false) AS parallel_mode;
EXPLAIN (COSTS OFF) SELECT count(*) FROM dec WHERE p > 0;
SELECT count(*) FROM dec WHERE p > 0;
RESET :parallel_guc; RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
-- errors that are not about the data are raised, never made junk: a cancel
-- (here raised by the CHECK's function) and any other class
CREATE OR REPLACE FUNCTION dec_plcheck(int) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF $1 = 13 THEN RAISE EXCEPTION 'canceling statement due to user request' USING ERRCODE = 'query_canceled'; END IF;
  RETURN true;
END $$;
SELECT off, p FROM dec ORDER BY off;
CREATE OR REPLACE FUNCTION dec_plcheck(int) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF $1 = 13 THEN RAISE EXCEPTION 'not allowed' USING ERRCODE = 'insufficient_privilege'; END IF;
  RETURN true;
END $$;
SELECT off, p FROM dec ORDER BY off;
-- strict: the first bad value is the statement's error, naming the message
ALTER FOREIGN TABLE dec OPTIONS (SET strict 'true');
SELECT off, d FROM dec ORDER BY off;
ALTER FOREIGN TABLE dec OPTIONS (SET strict 'false');
-- built-in types need no subtransaction: a data error is junk, as before
CREATE FOREIGN TABLE dec_plain (off bigint OPTIONS (offset 'true'), p smallint, c int, junk_error text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'decode', format 'json', strict 'false');
SELECT off, p, c, junk_error FROM dec_plain WHERE off < 2 ORDER BY off;
-- JSON: a top-level array says what it is; a broken one says where
SELECT count(*) FROM (VALUES ('[1,2,{"a":1}]'), ('[1,2')) v(v), LATERAL kafka.produce('kafka', 'decode', v.v);
SELECT off, junk_error FROM dec_plain WHERE off >= 5 ORDER BY off;
-- built-in input functions reject bad text with other classes than 22 too:
-- still a bad value, not the statement's error (a message that stops every
-- reader)
SELECT kafka.create_topic('kafka', 'decode_builtin', 1);
SELECT count(*) FROM (VALUES ('{"a": [[[[[[[1]]]]]]]}'), ('{"jp": "$$$ bad"}'), ('{"rc": "no_such_table"}'),
  ('{"a": [1, 2], "jp": "$.x", "rc": "pg_class"}')) v(v), LATERAL kafka.produce('kafka', 'decode_builtin', v.v);
CREATE FOREIGN TABLE dec_builtin (off bigint OPTIONS (offset 'true'), a int[], jp jsonpath, rc regclass,
  junk_error text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'decode_builtin', format 'json', strict 'false');
-- (array_in's message names the dimensions up to 16, not on 17+)
SELECT off, a, jp, rc, regexp_replace(junk_error, 'dimensions \(\d+\) exceeds', 'dimensions exceeds') AS junk_error
  FROM dec_builtin ORDER BY off;
-- the converted columns in a join, a view and a prepared statement (generic
-- plan), against a local copy of what a plain SELECT read
CREATE TABLE dec_local AS SELECT off, d, (c).a AS ca FROM dec;
CREATE VIEW dec_v AS SELECT off, d, c FROM dec;
SELECT count(*) AS differences FROM (
  (SELECT off, d, (c).a FROM dec_v EXCEPT SELECT off, d, ca FROM dec_local)
  UNION ALL (SELECT off, d, ca FROM dec_local EXCEPT SELECT off, d, (c).a FROM dec_v)) x;
SELECT count(*) AS joined FROM dec_local l JOIN dec f ON f.off = l.off AND f.d IS NOT DISTINCT FROM l.d
  AND (f.c).a IS NOT DISTINCT FROM l.ca;
SET plan_cache_mode = force_generic_plan;
PREPARE dec_q(bigint) AS SELECT d, (c).a FROM dec WHERE off = $1;
EXECUTE dec_q(1);
EXECUTE dec_q(4);
SELECT d, ca FROM dec_local WHERE off IN (1, 4) ORDER BY off;
RESET plan_cache_mode;
