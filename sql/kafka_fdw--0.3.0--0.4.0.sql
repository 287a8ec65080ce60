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
