# The grants script of docs/security.md, run as it is written there, and
# what it promises: the application role reads and writes topics, uses
# consumer groups and owns sinks, with no other grant.
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
my $node = kafka_node('grants');
my $run = int(time() * 1000) % 100000000;

my $doc = slurp_file("$FindBin::RealBin/../docs/security.md");
my ($script) = $doc =~ /<!-- grants-script: begin -->\s*```sql\n(.*?)```\s*<!-- grants-script: end -->/s;
ok(defined $script, 'docs/security.md has the grants script');
$script =~ s/localhost:9092/$brokers/g;
$script =~ s/current_database_placeholder/appdb/g;

$node->safe_psql('postgres', 'CREATE DATABASE appdb');
my ($rc, $out, $err) = $node->psql('appdb', $script, on_error_stop => 1);
is($rc, 0, 'the grants script runs') or diag($err);

sub as_app
{
	my ($sql) = @_;
	return $node->psql('appdb', $sql, extra_params => [ '-U', 'app' ], on_error_stop => 1);
}

my $topic = "app_$run";
($rc, $out, $err) = as_app(qq{
SELECT kafka.create_topic('kafka', '$topic', 2);
CREATE FOREIGN TABLE app.events (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), id int, what text)
  SERVER kafka OPTIONS (topic '$topic', format 'json');
INSERT INTO app.events (id, what) SELECT g, 'e' || g FROM generate_series(1, 100) g;
SELECT count(*), sum(id) FROM app.events;
});
is($rc, 0, 'app creates a topic and a foreign table, produces and consumes') or diag($err);
like($out, qr/100\|5050$/, 'app reads back what it wrote');

($rc, $out, $err) = as_app(qq{
CREATE FOREIGN TABLE app.feed (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), id int, what text)
  SERVER kafka OPTIONS (topic '$topic', format 'json', group 'app_loader');
CREATE TABLE app.copy (id int, what text);
INSERT INTO app.copy SELECT id, what FROM app.feed;
INSERT INTO app.copy SELECT id, what FROM app.feed;
SELECT count(*) FROM app.copy;
SELECT sum(lag) FROM kafka.group_lag('kafka', 'app_loader');
});
is($rc, 0, 'app loads through a consumer group') or diag($err);
like($out, qr/^100\n0$/, 'exactly once, and the group has no lag');

($rc, $out, $err) = as_app(qq{
CREATE FOREIGN TABLE app.sink_feed (id int, what text) SERVER kafka OPTIONS (topic '$topic', format 'json', group 'app_sink');
CREATE TABLE app.mirror (id int, what text);
SELECT kafka.create_sink('app_mirror', 'app.sink_feed', 'app.mirror');
});
is($rc, 0, 'app creates a sink') or diag($err);
my $t0 = time();
my $n = '';
while (time() - $t0 < 30)
{
	$n = $node->safe_psql('appdb', 'SELECT count(*) FROM app.mirror');
	last if $n eq '100';
	sleep 0.2;
}
is($n, '100', "app's sink applies the topic");
($rc, $out, $err) = as_app("SELECT state, last_error IS NULL FROM kafka.sink_status WHERE name = 'app_mirror'");
is($out, 'running|t', 'app sees its sink running');

is(log_has_crash($node), '', 'no backend crashed');
$node->stop;
done_testing();
