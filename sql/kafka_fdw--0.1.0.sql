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
       -- paused once no worker works on it any more: until the worker has
       -- seen pause_pipeline's commit it says what the worker is doing
       CASE WHEN r.slot_name IS NULL THEN 'stopped'
            WHEN p.paused AND (w.worker_pid IS NULL OR w.state = 'paused') THEN 'paused'
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

-- ---------------------------------------------------------------- sinks
-- A sink applies a topic into a table continuously: the database's sink
-- worker runs the sink's statement (INSERT INTO target SELECT ... FROM source
-- LIMIT batch_size, or its upsert form) again and again, as the sink's owner,
-- one transaction per batch.  The source is a kafka_fdw foreign table with a
-- consumer group, whose positions move in the same transaction as the rows:
-- every message is applied exactly once.  Rows are visible to everyone;
-- a role changes only its own sinks (row security), and only their paused
-- flag.

CREATE TABLE kafka.sinks (
  name            text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]{1,63}$'),
  source          regclass NOT NULL,
  target          regclass NOT NULL,
  mode            text NOT NULL DEFAULT 'insert' CHECK (mode IN ('insert', 'upsert')),
  format          text NOT NULL DEFAULT 'row' CHECK (format IN ('row', 'debezium')),
  batch_size      int NOT NULL DEFAULT 10000 CHECK (batch_size > 0),
  owner           regrole NOT NULL,
  paused          boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  rows_applied    bigint NOT NULL DEFAULT 0,
  last_applied_at timestamptz,
  last_error      text,
  last_error_at   timestamptz
);
ALTER TABLE kafka.sinks ENABLE ROW LEVEL SECURITY;
CREATE POLICY sinks_read ON kafka.sinks FOR SELECT USING (true);
CREATE POLICY sinks_create ON kafka.sinks FOR INSERT WITH CHECK (owner = current_user::regrole);
CREATE POLICY sinks_change ON kafka.sinks FOR UPDATE USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
CREATE POLICY sinks_drop ON kafka.sinks FOR DELETE USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
REVOKE ALL ON kafka.sinks FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON kafka.sinks TO PUBLIC;
GRANT UPDATE (paused) ON kafka.sinks TO PUBLIC;

CREATE FUNCTION kafka._sink_wake() RETURNS void
  AS 'MODULE_PATHNAME', 'kafka_sink_wake' LANGUAGE C VOLATILE;
CREATE FUNCTION kafka._sink_worker_pid() RETURNS int
  AS 'MODULE_PATHNAME', 'kafka_sink_worker_pid' LANGUAGE C VOLATILE;

-- The target's primary key columns (quoted, in key order), or NULL.
CREATE FUNCTION kafka._sink_primary_key(target regclass) RETURNS text[]
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT array_agg(quote_ident(a.attname) ORDER BY array_position(i.indkey::int2[], a.attnum))
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
   WHERE i.indrelid = target AND i.indisprimary
$$;

-- The source's column with column option <option> 'true' (quoted), or NULL.
CREATE FUNCTION kafka._sink_option_column(source regclass, option text) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT quote_ident(attname) FROM pg_attribute
   WHERE attrelid = source AND attnum > 0 AND NOT attisdropped AND option || '=true' = ANY (attfdwoptions)
   LIMIT 1
$$;

-- The statement of one batch (identifiers quoted by format/quote_ident).
CREATE FUNCTION kafka._sink_statement_for(source regclass, target regclass, mode text, batch_size int)
  RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  cols text[];
  pk text[];
  part text;
  off text;
  upd text;
  keycol text;
  valcol text;
  pkx text;
  pkn text;
  pkj text;
BEGIN
  SELECT array_agg(quote_ident(t.attname) ORDER BY t.attnum) INTO cols
    FROM pg_attribute t
    JOIN pg_attribute s ON s.attrelid = source AND s.attname = t.attname AND s.attnum > 0 AND NOT s.attisdropped
   WHERE t.attrelid = target AND t.attnum > 0 AND NOT t.attisdropped AND t.attgenerated = '';
  IF cols IS NULL THEN
    RAISE EXCEPTION 'sink source % and target % have no column name in common', source, target
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The sink fills the target''s columns from the source''s columns of the same name.';
  END IF;
  IF mode = 'insert' THEN
    RETURN format('INSERT INTO %s (%s) SELECT %s FROM %s LIMIT %s', target, array_to_string(cols, ', '),
                  array_to_string(cols, ', '), source, batch_size);
  END IF;
  pk := kafka._sink_primary_key(target);
  IF pk IS NULL THEN
    RAISE EXCEPTION 'sink mode "upsert" needs a primary key on %', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT pk <@ cols THEN
    RAISE EXCEPTION 'sink mode "upsert": the source % lacks primary key columns of %', source, target
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  part := kafka._sink_option_column(source, 'partition');
  off := kafka._sink_option_column(source, 'offset');
  IF part IS NULL OR off IS NULL THEN
    RAISE EXCEPTION 'sink mode "upsert" needs the partition and offset of each message'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Give %s columns with the options partition ''true'' and offset ''true'': the last message of a key wins.', source);
  END IF;
  SELECT string_agg(format('%1$s = EXCLUDED.%1$s', c), ', ') INTO upd FROM unnest(cols) c WHERE c <> ALL (pk);
  keycol := kafka._sink_option_column(source, 'key');
  valcol := kafka._sink_option_column(source, 'value');
  IF keycol IS NULL OR valcol IS NULL THEN
    -- no way to tell tombstones: upsert only, rows without a key skipped
    RETURN format('INSERT INTO %s AS t (%s) SELECT DISTINCT ON (%s) %s FROM (SELECT %s, %s AS "__kafka_p", %s AS "__kafka_o" '
                  'FROM %s LIMIT %s) s WHERE (%s) IS NOT NULL ORDER BY %s, "__kafka_p", "__kafka_o" DESC ON CONFLICT (%s) DO %s',
                  target, array_to_string(cols, ', '), array_to_string(pk, ', '), array_to_string(cols, ', '),
                  array_to_string(cols, ', '), part, off, source, batch_size, array_to_string(pk, ', '),
                  array_to_string(pk, ', '), array_to_string(pk, ', '),
                  CASE WHEN upd IS NULL THEN 'NOTHING' ELSE 'UPDATE SET ' || upd END);
  END IF;
  -- With the message's key and whole value: a tombstone (NULL value) deletes
  -- the row whose primary key its key (a JSON object) names.  Per key, the
  -- last message of the batch decides.
  SELECT string_agg(format('CASE WHEN "__kafka_del" THEN ("__kafka_k").%1$s ELSE %1$s END AS "__kafka_pk%2$s"', c, i), ', '),
         string_agg(format('"__kafka_pk%s"', i), ', '),
         string_agg(format('t.%1$s = l."__kafka_pk%2$s"', c, i), ' AND ')
    INTO pkx, pkn, pkj FROM unnest(pk) WITH ORDINALITY u(c, i);
  RETURN format('WITH b AS MATERIALIZED (SELECT %s, %s AS "__kafka_p", %s AS "__kafka_o", %s IS NULL AS "__kafka_del", '
                'CASE WHEN %s IS NULL THEN jsonb_populate_record(NULL::%s, (%s)::jsonb) END AS "__kafka_k" FROM %s LIMIT %s), '
                'l AS (SELECT DISTINCT ON (%s) * FROM (SELECT *, %s FROM b) x WHERE (%s) IS NOT NULL '
                'ORDER BY %s, "__kafka_p", "__kafka_o" DESC), '
                'd AS (DELETE FROM %s t USING l WHERE l."__kafka_del" AND %s RETURNING 1), '
                'i AS (INSERT INTO %s AS t (%s) SELECT %s FROM l WHERE NOT l."__kafka_del" ON CONFLICT (%s) DO %s RETURNING 1) '
                'SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM i)',
                array_to_string(cols, ', '), part, off, valcol, valcol, target, keycol, source, batch_size,
                pkn, pkx, pkn, pkn,
                target, pkj,
                target, array_to_string(cols, ', '), array_to_string(cols, ', '), array_to_string(pk, ', '),
                CASE WHEN upd IS NULL THEN 'NOTHING' ELSE 'UPDATE SET ' || upd END);
END $$;

-- numeric from Debezium's decimal encoding: base64 of the unscaled two's
-- complement big-endian integer, and the scale.
CREATE FUNCTION kafka._dbz_decimal(b64 text, scale int) RETURNS numeric
  LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  b bytea := decode(b64, 'base64');
  n numeric := 0;
BEGIN
  IF b64 IS NULL THEN RETURN NULL; END IF;
  FOR i IN 0 .. length(b) - 1 LOOP
    n := n * 256 + get_byte(b, i);
  END LOOP;
  IF length(b) > 0 AND get_byte(b, 0) >= 128 THEN
    n := n - 256::numeric ^ length(b);
  END IF;
  RETURN round(n / 10::numeric ^ scale, scale);
END $$;

-- The expression that reads column c of type typ (typmod tm) from the JSON
-- row r, undoing Debezium's encodings (see "Debezium format").
CREATE FUNCTION kafka._dbz_column(c name, typ oid, tm int, r text) RETURNS text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  base oid := typ;
  btm int := tm;
  v text := format('(%s->>%L)', r, c);
  j text := format('(%s->%L)', r, c);
  t text;
BEGIN
  SELECT CASE WHEN typtype = 'd' THEN typbasetype ELSE oid END, CASE WHEN typtype = 'd' THEN typtypmod ELSE tm END
    INTO base, btm FROM pg_type WHERE oid = typ;
  t := format_type(typ, tm);
  RETURN CASE base
    WHEN 'date'::regtype THEN format('(date ''1970-01-01'' + %s::int)::%s', v, t)
    WHEN 'time'::regtype THEN format('(time ''00:00'' + %s::bigint * interval ''1 %s'')::%s', v,
                                     CASE WHEN btm BETWEEN 0 AND 3 THEN 'millisecond' ELSE 'microsecond' END, t)
    WHEN 'timestamp'::regtype THEN format('(timestamp ''1970-01-01'' + %s::bigint * interval ''1 %s'')::%s', v,
                                     CASE WHEN btm BETWEEN 0 AND 3 THEN 'millisecond' ELSE 'microsecond' END, t)
    WHEN 'interval'::regtype THEN format('(%s::bigint * interval ''1 microsecond'')::%s', v, t)
    WHEN 'bytea'::regtype THEN format('decode(%s, ''base64'')::%s', v, t)
    WHEN 'numeric'::regtype THEN
      CASE WHEN btm >= 4 THEN format('kafka._dbz_decimal(%s, %s)::%s', v, (btm - 4) & 65535, t)
           ELSE format('kafka._dbz_decimal(%s->>''value'', (%s->>''scale'')::int)::%s', j, j, t) END
    WHEN 'money'::regtype THEN format('%s::%s', v, t)
    ELSE CASE WHEN EXISTS (SELECT 1 FROM pg_type WHERE oid = base AND typcategory = 'A')
              THEN format('(CASE WHEN jsonb_typeof(%1$s) = ''array'' THEN coalesce((SELECT array_agg(e) '
                          'FROM jsonb_array_elements_text(%1$s) e), ''{}'') END)::%2$s', j, t)
              ELSE format('%s::%s', v, t) END
  END;
END $$;

-- Debezium envelopes (payload alone, or {"schema", "payload"}): creates,
-- updates and snapshot reads upsert `after`, deletes delete `before`'s key;
-- per key the last event of the batch decides; tombstones and truncates are
-- skipped.  Needs the whole value (value 'true'), partition and offset.
CREATE FUNCTION kafka._sink_statement_debezium(source regclass, target regclass, batch_size int)
  RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  cols text[];
  exprs text[];
  pk text[];
  part text;
  off text;
  valcol text;
  upd text;
  pkj text;
BEGIN
  SELECT array_agg(quote_ident(attname) ORDER BY attnum),
         array_agg(kafka._dbz_column(attname, atttypid, atttypmod, '"__kafka_row"') || ' AS ' || quote_ident(attname)
                   ORDER BY attnum)
    INTO cols, exprs
    FROM pg_attribute WHERE attrelid = target AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
  pk := kafka._sink_primary_key(target);
  IF pk IS NULL THEN
    RAISE EXCEPTION 'sink format "debezium" needs a primary key on %', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  part := kafka._sink_option_column(source, 'partition');
  off := kafka._sink_option_column(source, 'offset');
  valcol := kafka._sink_option_column(source, 'value');
  IF part IS NULL OR off IS NULL OR valcol IS NULL THEN
    RAISE EXCEPTION 'sink format "debezium" needs the partition, offset and whole value of each message'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Give %s columns with the options partition ''true'', offset ''true'' and value ''true'' (jsonb).', source);
  END IF;
  SELECT string_agg(format('%1$s = EXCLUDED.%1$s', c), ', ') INTO upd FROM unnest(cols) c WHERE c <> ALL (pk);
  SELECT string_agg(format('t.%1$s = l.%1$s', c), ' AND ') INTO pkj FROM unnest(pk) c;
  RETURN format('WITH b AS MATERIALIZED (SELECT %s AS "__kafka_p", %s AS "__kafka_o", '
                'coalesce(%s::jsonb->''payload'', %s::jsonb) AS "__kafka_env" FROM %s LIMIT %s), '
                'e AS (SELECT "__kafka_p", "__kafka_o", "__kafka_env"->>''op'' AS "__kafka_op", '
                'CASE WHEN "__kafka_env"->>''op'' = ''d'' THEN "__kafka_env"->''before'' ELSE "__kafka_env"->''after'' END '
                'AS "__kafka_row" FROM b WHERE "__kafka_env"->>''op'' IN (''c'', ''u'', ''r'', ''d'')), '
                'r AS (SELECT "__kafka_p", "__kafka_o", "__kafka_op", %s FROM e), '
                'l AS (SELECT DISTINCT ON (%s) * FROM r WHERE (%s) IS NOT NULL ORDER BY %s, "__kafka_p", "__kafka_o" DESC), '
                'd AS (DELETE FROM %s t USING l WHERE l."__kafka_op" = ''d'' AND %s RETURNING 1), '
                'i AS (INSERT INTO %s AS t (%s) SELECT %s FROM l WHERE l."__kafka_op" <> ''d'' ON CONFLICT (%s) DO %s RETURNING 1) '
                'SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM i)',
                part, off, valcol, valcol, source, batch_size,
                array_to_string(exprs, ', '),
                array_to_string(pk, ', '), array_to_string(pk, ', '), array_to_string(pk, ', '),
                target, pkj,
                target, array_to_string(cols, ', '), array_to_string(cols, ', '), array_to_string(pk, ', '),
                CASE WHEN upd IS NULL THEN 'NOTHING' ELSE 'UPDATE SET ' || upd END);
END $$;

CREATE FUNCTION kafka._sink_statement(sink text) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE format WHEN 'debezium' THEN kafka._sink_statement_debezium(source, target, batch_size)
              ELSE kafka._sink_statement_for(source, target, mode, batch_size) END
    FROM kafka.sinks WHERE name = sink
$$;

CREATE FUNCTION kafka.create_sink(name text, source regclass, target regclass, options jsonb DEFAULT '{}')
  RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k text;
  sink_mode text;
  sink_format text;
  batch int;
  server_name text;
BEGIN
  IF name IS NULL OR source IS NULL OR target IS NULL THEN
    RAISE EXCEPTION 'sink name, source and target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF name !~ '^[a-z0-9_]{1,63}$' THEN
    RAISE EXCEPTION 'invalid sink name "%"', name USING ERRCODE = 'invalid_parameter_value',
      HINT = 'Sink names are 1-63 characters a-z, 0-9, _.';
  END IF;
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
  IF sink_format NOT IN ('row', 'debezium') THEN
    RAISE EXCEPTION 'sink option "format" must be "row" or "debezium"' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Debezium events are applied as upserts and deletes
  sink_mode := coalesce(options->>'mode', CASE WHEN sink_format = 'debezium' THEN 'upsert' ELSE 'insert' END);
  IF sink_format = 'debezium' AND sink_mode <> 'upsert' THEN
    RAISE EXCEPTION 'sink format "debezium" applies events as upserts and deletes: mode must be "upsert"'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF sink_mode NOT IN ('insert', 'upsert') THEN
    RAISE EXCEPTION 'sink option "mode" must be "insert" or "upsert"' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  BEGIN
    batch := coalesce((options->>'batch_size')::int, 10000);
  EXCEPTION WHEN others THEN
    batch := 0;
  END;
  IF batch <= 0 THEN
    RAISE EXCEPTION 'sink option "batch_size" must be a positive integer' USING ERRCODE = 'invalid_parameter_value';
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
  IF NOT has_table_privilege(source, 'SELECT') OR NOT has_table_privilege(target, 'INSERT')
     OR (sink_mode = 'upsert' AND NOT has_table_privilege(target, 'UPDATE')) THEN
    RAISE EXCEPTION 'permission denied to create sink "%"', name USING ERRCODE = 'insufficient_privilege',
      DETAIL = format('The sink''s owner needs SELECT on %s and INSERT%s on %s.', source,
                      CASE WHEN sink_mode = 'upsert' THEN ' and UPDATE' END, target);
  END IF;
  -- checks the columns
  IF sink_format = 'debezium' THEN
    PERFORM kafka._sink_statement_debezium(source, target, batch);
  ELSE
    PERFORM kafka._sink_statement_for(source, target, sink_mode, batch);
  END IF;
  INSERT INTO kafka.sinks (name, source, target, mode, format, batch_size, owner)
  VALUES (create_sink.name, source, target, sink_mode, sink_format, batch, current_user::regrole);
  PERFORM kafka._sink_wake();
END $$;

CREATE FUNCTION kafka.drop_sink(name text) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM kafka.sinks s WHERE s.name = drop_sink.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'sink "%" does not exist, or is not yours', name USING ERRCODE = 'undefined_object';
  END IF;
  PERFORM kafka._sink_wake();
END $$;

CREATE FUNCTION kafka._sink_pause(sink text, pause boolean) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE kafka.sinks s SET paused = pause WHERE s.name = sink;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'sink "%" does not exist, or is not yours', sink USING ERRCODE = 'undefined_object';
  END IF;
  PERFORM kafka._sink_wake();
END $$;
CREATE FUNCTION kafka.pause_sink(name text) RETURNS void
  LANGUAGE sql AS $$ SELECT kafka._sink_pause(name, true) $$;
CREATE FUNCTION kafka.resume_sink(name text) RETURNS void
  LANGUAGE sql AS $$ SELECT kafka._sink_pause(name, false) $$;

CREATE VIEW kafka.sink_status AS
SELECT s.name, s.source, s.target, s.mode,
       CASE WHEN s.paused THEN 'paused'
            WHEN kafka._sink_worker_pid() IS NULL THEN 'stopped'
            WHEN s.last_error_at > coalesce(s.last_applied_at, '-infinity') THEN 'retrying'
            ELSE 'running' END AS state,
       CASE WHEN NOT s.paused THEN kafka._sink_worker_pid() END AS worker_pid,
       s.rows_applied, s.last_applied_at, s.last_error, s.last_error_at
  FROM kafka.sinks s;
GRANT SELECT ON kafka.sink_status TO PUBLIC;
