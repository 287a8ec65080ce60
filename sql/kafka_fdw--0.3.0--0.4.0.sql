-- kafka_fdw 0.3.0 -> 0.4.0: CDC exactly-once (issue "CDC: exactly-once").
-- Also part of every fresh install (CREATE EXTENSION runs
-- kafka_fdw--0.1.0.sql, then each upgrade script in order).
\echo Use "ALTER EXTENSION kafka_fdw UPDATE" to load this file. \quit
