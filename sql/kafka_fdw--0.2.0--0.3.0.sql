-- kafka_fdw 0.2.0 -> 0.3.0: operations (issue "Operations"): what pg_dump
-- keeps, the monitoring view.  Also part of every fresh install (CREATE
-- EXTENSION runs kafka_fdw--0.1.0.sql, then each upgrade script in order).
\echo Use "ALTER EXTENSION kafka_fdw UPDATE" to load this file. \quit

-- Backups (pg_dump) ---------------------------------------------------------------
-- pg_dump keeps the positions (kafka.group_offsets) and the groups' owners
-- (kafka.groups) since 0.1.0/0.2.0; from 0.3.0 on also the pipelines and
-- the sinks.  None of these tables has rows of the extension's own (nothing
-- to filter out).  Their rows name roles and relations by regrole/regclass
-- (dumped as names, found again by name on restore), servers and
-- publications by name.  What does not come with a dump is a pipeline's
-- replication slot: a restored pipeline is paused until
-- kafka.restore_pipeline makes its slot (docs/operations.md, "Backup and
-- restore").  A restore loads these tables as a superuser (COPY: every
-- column; a plain role has neither the column privileges nor a way past
-- the checks below).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pipelines', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sinks', '');

-- A pipeline's slot is kafka_fdw_<database oid>_<name>: a row from a dump
-- of another database names that database's slot (in the same cluster, a
-- slot of another database's pipeline, which drop_pipeline here would have
-- dropped).  Every new row names this database's slot; one whose slot does
-- not exist (a restore: slots are not dumped) is paused, and
-- kafka.pipeline_status says why and what to run.
CREATE FUNCTION @extschema@._pipelines_check() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  NEW.slot_name := format('kafka_fdw_%s_%s', (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()),
                          NEW.name);
  IF NOT EXISTS (SELECT 1 FROM pg_replication_slots r
                  WHERE r.slot_name = NEW.slot_name AND r.database = current_database()) THEN
    NEW.paused := true;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER pipelines_check BEFORE INSERT ON @extschema@.pipelines
  FOR EACH ROW EXECUTE FUNCTION @extschema@._pipelines_check();

-- Makes a restored pipeline's replication slot (with an initial snapshot
-- when SNAPSHOT) and resumes it.
CREATE FUNCTION @extschema@.restore_pipeline(name text, snapshot boolean DEFAULT false)
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_restore_pipeline' LANGUAGE C STRICT VOLATILE;

-- A new row of kafka.sinks is its creator's, checked and reset (0.2.0).
-- One more case: a superuser's INSERT of a row created before the inserting
-- transaction began (created_at given, in the past) is a copy of a sink
-- that existed elsewhere -- a restore, which loads kafka.sinks as a
-- superuser before the targets' rows, keys, indexes and triggers.  It is
-- kept as it was (owner, counters, last error) and paused: its sink
-- resumes from the restored positions of its group once the restore is
-- complete (kafka.resume_sink).  Plain roles may insert neither created_at
-- nor another owner: their rows take the checks, as before.
CREATE OR REPLACE FUNCTION @extschema@._sinks_check() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.created_at < now() AND (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
    IF NOT EXISTS (SELECT 1 FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver
                     JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
                    WHERE ft.ftrelid = NEW.source AND w.fdwname = 'kafka_fdw') THEN
      RAISE EXCEPTION '% is not a kafka_fdw foreign table', NEW.source USING ERRCODE = 'wrong_object_type';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = NEW.target) NOT IN ('r', 'p') THEN
      RAISE EXCEPTION '% is not a table', NEW.target USING ERRCODE = 'wrong_object_type';
    END IF;
    NEW.paused := true;
    RETURN NEW;
  END IF;
  -- a new row is its creator's, with nothing applied yet
  IF NEW.owner IS DISTINCT FROM current_user::regrole THEN
    RAISE EXCEPTION 'a sink belongs to the role that creates it' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM @extschema@._sink_validate(NEW.name, NEW.source, NEW.target, NEW.mode, NEW.format, NEW.batch_size);
  NEW.paused := false;
  NEW.created_at := now();
  NEW.rows_applied := 0;
  NEW.last_applied_at := NULL;
  NEW.last_error := NULL;
  NEW.last_error_at := NULL;
  RETURN NEW;
END $$;

-- The slot of this database's pipeline (not a slot of the same name in
-- another database); a paused pipeline without its slot is 'paused', and
-- last_error names the command that makes the slot.
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
       w.last_error_at
  FROM @extschema@.pipelines p
  LEFT JOIN @extschema@._pipeline_workers() w ON w.slot_name = p.slot_name
  LEFT JOIN pg_catalog.pg_replication_slots r ON r.slot_name = p.slot_name AND r.database = current_database();

-- Monitoring ----------------------------------------------------------------------
-- kafka.lag: one row per pipeline, per sink and per consumer group with
-- stored positions, in one shape, for scrapers and alerts (docs/operations.md
-- "Monitoring").  Rows are visible to everyone, as in pipeline_status,
-- sink_status and groups; last_error only to the owner's members (and
-- superusers); a group's numbers (lag_messages, seconds_since_progress) and
-- a sink's lag_messages only to those who may read the group's positions:
-- its owner's members, superusers and members of pg_read_all_stats.

-- From the workers' shared memory: events (pipelines) or rows (sinks) per
-- second over the last minute, and when a pipeline's slot last advanced.
CREATE FUNCTION @extschema@._lag_stats(OUT kind text, OUT name text, OUT progress_at timestamptz,
                                       OUT events_per_second double precision)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'kafka_lag_stats' LANGUAGE C STRICT VOLATILE;

-- The messages behind of each (server, group) pair, asked of the brokers
-- (at most kafka_fdw.timeout per unreachable server); an error of one
-- server is its rows' lag_error, not the query's.
CREATE FUNCTION @extschema@._group_lags(servers text[], groups text[], OUT server text, OUT group_name text,
                                        OUT lag_messages bigint, OUT lag_error text)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'kafka_group_lags' LANGUAGE C STRICT VOLATILE;

CREATE VIEW @extschema@.lag AS
WITH stats AS MATERIALIZED (
  SELECT st.kind, st.name, st.progress_at, st.events_per_second FROM @extschema@._lag_stats() st
), sink_groups AS MATERIALIZED (
  SELECT s.name, srv.srvname::pg_catalog.text AS server,
         (SELECT pg_catalog.substr(o.o, 7) FROM pg_catalog.unnest(ft.ftoptions) o(o)
           WHERE pg_catalog.left(o.o, 6) OPERATOR(pg_catalog.=) 'group=') AS group_name
    FROM @extschema@.sinks s
    JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid OPERATOR(pg_catalog.=) s.source::pg_catalog.oid
    JOIN pg_catalog.pg_foreign_server srv ON srv.oid OPERATOR(pg_catalog.=) ft.ftserver
), used_groups AS MATERIALIZED (
  SELECT o.server::pg_catalog.text AS server, o.group_name, pg_catalog.max(o.updated_at) AS updated_at
    FROM @extschema@.group_offsets o GROUP BY o.server, o.group_name
), lags AS MATERIALIZED (
  SELECT l.server, l.group_name, l.lag_messages, l.lag_error
    FROM (SELECT pg_catalog.array_agg(p.server) AS servers, pg_catalog.array_agg(p.group_name) AS groups
            FROM (SELECT u.server, u.group_name FROM used_groups u
                  UNION
                  SELECT g.server, g.group_name FROM sink_groups g WHERE g.group_name IS NOT NULL) p) a,
         LATERAL @extschema@._group_lags(COALESCE(a.servers, '{}'), COALESCE(a.groups, '{}')) l
)
SELECT 'pipeline'::pg_catalog.text AS kind,
       ps.name,
       ps.server,
       p.owner,
       ps.state,
       ps.lag_bytes,
       NULL::pg_catalog.int8 AS lag_messages,
       pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) st.progress_at) AS seconds_since_progress,
       COALESCE(st.events_per_second, 0) AS events_per_second,
       ps.last_error,
       NULL::pg_catalog.text AS lag_error
  FROM @extschema@.pipeline_status ps
  JOIN @extschema@.pipelines p ON p.name OPERATOR(pg_catalog.=) ps.name
  LEFT JOIN stats st ON st.kind OPERATOR(pg_catalog.=) 'pipeline' AND st.name OPERATOR(pg_catalog.=) ps.slot_name::pg_catalog.text
UNION ALL
SELECT 'sink', ss.name, g.server, ss.owner, ss.state,
       NULL,
       l.lag_messages,
       pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) COALESCE(ss.last_applied_at, s.created_at)),
       COALESCE(st.events_per_second, 0),
       ss.last_error,
       l.lag_error
  FROM @extschema@.sink_status ss
  JOIN @extschema@.sinks s ON s.name OPERATOR(pg_catalog.=) ss.name
  LEFT JOIN sink_groups g ON g.name OPERATOR(pg_catalog.=) ss.name
  LEFT JOIN lags l ON l.server OPERATOR(pg_catalog.=) g.server AND l.group_name OPERATOR(pg_catalog.=) g.group_name
  LEFT JOIN stats st ON st.kind OPERATOR(pg_catalog.=) 'sink' AND st.name OPERATOR(pg_catalog.=) ss.name
UNION ALL
SELECT 'group', u.group_name, u.server, gr.owner, NULL,
       NULL,
       l.lag_messages,
       CASE WHEN gr.owner IS NULL OR pg_catalog.pg_has_role(gr.owner, 'USAGE')
                 OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')
            THEN pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) u.updated_at) END,
       NULL,
       NULL,
       l.lag_error
  FROM used_groups u
  LEFT JOIN @extschema@.groups gr ON gr.server::pg_catalog.text OPERATOR(pg_catalog.=) u.server
                                 AND gr.group_name OPERATOR(pg_catalog.=) u.group_name
  LEFT JOIN lags l ON l.server OPERATOR(pg_catalog.=) u.server AND l.group_name OPERATOR(pg_catalog.=) u.group_name;

-- The initial snapshots under way (docs/pipelines.md, "Initial snapshot"):
-- per pipeline of this database, from its worker's shared memory (counts
-- and table names only).  rows_sent: rows read and handed to the producer;
-- rows_estimate: pg_class.reltuples of the published tables (NULL when one
-- was never analyzed); eta: from the rate so far.
CREATE FUNCTION @extschema@._snapshot_progress(OUT slot_name text, OUT current_table text, OUT tables_done int,
                                               OUT tables_total int, OUT rows_sent bigint, OUT rows_estimate bigint,
                                               OUT started_at timestamptz)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'kafka_snapshot_progress' LANGUAGE C STRICT VOLATILE;

CREATE VIEW @extschema@.snapshot_progress AS
SELECT p.name AS pipeline, s.current_table, s.tables_done, s.tables_total, s.rows_sent, s.rows_estimate,
       s.started_at,
       pg_catalog.round((s.rows_sent::pg_catalog.float8 OPERATOR(pg_catalog./)
         GREATEST(pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) s.started_at),
                             0.001::pg_catalog.float8))::pg_catalog.numeric) AS rows_per_second,
       CASE WHEN s.rows_estimate OPERATOR(pg_catalog.>) s.rows_sent AND s.rows_sent OPERATOR(pg_catalog.>) 0
            THEN (pg_catalog.now() OPERATOR(pg_catalog.-) s.started_at) OPERATOR(pg_catalog.*)
                 ((s.rows_estimate OPERATOR(pg_catalog.-) s.rows_sent)::pg_catalog.float8 OPERATOR(pg_catalog./)
                  s.rows_sent::pg_catalog.float8) END AS eta
  FROM @extschema@._snapshot_progress() s
  JOIN @extschema@.pipelines p ON p.slot_name::pg_catalog.text OPERATOR(pg_catalog.=) s.slot_name;

-- INSERTs and COPYs into topic tables under way in this database (a row per
-- backend, for roles with the privileges of its user and members of
-- pg_read_all_stats, as pg_stat_progress_copy): messages handed to the
-- producer and acknowledged by Kafka so far.  Only when kafka_fdw is
-- preloaded (shared memory), otherwise empty.
CREATE FUNCTION @extschema@._produce_progress(OUT pid int, OUT relid oid, OUT started_at timestamptz,
                                              OUT messages_queued bigint, OUT messages_acknowledged bigint)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'kafka_produce_progress' LANGUAGE C STRICT VOLATILE;

CREATE VIEW @extschema@.produce_progress AS
SELECT s.pid, s.relid::pg_catalog.regclass AS "table", s.started_at, s.messages_queued, s.messages_acknowledged,
       pg_catalog.round((s.messages_acknowledged::pg_catalog.float8 OPERATOR(pg_catalog./)
         GREATEST(pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) s.started_at),
                  0.001::pg_catalog.float8))::pg_catalog.numeric) AS messages_per_second
  FROM @extschema@._produce_progress() s;

-- Only these grants: default privileges of the installing role must not
-- open the views (or the functions) to more (see the 0.1.0--0.2.0 script).
DO $acl$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT DISTINCT c.oid::pg_catalog.regclass AS rel, a.grantee
             FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
            WHERE c.oid OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@.lag'::pg_catalog.regclass,
                                                          '@extschema@.snapshot_progress'::pg_catalog.regclass,
                                                          '@extschema@.produce_progress'::pg_catalog.regclass])
              AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', r.rel,
                              CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                   ELSE r.grantee::pg_catalog.regrole::pg_catalog.text END);
  END LOOP;
  FOR r IN SELECT DISTINCT p.oid::pg_catalog.regprocedure AS obj, a.grantee
             FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
            WHERE p.oid OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@._lag_stats()'::pg_catalog.regprocedure,
                                                          '@extschema@._group_lags(text[], text[])'::pg_catalog.regprocedure,
                                                          '@extschema@._snapshot_progress()'::pg_catalog.regprocedure,
                                                          '@extschema@._produce_progress()'::pg_catalog.regprocedure])
              AND a.grantee OPERATOR(pg_catalog.<>) p.proowner AND a.grantee OPERATOR(pg_catalog.<>) 0
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.obj,
                              r.grantee::pg_catalog.regrole::pg_catalog.text);
  END LOOP;
END $acl$;
GRANT SELECT ON @extschema@.lag TO PUBLIC;
GRANT SELECT ON @extschema@.snapshot_progress TO PUBLIC;
GRANT SELECT ON @extschema@.produce_progress TO PUBLIC;
