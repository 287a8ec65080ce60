-- Option validation: accepted and rejected options, hints, superuser-only
-- librdkafka properties, secrets never shown.
\set VERBOSITY default

-- brokers is required
CREATE SERVER s_nobrokers FOREIGN DATA WRAPPER kafka_fdw;
CREATE SERVER s_empty FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '');
-- librdkafka properties by their own name are checked by librdkafka
CREATE SERVER s_props FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '127.0.0.1:9', "compression.type" 'zstd', "linger.ms" '20', partitioner 'murmur2');
CREATE SERVER s_typo FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "compresion.type" 'zstd');
CREATE SERVER s_badval FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "compression.type" 'zip');
CREATE SERVER s_badpart FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', partitioner 'round');
-- properties kafka_fdw drives itself
CREATE SERVER s_reserved FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "log.queue" 'false');
-- ALTER is validated too, and brokers stays required
ALTER SERVER s_props OPTIONS (SET "linger.ms" 'soon');
ALTER SERVER s_props OPTIONS (DROP brokers);
ALTER SERVER s_props OPTIONS (ADD "batch.num.messages" '5000');
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname = 's_props';

-- user mappings: user/password and sasl.*/ssl.* only
CREATE USER MAPPING FOR CURRENT_USER SERVER s_props OPTIONS (user 'alice', password 'secret-pw-1');
CREATE USER MAPPING FOR regress_kafka_user SERVER s_props OPTIONS (brokers 'x:1');
CREATE USER MAPPING FOR regress_kafka_user SERVER s_props OPTIONS ("sasl.mechanisms" 'SCRAM-SHA-256', "sasl.username" 'bob', "sasl.password" 'secret-pw-2');
CREATE USER MAPPING FOR PUBLIC SERVER s_props OPTIONS ("sasl.password" 'x', "ssl.key.password" 'secret-pw-3', "ssl.key.pem" '-----BEGIN');
DROP USER MAPPING FOR PUBLIC SERVER s_props;
-- a rejected secret is never echoed
CREATE USER MAPPING FOR PUBLIC SERVER s_props OPTIONS ("sasl.oauthbearer.config" 'secret-pw-4', bogus 'x');

-- table and column options
CREATE FOREIGN TABLE ft_ok (
  part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  k text OPTIONS (key 'true'), ts timestamptz OPTIONS (timestamp 'true'),
  h jsonb OPTIONS (headers 'true'), id int, amount numeric OPTIONS (json 'price'),
  raw text OPTIONS (junk 'true'), err text OPTIONS (junk_error 'true')
) SERVER s_props OPTIONS (topic 'events', format 'json', batch_size '100', buffer_delay '100',
                          strict 'false', ignore_junk 'true');
CREATE FOREIGN TABLE ft_csv (a int, b text) SERVER s_props
  OPTIONS (topic 'c', format 'csv', delimiter ';', quote '''', escape '\', null 'NULL');
CREATE FOREIGN TABLE ft_bad1 (a int) SERVER s_props OPTIONS (topic 't', format 'avro');
CREATE FOREIGN TABLE ft_bad2 (a int) SERVER s_props OPTIONS (topic 't', strict 'maybe');
CREATE FOREIGN TABLE ft_bad3 (a int) SERVER s_props OPTIONS (topic 't', batch_size '-1');
CREATE FOREIGN TABLE ft_bad4 (a int) SERVER s_props OPTIONS (topic 't', "linger.ms" '1');
CREATE FOREIGN TABLE ft_bad5 (a int OPTIONS (parition 'true')) SERVER s_props OPTIONS (topic 't');
CREATE FOREIGN TABLE ft_bad6 (a int OPTIONS (partition 'true', offset 'true')) SERVER s_props OPTIONS (topic 't');
CREATE FOREIGN TABLE ft_bad7 (a int) SERVER s_props OPTIONS (topic 't', delimiter ';;');
ALTER FOREIGN TABLE ft_ok OPTIONS (SET format 'xml');
ALTER FOREIGN TABLE ft_ok ALTER COLUMN id OPTIONS (ADD key 'yes');

-- superuser-only librdkafka properties
CREATE SERVER s_su FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers 'x:1', "ssl.ca.location" '/etc/ssl/certs', "sasl.kerberos.kinit.cmd" 'true');
GRANT USAGE ON FOREIGN DATA WRAPPER kafka_fdw TO regress_kafka_user;
CREATE SCHEMA regress_kafka_s AUTHORIZATION regress_kafka_user;
SET ROLE regress_kafka_user;
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "plugin.library.paths" '/tmp/evil.so');
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "sasl.kerberos.kinit.cmd" 'touch /tmp/pwned');
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "ssl.key.location" '/etc/shadow');
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "ssl.engine.location" '/tmp/e.so');
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "sasl.oauthbearer.token.endpoint.url" 'http://169.254.169.254/');
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "compression.type" 'lz4');
ALTER SERVER s_user OPTIONS (ADD "ssl.ca.location" '/etc/ssl/certs');
ALTER SERVER s_user OPTIONS (ADD "sasl.kerberos.keytab" '/etc/krb5.keytab');
CREATE USER MAPPING FOR regress_kafka_user SERVER s_user OPTIONS ("ssl.keystore.location" '/etc/ssl/k.p12');
CREATE USER MAPPING FOR regress_kafka_user SERVER s_user OPTIONS (user 'u1', password 'secret-pw-5');
-- Hidden librdkafka properties are refused, whoever asks: only the public
-- ones (what rd_kafka_conf_properties_show prints) are options.
-- ut_handle_ProduceResponse makes librdkafka call the address of its value
-- string on every produce response: it crashed the cluster (issue 18, finding 7).
CREATE SERVER s_hidden FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "ut_handle_ProduceResponse" '1');
CREATE SERVER s_hidden FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "test.mock.num.brokers" '1');
CREATE SERVER s_hidden FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "client.software.name" 'x');
CREATE SERVER s_hidden FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "topic.ut_handle_ProduceResponse" '1');
CREATE SERVER s_hidden FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "dr_msg_cb" '1');
CREATE SERVER s_hidden FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "internal.termination.signal" '10');
-- public properties still work, also in their topic. form
CREATE SERVER s_hidden FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "linger.ms" '7', "topic.message.timeout.ms" '5000');
ALTER SERVER s_hidden OPTIONS (ADD "ut_handle_ProduceResponse" '1');
ALTER SERVER s_hidden OPTIONS (ADD "enable_sasl_queue" 'true');
ALTER SERVER s_hidden OPTIONS (SET "linger.ms" '8');
-- superuser-only ones are still refused to this role
ALTER SERVER s_hidden OPTIONS (ADD "plugin.library.paths" '/tmp/evil.so');
CREATE USER MAPPING FOR regress_kafka_user SERVER s_hidden OPTIONS ("ut_handle_ProduceResponse" '1');
CREATE USER MAPPING FOR regress_kafka_user SERVER s_hidden OPTIONS ("ssl_engine_callback_data" '1');
CREATE USER MAPPING FOR regress_kafka_user SERVER s_hidden OPTIONS (user 'u2', "sasl.mechanisms" 'SCRAM-SHA-512');
ALTER USER MAPPING FOR regress_kafka_user SERVER s_hidden OPTIONS (ADD "ut_handle_ProduceResponse" '1');
CREATE FOREIGN TABLE regress_kafka_s.ft_hidden (v text) SERVER s_hidden
  OPTIONS (topic 't', "ut_handle_ProduceResponse" '1');
CREATE FOREIGN TABLE regress_kafka_s.ft_hidden (v text) SERVER s_hidden OPTIONS (topic 't');
ALTER FOREIGN TABLE regress_kafka_s.ft_hidden OPTIONS (ADD "ut_handle_ProduceResponse" '1');
ALTER FOREIGN TABLE regress_kafka_s.ft_hidden ALTER COLUMN v OPTIONS (ADD "ut_handle_ProduceResponse" '1');
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname = 's_hidden';
-- the password in another role's mapping is not readable (own mapping is)
SELECT srvname, usename = current_user AS own, umoptions FROM pg_user_mappings
 WHERE srvname IN ('s_props', 's_user') ORDER BY 1, 2;
RESET ROLE;
-- superusers are refused hidden properties too
CREATE SERVER s_hidden_su FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x:1', "ut_handle_ProduceResponse" '1');
ALTER SERVER s_su OPTIONS (ADD "ut_handle_ProduceResponse" '1');
ALTER SERVER s_su OPTIONS (ADD "test.mock.num.brokers" '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER s_su OPTIONS ("ut_handle_ProduceResponse" '1');
ALTER FOREIGN TABLE regress_kafka_s.ft_hidden OPTIONS (ADD "ut_handle_ProduceResponse" '1');
-- A hidden property already in the catalog (set through the validator of
-- 0.1.0, which accepted it) never reaches librdkafka: using the server fails
-- cleanly instead of crashing.  The topic exists, so a produce response
-- would come back (its "__" name keeps it out of IMPORT FOREIGN SCHEMA).
\getenv brokers KAFKA_BROKERS
SELECT count(*) >= 0 AS ok FROM (SELECT kafka.create_topic('kafka', '__regress_opt_legacy')
  WHERE NOT EXISTS (SELECT FROM kafka.topics('kafka') WHERE topic = '__regress_opt_legacy')) s;
ALTER FOREIGN DATA WRAPPER kafka_fdw NO VALIDATOR;
CREATE SERVER s_legacy FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', "ut_handle_ProduceResponse" '1');
ALTER FOREIGN DATA WRAPPER kafka_fdw VALIDATOR kafka.kafka_fdw_validator;
CREATE USER MAPPING FOR PUBLIC SERVER s_legacy;
SELECT * FROM kafka.produce('s_legacy', '__regress_opt_legacy', 'x'::text);
CREATE FOREIGN TABLE regress_kafka_s.ft_legacy (v text) SERVER s_legacy OPTIONS (topic '__regress_opt_legacy', format 'text');
INSERT INTO regress_kafka_s.ft_legacy VALUES ('y');
SELECT count(*) FROM regress_kafka_s.ft_legacy;
DROP SERVER s_legacy CASCADE;
DROP SCHEMA regress_kafka_s CASCADE;
DROP SERVER s_hidden CASCADE;
DROP SERVER s_su CASCADE;
DROP SERVER s_user CASCADE;
DROP SERVER s_props CASCADE;
