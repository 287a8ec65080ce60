-- kafka_fdw 0.1.0: install script.  Objects live in schema "kafka".
\echo Use "CREATE EXTENSION kafka_fdw" to load this file. \quit

CREATE FUNCTION kafka_fdw_handler() RETURNS fdw_handler
  AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

CREATE FUNCTION kafka_fdw_validator(text[], oid) RETURNS void
  AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER kafka_fdw
  HANDLER kafka_fdw_handler
  VALIDATOR kafka_fdw_validator;

-- Metadata -------------------------------------------------------------------

CREATE FUNCTION kafka.topics(server text)
  RETURNS TABLE(topic text, partitions int)
  AS 'MODULE_PATHNAME', 'kafka_topics' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION kafka.partitions(server text, topic text)
  RETURNS TABLE(partition int, low bigint, high bigint)
  AS 'MODULE_PATHNAME', 'kafka_partitions' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION kafka.create_topic(server text, topic text, partitions int DEFAULT 1,
                                   replication_factor int DEFAULT -1, config jsonb DEFAULT '{}')
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_create_topic' LANGUAGE C VOLATILE;

CREATE FUNCTION kafka.delete_topic(server text, topic text)
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_delete_topic' LANGUAGE C STRICT VOLATILE;

-- Topic administration is for superusers until granted.
REVOKE ALL ON FUNCTION kafka.create_topic(text, text, int, int, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION kafka.delete_topic(text, text) FROM PUBLIC;

-- Produce ---------------------------------------------------------------------
-- kafka.produce: synchronous, returns where the broker stored the message.
-- kafka.send: buffered until COMMIT; the commit fails if a delivery fails;
-- ROLLBACK discards the messages unsent.  A NULL value is a tombstone.

CREATE FUNCTION kafka.produce(server text, topic text, value bytea, key bytea DEFAULT NULL,
                              partition int DEFAULT NULL, headers jsonb DEFAULT NULL,
                              ts timestamptz DEFAULT NULL)
  RETURNS TABLE(partition int, "offset" bigint)
  AS 'MODULE_PATHNAME', 'kafka_produce_bytea' LANGUAGE C VOLATILE;
CREATE FUNCTION kafka.produce(server text, topic text, value text, key text DEFAULT NULL,
                              partition int DEFAULT NULL, headers jsonb DEFAULT NULL,
                              ts timestamptz DEFAULT NULL)
  RETURNS TABLE(partition int, "offset" bigint)
  AS 'MODULE_PATHNAME', 'kafka_produce_text' LANGUAGE C VOLATILE;
CREATE FUNCTION kafka.produce(server text, topic text, value jsonb, key text DEFAULT NULL,
                              partition int DEFAULT NULL, headers jsonb DEFAULT NULL,
                              ts timestamptz DEFAULT NULL)
  RETURNS TABLE(partition int, "offset" bigint)
  AS 'MODULE_PATHNAME', 'kafka_produce_jsonb' LANGUAGE C VOLATILE;

CREATE FUNCTION kafka.send(server text, topic text, value bytea, key bytea DEFAULT NULL,
                           partition int DEFAULT NULL, headers jsonb DEFAULT NULL,
                           ts timestamptz DEFAULT NULL)
  RETURNS void AS 'MODULE_PATHNAME', 'kafka_send_bytea' LANGUAGE C VOLATILE;
CREATE FUNCTION kafka.send(server text, topic text, value text, key text DEFAULT NULL,
                           partition int DEFAULT NULL, headers jsonb DEFAULT NULL,
                           ts timestamptz DEFAULT NULL)
  RETURNS void AS 'MODULE_PATHNAME', 'kafka_send_text' LANGUAGE C VOLATILE;
CREATE FUNCTION kafka.send(server text, topic text, value jsonb, key text DEFAULT NULL,
                           partition int DEFAULT NULL, headers jsonb DEFAULT NULL,
                           ts timestamptz DEFAULT NULL)
  RETURNS void AS 'MODULE_PATHNAME', 'kafka_send_jsonb' LANGUAGE C VOLATILE;

-- Consume without DDL ------------------------------------------------------------
-- Reads up to the high watermarks taken at the start (and max_messages).
CREATE FUNCTION kafka.consume(server text, topic text, partition int DEFAULT NULL,
                              from_offset bigint DEFAULT NULL, max_messages bigint DEFAULT NULL)
  RETURNS TABLE(partition int, "offset" bigint, key bytea, value bytea, ts timestamptz, headers jsonb)
  AS 'MODULE_PATHNAME', 'kafka_consume' LANGUAGE C VOLATILE;

-- The older kafka_fdw's metadata function, for the topic of a foreign table.
CREATE FUNCTION kafka.kafka_get_watermarks(rel regclass, OUT partition int, OUT offset_low bigint,
                                           OUT offset_high bigint)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'kafka_get_watermarks' LANGUAGE C STRICT VOLATILE;

-- Consumer groups -----------------------------------------------------------------
-- The source of truth for the positions of groups read through group tables
-- (table option "group").  Moved in the transaction that read the messages.
CREATE TABLE kafka.group_offsets (
  server      name        NOT NULL,
  group_name  text        NOT NULL,
  topic       text        NOT NULL,
  partition   int         NOT NULL,
  next_offset bigint      NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (server, group_name, topic, partition)
);
-- pg_dump keeps the positions.
SELECT pg_catalog.pg_extension_config_dump('kafka.group_offsets', '');
-- Users read and move positions through group tables and the functions below,
-- which check USAGE on the server; superusers may read the table directly.
REVOKE ALL ON kafka.group_offsets FROM PUBLIC;

CREATE FUNCTION kafka.group_lag(server text, group_name text)
  RETURNS TABLE(topic text, partition int, next_offset bigint, high_watermark bigint, lag bigint)
  AS 'MODULE_PATHNAME', 'kafka_group_lag' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION kafka.reset_group(server text, group_name text, topic text, "position" text)
  RETURNS TABLE(partition int, next_offset bigint)
  AS 'MODULE_PATHNAME', 'kafka_reset_group' LANGUAGE C VOLATILE;
CREATE FUNCTION kafka.set_group_offset(server text, group_name text, topic text, partition int, next_offset bigint)
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_set_group_offset' LANGUAGE C VOLATILE;

-- For the regression tests: raises through each path of the C++/Postgres bridge.
CREATE FUNCTION kafka._bridge_selftest(kind text) RETURNS int
  AS 'MODULE_PATHNAME', 'kafka_bridge_selftest' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION kafka._bridge_selftest(text) FROM PUBLIC;
