-- kafka_fdw 0.2.0 -> 0.3.0: operations (issue "Operations"): what pg_dump
-- keeps, the monitoring view.  Also part of every fresh install (CREATE
-- EXTENSION runs kafka_fdw--0.1.0.sql, then each upgrade script in order).
\echo Use "ALTER EXTENSION kafka_fdw UPDATE" to load this file. \quit

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
-- Only these grants: default privileges of the installing role must not
-- open the view (or the functions) to more (see the 0.1.0--0.2.0 script).
DO $acl$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT DISTINCT a.grantee FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
            WHERE c.oid OPERATOR(pg_catalog.=) '@extschema@.lag'::pg_catalog.regclass
              AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON @extschema@.lag FROM %s',
                              CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                   ELSE r.grantee::pg_catalog.regrole::pg_catalog.text END);
  END LOOP;
  FOR r IN SELECT DISTINCT p.oid::pg_catalog.regprocedure AS obj, a.grantee
             FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
            WHERE p.oid OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@._lag_stats()'::pg_catalog.regprocedure,
                                                          '@extschema@._group_lags(text[], text[])'::pg_catalog.regprocedure])
              AND a.grantee OPERATOR(pg_catalog.<>) p.proowner AND a.grantee OPERATOR(pg_catalog.<>) 0
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.obj,
                              r.grantee::pg_catalog.regrole::pg_catalog.text);
  END LOOP;
END $acl$;
GRANT SELECT ON @extschema@.lag TO PUBLIC;
