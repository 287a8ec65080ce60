# Debezium's transaction metadata (issue 22): the pipeline option
# "transaction_topic" (format debezium) writes a BEGIN and an END record per
# transaction to <prefix>.transaction, and a transaction block in each event,
# as Debezium's PostgreSQL connector does with
# provide.transaction.metadata=true:
#   - key {"id": ...}; value {status, id, event_count, data_collections,
#     ts_ms}, with event_count and data_collections null in BEGIN, and in
#     END the events in all and per table ("schema.table");
#   - ids "<xid>:<LSN>" with the record's own LSN: BEGIN's (the first
#     change's on 15+, where pgoutput sends BEGIN with the first change),
#     each event's source.lsn, the commit's end for END;
#   - total_order 1..n over the transaction's events, data_collection_order
#     1..k per table; tombstones do not count, a key change is two events, a
#     TRUNCATE one; the initial snapshot's events have no block and no
#     BEGIN/END;
#   - with schemas, the key and value schemas as JsonConverter writes
#     Debezium's (TransactionMetadataKey/Value);
#   - without the option: no transaction topic, and events as before
#     ("transaction": null).
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
my $node = kafka_node('txmeta');
my $run = int(time() * 1000) % 100000000;    # topic names unique per run

sub sq { return $node->safe_psql('postgres', $_[0]); }

sq(q{
CREATE TABLE ta (id int PRIMARY KEY, v int);
CREATE TABLE tb (id int PRIMARY KEY, w text);
CREATE PUBLICATION pub_tx FOR TABLE ta, tb;
INSERT INTO ta VALUES (0, 0);
});

# the option is checked
my ($rc, $out, $err) =
  $node->psql('postgres', "SELECT kafka.create_pipeline('txbad$run', 'kafka', 'pub_tx', '{\"transaction_topic\": true}')");
like($err, qr/pipeline option "transaction_topic" applies to "format": "debezium" only/,
	'transaction_topic without the debezium format');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT kafka.create_pipeline('txbad$run', 'kafka', 'pub_tx', '{\"format\": \"debezium\", \"transaction_topic\": 1}')");
like($err, qr/pipeline option "transaction_topic" must be true or false/, 'transaction_topic is a boolean');

my %p = (n => "txn_$run", s => "txs_$run", off => "txoff_$run");
sq(qq{
SELECT kafka.create_pipeline('$p{n}', 'kafka', 'pub_tx',
  '{"format": "debezium", "schemas": false, "transaction_topic": true, "snapshot": true, "partitions": 1}');
SELECT kafka.create_pipeline('$p{s}', 'kafka', 'pub_tx', '{"format": "debezium", "transaction_topic": true, "partitions": 1}');
SELECT kafka.create_pipeline('$p{off}', 'kafka', 'pub_tx', '{"format": "debezium", "schemas": false, "partitions": 1}');
});
my $names = join(',', map { "'$_'" } sort values %p);
is(wait_sql($node, "SELECT string_agg(state, ',') FROM kafka.pipeline_status WHERE name IN ($names)",
	'running,running,running', 90), 'running,running,running', 'the pipelines stream');
is(wait_sql($node, "SELECT snapshot FROM kafka.pipelines WHERE name = '$p{n}'", 'done', 90), 'done',
	'the initial snapshot is done');

# three transactions over both tables; their xids
my @xid;
push @xid, sq(q{BEGIN;
INSERT INTO ta VALUES (1, 1), (2, 2);
INSERT INTO tb VALUES (1, 'x');
UPDATE ta SET v = 10 WHERE id = 1;
DELETE FROM tb WHERE id = 1;
SELECT pg_current_xact_id();
COMMIT;});
push @xid, sq(q{BEGIN;
UPDATE ta SET id = 20 WHERE id = 2;
INSERT INTO tb VALUES (2, 'y');
SELECT pg_current_xact_id();
COMMIT;});
push @xid, sq(q{BEGIN;
INSERT INTO ta VALUES (3, 3);
TRUNCATE tb;
SELECT pg_current_xact_id();
COMMIT;});

# Records as (topic, offset, key jsonb, value jsonb): the payloads (with
# schemas too), tombstones left out.
sub payloads
{
	my ($pipe, $which) = @_;
	my @t = $which eq 'tx' ? ("$pipe.transaction") : ("$pipe.public.ta", "$pipe.public.tb");
	return '(' . join(' UNION ALL ', map {
			"SELECT '$_' AS topic, \"offset\", k, CASE WHEN v ? 'payload' THEN v->'payload' ELSE v END AS v, "
			  . "CASE WHEN k ? 'payload' THEN k->'payload' ELSE k END AS kp, raw, rawk "
			  . "FROM (SELECT \"offset\", convert_from(key, 'UTF8')::jsonb AS k, convert_from(value, 'UTF8')::jsonb AS v, "
			  . "convert_from(value, 'UTF8') AS raw, convert_from(key, 'UTF8') AS rawk "
			  . "FROM kafka.consume('kafka', '$_') WHERE value IS NOT NULL) r"
		} @t) . ')';
}

for my $pipe ($p{n}, $p{s})
{
	my $tx = payloads($pipe, 'tx');
	is(wait_sql($node, "SELECT count(*) FROM $tx x", '6', 60), '6', "$pipe: 6 records in the transaction topic");
	is(wait_sql($node, "SELECT count(*) FROM " . payloads($pipe, 'ev') . " e", $pipe eq $p{n} ? '11' : '10', 60),
		$pipe eq $p{n} ? '11' : '10', "$pipe: the events are in");

	# BEGIN, END per transaction, in order; END's counts
	is( sq(     "SELECT string_agg(concat_ws(' ', v->>'status', split_part(v->>'id', ':', 1), v->>'event_count', "
			  . "(SELECT string_agg((d->>'data_collection') || '=' || (d->>'event_count'), ',' ORDER BY d->>'data_collection') "
			  . " FROM jsonb_array_elements(CASE WHEN jsonb_typeof(v->'data_collections') = 'array' "
			  . " THEN v->'data_collections' END) d)), ' | ' ORDER BY \"offset\") FROM $tx x"),
		"BEGIN $xid[0] | END $xid[0] 5 public.ta=3,public.tb=2 | BEGIN $xid[1] | END $xid[1] 3 public.ta=2,public.tb=1 | "
		  . "BEGIN $xid[2] | END $xid[2] 2 public.ta=1,public.tb=1",
		"$pipe: BEGIN and END of each transaction, with the events per table");
	is(sq("SELECT count(*) FROM $tx x WHERE v->>'status' = 'BEGIN' AND v->'event_count' = 'null' "
			  . "AND v->'data_collections' = 'null' AND v ?& array['status', 'id', 'ts_ms']"),
		'3', "$pipe: BEGIN has null counts");
	is(sq("SELECT count(*) FROM $tx x WHERE regexp_replace(raw, '^\\{\"schema\":.*,\"payload\":(.*)\\}\$', '\\1') ~ "
			  . "'^\\{\"status\":\"(BEGIN|END)\",\"id\":\"[0-9]+:[0-9]+\",\"event_count\":(null|[0-9]+),"
			  . "\"data_collections\":(null|\\[.*\\]),\"ts_ms\":[0-9]+\\}\$'"),
		'6', "$pipe: the value's fields, in Debezium's order");
	is(sq("SELECT count(*) FROM $tx x WHERE kp = jsonb_build_object('id', v->'id') AND v->>'id' ~ '^[0-9]+:[0-9]+\$'"),
		'6', "$pipe: the key is {\"id\": <the value's id>}, ids <xid>:<lsn>");
}

# The events' transaction blocks (schemas false; the schemas pipeline's
# payloads must be the same but for the event times).
my $ev = payloads($p{n}, 'ev');
my $tx = payloads($p{n}, 'tx');
is(sq("SELECT count(*) FROM $ev e WHERE v->>'op' = 'r' AND v->'transaction' = 'null'"), '1',
	'the snapshot event has no transaction block');
is( sq(     "SELECT string_agg(s, ' | ' ORDER BY x) FROM (SELECT (v->'source'->>'txId')::bigint x, "
		  . "string_agg(concat_ws(':', v->'source'->>'table', v->>'op', v->'transaction'->>'total_order', "
		  . "v->'transaction'->>'data_collection_order'), ' ' ORDER BY (v->'transaction'->>'total_order')::int) s "
		  . "FROM $ev e WHERE v->>'op' <> 'r' GROUP BY 1) t"),
	'ta:c:1:1 ta:c:2:2 tb:c:3:1 ta:u:4:3 tb:d:5:2 | ta:d:1:1 ta:c:2:2 tb:c:3:1 | ta:c:1:1 tb:t:2:1',
	'each event: total_order over the transaction, data_collection_order per table');
is(sq("SELECT count(*) FROM $ev a JOIN $ev b ON a.topic = b.topic AND a.\"offset\" < b.\"offset\" "
		  . "WHERE a.v->>'op' <> 'r' AND a.v->'source'->'txId' = b.v->'source'->'txId' "
		  . "AND (a.v->'transaction'->>'total_order')::int > (b.v->'transaction'->>'total_order')::int"),
	'0', 'the orders follow the topics\' offsets');
is(sq("SELECT count(*) FROM $ev e WHERE v->>'op' <> 'r' AND "
		  . "v->'transaction'->>'id' IS DISTINCT FROM (v->'source'->>'txId') || ':' || (v->'source'->>'lsn')"),
	'0', 'each event\'s id is <xid>:<its source.lsn>');
is(sq("SELECT count(*) FROM $tx x JOIN $ev e ON split_part(x.v->>'id', ':', 1) = e.v->'source'->>'txId' "
		  . "WHERE x.v->>'status' = 'BEGIN' AND (e.v->'transaction'->>'total_order')::int = 1 "
		  . "AND x.v->>'id' = (e.v->'source'->>'txId') || ':' || (e.v->'source'->>'lsn')"),
	'3', 'BEGIN\'s id has the LSN of its message: that of the first change');
is(sq("SELECT count(*) FROM $tx x WHERE x.v->>'status' = 'END' AND split_part(x.v->>'id', ':', 2)::numeric > "
		  . "(SELECT max((e.v->'source'->>'lsn')::numeric) FROM $ev e "
		  . " WHERE e.v->'source'->>'txId' = split_part(x.v->>'id', ':', 1))"),
	'3', 'END\'s id has the LSN of the commit\'s end, past every change');
is(sq("SELECT count(*) FROM (SELECT 1 FROM (SELECT split_part(v->>'id', ':', 1) xid, v->'ts_ms' ts FROM $tx x UNION ALL "
		  . "SELECT v->'source'->>'txId', v->'source'->'ts_ms' FROM $ev e WHERE v->>'op' <> 'r') t "
		  . "GROUP BY xid HAVING count(DISTINCT ts) = 1) g"),
	'3', 'BEGIN and END ts_ms: the commit time, as the events\' source.ts_ms');
is(sq("SELECT count(*) FROM kafka.consume('kafka', '$p{n}.transaction') WHERE headers->>'op' IN ('B', 'E')"),
	'6', 'the transaction records carry the pipeline\'s headers, op B and E');
my $strip = "(v - 'ts_ms' - 'ts_us' - 'ts_ns' #- '{source,name}')::text";
is(sq("SELECT string_agg($strip, ',' ORDER BY topic, \"offset\") FROM " . payloads($p{s}, 'ev') . " e"),
	sq("SELECT string_agg($strip, ',' ORDER BY topic, \"offset\") FROM $ev e WHERE v->>'op' <> 'r'"),
	'with schemas: the same payloads');

# with schemas: Debezium's schemas of the transaction topic, as JsonConverter
# writes them
my $key_schema =
    '{"type":"struct","fields":[{"type":"string","optional":false,"field":"id"}],"optional":false,'
  . '"name":"io.debezium.connector.common.TransactionMetadataKey","version":1}';
my $value_schema =
    '{"type":"struct","fields":[{"type":"string","optional":false,"field":"status"},'
  . '{"type":"string","optional":false,"field":"id"},{"type":"int64","optional":true,"field":"event_count"},'
  . '{"type":"array","items":{"type":"struct","fields":[{"type":"string","optional":false,"field":"data_collection"},'
  . '{"type":"int64","optional":false,"field":"event_count"}],"optional":true,"name":"event.collection","version":1},'
  . '"optional":true,"field":"data_collections"},{"type":"int64","optional":false,"field":"ts_ms"}],'
  . '"optional":false,"name":"io.debezium.connector.common.TransactionMetadataValue","version":1}';
my $txs = payloads($p{s}, 'tx');
is(sq("SELECT count(*) FROM $txs x WHERE rawk LIKE '{\"schema\":$key_schema,\"payload\":{\"id\":\"%\"}}' "
		  . "AND raw LIKE '{\"schema\":$value_schema,\"payload\":{\"status\":\"%}}'"),
	'6', 'with schemas: the key and value schemas');
is(sq("SELECT string_agg(raw, ' ' ORDER BY \"offset\") FROM $txs x WHERE v->>'status' = 'END' "
		  . "AND v->>'id' LIKE '$xid[2]:%'") =~ s/^.*"payload"://r =~ s/"id":"[0-9:]+"/"id":I/r =~ s/"ts_ms":\d+/"ts_ms":T/r,
	'{"status":"END","id":I,"event_count":2,"data_collections":[{"data_collection":"public.ta","event_count":1},'
	  . '{"data_collection":"public.tb","event_count":1}],"ts_ms":T}}',
	'with schemas: an END record, byte for byte (tables in the order of their first event)');
is(sq("SELECT count(*) FROM " . payloads($p{s}, 'ev') . " e WHERE raw ~ '\"field\":\"transaction\"},' "
		  . "AND raw ~ ',\"transaction\":\\{\"id\":\"[0-9]+:[0-9]+\",\"total_order\":[0-9]+,\"data_collection_order\":[0-9]+\\},\"op\":'"),
	'10', 'with schemas: the events\' transaction block, in the envelope schema\'s field');

# without the option: no transaction topic, the events as before
my $evo = payloads($p{off}, 'ev');
is(wait_sql($node, "SELECT count(*) FROM $evo e", '10', 60), '10', 'without the option: the events are in');
is(sq("SELECT count(*) FROM $evo e WHERE raw LIKE '%,\"transaction\":null,\"op\":%'"), '10',
	'without the option: "transaction": null in every event');
is(sq("SELECT count(*) FROM kafka.topics('kafka') WHERE topic LIKE '$p{off}.%'"), '2',
	'without the option: no transaction topic');
my $strip_tx = "(v - 'transaction' - 'ts_ms' - 'ts_us' - 'ts_ns' #- '{source,name}')::text";
is(sq("SELECT string_agg($strip_tx, ',' ORDER BY topic, \"offset\") FROM $evo e"),
	sq("SELECT string_agg($strip_tx, ',' ORDER BY topic, \"offset\") FROM $ev e WHERE v->>'op' <> 'r'"),
	'without the option: the same events but for the transaction block');

sq("SELECT kafka.drop_pipeline(name) FROM kafka.pipelines");
$node->stop;
done_testing();
