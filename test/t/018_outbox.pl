# The outbox (issue 22, "Outbox without an outbox table"):
# kafka.produce_on_commit writes a transactional logical message that the
# pipeline's worker sends after commit, in commit order with the row events
# of the same transaction; nothing on rollback or for a rolled-back
# savepoint.  Only the pipeline's owner and the roles it granted may call
# it, only for the topics of the option "outbox_topics"; a message with the
# outbox prefix written any other way (pg_logical_emit_message by a plain
# role, non-transactional, or a real message copied into another
# transaction) is dropped and counted in kafka.outbox_status.  Other
# prefixes are ignored.
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
my $node = kafka_node('outbox');
my $run = int(time() * 1000) % 100000000;    # topic names unique per run
my $pipe = "ob_$run";
my $events = "$pipe.events";              # an outbox topic of its own
my $rows = "$pipe.public.orders";         # the table's topic, also an outbox topic

sub sq { return $node->safe_psql('postgres', $_[0]); }

# $sql as $role (a login of its own); (exit status, stdout, stderr with the
# SQLSTATE)
sub as
{
	my ($role, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $role, '-v', 'ON_ERROR_STOP=1' ]);
	return ($rc, $out, $err);
}

sub sqlstate
{
	my ($err) = @_;
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : "none ($err)";
}

# The owner is a plain role with what a pipeline needs; alice and mallory
# are plain roles without REPLICATION.
sq(qq{
CREATE ROLE ob_owner LOGIN REPLICATION;
CREATE ROLE alice LOGIN;
CREATE ROLE mallory LOGIN;
GRANT CREATE ON DATABASE postgres TO ob_owner;
GRANT CREATE ON SCHEMA public TO ob_owner;
GRANT USAGE ON FOREIGN SERVER kafka TO ob_owner;
GRANT USAGE ON SCHEMA kafka TO ob_owner, alice, mallory;
});
my ($rc, $out, $err) = as('ob_owner', qq{
CREATE TABLE orders (id int PRIMARY KEY, note text);
GRANT INSERT ON orders TO alice;
CREATE PUBLICATION pub_ob FOR TABLE orders;
});
is($rc, 0, 'the owner makes its table and publication') or diag $err;

# the option is checked at create_pipeline
($rc, $out, $err) = as('ob_owner', qq{SELECT kafka.create_pipeline('${pipe}_bad', 'kafka', 'pub_ob', '{"outbox_topics": "x"}')});
is(sqlstate($err), '22023', 'outbox_topics must be an array');
($rc, $out, $err) = as('ob_owner', qq{SELECT kafka.create_pipeline('${pipe}_bad', 'kafka', 'pub_ob', '{"outbox_topics": ["a b"]}')});
is(sqlstate($err), '22023', 'outbox_topics must hold topic names');

($rc, $out, $err) = as('ob_owner', qq{SELECT kafka.create_pipeline('$pipe', 'kafka', 'pub_ob',
  '{"partitions": 1, "outbox_topics": ["$events", "$rows"]}')});
is($rc, 0, 'the owner creates the pipeline with outbox topics') or diag $err;
is(wait_sql($node, "SELECT state FROM kafka.pipeline_status WHERE name = '$pipe'", 'running', 90),
	'running', 'the pipeline streams');

# ---- who may call it ----------------------------------------------------------
($rc, $out, $err) = as('alice', qq{SELECT kafka.produce_on_commit('$pipe', '$events', 'x')});
is(sqlstate($err), '42501', 'a role without the grant is refused');
like($err, qr/grant_produce_on_commit/, '... and told who can grant it');
($rc, $out, $err) = as('alice', qq{SELECT kafka.grant_produce_on_commit('$pipe', 'alice')});
is(sqlstate($err), '42501', 'a plain role cannot grant it to itself');
($rc, $out, $err) = as('ob_owner', qq{SELECT kafka.grant_produce_on_commit('$pipe', 'alice')});
is($rc, 0, 'the owner grants it') or diag $err;
($rc, $out, $err) = as('mallory', qq{SELECT kafka.produce_on_commit('$pipe', '$events', 'x')});
is(sqlstate($err), '42501', 'another role still is refused');
($rc, $out, $err) = as('alice', qq{SELECT kafka.produce_on_commit('$pipe', '$pipe.nope', 'x')});
is(sqlstate($err), '42501', 'a topic not in outbox_topics is refused');
like($err, qr/not an outbox topic/, '... with a clear message');
($rc, $out, $err) = as('alice', qq{SELECT kafka.produce_on_commit('no_such_pipe', '$events', 'x')});
is(sqlstate($err), '42704', 'an unknown pipeline is an error');

# ---- commit, rollback, savepoints -------------------------------------------------
($rc, $out, $err) = as('alice', qq{
BEGIN;
SELECT kafka.produce_on_commit('$pipe', '$events', '{"order": 1}', 'k1', '{"type": "created", "n": null}');
COMMIT;
BEGIN;
SELECT kafka.produce_on_commit('$pipe', '$events', 'rolled back');
ROLLBACK;
BEGIN;
SELECT kafka.produce_on_commit('$pipe', '$events', 'kept 1');
SAVEPOINT s;
SELECT kafka.produce_on_commit('$pipe', '$events', 'in a rolled-back savepoint');
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s2;
SELECT kafka.produce_on_commit('$pipe', '$events', 'kept 2');
RELEASE SAVEPOINT s2;
COMMIT;
SELECT kafka.produce_on_commit('$pipe', '$events', '\\xdeadbeef'::bytea, '\\x0001'::bytea);
SELECT kafka.produce_on_commit('$pipe', '$events', '{"b": [1, 2]}'::jsonb, 'kj');
SELECT kafka.produce_on_commit('$pipe', '$events', NULL::text, 'tomb');
});
is($rc, 0, 'alice produces on commit') or diag $err;

my $q = "SELECT count(*) FROM kafka.consume('kafka', '$events')";
is(wait_sql($node, $q, '6', 60), '6', 'six messages delivered');
is(sq(qq{SELECT string_agg(coalesce(convert_from(value, 'UTF8'), '<null>'), '|' ORDER BY "offset")
           FROM kafka.consume('kafka', '$events') WHERE value IS NULL OR value <> '\\xdeadbeef'}),
	'{"order": 1}|kept 1|kept 2|{"b": [1, 2]}|<null>',
	'commit delivers, rollback and a rolled-back savepoint deliver nothing, in commit order');
is(sq(qq{SELECT convert_from(key, 'UTF8') || ' ' || (headers->>'type') || ' ' || (headers ? 'n')::text
           || ' ' || coalesce(headers->>'n', '<null>') || ' ' || (headers ? 'lsn')::text
           FROM kafka.consume('kafka', '$events') WHERE value = convert_to('{"order": 1}', 'UTF8')}),
	'k1 created true <null> true', 'key and headers (a null header too), and the lsn header');
is(sq(qq{SELECT key::text FROM kafka.consume('kafka', '$events') WHERE value = '\\xdeadbeef'}),
	'\\x0001', 'bytea value and key as they are');
is(sq(qq{SELECT convert_from(key, 'UTF8') FROM kafka.consume('kafka', '$events') WHERE value IS NULL}),
	'tomb', 'a NULL value is a tombstone');

# ---- in order with the row events of the same transaction --------------------------
($rc, $out, $err) = as('alice', qq{
BEGIN;
INSERT INTO orders VALUES (1, 'first');
SELECT kafka.produce_on_commit('$pipe', '$rows', 'between the rows');
INSERT INTO orders VALUES (2, 'second');
COMMIT;
});
is($rc, 0, 'rows and a message in one transaction') or diag $err;
$q = "SELECT count(*) FROM kafka.consume('kafka', '$rows')";
is(wait_sql($node, $q, '3', 60), '3', 'three messages in the table topic');
is(sq(qq{SELECT string_agg(CASE WHEN v LIKE '\{%' THEN v::jsonb->>'note' ELSE v END, '|' ORDER BY "offset")
           FROM (SELECT "offset", convert_from(value, 'UTF8') v FROM kafka.consume('kafka', '$rows')) m}),
	'first|between the rows|second', 'the message sits between the two row events, as written');
is(sq(qq{SELECT count(DISTINCT headers->>'lsn') || ' ' || count(DISTINCT headers->>'xid')
           FROM kafka.consume('kafka', '$rows')}),
	'1 1', 'same transaction (lsn and xid headers) as its row events');

# commit order, not call order: the second caller commits first
my $s1 = KafkaTest::Session->new($node, 'ob_s1');
my $s2 = KafkaTest::Session->new($node, 'ob_s2');
$s1->query("SET ROLE alice; BEGIN; SELECT kafka.produce_on_commit('$pipe', '$events', 'called first, committed last')");
$s2->query("SET ROLE alice; BEGIN; SELECT kafka.produce_on_commit('$pipe', '$events', 'called last, committed first'); COMMIT");
$s1->query("COMMIT");
$s1->close;
$s2->close;
$q = "SELECT count(*) FROM kafka.consume('kafka', '$events')";
is(wait_sql($node, $q, '8', 60), '8', 'both delivered');
is(sq(qq{SELECT string_agg(convert_from(v, 'UTF8'), '|' ORDER BY o) FROM (
           SELECT value AS v, "offset" AS o FROM kafka.consume('kafka', '$events')
            ORDER BY "offset" DESC LIMIT 2) x}),
	'called last, committed first|called first, committed last', 'in commit order');

# ---- forgeries: dropped and counted, never delivered ---------------------------------
# A well-formed payload for this pipeline and topic with a made-up tag.
my $forged = qq{'\\x01'::bytea || int2send(length('$pipe')::int2) || convert_to('$pipe', 'UTF8')
  || int2send(length('$events')::int2) || convert_to('$events', 'UTF8') || '\\x00'::bytea
  || '\\x01'::bytea || int4send(6) || convert_to('forged', 'UTF8') || '\\x0000'::bytea
  || decode(repeat('00', 32), 'hex')};
($rc, $out, $err) = as('mallory', qq{
BEGIN;
SELECT pg_logical_emit_message(true, 'kafka_fdw.outbox', $forged) IS NOT NULL;
COMMIT;
SELECT pg_logical_emit_message(false, 'kafka_fdw.outbox', $forged) IS NOT NULL;
SELECT pg_logical_emit_message(true, 'another.prefix', 'not ours') IS NOT NULL;
});
is($rc, 0, 'a plain role can write logical messages with the prefix') or diag $err;

# A real message copied into another transaction (read back through a slot
# of our own, as a role that can read the WAL could): its tag does not fit.
sq(qq{SELECT pg_create_logical_replication_slot('ob_peek', 'pgoutput')});
as('alice', qq{SELECT kafka.produce_on_commit('$pipe', '$events', 'original')});
my $copy = sq(qq{SELECT substr(data, 32)::text FROM pg_logical_slot_peek_binary_changes('ob_peek', NULL, NULL,
  'proto_version', '1', 'publication_names', 'pub_ob', 'messages', 'true')
  WHERE get_byte(data, 0) = ascii('M') LIMIT 1});
like($copy, qr/^\\x01/, 'the real message, read from the WAL');
sq(qq{SELECT pg_drop_replication_slot('ob_peek')});
($rc, $out, $err) = as('mallory', qq{SELECT pg_logical_emit_message(true, 'kafka_fdw.outbox', '$copy'::bytea) IS NOT NULL});
is($rc, 0, 'the copy is written again in another transaction') or diag $err;

# a last real message: once it is there, the worker has decoded all before it
as('alice', qq{SELECT kafka.produce_on_commit('$pipe', '$events', 'after the forgeries')});
$q = "SELECT count(*) FROM kafka.consume('kafka', '$events')";
is(wait_sql($node, $q, '10', 60), '10', 'the real messages are delivered');
# (the last two messages: offsets also hold transaction markers)
is(sq(qq{SELECT string_agg(convert_from(v, 'UTF8'), '|' ORDER BY o) FROM (
           SELECT value AS v, "offset" AS o FROM kafka.consume('kafka', '$events')
            ORDER BY "offset" DESC LIMIT 2) x}),
	'original|after the forgeries', 'no forged message, no copy, no other prefix delivered');
is(sq(qq{SELECT messages_dropped || ' ' || (last_dropped_at IS NOT NULL)::text || ' ' || messages_sent
                  || ' ' || jsonb_array_length(outbox_topics)
           FROM kafka.outbox_status WHERE pipeline = '$pipe'}),
	'3 true 11 2', 'the forged, the non-transactional and the copied message are counted');
ok(slurp_file($node->logfile) =~ qr/pipeline "$pipe": dropped a logical message with prefix "kafka_fdw.outbox"/,
	'and logged');
is(sq("SELECT state FROM kafka.pipeline_status WHERE name = '$pipe'"), 'running', 'the pipeline runs on');

# ---- pg_dump keeps the grants (after their pipeline), not the secret -----------------
my $dump = $node->basedir . '/outbox.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'postgres' ], 'pg_dump -Fc');
$node->command_ok([ 'createdb', 'ob_copy' ], 'createdb ob_copy');
$node->command_ok([ 'pg_restore', '-d', 'ob_copy', $dump ], 'pg_restore without an error');
is($node->safe_psql('ob_copy', "SELECT pipeline || ' ' || grantee FROM kafka.outbox_grants"),
	"$pipe alice", 'the grant is restored');
my $secret_differs = $node->safe_psql('postgres', "SELECT secret::text FROM kafka.outbox_secret") ne
  $node->safe_psql('ob_copy', "SELECT secret::text FROM kafka.outbox_secret");
ok($secret_differs, 'the restored database has a secret of its own');
$node->safe_psql('ob_copy', "SELECT kafka.drop_pipeline('$pipe')");
$node->safe_psql('postgres', 'DROP DATABASE ob_copy');

# ---- revoke, drop ----------------------------------------------------------------
($rc, $out, $err) = as('ob_owner', qq{SELECT kafka.revoke_produce_on_commit('$pipe', 'alice')});
is($rc, 0, 'the owner revokes it') or diag $err;
($rc, $out, $err) = as('alice', qq{SELECT kafka.produce_on_commit('$pipe', '$events', 'x')});
is(sqlstate($err), '42501', 'then alice is refused');
as('ob_owner', qq{SELECT kafka.grant_produce_on_commit('$pipe', 'alice')});
is(sq("SELECT count(*) FROM kafka.outbox_grants WHERE pipeline = '$pipe'"), '1', 'granted again');
($rc, $out, $err) = as('ob_owner', qq{SELECT kafka.drop_pipeline('$pipe')});
is($rc, 0, 'the pipeline is dropped') or diag $err;
is(sq("SELECT count(*) FROM kafka.outbox_grants WHERE pipeline = '$pipe'"), '0', 'and its grants with it');
is(sq("SELECT count(*) FROM kafka.outbox_secret"), '1', 'the secret stays');
($rc, $out, $err) = as('alice', qq{SELECT count(*) FROM kafka.outbox_secret});
is(sqlstate($err), '42501', 'no plain role reads the secret');

ok(!log_has_crash($node), 'no backend crashed');
$node->stop;
done_testing();
