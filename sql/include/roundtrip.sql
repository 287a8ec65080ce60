-- Body of roundtrip.sql, run in a UTF-8 and in a LATIN1 database (:enc).
-- A json column holding JSON null reads back as SQL NULL (row_to_json
-- writes both as null), so the json values below are never JSON null.
SET client_encoding = 'UTF8';
CREATE TYPE trip_mood AS ENUM ('sad', 'ok', 'häppy');
CREATE DOMAIN trip_pos AS int CHECK (VALUE > 0);
CREATE TYPE trip_pair AS (a int, b text, c date);
CREATE TABLE trip_local (id int, i2 int2, i4 int4, i8 int8, num numeric, r real, dp double precision, b bool,
  t text, vc varchar(10), ch char(5), by bytea, dt date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
  iv interval, u uuid, j json, jb jsonb, ai int[], atx text[], a2 int[], ad date[], e trip_mood, dom trip_pos,
  comp trip_pair);
SET TimeZone = 'America/New_York';
INSERT INTO trip_local VALUES
  (1, 1, 2, 3, 4.5, 1.5, 2.25, true, 'plain', 'vc', 'ch', '\x0102ff', '2026-12-07', '12:34:56.789',
   '12:34:56+05:30', '2026-12-07 12:00:00', '2026-12-07 12:00:00+01', '1 year 2 mons 3 days 04:05:06.5',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, "x"], "b": null}', '{"k": {"n": 1.50}}', '{1,2,3}',
   '{"a,b","c\"d",NULL,"","e\\f"}', '{{1,2},{3,4}}', '{2026-01-01,infinity}', 'häppy', 7, '(1,"x, y",2026-02-03)'),
  (2, -32768, -2147483648, -9223372036854775808, 'NaN', 'Infinity', '-Infinity', false,
   E'é, ü, "q", \\ back, tab\there, line\nbreak, comma, and ''quote''', '', 'é', '\x', 'infinity',
   '00:00:00', '23:59:59-12', '-infinity', '1970-01-01 00:00:00+00', '-178000000 years',
   '00000000-0000-0000-0000-000000000000', '"é"', '[]', '{}', '{}', '{{NULL,1}}', '{}', 'sad', 1, '(,,)'),
  (3, 32767, 2147483647, 9223372036854775807, '-0.000000000000000000001', '-0', '1e-300', NULL,
   '   spaces   ', 'NULL', 'N', '\x00', '4713-01-01 BC', '24:00:00', '00:00:00+15:59', '294276-12-31 23:59:59',
   '1900-01-01 00:00:00+00', '-1 days -00:00:01', NULL, '"null"', '"s"', '{NULL}', '{NULL,"NULL"}', NULL, NULL,
   'ok', 2147483647, '(3,"",)'),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT kafka.create_topic('kafka', 'roundtrip_json_' || :'enc', 1);
SELECT kafka.create_topic('kafka', 'roundtrip_csv_' || :'enc', 1);
\set cols '(id int, i2 int2, i4 int4, i8 int8, num numeric, r real, dp double precision, b bool, t text, vc varchar(10), ch char(5), by bytea, dt date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb, ai int[], atx text[], a2 int[], ad date[], e trip_mood, dom trip_pos, comp trip_pair)'
SELECT format('CREATE FOREIGN TABLE trip_json %s SERVER kafka OPTIONS (topic %L, format %L)',
              :'cols', 'roundtrip_json_' || :'enc', 'json') \gexec
SELECT format('CREATE FOREIGN TABLE trip_csv %s SERVER kafka OPTIONS (topic %L, format %L)',
              :'cols', 'roundtrip_csv_' || :'enc', 'csv') \gexec
-- written in one time zone, read in another
INSERT INTO trip_json SELECT * FROM trip_local;
INSERT INTO trip_csv SELECT * FROM trip_local;
SET TimeZone = 'Asia/Kolkata';
-- rows that differ, both ways (none expected); then the counts
SELECT 'json: not read back' AS problem, l::text FROM trip_local l WHERE l::text NOT IN (SELECT f::text FROM trip_json f)
UNION ALL SELECT 'json: read but not written', f::text FROM trip_json f WHERE f::text NOT IN (SELECT l::text FROM trip_local l)
UNION ALL SELECT 'csv: not read back', l::text FROM trip_local l WHERE l::text NOT IN (SELECT f::text FROM trip_csv f)
UNION ALL SELECT 'csv: read but not written', f::text FROM trip_csv f WHERE f::text NOT IN (SELECT l::text FROM trip_local l);
SELECT (SELECT count(*) FROM trip_json) AS json_rows, (SELECT count(*) FROM trip_csv) AS csv_rows;
-- the messages are UTF-8 whatever the database's encoding
SELECT encode(value, 'escape') AS message FROM kafka.consume('kafka', 'roundtrip_csv_' || :'enc', 0) WHERE "offset" = 1;
SELECT convert_from(value, 'UTF8') ~ 'é, ü' AS utf8_json
  FROM kafka.consume('kafka', 'roundtrip_json_' || :'enc', 0) WHERE "offset" = 1;
-- text through kafka.produce and headers, both ways
SELECT partition, "offset" FROM kafka.produce('kafka', 'roundtrip_csv_' || :'enc', 'é', 'ü', headers => '{"hé": "ä"}');
SELECT encode(key, 'hex') AS key, encode(value, 'hex') AS value, headers
  FROM kafka.consume('kafka', 'roundtrip_csv_' || :'enc', 0) WHERE "offset" = 4;
-- a character the database's encoding lacks: a bad value (non-strict), an
-- error naming the message (strict)
SELECT partition, "offset" FROM kafka.produce('kafka', 'roundtrip_json_' || :'enc',
  decode('7b2274223a2022e282ac222c20226964223a20357d', 'hex'));  -- {"t": "€", "id": 5}
SELECT format('CREATE FOREIGN TABLE trip_loose (id int, t text, junk_error text OPTIONS (junk_error %L)) SERVER kafka OPTIONS (topic %L, format %L, strict %L)',
              'true', 'roundtrip_json_' || :'enc', 'json', 'false') \gexec
SELECT id, t, junk_error FROM trip_loose WHERE id = 5;
SELECT format('CREATE FOREIGN TABLE trip_strict (id int, t text) SERVER kafka OPTIONS (topic %L, format %L, strict %L)',
              'roundtrip_json_' || :'enc', 'json', 'true') \gexec
SELECT id, t FROM trip_strict WHERE id = 5;
DROP FOREIGN TABLE trip_json, trip_csv, trip_loose, trip_strict;
SELECT kafka.delete_topic('kafka', 'roundtrip_json_' || :'enc');
SELECT kafka.delete_topic('kafka', 'roundtrip_csv_' || :'enc');
DROP TABLE trip_local;
DROP TYPE trip_pair;
DROP DOMAIN trip_pos;
DROP TYPE trip_mood;
RESET TimeZone;
