# An ERROR in the middle of a scan frees the scan's Kafka consumer: the
# backend's thread count (librdkafka threads, /proc/PID/task) goes back to
# what it was after a successful scan, i.e. only the cached metadata client
# stays.  All in ONE backend:
#   - a successful scan, then the count is the baseline;
#   - an open cursor has more threads (the consumer: shows the count sees
#     them), CLOSE gives them back;
#   - a strict json table whose 3rd message is not JSON: ERROR 22P02 at
#     offset 2, threads back to the baseline;
#   - SELECT v::int / 0 (division by zero while the consumer is alive);
#   - an aborted transaction with an open cursor on the topic;
#   - the failing scans repeated: nothing accumulates;
#   - a C++ exception surfaced as an ERROR (unknown topic, HV00R);
#   - the session still scans correctly afterwards;
#   - a backend terminated with a live consumer (open cursor) exits cleanly;
#   - no backend was killed by a signal (server log).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use KafkaTest;

brokers();    # skips without a broker
my $node = kafka_node('no_leaks');

my $text_topic = "tap_leaks_text_$$";
my $json_topic = "tap_leaks_json_$$";
my $missing_topic = "tap_leaks_missing_$$";
my $n_text = 50;
make_topic($node, $text_topic, 1);
make_topic($node, $json_topic, 1);
produce($text_topic, 0, [ 1 .. $n_text ]);
produce($json_topic, 0, [ '{"a": 1}', '{"a": 2}', 'this is not json', '{"a": 4}', '{"a": 5}' ]);
ok(wait_for_topic($node, $text_topic, $n_text, 60), 'text topic filled');
ok(wait_for_topic($node, $json_topic, 5, 60), 'json topic filled');

$node->safe_psql(
	'postgres', qq{
CREATE FOREIGN TABLE ft (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
                         v text OPTIONS (value 'true'))
  SERVER kafka OPTIONS (topic '$text_topic', format 'text');
CREATE FOREIGN TABLE fj (off bigint OPTIONS (offset 'true'), a int)
  SERVER kafka OPTIONS (topic '$json_topic', format 'json', strict 'true');
CREATE FOREIGN TABLE fmissing (v text OPTIONS (value 'true'))
  SERVER kafka OPTIONS (topic '$missing_topic', format 'text');
});

my $s = KafkaTest::Session->new($node, 'kfdw_leaks');
my $pid = $s->pid;
$s->query('SET kafka_fdw.timeout = 10000');

# warm up: the cached metadata client exists after a successful scan
my ($out, $err) = $s->query('SELECT count(*) FROM ft');
is($out, $n_text, 'a successful scan counts every message') or diag $err;
($out, $err) = $s->query('SELECT count(*) FROM fj WHERE off < 2');
is($out, 2, 'a successful scan of the json table before the bad message')
  or diag $err;
my $baseline = thread_count($pid);
note "threads after the warm-up scans: $baseline";
cmp_ok($baseline, '>', 1, 'the cached metadata client has threads of its own');

# one more successful scan: the baseline is stable
$s->query('SELECT count(*) FROM ft');
is(wait_thread_count($pid, $baseline), $baseline, 'a second successful scan leaves the baseline');

# an open cursor holds a consumer: more threads; CLOSE frees them
$s->query('BEGIN');
$s->query('DECLARE c CURSOR FOR SELECT v FROM ft');
($out, $err) = $s->query('FETCH 1 FROM c');
is($out, '1', 'the cursor fetches the first message');
my $during = thread_count($pid);
note "threads with an open cursor: $during";
cmp_ok($during, '>', $baseline, 'an open scan has its consumer threads');
$s->query('CLOSE c');
$s->query('COMMIT');
is(wait_thread_count($pid, $baseline), $baseline, 'CLOSE frees the consumer threads');

# Runs $sql, expects an ERROR matching $re, then the baseline thread count.
sub error_then_baseline
{
	my ($what, $sql, $re) = @_;
	my ($o, $e) = $s->query($sql);
	like($e, $re, "$what: ERROR");
	is(wait_thread_count($pid, $baseline), $baseline, "$what: threads back to the baseline");
	return;
}

error_then_baseline('bad json at the 3rd message', 'SELECT a FROM fj',
	qr/ERROR:\s+22P02:.*\n(?:.*\n)*CONTEXT:.*offset 2/);
error_then_baseline('division by zero mid-scan', 'SELECT v::int / 0 FROM ft',
	qr/ERROR:\s+22012: division by zero/);

# an ERROR in a transaction with an open cursor on the topic
$s->query('BEGIN');
$s->query('DECLARE c2 CURSOR FOR SELECT v FROM ft');
($out, $err) = $s->query('FETCH 2 FROM c2');
is($out, "1\n2", 'the second cursor fetches two messages');
cmp_ok(thread_count($pid), '>', $baseline, 'the second cursor has its consumer threads');
error_then_baseline('ERROR with an open cursor', 'SELECT 1 / 0',
	qr/ERROR:\s+22012: division by zero/);
$s->query('ROLLBACK');
is(wait_thread_count($pid, $baseline), $baseline, 'after the ROLLBACK too');

# repeated failures do not pile up
my $errors = 0;
for my $i (1 .. 3)
{
	for my $sql ('SELECT a FROM fj', 'SELECT v::int / 0 FROM ft')
	{
		($out, $err) = $s->query($sql);
		$errors++ if $err =~ /ERROR:\s+(22P02|22012):/;
	}
}
is($errors, 6, 'six more failed scans');
is(wait_thread_count($pid, $baseline), $baseline, 'after them: still the baseline');

# a C++ exception (unknown topic) surfaced as an ERROR
error_then_baseline('unknown topic', 'SELECT * FROM fmissing', qr/ERROR:\s+HV00R:.*does not exist/);
error_then_baseline('unknown topic in kafka.partitions()',
	"SELECT * FROM kafka.partitions('kafka', '$missing_topic')",
	qr/ERROR:\s+HV00R:.*does not exist/);

# the same backend still works
is($s->pid, $pid, 'still the same session');
($out, $err) = $s->query('SELECT pg_backend_pid()');
is($out, $pid, 'the backend survived every ERROR');
($out, $err) = $s->query('SELECT count(*), sum(v::int) FROM ft');
is($out, "$n_text|" . ($n_text * ($n_text + 1) / 2), 'and scans the topic correctly')
  or diag $err;
is(wait_thread_count($pid, $baseline), $baseline, 'baseline at the end');
$s->close;

# a backend that exits with a live consumer (open cursor, idle in
# transaction) and its metadata client: pg_terminate_backend() ends it
# cleanly
my $s2 = KafkaTest::Session->new($node, 'kfdw_leaks_exit');
$s2->query('BEGIN');
$s2->query('DECLARE c3 CURSOR FOR SELECT v FROM ft');
($out, $err) = $s2->query('FETCH 1 FROM c3');
is($out, '1', 'a cursor is open in another session');
my $pid2 = $s2->pid;
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid2)"),
	't', 'pg_terminate_backend() on it');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid2"),
	'the backend with a live consumer has exited');
$s2->close;

$node->stop;
is(log_has_crash($node), '', 'no backend was terminated by a signal');

done_testing();
