#!/usr/bin/env bash
# Interop: a pipeline with "format": "debezium" writes events that Kafka
# Connect's own JsonConverter (connect-json 3.9.1 from Maven Central,
# schemas.enable=true, as a sink connector reads them) decodes, with the
# values Debezium's PostgreSQL connector would give.
#
#   KAFKA_BROKERS=host:port KAFKA_STATE_DIR=<broker state dir> \
#   PGHOST=... PGPORT=... PGUSER=... bash test/interop/debezium_connect.sh
#
# The cluster must preload kafka_fdw with wal_level=logical (test/pg_cluster.sh
# does).  Creates a table with ~25 column types and two pipelines on it
# (Debezium format with schemas, and without: "schemas": false), runs inserts,
# an update, a key change, a delete and a truncate, reads the events back with
# kafka.consume and decodes every key and value with JsonConverter
# (test/interop/connect/DecodeEvents.java); compares the decoded values with
# what Postgres computes for the same row (days since 1970, microseconds,
# unscaled decimals, ...).  The pipeline with schemas also writes Debezium's
# transaction metadata ("transaction_topic": true): its BEGIN/END records and
# the events' transaction blocks are decoded too.  Prints "ok - ..." / "not ok - ..." lines and
# "N passed, N failed"; drops what it created at exit.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

require_env
export PATH="$(pg_config --bindir 2>/dev/null || echo /usr/bin):$PATH"

B=$KAFKA_BROKERS
TAG=dbz$$
SERVER=$TAG
TABLE=${TAG}_w
WORK=$(mktemp -d "${TMPDIR:-/tmp}/debezium_connect.XXXXXX")
CONNECT_DIR=$ROOT/test/interop/connect
CACHE_DIR=${KAFKA_CACHE_DIR:-$HOME/.cache/kafka_fdw}
CP_FILE=$CACHE_DIR/connect-json-3.9.1.cp
MVN=${MVN:-mvn}
if [[ -n ${JAVA:-} ]]; then :; elif [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -d "${PGDATABASE:-postgres}")

cleanup() {
    "${PSQL[@]}" >/dev/null 2>&1 <<SQL
SELECT kafka.drop_pipeline(name) FROM kafka.pipelines WHERE name IN ('${TAG}', '${TAG}_plain');
SELECT kafka.delete_topic('$SERVER', t) FROM kafka.topics('$SERVER') t WHERE t LIKE '${TAG}%';
DROP PUBLICATION IF EXISTS ${TAG}_pub;
DROP TABLE IF EXISTS $TABLE;
DROP TYPE IF EXISTS ${TAG}_mood;
DROP SERVER IF EXISTS $SERVER CASCADE;
SQL
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ JsonConverter
cp_ok() {
    [[ -s $CP_FILE ]] || return 1
    local jar
    local -a jars
    IFS=: read -r -a jars <"$CP_FILE"
    for jar in "${jars[@]}"; do [[ -f $jar ]] || return 1; done
}
if ! cp_ok; then
    mkdir -p "$CACHE_DIR"
    if ! "$MVN" -q -B -f "$CONNECT_DIR/pom.xml" dependency:build-classpath -DincludeScope=runtime \
            -Dmdep.outputFile="$CP_FILE.tmp" >"$WORK/mvn.log" 2>&1; then
        sed 's/^/# /' "$WORK/mvn.log" | tail -20
        bail "Maven resolves org.apache.kafka:connect-json:3.9.1"
    fi
    mv -f "$CP_FILE.tmp" "$CP_FILE"
    cp_ok || bail "the connect-json classpath in $CP_FILE is usable"
fi
ok "Kafka Connect's JsonConverter (connect-json 3.9.1) is on the classpath"

# ------------------------------------------------------------------ set-up
if ! out=$("${PSQL[@]}" 2>&1 <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER $SERVER FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
CREATE USER MAPPING FOR CURRENT_USER SERVER $SERVER;
CREATE TYPE ${TAG}_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE $TABLE (
  id int PRIMARY KEY, name text NOT NULL, active bool NOT NULL, price numeric(10,2), n numeric,
  d date, t time, t3 time(3), ts timestamp, ts3 timestamp(3), tz timestamptz, ttz timetz,
  iv interval, u uuid, j jsonb, b bytea, m ${TAG}_mood, a int[], ta text[], f float8, r real,
  s smallint, big bigint, addr inet, txt text);
CREATE PUBLICATION ${TAG}_pub FOR TABLE $TABLE;
SELECT kafka.create_pipeline('${TAG}', '$SERVER', '${TAG}_pub',
  '{"format": "debezium", "topic_prefix": "${TAG}", "partitions": 1, "transaction_topic": true}');
SELECT kafka.create_pipeline('${TAG}_plain', '$SERVER', '${TAG}_pub',
  '{"format": "debezium", "schemas": false, "topic_prefix": "${TAG}_plain", "partitions": 1}');
SQL
); then
    bail "set-up (server, table, publication, two pipelines): $out"
fi
ok "two pipelines with format debezium (with and without schemas)"

for _ in $(seq 1 100); do
    st=$("${PSQL[@]}" -c "SELECT string_agg(state, ',') FROM kafka.pipeline_status WHERE name LIKE '${TAG}%'")
    [[ $st == running,running ]] && break
    sleep 0.2
done
[[ $st == running,running ]] || diag "pipeline states: $st"

# The row every type is checked on, and what Postgres says its values are
# in Debezium's encodings (computed here, independently of the worker).
"${PSQL[@]}" <<SQL || bail "workload"
INSERT INTO $TABLE VALUES (1, 'gadget', true, -1234.56, 3.14159, '2026-11-30', '12:34:56.789012',
  '12:34:56.789', '2018-06-20 15:13:16.945104', '2018-06-20 15:13:16.945', '2025-07-30 18:36:58.596117+00',
  '10:15:30.5+02', '1 year 2 mons 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"x": [1, 2], "q": "say \"hi\""}', '\x0102ff', 'happy', '{1,2,NULL}', '{a,"b c"}', 1.5, 2.25, 7,
  9007199254740993, '10.0.0.1/8', E'line\nbreak "quoted"');
SQL
"${PSQL[@]}" -F ' ' >"$WORK/expected" <<SQL || bail "expected values"
SELECT '1 value.after.' || k || ' ' || v FROM $TABLE,
LATERAL (VALUES
  ('id', id::text), ('name', name), ('active', active::text), ('price', price::text), ('n', n::text),
  ('d', (d - date '1970-01-01')::text),
  ('t', (extract(epoch FROM t) * 1000000)::bigint::text),
  ('t3', (extract(epoch FROM t3) * 1000)::bigint::text),
  ('ts', (extract(epoch FROM ts) * 1000000)::bigint::text),
  ('ts3', (extract(epoch FROM ts3) * 1000)::bigint::text),
  ('tz', to_char(tz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
  ('iv', (((extract(year FROM iv) * 12 + extract(month FROM iv)) * 30.4375 + extract(day FROM iv)) * 86400000000
          + (extract(hour FROM iv) * 3600 + extract(minute FROM iv) * 60 + extract(second FROM iv)) * 1000000)::bigint::text),
  ('u', u::text), ('j', j::text), ('b', '0x' || encode(b, 'hex')), ('m', m::text),
  ('f', f::text), ('r', r::text), ('s', s::text), ('big', big::text), ('addr', addr::text)
) x(k, v) WHERE id = 1;
SQL
cat >>"$WORK/expected" <<EOF
1 value.after.ttz 08:15:30.5Z
1 value.after.a [1,2,null]
1 value.after.ta [a,b c]
EOF
"${PSQL[@]}" <<SQL || bail "workload"
INSERT INTO $TABLE (id, name, active) VALUES (2, 'bare', false);
UPDATE $TABLE SET name = 'gizmo' WHERE id = 1;
UPDATE $TABLE SET id = 3 WHERE id = 2;
DELETE FROM $TABLE WHERE id = 1;
TRUNCATE $TABLE;
ALTER TABLE $TABLE ADD COLUMN extra int, DROP COLUMN txt;
INSERT INTO $TABLE (id, name, active, extra) VALUES (10, 'after ddl', true, 5);
ALTER TABLE $TABLE REPLICA IDENTITY FULL;
UPDATE $TABLE SET name = 'full' WHERE id = 10;
SQL
ok "workload: 2 inserts, an update, a key change, a delete, a truncate, a column added and dropped, an insert, an update under REPLICA IDENTITY FULL"

# 1 c, 2 c, 3 u, 4 d(2) 5 tombstone(2) 6 c(3), 7 d(1) 8 tombstone(1), 9 t, 10 c, 11 u
EXPECT=11
dump() {  # dump TOPIC FILE: topic TAB base64(key) TAB base64(value), in order
    "${PSQL[@]}" -F $'\t' -c "SELECT '$1', coalesce(translate(encode(key, 'base64'), E'\n', ''), ''),
        coalesce(translate(encode(value, 'base64'), E'\n', ''), '')
        FROM kafka.consume('$SERVER', '$1') ORDER BY partition, \"offset\"" >"$2"
}
TOPIC=${TAG}.public.$TABLE
PLAIN=${TAG}_plain.public.$TABLE
for _ in $(seq 1 150); do
    # (read_committed counts: exactly-once pipelines' offsets also hold transaction markers)
    a=$("${PSQL[@]}" -c "SELECT count(*) FROM kafka.consume('$SERVER', '$TOPIC')" 2>/dev/null)
    p=$("${PSQL[@]}" -c "SELECT count(*) FROM kafka.consume('$SERVER', '$PLAIN')" 2>/dev/null)
    [[ $a == "$EXPECT" && $p == "$EXPECT" ]] && break
    sleep 0.2
done
[[ $a == "$EXPECT" ]]; check $? "the Debezium topic holds $EXPECT messages (has ${a:-?})"
[[ $p == "$EXPECT" ]]; check $? "the schema-less Debezium topic holds $EXPECT messages (has ${p:-?})"
dump "$TOPIC" "$WORK/events" || bail "reading $TOPIC"

# ------------------------------------------------------------------ decode
if "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$(<"$CP_FILE")" \
        "$CONNECT_DIR/DecodeEvents.java" <"$WORK/events" >"$WORK/decoded" 2>"$WORK/java.err"; then
    ok "JsonConverter (schemas.enable=true) decodes every key and value: $(tail -1 "$WORK/decoded")"
else
    sed 's/^/# /' "$WORK/java.err" | tail -20
    not_ok "JsonConverter (schemas.enable=true) decodes every key and value"
fi
has() { grep -qxF -- "$1" "$WORK/decoded"; }
expect() { if has "$1"; then ok "${2:-$1}"; else not_ok "${2:-$1}"; diag "decoded: $(grep -F -- "${1% *} " "$WORK/decoded" | head -3)"; fi; }

# every type of the row, as Postgres computes it in Debezium's encoding
bad=0
while read -r line; do
    has "$line" || { bad=$((bad + 1)); diag "expected '$line', decoded: $(grep -F -- "${line%% value.after.*} value.after.$(cut -d' ' -f2 <<<"$line" | cut -d. -f3) " "$WORK/decoded" | head -1)"; }
done <"$WORK/expected"
((bad == 0)); check $? "all $(wc -l <"$WORK/expected") columns of the row decode to Postgres' own values in Debezium's encodings ($bad differ)"
grep -q '^1 value.after.j {"q": "say \\"hi\\"", "x": \[1, 2\]}$' "$WORK/decoded" ||
    has '1 value.after.j {"q": "say \"hi\"", "x": [1, 2]}'; check $? "jsonb arrives as its JSON text (io.debezium.data.Json)"
grep -q '^1 value.after.txt line$' "$WORK/decoded"; check $? "text with a newline and quotes survives (first line seen)"

# schema names a sink relies on
expect "1 schema.key ${TAG}.public.${TABLE}.Key" "key schema <prefix>.<schema>.<table>.Key"
expect "1 schema.value ${TAG}.public.${TABLE}.Envelope" "value schema <prefix>.<schema>.<table>.Envelope"
expect "1 schema.value.after ${TAG}.public.${TABLE}.Value" "row schema <prefix>.<schema>.<table>.Value"
expect "1 schema.value.source io.debezium.connector.postgresql.Source"
for pair in price:org.apache.kafka.connect.data.Decimal n:io.debezium.data.VariableScaleDecimal \
    d:io.debezium.time.Date t:io.debezium.time.MicroTime t3:io.debezium.time.Time \
    ts:io.debezium.time.MicroTimestamp ts3:io.debezium.time.Timestamp tz:io.debezium.time.ZonedTimestamp \
    ttz:io.debezium.time.ZonedTime iv:io.debezium.time.MicroDuration u:io.debezium.data.Uuid \
    j:io.debezium.data.Json m:io.debezium.data.Enum; do
    has "1 schema.value.after.${pair%%:*} ${pair#*:}" || { bad=$((bad + 1)); diag "no schema ${pair#*:} for ${pair%%:*}"; }
done
((bad == 0)); check $? "semantic schema names of the temporal, decimal, uuid, json and enum columns"

# the source block
for f in "connector postgresql" "name ${TAG}" "db ${PGDATABASE:-postgres}" "schema public" "table $TABLE" "snapshot false"; do
    has "1 value.source.$f" || { bad=$((bad + 1)); diag "source: no '$f'"; }
done
((bad == 0)); check $? "source: connector, name (topic prefix), db, schema, table, snapshot"
grep -Eq '^1 value.source.txId [0-9]+$' "$WORK/decoded" && grep -Eq '^1 value.source.lsn [0-9]+$' "$WORK/decoded"
check $? "source: txId and lsn are numbers"

# the event sequence
ops=$(awk '$2 == "value.op" { printf "%s%s", sep, $1 ":" $3; sep = " " } $2 == "tombstone" { printf "%s%s", sep, $1 ":-"; sep = " " }' "$WORK/decoded")
[[ $ops == "1:c 2:c 3:u 4:d 5:- 6:c 7:d 8:- 9:t 10:c 11:u" ]]
check $? "ops: create, create, update, delete+tombstone+create for the key change, delete+tombstone, truncate, create, update ($ops)"
expect "11 value.before.name after ddl" "with REPLICA IDENTITY FULL an update's before is the whole old row"
expect "11 value.after.name full" "and its after the new one"
expect "10 value.after.extra 5" "a column added mid-stream is in the next event (and its schema)"
! grep -q '^10 value.after.txt ' "$WORK/decoded"; check $? "a column dropped mid-stream is gone from the next event"
expect "3 value.before null" "an update under REPLICA IDENTITY DEFAULT has before = null"
expect "3 value.after.name gizmo" "the update's after row"
expect "4 key Struct{id=2}" "the key change: a delete of the old key"
expect "5 key Struct{id=2}" "then its tombstone"
expect "6 key Struct{id=3}" "then a create of the new key"
expect "7 value.before.id 1" "a delete's before holds the key"
expect "7 value.before.name " "and Debezium's fallback for a NOT NULL text column"
expect "7 value.before.active false" "and for a NOT NULL boolean"
expect "7 value.before.price null" "and null for a nullable column"
expect "9 key null" "a truncate has no key"
expect "2 value.after.price null" "NULLs stay null"

# without schemas: the payload alone
dump "$PLAIN" "$WORK/plain" || bail "reading $PLAIN"
first_value=$(head -1 "$WORK/plain" | cut -f3 | base64 -d 2>/dev/null)
first_key=$(head -1 "$WORK/plain" | cut -f2 | base64 -d 2>/dev/null)
r=$("${PSQL[@]}" -v v="$first_value" -v k="$first_key" 2>&1 <<'SQL'
SELECT (:'v'::jsonb ? 'schema')::text || ' ' || (:'v'::jsonb->>'op') || ' ' || (:'v'::jsonb->'after'->>'d')
       || ' ' || :'k'::jsonb::text;
SQL
)
[[ $r == "false c $(grep '^1 value.after.d ' "$WORK/expected" | cut -d' ' -f3) {\"id\": 1}" ]]
check $? "\"schemas\": false sends the payload alone (got: $r)"

# Debezium's transaction metadata: one BEGIN and one END per transaction with
# events (the 8 statements that change rows; the DDL ones have none)
TXT=${TAG}.transaction
for _ in $(seq 1 150); do
    x=$("${PSQL[@]}" -c "SELECT count(*) FROM kafka.consume('$SERVER', '$TXT')" 2>/dev/null)
    [[ $x == 16 ]] && break
    sleep 0.2
done
[[ $x == 16 ]]; check $? "the transaction topic holds 16 records (has ${x:-?})"
dump "$TXT" "$WORK/txrecords" || bail "reading $TXT"
if "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$(<"$CP_FILE")" \
        "$CONNECT_DIR/DecodeEvents.java" <"$WORK/txrecords" >"$WORK/txdecoded" 2>"$WORK/java.err"; then
    ok "JsonConverter (schemas.enable=true) decodes every BEGIN and END record: $(tail -1 "$WORK/txdecoded")"
else
    sed 's/^/# /' "$WORK/java.err" | tail -20
    not_ok "JsonConverter (schemas.enable=true) decodes every BEGIN and END record"
fi
txhas() { grep -qxF -- "$1" "$WORK/txdecoded"; }
txhas "1 schema.key io.debezium.connector.common.TransactionMetadataKey" &&
    txhas "1 schema.value io.debezium.connector.common.TransactionMetadataValue"
check $? "transaction records: Debezium's TransactionMetadataKey and TransactionMetadataValue schemas"
st=$(awk '$2 == "value.status" { printf "%s%s", sep, $3; sep = " " }' "$WORK/txdecoded")
[[ $st == "$(printf 'BEGIN END %.0s' {1..8} | sed 's/ $//')" ]]; check $? "BEGIN, END for each of the 8 transactions ($st)"
txhas "1 value.event_count null" && txhas "1 value.data_collections null"; check $? "BEGIN: no counts"
txhas "8 value.event_count 2" && txhas "8 value.data_collections [Struct{data_collection=public.$TABLE,event_count=2}]"
check $? "the key change's END: 2 events of the table (the delete and the create)"
grep -Eq '^1 key Struct\{id=[0-9]+:[0-9]+\}$' "$WORK/txdecoded"; check $? "the key: {id: <xid>:<lsn>}"
expect "1 schema.value.transaction event.block" "events: the transaction block (event.block)"
expect "4 value.transaction.total_order 1" "the key change's delete: total_order 1"
expect "6 value.transaction.total_order 2" "its create: total_order 2 (the tombstone does not count)"
expect "6 value.transaction.data_collection_order 2" "and data_collection_order 2"

finish
