-- kafka_fdw 0.3.0 -> 0.4.0: CDC exactly-once (issue "CDC: exactly-once").
-- Also part of every fresh install (CREATE EXTENSION runs
-- kafka_fdw--0.1.0.sql, then each upgrade script in order).
\echo Use "ALTER EXTENSION kafka_fdw UPDATE" to load this file. \quit

-- Exactly-once pipelines (docs/pipelines.md, "Exactly-once") --------------------
-- The Kafka side of each pipeline worker (shared memory): the position its
-- last Kafka commit recorded in the progress topic, Kafka transactions
-- committed, and transactions left open by workers that ended (aborted by
-- the next worker), since the server started.
CREATE FUNCTION @extschema@._pipeline_kafka(
    OUT slot_name text, OUT kafka_committed_lsn pg_lsn, OUT kafka_transactions bigint,
    OUT kafka_aborted bigint)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'kafka_pipeline_kafka' LANGUAGE C STRICT VOLATILE;

-- pipeline_status: the columns of 0.3.0, then the exactly-once ones.
CREATE OR REPLACE VIEW @extschema@.pipeline_status AS
SELECT p.name,
       current_database()::name AS database,
       p.server,
       p.publication,
       p.slot_name,
       -- paused once no worker works on it any more: until the worker has
       -- seen pause_pipeline's commit it says what the worker is doing
       CASE WHEN r.slot_name IS NULL THEN CASE WHEN p.paused THEN 'paused' ELSE 'stopped' END
            WHEN p.paused AND (w.worker_pid IS NULL OR w.state = 'paused') THEN 'paused'
            ELSE coalesce(w.state, 'stopped') END AS state,
       w.worker_pid,
       r.confirmed_flush_lsn AS confirmed_lsn,
       CASE WHEN r.confirmed_flush_lsn IS NOT NULL
            THEN greatest(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.confirmed_flush_lsn), 0)::bigint
       END AS lag_bytes,
       coalesce(w.events_sent, 0) AS events_sent,
       w.last_event_at,
       CASE WHEN r.slot_name IS NULL
            THEN pg_catalog.format('replication slot %s does not exist (a restored pipeline?): '
                                   'SELECT kafka.restore_pipeline(%L) makes it and resumes the pipeline',
                                   p.slot_name, p.name)
            ELSE w.last_error END AS last_error,
       w.last_error_at,
       x.exactly_once,
       CASE WHEN x.exactly_once
            THEN 'kafka_fdw-' OPERATOR(pg_catalog.||) (SELECT s.system_identifier FROM pg_catalog.pg_control_system() s)::text
                 OPERATOR(pg_catalog.||) '-' OPERATOR(pg_catalog.||) p.slot_name
       END AS transactional_id,
       CASE WHEN x.exactly_once
            THEN coalesce(p.options OPERATOR(pg_catalog.->>) 'progress_topic',
                          '__kafka_fdw_progress.' OPERATOR(pg_catalog.||) p.slot_name)
       END AS progress_topic,
       CASE WHEN x.exactly_once THEN k.kafka_committed_lsn END AS kafka_committed_lsn,
       CASE WHEN x.exactly_once THEN coalesce(k.kafka_transactions, 0) END AS kafka_transactions,
       CASE WHEN x.exactly_once THEN coalesce(k.kafka_aborted, 0) END AS kafka_aborted
  FROM @extschema@.pipelines p
  CROSS JOIN LATERAL (SELECT coalesce((p.options OPERATOR(pg_catalog.->>) 'exactly_once')::boolean, true)
                             AS exactly_once) x
  LEFT JOIN @extschema@._pipeline_workers() w ON w.slot_name = p.slot_name
  LEFT JOIN @extschema@._pipeline_kafka() k ON k.slot_name = p.slot_name
  LEFT JOIN pg_catalog.pg_replication_slots r ON r.slot_name = p.slot_name AND r.database = current_database();

-- Changes a pipeline's options (merged into its options; a member whose
-- value is null is removed); its worker starts again with them.  Who may:
-- as for pause_pipeline.
CREATE FUNCTION @extschema@.alter_pipeline(name text, options jsonb)
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_alter_pipeline' LANGUAGE C STRICT VOLATILE;

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
-- Row security without a policy: no row for roles that read every table
-- (pg_read_all_data); the extension's C code reads it without SQL.  The
-- secret also signs exactly-once pipelines' progress records.
ALTER TABLE @extschema@.outbox_secret ENABLE ROW LEVEL SECURITY;
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

-- Only these grants: default privileges of the installing role must not
-- open the new tables, views or functions to more (see the 0.1.0--0.2.0
-- script); the functions meant for everyone keep PUBLIC's EXECUTE.
DO $acl$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT DISTINCT c.oid::pg_catalog.regclass AS rel, a.grantee
             FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
            WHERE c.oid OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@.outbox_secret'::pg_catalog.regclass,
                                                          '@extschema@.outbox_grants'::pg_catalog.regclass,
                                                          '@extschema@.outbox_status'::pg_catalog.regclass])
              AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', r.rel,
                              CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                   ELSE r.grantee::pg_catalog.regrole::pg_catalog.text END);
  END LOOP;
  FOR r IN SELECT DISTINCT p.oid::pg_catalog.regprocedure AS obj, a.grantee
             FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
            WHERE p.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
                    '@extschema@._pipeline_kafka()'::pg_catalog.regprocedure,
                    '@extschema@.alter_pipeline(text, jsonb)'::pg_catalog.regprocedure,
                    '@extschema@.produce_on_commit(text, text, text, text, jsonb)'::pg_catalog.regprocedure,
                    '@extschema@.produce_on_commit(text, text, bytea, bytea, jsonb)'::pg_catalog.regprocedure,
                    '@extschema@.produce_on_commit(text, text, jsonb, text, jsonb)'::pg_catalog.regprocedure,
                    '@extschema@.grant_produce_on_commit(text, regrole)'::pg_catalog.regprocedure,
                    '@extschema@.revoke_produce_on_commit(text, regrole)'::pg_catalog.regprocedure,
                    '@extschema@._outbox_counts()'::pg_catalog.regprocedure])
              AND a.grantee OPERATOR(pg_catalog.<>) p.proowner AND a.grantee OPERATOR(pg_catalog.<>) 0
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.obj,
                              r.grantee::pg_catalog.regrole::pg_catalog.text);
  END LOOP;
END $acl$;
GRANT SELECT ON @extschema@.outbox_grants TO PUBLIC;
GRANT SELECT ON @extschema@.outbox_status TO PUBLIC;
