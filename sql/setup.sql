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
