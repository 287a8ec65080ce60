# Sinks: a topic applied into a table continuously by the database's sink
# worker, through a group foreign table.  Exactly once across an immediate
# stop of the server; upsert (the last message of a key wins); a failing
# batch is retried (and reported) until the cause is fixed; pause, resume,
# drop; a CDC pipeline's topic applied back into a replica (tombstones
# delete); permissions; options.
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
my $node = kafka_node('sink');
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

# N JSON messages {"id": first..first+n-1, "qty": id % 7} keyed by id % 50
sub produce_orders
{
	my ($topic, $first, $n) = @_;
	sq("SELECT count(*) FROM (SELECT kafka.produce('kafka', '$topic', json_build_object('id', g, 'qty', g % 7)::text::bytea,
	      (g % 50)::text::bytea) FROM generate_series($first, $first + $n - 1) g) x");
}

my $orders = "orders_$run";
sq("SELECT kafka.create_topic('kafka', '$orders', 3);
    CREATE FOREIGN TABLE orders_feed (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
      id int, qty int) SERVER kafka OPTIONS (topic '$orders', format 'json', group 'sink_orders');
    CREATE TABLE orders (id int, qty int CHECK (qty >= 0));");
produce_orders($orders, 1, 5000);

# --- exactly once across an immediate stop --------------------------------
sq("SELECT kafka.create_sink('orders_sink', 'orders_feed', 'orders', '{\"batch_size\": 100}')");
my $t0 = time();
my $mid = '0';
while (time() - $t0 < 60)
{
	$mid = sq('SELECT count(*) FROM orders');
	last if $mid > 0;
	sleep 0.05;
}
note "rows applied before the immediate stop: $mid of 5000";
$node->stop('immediate');
$node->start;
produce_orders($orders, 5001, 1000);
is(wait_for('SELECT count(*) FROM orders', '6000', 90), '6000', 'every message is applied, also after an immediate stop');
is(sq('SELECT count(DISTINCT id) || \' \' || min(id) || \' \' || max(id) FROM orders'), '6000 1 6000',
	'each message exactly once (no duplicate, no gap)');
is(sq("SELECT state || ' ' || rows_applied FROM kafka.sink_status WHERE name = 'orders_sink'"), 'running 6000',
	'sink_status: running, rows_applied counts them (kept across the restart: same transaction)');
is(sq("SELECT sum(lag) FROM kafka.group_lag('kafka', 'sink_orders')"), '0', "the group's lag is 0");

# --- a batch that fails is retried until the cause goes -------------------
sq("SELECT kafka.produce('kafka', '$orders', '{\"id\": 6001, \"qty\": -1}'::bytea, '1'::bytea)");
produce_orders($orders, 6002, 10);
is(wait_for("SELECT state || ' ' || (last_error LIKE '%violates check constraint%') FROM kafka.sink_status
	  WHERE name = 'orders_sink'", 'retrying true'), 'retrying true',
	'a row the target refuses: state retrying, last_error says why');
my $stuck = sq('SELECT count(*) FROM orders');
ok($stuck >= 6000 && $stuck < 6011, "nothing of the failing batch is applied ($stuck rows)");
sq('ALTER TABLE orders DROP CONSTRAINT orders_qty_check');
is(wait_for('SELECT count(*) FROM orders', '6011', 60), '6011', 'once the cause is gone the sink goes on');
is(wait_for("SELECT state FROM kafka.sink_status WHERE name = 'orders_sink'", 'running'), 'running', 'state running again');

# A message the source cannot decode, with strict 'true': the sink stops on
# it and last_error names the message; moving the group past it goes on.
my $junk = "junk_$run";
sq("SELECT kafka.create_topic('kafka', '$junk', 1);
    SELECT kafka.produce('kafka', '$junk', 'oops'::bytea);
    SELECT kafka.produce('kafka', '$junk', '{\"id\": 1}'::bytea);
    CREATE FOREIGN TABLE junk_feed (id int) SERVER kafka OPTIONS (topic '$junk', format 'json', group 'sink_junk', strict 'true');
    CREATE TABLE junk_t (id int);
    SELECT kafka.create_sink('junk_sink', 'junk_feed', 'junk_t');");
my $junk_error = "retrying | could not decode json message: value is not valid JSON at byte 0 (topic \"$junk\", partition 0, offset 0)";
is(wait_for("SELECT state || ' | ' || last_error FROM kafka.sink_status WHERE name = 'junk_sink'", $junk_error),
	$junk_error,
	'strict source: the sink stops on an undecodable message, last_error names its topic, partition and offset');
sq("SELECT kafka.set_group_offset('kafka', 'sink_junk', '$junk', 0, 1)");
is(wait_for('SELECT count(*) FROM junk_t', '1', 60), '1', 'moved past it with set_group_offset, the sink goes on');
sq("SELECT kafka.drop_sink('junk_sink')");

# --- pause, resume -------------------------------------------------------------
sq("SELECT kafka.pause_sink('orders_sink')");
is(sq("SELECT state || ' ' || (worker_pid IS NULL) FROM kafka.sink_status WHERE name = 'orders_sink'"), 'paused true',
	'pause_sink: paused');
produce_orders($orders, 6012, 20);
sleep 2;
is(sq('SELECT count(*) FROM orders'), '6011', 'a paused sink applies nothing');
sq("SELECT kafka.resume_sink('orders_sink')");
is(wait_for('SELECT count(*) FROM orders', '6031', 30), '6031', 'resume_sink: the messages sent meanwhile arrive');

# A batch under way when pause_sink is called: the pause waits for it, and
# nothing is applied once pause_sink returned.  The batch is held in a row
# trigger that sleeps for one marked message.
sq(q{CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(3); RETURN NEW; END$$;
     CREATE TRIGGER orders_slow BEFORE INSERT ON orders FOR EACH ROW WHEN (NEW.qty = 999) EXECUTE FUNCTION slow_row();});
sq("SELECT kafka.produce('kafka', '$orders', '{\"id\": 9001, \"qty\": 999}'::bytea, '1'::bytea)");
is(wait_for("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw sink' AND wait_event = 'PgSleep'", '1'),
	'1', 'a batch is under way (held in a slow trigger)');
sq("SELECT kafka.pause_sink('orders_sink')");
my $at_pause = sq('SELECT count(*) FROM orders');
is($at_pause, '6032', 'pause_sink waited for the batch under way, which was applied');
sleep 4;
is(sq('SELECT count(*) FROM orders'), $at_pause, 'nothing is applied once pause_sink returned');
sq("DROP TRIGGER orders_slow ON orders; SELECT kafka.resume_sink('orders_sink')");

# --- upsert: the last message of each key wins ---------------------------
my $stock = "stock_$run";
sq("SELECT kafka.create_topic('kafka', '$stock', 3);
    CREATE FOREIGN TABLE stock_feed (p int OPTIONS (partition 'true'), o bigint OPTIONS (offset 'true'),
      id int, qty int) SERVER kafka OPTIONS (topic '$stock', format 'json', group 'sink_stock');
    CREATE TABLE stock (id int PRIMARY KEY, qty int);
    SELECT count(*) FROM (SELECT kafka.produce('kafka', '$stock', json_build_object('id', g % 100, 'qty', g)::text::bytea,
      (g % 100)::text::bytea) FROM generate_series(1, 3000) g) x;
    SELECT kafka.create_sink('stock_sink', 'stock_feed', 'stock', '{\"mode\": \"upsert\", \"batch_size\": 250}');");
is(wait_for('SELECT count(*) || \' \' || sum(qty) FROM stock', '100 ' . (2901 + 3000) * 100 / 2, 60),
	'100 ' . (2901 + 3000) * 100 / 2, 'upsert: one row per key, each with its last message');

# --- Postgres -> Kafka -> Postgres: a pipeline's topic applied by a sink ------
# With the message key (jsonb) and whole value columns, an upsert sink also
# applies tombstones as deletes: the replica follows inserts, updates,
# deletes and key changes of the source table.
sq("CREATE TABLE src (id int PRIMARY KEY, name text, qty int);
    INSERT INTO src SELECT g, 'n' || g, g FROM generate_series(1, 500) g;
    CREATE PUBLICATION src_pub FOR TABLE src;
    SELECT kafka.create_pipeline('rt$run', 'kafka', 'src_pub', '{\"partitions\": 3, \"snapshot\": true}');
    CREATE TABLE replica (id int PRIMARY KEY, name text, qty int);
    CREATE FOREIGN TABLE src_feed (p int OPTIONS (partition 'true'), o bigint OPTIONS (offset 'true'),
      k jsonb OPTIONS (key 'true'), v jsonb OPTIONS (value 'true'), id int, name text, qty int)
      SERVER kafka OPTIONS (topic 'rt$run.public.src', format 'json', group 'replica');");
is(wait_for("SELECT snapshot FROM kafka.pipelines WHERE name = 'rt$run'", 'done'), 'done', "the pipeline's snapshot is in its topic");
sq("SELECT kafka.create_sink('replica_sink', 'src_feed', 'replica', '{\"mode\": \"upsert\", \"batch_size\": 100}');
    UPDATE src SET qty = qty * 10 WHERE id % 3 = 0;
    DELETE FROM src WHERE id % 5 = 0;
    UPDATE src SET id = id + 1000 WHERE id % 7 = 0;
    INSERT INTO src VALUES (9999, 'late', 1);");
is(wait_for("SELECT count(*) FROM ((SELECT * FROM src EXCEPT SELECT * FROM replica)
	  UNION ALL (SELECT * FROM replica EXCEPT SELECT * FROM src)) d", '0', 60), '0',
	'the replica equals the source table (inserts, updates, deletes, key changes)');
sq("SELECT kafka.drop_sink('replica_sink'); SELECT kafka.drop_pipeline('rt$run');");

# --- Debezium events (here a pipeline's, with schemas) applied by a sink --------
sq(q{CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE w (id int PRIMARY KEY, name text NOT NULL, active bool, price numeric(10,2), n numeric, d date,
  t time, t3 time(3), ts timestamp, ts3 timestamp(3), tz timestamptz, u uuid, j jsonb, b bytea, m mood,
  a int[], ta text[], f float8, r real, s smallint, big bigint, addr inet, txt text);
CREATE PUBLICATION wp FOR TABLE w;
CREATE TABLE w_replica (LIKE w);
ALTER TABLE w_replica ADD PRIMARY KEY (id);});
sq("SELECT kafka.create_pipeline('dz$run', 'kafka', 'wp', '{\"format\": \"debezium\", \"partitions\": 3}')");
sq("CREATE FOREIGN TABLE w_feed (p int OPTIONS (partition 'true'), o bigint OPTIONS (offset 'true'),
      v jsonb OPTIONS (value 'true')) SERVER kafka OPTIONS (topic 'dz$run.public.w', format 'json', group 'wrep');
    SELECT kafka.create_sink('wrep', 'w_feed', 'w_replica', '{\"format\": \"debezium\"}');");
sq(q{INSERT INTO w VALUES (1, 'gadget', true, -1234.56, 3.14159, '2026-11-30', '12:34:56.789012', '12:34:56.789',
  '2018-06-20 15:13:16.945104', '2018-06-20 15:13:16.945', '2025-07-30 18:36:58.596117+00',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"x": [1, 2], "q": "say hi"}', '\x0102ff', 'happy', '{1,2,NULL}',
  '{a,"b c"}', 1.5, 2.25, 7, 9007199254740993, '10.0.0.1/8', E'line\nbreak "quoted"'),
  (2, 'nulls', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}', '{}', NULL, NULL,
   NULL, NULL, NULL, NULL);
INSERT INTO w (id, name, n, d) SELECT g, 'n' || g, g / 7.0, date '2000-01-01' + g FROM generate_series(3, 300) g;
UPDATE w SET name = 'upd', price = 0.01 WHERE id % 3 = 0;
DELETE FROM w WHERE id % 5 = 0;
UPDATE w SET id = id + 1000 WHERE id % 7 = 0;});
is(wait_for("SELECT count(*) FROM ((SELECT * FROM w EXCEPT SELECT * FROM w_replica)
	  UNION ALL (SELECT * FROM w_replica EXCEPT SELECT * FROM w)) d", '0', 60), '0',
	'sink format debezium: the replica equals the source, every type decoded from Debezium encodings');
is(sq("SELECT count(*) FROM w_replica"), sq("SELECT count(*) FROM w"), 'creates, updates, deletes and key changes applied');
sq("SELECT kafka.drop_sink('wrep'); SELECT kafka.drop_pipeline('dz$run');");

# --- a sink whose target is gone fails alone ------------------------------------
sq("CREATE FOREIGN TABLE orders_feed2 (id int, qty int) SERVER kafka OPTIONS (topic '$orders', format 'json', group 'doomed');
    CREATE TABLE doomed (id int, qty int);
    SELECT kafka.create_sink('doomed_sink', 'orders_feed2', 'doomed');");
is(wait_for("SELECT rows_applied > 0 FROM kafka.sink_status WHERE name = 'doomed_sink'", 't'), 't', 'a second sink on the same topic runs');
sq('DROP TABLE doomed');
is(wait_for("SELECT state FROM kafka.sink_status WHERE name = 'doomed_sink'", 'retrying'), 'retrying',
	'its target dropped: that sink is retrying, with the error');
my $before = sq('SELECT count(*) FROM orders');
produce_orders($orders, 6100, 5);
is(wait_for('SELECT count(*) FROM orders', $before + 5), $before + 5, 'while the other sink of the database goes on');
sq("SELECT kafka.drop_sink('doomed_sink')");

# --- options and permissions ---------------------------------------------------
my ($rc, $out, $err);
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_sink('x', 'stock', 'orders')");
like($err, qr/is not a kafka_fdw foreign table/, 'the source must be a kafka_fdw foreign table');
sq("CREATE FOREIGN TABLE nogroup (id int) SERVER kafka OPTIONS (topic '$orders', format 'json')");
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_sink('x', 'nogroup', 'orders')");
like($err, qr/has no consumer group/, 'the source needs a consumer group');
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_sink('x', 'orders_feed', 'orders', '{\"mode\": \"upsert\"}')");
like($err, qr/needs a primary key/, 'upsert needs a primary key');
($rc, $out, $err) = $node->psql('postgres', "SELECT kafka.create_sink('x', 'orders_feed', 'orders', '{\"bogus\": 1}')");
like($err, qr/unknown sink option "bogus"/, 'unknown option');
sq("CREATE ROLE sinker LOGIN; GRANT USAGE ON SCHEMA kafka TO sinker; GRANT SELECT ON orders_feed TO sinker;");
($rc, $out, $err) = $node->psql('postgres', "SET ROLE sinker; SELECT kafka.create_sink('x', 'orders_feed', 'orders')");
like($err, qr/permission denied to create sink "x"/, 'the owner needs INSERT on the target');
($rc, $out, $err) = $node->psql('postgres', "SET ROLE sinker; SELECT kafka.drop_sink('stock_sink')");
like($err, qr/does not exist, or is not yours/, "another role cannot drop a sink");
($rc, $out, $err) = $node->psql('postgres', "SET ROLE sinker; UPDATE kafka.sinks SET owner = 'sinker'");
like($err, qr/permission denied/, 'nor change its owner');

# --- drop: the worker ends when its database has no sink left --------------
sq("SELECT kafka.drop_sink('orders_sink'); SELECT kafka.drop_sink('stock_sink');");
is(wait_for("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw sink'", '0', 30), '0',
	'with no sink left the sink worker ends');
produce_orders($orders, 7000, 10);
sleep 1;
is(sq('SELECT count(*) FROM orders'), '6037', 'a dropped sink applies nothing');

ok(!log_has_crash($node), 'no backend crashed');
$node->stop;
done_testing();
