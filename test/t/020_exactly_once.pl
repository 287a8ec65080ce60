# Exactly-once pipelines beyond the fault test (006): fencing of a second
# worker started by hand, a source transaction split across Kafka
# transactions (headers txn_part) and a kill -9 in its middle (the restart
# skips the events of it that were committed), the at-least-once mode kept
# by {"exactly_once": false}, pipeline_status, and the options' checks.
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
my $node = kafka_node('eos');
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->restart;
my $run = int(time() * 1000) % 100000000;

sub sq { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }

sub wait_for
{
	my ($sql, $want, $timeout) = @_;
	my $t0 = time();
	my $got = '';
	while (time() - $t0 < ($timeout // 60))
	{
		my ($rc, $out) = $node->psql('postgres', $sql);
		$got = $rc == 0 ? $out : "error";
		return $got if $got eq $want;
		sleep 0.2;
	}
	return $got;
}

sub confirmed_all
{
	my ($name) = @_;
	my $lsn = sq('SELECT pg_current_wal_lsn()');
	return wait_for("SELECT state = 'running' AND confirmed_lsn >= '$lsn' FROM kafka.pipeline_status WHERE name = '$name'",
		't', 120);
}

# (count, distinct ids) of a topic's events, read_committed
sub counts
{
	my ($topic) = @_;
	return sq("SELECT count(*) || ' ' || count(DISTINCT convert_from(key, 'UTF8')) FROM kafka.consume('kafka', '$topic')");
}

sq(qq{
CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE TABLE big (id int PRIMARY KEY, v text);
CREATE PUBLICATION pub FOR TABLE t, big;
SELECT kafka.create_pipeline('eo', 'kafka', 'pub',
  '{"topic_prefix": "eo$run", "split_max_events": 1000, "commit_max_events": 1000}');
SELECT kafka.create_pipeline('alo', 'kafka', 'pub', '{"topic_prefix": "alo$run", "exactly_once": false}');
});
is(wait_for("SELECT count(*) FROM kafka.pipeline_status WHERE state = 'running'", '2'), '2', 'both pipelines run');
sq("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g");
is(confirmed_all('eo'), 't', 'the exactly-once pipeline confirms');
is(confirmed_all('alo'), 't', 'the at-least-once pipeline confirms');
is(counts("eo$run.public.t"), '100 100', 'exactly-once: 100 events');
is(counts("alo$run.public.t"), '100 100', 'at-least-once: 100 events');

# pipeline_status
my $sysid = sq('SELECT system_identifier FROM pg_control_system()');
my $slot_eo = sq("SELECT slot_name FROM kafka.pipelines WHERE name = 'eo'");
is(sq("SELECT exactly_once || ' ' || transactional_id || ' ' || progress_topic || ' ' || (kafka_transactions > 0)
		|| ' ' || (kafka_committed_lsn IS NOT NULL) FROM kafka.pipeline_status WHERE name = 'eo'"),
	"true kafka_fdw-$sysid-$slot_eo __kafka_fdw_progress.$slot_eo true true",
	'pipeline_status: transactional_id from the system identifier and the slot, the progress topic, commits');
is(sq("SELECT exactly_once || ' ' || (transactional_id IS NULL) || ' ' || (progress_topic IS NULL)
		|| ' ' || (kafka_transactions IS NULL) FROM kafka.pipeline_status WHERE name = 'alo'"),
	'false true true true', 'an at-least-once pipeline has no Kafka transactions');
# the progress topic: compacted, one partition, the position of the last commit
is(sq("SELECT count(*) FROM kafka.partitions('kafka', '__kafka_fdw_progress.$slot_eo')"), '1',
	'the progress topic has one partition');
like(sq("SELECT convert_from(value, 'UTF8') FROM kafka.consume('kafka', '__kafka_fdw_progress.$slot_eo')
		 WHERE convert_from(key, 'UTF8') = 'kafka_fdw-$sysid-$slot_eo' ORDER BY \"offset\" DESC LIMIT 1"),
	qr/^\{"changes":null,"committed_at_ms":\d+,"lsn":"[0-9A-F]+\/[0-9A-F]+","mac":"[0-9a-f]{64}","transactional_id":"kafka_fdw-$sysid-$slot_eo"\}$/,
	'its records: the position as JSON with its authentication code, keyed by the transactional.id');

# --- a forged progress record (any role that may produce to the topic) -------
# is ignored, with a WARNING: the changes it claims to cover are sent.
sq("CREATE ROLE mallory LOGIN; GRANT USAGE ON SCHEMA kafka TO mallory; GRANT USAGE ON FOREIGN SERVER kafka TO mallory");
sq("SELECT kafka.pause_pipeline('eo')");
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = 'eo'", 'paused'), 'paused', 'eo paused');
sq("INSERT INTO t SELECT g, 'while paused' FROM generate_series(1001, 1010) g");
my $forge_pos = -s $node->logfile;
my ($frc, $fout, $ferr) = $node->psql('postgres', qq{SET ROLE mallory;
SELECT count(*) FROM kafka.pipeline_status s,
  LATERAL kafka.produce('kafka', s.progress_topic,
    json_build_object('lsn', pg_current_wal_insert_lsn()::text, 'changes', null,
                      'transactional_id', s.transactional_id, 'mac', repeat('0', 64))::jsonb,
    s.transactional_id) p WHERE name = 'eo'});
is($fout, '1', 'a plain role produces a forged position to the progress topic') or diag $ferr;
sq("SELECT kafka.resume_pipeline('eo')");
is(confirmed_all('eo'), 't', 'the resumed pipeline confirms');
is(sq("SELECT count(*) FROM kafka.consume('kafka', 'eo$run.public.t') WHERE convert_from(value, 'UTF8') LIKE '%while paused%'"),
	'10', 'the changes the forged record claimed are sent');
like(slurp_file($node->logfile, $forge_pos), qr/records of its progress topic .* were not written by it: ignored/,
	'a WARNING says a record did not verify');

# --- fencing: a second worker started by hand for the same pipeline ----------
my $pid = sq("SELECT worker_pid FROM kafka.pipeline_status WHERE name = 'eo'");
my $aborted = sq("SELECT kafka_aborted FROM kafka.pipeline_status WHERE name = 'eo'");
my $logpos = -s $node->logfile;
is(sq("SELECT kafka._bridge_selftest('second_pipeline_worker:$slot_eo')"), '0',
	'a second worker for the pipeline started by hand ends');
like(slurp_file($node->logfile, $logpos), qr/replication slot "\Q$slot_eo\E" is active for PID $pid/,
	'it could not take the slot from the running worker');
unlike(slurp_file($node->logfile, $logpos), qr/fenced/, 'nothing was fenced');
sq("INSERT INTO t SELECT g, 'v' || g FROM generate_series(101, 200) g");
is(confirmed_all('eo'), 't', 'the first worker goes on');
is(sq("SELECT worker_pid || ' ' || kafka_aborted FROM kafka.pipeline_status WHERE name = 'eo'"), "$pid $aborted",
	'the same worker, no transaction aborted');
is(counts("eo$run.public.t"), '210 210', 'each event once');

# --- a source transaction split across Kafka transactions --------------------
sq("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 3500) g");
is(confirmed_all('eo'), 't', 'a transaction of 3,500 events (split_max_events 1,000) is confirmed');
is(sq("SELECT count(*) || ' ' || count(DISTINCT key) || ' ' || string_agg(DISTINCT coalesce(headers->>'txn_part', '1'), ',' ORDER BY coalesce(headers->>'txn_part', '1'))
		 FROM kafka.consume('kafka', 'eo$run.public.big')"),
	'3500 3500 1,2,3,4', 'each event once; parts 2 to 4 carry the header txn_part');
is(sq("SELECT count(*) FROM kafka.consume('kafka', 'eo$run.public.big') WHERE headers ? 'txn_part'"), '2500',
	'the first part has no txn_part header');

# --- kill -9 in the middle of a split transaction ----------------------------
# A transaction of 150,000 rows in parts of 1,000: the worker is killed while
# it sends them; the next worker skips what the committed parts hold (its LOG
# says how many of that transaction's events).  The kill's moment is chance:
# up to three tries to hit the middle.
my ($mid, $tries) = (0, 0);
my $total = 3500;
while (!$mid && $tries < 3)
{
	$tries++;
	my $first = $total + 1;
	$total += 150000;
	sq("INSERT INTO big SELECT g, md5(g::text) FROM generate_series($first, $total) g");
	my $victim = sq("SELECT worker_pid FROM kafka.pipeline_status WHERE name = 'eo'");
	# wait until some of it is committed in Kafka (its transactions count up)
	my $k0 = sq("SELECT kafka_transactions FROM kafka.pipeline_status WHERE name = 'eo'");
	wait_for("SELECT kafka_transactions >= $k0 + 3 FROM kafka.pipeline_status WHERE name = 'eo'", 't', 60);
	$logpos = -s $node->logfile;
	kill 'KILL', $victim;
	# (the crash restart: polled until a new worker runs; a "SELECT 1" right
	# after the kill may still reach the server before it goes into recovery)
	wait_for("SELECT state = 'running' AND worker_pid <> $victim FROM kafka.pipeline_status WHERE name = 'eo'", 't', 120);
	is(confirmed_all('eo'), 't', "try $tries: after the kill -9 the pipeline confirms the transaction");
	my $log = slurp_file($node->logfile, $logpos);
	$mid = 1 if $log =~ /pipeline "eo": exactly-once, resuming after [0-9A-F]+\/[0-9A-F]+ \((\d+) items of that transaction\)/ && $1 > 0 && $1 < 150000;
	note "try $tries: " . ($log =~ /(pipeline "eo": exactly-once, resuming[^\n]*)/ ? $1 : 'no resume line');
}
ok($mid, 'a restart resumed in the middle of a split transaction (skipping its committed parts)');
is(sq("SELECT count(*) || ' ' || count(DISTINCT key) FROM kafka.consume('kafka', 'eo$run.public.big')"),
	"$total $total", 'each event of the split transactions once (read_committed)');
is(confirmed_all('alo'), 't', 'the at-least-once pipeline confirms them too');
is(sq("SELECT count(DISTINCT key) FROM kafka.consume('kafka', 'alo$run.public.big')"), $total,
	'and has every row (duplicates allowed)');

# --- alter_pipeline: the at-least-once pipeline becomes exactly-once -----------
my $alo_pid = sq("SELECT worker_pid FROM kafka.pipeline_status WHERE name = 'alo'");
sq(qq{SELECT kafka.alter_pipeline('alo', '{"exactly_once": null, "heartbeat_interval_ms": 500}')});
is(sq("SELECT options FROM kafka.pipelines WHERE name = 'alo'"),
	qq({"topic_prefix": "alo$run", "heartbeat_interval_ms": 500}), 'alter_pipeline merges the options (null removes one)');
is(wait_for("SELECT exactly_once AND worker_pid <> $alo_pid AND state = 'running' FROM kafka.pipeline_status WHERE name = 'alo'", 't'),
	't', 'its worker starts again, exactly-once (the default)');
sq("INSERT INTO t VALUES (1000, 'after alter')");
is(confirmed_all('alo'), 't', 'and confirms');
is(sq("SELECT count(*) FROM kafka.consume('kafka', 'alo$run.public.t') WHERE convert_from(key, 'UTF8') = '{\"id\":1000}'"),
	'1', 'its new change is in the topic');
my ($arc, $aout, $aerr) = $node->psql('postgres', qq{SELECT kafka.alter_pipeline('alo', '{"snapshot": true}')});
like($aerr, qr/pipeline option "snapshot" cannot be altered/, 'snapshot cannot be altered');
($arc, $aout, $aerr) = $node->psql('postgres', qq{SELECT kafka.alter_pipeline('alo', '{"partitions": "x"}')});
like($aerr, qr/pipeline option "partitions" must be a number/, 'the merged options are checked');
($arc, $aout, $aerr) = $node->psql('postgres', qq{SET ROLE mallory; SELECT kafka.alter_pipeline('alo', '{"exactly_once": false}')});
like($aerr, qr/permission denied|must be|owner/, 'a plain role cannot alter another role\'s pipeline');
is(sq("SELECT options ? 'exactly_once' FROM kafka.pipelines WHERE name = 'alo'"), 'f', 'its options are unchanged');

# --- a long transaction of unpublished changes right after a small one -----
# The small transaction's event is in an open Kafka transaction when the next
# source transaction commits right after it; that one is decoded at once at
# its commit record (400k changes of an unpublished table, then one
# published).  The Kafka transaction must be committed during that
# decoding, not after it: its progress record names the small transaction
# (else the long one's event joins it and the record names the long one).
# A commit kept waiting through a long decoding reaches the producer's
# transaction.timeout.ms and is aborted by the coordinator: the worker fails,
# starts again, and meets the same transaction.
sq(qq{
CREATE TABLE quiet (id int, v text);
CREATE TABLE gate (x int);
INSERT INTO gate VALUES (0);
CREATE TABLE small (id int PRIMARY KEY);
CREATE PUBLICATION pub_small FOR TABLE small;
SELECT kafka.create_pipeline('short', 'kafka', 'pub_small', '{"topic_prefix": "short$run"}');
});
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = 'short'", 'running'), 'running',
	'a pipeline runs');
# (paused while the two transactions are written: resumed, the worker reads
# them as a backlog, with no idle moment between the two commits in which a
# due commit would be made anyway)
sq("SELECT kafka.pause_pipeline('short')");
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = 'short'", 'paused'), 'paused', 'paused');
my $lsn_before = sq("SELECT pg_current_wal_lsn()");
my %gate;
sub gate_session
{
	my ($name, $script) = @_;
	$gate{$name} = { out => '', err => '' };
	$gate{$name}->{h} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . " application_name=$name",
		  '-c', $script ],
		'<', \undef, '>', \$gate{$name}->{out}, '2>', \$gate{$name}->{err});
	return;
}
# the small transaction: takes the gate, waits until the long one queues behind it, commits
gate_session('gate_small', qq{
BEGIN;
INSERT INTO small VALUES (1);
UPDATE gate SET x = 1;
DO \$\$ BEGIN
  LOOP
    PERFORM pg_stat_clear_snapshot();  -- (activity is read once per transaction otherwise)
    EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'gate_long' AND wait_event_type = 'Lock');
    PERFORM pg_sleep(0.05);
  END LOOP;
END \$\$;
COMMIT;
});
wait_for("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gate_small' AND wait_event = 'PgSleep'", '1');
# the long one: 400k unpublished changes, then the gate, then one published
# change: its commit follows the small one's at once (the LSN in between is
# printed)
gate_session('gate_long', qq{
BEGIN;
INSERT INTO quiet SELECT g, 'x' FROM generate_series(1, 400000) g;
UPDATE gate SET x = 2;
SELECT pg_current_wal_lsn();
INSERT INTO small VALUES (2);
COMMIT;
});
$gate{$_}->{h}->finish for ('gate_small', 'gate_long');
is($gate{gate_small}->{err} . $gate{gate_long}->{err}, '', 'the two transactions committed, the long one right after the small one');
my ($lsn_between) = $gate{gate_long}->{out} =~ m{([0-9A-F]+/[0-9A-F]+)};
sq("SELECT kafka.resume_pipeline('short')");
is(confirmed_all('short'), 't', 'the resumed pipeline confirms both');
my $short_pid = sq("SELECT worker_pid FROM kafka.pipeline_status WHERE name = 'short'");
is(sq("SELECT count(*) FROM kafka.consume('kafka', 'short$run.public.small')"), '2',
	'the events of both are in Kafka (read_committed)');
is(sq(qq{SELECT count(*) > 0 FROM kafka.consume('kafka', (SELECT progress_topic FROM kafka.pipeline_status WHERE name = 'short')) c,
		LATERAL (SELECT convert_from(c.value, 'UTF8')::jsonb AS j) r
	   WHERE r.j->>'changes' IS NULL AND (r.j->>'lsn')::pg_lsn > '$lsn_before' AND (r.j->>'lsn')::pg_lsn < '$lsn_between'}),
	't', 'a Kafka transaction was committed with the small one as its last (while the long one was decoded)');
is(sq("SELECT worker_pid || ' ' || kafka_aborted FROM kafka.pipeline_status WHERE name = 'short'"), "$short_pid 0",
	'the same worker, no Kafka transaction aborted');
sq("SELECT kafka.drop_pipeline('short')");

# --- the options' checks -------------------------------------------------------
for my $case (
	[ '{"exactly_once": "yes"}', 'pipeline option "exactly_once" must be true or false' ],
	[ '{"commit_interval_ms": 6000}', 'pipeline option "commit_interval_ms" must be a whole number, 1 to 5000' ],
	[ '{"split_max_events": 10, "commit_max_events": 20}', 'pipeline option "commit_max_events" (20) must not exceed "split_max_events" (10)' ],
	[ '{"progress_topic": "bad topic"}', 'pipeline option "progress_topic" must be a topic name' ])
{
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_pipeline('bad', 'kafka', 'pub', '$case->[0]')");
	like($err, qr/\Q$case->[1]\E/, "refused: $case->[0]");
}

my @crash = grep { !/terminated by signal 9/ && !/reinitializing/ } split /\n/, log_has_crash($node);
is(join("\n", @crash), '', 'no backend crashed but the killed workers');
done_testing();
