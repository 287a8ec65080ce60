-- Bad values read inside a parallel worker.  A statement reading a domain
-- column stays out of parallel mode (decode.sql), but a PARALLEL SAFE
-- function run by a parallel worker reads it there anyway.  PostgreSQL 16+
-- reports a rejected value as a soft error (InputFunctionCallSafe): the value
-- is NULL plus junk_error, as in the leader.  15 has no soft errors and no
-- subtransactions in a parallel worker: the value's error is the statement's
-- (decode_soft_1.out).
\set VERBOSITY terse
SELECT kafka.create_topic('kafka', 'decode_soft', 1);
CREATE DOMAIN soft_nonneg AS int CHECK (VALUE >= 0);
SELECT count(*) FROM (VALUES ('{"n": 1, "i": 1}'), ('{"n": -1, "i": 2}'), ('{"n": 3, "i": "x"}'),
  ('{"n": "y", "i": 4}')) v(v), LATERAL kafka.produce('kafka', 'decode_soft', v.v);
CREATE FOREIGN TABLE dsoft (off bigint OPTIONS (offset 'true'), n soft_nonneg, i int,
  junk_error text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'decode_soft', format 'json', strict 'false');
CREATE FUNCTION dsoft_read() RETURNS text LANGUAGE plpgsql PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT string_agg(format('%s: n=%s i=%s (%s)', off, n, i, junk_error), '; ' ORDER BY off)
          FROM dsoft);
END $$;
-- in the leader
SELECT dsoft_read();
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'debug_parallel_query'
            ELSE 'force_parallel_mode' END AS parallel_guc \gset
SELECT set_config(:'parallel_guc', 'on', false) AS parallel_mode;
EXPLAIN (COSTS OFF) SELECT dsoft_read();
-- in a parallel worker (the version line keeps each expected file to its majors)
SELECT current_setting('server_version_num')::int >= 160000 AS soft_input_errors;
SELECT dsoft_read();
RESET :parallel_guc; RESET parallel_setup_cost; RESET parallel_tuple_cost;
