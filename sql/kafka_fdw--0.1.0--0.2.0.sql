-- kafka_fdw 0.1.0 -> 0.2.0: the security release.  Also the second half of
-- every fresh install (CREATE EXTENSION runs kafka_fdw--0.1.0.sql, then this).
\echo Use "ALTER EXTENSION kafka_fdw UPDATE" to load this file. \quit

-- The schema ------------------------------------------------------------------
-- A schema "kafka" that existed before CREATE EXTENSION is adopted by it: its
-- owner, or any role that may create objects in it, could plant objects the
-- extension's code would find.  Refuse one that a role other than a
-- superuser or the installing role owns or may create in.
DO $guard$
DECLARE
  owner_name name;
  creator name;
  stranger text;
  adopted boolean;
BEGIN
  -- A schema CREATE EXTENSION made itself is the extension's (its
  -- privileges are reset at the end of this script); one it adopted must be
  -- owned by, and open to, superusers and the installer only.
  -- (made in this transaction: its row's xmin is this transaction)
  adopted := (SELECT pg_catalog.age(n.xmin) OPERATOR(pg_catalog.<>) 0 FROM pg_catalog.pg_namespace n
               WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace);
  SELECT r.rolname INTO owner_name
    FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
   WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
     AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER;
  IF adopted AND owner_name IS NOT NULL THEN
    RAISE EXCEPTION 'schema @extschema@ is owned by role "%"', owner_name
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'kafka_fdw''s functions run its own SQL in this schema with elevated rights; a schema that another role owns could hold objects planted by it.',
            HINT = 'Drop or rename the schema, or make a superuser its owner, then create the extension again.';
  END IF;
  SELECT COALESCE(r.rolname, 'PUBLIC') INTO creator
    FROM pg_catalog.pg_namespace n,
         LATERAL pg_catalog.aclexplode(n.nspacl) a
         LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
   WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
     AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
     AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
     AND NOT COALESCE(r.rolsuper, false)
   LIMIT 1;
  IF adopted AND creator IS NOT NULL THEN
    RAISE EXCEPTION 'role "%" may create objects in schema @extschema@', creator
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'REVOKE CREATE ON SCHEMA @extschema@ from every role that is not a superuser.';
  END IF;
  -- Objects already in the schema that are not the extension's (nor parts of
  -- them, like a table's row type or index) could shadow its operators and
  -- functions: the schema must hold nothing else.
  SELECT pg_catalog.pg_describe_object(o.cls, o.oid, 0) INTO stranger
    FROM (SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS cls, c.oid FROM pg_catalog.pg_class c
           WHERE c.relnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid FROM pg_catalog.pg_proc p
           WHERE p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid FROM pg_catalog.pg_type t
           WHERE t.typnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, op.oid FROM pg_catalog.pg_operator op
           WHERE op.oprnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, co.oid FROM pg_catalog.pg_collation co
           WHERE co.collnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, cv.oid FROM pg_catalog.pg_conversion cv
           WHERE cv.connamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, oc.oid FROM pg_catalog.pg_opclass oc
           WHERE oc.opcnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, f.oid FROM pg_catalog.pg_opfamily f
           WHERE f.opfnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_ts_config x
           WHERE x.cfgnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_ts_dict x
           WHERE x.dictnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
          UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, x.oid FROM pg_catalog.pg_statistic_ext x
           WHERE x.stxnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace) o
   WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid OPERATOR(pg_catalog.=) o.cls AND d.objid OPERATOR(pg_catalog.=) o.oid
                        AND d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['e', 'i', 'a']::pg_catalog."char"[]))
   LIMIT 1;
  IF stranger IS NOT NULL THEN
    RAISE EXCEPTION 'schema @extschema@ holds objects that are not kafka_fdw''s, such as %', stranger
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'They could take the place of the extension''s own operators and functions.',
            HINT = 'Drop or move them, or use an empty schema @extschema@, then create the extension again.';
  END IF;
END $guard$;

-- The older kafka_fdw's kafka_get_watermarks(regclass), callable as its users
-- call it, without a schema: a copy in schema public where there is one.
DO $pub$
BEGIN
  IF pg_catalog.to_regnamespace('public') IS NOT NULL THEN
    CREATE FUNCTION public.kafka_get_watermarks(rel regclass, OUT partition int, OUT offset_low bigint,
                                                OUT offset_high bigint)
      RETURNS SETOF record
      AS 'MODULE_PATHNAME', 'kafka_get_watermarks' LANGUAGE C STRICT VOLATILE;
  END IF;
END $pub$;

-- Consumer groups ---------------------------------------------------------------
-- Groups have owners: the first role to use a group name on a server (a
-- group table's scan, set_group_offset, reset_group) owns it; only members
-- of that role and superusers read, move or reset its positions.
-- kafka.alter_group_owner hands a group over.  Groups that had positions
-- before this release belong to the extension's owner until handed over.
CREATE TABLE @extschema@.groups (
  server     name        NOT NULL,
  group_name text        NOT NULL,
  owner      regrole     NOT NULL,
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (server, group_name)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.groups', '');
REVOKE ALL ON @extschema@.groups FROM PUBLIC;
GRANT SELECT ON @extschema@.groups TO PUBLIC;
INSERT INTO @extschema@.groups (server, group_name, owner)
SELECT DISTINCT o.server, o.group_name, e.extowner::pg_catalog.regrole
  FROM @extschema@.group_offsets o, pg_catalog.pg_extension e
 WHERE e.extname OPERATOR(pg_catalog.=) 'kafka_fdw';

CREATE FUNCTION @extschema@.alter_group_owner(server text, group_name text, new_owner regrole)
  RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_alter_group_owner' LANGUAGE C STRICT VOLATILE;

-- Pipelines -----------------------------------------------------------------------

-- Sinks ---------------------------------------------------------------------------
-- A sink's batches run in a background worker connected as the sink's owner
-- (one worker per database and owner), under SECURITY_RESTRICTED_OPERATION
-- and kafka_fdw.sink_batch_timeout.  The owner must be able to log in.

CREATE FUNCTION @extschema@._claim_table_group(rel regclass) RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_claim_table_group' LANGUAGE C STRICT VOLATILE;

-- The checks of a new sink, as the role that creates it (create_sink, or a
-- direct INSERT into kafka.sinks: the trigger below runs them for both).
CREATE FUNCTION @extschema@._sink_validate(name text, source regclass, target regclass, sink_mode text,
                                           sink_format text, batch int)
  RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  server_name text;
  needed text;
  missing text;
BEGIN
  IF name IS NULL OR source IS NULL OR target IS NULL THEN
    RAISE EXCEPTION 'sink name, source and target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF name !~ '^[a-z0-9_]{1,63}$' THEN
    RAISE EXCEPTION 'invalid sink name "%"', name USING ERRCODE = 'invalid_parameter_value',
      HINT = 'Sink names are 1-63 characters a-z, 0-9, _.';
  END IF;
  IF sink_format NOT IN ('row', 'debezium') THEN
    RAISE EXCEPTION 'sink option "format" must be "row" or "debezium"' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF sink_mode NOT IN ('insert', 'upsert') THEN
    RAISE EXCEPTION 'sink option "mode" must be "insert" or "upsert"' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF sink_format = 'debezium' AND sink_mode <> 'upsert' THEN
    RAISE EXCEPTION 'sink format "debezium" applies events as upserts and deletes: mode must be "upsert"'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF batch IS NULL OR batch <= 0 THEN
    RAISE EXCEPTION 'sink option "batch_size" must be a positive integer' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'role "%" cannot own a sink: it cannot log in', current_user
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'A sink''s batches run in a background worker connected as its owner: create the sink as a role with LOGIN.';
  END IF;
  SELECT s.srvname INTO server_name
    FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver
    JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
   WHERE ft.ftrelid = source AND w.fdwname = 'kafka_fdw';
  IF server_name IS NULL THEN
    RAISE EXCEPTION '% is not a kafka_fdw foreign table', source USING ERRCODE = 'wrong_object_type';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_foreign_table ft, unnest(ft.ftoptions) o
                  WHERE ft.ftrelid = source AND o LIKE 'group=%') THEN
    RAISE EXCEPTION 'foreign table % has no consumer group', source USING ERRCODE = 'invalid_parameter_value',
      HINT = 'A sink reads through a consumer group (table option "group"), whose positions move with the applied rows.';
  END IF;
  IF (SELECT relkind FROM pg_class WHERE oid = target) NOT IN ('r', 'p') THEN
    RAISE EXCEPTION '% is not a table', target USING ERRCODE = 'wrong_object_type';
  END IF;
  -- what the sink's statements do to the target: INSERT; upserts also read
  -- it (ON CONFLICT, DELETE ... USING), update and delete rows
  needed := CASE WHEN sink_mode = 'upsert' THEN 'INSERT, UPDATE, DELETE and SELECT' ELSE 'INSERT' END;
  SELECT string_agg(p, ', ') INTO missing
    FROM unnest(CASE WHEN sink_mode = 'upsert' THEN ARRAY['INSERT', 'UPDATE', 'DELETE', 'SELECT'] ELSE ARRAY['INSERT'] END) p
   WHERE NOT has_table_privilege(target, p);
  IF NOT has_table_privilege(source, 'SELECT') OR missing IS NOT NULL THEN
    RAISE EXCEPTION 'permission denied to create sink "%"', name USING ERRCODE = 'insufficient_privilege',
      DETAIL = format('The sink''s owner needs SELECT on %s and %s on %s.', source, needed, target);
  END IF;
  -- the source's consumer group is the owner's (or becomes it)
  PERFORM @extschema@._claim_table_group(source);
  -- checks the columns
  IF sink_format = 'debezium' THEN
    PERFORM @extschema@._sink_statement_debezium(source, target, batch);
  ELSE
    PERFORM @extschema@._sink_statement_for(source, target, sink_mode, batch);
  END IF;
END $$;

CREATE FUNCTION @extschema@._sinks_check() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
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
CREATE TRIGGER sinks_check BEFORE INSERT ON @extschema@.sinks
  FOR EACH ROW EXECUTE FUNCTION @extschema@._sinks_check();

CREATE OR REPLACE FUNCTION @extschema@.create_sink(name text, source regclass, target regclass, options jsonb DEFAULT '{}')
  RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k text;
  sink_mode text;
  sink_format text;
  batch int;
BEGIN
  IF jsonb_typeof(coalesce(options, '{}')) <> 'object' THEN
    RAISE EXCEPTION 'sink options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR k IN SELECT jsonb_object_keys(coalesce(options, '{}')) LOOP
    IF k NOT IN ('mode', 'batch_size', 'format') THEN
      RAISE EXCEPTION 'unknown sink option "%"', k USING ERRCODE = 'invalid_parameter_value',
        HINT = 'Valid options: mode, batch_size, format.';
    END IF;
  END LOOP;
  sink_format := coalesce(options->>'format', 'row');
  -- Debezium events are applied as upserts and deletes
  sink_mode := coalesce(options->>'mode', CASE WHEN sink_format = 'debezium' THEN 'upsert' ELSE 'insert' END);
  BEGIN
    batch := coalesce((options->>'batch_size')::int, 10000);
  EXCEPTION WHEN others THEN
    batch := 0;
  END;
  -- the trigger on kafka.sinks checks the sink (_sink_validate)
  INSERT INTO @extschema@.sinks (name, source, target, mode, format, batch_size, owner)
  VALUES (create_sink.name, source, target, sink_mode, sink_format, batch, current_user::regrole);
  PERFORM @extschema@._sink_wake();
END $$;

-- Rows are readable by everyone but last_error, which can carry message
-- contents: its owner's members see it in kafka.sink_status.  New rows
-- only through the trigger's checks, and only the columns a sink is made of.
REVOKE ALL ON @extschema@.sinks FROM PUBLIC;
GRANT SELECT (name, source, target, mode, format, batch_size, owner, paused, created_at, rows_applied,
              last_applied_at, last_error_at) ON @extschema@.sinks TO PUBLIC;
GRANT INSERT (name, source, target, mode, format, batch_size, owner) ON @extschema@.sinks TO PUBLIC;
GRANT DELETE ON @extschema@.sinks TO PUBLIC;
GRANT UPDATE (paused) ON @extschema@.sinks TO PUBLIC;

-- one worker per database and owner
DROP VIEW @extschema@.sink_status;
DROP FUNCTION @extschema@._sink_worker_pid();
CREATE FUNCTION @extschema@._sink_worker_pid(owner regrole) RETURNS int
  AS 'MODULE_PATHNAME', 'kafka_sink_worker_pid' LANGUAGE C STRICT VOLATILE;

CREATE VIEW @extschema@.sink_status AS
SELECT s.name, s.source, s.target, s.mode,
       CASE WHEN s.paused THEN 'paused'
            WHEN @extschema@._sink_worker_pid(s.owner) IS NULL THEN 'stopped'
            WHEN s.last_error_at > coalesce(s.last_applied_at, '-infinity') THEN 'retrying'
            ELSE 'running' END AS state,
       CASE WHEN NOT s.paused THEN @extschema@._sink_worker_pid(s.owner) END AS worker_pid,
       s.rows_applied, s.last_applied_at,
       CASE WHEN pg_catalog.pg_has_role(s.owner, 'MEMBER') THEN s.last_error END AS last_error,
       s.last_error_at,
       s.owner
  FROM @extschema@.sinks s;
GRANT SELECT ON @extschema@.sink_status TO PUBLIC;

-- Privileges ------------------------------------------------------------------------
-- Only the grants this script makes: ALTER DEFAULT PRIVILEGES of the
-- installing role (or of the schema) must not open the extension's tables
-- (a TRIGGER grant on one of them ran a role's code as the extension's
-- owner), views (a simple view is updatable) or functions to anyone.
DO $acl$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT c.oid::pg_catalog.regclass AS obj, a.grantee
             FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
            WHERE c.relnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
              AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', r.obj,
                              CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                   ELSE r.grantee::pg_catalog.regrole::pg_catalog.text END);
  END LOOP;
  FOR r IN SELECT p.oid::pg_catalog.regprocedure AS obj, a.grantee
             FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
            WHERE p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
              AND a.grantee OPERATOR(pg_catalog.<>) p.proowner AND a.grantee OPERATOR(pg_catalog.<>) 0
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.obj,
                              r.grantee::pg_catalog.regrole::pg_catalog.text);
  END LOOP;
  -- CREATE on the schema, from a default privilege on schemas
  FOR r IN SELECT a.grantee FROM pg_catalog.pg_namespace n, LATERAL pg_catalog.aclexplode(n.nspacl) a
            WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
              AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
  LOOP
    EXECUTE pg_catalog.format('REVOKE CREATE ON SCHEMA @extschema@ FROM %s',
                              CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                   ELSE r.grantee::pg_catalog.regrole::pg_catalog.text END);
  END LOOP;
END $acl$;
-- What users may do with the extension's tables and views (through its
-- functions, row security and column privileges):
GRANT SELECT ON @extschema@.groups TO PUBLIC;
GRANT SELECT (name, source, target, mode, format, batch_size, owner, paused, created_at, rows_applied,
              last_applied_at, last_error_at) ON @extschema@.sinks TO PUBLIC;
GRANT INSERT (name, source, target, mode, format, batch_size, owner) ON @extschema@.sinks TO PUBLIC;
GRANT DELETE ON @extschema@.sinks TO PUBLIC;
GRANT UPDATE (paused) ON @extschema@.sinks TO PUBLIC;
GRANT SELECT ON @extschema@.sink_status TO PUBLIC;
GRANT SELECT ON @extschema@.pipelines TO PUBLIC;
GRANT SELECT ON @extschema@.pipeline_status TO PUBLIC;
-- (kafka.group_offsets: no one; positions are read and moved through group
-- tables and the functions, as the group's owner)
