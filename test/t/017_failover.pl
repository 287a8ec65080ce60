# A pipeline with the option "failover" (PostgreSQL 17+) survives the loss
# of its primary: a physical standby with sync_replication_slots keeps a
# copy of the pipeline's slot, the primary is stopped (immediate) while a
# stream of inserts, updates and deletes runs, the standby is promoted, and
# the pipeline's worker starts there and goes on.  Every change the promoted
# standby has is in the topic (each at least once, every key's last event is
# its final state); no event is in the topic that the standby lacks
# (synchronized_standby_slots held them back); duplicates are counted, not
# failed on.  No worker runs on the standby while it is in recovery.
#
# A transaction left open on the primary across a WAL segment switch keeps
# the slot's restart_lsn on the old timeline's earlier segment, so the
# promoted standby's worker reads WAL of the old timeline first.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use KafkaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $brokers = brokers();
my $primary = PostgreSQL::Test::Cluster->new('primary');
plan skip_all => 'failover slots (sync_replication_slots) need PostgreSQL 17 or later'
  unless $primary->pg_version >= 17;

my $run = int(time() * 1000) % 100000000;    # topic names unique per run
my $pipeline = "fo$run";
my $topic = "$pipeline.public.t";

$primary->init(allows_streaming => 'logical');
$primary->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'kafka_fdw'
max_replication_slots = 24
max_worker_processes = 24
kafka_fdw.max_pipelines = 16
});
$primary->start;

# t is published; chg lists every change (one row per row change, in the
# change's transaction), so a standby's chg says which changes it has.
$primary->safe_psql(
	'postgres', qq{
CREATE EXTENSION kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$brokers');
CREATE USER MAPPING FOR PUBLIC SERVER kafka;
CREATE TABLE t (id int PRIMARY KEY, v bigint NOT NULL);
CREATE TABLE chg (seq bigint PRIMARY KEY, id int NOT NULL, op text NOT NULL);
CREATE TABLE unpublished (x int);
CREATE SEQUENCE chg_seq;
CREATE PUBLICATION pub FOR TABLE t;
-- Step i of a stream (one transaction): insert base+i, update base+i-1 (every
-- 3rd) and base+i-3 (every 4th), delete base+i-2 (every 5th); returns the
-- sequence numbers of the changes it made.  PAUSE paces a stream.
CREATE FUNCTION step(i int, base int, pause float8 DEFAULT 0) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE s bigint; r text;
BEGIN
  s := nextval('chg_seq');
  INSERT INTO t VALUES (base + i, s);
  INSERT INTO chg VALUES (s, base + i, 'c');
  r := s::text;
  IF i % 3 = 0 THEN
    s := nextval('chg_seq');
    UPDATE t SET v = s WHERE id = base + i - 1;
    IF FOUND THEN INSERT INTO chg VALUES (s, base + i - 1, 'u'); r := r || ' ' || s; END IF;
  END IF;
  IF i % 4 = 0 THEN
    s := nextval('chg_seq');
    UPDATE t SET v = s WHERE id = base + i - 3;
    IF FOUND THEN INSERT INTO chg VALUES (s, base + i - 3, 'u'); r := r || ' ' || s; END IF;
  END IF;
  IF i % 5 = 0 THEN
    s := nextval('chg_seq');
    DELETE FROM t WHERE id = base + i - 2;
    IF FOUND THEN INSERT INTO chg VALUES (s, base + i - 2, 'd'); r := r || ' ' || s; END IF;
  END IF;
  PERFORM pg_sleep(pause);
  RETURN r;
END \$\$;
SELECT pg_create_physical_replication_slot('standby_slot', true);
});

# The standby: streaming through its physical slot, hot_standby_feedback,
# sync_replication_slots (its primary_conninfo names a database).
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
my $conninfo = 'port=' . $primary->port . ' host=' . $primary->host . ' dbname=postgres';
$standby->append_conf(
	'postgresql.conf', qq{
primary_conninfo = '$conninfo'
primary_slot_name = 'standby_slot'
hot_standby_feedback = on
sync_replication_slots = on
});
$standby->start;

# The primary sends a failover slot's changes only once this standby has them.
$primary->safe_psql('postgres',
	"ALTER SYSTEM SET synchronized_standby_slots = 'standby_slot'; SELECT pg_reload_conf()");

$primary->safe_psql('postgres',
	"SELECT kafka.create_pipeline('$pipeline', 'kafka', 'pub', '{\"failover\": true, \"partitions\": 2}')");
is(wait_sql($primary, "SELECT state FROM kafka.pipeline_status WHERE name = '$pipeline'", 'running'),
	'running', 'the failover pipeline runs on the primary');
my $slot = $primary->safe_psql('postgres', "SELECT slot_name FROM kafka.pipelines WHERE name = '$pipeline'");
is($primary->safe_psql('postgres', "SELECT failover FROM pg_replication_slots WHERE slot_name = '$slot'"),
	't', 'its slot is a failover slot');

# The stream: one psql running step(i, 0) for i = 1.. (about 500 a second)
# until the primary is stopped; each result it prints is a commit the
# primary acknowledged.
my $nsteps = 200000;
my $script = PostgreSQL::Test::Utils::tempdir() . '/stream.sql';
open(my $fh, '>', $script) or die "cannot write $script: $!";
print $fh "SELECT step($_, 0, 0.002);\n" for 1 .. $nsteps;
close($fh);
# (its output goes to files: a pipe nobody reads while we wait would block it)
my ($stream_out, $stream_err) = ("$script.out", "$script.err");
my $stream = IPC::Run::start(
	[ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $primary->connstr('postgres'), '-f', $script ],
	'<', \undef, '>', $stream_out, '2>', $stream_err, IPC::Run::timeout(600));

# Wait for the standby's synchronized copy of the slot (persistent, not the
# temporary one the slot sync worker makes first) and for events in Kafka.
is(wait_sql($standby, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND synced AND NOT temporary",
		'1', 120),
	'1', 'the standby has a synchronized copy of the pipeline\'s slot');
ok(wait_for_topic($primary, $topic, 300), 'events flow to the topic');

# A transaction left open across WAL segment switches: the slot's restart_lsn
# stays before it, on a segment of the old timeline.
my $open = KafkaTest::Session->new($primary, 'open_xact');
$open->query('BEGIN; INSERT INTO unpublished VALUES (1)');
$primary->safe_psql('postgres', "SELECT pg_switch_wal()") for 1 .. 2;

# The synchronized slot follows the primary's: wait until it is past the
# switches (and so past changes sent during the stream).
my $lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $sent_before = $primary->safe_psql('postgres', "SELECT count(*) FROM kafka.consume('kafka', '$topic')");
ok(wait_for_topic($primary, $topic, $sent_before + 200), 'the stream goes on');
is(wait_sql($standby,
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = '$slot'", 't', 120),
	't', 'the standby\'s copy of the slot advances with the primary\'s');

# While in recovery: no launcher, no pipeline worker on the standby.
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('kafka_fdw CDC launcher', 'kafka_fdw pipeline')"),
	'0', 'no kafka_fdw launcher or pipeline worker runs on the standby in recovery');

$stream->pump_nb;
ok($stream->pumpable, 'the stream is still running when the primary is stopped');

# The primary fails mid-stream.
$primary->stop('immediate');
eval { $stream->finish; 1 } or eval { $stream->kill_kill };
eval { $open->close };
my %acked;
for my $line (split /\n/, slurp_file($stream_out))
{
	$acked{$_} = 1 for grep { /^\d+$/ } split / /, $line;
}
note sprintf('the primary acknowledged %d changes; the stream ended with: %s',
	scalar(keys %acked), slurp_file($stream_err) =~ s/\s+$//r);

# Before promotion, still in recovery: no worker has started.
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is still in recovery');
sleep 2;
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('kafka_fdw CDC launcher', 'kafka_fdw pipeline')"),
	'0', 'with its primary gone, the standby in recovery runs no pipeline worker either');
my $standby_changes = $standby->safe_psql('postgres', 'SELECT count(*) FROM chg');
my @last_acked = (sort { $b <=> $a } keys %acked)[0 .. 19];
my $not_received = grep { defined $_ && $standby->safe_psql('postgres', "SELECT count(*) FROM chg WHERE seq = $_") eq '0' }
  @last_acked;
note "the standby has $standby_changes changes; of the 20 last acknowledged by the primary, "
  . "$not_received are not on the standby (asynchronous replication: not the pipeline's)";

$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'the standby is promoted');
is(wait_sql($standby, "SELECT state FROM kafka.pipeline_status WHERE name = '$pipeline'", 'running', 120),
	'running', 'the pipeline\'s worker runs on the promoted standby');
is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw CDC launcher'"),
	'1', 'started by its launcher, which runs once the standby is promoted');
is($standby->safe_psql('postgres', "SELECT failover FROM pg_replication_slots WHERE slot_name = '$slot'"),
	't', 'on the copy of its slot, still a failover slot');

# More changes on the new primary: one transaction of 300 steps, then 100
# of one step each.
$standby->safe_psql('postgres', 'SELECT step(i, 1000000) FROM generate_series(1, 300) i');
$standby->safe_psql('postgres', "SELECT step($_, 2000000)") for 1 .. 100;
my $total = $standby->safe_psql('postgres', 'SELECT count(*) FROM chg');
note "$total changes in all ($standby_changes before the promotion)";

# The topic's events, and the changes of chg that none of them carries.
my $events = "(SELECT partition AS p, \"offset\" AS o, (convert_from(key, 'UTF8')::jsonb->>'id')::int AS id, "
  . "headers->>'op' AS op, (convert_from(value, 'UTF8')::jsonb->>'v')::bigint AS v "
  . "FROM kafka.consume('kafka', '$topic'))";
my $missing_sql = "WITH e AS $events SELECT count(*) FROM chg c WHERE NOT EXISTS "
  . "(SELECT 1 FROM e WHERE e.id = c.id AND e.op = c.op AND (c.op = 'd' OR e.v = c.seq))";
is(wait_sql($standby, $missing_sql, '0', 180), '0',
	'0 lost: every change the promoted standby has is in the topic, at least once');
my $missing_before = $standby->safe_psql('postgres',
	"WITH e AS $events SELECT count(*) FROM chg c WHERE c.seq <= (SELECT max(seq) FROM chg WHERE id < 1000000) "
	  . "AND NOT EXISTS (SELECT 1 FROM e WHERE e.id = c.id AND e.op = c.op AND (c.op = 'd' OR e.v = c.seq))");
is($missing_before, '0', 'among them every change made on the old primary that the standby received');
is($standby->safe_psql('postgres',
		"WITH e AS $events SELECT count(*) FROM e WHERE NOT EXISTS "
		  . "(SELECT 1 FROM chg c WHERE e.id = c.id AND e.op = c.op AND (c.op = 'd' OR e.v = c.seq))"),
	'0', 'no event in the topic of a change the promoted standby does not have');
is($standby->safe_psql('postgres',
		"WITH e AS $events, last AS (SELECT DISTINCT ON (id) id, op, v FROM e ORDER BY id, p, o DESC) "
		  . "SELECT count(*) FROM (SELECT DISTINCT id FROM chg) k LEFT JOIN t USING (id) JOIN last l USING (id) "
		  . "WHERE (t.id IS NULL) <> (l.op = 'd') OR (t.id IS NOT NULL AND l.v IS DISTINCT FROM t.v)"),
	'0', 'every key\'s last event is the row\'s final state (deleted rows: a tombstone)');
is($standby->safe_psql('postgres',
		"WITH e AS $events SELECT count(DISTINCT id) FROM e"),
	$standby->safe_psql('postgres', 'SELECT count(DISTINCT id) FROM chg'), 'and every key has events');

my ($nevents, $ndup) = split /\|/, $standby->safe_psql('postgres',
	"WITH e AS $events SELECT count(*), count(*) - count(DISTINCT (id, op, coalesce(v, -1))) FROM e");
note "the topic has $nevents events for $total changes: $ndup duplicates (at least once across a failover)";
diag "failover: $ndup duplicate events of $nevents";

is(log_has_crash($standby), '', 'no crash on the promoted standby');
$standby->stop;
done_testing();
