# Heartbeats ({"heartbeat_interval_ms": 1000}) and WAL retention of an idle
# pipeline: for 60 s an unpublished table of the same database and a table
# of another database are written without pause while the pipeline's own
# table stays idle.  The pipeline's slot must keep up (it never holds WAL
# older than 40 s: the slot's restart_lsn moves past running-transactions
# records, logged every 15 s), and the heartbeat topic gets a record about
# every second (key {"serverName": prefix}, value {"ts_ms", "lsn"}, the lsn
# moving with the WAL read).  Runs on PostgreSQL 15 only (no code of it
# differs between majors; a minute of CI time).
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
my $node = kafka_node('hb');
plan skip_all => 'runs on PostgreSQL 15 only' unless $node->pg_version < 16;
my $run = int(time() * 1000) % 100000000;
my $busy_s = $ENV{KAFKA_FDW_HEARTBEAT_SECONDS} // 60;

sub sq { my ($sql, $db) = @_; return $node->safe_psql($db // 'postgres', $sql); }

sq("CREATE DATABASE other");
sq("CREATE TABLE busy (id bigserial PRIMARY KEY, v text)", 'other');
sq(qq{
CREATE TABLE quiet (id int PRIMARY KEY);
CREATE TABLE busy (id bigserial PRIMARY KEY, v text);
CREATE PUBLICATION pub FOR TABLE quiet;
SELECT kafka.create_pipeline('hb', 'kafka', 'pub', '{"topic_prefix": "hb$run", "heartbeat_interval_ms": 1000}');
});
my $slot = sq("SELECT slot_name FROM kafka.pipelines WHERE name = 'hb'");
is(wait_sql($node, "SELECT state FROM kafka.pipeline_status WHERE name = 'hb'", 'running'), 'running', 'the pipeline runs');

my $work = "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
  WHILE clock_timestamp() < t0 + interval '$busy_s s' LOOP
    INSERT INTO busy (v) SELECT repeat('x', 200) FROM generate_series(1, 100);
    COMMIT;
    PERFORM pg_sleep(0.01);
  END LOOP; END \$\$";
my $t0 = time();
my $start_lsn = sq('SELECT pg_current_wal_lsn()');
my @bg = (bg_psql($node, 'busy_here', $work));
# (the other database's writer: the same loop there)
my $other = { out => '', err => '' };
$other->{h} = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('other'), '-c', $work ],
	'<', \undef, '>', \$other->{out}, '2>', \$other->{err}, IPC::Run::timeout($busy_s + 120));

# (about 2 MB/s from each writer)
# samples: [seconds since start, current WAL position, the slot's restart_lsn]
my @samples;
while (time() - $t0 < $busy_s + 2)
{
	sleep 5;
	my ($cur, $restart) = split /\|/, sq(
		"SELECT pg_current_wal_lsn(), restart_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
	push @samples, [ time() - $t0, $cur, $restart ];
}
my ($ok) = bg_finish($bg[0], $t0, 120);
ok($ok, 'the busy writer of this database ends');
eval { $other->{h}->finish; };
is($other->{err}, '', 'the busy writer of the other database ends');
my $end_lsn = sq('SELECT pg_current_wal_lsn()');
my $written = sq("SELECT pg_wal_lsn_diff('$end_lsn', '$start_lsn')");
note sprintf('%d s of writes: %.1f MB of WAL', $busy_s, $written / 1048576);
cmp_ok($written, '>', 20 * 1048576, 'the writers wrote more than 20 MB of WAL');

# the slot never holds WAL older than 40 s
my ($checked, $held_too_long) = (0, 0);
for my $s (grep { $_->[0] >= 45 } @samples)
{
	my ($before) = grep { $_->[0] <= $s->[0] - 40 } reverse @samples;
	next unless $before;
	$checked++;
	my $behind = sq("SELECT pg_wal_lsn_diff('$before->[1]', '$s->[2]')");
	my $held = sq("SELECT pg_wal_lsn_diff('$s->[1]', '$s->[2]')");
	note sprintf('at %.0f s: the slot holds %.1f MB of WAL; restart_lsn %s, WAL at %.0f s was %s', $s->[0],
		$held / 1048576, $s->[2], $before->[0], $before->[1]);
	$held_too_long++ if $behind > 0;
}
cmp_ok($checked, '>=', 2, 'samples after 45 s were checked') if $busy_s >= 60;
is($held_too_long, 0, 'the idle pipeline\'s slot never holds WAL older than 40 s');

# heartbeats
my $topic = "__kafka_fdw_heartbeat.hb$run";
my ($n, $keys, $lsn_moves, $ts_ok) = split /\|/, sq(qq{
SELECT count(*), count(DISTINCT convert_from(key, 'UTF8')),
       count(*) FILTER (WHERE lsn > prev_lsn), bool_and(ts_ms BETWEEN extract(epoch FROM now() - interval '10 min') * 1000
                                                                 AND extract(epoch FROM now()) * 1000)
  FROM (SELECT key, (convert_from(value, 'UTF8')::jsonb ->> 'lsn')::pg_lsn AS lsn,
               (convert_from(value, 'UTF8')::jsonb ->> 'ts_ms')::bigint AS ts_ms,
               lag((convert_from(value, 'UTF8')::jsonb ->> 'lsn')::pg_lsn) OVER (ORDER BY "offset") AS prev_lsn
          FROM kafka.consume('kafka', '$topic')) h});
cmp_ok($n, '>=', int($busy_s * 0.6), "heartbeat records about every second ($n in $busy_s s)");
is($keys, '1', 'one key');
is(sq("SELECT convert_from(key, 'UTF8') FROM kafka.consume('kafka', '$topic') LIMIT 1"), qq({"serverName":"hb$run"}),
	'the key names the topic prefix, as Debezium\'s');
cmp_ok($lsn_moves, '>=', int($busy_s * 0.4), 'their lsn moves with the WAL read');
is($ts_ok, 't', 'ts_ms is the time of the record');

# none without the option: the pipeline's topics only
sq("SELECT kafka.create_pipeline('nohb', 'kafka', 'pub', '{\"topic_prefix\": \"nohb$run\"}')");
is(wait_sql($node, "SELECT state FROM kafka.pipeline_status WHERE name = 'nohb'", 'running'), 'running', 'a pipeline without heartbeats runs');
sleep 3;
is(sq("SELECT count(*) FROM kafka.topics('kafka') WHERE topic = '__kafka_fdw_heartbeat.nohb$run'"), '0',
	'it makes no heartbeat topic');
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT kafka.create_pipeline('bad', 'kafka', 'pub', '{\"heartbeat_interval_ms\": -1}')");
like($err, qr/pipeline option "heartbeat_interval_ms" must be a whole number from 0/, 'a negative interval is refused');
done_testing();
