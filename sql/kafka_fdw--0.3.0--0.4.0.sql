-- kafka_fdw 0.3.0 -> 0.4.0: CDC exactly-once (issue "CDC: exactly-once").
-- Also part of every fresh install (CREATE EXTENSION runs
-- kafka_fdw--0.1.0.sql, then each upgrade script in order).
\echo Use "ALTER EXTENSION kafka_fdw UPDATE" to load this file. \quit

-- Outbox: kafka.produce_on_commit ------------------------------------------------
-- A message for Kafka that a pipeline's worker sends once the calling
-- transaction commits, in commit order with its row events and in the same
-- Kafka transaction as them; nothing on rollback (docs/pipelines.md,
-- "Outbox (produce_on_commit)").  It is a transactional logical message
-- (prefix kafka_fdw.outbox) whose payload ends with an HMAC under the
-- secret below, over the database, the transaction id and the payload: a
-- message with the prefix that anyone else wrote (pg_logical_emit_message
-- is PUBLIC) does not verify and is dropped and counted (kafka.outbox_status).

-- The secret: one row, made here, read only by kafka_fdw's C code (no role
-- but its owner may select it).  Not dumped: a restored database has its own.
CREATE TABLE @extschema@.outbox_secret (
  one    boolean PRIMARY KEY DEFAULT true CHECK (one),
  secret bytea NOT NULL CHECK (pg_catalog.length(secret) >= 32)
);
REVOKE ALL ON @extschema@.outbox_secret FROM PUBLIC;
-- 2 x 122 random bits (gen_random_uuid: pg_strong_random)
INSERT INTO @extschema@.outbox_secret (secret)
  SELECT pg_catalog.decode(pg_catalog.replace(pg_catalog.gen_random_uuid()::pg_catalog.text
                                              OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::pg_catalog.text,
                                              '-', ''), 'hex');

-- Roles the pipeline's owner allowed to call produce_on_commit for its
-- pipeline (besides the owner and the roles with its privileges).  Written
-- by the grant/revoke functions; dropped with the pipeline; dumped.
CREATE TABLE @extschema@.outbox_grants (
  pipeline   text NOT NULL REFERENCES @extschema@.pipelines (name) ON DELETE CASCADE,
  grantee    regrole NOT NULL,
  granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (pipeline, grantee)
);
REVOKE ALL ON @extschema@.outbox_grants FROM PUBLIC;
GRANT SELECT ON @extschema@.outbox_grants TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox_grants', '');

-- value NULL: a tombstone; key NULL: no key; headers: a JSON object of
-- names to strings (null: a header without a value).  Topics: the
-- pipeline's option "outbox_topics".
CREATE FUNCTION @extschema@.produce_on_commit(pipeline text, topic text, value text, key text DEFAULT NULL,
                                              headers jsonb DEFAULT NULL)
  RETURNS void AS 'MODULE_PATHNAME', 'kafka_produce_on_commit_text' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.produce_on_commit(pipeline text, topic text, value bytea, key bytea DEFAULT NULL,
                                              headers jsonb DEFAULT NULL)
  RETURNS void AS 'MODULE_PATHNAME', 'kafka_produce_on_commit_bytea' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.produce_on_commit(pipeline text, topic text, value jsonb, key text DEFAULT NULL,
                                              headers jsonb DEFAULT NULL)
  RETURNS void AS 'MODULE_PATHNAME', 'kafka_produce_on_commit_jsonb' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.grant_produce_on_commit(pipeline text, role regrole)
  RETURNS void AS 'MODULE_PATHNAME', 'kafka_grant_produce_on_commit' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION @extschema@.revoke_produce_on_commit(pipeline text, role regrole)
  RETURNS void AS 'MODULE_PATHNAME', 'kafka_revoke_produce_on_commit' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION @extschema@._outbox_counts(
    OUT slot_name text, OUT messages_sent bigint, OUT messages_dropped bigint, OUT last_dropped_at timestamptz)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'kafka_outbox_counts' LANGUAGE C STRICT VOLATILE;

-- Per pipeline: outbox messages its worker sent, and logical messages with
-- the outbox prefix it dropped because produce_on_commit did not write
-- them (forged, or not transactional), since the server started.
CREATE VIEW @extschema@.outbox_status AS
SELECT p.name AS pipeline,
       p.options OPERATOR(pg_catalog.->) 'outbox_topics' AS outbox_topics,
       coalesce(c.messages_sent, 0) AS messages_sent,
       coalesce(c.messages_dropped, 0) AS messages_dropped,
       c.last_dropped_at
  FROM @extschema@.pipelines p
  LEFT JOIN @extschema@._outbox_counts() c ON c.slot_name OPERATOR(pg_catalog.=) p.slot_name::pg_catalog.text;
GRANT SELECT ON @extschema@.outbox_status TO PUBLIC;
