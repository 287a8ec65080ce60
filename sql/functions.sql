-- kafka.topics / kafka.partitions / kafka.create_topic / kafka.delete_topic
-- against the real broker; watermarks checked against kcat.
\set VERBOSITY terse
\getenv brokers KAFKA_BROKERS
SELECT kafka.create_topic('kafka', 'fn_three', 3);
SELECT kafka.create_topic('kafka', 'fn_conf', 1, 1, '{"cleanup.policy": "compact", "retention.ms": 3600000}');
SELECT topic, partitions FROM kafka.topics('kafka') WHERE topic LIKE 'fn\_%' ORDER BY topic;
-- fill partitions 0 and 1 with kcat, leave 2 empty
\! printf 'a\nb\nc\n' | kcat -P -b "$KAFKA_BROKERS" -t fn_three -p 0
\! printf 'd\ne\nf\ng\nh\n' | kcat -P -b "$KAFKA_BROKERS" -t fn_three -p 1
SELECT * FROM kafka.partitions('kafka', 'fn_three') ORDER BY partition;
-- what kcat itself reads, per partition
\! kcat -C -b "$KAFKA_BROKERS" -t fn_three -e -q -f '%p\n' | sort | uniq -c | awk '{print "partition " $2 ": " $1 " messages"}'
-- errors
SELECT kafka.create_topic('kafka', 'fn_three', 3);
SELECT kafka.create_topic('kafka', 'fn_bad', 0);
SELECT kafka.create_topic('kafka', 'fn_badconf', 1, -1, '{"cleanup.policy": "sometimes"}');
SELECT * FROM kafka.partitions('kafka', 'fn_missing');
SELECT * FROM kafka.topics('no_such_server');
SELECT kafka.delete_topic('kafka', 'fn_missing');
SELECT kafka.delete_topic('kafka', 'fn_conf');
SELECT count(*) FROM kafka.topics('kafka') WHERE topic = 'fn_conf';
-- create/delete are not granted to PUBLIC; the metadata functions need USAGE
SET ROLE regress_kafka_user;
SELECT kafka.create_topic('kafka', 'fn_user', 1);
SELECT kafka.delete_topic('kafka', 'fn_three');
SELECT partition, high FROM kafka.partitions('kafka', 'fn_three') ORDER BY partition;
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER kafka FROM regress_kafka_user;
SET ROLE regress_kafka_user;
SELECT * FROM kafka.topics('kafka');
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER kafka TO regress_kafka_user;
-- an unreachable broker: an ERROR within kafka_fdw.timeout, never a hang
CREATE SERVER dead FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '127.0.0.1:1');
SET kafka_fdw.timeout = 1000;
SELECT * FROM kafka.topics('dead');
SELECT * FROM kafka.partitions('dead', 'x');
RESET kafka_fdw.timeout;
-- ALTER SERVER drops the cached client: the new brokers are used at once
ALTER SERVER dead OPTIONS (SET brokers :'brokers');
SELECT count(*) > 0 AS reachable FROM kafka.topics('dead');
DROP SERVER dead;
-- the C++/Postgres bridge: every path ends in an ERROR with the right
-- SQLSTATE, never a crash; the backend is fine afterwards
\set VERBOSITY sqlstate
SELECT kafka._bridge_selftest('cpp_exception');
SELECT kafka._bridge_selftest('kafka_error');
SELECT kafka._bridge_selftest('bad_alloc');
SELECT kafka._bridge_selftest('pg_error');
\set VERBOSITY default
SELECT kafka._bridge_selftest('cpp_exception');
SELECT kafka._bridge_selftest('kafka_error');
SELECT kafka._bridge_selftest('pg_error');
SELECT kafka._bridge_selftest('pg_ok');
\set VERBOSITY terse
