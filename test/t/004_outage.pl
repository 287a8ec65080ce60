# A broker outage and restart ($KAFKA_BROKER_SCRIPT stop, then start
# --keep-data: what `restart` does, with a check while it is down):
#   - before: a new backend and a long-lived session count the topic;
#   - while the broker is down: the session's scan (cached metadata client)
#     and a new backend's scan end with an ERROR, SQLSTATE 08006, within a
#     bound, never a hang;
#   - after the restart (once the broker answers): the exact same count, from
#     a new backend and from the old session (its cached client reconnects),
#     and messages produced after the restart are seen.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use KafkaTest;

brokers();          # skips without a broker
broker_script();    # or without a way to pause/stop it
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
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM ft'), $total, 'count(*) before the outage');

my $s = KafkaTest::Session->new($node, 'kfdw_outage');
$s->query('SET kafka_fdw.timeout = 1500');
my ($out, $err) = $s->query('SELECT count(*) FROM ft');
is($out, $total, 'the session counts the topic before the outage');

my ($rc, $msg) = broker_stop();
is($rc, 0, 'the broker is stopped') or diag "kafka_broker.sh stop: $msg";

SKIP:
{
	skip 'the broker could not be stopped', 6 unless $rc == 0;

	# the session's cached client, then a new backend: each waits at most
	# kafka_fdw.timeout per Kafka operation (the planner's estimate is one
	# more bounded wait), so both end well within 10 s
	my $t0 = time();
	($out, $err) = eval { $s->query('SELECT count(*) FROM ft', 60) };
	my $elapsed = time() - $t0;
	note sprintf('session scan while down: %.3f s; stderr: %s', $elapsed, $err // $@);
	like($err // '', qr/ERROR:\s+08006:/, 'the session scan fails with SQLSTATE 08006 while the broker is down');
	cmp_ok($elapsed, '<', 10.0, 'within 10 s (kafka_fdw.timeout 1.5 s)');

	my $bg = bg_psql($node, 'kfdw_outage_new', 'SET kafka_fdw.timeout = 1500', 'SELECT count(*) FROM ft');
	my ($ended, $bg_elapsed, $bg_out, $bg_err) = bg_finish($bg, $bg->{start}, 60);
	note sprintf('new backend scan while down: %.3f s; stderr: %s', $bg_elapsed, $bg_err);
	ok($ended, 'a new backend scan does not hang while the broker is down');
	like($bg_err, qr/ERROR:\s+08006:/, 'it fails with SQLSTATE 08006');
	cmp_ok($bg_elapsed, '<', 10.0, 'within 10 s (kafka_fdw.timeout 1.5 s)');

	($rc, $msg) = broker_start();
	is($rc, 0, 'the broker is started again with its data') or diag "kafka_broker.sh start: $msg";
}

ok(wait_for_broker($node, 120), 'the broker answers again');
ok(wait_for_topic($node, $topic, $total, 120), 'the topic has leaders again');

is($node->safe_psql('postgres', 'SELECT count(*) FROM ft'),
	$total, 'a new backend counts the same messages after the restart');
($out, $err) = $s->query('SELECT count(*) FROM ft', 60);
is($out, $total, 'the old session counts the same messages after the restart')
  or diag "stderr: $err";

produce($topic, 1, [ map { "late$_" } 1 .. 10 ]);
ok(wait_for_topic($node, $topic, $total + 10, 60), 'ten more messages produced after the restart');
($out, $err) = $s->query("SELECT count(*), count(*) FILTER (WHERE v LIKE 'late%') FROM ft", 60);
is($out, ($total + 10) . '|10', 'the old session sees them') or diag "stderr: $err";
$s->close;

$node->stop;
is(log_has_crash($node), '', 'no backend was terminated by a signal');

done_testing();
