# CDC events that must be right for every table shape (issue 22, "Event
# correctness"), both formats:
#   - an UPDATE that does not change the key, of a row whose key is stored
#     out of line (TOASTed: a text key of several kB, alone or in a
#     composite key; REPLICA IDENTITY DEFAULT and FULL) is one update event
#     with the real key; it was a delete (tombstone) plus an event keyed
#     {"k": null}, and a replica or sink deleted the row.
#   - Debezium format: timestamptz years past 9999 and before 1 AD in ISO 8601
#     extended form (+10000-..., -0001-...), as Java parses them; timestamp
#     and interval values beyond int64 microseconds saturate (they were
#     undefined casts).
#   - REPLICA IDENTITY FULL without a primary key: events have a null key
#     (as Debezium's), an UPDATE is one op u event with before and after,
#     identical rows stay two rows, and nullable columns are optional in the
#     Debezium schemas (every column was "optional": false, so Connect's
#     JsonConverter rejected any NULL).
#   - publish_via_partition_root = true: one topic, the root's; no empty
#     topic per leaf partition (topics are made with their first event).
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
my $node = kafka_node('cdc_events');
my $run = int(time() * 1000) % 100000000;    # topic names unique per run

sub sq { return $node->safe_psql('postgres', $_[0]); }

# A key of 2.5 kB that does not compress: stored out of line (and below
# btree's 2,704-byte limit).
my $bigkey = "md5(g::text) || string_agg(md5(g::text || i::text), '' ORDER BY i)";
sq(qq{
CREATE TABLE toast_k (k text PRIMARY KEY, v int);
CREATE TABLE toast_ck (a int, k text, v int, PRIMARY KEY (a, k));
CREATE TABLE toast_full (k text PRIMARY KEY, v int);
ALTER TABLE toast_full REPLICA IDENTITY FULL;
CREATE TABLE dbz_times (id int PRIMARY KEY, tz timestamptz, ts timestamp, iv interval);
CREATE PUBLICATION pub_toast FOR TABLE toast_k, toast_ck, toast_full, dbz_times;
CREATE TABLE meas (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE meas_eu PARTITION OF meas FOR VALUES IN ('eu');
CREATE TABLE meas_us PARTITION OF meas FOR VALUES IN ('us');
CREATE PUBLICATION pub_root FOR TABLE meas WITH (publish_via_partition_root = true);
CREATE TABLE nopk (a int, b text);
ALTER TABLE nopk REPLICA IDENTITY FULL;
CREATE PUBLICATION pub_nopk FOR TABLE nopk;
});
my %pipes = (row => "ev_row_$run", dbz => "ev_dbz_$run");
sq(qq{SELECT kafka.create_pipeline('$pipes{row}', 'kafka', 'pub_toast');
      SELECT kafka.create_pipeline('$pipes{dbz}', 'kafka', 'pub_toast', '{"format": "debezium", "schemas": false}');});
is(wait_sql($node, "SELECT string_agg(state, ',' ORDER BY name) FROM kafka.pipeline_status "
	  . "WHERE name IN ('$pipes{row}', '$pipes{dbz}')", 'running,running', 90),
	'running,running', 'both pipelines stream');

for my $t (qw(toast_k toast_full))
{
	sq(qq{INSERT INTO $t SELECT $bigkey, 1 FROM generate_series(1, 2) g, generate_series(1, 78) i GROUP BY g;
	      UPDATE $t SET v = 2;});
}
sq(qq{INSERT INTO toast_ck SELECT g, $bigkey, 1 FROM generate_series(1, 2) g, generate_series(1, 78) i GROUP BY g;
      UPDATE toast_ck SET v = 2;});
is(sq("SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE relname = 'toast_k'"), 't',
	'the keys are stored out of line');

# per pipeline and table: 2 inserts + 2 updates, each one event with a real
# key; no tombstone, no key with a null member
for my $fmt (sort keys %pipes)
{
	for my $t (qw(toast_k toast_ck toast_full))
	{
		my $topic = "$pipes{$fmt}.public.$t";
		my $q = "SELECT count(*) FROM kafka.consume('kafka', '$topic')";
		is(wait_sql($node, $q, '4', 60), '4', "$fmt $t: 4 events (2 inserts, 2 updates)");
		is(sq("SELECT count(*) FROM kafka.consume('kafka', '$topic') WHERE value IS NULL"), '0',
			"$fmt $t: no tombstone");
		is(sq("SELECT count(*) FROM kafka.consume('kafka', '$topic') k, "
			  . "jsonb_each(CASE WHEN convert_from(k.key, 'UTF8')::jsonb ? 'payload' "
			  . "THEN convert_from(k.key, 'UTF8')::jsonb->'payload' ELSE convert_from(k.key, 'UTF8')::jsonb END) m "
			  . "WHERE m.key = 'k' AND length(m.value #>> '{}') = 2528"), '4',
			"$fmt $t: every event's key holds the whole key");
	}
}
sq(q{INSERT INTO dbz_times VALUES
  (1, '10000-01-01 00:00:00+00', '294276-12-31 23:59:59', '178000000 years'),
  (2, '0002-01-01 00:00:00+00 BC', '4713-01-01 00:00:00 BC', '-178000000 years'),
  (3, '0001-01-01 00:00:00+00 BC', '2026-01-01 00:00:00', '1 day')});
my $tt = "$pipes{dbz}.public.dbz_times";
is(wait_sql($node, "SELECT count(*) FROM kafka.consume('kafka', '$tt')", '3', 60), '3', 'debezium: 3 time events');
is(sq("SELECT string_agg(concat_ws(' ', a->>'tz', a->>'ts', a->>'iv'), ' | ' ORDER BY (a->>'id')::int) "
	  . "FROM (SELECT convert_from(value, 'UTF8')::jsonb->'after' a FROM kafka.consume('kafka', '$tt')) e"),
	'+10000-01-01T00:00:00.000000Z 9223372036854775807 9223372036854775807 | '
	  . '-0001-01-01T00:00:00.000000Z -210863520000000000 -9223372036854775808 | '
	  . '0000-01-01T00:00:00.000000Z 1767225600000000 86400000000',
	'debezium: extended ISO years; saturated timestamp and interval');

my $proot = "ev_root_$run";
sq("SELECT kafka.create_pipeline('$proot', 'kafka', 'pub_root', '{\"snapshot\": false}')");
is(wait_sql($node, "SELECT state FROM kafka.pipeline_status WHERE name = '$proot'", 'running', 90), 'running',
	'the partition-root pipeline streams');
sq("INSERT INTO meas VALUES (1, 'eu'), (2, 'us'), (3, 'eu')");
is(wait_sql($node, "SELECT count(*) FROM kafka.consume('kafka', '$proot.public.meas')", '3', 60), '3',
	'publish_via_partition_root: the events are in the root table\'s topic');
is(sq("SELECT string_agg(topic, ',' ORDER BY topic) FROM kafka.topics('kafka') WHERE topic LIKE '$proot.%'"),
	"$proot.public.meas", 'and no topic was made for a leaf partition');

my %np = (row => "ev_nopk_row_$run", dbz => "ev_nopk_dbz_$run");
sq(qq{SELECT kafka.create_pipeline('$np{row}', 'kafka', 'pub_nopk');
      SELECT kafka.create_pipeline('$np{dbz}', 'kafka', 'pub_nopk', '{"format": "debezium", "schemas": true}');});
is(wait_sql($node, "SELECT string_agg(state, ',') FROM kafka.pipeline_status WHERE name IN ('$np{row}', '$np{dbz}')",
	'running,running', 90), 'running,running', 'the no-primary-key pipelines stream');
sq(q{INSERT INTO nopk VALUES (1, NULL), (1, NULL);
     UPDATE nopk SET b = 'x' WHERE ctid = (SELECT min(ctid) FROM nopk);});
for my $fmt (sort keys %np)
{
	my $topic = "$np{$fmt}.public.nopk";
	is(wait_sql($node, "SELECT count(*) FROM kafka.consume('kafka', '$topic')", '3', 60), '3',
		"$fmt nopk: 3 events (2 identical inserts, 1 update)");
	is(sq("SELECT count(*) FROM kafka.consume('kafka', '$topic') WHERE key IS NULL AND value IS NOT NULL"), '3',
		"$fmt nopk: every event has a null key and a value");
}
is(sq("SELECT string_agg(concat_ws(' ', v->'payload'->>'op', v->'payload'->'before'->>'b', v->'payload'->'after'->>'b'), ',' ORDER BY o) "
	  . "FROM (SELECT \"offset\" o, convert_from(value, 'UTF8')::jsonb v FROM kafka.consume('kafka', '$np{dbz}.public.nopk')) e"),
	'c,c,u x', 'debezium nopk: op c, c, then u with before and after');
is(sq("SELECT string_agg(f->>'field' || '=' || (f->>'optional'), ',') FROM "
	  . "(SELECT convert_from(value, 'UTF8')::jsonb v FROM kafka.consume('kafka', '$np{dbz}.public.nopk') LIMIT 1) e, "
	  . "jsonb_array_elements(v->'schema'->'fields'->0->'fields') f"),
	'a=true,b=true', 'debezium nopk: nullable columns are optional in the schema');

# Debezium format: constant column defaults are in the field schemas
# ("default", last, as Connect's JsonConverter writes it), as Debezium
# exports them: literals and immutable expressions of built-in functions
# (numeric(5,2) DEFAULT 7 is 7.00, base64 of 700); none for now(), or for a
# default that fails (int2 DEFAULT 100000).  A column added with
# NOT NULL DEFAULT 7 has "default": 7, so a sink can add it (Debezium's JDBC
# sink stopped for good without it), and in a before image that lacks a
# NOT NULL column (a DELETE under REPLICA IDENTITY DEFAULT) the column is
# its default, as Debezium's converters put it (the type's zero only when
# there is no default).
sq("CREATE TABLE dflt (id int PRIMARY KEY, s text NOT NULL DEFAULT 'abc', d numeric(5,2) DEFAULT 7,
      b bigint DEFAULT 7, ts timestamptz DEFAULT now(), ov int2 DEFAULT 100000, e text);
    CREATE PUBLICATION pub_dflt FOR TABLE dflt;");
# Only literals and casts of literals are exported, as Debezium does: no
# function call is evaluated in the worker (round and lpad are SQL functions
# up to at least 17: fmgr_sql needs an active snapshot, decoding has none,
# and the worker crashed with SIGSEGV, and the server with it, at every
# start; repeat('x', 1000000000) took 4 GB), and no default above 4 kB goes
# into the schema (it is in every event, twice)
sq("CREATE TABLE dflt_sql (id int PRIMARY KEY, r numeric DEFAULT round(2.5), l text DEFAULT lpad('x', 5),
      big text NOT NULL DEFAULT repeat('x', 100), lit text DEFAULT '" . ('y' x 5000) . "',
      nan int DEFAULT 'NaN'::numeric::int, pad char(5000) DEFAULT 'x');
    ALTER PUBLICATION pub_dflt ADD TABLE dflt_sql;");
my $pdf = "ev_dflt_$run";
sq("SELECT kafka.create_pipeline('$pdf', 'kafka', 'pub_dflt', '{\"format\": \"debezium\", \"schemas\": true}')");
is(wait_sql($node, "SELECT state FROM kafka.pipeline_status WHERE name = '$pdf'", 'running', 90), 'running',
	'the defaults pipeline streams');
sq("INSERT INTO dflt VALUES (1, 'x', 1.5, 2, now(), 1, 'e');
    ALTER TABLE dflt ADD COLUMN nn int NOT NULL DEFAULT 7;
    DELETE FROM dflt WHERE id = 1;");
my $dev = "(SELECT \"offset\" o, convert_from(value, 'UTF8')::jsonb v FROM kafka.consume('kafka', '$pdf.public.dflt') WHERE value IS NOT NULL)";
is(wait_sql($node, "SELECT count(*) FROM $dev e", '2', 60), '2', 'defaults: 2 events (insert, delete)');
is(sq("SELECT string_agg(e.o || ':' || (f->>'field') || '=' || coalesce((f->'default')::text, '-'), ',' ORDER BY e.o, n) "
	  . "FROM $dev e, jsonb_array_elements(e.v->'schema'->'fields'->0->'fields') WITH ORDINALITY AS x(f, n)"),
	'0:id=-,0:s="abc",0:d="Arw=",0:b=7,0:ts=-,0:ov=-,0:e=-,1:id=-,1:s="abc",1:d="Arw=",1:b=7,1:ts=-,1:ov=-,1:e=-,1:nn=7',
	'debezium: constant defaults in the field schemas (the added NOT NULL column too)');
is(sq("SELECT v->'payload'->'before'::text FROM $dev e ORDER BY o DESC LIMIT 1"),
	'{"b": null, "d": null, "e": null, "s": "abc", "id": 1, "nn": 7, "ov": null, "ts": null}',
	'debezium: a key-only before image has the defaults of its NOT NULL columns');
sq("INSERT INTO dflt_sql (id, nan, pad) VALUES (1, 0, 'p')");
my $dsq = "(SELECT convert_from(value, 'UTF8')::jsonb v FROM kafka.consume('kafka', '$pdf.public.dflt_sql') WHERE value IS NOT NULL)";
is(wait_sql($node, "SELECT count(*) FROM $dsq e", '1', 60), '1',
	'defaults: the event of a table with defaults calling SQL-language functions');
is(sq("SELECT string_agg((f->>'field') || '=' || coalesce((f->'default')::text, '-'), ',' ORDER BY n) "
	  . "FROM $dsq e, jsonb_array_elements(e.v->'schema'->'fields'->0->'fields') WITH ORDINALITY AS x(f, n)"),
	'id=-,r=-,l=-,big=-,lit=-,nan=-,pad=-',
	'debezium: no default for function calls (round, lpad, repeat: not evaluated in the worker), above 4 kB, or failing (0A000)');
cmp_ok(sq("SELECT max(octet_length(v::text)) FROM $dsq e"), '<', 16000,
	'debezium: large defaults do not make every event large');

# Generated columns: pgoutput sends stored generated columns from 18 on when
# the publication publishes them (publish_generated_columns = stored, or a
# column list naming them), never before 18.  Events carry what pgoutput
# sends, in the initial snapshot (id 1) as in the stream (id 2): on 18 the
# value equals row_to_json; before 18 the generated column is absent.
my $v18 = $node->pg_version >= 18;
sq("CREATE TABLE gen (id int PRIMARY KEY, a int, g int GENERATED ALWAYS AS (a * 2) STORED);
    INSERT INTO gen VALUES (1, 10);
    CREATE PUBLICATION pub_gen FOR TABLE gen" . ($v18 ? ' WITH (publish_generated_columns = stored)' : ''));
my $pgen = "ev_gen_$run";
sq("SELECT kafka.create_pipeline('$pgen', 'kafka', 'pub_gen', '{\"snapshot\": true}')");
is(wait_sql($node, "SELECT snapshot FROM kafka.pipelines WHERE name = '$pgen'", 'done', 90), 'done',
	'the generated-column pipeline took its snapshot');
sq("INSERT INTO gen VALUES (2, 20)");
is(wait_sql($node, "SELECT count(*) FROM kafka.consume('kafka', '$pgen.public.gen')", '2', 60), '2',
	'generated columns: 2 events (snapshot, insert)');
is(sq("SELECT string_agg(concat_ws(':', v->>'id', v ? 'g', v->>'g', v = (SELECT row_to_json(t)::jsonb FROM gen t WHERE t.id = (v->>'id')::int)), ',' ORDER BY (v->>'id')::int) "
	  . "FROM (SELECT convert_from(value, 'UTF8')::jsonb v FROM kafka.consume('kafka', '$pgen.public.gen')) e"),
	$v18 ? '1:t:20:t,2:t:40:t' : '1:f:f,2:f:f',
	$v18 ? 'PostgreSQL 18: the stored generated column is in the events, as in row_to_json'
	     : 'before PostgreSQL 18 the generated column is not in the events (pgoutput does not send it)');

my $ops = sq("SELECT string_agg(convert_from(value, 'UTF8')::jsonb->>'op', ',' ORDER BY \"offset\") "
	  . "FROM kafka.consume('kafka', '$pipes{dbz}.public.toast_k')");
is($ops, 'c,c,u,u', 'debezium: the updates are op u');

$node->stop;
is(log_has_crash($node), '', 'no backend was terminated by a signal');
done_testing();
