# A broker restart ($KAFKA_BROKER_SCRIPT restart: stop, then start with the
# same data and ports):
#   - before: a new backend and a long-lived session count the topic;
#   - while the broker is down (its port refuses connections): a scan in the
#     session (cached metadata client) ends within 10 s with either an ERROR
#     with SQLSTATE 08006 or, if the broker came back meanwhile, the exact
#     count; never a hang, a wrong count or another error;
#   - after the restart, once the broker answers: the exact same count from a
#     new backend and from the old session (its cached client failed during
#     the outage and was dropped at the end of that transaction), and messages
#     produced after the restart are seen.
#   - a session whose client failed to reach the broker does not keep that
#     client: server kafka_slow backs off reconnects for 30-60 s (librdkafka's
#     reconnect.backoff.ms), so a client that saw the outage would still be
#     waiting long after the restart; the session's next query after the
#     restart must count right anyway (the failed statement dropped it).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

use KafkaTest;

brokers();          # skips without a broker
broker_script();    # or without a way to restart it
my $node = kafka_node('outage');

my $topic = "tap_outage_$$";
my $per_partition = 100;
my $total = 2 * $per_partition;
make_topic($node, $topic, 2);
produce($topic, $_, [ map { "m$_" } 1 .. $per_partition ]) for 0 .. 1;
ok(wait_for_topic($node, $topic, $total, 60), "the topic holds $total messages");

$node->safe_psql(
	'postgres', qq{
CREATE FOREIGN TABLE ft (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
                         v text OPTIONS (value 'true'))
  SERVER kafka OPTIONS (topic '$topic', format 'text');
CREATE SERVER kafka_slow FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '@{[ brokers() ]}', "reconnect.backoff.ms" '40000', "reconnect.backoff.max.ms" '60000');
CREATE USER MAPPING FOR PUBLIC SERVER kafka_slow;
CREATE FOREIGN TABLE ft_slow (v text OPTIONS (value 'true'))
  SERVER kafka_slow OPTIONS (topic '$topic', format 'text');
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM ft'), $total, 'count(*) before the restart');

my $s = KafkaTest::Session->new($node, 'kfdw_outage');
$s->query('SET kafka_fdw.timeout = 1500');
my ($out, $err) = $s->query('SELECT count(*) FROM ft');
is($out, $total, 'the session counts the topic before the restart');
($out, $err) = $s->query('SELECT count(*) FROM ft_slow');
is($out, $total, 'and through the slow-reconnecting server');

my $restart = broker_restart_start();

# wait for the broker's port to refuse connections (stopped, not yet back)
my $down = broker_wait_down(60);
my $slow_failed = 0;
ok($down, 'the broker goes down during the restart');

SKIP:
{
	skip 'the broker never went down', 3 unless $down;
	my $t0 = time();
	($out, $err) = eval { $s->query('SELECT count(*) FROM ft', 60) };
	my $elapsed = time() - $t0;
	$err //= "no result: $@";
	note sprintf('scan while the broker is down: %.3f s; result "%s"; stderr: %s',
		$elapsed, $out // '', $err);
	ok(($err =~ /ERROR:\s+08006:/) || ($err eq '' && $out eq $total),
		'the scan fails with SQLSTATE 08006 (or, the broker back, counts right)');
	cmp_ok($elapsed, '<', 10.0, 'within 10 s (kafka_fdw.timeout 1.5 s)');

	# the slow server's client: its first connection attempt fails unless the
	# broker is back already, and it then backs off for 30-60 s
	($out, $err) = eval { $s->query('SELECT count(*) FROM ft_slow', 60) };
	$err //= "no result: $@";
	$slow_failed = ($err =~ /ERROR:\s+08006:/);
	ok($slow_failed || ($err eq '' && $out eq $total),
		'the slow server\'s scan fails with SQLSTATE 08006 (or, the broker back, counts right)')
	  or diag "result '$out', stderr: $err";
}

my ($rc, $msg) = broker_restart_wait($restart);
is($rc, 0, 'the broker restarted with its data') or diag "kafka_broker.sh restart: $msg";

ok(wait_for_broker($node, 120), 'the broker answers again');
ok(wait_for_topic($node, $topic, $total, 120), 'the topic has leaders again');

is($node->safe_psql('postgres', 'SELECT count(*) FROM ft'),
	$total, 'a new backend counts the same messages after the restart');
($out, $err) = $s->query('SELECT count(*) FROM ft', 60);
is($out, $total, 'the old session counts the same messages after the restart')
  or diag "stderr: $err";

SKIP:
{
	skip 'the slow server\'s client never saw the outage', 1 unless $slow_failed;
	($out, $err) = $s->query('SELECT count(*) FROM ft_slow', 60);
	is($out, $total, 'the old session counts through the slow server too (its failed client was dropped)')
	  or diag "stderr: $err";
}

produce($topic, 1, [ map { "late$_" } 1 .. 10 ]);
ok(wait_for_topic($node, $topic, $total + 10, 60), 'ten more messages produced after the restart');
($out, $err) = $s->query("SELECT count(*), count(*) FILTER (WHERE v LIKE 'late%') FROM ft", 60);
is($out, ($total + 10) . '|10', 'the old session sees them') or diag "stderr: $err";
$s->close;

$node->stop;
is(log_has_crash($node), '', 'no backend was terminated by a signal');

done_testing();
