# The client cache (src/fdw/connection.cpp) drops clients only at the end of
# a transaction and never waits on the network doing so.  A consumer-group
# client whose offset commit is still in flight cannot be destroyed without
# waiting: librdkafka's consumer close waits for every commit in flight, with
# a hung broker until its coordinator wait times out (45 s), uncancellable.
# Such a client is set apart until its commit reports instead:
#  - a session queues a group commit (kafka.set_group_offset) and the broker
#    hangs (SIGSTOPped through $KAFKA_BROKER_SCRIPT pause) before its COMMIT:
#    the commit stays in flight;
#  - past 2 x kafka_fdw.timeout the cache no longer keeps the client for it;
#    the server's options change: the entry is dropped at the end of that
#    transaction (the ALTER's COMMIT comes back at once);
#  - the session's next statement on the server fails after its own
#    kafka_fdw.timeout, within 10 s (before the fix it first destroyed the old
#    group client and sat out librdkafka's wait);
#  - after the resume the session sets the group's position again.
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
broker_script();    # or without a way to pause it
my $node = kafka_node('client_reaping');

my $topic = "tap_reaping_$$";
make_topic($node, $topic, 1);
produce($topic, 0, [ map { "m$_" } 1 .. 10 ]);
ok(wait_for_topic($node, $topic, 10, 60), 'the topic holds 10 messages');

my $s = KafkaTest::Session->new($node, 'kfdw_reaping');
$s->query('SET kafka_fdw.timeout = 300');
my ($out, $err) = $s->query(
	"BEGIN; SELECT kafka.set_group_offset('kafka', 'tap_reaping_g', '$topic', 0, 5);");
is($err, '', 'a group position is set in an open transaction');

my $ended = 1;
my ($prc, $pout) = broker_pause();
is($prc, 0, 'the broker is paused') or diag "kafka_broker.sh pause: $pout";

SKIP:
{
	skip 'the broker could not be paused', 4 unless $prc == 0;

	my $t0 = time();
	($out, $err) = $s->query('COMMIT', 60);
	cmp_ok(time() - $t0, '<', 5, 'COMMIT comes back at once: the broker-side commit is left in flight');

	# past twice the timeout: the cache no longer keeps the client for it
	sleep(1.5);
	$t0 = time();
	($out, $err) = $s->query(q{ALTER SERVER kafka OPTIONS (ADD "client.id" 'tap_reaping')}, 120);
	my $alter_s = time() - $t0;
	note sprintf('ALTER SERVER took %.3f s; stderr: %s', $alter_s, $err);
	cmp_ok($alter_s, '<', 5, 'the ALTER that drops the entry comes back at once');

	$t0 = time();
	$ended = eval {
		($out, $err) = $s->query(
			"SELECT kafka.set_group_offset('kafka', 'tap_reaping_g', '$topic', 0, 6)", 30);
		1;
	};
	my $next_s = time() - $t0;
	note sprintf('the next statement took %.3f s; stderr: %s', $next_s, $ended ? $err : "none: $@");
	ok($ended && $next_s < 10, 'the next statement on the server does not wait for the old client');
	like($ended ? $err : '', qr/ERROR/, 'and fails on the hung broker');
}

my ($rrc, $rout) = broker_resume();
is($rrc, 0, 'the broker is resumed') or diag "kafka_broker.sh resume: $rout";
# a statement still waiting (the bug) ends once the broker is back
eval { $s->wait_result(120); 1 } unless $ended;
ok(wait_for_broker($node, 90), 'the broker answers again');
ok(wait_for_topic($node, $topic, 10, 90), 'the topic has a leader again');

($out, $err) = $s->query(
	"SET kafka_fdw.timeout = 10000; SELECT kafka.set_group_offset('kafka', 'tap_reaping_g', '$topic', 0, 7)", 60);
is($err, '', 'the session sets the position again after the resume');
($out, $err) = $s->query(
	"SELECT next_offset FROM kafka.group_lag('kafka', 'tap_reaping_g') WHERE topic = '$topic'", 60);
is($out, '7', 'the group is at the position set last') or diag "stderr: $err";
$s->close;

$node->stop;
is(log_has_crash($node), '', 'no backend was terminated by a signal');

done_testing();
