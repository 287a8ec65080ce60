# A scan of a topic whose broker hangs (SIGSTOPped through
# $KAFKA_BROKER_SCRIPT pause) is cancellable:
#  (a) a new backend, kafka_fdw.timeout = 60 s: SELECT count(*) is cancelled
#      after ~1 s of waiting and ends within 2 s of pg_cancel_backend();
#  (b) a backend that already scanned the topic (cached, connected metadata
#      client): the same, cancelled after ~2.5 s, i.e. past the planner's
#      2 s estimate and inside the execution's wait;
# then, once the broker is resumed and answers again, both a new backend and
# the session of (b) count the exact number of messages again.
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
my $node = kafka_node('scan_cancel');

my $topic = "tap_scan_cancel_$$";
my $per_partition = 100;
my $total = 3 * $per_partition;
make_topic($node, $topic, 3);
produce($topic, $_, [ map { "p$_-m$_" } 1 .. $per_partition ]) for 0 .. 2;
ok(wait_for_topic($node, $topic, $total, 60), "the topic holds $total messages");

$node->safe_psql(
	'postgres', qq{
CREATE FOREIGN TABLE ft (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
                         v text OPTIONS (value 'true'))
  SERVER kafka OPTIONS (topic '$topic', format 'text');
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM ft'),
	$total, 'count(*) before the outage');

# a session that has scanned the topic before the broker hangs
my $warm = KafkaTest::Session->new($node, 'kfdw_warm');
$warm->query('SET kafka_fdw.timeout = 60000');
my ($warm_count) = $warm->query('SELECT count(*) FROM ft');
is($warm_count, $total, 'count(*) in the warm session before the outage');

# Sends pg_cancel_backend($pid) and waits for the statement to end through
# $finish (returns (ended?, stderr)); checks the error and the time taken.
sub cancel_and_check
{
	my ($what, $pid, $finish) = @_;
	my $t0 = time();
	is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"),
		't', "$what: pg_cancel_backend() found the backend");
	my ($ended, $err) = $finish->();
	my $elapsed = time() - $t0;
	note sprintf('%s: ended %.3f s after the cancel; stderr: %s', $what, $elapsed, $err);
	ok($ended, "$what: the statement ended after the cancel");
	like($err, qr/57014: canceling statement due to user request/,
		"$what: it fails with a query-canceled error");
	cmp_ok($elapsed, '<', 2.0, "$what: within 2 s of the cancel");
	return;
}

# a session that read through a consumer group and commits while the broker
# hangs: the positions are sent to the group coordinator after COMMIT
# without waiting (the COMMIT callback cannot be cancelled, and it ran with
# the positions' rows locked).  With a 10-minute timeout, a COMMIT that
# waited for the coordinator would not come back within the 60 s below.
$node->safe_psql(
	'postgres', qq{
CREATE FOREIGN TABLE fg (v text OPTIONS (value 'true'))
  SERVER kafka OPTIONS (topic '$topic', format 'text', group 'tap_scan_cancel_g');
});
my $grp = KafkaTest::Session->new($node, 'kfdw_group');
$grp->query('SET kafka_fdw.timeout = 600000');
my ($gcount, $gerr) = $grp->query('BEGIN; SELECT count(*) FROM fg;');
is($gcount, $total, 'the group session reads every message before the outage') or diag "stderr: $gerr";

my ($prc, $pout) = broker_pause();
is($prc, 0, 'the broker is paused') or diag "kafka_broker.sh pause: $pout";
my $paused_at = time();

{
	my ($cout, $cerr);
	my $ended = eval { ($cout, $cerr) = $grp->query('COMMIT', 60); 1 };
	ok($ended, 'COMMIT of a group read comes back while the broker hangs') or diag "error: $@";
	is($ended ? $cerr : '', '', 'without an error or a warning');
}

SKIP:
{
	skip 'the broker could not be paused', 10 unless $prc == 0;

	# (a) a new backend
	my $bg = bg_psql($node, 'kfdw_scan_a',
		'SET kafka_fdw.timeout = 60000', 'SELECT count(*) FROM ft');
	my $pid = bg_wait_active($node, $bg, '%count(*) FROM ft%', 1, 60);
	ok(defined $pid, '(a) the scan is still waiting after 1 s')
	  or diag "psql output: $bg->{out} / $bg->{err}";
	if (defined $pid)
	{
		cancel_and_check('(a)', $pid,
			sub { my @r = bg_finish($bg, time(), 30); return ($r[0], $r[3]); });
	}
	else
	{
		bg_finish($bg, time(), 5);
	}

	# (b) the warm session, past the planner's estimate
	$warm->send('SELECT count(*) FROM ft');
	$pid = bg_wait_active($node, $warm, '%count(*) FROM ft%', 2.5, 60);
	ok(defined $pid && $pid == $warm->pid,
		'(b) the scan in the warm session is still waiting after 2.5 s');
	if (defined $pid)
	{
		cancel_and_check(
			'(b)', $pid,
			sub {
				my ($out, $err);
				my $ended = eval { ($out, $err) = $warm->wait_result(30); 1 };
				return ($ended, $ended ? $err : "no result: $@");
			});
	}
}

note sprintf('the broker was paused for %.1f s', time() - $paused_at);
my ($rrc, $rout) = broker_resume();
is($rrc, 0, 'the broker is resumed') or diag "kafka_broker.sh resume: $rout";

# After a pause of more than a few seconds the broker is briefly fenced:
# wait until it serves the topic again.
ok(wait_for_broker($node, 90), 'the broker answers again');
ok(wait_for_topic($node, $topic, $total, 90), 'the topic has leaders again');

is($node->safe_psql('postgres', 'SELECT count(*) FROM ft'),
	$total, 'a new backend counts every message after the outage');
my ($left, $lerr) = $grp->query('SET kafka_fdw.timeout = 10000; SELECT count(*) FROM fg', 60);
is($left, '0', 'the group session finds nothing left to read: its positions were stored')
  or diag "stderr: $lerr";
$grp->close;
my ($out, $err) = $warm->query('SELECT count(*) FROM ft');
is($out, $total, 'the warm session counts every message after the outage')
  or diag "stderr: $err";
$warm->close;

$node->stop;
is(log_has_crash($node), '', 'no backend was terminated by a signal');

done_testing();
