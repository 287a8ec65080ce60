# The pipeline worker never runs user code while it renders values (issue 18,
# finding 3), and never sends the extension's own tables.
#
# A plain role owns an enum with a cast to json (PL/pgSQL, then LANGUAGE sql),
# a domain whose CHECK calls a SQL function, a composite and arrays of them.
# Each of these functions tries to escalate when a superuser runs it (COPY TO
# PROGRAM, ALTER ROLE ... SUPERUSER).  The worker (here: of a superuser's
# pipelines, in both formats, initial snapshot and streaming) must render
# those values from their text, call none of them, and not crash (a SQL
# function called while decoding has no snapshot: SIGSEGV, a crash loop of
# the whole cluster).  Arrays and composites of built-in types must still be
# byte-identical to row_to_json.  A FOR ALL TABLES publication's pipeline
# sends nothing of kafka.* (snapshot, changes, truncate).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use KafkaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

brokers();
my $node = kafka_node('render');
my $run = int(time() * 1000) % 100000000;    # topic names unique per run
my $marker = "/tmp/kafka_fdw_render_escalated_$run";
unlink $marker;

sub sq { my ($sql, $db) = @_; return $node->safe_psql($db // 'postgres', $sql); }

sub wait_for { return wait_sql($node, @_); }

sub topic_count
{
	my ($topic, $db) = @_;
	my ($rc, $out) = $node->psql($db // 'postgres',
		"SELECT CASE WHEN EXISTS (SELECT 1 FROM kafka.topics('kafka') WHERE topic = '$topic') "
		  . "THEN (SELECT count(*) FROM kafka.consume('kafka', '$topic')) ELSE 0 END");
	return $rc == 0 ? $out : -1;
}

sub wait_count
{
	my ($topic, $n, $db, $timeout) = @_;
	my $t0 = time();
	my $got;
	while (time() - $t0 < ($timeout // 60))
	{
		$got = topic_count($topic, $db);
		return $got if $got >= $n;
		sleep 0.3;
	}
	return $got;
}

# The distinct texts of the events of key {"id": $id} in $topic: the value,
# or $expr of it (v: the value as json, which keeps its text).
sub event_text
{
	my ($topic, $id, $expr) = @_;
	$expr //= 'v::text';
	return sq("SELECT string_agg(DISTINCT ($expr)::text, ' | ') FROM (SELECT convert_from(value, 'UTF8')::json AS v "
		  . "FROM kafka.consume('kafka', '$topic') WHERE convert_from(key, 'UTF8')::jsonb->>'id' = '$id') e");
}

# Lines of the server log that show a pipeline worker that failed.
sub worker_failures
{
	my $log = slurp_file($node->logfile);
	return join("\n", grep { /kafka_fdw pipeline.*exited with exit code [1-9]|terminated by signal/ } split /\n/, $log);
}

# ---------------------------------------------------------------------------
# A FOR ALL TABLES publication: nothing of the extension's own tables, in the
# initial snapshot or the stream (in a database of its own).
my $b = brokers();
sq('CREATE DATABASE alldb');
my $pa = "all$run";
sq(qq{
CREATE EXTENSION kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$b');
CREATE USER MAPPING FOR PUBLIC SERVER kafka;
CREATE TABLE plain (id int PRIMARY KEY, v text);
CREATE TABLE plain2 (id int PRIMARY KEY);
INSERT INTO plain VALUES (1, 'before');
INSERT INTO kafka.group_offsets (server, group_name, topic, partition, next_offset) VALUES ('kafka', 'g', 'tp', 0, 5);
CREATE PUBLICATION pub_every FOR ALL TABLES;
CREATE PUBLICATION pub_plain2 FOR TABLE plain2;
SELECT kafka.create_pipeline('$pa', 'kafka', 'pub_every', '{"snapshot": true}');
}, 'alldb');
is(wait_for("SELECT snapshot FROM kafka.pipelines WHERE name = '$pa'", 'done', 90, 'alldb'), 'done',
	'FOR ALL TABLES: the initial snapshot is done');
# the extension's tables change: group positions, a pipeline made and dropped
sq(qq{
INSERT INTO kafka.group_offsets (server, group_name, topic, partition, next_offset) VALUES ('kafka', 'g', 'tp', 1, 7);
UPDATE kafka.group_offsets SET next_offset = next_offset + 1;
SELECT kafka.create_pipeline('x$run', 'kafka', 'pub_plain2');
SELECT kafka.drop_pipeline('x$run');
TRUNCATE kafka.group_offsets;
INSERT INTO plain VALUES (2, 'after');
}, 'alldb');
is(wait_count("$pa.public.plain", 2, 'alldb'), 2, 'the rows of a plain table: snapshot and change');
is(sq("SELECT coalesce(string_agg(topic, ', '), 'none') FROM kafka.topics('kafka') WHERE topic LIKE '$pa.%' AND topic NOT LIKE '$pa.public.%'", 'alldb'),
	'none', "no topic for the extension's tables (kafka.pipelines, kafka.group_offsets, ...)");
is(wait_for("SELECT events_sent FROM kafka.pipeline_status WHERE name = '$pa'", '2', 30, 'alldb'), '2',
	'the worker sent exactly the two events of the plain table');
sq("SELECT kafka.drop_pipeline('$pa')", 'alldb');

# ---------------------------------------------------------------------------
# A plain role's types, casts and domain, each trying to escalate.
sq(qq{
CREATE ROLE role_r LOGIN;
CREATE SCHEMA role_r AUTHORIZATION role_r;
SET ROLE role_r;
-- Escalates when a superuser runs it (each step whatever the other does: the
-- initial snapshot is read-only); a plain role gets true and nothing else.
CREATE FUNCTION role_r.escalate() RETURNS boolean LANGUAGE plpgsql AS \$f\$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    BEGIN
      EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch $marker''';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    BEGIN
      EXECUTE 'ALTER ROLE role_r SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END IF;
  RETURN true;
END \$f\$;
CREATE TYPE role_r.my_enum AS ENUM ('a', 'b c', 'q"x');
CREATE FUNCTION role_r.f(role_r.my_enum) RETURNS json LANGUAGE plpgsql AS \$f\$
BEGIN
  PERFORM role_r.escalate();
  RETURN '"cast ran"'::json;
END \$f\$;
CREATE CAST (role_r.my_enum AS json) WITH FUNCTION role_r.f(role_r.my_enum);
CREATE FUNCTION role_r.chk(int) RETURNS boolean LANGUAGE sql AS 'SELECT role_r.escalate() AND \$1 > 0';
CREATE DOMAIN role_r.checked AS int CHECK (role_r.chk(VALUE));
CREATE TYPE role_r.comp AS (e role_r.my_enum, n int, d role_r.checked, t text);
CREATE TABLE role_r.t (id int PRIMARY KEY, e role_r.my_enum, ea role_r.my_enum[], c role_r.comp,
                       d role_r.checked, da role_r.checked[]);
-- the crash case: a LANGUAGE sql cast (STABLE: run while decoding, it executes
-- its query with the active snapshot, of which there is none: SIGSEGV)
CREATE TYPE role_r.sql_enum AS ENUM ('x', 'y');
CREATE FUNCTION role_r.fs(role_r.sql_enum) RETURNS json LANGUAGE sql STABLE
  AS \$f\$ SELECT CASE WHEN role_r.escalate() THEN '"sql cast ran"'::json END \$f\$;
CREATE CAST (role_r.sql_enum AS json) WITH FUNCTION role_r.fs(role_r.sql_enum);
CREATE TABLE role_r.t2 (id int PRIMARY KEY, s role_r.sql_enum, sa role_r.sql_enum[]);
-- rows for the initial snapshot
INSERT INTO role_r.t VALUES (1, 'b c', '{a,"q\\"x",NULL}', ROW('q"x', 7, 3, 'p (q), r'), 4, '{1,2}');
INSERT INTO role_r.t2 VALUES (1, 'x', '{x,y}');
RESET ROLE;
});
is(sq("SET ROLE role_r; SELECT row_to_json(t)::text FROM role_r.t"), '{"id":1,"e":"cast ran","ea":["cast ran","cast ran",null],"c":{"e":"cast ran","n":7,"d":3,"t":"p (q), r"},"d":4,"da":[1,2]}',
	"row_to_json itself (here as role_r) calls role_r's cast; the worker must not");
ok(!-e $marker, 'which does nothing for a plain role');

# Arrays and composites of built-in types (and of an enum without a cast):
# byte for byte what row_to_json writes.
sq(q{
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TYPE inner_c AS (x int, y text[]);
CREATE TYPE outer_c AS (i inner_c, ts timestamptz, b bool, n numeric, j jsonb, ds date[], m mood);
CREATE TABLE builtin_c (
  id int PRIMARY KEY, ia int[], ia2 int[], ta text[], tsa timestamp[], tza timestamptz[], da date[], ba bool[],
  na numeric[], fa float8[], ja json[], jba jsonb[], bx box[], oc outer_c, oca outer_c[], iv int2vector,
  ov oidvector, ma mood[], ua uuid[], bya bytea[], ina inet[]);
INSERT INTO builtin_c VALUES
 (1, '{1,NULL,3}', '{{1,2},{3,4}}',
  ARRAY['a b', 'c"d', '', 'NULL', NULL, 'x\y', '{}', E'tab\there', E'nl\nx', 'é☃', 'plain', '(1,2)'],
  '{"2024-02-29 12:34:56.789",infinity}', '{"2024-02-29 12:34:56+02",-infinity}', '{2024-02-29,-infinity}',
  '{t,f,NULL}', '{1.50,NaN,-0.001}', '{1e300,Infinity,-Infinity,NaN,1.5}',
  ARRAY['{"a": [1, 2]}'::json, 'null', '"s"'], ARRAY['{"b": 2, "a": 1}'::jsonb, '[]'],
  ARRAY['((1,2),(3,4))'::box, '((0,0),(1,1))'],
  ROW(ROW(5, ARRAY['p q', 'r"s', NULL])::inner_c, '2024-01-01 00:00:00+00', true, 1.5, '{"k": "v"}', '{2024-01-01}', 'happy'),
  ARRAY[ROW(ROW(1, NULL)::inner_c, NULL, NULL, NULL, NULL, NULL, NULL)::outer_c, NULL], '1 2 3', '1 2', '{sad,happy}',
  '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', ARRAY['\x00ff'::bytea, ''], '{10.0.0.1/8}'),
 (2, '[0:2]={7,8,9}', '{}', '{}', '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL), '{}', '', '', NULL, NULL, NULL, NULL),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL);
});

# Two publications (the table with the SQL cast on its own, so that its
# pipelines meet it first when they stream), one pipeline per format on
# each, all with the initial snapshot; the pipelines belong to the node's
# superuser.
my ($pr, $pd, $sr, $sd) = ("row$run", "dbz$run", "sqlrow$run", "sqldbz$run");
my $all = "'$pr', '$pd', '$sr', '$sd'";
sq(qq{
CREATE PUBLICATION pub_r FOR TABLE role_r.t, builtin_c;
CREATE PUBLICATION pub_s FOR TABLE role_r.t2;
SELECT kafka.create_pipeline('$pr', 'kafka', 'pub_r', '{"snapshot": true}');
SELECT kafka.create_pipeline('$pd', 'kafka', 'pub_r', '{"snapshot": true, "format": "debezium", "schemas": false}');
SELECT kafka.create_pipeline('$sr', 'kafka', 'pub_s', '{"snapshot": true}');
SELECT kafka.create_pipeline('$sd', 'kafka', 'pub_s', '{"snapshot": true, "format": "debezium", "schemas": false}');
});
is(wait_for("SELECT string_agg(snapshot, ',') FROM kafka.pipelines WHERE name IN ($all)",
		'done,done,done,done', 90), 'done,done,done,done', 'the initial snapshots are done');
is(wait_for("SELECT string_agg(state, ',') FROM kafka.pipeline_status WHERE name IN ($all)",
		'running,running,running,running', 30), 'running,running,running,running', 'the pipelines run');
my $pids = sq("SELECT string_agg(worker_pid::text, ',' ORDER BY name) FROM kafka.pipeline_status WHERE name IN ($all)");

# Changes while streaming: role_r's PL/pgSQL cast and SQL-function domain.
sq(q{
SET ROLE role_r;
INSERT INTO role_r.t VALUES (2, 'a', '{}', ROW(NULL, NULL, NULL, ''), NULL, '{{5,NULL},{6,7}}');
RESET ROLE;
INSERT INTO builtin_c SELECT id + 10, ia, ia2, ta, tsa, tza, da, ba, na, fa, ja, jba, bx, oc, oca, iv, ov, ma, ua, bya, ina
  FROM builtin_c;
});
for my $fmt ([ 'row', $pr ], [ 'debezium', $pd ])
{
	my ($f, $p) = @$fmt;
	is(wait_count("$p.role_r.t", 2), 2, "$f: role_r.t, snapshot and change");
	is(wait_count("$p.public.builtin_c", 6), 6, "$f: builtin_c, snapshot and changes");
}

# row: every value from its text, no cast (exact JSON)
is(event_text("$pr.role_r.t", 1),
	'{"id":1,"e":"b c","ea":["a","q\"x",null],"c":{"e":"q\"x","n":7,"d":3,"t":"p (q), r"},"d":4,"da":[1,2]}',
	'row, snapshot: enum, enum array, composite, domain and domain array from their text, no cast');
is(event_text("$pr.role_r.t", 2),
	'{"id":2,"e":"a","ea":[],"c":{"e":null,"n":null,"d":null,"t":""},"d":null,"da":[[5,null],[6,7]]}',
	'row, streaming: the same (empty array, NULL fields, 2-D array of the domain)');
is(sq("SELECT count(*) FROM (SELECT convert_from(key, 'UTF8')::jsonb->>'id' AS id, convert_from(value, 'UTF8') AS v "
	  . "FROM kafka.consume('kafka', '$pr.public.builtin_c')) e JOIN builtin_c s ON s.id::text = e.id "
	  . "WHERE e.v = row_to_json(s)::text"), '6',
	'row: arrays and composites of built-in types are byte-identical to row_to_json (snapshot and streaming)')
  or diag sq("SELECT e.v || E'\\n' || row_to_json(s)::text FROM (SELECT convert_from(key, 'UTF8')::jsonb->>'id' AS id, "
	  . "convert_from(value, 'UTF8') AS v FROM kafka.consume('kafka', '$pr.public.builtin_c')) e JOIN builtin_c s "
	  . "ON s.id::text = e.id WHERE e.v IS DISTINCT FROM row_to_json(s)::text");

# debezium: the same values in Debezium's encodings, from their text
is(event_text("$pd.role_r.t", 1, "v->'after'"),
	'{"id":1,"e":"b c","ea":["a","q\"x",null],"c":"(\"q\"\"x\",7,3,\"p (q), r\")","d":4,"da":[1,2]}',
	'debezium, snapshot: enum, enum array, composite as its text, domain and domain array as int32');
is(event_text("$pd.role_r.t", 2, "v->'after'"),
	'{"id":2,"e":"a","ea":[],"c":"(,,,\"\")","d":null,"da":[5,null,6,7]}',
	'debezium, streaming: the same (a 2-D array flattened)');
for my $id (1, 11)
{
	is(event_text("$pd.public.builtin_c", $id,
			"json_build_array(v->'after'->'ia', v->'after'->'ia2', v->'after'->'ta', v->'after'->'da', v->'after'->'ba', "
			  . "v->'after'->'bx', v->'after'->'oca', v->'after'->'ma', v->'after'->'iv', v->'after'->'tsa', v->'after'->'bya')::text"),
		'[[1,null,3], [1,2,3,4], ["a b","c\"d","","NULL",null,"x\\\\y","{}","tab\there","nl\nx","é☃","plain","(1,2)"], '
		  . '[19782,null], [true,false,null], ["(3,4),(1,2)","(1,1),(0,0)"], ["(\"(1,)\",,,,,,)",null], ["sad","happy"], '
		  . '"1 2 3", [1709210096789000,9223372036825200000], ["AP8=",""]]',
		"debezium, row $id: arrays of built-in types as before (flattened, elements in their encodings)");
}

# Composite types changed while a table uses them (which does not make
# pgoutput describe the table again): the next events show the types as they
# are then, as row_to_json does.
sq(q{
ALTER TYPE outer_c ADD ATTRIBUTE extra int;
ALTER TYPE outer_c RENAME ATTRIBUTE b TO bb;
ALTER TYPE inner_c DROP ATTRIBUTE x;
INSERT INTO builtin_c SELECT id + 20, ia, ia2, ta, tsa, tza, da, ba, na, fa, ja, jba, bx, oc, oca, iv, ov, ma, ua, bya, ina
  FROM builtin_c WHERE id < 10;
});
is(wait_count("$pr.public.builtin_c", 9), 9, 'row: three more events of builtin_c');
is(sq("SELECT count(*) FILTER (WHERE e.v = row_to_json(s)::text) || ' ' || count(*) FILTER (WHERE e.v LIKE '%\"bb\":%\"extra\":%') "
	  . "FROM (SELECT convert_from(key, 'UTF8')::jsonb->>'id' AS id, convert_from(value, 'UTF8') AS v "
	  . "FROM kafka.consume('kafka', '$pr.public.builtin_c')) e JOIN builtin_c s ON s.id::text = e.id WHERE s.id > 20"), '3 2',
	'row: composites after ADD, RENAME and DROP ATTRIBUTE of their types are byte-identical to row_to_json');

# The SQL cast (the crash case), while streaming.
sq(q{SET ROLE role_r; INSERT INTO role_r.t2 VALUES (2, 'y', '{y,NULL}');});
for my $fmt ([ 'row', $sr, 'v::text' ], [ 'debezium', $sd, "v->'after'" ])
{
	my ($f, $p, $expr) = @$fmt;
	is(wait_count("$p.role_r.t2", 2), 2, "$f: role_r.t2 (LANGUAGE sql cast), snapshot and change");
	is(event_text("$p.role_r.t2", 1, $expr), '{"id":1,"s":"x","sa":["x","y"]}', "$f, snapshot: no SQL cast");
	is(event_text("$p.role_r.t2", 2, $expr), '{"id":2,"s":"y","sa":["y",null]}', "$f, streaming: no SQL cast");
}

# Nothing of role_r's ran in the worker.
ok(!-e $marker, "role_r's COPY TO PROGRAM never ran");
is(sq("SELECT rolsuper FROM pg_roles WHERE rolname = 'role_r'"), 'f', 'role_r is not a superuser');
is(sq("SELECT string_agg(worker_pid::text, ',' ORDER BY name) FROM kafka.pipeline_status WHERE name IN ($all)"),
	$pids, 'the workers that took the snapshots still run (no restart)');
is(sq("SELECT string_agg(state || ':' || coalesce(last_error, ''), ',') FROM kafka.pipeline_status WHERE name IN ($all)"),
	'running:,running:,running:,running:', 'the pipelines run, without an error');
is(worker_failures(), '', 'no worker failed or was killed by a signal');
ok(!log_has_crash($node), 'no backend crashed');

unlink $marker;
$node->stop;
done_testing();
