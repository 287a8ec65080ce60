# Exactly-once CDC on a 3-node Kafka cluster (test/kafka_cluster.sh: KRaft,
# replication 3, min.insync.replicas 2, transaction.state.log replication 3
# and min ISR 2) while the transaction coordinator of the pipeline's
# transactional.id is killed.
#
# Runs only when asked: KAFKA_FDW_CLUSTER_TEST=1 (test/run.sh sets it on
# PostgreSQL 15, so that CI runs it once, not on every major).  The cluster
# is the test's own (started and stopped through the broker control loop of
# test/tap.sh), not the suite's broker.
#
# A workload changes the rows of 600 keys of three published tables (t1, t2,
# t3), about 24,000 changes ($CDC_CLUSTER_CHANGES) from two sessions, with an
# unpublished audit of every committed change (history) as in
# 006_cdc_faults.pl.  The pipeline has {"partitions": 3, "replication_factor": 3}
# (its topics and its progress topic on all three nodes).  While the workload
# runs, twice: the node that is the transaction coordinator of the pipeline's
# transactional.id (Kafka's TransactionsCommand describe) is killed with -9;
# the workload goes on; once the pipeline has committed Kafka transactions
# again (through the new coordinator) the node is started again, and the
# next round waits until every partition has its three replicas in sync.
# How long the pipeline committed nothing is noted (not asserted).
# Afterwards the topics are read back with kafka.consume and kcat, both
# read_committed: each committed change exactly once, in version order per
# key, no gap, nothing of an uncommitted change; the last event of each key
# reproduces the tables.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;

use KafkaTest;

plan skip_all => 'the 3-node cluster test runs when KAFKA_FDW_CLUSTER_TEST=1 (test/run.sh: on PostgreSQL 15)'
  unless ($ENV{KAFKA_FDW_CLUSTER_TEST} // '') eq '1';
broker_script();    # the control loop that runs test/kafka_cluster.sh

my $t_start = time();
my $target = $ENV{CDC_CLUSTER_CHANGES} // 24_000;
my $prefix = "tap_eosc_$$";
# two sessions of $rate changes/s each: about 60 s in all
my $rate = int($target / 120) || 1;

# --- the cluster -------------------------------------------------------------
my $cluster_up = 0;
END
{
	local $?;
	cluster_ctl('stop') if $cluster_up;
}
my ($rc, $out) = cluster_ctl('start');
$cluster_up = 1;
my ($bootstrap) = $out =~ /^(127\.0\.0\.1:\d+(?:,127\.0\.0\.1:\d+){2})\s*$/m;
if (!ok($rc == 0 && defined $bootstrap, 'the 3-node cluster started'))
{
	diag "test/kafka_cluster.sh start: exit $rc: $out";
	done_testing();
	exit;
}

my $node = kafka_node('eos_cluster', $bootstrap);
# e.g. CDC_CLUSTER_SERVER_OPTIONS="\"reconnect.backoff.max.ms\" '1000'": librdkafka
# properties for the server (to compare the stalls)
$node->safe_psql('postgres', "ALTER SERVER kafka OPTIONS (ADD $ENV{CDC_CLUSTER_SERVER_OPTIONS})")
  if ($ENV{CDC_CLUSTER_SERVER_OPTIONS} // '') ne '';
$node->safe_psql(
	'postgres', q{
CREATE TABLE t1 (id int PRIMARY KEY, version int NOT NULL, payload text);
CREATE TABLE t2 (LIKE t1 INCLUDING ALL);
CREATE TABLE t3 (LIKE t1 INCLUDING ALL);
CREATE TABLE versions (tbl text, id int, v int NOT NULL, PRIMARY KEY (tbl, id));
CREATE TABLE history (tbl text, id int, v int, op text NOT NULL, xid bigint NOT NULL,
                      PRIMARY KEY (tbl, id, v));
CREATE TABLE ctl (stop boolean NOT NULL);
INSERT INTO ctl VALUES (false);
CREATE PUBLICATION pub FOR TABLE t1, t2, t3;

CREATE FUNCTION payload(k int, v int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN v % 11 = 0 THEN NULL ELSE md5(k || '/' || v) END
$$;

-- as in 006_cdc_faults.pl: transactions of 1 to 3 keys (1 % of them 20),
-- locked in key order; a key's next version, insert / delete (20 %) / update,
-- the change audited in history in the same transaction; rate changes/s
CREATE PROCEDURE work(seed int, rate int) LANGUAGE plpgsql AS $$
DECLARE
  keys int[];
  k int;
  t text;
  nv int;
  present boolean;
  op text;
  m int;
  done bigint := 0;
  t0 timestamptz := clock_timestamp();
  ahead float8;
BEGIN
  PERFORM setseed((seed % 997) / 997.0);
  LOOP
    EXIT WHEN (SELECT stop FROM ctl);
    m := CASE WHEN random() < 0.01 THEN 20 ELSE 1 + floor(random() * 3)::int END;
    SELECT array_agg(x ORDER BY x) INTO keys
      FROM (SELECT DISTINCT floor(random() * 600)::int AS x FROM generate_series(1, m)) s;
    FOREACH k IN ARRAY keys LOOP
      t := 't' || (1 + k % 3);
      INSERT INTO versions AS o VALUES (t, k, 1)
        ON CONFLICT (tbl, id) DO UPDATE SET v = o.v + 1 RETURNING v INTO nv;
      EXECUTE format('SELECT true FROM %I WHERE id = $1', t) INTO present USING k;
      IF present IS NULL THEN
        EXECUTE format('INSERT INTO %I (id, version, payload) VALUES ($1, $2, $3)', t)
          USING k, nv, payload(k, nv);
        op := 'c';
      ELSIF random() < 0.2 THEN
        EXECUTE format('DELETE FROM %I WHERE id = $1', t) USING k;
        op := 'd';
      ELSE
        EXECUTE format('UPDATE %I SET version = $2, payload = $3 WHERE id = $1', t)
          USING k, nv, payload(k, nv);
        op := 'u';
      END IF;
      INSERT INTO history VALUES (t, k, nv, op, pg_current_xact_id()::text::bigint % 4294967296);
    END LOOP;
    COMMIT;
    done := done + cardinality(keys);
    ahead := done::float8 / rate - extract(epoch FROM clock_timestamp() - t0);
    IF ahead > 0.01 THEN
      PERFORM pg_sleep(ahead);
    END IF;
  END LOOP;
END $$;
});
$node->safe_psql('postgres',
	qq{SELECT kafka.create_pipeline('cdc', 'kafka', 'pub',
	     '{"partitions": 3, "replication_factor": 3, "topic_prefix": "$prefix"}')});

# ---------------------------------------------------------------------------
# helpers

sub poll
{
	my ($sql, $want, $timeout_s) = @_;
	my $deadline = time() + $timeout_s;
	my $last = '';
	while (1)
	{
		my ($prc, $pout, $perr) = $node->psql('postgres', $sql);
		$last = $prc == 0 ? $pout : "error: $perr";
		return (1, $last) if $prc == 0 && $pout eq $want;
		return (0, $last) if time() >= $deadline;
		sleep(0.2);
	}
}

sub status
{
	my ($src, $sout, $serr) = $node->psql('postgres',
		"SELECT state, worker_pid, confirmed_lsn, kafka_transactions, kafka_aborted, events_sent, last_error
		   FROM kafka.pipeline_status WHERE name = 'cdc'");
	return $src == 0 ? $sout : "error: $serr";
}

sub committed
{
	my ($crc, $cout) = $node->psql('postgres', 'SELECT count(*) FROM history');
	return $crc == 0 && $cout =~ /^\d+$/ ? $cout : -1;
}

my @load;

sub load_start
{
	for my $seed (1 .. 2)
	{
		my $bg = { out => '', err => '', seed => $seed };
		$bg->{h} = IPC::Run::start(
			[
				'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
				'-d', $node->connstr('postgres') . ' application_name=cdc_load',
				'-c', "CALL work($seed, $rate)"
			],
			'<', \undef, '>', \$bg->{out}, '2>', \$bg->{err});
		push @load, $bg;
	}
	return;
}

sub load_pump
{
	$_->{h}->pump_nb for grep { $_->{h}->pumpable } @load;
	return scalar(grep { $_->{h}->pumpable } @load);
}

sub load_reap
{
	my ($timeout_s) = @_;
	my $deadline = time() + $timeout_s;
	my $errs = '';
	for my $bg (@load)
	{
		while ($bg->{h}->pumpable && time() < $deadline)
		{
			$bg->{h}->pump_nb;
			sleep(0.05);
		}
		if ($bg->{h}->pumpable)
		{
			diag "workload session $bg->{seed} did not end: killed";
			eval { $bg->{h}->kill_kill };
		}
		else
		{
			eval { $bg->{h}->finish };
		}
		$errs .= "[$bg->{seed}] $bg->{err}" if $bg->{err} ne '';
	}
	@load = ();
	return $errs;
}

sub wait_committed
{
	my ($n, $what) = @_;
	my $t0 = time();
	my $c;
	while (1)
	{
		$c = committed();
		last if $c >= $n || time() - $t0 > 300;
		if (!load_pump())
		{
			diag "$what: the workload ended by itself: " . join('', map { "[$_->{seed}] $_->{err}" } @load);
			last;
		}
		sleep(0.2);
	}
	note sprintf('%s: %d changes committed (%.1f s)', $what, $c, time() - $t0);
	return $c;
}

# The cluster's metadata as kcat sees it: { topic => [ [partition, leader, isr count], ... ] }
sub metadata
{
	my ($mout, $merr) = ('', '');
	eval {
		IPC::Run::run([ 'kcat', '-L', '-J', '-b', $bootstrap, '-m', '5' ],
			'<', \undef, '>', \$mout, '2>', \$merr, IPC::Run::timeout(30));
	};
	my $md = eval { decode_json($mout) } or return {};
	my %t;
	for my $topic (@{ $md->{topics} // [] })
	{
		$t{ $topic->{topic} } =
		  [ map { [ $_->{partition}, $_->{leader}, scalar(@{ $_->{isrs} // [] }) ] } @{ $topic->{partitions} // [] } ];
	}
	return \%t;
}

# Waits (at most $timeout_s) until every partition of the pipeline's topics,
# its progress topic and Kafka's __transaction_state has three replicas in
# sync; returns whether they did.
sub wait_isr_full
{
	my ($progress_topic, $timeout_s) = @_;
	my @topics = ((map { "$prefix.public.$_" } qw(t1 t2 t3)), $progress_topic, '__transaction_state');
	my $deadline = time() + $timeout_s;
	my $short;
	while (1)
	{
		load_pump();
		my $md = metadata();
		my @short;
		for my $t (@topics)
		{
			my $parts = $md->{$t};
			if (!$parts || !@$parts) { push @short, "$t: no metadata"; next; }
			push @short, map { "$t\[$_->[0]\]: leader $_->[1], $_->[2] in sync" } grep { $_->[2] < 3 } @$parts;
		}
		return 1 unless @short;
		$short = join('; ', @short);
		if (time() >= $deadline)
		{
			diag "partitions not fully in sync: $short";
			return 0;
		}
		sleep(0.5);
	}
}

# ---------------------------------------------------------------------------

my ($ok, $last) = poll("SELECT state = 'running' FROM kafka.pipeline_status WHERE name = 'cdc'", 't', 60);
load_start();
($ok, $last) = poll(
	"SELECT state = 'running' AND kafka_transactions > 0 FROM kafka.pipeline_status WHERE name = 'cdc'",
	't', 90) if $ok;
ok($ok, 'the pipeline runs and has committed a Kafka transaction') or diag 'pipeline_status: ' . status();
my ($txn_id, $progress_topic) = split /\|/, $node->safe_psql('postgres',
	"SELECT transactional_id, progress_topic FROM kafka.pipeline_status WHERE name = 'cdc'");
like($txn_id, qr/^kafka_fdw-\d+-kafka_fdw_\d+_cdc$/, "the pipeline's transactional.id: $txn_id");

# the pipeline's topics, its progress topic and the coordinators' state: on
# all three nodes
wait_committed(int($target * 0.05), 'warm-up');
ok(wait_isr_full($progress_topic, 60), 'the topics have 3 replicas in sync (replication_factor 3)');

my @stalls;
for my $round (1 .. 2)
{
	my ($crc, $coord) = cluster_ctl('coordinator', $txn_id);
	ok($crc == 0 && $coord =~ /^[123]$/, "round $round: the coordinator of $txn_id is node $coord")
	  or last;
	my $md = metadata();
	note "round $round: leaders before the kill (topic: partition/leader/in sync): " . join(
		'; ', map { my $t = $_; "$t: " . join(' ', map { join('/', @$_) } @{ $md->{$t} }) }
		  grep { /^\Q$prefix\E|^__kafka_fdw|^__transaction_state/ } sort keys %$md);
	wait_committed(int($target * (0.1 + 0.4 * ($round - 1))), "round $round: before the kill");
	my ($pid_before, $txns_before) = split /\|/, $node->safe_psql('postgres',
		"SELECT coalesce(worker_pid, 0), kafka_transactions FROM kafka.pipeline_status WHERE name = 'cdc'");

	# kill -9 of the coordinator's node; sample pipeline_status until it
	# committed Kafka transactions again (a new coordinator took over)
	my $t_kill = time();
	my ($krc, $kout) = cluster_ctl('kill', $coord);
	is($krc, 0, "round $round: node $coord (the transaction coordinator) killed with -9") or last;
	my ($last_txns, $t_last_commit, $t_resumed, %seen_errors, %pids) = ($txns_before, $t_kill);
	my $max_gap = 0;
	while (time() - $t_kill < 240)
	{
		load_pump();
		my ($src, $sout) = $node->psql('postgres',
			"SELECT kafka_transactions, state, coalesce(worker_pid, 0), coalesce(last_error, '')
			   FROM kafka.pipeline_status WHERE name = 'cdc'");
		if ($src == 0)
		{
			my ($txns, $state, $wpid, $err) = split /\|/, $sout, 4;
			$pids{$wpid} = 1 if $wpid;
			(my $e = $err) =~ s/\d+/N/g;
			$seen_errors{"$state: " . substr($e, 0, 200)}++ if $state ne 'running' || $err ne '';
			my $now = time();
			# a worker that restarted counts from 0: any change is progress
			if ($txns ne $last_txns)
			{
				$max_gap = $now - $t_last_commit if $now - $t_last_commit > $max_gap;
				$t_last_commit = $now;
				$last_txns = $txns;
				# past the kill's effects: 10 more commits (the commit interval is 20 ms)
				$t_resumed //= $now if $txns > $txns_before + 10 || $txns < $txns_before;
			}
			last if defined $t_resumed && $now - $t_resumed > 3;
		}
		sleep(0.1);
	}
	ok(defined $t_resumed, "round $round: the pipeline commits Kafka transactions again with node $coord down")
	  or diag 'pipeline_status: ' . status();
	my $stall = defined $t_resumed ? $max_gap : time() - $t_kill;
	push @stalls, $stall;
	note sprintf('round %d: the longest time without a Kafka commit after the kill: %.1f s; '
		  . 'worker pids %s (before: %s); states/errors seen: %s',
		$round, $stall, join(',', sort keys %pids), $pid_before,
		join('; ', map { "$_ (x$seen_errors{$_})" } sort keys %seen_errors) || 'none');
	($crc, my $coord2) = cluster_ctl('coordinator', $txn_id);
	ok($crc == 0 && $coord2 =~ /^[123]$/ && $coord2 ne $coord,
		"round $round: another node is the coordinator now ($coord2)");

	# the workload goes on with a node down, then the node comes back
	wait_committed(int($target * (0.3 + 0.4 * ($round - 1))), "round $round: node $coord down");
	my ($src, $sout) = cluster_ctl('start-node', $coord);
	is($src, 0, "round $round: node $coord started again") or diag $sout;
	ok(wait_isr_full($progress_topic, 120), "round $round: every partition has its 3 replicas in sync again");
}

# --- the rest of the workload, catch up --------------------------------------
wait_committed($target, 'the rest of the workload');
$node->safe_psql('postgres', 'UPDATE ctl SET stop = true');
my $errs = load_reap(120);
is($errs, '', 'the workload sessions end without an error');
my $n_changes = committed();
cmp_ok($n_changes, '>=', $target, "at least $target changes committed");
my $end_lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $t_catch = time();
($ok, $last) = poll(
	"SELECT state = 'running' AND confirmed_lsn >= '$end_lsn'
	   FROM kafka.pipeline_status WHERE name = 'cdc'", 't', 180);
ok($ok, "the pipeline confirms everything up to $end_lsn") or diag 'pipeline_status: ' . status();
note sprintf('caught up %.1f s after the workload ended: %s', time() - $t_catch, status());

# --- read back (read_committed) ----------------------------------------------
$node->safe_psql(
	'postgres', qq{
SET kafka_fdw.timeout = 30000;
CREATE TABLE ev AS
SELECT x.tbl, c.partition AS p, c."offset" AS o,
       (convert_from(c.key, 'UTF8')::jsonb ->> 'id')::int AS id,
       convert_from(c.value, 'UTF8')::jsonb AS val,
       c.headers ->> 'op' AS op, (c.headers ->> 'lsn')::pg_lsn AS lsn,
       (c.headers ->> 'xid')::bigint AS xid
  FROM (VALUES ('t1'), ('t2'), ('t3')) x(tbl),
       LATERAL kafka.consume('kafka', '$prefix.public.' || x.tbl) c;
CREATE TABLE dd AS
SELECT DISTINCT ON (tbl, id, xid, lsn) * FROM ev ORDER BY tbl, id, xid, lsn, p, o;
CREATE INDEX ON dd (tbl, id, xid);
ANALYZE ev, dd;
});
my %n;
@n{qw(events unique gaps spurious order_violations wrong_event multi_partition)} = split /\|/,
  $node->safe_psql(
	'postgres', q{
WITH m AS (
  SELECT d.*, h.v AS hv, h.op AS hop,
         lag(h.v) OVER w AS prev_v, lag(d.lsn) OVER w AS prev_lsn
    FROM dd d LEFT JOIN history h USING (tbl, id, xid)
  WINDOW w AS (PARTITION BY d.tbl, d.id ORDER BY d.o))
SELECT (SELECT count(*) FROM ev),
       (SELECT count(*) FROM dd),
       (SELECT count(*) FROM history h
         WHERE NOT EXISTS (SELECT 1 FROM dd WHERE (dd.tbl, dd.id, dd.xid) = (h.tbl, h.id, h.xid))),
       (SELECT count(*) FROM m WHERE hv IS NULL),
       (SELECT count(*) FROM m WHERE prev_v >= hv OR prev_lsn > lsn),
       (SELECT count(*) FROM m WHERE hv IS NOT NULL
           AND (op IS DISTINCT FROM hop
                OR (hop = 'd' AND val IS NOT NULL)
                OR (hop <> 'd' AND (val ->> 'version')::int IS DISTINCT FROM hv))),
       (SELECT count(*) FROM (SELECT 1 FROM ev GROUP BY tbl, id HAVING count(DISTINCT p) > 1) s)
});
$n{duplicates} = $n{events} - $n{unique};
$n{table_diff} = $node->safe_psql(
	'postgres', q{
WITH last AS (SELECT DISTINCT ON (tbl, id) tbl, id, val FROM ev ORDER BY tbl, id, o DESC),
     src AS (SELECT 't1' AS tbl, id, row_to_json(t)::jsonb AS val FROM t1 t
             UNION ALL SELECT 't2', id, row_to_json(t)::jsonb FROM t2 t
             UNION ALL SELECT 't3', id, row_to_json(t)::jsonb FROM t3 t)
SELECT count(*) FROM last FULL JOIN src USING (tbl, id) WHERE last.val IS DISTINCT FROM src.val
});
diag sprintf(
	'%d changes committed; %d events read (kafka.consume), %d duplicates, %d gaps, %d spurious, '
	  . '%d order violations, %d wrong events, %d keys in several partitions, %d table differences; '
	  . 'longest stall after a coordinator kill: %s',
	$n_changes, $n{events}, $n{duplicates}, $n{gaps}, $n{spurious}, $n{order_violations},
	$n{wrong_event}, $n{multi_partition}, $n{table_diff}, join(', ', map { sprintf('%.1f s', $_) } @stalls));

is($n{events}, $n_changes, 'kafka.consume: exactly one event per committed change (read_committed)');
is($n{duplicates}, 0, 'no change arrives twice across two kills of the transaction coordinator');
is($n{gaps}, 0, 'no gap: every committed change arrived')
  or diag "committed changes that never arrived (table, key, version, op, xid):\n"
  . $node->safe_psql('postgres', q{
SELECT h.* FROM history h
 WHERE NOT EXISTS (SELECT 1 FROM dd WHERE (dd.tbl, dd.id, dd.xid) = (h.tbl, h.id, h.xid))
 ORDER BY h.xid LIMIT 30});
is($n{spurious}, 0, 'no event of a change that was not committed');
is($n{order_violations}, 0, "each key's versions arrive in increasing order");
is($n{wrong_event}, 0, 'each event has the op and version of its committed change');
is($n{multi_partition}, 0, "each key's events are in one partition");
is($n{table_diff}, 0, 'the last event of each key reproduces the three tables exactly');

# kcat, read_committed: each (topic, key, lsn, xid) once
my (%seen, $k_lines, $k_dups, $k_bad, @k_rc);
$k_lines = $k_dups = $k_bad = 0;
for my $t (qw(t1 t2 t3))
{
	my ($kout, $kerr) = ('', '');
	IPC::Run::run([ 'kcat', '-C', '-b', $bootstrap, '-t', "$prefix.public.$t", '-o', 'beginning', '-e', '-q',
			'-X', 'isolation.level=read_committed', '-f', "$t\t%k\t%h\n" ],
		'<', \undef, '>', \$kout, '2>', \$kerr, IPC::Run::timeout(120));
	push @k_rc, $? >> 8;
	diag "kcat $t: $kerr" if $kerr ne '';
	for (split /\n/, $kout)
	{
		$k_lines++;
		my ($tt, $k, $lsn, $xid) = /^(\S+)\t(.*?)\t.*?\blsn=([0-9A-F]+\/[0-9A-F]+).*?\bxid=(\d+)/;
		if (!defined $xid) { $k_bad++; next; }
		$k_dups++ if $seen{"$tt|$k|$lsn|$xid"}++;
	}
}
is(join(',', @k_rc), '0,0,0', 'kcat reads the topics');
is("$k_lines $k_dups $k_bad", "$n_changes 0 0", 'kcat -X isolation.level=read_committed: each change exactly once');

note 'pipeline_status: ' . $node->safe_psql('postgres',
	"SELECT transactional_id, kafka_committed_lsn, kafka_transactions, kafka_aborted, events_sent
	   FROM kafka.pipeline_status WHERE name = 'cdc'");

$node->stop;
is(log_has_crash($node), '', 'no backend crashed');
# what the worker logged (a failed worker starts again: counted, not checked)
my %logged;
my @log_lines = split /\n/, slurp_file($node->logfile);
for my $i (0 .. $#log_lines)
{
	next unless $log_lines[$i] =~ /\b(ERROR|WARNING):\s+(.*)/;
	my $m = "$1: $2";
	$m .= " ($1)" if $i < $#log_lines && $log_lines[ $i + 1 ] =~ /\bDETAIL:\s+(.*)/;
	$m =~ s/\d+/N/g;
	$logged{ substr($m, 0, 400) }++;
}
note "server log: " . (join('; ', map { "$_ (x$logged{$_})" } sort keys %logged) || 'no ERROR or WARNING');
($rc, $out) = cluster_ctl('stop');
$cluster_up = 0 if $rc == 0;
note sprintf('total time %.1f s', time() - $t_start);
done_testing();
