# Backups: a database with a server, a group with positions, a pipeline and a
# sink (both owned by a plain role) is dumped with pg_dump -Fc and restored
# with pg_restore into a new database of the same cluster -- the harder case:
# the original pipeline's slot exists there, under the old database's OID.
# The rows come back (owners, options, positions); the restored pipeline is
# paused with a status that says why and names the one command
# (kafka.restore_pipeline) that makes its slot and resumes it, and its events
# then flow; the restored sink is paused and, resumed, continues from the
# restored positions without applying anything twice; the original keeps
# running.  Plain roles cannot use restore-like INSERTs (docs/operations.md,
# "Backup and restore").
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
my $node = kafka_node('dump');
my $run = int(time() * 1000) % 100000000;    # topic names unique per run

sub sq { my ($sql, $db) = @_; return $node->safe_psql($db // 'postgres', $sql); }

sub wait_for
{
	my ($sql, $want, $db, $timeout) = @_;
	return wait_sql($node, $sql, $want, $timeout // 60, $db);
}

# N JSON messages {"id": first.., "qty": id % 7}
sub produce_orders
{
	my ($topic, $first, $n) = @_;
	sq("SELECT count(*) FROM (SELECT kafka.produce('kafka', '$topic', json_build_object('id', g, 'qty', g % 7)::text,
	      (g % 10)::text) FROM generate_series($first, $first + $n - 1) g) x");
}

my $orders = "dump_orders_$run";
my $prefix = "dump_$run";
my $events = "$prefix.public.items";

# --- the original database (postgres), its objects owned by alice ----------
sq("CREATE ROLE alice LOGIN REPLICATION;
    CREATE ROLE bob LOGIN;
    GRANT USAGE ON FOREIGN SERVER kafka TO alice;
    GRANT USAGE ON SCHEMA kafka TO alice, bob;
    GRANT CREATE ON DATABASE postgres TO alice;
    GRANT CREATE ON SCHEMA public TO alice;
    SELECT kafka.create_topic('kafka', '$orders', 2);");
sq("SET ROLE alice;
    CREATE FOREIGN TABLE orders_feed (id int, qty int) SERVER kafka
      OPTIONS (topic '$orders', format 'json', group 'dump_g_$run');
    CREATE TABLE orders (id int PRIMARY KEY, qty int);
    CREATE TABLE items (id int PRIMARY KEY, v text);
    INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c');
    CREATE PUBLICATION items_pub FOR TABLE items;
    SELECT kafka.create_pipeline('items', 'kafka', 'items_pub', '{\"topic_prefix\": \"$prefix\"}');
    SELECT kafka.create_sink('orders_sink', 'orders_feed', 'orders', '{\"batch_size\": 50}');");
produce_orders($orders, 1, 100);
is(wait_for('SELECT count(*) FROM orders', '100'), '100', 'original: the sink applied the first 100 messages');
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = 'items'", 'running'), 'running',
	'original: the pipeline runs');
sq("INSERT INTO items VALUES (4, 'd')");
# (events counted read_committed: an exactly-once pipeline's offsets also
# hold transaction markers)
my $events_before = wait_for("SELECT count(*) FROM kafka.consume('kafka', '$events')", '1');
is($events_before, '1', 'original: the insert went out as one event');
my $positions = sq("SELECT string_agg(topic || '/' || partition || '=' || next_offset, ' ' ORDER BY partition)
                      FROM kafka.group_offsets WHERE group_name = 'dump_g_$run'");
my $applied = sq("SELECT rows_applied FROM kafka.sinks WHERE name = 'orders_sink'");

# --- dump, new database, restore --------------------------------------------
my $dump = $node->basedir . '/postgres.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'postgres' ], 'pg_dump -Fc');
$node->command_ok([ 'createdb', 'copy' ], 'createdb copy');
$node->command_ok([ 'pg_restore', '-d', 'copy', $dump ], 'pg_restore into copy, without an error');
my $copy_oid = sq("SELECT oid FROM pg_database WHERE datname = 'copy'");

is(sq("SELECT name || ' ' || server || ' ' || publication || ' ' || owner || ' ' || paused || ' ' || (options->>'topic_prefix')
         || ' ' || slot_name FROM kafka.pipelines", 'copy'),
	"items kafka items_pub alice true $prefix kafka_fdw_${copy_oid}_items",
	'the pipeline came back: owner and options kept, paused, named the slot of its new database');
is(sq("SELECT name || ' ' || source || ' ' || target || ' ' || owner || ' ' || batch_size || ' ' || paused || ' ' || rows_applied
         FROM kafka.sinks", 'copy'),
	"orders_sink orders_feed orders alice 50 true $applied",
	'the sink came back: owner, source, target, options and counters kept, paused');
is(sq("SELECT string_agg(topic || '/' || partition || '=' || next_offset, ' ' ORDER BY partition)
         FROM kafka.group_offsets WHERE group_name = 'dump_g_$run'", 'copy'),
	$positions, "the group's positions came back");
is(sq("SELECT owner FROM kafka.groups WHERE group_name = 'dump_g_$run'", 'copy'), 'alice',
	"the group's owner came back");
is(sq('SELECT count(*) FROM orders', 'copy'), '100', "the target's rows came back (the dump's snapshot)");
like(sq("SELECT state || ' | ' || last_error FROM kafka.pipeline_status WHERE name = 'items'", 'copy'),
	qr/^paused \| replication slot kafka_fdw_${copy_oid}_items does not exist .*SELECT kafka\.restore_pipeline\('items'\)/,
	'pipeline_status: paused, last_error names the missing slot and the command');
is(sq("SELECT state FROM kafka.sink_status WHERE name = 'orders_sink'", 'copy'), 'paused', 'sink_status: paused');
is(sq("SELECT state FROM kafka.pipeline_status WHERE name = 'items'"), 'running',
	'the original pipeline still runs (its slot is its own)');

# resume_pipeline cannot resume it: no slot, no worker
my ($rc, $out, $err) = $node->psql('copy', "SET ROLE alice; SELECT kafka.resume_pipeline('items')");
like($err, qr/replication slot "kafka_fdw_${copy_oid}_items" of pipeline "items" does not exist.*HINT:.*restore_pipeline/s,
	'resume_pipeline of a pipeline without its slot: ERROR with the hint');

# --- plain roles: no restore-like INSERTs ----------------------------------
($rc, $out, $err) = $node->psql('copy',
	"SET ROLE bob; INSERT INTO kafka.sinks (name, source, target, owner, created_at, paused)
	   VALUES ('evil', 'orders_feed', 'orders', 'alice', now() - interval '1 day', true)");
like($err, qr/permission denied for table sinks/, 'a plain role cannot insert a sink with created_at (a restore-like row)');
($rc, $out, $err) = $node->psql('copy',
	"SET ROLE bob; INSERT INTO kafka.pipelines (name, server, publication, slot_name, owner)
	   VALUES ('evil', 'kafka', 'items_pub', 'x', 'alice')");
like($err, qr/permission denied for table pipelines/, 'a plain role cannot insert a pipeline');
($rc, $out, $err) = $node->psql('copy', "SET ROLE bob; SELECT kafka.restore_pipeline('items')");
like($err, qr/permission denied to manage pipeline "items"/, "a plain role cannot restore alice's pipeline");
($rc, $out, $err) = $node->psql('copy',
	"INSERT INTO kafka.sinks (name, source, target, owner) VALUES ('other', 'orders_feed', 'orders', 'alice')");
like($err, qr/a sink belongs to the role that creates it/,
	"a superuser's new row for another role still takes the checks (only copies of old rows are kept)");

# --- the restored sink continues from the restored positions ---------------
produce_orders($orders, 101, 50);
is(wait_for('SELECT count(*) FROM orders', '150'), '150', 'original: its sink goes on');
sleep 1;
is(sq('SELECT count(*) FROM orders', 'copy'), '100', 'the restored sink applies nothing while paused');
sq("SET ROLE alice; SELECT kafka.resume_sink('orders_sink')", 'copy');
is(wait_for('SELECT count(*) FROM orders', '150', 'copy'), '150', 'resumed: the messages after the dump arrive');
is(sq("SELECT count(DISTINCT id) || ' ' || min(id) || ' ' || max(id) FROM orders", 'copy'), '150 1 150',
	'each message once: nothing applied twice, nothing skipped');
is(wait_for("SELECT state || ' ' || rows_applied FROM kafka.sink_status WHERE name = 'orders_sink'",
		'running ' . ($applied + 50), 'copy'),
	'running ' . ($applied + 50), 'sink_status: running, rows_applied goes on from the restored count');
is(sq("SELECT sum(lag) FROM kafka.group_lag('kafka', 'dump_g_$run')", 'copy'), '0', "the restored group's lag is 0");

# --- one command brings the pipeline back ------------------------------------
sq("SET ROLE alice; SELECT kafka.restore_pipeline('items', snapshot => true)", 'copy');
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = 'items'", 'running', 'copy'), 'running',
	'restore_pipeline: running');
is(sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'kafka_fdw_${copy_oid}_items' AND database = 'copy'"),
	'1', 'its slot exists, in the new database');
sq("INSERT INTO items VALUES (5, 'from the copy')", 'copy');
# the snapshot's 4 rows, then the insert
is(wait_for("SELECT count(*) FROM kafka.consume('kafka', '$events')", $events_before + 5, 'copy'),
	$events_before + 5, 'the snapshot (4 rows) and the new insert went out');
is(sq("SELECT count(*) FROM kafka.consume('kafka', '$events') WHERE convert_from(value, 'UTF8') LIKE '%from the copy%'",
		'copy'),
	'1', "the copy's insert is an event");
($rc, $out, $err) = $node->psql('copy', "SELECT kafka.restore_pipeline('items')");
like($err, qr/pipeline "items" has its replication slot/, 'restore_pipeline again: ERROR, it has its slot');
is(sq("SELECT state FROM kafka.pipeline_status WHERE name = 'items'"), 'running', 'the original pipeline still runs');

# dropping the copy's pipeline leaves the original's slot alone
sq("SELECT kafka.drop_pipeline('items')", 'copy');
is(sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'kafka_fdw_%_items'"), '1',
	"drop_pipeline in the copy dropped the copy's slot only");
# A row that names the original's slot anyway (pg_restore --disable-triggers,
# or a superuser's UPDATE): dropping it in the copy leaves the original alone.
my $orig_slot = sq("SELECT slot_name FROM kafka.pipelines WHERE name = 'items'");
sq("INSERT INTO kafka.pipelines (name, server, publication, slot_name, owner) VALUES ('items', 'kafka', 'items_pub', 'x', 'alice');
    UPDATE kafka.pipelines SET slot_name = '$orig_slot' WHERE name = 'items';
    SELECT kafka.drop_pipeline('items');", 'copy');
is(sq("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$orig_slot'"), '1',
	"drop_pipeline of a row naming another database's slot does not drop that slot");
is(wait_for("SELECT state FROM kafka.pipeline_status WHERE name = 'items'", 'running'), 'running',
	'and the original pipeline runs');
sq("INSERT INTO items VALUES (6, 'after the drop in the copy')");
is(wait_for("SELECT count(*) FROM kafka.consume('kafka', '$events')", $events_before + 6), $events_before + 6,
	"the original's next change goes out");
sq("SELECT kafka.drop_pipeline('items'); SELECT kafka.drop_sink('orders_sink');");
sq("SELECT kafka.drop_sink('orders_sink')", 'copy');

ok(!log_has_crash($node), 'no backend crashed');
$node->stop;
done_testing();
