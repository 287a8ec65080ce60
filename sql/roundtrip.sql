-- Every type a user reaches for, written by INSERT and read back equal by
-- SELECT of the same table, in json and csv, in a UTF-8 and a LATIN1
-- database, written in one time zone and read in another.
\set VERBOSITY default
SELECT current_database() AS regress_db \gset
\set enc utf8
\i sql/include/roundtrip.sql
CREATE DATABASE regress_kafka_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\getenv brokers KAFKA_BROKERS
\c regress_kafka_latin1
SET client_min_messages = warning;
CREATE EXTENSION kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers');
CREATE USER MAPPING FOR PUBLIC SERVER kafka;
RESET client_min_messages;
SHOW server_encoding;
\set enc latin1
\i sql/include/roundtrip.sql
\c :regress_db
DROP DATABASE regress_kafka_latin1;
