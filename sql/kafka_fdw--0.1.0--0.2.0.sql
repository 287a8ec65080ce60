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
BEGIN
  SELECT r.rolname INTO owner_name
    FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
   WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
     AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) CURRENT_USER;
  IF owner_name IS NOT NULL THEN
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
  IF creator IS NOT NULL THEN
    RAISE EXCEPTION 'role "%" may create objects in schema @extschema@', creator
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'REVOKE CREATE ON SCHEMA @extschema@ from every role that is not a superuser.';
  END IF;
END $guard$;

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
