# CDC pipelines against the real broker: events as row_to_json renders the
# rows, deletes/key changes/truncates, headers, schema changes, publication
# row filters and column lists compared with a pgoutput slot, unchanged
# TOAST, pause/resume/drop, several pipelines and databases, the slot moving
# while only unpublished tables are written, permissions, a large
# transaction, the initial snapshot (also one stopped and done again), the
# debezium format's options, and the ERROR without shared_preload_libraries.
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
my $node = kafka_node('cdc');
my $run = int(time() * 1000) % 100000000;    # topic names unique per run

sub sq { my ($sql, $db) = @_; return $node->safe_psql($db // 'postgres', $sql); }

# Polls $sql until it returns $want (or the timeout); returns the last value.
sub wait_for
{
	my ($sql, $want, $timeout, $db) = @_;
	$timeout //= 60;
	my $t0 = time();
	my $got;
	while (time() - $t0 < $timeout)
	{
		$got = $node->safe_psql($db // 'postgres', $sql);
		return $got if $got eq $want;
		sleep 0.2;
	}
	return $got;
}

# Number of messages in a topic (0 when it does not exist yet).
sub topic_count
{
	my ($topic, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT CASE WHEN EXISTS (SELECT 1 FROM kafka.topics('kafka') WHERE topic = '$topic') "
		  . "THEN (SELECT count(*) FROM kafka.consume('kafka', '$topic')) ELSE 0 END");
}

sub wait_count
{
	my ($topic, $n, $db) = @_;
	my $t0 = time();
	my $got;
	while (time() - $t0 < 60)
	{
		$got = topic_count($topic, $db);
		return $got if $got >= $n;
		sleep 0.3;
	}
	return $got;
}

# Events of a topic as a temp-table-like query: (p, o, k, v jsonb, h jsonb).
sub events_sql
{
	my ($topic) = @_;
	return "(SELECT partition AS p, \"offset\" AS o, convert_from(key, 'UTF8') AS k, "
	  . "convert_from(value, 'UTF8')::jsonb AS v, headers AS h, ts FROM kafka.consume('kafka', '$topic')) e";
}

# ---------------------------------------------------------------------------
# Not preloaded: a clear ERROR with a HINT.
{
	my $plain = PostgreSQL::Test::Cluster->new('plain');
	$plain->init;
	$plain->append_conf('postgresql.conf', "wal_level = logical\n");
	$plain->start;
	my $b = brokers();
	$plain->safe_psql('postgres',
		"CREATE EXTENSION kafka_fdw; CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$b');"
		  . "CREATE TABLE x (id int primary key); CREATE PUBLICATION p FOR TABLE x;");
	my ($rc, $out, $err) = $plain->psql('postgres', "SELECT kafka.create_pipeline('p', 'kafka', 'p')",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($rc, 0, 'create_pipeline fails without shared_preload_libraries');
	like($err, qr/shared_preload_libraries/, 'the error names shared_preload_libraries');
	like($err, qr/HINT:.*restart/, 'with a HINT');
	is($plain->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', 'and leaves no slot');
	$plain->stop;
}

# ---------------------------------------------------------------------------
# Events of every type equal row_to_json; deletes, key changes, truncate.
my $p = "r$run";
sq(qq{
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE typed (
  id int PRIMARY KEY, n numeric, i8 bigint, f4 real, f8 float8, b bool, t text, vc varchar(10),
  ts timestamp, tz timestamptz, d date, tm time, iv interval, j json, jb jsonb, ba bytea,
  arr int[], tarr text[], m mood, dom posint, c pair, u uuid, inet inet, money money, bits bit(3));
CREATE TABLE other (id int PRIMARY KEY, name text);
CREATE PUBLICATION pub_all FOR TABLE typed, other;
SELECT kafka.create_pipeline('$p', 'kafka', 'pub_all', '{"partitions": 2}');
});
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$p'", 'running'),
	'running', 'the pipeline runs');
is(sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name = (SELECT slot_name FROM kafka.pipelines WHERE name = '$p') AND plugin = 'pgoutput'"),
	'1', 'it has a pgoutput slot');

sq(q{
INSERT INTO typed VALUES
 (1, 1.50, 9007199254740993, 1.5, 'NaN', true, E'quote " backslash \\ newline \n tab \t uni é ☃', 'abc',
  '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+02', '2024-02-29', '12:00', '1 day 2 hours',
  '{"x": [1, 2, {"y": null}]}', '{"b": 2, "a": 1}', '\x00ff10', '{1,NULL,3}', '{"a b","c\"d"}', 'happy', 5,
  ROW(1, 'x"y'), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '10.0.0.1/8', 12.34, B'101'),
 (2, 'Infinity', -1, '-Infinity', 1e300, false, '', NULL, 'infinity', '-infinity', 'infinity', NULL, NULL,
  'null', '[]', '', '{}', '{}', 'sad', 1, ROW(NULL, NULL), NULL, NULL, NULL, NULL),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL);
});
my $topic = "$p.public.typed";
is(wait_count($topic, 3), 3, 'three inserts, three events');
is(sq("SELECT count(*) FROM " . events_sql($topic) . " JOIN typed src ON e.k::jsonb = jsonb_build_object('id', src.id) "
	  . "WHERE e.v = row_to_json(src)::jsonb"), '3',
	'every value equals row_to_json of the row (numeric, float specials, text escapes, timestamps, json, bytea, arrays, enum, domain, composite, uuid, inet, money, bit)');
is(sq("SELECT string_agg(k, ' ' ORDER BY k) FROM " . events_sql($topic)),
	'{"id":1} {"id":2} {"id":3}', 'keys are the primary key as a JSON object');
is(sq("SELECT count(*) FROM " . events_sql($topic) . " WHERE h ?& array['op','lsn','xid','table','commit_ts'] "
	  . "AND h->>'op' = 'c' AND h->>'table' = 'public.typed' AND (h->>'lsn')::pg_lsn > '0/0' "
	  . "AND abs(extract(epoch FROM (h->>'commit_ts')::timestamptz - e.ts)) < 0.002"), '3',
	'headers op, lsn, xid, table, commit_ts; the message timestamp is the commit time');

# Keys land where Java clients put them (murmur2): on the partition that the
# foreign table's producer (checked against Kafka's Java producer in
# test/interop/murmur2_java.sh) picks for the same key bytes.  The worker asks
# for the topic's metadata before its first message; librdkafka then made the
# topic's handle with its own default partitioner (crc32) and ignored ours.
sq(qq{
CREATE TABLE keyspread (id int PRIMARY KEY);
ALTER PUBLICATION pub_all ADD TABLE keyspread;
INSERT INTO keyspread SELECT generate_series(1, 200);
SELECT kafka.create_topic('kafka', 'fdwkeys$run', 2);
CREATE FOREIGN TABLE fdwkeys (part int OPTIONS (partition 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'fdwkeys$run', format 'text');
});
is(wait_count("$p.public.keyspread", 200), 200, '200 keyed events');
sq("INSERT INTO fdwkeys (k, v) SELECT k, 'v' FROM " . events_sql("$p.public.keyspread"));
is(sq("SELECT count(*) || ' ' || count(*) FILTER (WHERE e.p = f.p) || ' ' || count(DISTINCT e.p) FROM "
	  . events_sql("$p.public.keyspread")
	  . " JOIN (SELECT partition AS p, convert_from(key, 'UTF8') AS k FROM kafka.consume('kafka', 'fdwkeys$run')) f USING (k)"),
	'200 200 2', "each event's partition is murmur2's for its key (as the Java-compatible producer of INSERT puts it)");

# Batches are lz4-compressed unless the server says otherwise (read from the
# broker's own log segments).
my ($codecs_rc, $codecs) = broker_ctl('codecs', $topic);
like($codecs, qr/^lz4 \d+$/, "the pipeline's batches are stored lz4-compressed ($codecs)")
  or diag "kafka_broker.sh codecs $topic: exit $codecs_rc";
my $pn = "nocomp$run";
sq("CREATE SERVER kafka_nocomp FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '" . brokers() . "', \"compression.type\" 'none');
    CREATE USER MAPPING FOR PUBLIC SERVER kafka_nocomp;
    CREATE TABLE nocomp (id int PRIMARY KEY); CREATE PUBLICATION pub_nocomp FOR TABLE nocomp;
    SELECT kafka.create_pipeline('$pn', 'kafka_nocomp', 'pub_nocomp');");
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$pn'", 'running'), 'running', 'a pipeline on a server with compression.type none runs');
sq('INSERT INTO nocomp SELECT generate_series(1, 10)');
is(wait_count("$pn.public.nocomp", 10), 10, 'and delivers');
($codecs_rc, $codecs) = broker_ctl('codecs', "$pn.public.nocomp");
like($codecs, qr/^none \d+$/, "the server's compression.type wins ($codecs)")
  or diag "kafka_broker.sh codecs $pn.public.nocomp: exit $codecs_rc";
sq("SELECT kafka.drop_pipeline('$pn')");

sq(q{
UPDATE typed SET t = 'changed' WHERE id = 1;
DELETE FROM typed WHERE id = 2;
UPDATE typed SET id = 30 WHERE id = 3;
INSERT INTO other VALUES (1, 'a'), (2, 'b');
TRUNCATE other;
});
is(wait_count($topic, 7), 7, 'update, delete and key change give 4 more events');
is(sq("SELECT string_agg(k || ' ' || CASE WHEN v IS NULL THEN 'NULL' ELSE coalesce(v->>'t', 'null') END || ' ' || (h->>'op'), ' | ' ORDER BY (h->>'lsn')::pg_lsn, v IS NOT NULL) "
	  . "FROM " . events_sql($topic) . " WHERE o >= 0 AND (h->>'op') <> 'c'"),
	q({"id":1} changed u | {"id":2} NULL d | {"id":3} NULL d | {"id":30} null u),
	'update = new row; delete = tombstone; key change = tombstone of the old key, then the new row')
  or diag sq("SELECT * FROM " . events_sql($topic));
is(sq("SELECT count(DISTINCT p) FROM " . events_sql($topic) . " WHERE k = '{\"id\":1}'"), '1',
	"one key's events stay in one partition");
is(wait_count("$p.public.other", 3), 3, 'truncate: one more event');
is(sq("SELECT coalesce(k, 'NULL') || ' ' || v::text || ' ' || (h->>'op') FROM " . events_sql("$p.public.other")
	  . " WHERE h->>'op' = 't'"), 'NULL {} t', 'truncate: NULL key, value {} and op t');

# ---------------------------------------------------------------------------
# Schema changes mid-stream show in the next events.
sq(q{
ALTER TABLE other ADD COLUMN extra int DEFAULT 7;
INSERT INTO other VALUES (10, 'x');
ALTER TABLE other RENAME COLUMN name TO label;
INSERT INTO other VALUES (11, 'y');
ALTER TABLE other ALTER COLUMN extra TYPE text USING extra::text;
INSERT INTO other VALUES (12, 'z', 'seven');
ALTER TABLE other DROP COLUMN extra;
INSERT INTO other VALUES (13, 'w');
});
is(wait_count("$p.public.other", 7), 7, 'four events after four schema changes');
is(sq("SELECT string_agg(v::text, ' ' ORDER BY (v->>'id')::int) FROM " . events_sql("$p.public.other")
	  . " WHERE (v->>'id')::int >= 10"),
	'{"id": 10, "name": "x", "extra": 7} {"id": 11, "extra": 7, "label": "y"} {"id": 12, "extra": "seven", "label": "z"} {"id": 13, "label": "w"}',
	'ADD, RENAME, ALTER TYPE and DROP COLUMN show in the next events, without a restart');

# ---------------------------------------------------------------------------
# Row filters and column lists, compared with a pgoutput slot on the same
# publication and workload.
my $pf = "f$run";
sq(qq{
CREATE TABLE filt (id int PRIMARY KEY, a text, secret text, n int);
CREATE PUBLICATION pub_filt FOR TABLE filt (id, a, n) WHERE (id > 10) WITH (publish = 'insert, update, delete');
SELECT 'cmp' FROM pg_create_logical_replication_slot('cmp_$run', 'pgoutput');
SELECT kafka.create_pipeline('$pf', 'kafka', 'pub_filt');
});
wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$pf'", 'running');
sq(q{
INSERT INTO filt SELECT g, 'a' || g, 's' || g, g FROM generate_series(1, 20) g;
UPDATE filt SET id = id + 100 WHERE id BETWEEN 6 AND 10;  -- move into the filter: inserts for pgoutput
UPDATE filt SET a = 'updated' WHERE id BETWEEN 11 AND 15;  -- stay in: updates
UPDATE filt SET id = id - 100 WHERE id IN (18, 19);       -- leave the filter: deletes for pgoutput
DELETE FROM filt WHERE id IN (3, 20);
TRUNCATE filt;                                          -- not published (publish has no truncate)
});
my $pg = sq("SELECT string_agg(chr(get_byte(data, 0)), '' ORDER BY lsn) FROM pg_logical_slot_peek_binary_changes('cmp_$run', NULL, NULL, 'proto_version', '1', 'publication_names', 'pub_filt') WHERE chr(get_byte(data, 0)) IN ('I', 'U', 'D', 'T')");
my %pgcount;
$pgcount{$_}++ for split //, $pg;
my $want = ($pgcount{I} // 0) + ($pgcount{U} // 0) + ($pgcount{D} // 0) + ($pgcount{T} // 0);
ok($want > 0, "pgoutput sent $want changes (I=" . ($pgcount{I} // 0) . " U=" . ($pgcount{U} // 0) . " D=" . ($pgcount{D} // 0) . " T=" . ($pgcount{T} // 0) . ")");
is(wait_count("$pf.public.filt", $want), $want, 'the pipeline sent as many events as pgoutput sent changes');
is(sq("SELECT count(*) FILTER (WHERE h->>'op' = 'c') || ' ' || count(*) FILTER (WHERE h->>'op' = 'u') || ' ' || count(*) FILTER (WHERE h->>'op' = 'd') FROM " . events_sql("$pf.public.filt")),
	($pgcount{I} // 0) . ' ' . ($pgcount{U} // 0) . ' ' . ($pgcount{D} // 0),
	'inserts, updates and deletes as pgoutput (row filter: an UPDATE into the filter is an insert, out of it a delete)');
is(sq("SELECT count(*) FROM " . events_sql("$pf.public.filt") . " WHERE v IS NOT NULL AND (SELECT array_agg(x ORDER BY x) FROM jsonb_object_keys(v) x) <> '{a,id,n}'"),
	'0', 'only the published columns (the column list leaves out secret)');
is(sq("SELECT count(*) FROM " . events_sql("$pf.public.filt") . " WHERE v IS NOT NULL AND (v->>'id')::int <= 10"),
	'0', 'no row outside the row filter');
sq("SELECT pg_drop_replication_slot('cmp_$run')");

# ---------------------------------------------------------------------------
# Unchanged TOASTed values.
sq(q{
CREATE TABLE big (id int PRIMARY KEY, n int, doc text);
ALTER TABLE big ALTER COLUMN doc SET STORAGE EXTERNAL;
CREATE TABLE bigfull (id int PRIMARY KEY, n int, doc text);
ALTER TABLE bigfull ALTER COLUMN doc SET STORAGE EXTERNAL;
ALTER TABLE bigfull REPLICA IDENTITY FULL;
ALTER PUBLICATION pub_all ADD TABLE big, bigfull;
INSERT INTO big VALUES (1, 1, repeat('x', 100000));
INSERT INTO bigfull VALUES (1, 1, repeat('y', 100000));
UPDATE big SET n = 2;
UPDATE bigfull SET n = 2;
});
is(wait_count("$p.public.big", 2), 2, 'TOAST table: insert and update');
is(sq("SELECT (v->>'doc') || ' ' || (h->>'unchanged_toast') FROM " . events_sql("$p.public.big") . " WHERE h->>'op' = 'u'"),
	'__kafka_fdw_unchanged_toast__ doc',
	'an unchanged TOASTed value is the documented placeholder, listed in header unchanged_toast');
is(wait_count("$p.public.bigfull", 2), 2, 'REPLICA IDENTITY FULL table: insert and update');
is(sq("SELECT length(v->>'doc') || ' ' || (v->>'n') || ' ' || (h ? 'unchanged_toast')::text || ' ' || k FROM " . events_sql("$p.public.bigfull") . " WHERE h->>'op' = 'u'"),
	'100000 2 false {"id":1}',
	'with REPLICA IDENTITY FULL the value is complete (and the key is still the primary key)');

# ---------------------------------------------------------------------------
# Pause, resume; a second pipeline on the same publication; status.
my $p2 = "s$run";
sq("SELECT kafka.create_pipeline('$p2', 'kafka', 'pub_all', '{\"topic_prefix\": \"second$run\"}')");
is(wait_for("SELECT string_agg(state, ',' ORDER BY name) FROM kafka.pipeline_status WHERE name IN ('$p', '$p2')", 'running,running'),
	'running,running', 'two pipelines on one database');
sq("SELECT kafka.pause_pipeline('$p')");
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$p'", 'paused'), 'paused', 'pause_pipeline: paused');
my $before = topic_count("$p.public.other");
sq("INSERT INTO other VALUES (100, 'while paused')");
is(wait_count("second$run.public.other", 1), 1, 'the second pipeline (topic_prefix) sends the change');
sleep 2;
is(topic_count("$p.public.other"), $before, 'the paused pipeline does not');
sq("SELECT kafka.resume_pipeline('$p')");
is(wait_count("$p.public.other", $before + 1), $before + 1, 'resume_pipeline: the change made while paused arrives');
is(sq("SELECT state || ' ' || (worker_pid > 0) || ' ' || (events_sent > 0) || ' ' || (last_event_at IS NOT NULL) || ' ' || (confirmed_lsn IS NOT NULL) || ' ' || (lag_bytes >= 0) || ' ' || database || ' ' || server || ' ' || publication FROM kafka.pipeline_status WHERE name = '$p'"),
	'running true true true true true postgres kafka pub_all', 'pipeline_status columns');

# ---------------------------------------------------------------------------
# Idle published tables do not hold WAL: write only an unpublished table.
sq("CREATE TABLE unpublished (id int, pad text)");
my $lsn0 = sq("SELECT pg_current_wal_lsn()");
sq("INSERT INTO unpublished SELECT g, repeat('p', 500) FROM generate_series(1, 40000) g");
my $lsn1 = sq("SELECT pg_current_wal_lsn()");
my $mb = sq("SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / 1048576)");
is(wait_for("SELECT confirmed_lsn >= '$lsn1' FROM kafka.pipeline_status WHERE name = '$p'", 't'), 't',
	"the slot's confirmed position passes $mb MB of WAL written only to an unpublished table");
is(wait_for("SELECT restart_lsn > '$lsn0' FROM pg_replication_slots WHERE slot_name = (SELECT slot_name FROM kafka.pipelines WHERE name = '$p')", 't', 60),
	't', 'and its restart_lsn moves past it too (WAL is released)');

# ---------------------------------------------------------------------------
# Permissions.
sq(q{
CREATE ROLE plain_user LOGIN;
CREATE ROLE repl_user LOGIN REPLICATION;
CREATE ROLE repl_other LOGIN REPLICATION;
GRANT USAGE ON FOREIGN SERVER kafka TO repl_user, repl_other, plain_user;
GRANT USAGE ON SCHEMA kafka TO plain_user, repl_user, repl_other;
-- a pipeline's owner owns its publication and may read its tables
CREATE PUBLICATION pub_repl FOR TABLE other;
ALTER PUBLICATION pub_repl OWNER TO repl_user;
GRANT SELECT ON other TO repl_user;
});
my ($rc, $out, $err) = $node->psql('postgres', "SET ROLE plain_user; SELECT kafka.create_pipeline('nope', 'kafka', 'pub_all')");
like($err, qr/permission denied to create a pipeline/, 'a role without REPLICATION cannot create a pipeline');
my $po = "o$run";
($rc, $out, $err) = $node->psql('postgres', "SET ROLE repl_user; SELECT kafka.create_pipeline('$po', 'kafka', 'pub_repl')");
is($rc, 0, 'a REPLICATION role can') or diag $err;
($rc, $out, $err) = $node->psql('postgres', "SET ROLE repl_other; SELECT kafka.pause_pipeline('$po')");
like($err, qr/permission denied to manage pipeline/, 'another REPLICATION role cannot pause it');
($rc, $out, $err) = $node->psql('postgres', "SET ROLE repl_other; SELECT kafka.drop_pipeline('$po')");
like($err, qr/permission denied to manage pipeline/, 'nor drop it');
($rc, $out, $err) = $node->psql('postgres', "SET ROLE repl_user; SELECT kafka.drop_pipeline('$po')");
is($rc, 0, 'its owner can drop it') or diag $err;
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_pipeline('Bad Name', 'kafka', 'pub_all')");
like($err, qr/invalid pipeline name/, 'bad pipeline name');
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_pipeline('x$run', 'kafka', 'no_such_pub')");
like($err, qr/publication "no_such_pub" does not exist/, 'unknown publication');
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_pipeline('x$run', 'kafka', 'pub_all', '{\"bogus\": 1}')");
like($err, qr/unknown pipeline option "bogus"/, 'unknown option');
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_pipeline('x$run', 'kafka', 'pub_all', '{\"format\": \"avro\"}')");
like($err, qr/pipeline option "format" must be "row" or "debezium"/, 'unknown format');
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_pipeline('x$run', 'kafka', 'pub_all', '{\"schemas\": false}')");
like($err, qr/pipeline option "schemas" applies to "format": "debezium" only/, 'schemas without the debezium format');
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_pipeline('$p', 'kafka', 'pub_all')");
like($err, qr/already exists/, 'duplicate name');

# "failover" (PostgreSQL 17+): the pipeline's slot is a failover slot, which
# standbys synchronize (sync_replication_slots), also the slot that the
# initial snapshot makes again; before 17 the option is refused.
sq(q{CREATE TABLE fo_t (id int PRIMARY KEY); INSERT INTO fo_t VALUES (1), (2);
CREATE PUBLICATION pub_fo FOR TABLE fo_t;});
my ($pfo, $pfs) = ("fo$run", "fos$run");
sub slot_failover
{
	my ($name) = @_;
	return sq("SELECT s.failover FROM pg_replication_slots s JOIN kafka.pipelines p USING (slot_name) "
		  . "WHERE p.name = '$name'");
}
if (sq('SHOW server_version_num') >= 170000)
{
	sq("SELECT kafka.create_pipeline('$pfo', 'kafka', 'pub_fo', '{\"failover\": true}');
	    SELECT kafka.create_pipeline('$pfs', 'kafka', 'pub_fo', '{\"failover\": true, \"snapshot\": true}')");
	is(slot_failover($pfo), 't', 'failover: the slot is a failover slot');
	is(wait_for("SELECT snapshot FROM kafka.pipelines WHERE name = '$pfs'", 'done'), 'done',
		'failover with an initial snapshot: done');
	is(slot_failover($pfs), 't', 'the slot the initial snapshot made is a failover slot too');
	is(slot_failover($p), 'f', 'a pipeline without the option: not a failover slot');

	# synchronized_standby_slots names a standby's physical slot: a failover
	# pipeline sends nothing that standby has not confirmed (as a walsender
	# holds a failover slot back); the other pipeline does not wait.
	sq("SELECT pg_create_physical_replication_slot('sb_$run')");
	sq("ALTER SYSTEM SET synchronized_standby_slots = 'sb_$run'; SELECT pg_reload_conf()");
	sleep 1;
	my $pnf = "fonf$run";
	sq("SELECT kafka.create_pipeline('$pnf', 'kafka', 'pub_fo')");
	is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$pnf'", 'running'), 'running',
		'a pipeline without failover on the same publication runs');
	sq("INSERT INTO fo_t VALUES (3)");
	is(wait_count("$pnf.public.fo_t", 1), 1, 'the pipeline without failover sends the change');
	sleep 5;
	is(topic_count("$pfo.public.fo_t"), '0',
		'a failover pipeline holds back a change the standby has not confirmed (5 s later)');
	sq("ALTER SYSTEM RESET synchronized_standby_slots; SELECT pg_reload_conf()");
	is(wait_count("$pfo.public.fo_t", 1), '1', 'and sends it once the standby is no longer waited for');
	sq("SELECT pg_drop_replication_slot('sb_$run')");
	sq("SELECT kafka.drop_pipeline('$pfo'); SELECT kafka.drop_pipeline('$pfs'); SELECT kafka.drop_pipeline('$pnf')");
}
else
{
	($rc, $out, $err) = $node->psql('postgres',
		"SELECT kafka.create_pipeline('$pfo', 'kafka', 'pub_fo', '{\"failover\": true}')");
	like($err, qr/pipeline option "failover" needs PostgreSQL 17 or later/, 'failover: refused before 17');
	is(sq("SELECT count(*) FROM kafka.pipelines WHERE name = '$pfo'"), '0', 'and no pipeline is made');
	sq("SELECT kafka.create_pipeline('$pfo', 'kafka', 'pub_fo', '{\"failover\": false}')");
	is(sq("SELECT count(*) FROM pg_replication_slots s JOIN kafka.pipelines p USING (slot_name) WHERE p.name = '$pfo'"),
		'1', 'failover false: accepted');
	sq("SELECT kafka.drop_pipeline('$pfo')");
}
($rc, $out, $err) = $node->psql('postgres', "BEGIN; SELECT kafka.create_pipeline('y$run', 'kafka', 'pub_all'); ROLLBACK;");
is(sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%y$run'"), '0',
	'a create_pipeline rolled back leaves no slot');

# ---------------------------------------------------------------------------
# Pipelines in a second database.
sq("CREATE DATABASE other_db");
my $b = brokers();
sq(qq{
CREATE EXTENSION kafka_fdw; CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$b');
CREATE TABLE other (id int PRIMARY KEY, name text); CREATE PUBLICATION pub_all FOR TABLE other;
SELECT kafka.create_pipeline('$p', 'kafka', 'pub_all', '{"topic_prefix": "db2$run"}');
INSERT INTO other VALUES (1, 'from db2');
}, 'other_db');
is(wait_count("db2$run.public.other", 1, 'other_db'), 1, 'a pipeline of the same name in another database works');
is(sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'kafka_fdw_%_$p'"), '2', 'each with its own slot');

# ---------------------------------------------------------------------------
# A large transaction (spills to disk), with the worker's peak memory.
sq("CREATE TABLE bulk (id int PRIMARY KEY, v text); ALTER PUBLICATION pub_all ADD TABLE bulk;");
my $pid = sq("SELECT worker_pid FROM kafka.pipeline_status WHERE name = '$p'");
# One transaction of 1M rows (~140 MB of keys, values and headers): decoding
# spills to disk at logical_decoding_work_mem and the produce queue holds 100k
# messages, so the worker's peak RSS stays far below what holding the
# transaction would take.
my $bulk_lsn = sq("INSERT INTO bulk SELECT g, md5(g::text) FROM generate_series(1, 1000000) g; SELECT pg_current_wal_lsn()");
is(wait_for("SELECT confirmed_lsn >= '$bulk_lsn' FROM kafka.pipeline_status WHERE name = '$p'", 't', 300), 't',
	'a 1M-row transaction is acknowledged');
# (counted by a read_committed scan: the offsets also hold the transaction
# markers of the exactly-once pipeline)
sq("CREATE FOREIGN TABLE bulk_topic (v text) SERVER kafka OPTIONS (topic '$p.public.bulk', format 'text')");
is(sq("SELECT count(*) || ' ' || (SELECT worker_pid FROM kafka.pipeline_status WHERE name = '$p') FROM bulk_topic"),
	"1000000 $pid", 'it arrives whole, by the same worker (no restart, so no re-sent transaction)');
my $hwm = `grep VmHWM /proc/$pid/status 2>/dev/null`;
$hwm =~ s/\s+/ /g;
note "worker peak RSS after the 1M-row transaction: $hwm";
ok($hwm =~ /(\d+) kB/ && $1 < 250 * 1024, "the worker's peak RSS stays bounded ($hwm)");

# ---------------------------------------------------------------------------
# Initial snapshot ("snapshot": true): the rows that exist when the pipeline
# starts (op r), then the changes, with no gap and no change twice.
sq(q{CREATE TABLE snap (id int PRIMARY KEY, v text, secret text);
INSERT INTO snap SELECT g, 'v' || g, 's' || g FROM generate_series(1, 3000) g;
CREATE PUBLICATION pub_snap FOR TABLE snap;
CREATE PUBLICATION pub_snapf FOR TABLE snap (id, v) WHERE (id % 2 = 0);});
my ($ps, $pd) = ("snap$run", "snapd$run");
$pf = "snapf$run";    # (the filter test above is done with its $pf)
sq("SELECT kafka.create_pipeline('$ps', 'kafka', 'pub_snap', '{\"snapshot\": true}');
    SELECT kafka.create_pipeline('$pf', 'kafka', 'pub_snapf', '{\"snapshot\": true}');
    SELECT kafka.create_pipeline('$pd', 'kafka', 'pub_snap', '{\"snapshot\": true, \"format\": \"debezium\", \"schemas\": false}');");
# changes while the snapshots are being taken (before or after their points)
sq("UPDATE snap SET v = 'changed' WHERE id <= 10; DELETE FROM snap WHERE id > 2990;
    INSERT INTO snap VALUES (3001, 'new', 's'); UPDATE snap SET v = 'changed again' WHERE id = 2;");
is(wait_for("SELECT string_agg(snapshot, ',' ORDER BY name) FROM kafka.pipelines WHERE name IN ('$ps', '$pf', '$pd')",
		'done,done,done'), 'done,done,done', 'the initial snapshots are done (every event acknowledged)');
sub snap_events
{
	my ($topic) = @_;
	return "(SELECT partition AS p, \"offset\" AS o, convert_from(key, 'UTF8')::jsonb AS k, "
	  . "convert_from(value, 'UTF8')::jsonb AS v, headers->>'op' AS op FROM kafka.consume('kafka', '$topic'))";
}
sub replay_diff
{
	my ($topic, $table_sql) = @_;
	my $e = snap_events($topic);
	return "WITH e AS (SELECT * FROM $e e), last AS (SELECT DISTINCT ON (k) k, v FROM e ORDER BY k, p, o DESC),
	  t AS ($table_sql) SELECT count(*) FROM ((SELECT v FROM last WHERE v IS NOT NULL EXCEPT SELECT * FROM t)
	  UNION ALL (SELECT * FROM t EXCEPT SELECT v FROM last WHERE v IS NOT NULL)) d";
}
is(wait_for(replay_diff("$ps.public.snap", 'SELECT row_to_json(s)::jsonb FROM snap s'), '0'), '0',
	'snapshot + changes replay to the table exactly');
my $ev = snap_events("$ps.public.snap");
is(sq("WITH ev AS $ev SELECT count(*) FILTER (WHERE op = 'r') BETWEEN 2990 AND 3000,
         count(*) FILTER (WHERE op = 'r' AND EXISTS (SELECT 1 FROM ev e2 WHERE e2.k = e.k AND e2.p = e.p AND e2.o < e.o)),
         (SELECT count(*) FROM (SELECT k FROM ev WHERE op = 'r' GROUP BY k HAVING count(*) > 1) d)
       FROM ev e"), 't|0|0', "one op r event per existing row, each before its row's changes");
is(wait_for(replay_diff("$pf.public.snap", "SELECT json_build_object('id', id, 'v', v)::jsonb FROM snap WHERE id % 2 = 0"), '0'),
	'0', "the snapshot honours the publication's row filter and column list");
is(sq("SELECT count(*) FROM " . snap_events("$pf.public.snap") . " e WHERE op = 'r' AND (v ? 'secret' OR (k->>'id')::int % 2 <> 0)"),
	'0', 'no filtered row or column in the snapshot');
is(wait_for("SELECT count(*) > 0 AND bool_and(v->>'op' = 'r' AND v->'source'->>'snapshot' = 'true' AND v->'after' ? 'secret')
	  FROM " . snap_events("$pd.public.snap") . " e WHERE op = 'r'", 't'),
	't', 'debezium format: snapshot events have op "r" and source.snapshot "true"');
sq("SELECT kafka.drop_pipeline(n) FROM unnest(ARRAY['$ps', '$pf', '$pd']) n");

# A snapshot that cannot finish (the broker is paused: its worker made the
# slot, then waits for Kafka) is stopped by a pause and done again on resume,
# with the rows changed meanwhile: nothing missing, nothing out of order.
my $pr = "snapr$run";
sq("CREATE TABLE snap2 (id int PRIMARY KEY, v text);
    INSERT INTO snap2 SELECT g, 'v' || g FROM generate_series(1, 2000) g;
    CREATE PUBLICATION pub_snap2 FOR TABLE snap2;");
my ($brc, $bout) = broker_pause();
is($brc, 0, 'the broker is paused') or diag "kafka_broker.sh pause: $bout";
sq("SELECT kafka.create_pipeline('$pr', 'kafka', 'pub_snap2', '{\"snapshot\": true}')");
is(wait_for("SELECT state || ' ' || (SELECT snapshot FROM kafka.pipelines WHERE name = '$pr')
	  FROM kafka.pipeline_status WHERE name = '$pr'", 'retrying pending', 30),
	'retrying pending', 'with the broker paused the snapshot waits (retrying, pending)');
is(sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'kafka_fdw_%_$pr'"), '1',
	'meanwhile the pipeline has its slot');
sq("SELECT kafka.pause_pipeline('$pr')");
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$pr'", 'paused', 30), 'paused',
	'a pipeline paused during its snapshot stops');
sq("UPDATE snap2 SET v = 'while paused' WHERE id <= 100; DELETE FROM snap2 WHERE id > 1900;");
($brc, $bout) = broker_resume();
is($brc, 0, 'the broker is resumed') or diag "kafka_broker.sh resume: $bout";
ok(wait_for_broker($node, 60), 'the broker answers again');
sq("SELECT kafka.resume_pipeline('$pr')");
is(wait_for("SELECT snapshot FROM kafka.pipelines WHERE name = '$pr'", 'done', 90), 'done',
	'on resume the snapshot is done again, to the end');
sq("UPDATE snap2 SET v = 'after' WHERE id = 1");
is(wait_for(replay_diff("$pr.public.snap2", 'SELECT row_to_json(s)::jsonb FROM snap2 s'), '0'), '0',
	'snapshot + changes replay to the table exactly');
is(sq("WITH ev AS " . snap_events("$pr.public.snap2") . " SELECT count(*) FILTER (WHERE op = 'r'),
	  count(*) FILTER (WHERE op = 'r' AND v->>'v' = 'while paused')  FROM ev"), '1900|100',
	'the snapshot holds the rows as they were when it was (re)taken');
sq("SELECT kafka.drop_pipeline('$pr')");

# A pause that comes while the snapshot is under way (here its worker waits
# for a lock on the table it reads) stops it before its next batch: nothing
# is sent once pause_pipeline committed, and pipeline_status says paused only
# once the worker stopped (a pause used to show at once, and the worker sent
# a batch after it).  The lock is taken while the worker waits for the
# paused broker, after its slot and snapshot were made (LOCK TABLE takes an
# xid, which a slot being made would wait for).
my $pl = "snapl$run";
sq("CREATE TABLE snap3 (id int PRIMARY KEY, v text);
    INSERT INTO snap3 SELECT g, 'v' || g FROM generate_series(1, 3000) g;
    CREATE PUBLICATION pub_snap3 FOR TABLE snap3;");
($brc, $bout) = broker_pause();
is($brc, 0, 'the broker is paused') or diag "kafka_broker.sh pause: $bout";
sq("SELECT kafka.create_pipeline('$pl', 'kafka', 'pub_snap3', '{\"snapshot\": true}')");
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$pl'", 'retrying', 30), 'retrying',
	'the snapshot waits for the broker');
my $locker = KafkaTest::Session->new($node, 'kfdw_snap_lock');
$locker->query('BEGIN; LOCK TABLE snap3 IN ACCESS EXCLUSIVE MODE;');
($brc, $bout) = broker_resume();
is($brc, 0, 'the broker is resumed') or diag "kafka_broker.sh resume: $bout";
is(wait_for("SELECT count(*) FROM pg_locks l JOIN kafka.pipeline_status s ON s.worker_pid = l.pid
	  WHERE s.name = '$pl' AND l.relation = 'snap3'::regclass AND NOT l.granted", '1', 90),
	'1', 'then it waits for a lock on its table');
is(sq("SELECT current_table || ' ' || tables_done || '/' || tables_total || ' ' || rows_sent || ' ' || (started_at IS NOT NULL)
	  FROM kafka.snapshot_progress WHERE pipeline = '$pl'"), 'public.snap3 0/1 0 true',
	'kafka.snapshot_progress: the table being read, 0 of 1 tables done, no row sent yet');
sq("SELECT kafka.pause_pipeline('$pl')");
is(sq("SELECT state FROM kafka.pipeline_status WHERE name = '$pl'"), 'running',
	'paused but its worker still runs: pipeline_status does not say paused yet');
$locker->query('COMMIT;');
$locker->close;
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$pl'", 'paused', 30), 'paused',
	'it says paused once the worker stopped');
is(sq("SELECT events_sent FROM kafka.pipeline_status WHERE name = '$pl'"), '0',
	'its worker queued no snapshot event after pause_pipeline');
is(topic_count("$pl.public.snap3"), 0, 'nothing of the snapshot is in the topic');
sq("SELECT kafka.resume_pipeline('$pl')");
is(wait_for("SELECT snapshot FROM kafka.pipelines WHERE name = '$pl'", 'done', 90), 'done',
	'on resume the snapshot is done');
is(sq("WITH ev AS " . snap_events("$pl.public.snap3") . " SELECT count(*) FILTER (WHERE op = 'r'),
	  count(DISTINCT k) FROM ev"), '3000|3000', 'each row once');
is(sq("SELECT count(*) FROM kafka.snapshot_progress WHERE pipeline = '$pl'"), '0',
	'kafka.snapshot_progress: no row once the snapshot is done');
sq("SELECT kafka.drop_pipeline('$pl')");

# The snapshot starts the pipeline's slot anew (WAL from now, a new
# consistent point) without ever dropping it: a worker stopped while the
# slot waits for running transactions (an open transaction with an xid) used
# to leave no slot at all (the new one was ephemeral until its consistent
# point), and the launcher, which finds pipelines by their slots, never
# started it again.  Here: a worker terminated in that window, then an
# immediate shutdown in it; each time the slot is still there, and the
# snapshot is done once the transaction ends, every row once.
my $pw = "snapw$run";
sq("CREATE TABLE snap4 (id int PRIMARY KEY, v text);
    INSERT INTO snap4 SELECT g, 'v' || g FROM generate_series(1, 500) g;
    CREATE PUBLICATION pub_snap4 FOR TABLE snap4;");
my $slot_sql = "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'kafka_fdw_%_$pw'";
my $window_sql = "SELECT count(*) FROM pg_locks l JOIN kafka.pipeline_status s ON s.worker_pid = l.pid
	  WHERE s.name = '$pw' AND l.locktype = 'transactionid' AND NOT l.granted";
# (create_pipeline's own slot waits for running transactions too: the
# transaction with an xid starts once that slot exists, before the pipeline
# is committed, so that its worker starts after it)
my $creator = KafkaTest::Session->new($node, 'kfdw_snap_window_create');
$creator->query("BEGIN; SELECT kafka.create_pipeline('$pw', 'kafka', 'pub_snap4', '{\"snapshot\": true}');");
my $blocker = KafkaTest::Session->new($node, 'kfdw_snap_window');
$blocker->query('BEGIN; SELECT pg_catalog.txid_current();');
$creator->query('COMMIT;');
$creator->close;
is(wait_for($window_sql, '1', 60), '1', 'the snapshot waits for a running transaction (its slot has no consistent point yet)');
my $wpid = sq("SELECT worker_pid FROM kafka.pipeline_status WHERE name = '$pw'");
sq("SELECT pg_terminate_backend($wpid)");
is(wait_for("SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid", '0', 30), '0', 'its worker is terminated in that window');
is(sq($slot_sql), '1', 'the pipeline still has its slot');
is(wait_for($window_sql, '1', 60), '1', 'the launcher starts it again: the snapshot waits again');
$node->stop('immediate');
$blocker->close;    # its transaction ended with the node
$node->start;
is(sq($slot_sql), '1', 'after an immediate shutdown in that window the slot is still there');
is(wait_for("SELECT snapshot FROM kafka.pipelines WHERE name = '$pw'", 'done', 90), 'done',
	'the snapshot is done once nothing holds it');
is(sq("WITH ev AS " . snap_events("$pw.public.snap4") . " SELECT count(*) FILTER (WHERE op = 'r'),
	  count(DISTINCT k) FILTER (WHERE op = 'r') FROM ev"), '500|500', 'each row in the snapshot, once per key');
sq("SELECT kafka.drop_pipeline('$pw')");

# While a create_pipeline is not committed its slot has no pipeline row: the
# launcher looks at it again every few seconds, not as fast as it can start
# workers (it did: a postmaster fork every few ms); the commit starts it.
$po = "open$run";    # (the ownership test above is done with its $po)
my $known = sq("SELECT coalesce(string_agg(pid::text, ','), '0') FROM pg_stat_activity WHERE backend_type = 'kafka_fdw pipeline'");
my $open = KafkaTest::Session->new($node, 'kfdw_open_create');
$open->query("BEGIN; SELECT kafka.create_pipeline('$po', 'kafka', 'pub_all');");
my %seen;
my $t_open = time();
while (time() - $t_open < 3)
{
	$seen{$_} = 1 for grep { /^\d+$/ } split /\n/,
	  sq("SELECT pid FROM pg_stat_activity WHERE backend_type = 'kafka_fdw pipeline' AND pid NOT IN ($known)");
	sleep 0.02;
}
my $starts = scalar keys %seen;
ok($starts <= 2, "no worker started again and again for an uncommitted pipeline ($starts seen in 3 s)");
$open->query('COMMIT;');
$open->close;
$t_open = time();
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = '$po'", 'running', 30), 'running',
	'once committed, its worker runs');
note sprintf('worker running %.1f s after the commit', time() - $t_open);
sq("SELECT kafka.drop_pipeline('$po')");

# ---------------------------------------------------------------------------
# Drop: the worker stops, the slot goes -- when the transaction commits.
my $p2_topic = "second$run.public.other";
my $p2_before = topic_count($p2_topic);
sq("BEGIN; SELECT kafka.drop_pipeline('$p2'); ROLLBACK;");
is(sq("SELECT count(*) FROM kafka.pipelines WHERE name = '$p2'") . ' '
	  . sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'kafka_fdw_%_$p2'"),
	'1 1', 'a drop_pipeline rolled back keeps the pipeline and its slot');
sq("BEGIN; SAVEPOINT a; SELECT kafka.drop_pipeline('$p2'); ROLLBACK TO SAVEPOINT a; COMMIT;");
is(sq("SELECT count(*) FROM kafka.pipelines WHERE name = '$p2'") . ' '
	  . sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'kafka_fdw_%_$p2'"),
	'1 1', 'so does one rolled back to a savepoint, in a transaction that commits');
sq("INSERT INTO other VALUES (424242, 'after a rolled-back drop')");
is(wait_for("SELECT count(*) > $p2_before FROM kafka.consume('kafka', '$p2_topic')", 't'),
	't', 'and its worker runs again and delivers');
($rc, $out, $err) = $node->psql('postgres', "BEGIN; SELECT kafka.drop_pipeline('$p2'); PREPARE TRANSACTION 'p2';");
like($err, qr/cannot PREPARE a transaction that created or dropped a pipeline/, 'PREPARE TRANSACTION after drop_pipeline is refused');
sq("SELECT kafka.drop_pipeline('$p2')");
is(sq("SELECT count(*) FROM kafka.pipelines WHERE name = '$p2'") . ' '
	  . sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'kafka_fdw_%_$p2'"),
	'0 0', 'drop_pipeline removes the pipeline and its slot');
is(wait_for("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw pipeline' AND pid NOT IN (SELECT worker_pid FROM kafka.pipeline_status WHERE worker_pid IS NOT NULL) AND datname = 'postgres'", '0'),
	'0', 'and its worker is gone');

ok(!log_has_crash($node), 'no backend crashed');
$node->stop;
done_testing();
