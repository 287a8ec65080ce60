# Waits on Kafka are cancellable and bounded:
#  (a) a broker that accepts TCP connections but never answers (a listening
#      socket nobody accept()s): kafka.topics() with kafka_fdw.timeout = 60 s
#      ends within 2 s of pg_cancel_backend(), with "canceling statement";
#  (b) the same under statement_timeout = 1500ms: ends by the statement
#      timeout, well before kafka_fdw.timeout;
#  (c) a refused broker (127.0.0.1:1) with kafka_fdw.timeout = 1500: an
#      ERROR with SQLSTATE 08006 (connection_failure) within 6 s, not a hang;
#  (d) pg_terminate_backend() during the black hole wait: FATAL 57P01 within
#      2 s, and the backend exits cleanly.
# No backend crashes (server log), and the server still reaches the real
# broker afterwards.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;

use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use KafkaTest;

brokers();    # skips without a broker
my $node = kafka_node('cancel');

# A black hole: the kernel completes the handshake for the listen backlog,
# but nobody ever reads or answers.
my $hole = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Proto => 'tcp',
	Listen => 1,
	ReuseAddr => 1) or die "cannot listen: $!";
my $hole_port = $hole->sockport;
note "black hole broker on 127.0.0.1:$hole_port";

$node->safe_psql(
	'postgres', qq{
CREATE SERVER blackhole FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '127.0.0.1:$hole_port');
CREATE SERVER refused FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '127.0.0.1:1');
});

# ---------------------------------------------------------------------------
# (a) pg_cancel_backend() during a metadata wait on the black hole
{
	my $bg = bg_psql($node, 'kfdw_cancel_a',
		'SET kafka_fdw.timeout = 60000',
		"SELECT * FROM kafka.topics('blackhole')");
	my $pid = bg_wait_active($node, $bg, '%kafka.topics%', 1, 60);
	ok(defined $pid, 'kafka.topics() on the black hole is still running after 1 s')
	  or diag "psql output: $bg->{out} / $bg->{err}";
  SKIP:
	{
		skip 'the statement never became active', 3 unless defined $pid;
		my $t0 = time();
		my $ok = $node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
		is($ok, 't', 'pg_cancel_backend() found the backend');
		my ($in_time, $elapsed, $out, $err) = bg_finish($bg, $t0, 30);
		note sprintf('cancel took %.3f s', $elapsed);
		note "psql stderr: $err";
		like($err, qr/57014: canceling statement due to user request/,
			'the statement ends with a query-canceled error');
		cmp_ok($elapsed, '<', 2.0, 'it ends within 2 s of the cancel');
	}
}

# ---------------------------------------------------------------------------
# (b) statement_timeout during the same wait
{
	my $bg = bg_psql($node, 'kfdw_cancel_b',
		'SET kafka_fdw.timeout = 60000',
		"SET statement_timeout = '1500ms'",
		"SELECT * FROM kafka.topics('blackhole')");
	my ($in_time, $elapsed, $out, $err) = bg_finish($bg, $bg->{start}, 60);
	note sprintf('statement_timeout case took %.3f s (psql start included)', $elapsed);
	note "psql stderr: $err";
	like($err, qr/57014: canceling statement due to statement timeout/,
		'statement_timeout ends the wait on the black hole');
	cmp_ok($elapsed, '<', 4.0, 'within 4 s (statement_timeout 1.5 s)');
}

# ---------------------------------------------------------------------------
# (c) a refused broker: an ERROR after kafka_fdw.timeout at the latest
{
	my $bg = bg_psql($node, 'kfdw_cancel_c',
		'SET kafka_fdw.timeout = 1500',
		"SELECT * FROM kafka.topics('refused')");
	my ($in_time, $elapsed, $out, $err) = bg_finish($bg, $bg->{start}, 60);
	note sprintf('refused broker case took %.3f s', $elapsed);
	note "psql stderr: $err";
	ok($in_time, 'kafka.topics() on a refused broker does not hang');
	like($err, qr/ERROR:\s+08006:/, 'it fails with SQLSTATE 08006 (connection_failure)')
	  or diag "stderr: $err";
	cmp_ok($elapsed, '<', 6.0, 'within 6 s (kafka_fdw.timeout 1.5 s)');
}

# ---------------------------------------------------------------------------
# (d) pg_terminate_backend() during the same wait: the backend exits cleanly
# (FATAL 57P01), fast, without crashing (librdkafka's threads are still
# running when it exits)
{
	my $bg = bg_psql($node, 'kfdw_cancel_d',
		'SET kafka_fdw.timeout = 60000',
		"SELECT * FROM kafka.topics('blackhole')");
	my $pid = bg_wait_active($node, $bg, '%kafka.topics%', 1, 60);
	ok(defined $pid, '(d) kafka.topics() on the black hole is still running after 1 s')
	  or diag "psql output: $bg->{out} / $bg->{err}";
  SKIP:
	{
		skip 'the statement never became active', 4 unless defined $pid;
		my $t0 = time();
		is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"),
			't', 'pg_terminate_backend() found the backend');
		my ($in_time, $elapsed, $out, $err) = bg_finish($bg, $t0, 30);
		note sprintf('terminate took %.3f s', $elapsed);
		note "psql stderr: $err";
		like($err, qr/57P01: terminating connection due to administrator command/,
			'the backend is terminated');
		cmp_ok($elapsed, '<', 2.0, 'it ends within 2 s of pg_terminate_backend()');
		my $gone = $node->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid");
		ok($gone, 'the backend has exited');
	}
}

# ---------------------------------------------------------------------------
# The server is fine, the real broker still answers through a new backend,
# and no backend died.
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server still answers');
ok(wait_for_broker($node, 60), 'the real broker answers kafka.topics()');
$node->stop;
is(log_has_crash($node), '', 'no backend was terminated by a signal');

close($hole);
done_testing();
