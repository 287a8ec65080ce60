# kafka.lag and the stall warnings: the view's rows for a consumer group, a
# sink and a pipeline with their numbers checked (messages produced but not
# consumed; 0 after catching up), what a plain role sees of them, a server
# that cannot be reached (its rows say why, the view still answers), and the
# WARNING of a stalled sink (its server unreachable) and of a pipeline
# paused with changes pending, each once, then the LOG of their recovery.
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
my $node = kafka_node('lag');
$node->append_conf('postgresql.conf', qq{
kafka_fdw.stall_warning_after = 1
kafka_fdw.timeout = '2s'
});
$node->reload;
my $run = int(time() * 1000) % 100000000;    # topic names unique per run

sub sq { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }

sub wait_for
{
	my ($sql, $want, $timeout) = @_;
	$timeout //= 60;
	my $t0 = time();
	my $got;
	while (time() - $t0 < $timeout)
	{
		$got = $node->safe_psql('postgres', $sql);
		return $got if $got eq $want;
		sleep 0.2;
	}
	return $got;
}

# The number of server log lines matching $re from byte $offset on.
sub log_count
{
	my ($re, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset // 0);
	my @m = $log =~ /$re/g;
	return scalar @m;
}

# Waits (up to 60 s) until the server log has a line matching $re after
# $offset; returns whether it came.
sub wait_log
{
	my ($re, $offset) = @_;
	my $t0 = time();
	while (time() - $t0 < 60)
	{
		return 1 if log_count($re, $offset) > 0;
		sleep 0.2;
	}
	return 0;
}

sub produce_ids
{
	my ($topic, $first, $n) = @_;
	sq("SELECT count(*) FROM (SELECT kafka.produce('kafka', '$topic', json_build_object('id', g)::text::bytea)
	      FROM generate_series($first, $first + $n - 1) g) x");
}

# --- a consumer group: messages produced but not consumed ------------------
my $gt = "lag_g_$run";
sq("SELECT kafka.create_topic('kafka', '$gt', 2);
    CREATE FOREIGN TABLE gfeed (id int) SERVER kafka OPTIONS (topic '$gt', format 'json', group 'lag_g');");
produce_ids($gt, 1, 6);
is(sq('SELECT count(*) FROM gfeed'), '6', 'the group reads the first 6 messages');
produce_ids($gt, 7, 4);
is( sq("SELECT kind || ' ' || server || ' ' || owner || ' ' || lag_messages || ' ' || (lag_error IS NULL)
	      || ' ' || (seconds_since_progress >= 0) FROM kafka.lag WHERE kind = 'group' AND name = 'lag_g'"),
	'group kafka postgres 4 true true',
	'group row: the 4 messages produced since, summed over both partitions');
is(sq('SELECT count(*) FROM gfeed'), '4', 'the group reads them');
is(sq("SELECT lag_messages FROM kafka.lag WHERE kind = 'group' AND name = 'lag_g'"), '0',
	'group row: 0 once caught up');

# --- a sink on a server of its own (made unreachable below) ----------------
my $st = "lag_s_$run";
sq("CREATE SERVER kafka2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$brokers');
    CREATE USER MAPPING FOR PUBLIC SERVER kafka2;
    SELECT kafka.create_topic('kafka', '$st', 2);
    CREATE FOREIGN TABLE sfeed (id int) SERVER kafka2 OPTIONS (topic '$st', format 'json', group 'lag_sink_g');
    CREATE TABLE target (id int);
    SELECT kafka.create_sink('lag_sink', 'sfeed', 'target', '{\"batch_size\": 50}');");
produce_ids($st, 1, 300);
is(wait_for('SELECT count(*) FROM target', '300'), '300', 'the sink applies 300 messages');
is( sq("SELECT server || ' ' || owner || ' ' || state || ' ' || lag_messages || ' ' || (events_per_second > 0)
	      || ' ' || (last_error IS NULL) FROM kafka.lag WHERE kind = 'sink' AND name = 'lag_sink'"),
	'kafka2 postgres running 0 true true',
	'sink row: caught up (0 behind), rows per second counted');
sq("SELECT kafka.pause_sink('lag_sink')");
wait_for("SELECT state FROM kafka.sink_status WHERE name = 'lag_sink'", 'paused');
produce_ids($st, 301, 7);
is(sq("SELECT lag_messages FROM kafka.lag WHERE kind = 'sink' AND name = 'lag_sink'"), '7',
	'sink row: the 7 messages produced while it is paused');
is(sq("SELECT lag_messages FROM kafka.lag WHERE kind = 'group' AND name = 'lag_sink_g'"), '7',
	"and its group's row says the same");
sq("SELECT kafka.resume_sink('lag_sink')");
is(wait_for("SELECT lag_messages FROM kafka.lag WHERE kind = 'sink' AND name = 'lag_sink'", '0'), '0',
	'sink row: 0 once it applied them');

# --- a pipeline ---------------------------------------------------------------
sq("CREATE TABLE src (id int PRIMARY KEY);
    CREATE PUBLICATION lag_pub FOR TABLE src;
    SELECT kafka.create_pipeline('lag_pipe', 'kafka', 'lag_pub', '{\"topic_prefix\": \"lag$run\"}');");
is(wait_for("SELECT state FROM kafka.lag WHERE kind = 'pipeline' AND name = 'lag_pipe'", 'running'), 'running',
	'pipeline row: running');
sq('INSERT INTO src SELECT generate_series(1, 200)');
is(wait_for("SELECT events_per_second > 0 FROM kafka.lag WHERE kind = 'pipeline' AND name = 'lag_pipe'", 't'), 't',
	'pipeline row: events per second counted');
is( sq("SELECT server || ' ' || owner || ' ' || (lag_bytes IS NOT NULL) || ' ' || (lag_messages IS NULL)
	      || ' ' || (seconds_since_progress >= 0) FROM kafka.lag WHERE kind = 'pipeline' AND name = 'lag_pipe'"),
	'kafka postgres true true true', 'pipeline row: WAL bytes behind, no messages, seconds since progress');

# --- what a plain role sees ------------------------------------------------------
sq("CREATE ROLE plain LOGIN; GRANT USAGE ON SCHEMA kafka TO plain; GRANT USAGE ON FOREIGN SERVER kafka, kafka2 TO plain;");
my $as_plain = "SET ROLE plain; SELECT kind || ' ' || name || ' ' || coalesce(lag_messages::text, 'null') FROM kafka.lag
	  WHERE kind <> 'pipeline' ORDER BY 1";
is($node->safe_psql('postgres', $as_plain),
	"group lag_g null\ngroup lag_sink_g null\nsink lag_sink null",
	"a plain role sees every row, not the lag of others' groups");
sq('GRANT pg_read_all_stats TO plain');
is($node->safe_psql('postgres', $as_plain),
	"group lag_g 0\ngroup lag_sink_g 0\nsink lag_sink 0",
	'a member of pg_read_all_stats sees the numbers');

# --- stalls: a sink whose server cannot be reached ----------------------------------
my $offset = -s $node->logfile;
is(log_count(qr/sink "lag_sink" has not advanced/, 0), 0, 'no stall warning for a sink with nothing to do');
sq("ALTER SERVER kafka2 OPTIONS (SET brokers '127.0.0.1:1')");
produce_ids($st, 308, 5);
ok(wait_log(qr/WARNING:  kafka_fdw: sink "lag_sink" has not advanced for \d+ s: messages behind unknown/, $offset),
	'a sink that fails to advance: WARNING, naming it and its lag');
like(slurp_file($node->logfile, $offset), qr/DETAIL:  Its last error: .+/, 'with its last error');
my $down = sq("SELECT kind || ' ' || name || ' ' || coalesce(lag_messages::text, 'null') || ' ' || (lag_error IS NOT NULL)
	  || ' ' || (last_error IS NOT NULL) FROM kafka.lag WHERE kind <> 'pipeline' ORDER BY kind, name");
is($down, "group lag_g 0 false false\ngroup lag_sink_g null true false\nsink lag_sink null true true",
	'the unreachable server: its rows have no lag and say why; the other rows and the view still answer');
is($node->safe_psql('postgres', "SET ROLE plain; SELECT last_error IS NULL FROM kafka.lag WHERE name = 'lag_sink'"),
	't', "a plain role does not see others' last_error");
sq("ALTER SERVER kafka2 OPTIONS (SET brokers '$brokers')");
ok(wait_log(qr/LOG:  kafka_fdw: sink "lag_sink" advances again after a stall of \d+ s/, $offset),
	'its recovery is logged');
is(wait_for('SELECT count(*) FROM target', '312'), '312', 'and the sink applies what waited');
is(log_count(qr/sink "lag_sink" has not advanced/, $offset), 1, 'the stall was reported once');

# --- stalls: a pipeline paused with changes pending -----------------------------------
$offset = -s $node->logfile;
sq("SELECT kafka.pause_pipeline('lag_pipe')");
wait_for("SELECT state FROM kafka.lag WHERE kind = 'pipeline' AND name = 'lag_pipe'", 'paused');
sq('INSERT INTO src SELECT generate_series(201, 210)');
ok( wait_log(
		qr/WARNING:  kafka_fdw: pipeline "lag_pipe" in database "postgres" has not advanced for \d+ s with \d+ bytes of WAL behind/,
		$offset),
	'a paused pipeline with changes pending: WARNING, naming it and its lag');
like(slurp_file($node->logfile, $offset), qr/DETAIL:  Its state: paused; last error: /, 'with its state');
ok(sq("SELECT lag_bytes FROM kafka.lag WHERE kind = 'pipeline' AND name = 'lag_pipe'") > 0,
	'pipeline row: WAL bytes behind while paused');
sq("SELECT kafka.resume_pipeline('lag_pipe')");
ok(wait_log(qr/LOG:  kafka_fdw: pipeline "lag_pipe" in database "postgres" advances again after a stall of \d+ s/,
		$offset),
	'its recovery is logged');
is(log_count(qr/pipeline "lag_pipe" in database "postgres" has not advanced/, $offset), 1,
	'the stall was reported once');

sq("SELECT kafka.drop_sink('lag_sink'); SELECT kafka.drop_pipeline('lag_pipe');");

# kafka.produce_progress: an INSERT into a topic table under way, seen from
# another session (its own role, and pg_read_all_stats' members; not others)
sq("CREATE TABLE pp_src AS SELECT g AS id FROM generate_series(1, 4000) g;
    CREATE FOREIGN TABLE pp_out (id int) SERVER kafka OPTIONS (topic 'lag_pp_$$', format 'json');
    SELECT kafka.create_topic('kafka', 'lag_pp_$$', 1);
    CREATE ROLE pp_other LOGIN; GRANT USAGE ON SCHEMA kafka TO pp_other;");
my $bg = bg_psql($node, 'kfdw_pp', 'INSERT INTO pp_out SELECT id FROM pp_src WHERE pg_sleep(0.001) IS NOT NULL');
is(wait_for("SELECT count(*) FROM kafka.produce_progress WHERE \"table\" = 'pp_out'::regclass AND messages_queued >= 1000
	  AND pid = (SELECT pid FROM pg_stat_activity WHERE application_name = 'kfdw_pp')", '1'), '1',
	'kafka.produce_progress: the INSERT under way, with the messages queued so far');
is($node->safe_psql('postgres', "SET ROLE pp_other; SELECT count(*) FROM kafka.produce_progress"), '0',
	'another role does not see it');
my ($done, undef, undef, $bg_err) = bg_finish($bg, time(), 120);
ok($done && $bg_err eq '', 'the INSERT ends') or diag $bg_err;
is(sq("SELECT count(*) FROM kafka.produce_progress"), '0', 'and its row is gone');
my $ps = KafkaTest::Session->new($node, 'kfdw_pp2');
$ps->query('BEGIN; SAVEPOINT a;');
$ps->query('INSERT INTO pp_out SELECT 1 / (id - 1) FROM pp_src WHERE id <= 2');    # division by zero
$ps->query('ROLLBACK TO a;');
is(sq("SELECT count(*) FROM kafka.produce_progress WHERE pid = " . $ps->pid), '0',
	'an INSERT that failed in a subtransaction leaves no row (the transaction goes on)');
$ps->query('COMMIT;');
$ps->close;

ok(!log_has_crash($node), 'no backend crashed');
$node->stop;
done_testing();
