-- Runs first: the extension, a server on the test broker, a non-superuser.
\getenv brokers KAFKA_BROKERS
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers');
CREATE USER MAPPING FOR PUBLIC SERVER kafka;
CREATE ROLE regress_kafka_user LOGIN;
GRANT USAGE ON FOREIGN DATA WRAPPER kafka_fdw TO regress_kafka_user;
GRANT USAGE ON FOREIGN SERVER kafka TO regress_kafka_user;
GRANT USAGE ON SCHEMA kafka TO regress_kafka_user;
SELECT extname, extversion FROM pg_extension WHERE extname = 'kafka_fdw';
SELECT fdwname, fdwhandler::regproc, fdwvalidator::regproc FROM pg_foreign_data_wrapper;
-- EXPLAIN ANALYZE without timings, on every major: PostgreSQL 18 prints actual
-- rows as "4.00", shown here as integers
CREATE FUNCTION explain_analyze(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (COSTS OFF, ANALYZE, TIMING OFF, SUMMARY OFF) ' || q LOOP
    RETURN NEXT regexp_replace(l, 'rows=(\d+)\.00 ', 'rows=\1 ', 'g');
  END LOOP;
END $$;
