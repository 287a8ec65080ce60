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
