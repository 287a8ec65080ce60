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

-- CDC pipelines ------------------------------------------------------------------
-- A pipeline streams the row changes of a publication to Kafka (one topic per
-- table, <topic_prefix>.<schema>.<table>).  Its definition lives here, its
-- position in the logical replication slot named slot_name, its live status in
-- shared memory (kafka.pipeline_status).  Written only by the functions below.

CREATE TABLE kafka.pipelines (
  name        text PRIMARY KEY,
  server      text NOT NULL,
  publication text NOT NULL,
  options     jsonb NOT NULL DEFAULT '{}',
  slot_name   name NOT NULL UNIQUE,
  owner       regrole NOT NULL,
  paused      boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- initial snapshot (option "snapshot"): none, pending (to be done, or done
  -- again after an unfinished attempt) or done
  snapshot    text NOT NULL DEFAULT 'none' CHECK (snapshot IN ('none', 'pending', 'done'))
);
REVOKE ALL ON kafka.pipelines FROM PUBLIC;
GRANT SELECT ON kafka.pipelines TO PUBLIC;

CREATE FUNCTION kafka.create_pipeline(name text, server text, publication text, options jsonb DEFAULT '{}')
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_create_pipeline' LANGUAGE C VOLATILE;
CREATE FUNCTION kafka.drop_pipeline(name text)
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_drop_pipeline' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION kafka.pause_pipeline(name text)
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_pause_pipeline' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION kafka.resume_pipeline(name text)
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_resume_pipeline' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION kafka._pipeline_workers(
    OUT slot_name text, OUT state text, OUT worker_pid int, OUT events_sent bigint,
    OUT last_event_at timestamptz, OUT last_error text, OUT last_error_at timestamptz,
    OUT confirmed_lsn pg_lsn)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'kafka_pipeline_workers' LANGUAGE C STRICT VOLATILE;

CREATE VIEW kafka.pipeline_status AS
SELECT p.name,
       current_database()::name AS database,
       p.server,
       p.publication,
       p.slot_name,
       CASE WHEN r.slot_name IS NULL THEN 'stopped'
            WHEN p.paused THEN 'paused'
            ELSE coalesce(w.state, 'stopped') END AS state,
       w.worker_pid,
       r.confirmed_flush_lsn AS confirmed_lsn,
       CASE WHEN r.confirmed_flush_lsn IS NOT NULL
            THEN greatest(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.confirmed_flush_lsn), 0)::bigint
       END AS lag_bytes,
       coalesce(w.events_sent, 0) AS events_sent,
       w.last_event_at,
       CASE WHEN r.slot_name IS NULL THEN 'replication slot ' || p.slot_name || ' does not exist'
            ELSE w.last_error END AS last_error,
       w.last_error_at
  FROM kafka.pipelines p
  LEFT JOIN kafka._pipeline_workers() w ON w.slot_name = p.slot_name
  LEFT JOIN pg_catalog.pg_replication_slots r ON r.slot_name = p.slot_name;
GRANT SELECT ON kafka.pipeline_status TO PUBLIC;
