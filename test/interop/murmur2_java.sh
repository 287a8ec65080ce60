#!/usr/bin/env bash
# Interop: keyed rows produced by kafka_fdw land on the same partition as the
# same keys produced by Kafka's own Java producer (murmur2, Java-compatible).
#
#   KAFKA_BROKERS=host:port KAFKA_STATE_DIR=<broker state dir> \
#   PGHOST=... PGPORT=... PGUSER=... bash test/interop/murmur2_java.sh
#
# Creates 6-partition topics, produces the same keys (key-1..key-1000 plus a
# few non-ASCII ones) with kafka.tools.ConsoleProducer (through
# `test/kafka_broker.sh tool`), with INSERT into a text-format foreign table
# with a key column, and with kafka.produce(); reads every topic back with kcat
# (-f '%k %p') and compares the partition of each key.  Prints "ok - ..." /
# "not ok - ..." lines and "N passed, N failed"; exits non-zero on a failure.
# Everything it creates (server, tables, topics) is dropped at exit.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

require_env
export PATH="$(pg_config --bindir 2>/dev/null || echo /usr/bin):$PATH"
command -v kcat >/dev/null || bail "kcat is installed"
# the Java tool reads stdin as UTF-8 whatever the locale
export KAFKA_TOOL_OPTS="${KAFKA_TOOL_OPTS:--Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1} -Dfile.encoding=UTF-8"

B=$KAFKA_BROKERS
TAG=interop_m2_$$
SERVER=$TAG
T_JAVA=${TAG}_java T_FDW=${TAG}_fdw T_FUNC=${TAG}_func
WORK=$(mktemp -d "${TMPDIR:-/tmp}/murmur2_java.XXXXXX")
PARTS=6

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -d "${PGDATABASE:-postgres}")

cleanup() {
    "${PSQL[@]}" >/dev/null 2>&1 <<SQL
SELECT kafka.delete_topic('$SERVER', t) FROM unnest(ARRAY['$T_JAVA', '$T_FDW', '$T_FUNC']) t
  WHERE t IN (SELECT topic FROM kafka.topics('$SERVER'));
DROP SERVER IF EXISTS $SERVER CASCADE;
SQL
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ keys
# key-1..key-1000 and a few odd ones: Cyrillic, Latin-1 accents, CJK, an
# emoji, punctuation.  No empty key, no '|' (the console producer's
# separator), no whitespace (kcat's output is "key partition").
{
    for i in $(seq 1 1000); do echo "key-$i"; done
    printf '%s\n' 'ключ-1' 'ключ-2' 'clé' 'Ärger' '日本語のキー' '🙂' 'a,b;c"d' '0'
} >"$WORK/keys"
NKEYS=$(wc -l <"$WORK/keys")
sort -u "$WORK/keys" | cmp -s - <(sort "$WORK/keys") || bail "the key list has no duplicates"

# ------------------------------------------------------------------ set-up
if ! out=$("${PSQL[@]}" 2>&1 <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER $SERVER FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
SELECT kafka.create_topic('$SERVER', '$T_JAVA', $PARTS);
SELECT kafka.create_topic('$SERVER', '$T_FDW', $PARTS);
SELECT kafka.create_topic('$SERVER', '$T_FUNC', $PARTS);
CREATE FOREIGN TABLE ${TAG}_t (k text OPTIONS (key 'true'), v text)
  SERVER $SERVER OPTIONS (topic '$T_FDW', format 'text');
SQL
); then
    bail "set-up (extension, server, three $PARTS-partition topics, foreign table): $out"
fi
ok "created three $PARTS-partition topics and a text-format foreign table with a key column"

# messages in a topic per kafka_fdw (sum of high - low)
count_msgs() {
    "${PSQL[@]}" -c "SELECT coalesce(sum(high - low), 0) FROM kafka.partitions('$SERVER', '$1')" 2>/dev/null
}

# read_back TOPIC OUTFILE: "key partition" lines of every message, once the
# topic holds NKEYS messages and kcat reads them all (up to 60 s)
read_back() {
    local topic=$1 outfile=$2 deadline=$((SECONDS + 60)) n
    while :; do
        n=$(count_msgs "$topic")
        if [[ $n == "$NKEYS" ]]; then
            kcat -C -b "$B" -t "$topic" -e -q -o beginning -X fetch.wait.max.ms=50 \
                -f '%k %p\n' >"$outfile" 2>"$WORK/kcat.err"
            [[ $(wc -l <"$outfile") == "$NKEYS" ]] && return 0
        fi
        ((SECONDS < deadline)) || { diag "$topic: $n messages per the watermarks, kcat read $(wc -l <"$outfile" 2>/dev/null || echo 0)"; return 1; }
        sleep 0.5
    done
}

# compare_topics A B WHAT: same key set, and every key on the same partition
compare_topics() {
    local a=$1 b=$2 what=$3 res
    res=$(awk '
        FNR == NR { i = length($0); while (substr($0, i, 1) != " ") i--
                    pa[substr($0, 1, i - 1)] = substr($0, i + 1); next }
        { i = length($0); while (substr($0, i, 1) != " ") i--
          k = substr($0, 1, i - 1); p = substr($0, i + 1)
          if (!(k in pa)) { missing++; if (ex == "") ex = k " only in the second" }
          else { if (pa[k] != p) { dis++; if (ex == "") ex = k ": " pa[k] " vs " p }; seen[k] = 1 } }
        END { for (k in pa) if (!(k in seen)) { missing++; if (ex == "") ex = k " only in the first" }
              printf "%d %d %s\n", dis + 0, missing + 0, ex }' "$a" "$b")
    local dis=${res%% *} rest=${res#* }
    local missing=${rest%% *} example=${rest#* }
    if ((dis == 0 && missing == 0)); then
        ok "$what: all $NKEYS keys on the same partition (0 disagreements)"
    else
        not_ok "$what: $dis disagreements, $missing keys missing on one side${example:+ (e.g. $example)}"
    fi
}

# ------------------------------------------------------------------ Java
sed 's/$/|java/' "$WORK/keys" >"$WORK/java_in"
if bash "$ROOT/test/kafka_broker.sh" tool kafka.tools.ConsoleProducer --bootstrap-server "$B" \
        --topic "$T_JAVA" --property parse.key=true --property 'key.separator=|' \
        --producer-property acks=all <"$WORK/java_in" >"$WORK/java.out" 2>&1; then
    ok "kafka.tools.ConsoleProducer produced $NKEYS keyed messages"
else
    not_ok "kafka.tools.ConsoleProducer produced $NKEYS keyed messages"
    sed 's/^/# /' "$WORK/java.out" | tail -20
fi
read_back "$T_JAVA" "$WORK/java.kp"; check $? "the Java topic holds $NKEYS readable messages"
used=$(awk '{ print $NF }' "$WORK/java.kp" | sort -u | wc -l)
[[ $used == "$PARTS" ]]; check $? "the Java producer used all $PARTS partitions ($used)"

# ------------------------------------------------------------------ INSERT
# load the keys (COPY text format: none of them has a backslash or tab)
if ! out=$("${PSQL[@]}" 2>&1 <<SQL
CREATE TEMP TABLE keys (n serial, k text);
\copy keys (k) FROM '$WORK/keys'
INSERT INTO ${TAG}_t (k, v) SELECT k, 'fdw' FROM keys ORDER BY n;
SQL
); then
    not_ok "INSERT INTO ${TAG}_t (k, v) SELECT ... ($NKEYS rows): $out"
else
    ok "INSERT INTO ${TAG}_t (k, v) SELECT ... ($NKEYS rows)"
fi
read_back "$T_FDW" "$WORK/fdw.kp"; check $? "the INSERT topic holds $NKEYS readable messages"
compare_topics "$WORK/java.kp" "$WORK/fdw.kp" "ConsoleProducer (Java) vs INSERT (kafka_fdw)"

# ------------------------------------------------------------------ kafka.produce
if ! out=$("${PSQL[@]}" 2>&1 <<SQL
CREATE TEMP TABLE keys (n serial, k text);
\copy keys (k) FROM '$WORK/keys'
SELECT count(p) FROM keys, kafka.produce('$SERVER', '$T_FUNC', 'func'::text, k) p;
SQL
); then
    not_ok "kafka.produce('$SERVER', '$T_FUNC', 'func'::text, k) for $NKEYS keys: $out"
else
    [[ $out == "$NKEYS" ]]; check $? "kafka.produce(..., value text, key text) for $NKEYS keys (returned $out rows)"
fi
read_back "$T_FUNC" "$WORK/func.kp"; check $? "the kafka.produce topic holds $NKEYS readable messages"
compare_topics "$WORK/java.kp" "$WORK/func.kp" "ConsoleProducer (Java) vs kafka.produce (kafka_fdw)"

# the partitions kafka.produce reported are the ones the messages are on
if out=$("${PSQL[@]}" 2>&1 <<SQL
SELECT count(*) FILTER (WHERE c.partition IS DISTINCT FROM p.partition)
  FROM (SELECT convert_from(key, 'UTF8') AS k, partition FROM kafka.consume('$SERVER', '$T_FUNC')) c
  JOIN (SELECT convert_from(key, 'UTF8') AS k, partition FROM kafka.consume('$SERVER', '$T_FDW')) p USING (k);
SQL
); then
    [[ $out == 0 ]]; check $? "kafka.consume agrees: INSERT and kafka.produce topics match key by key ($out disagreements)"
else
    not_ok "kafka.consume of both topics: $out"
fi

finish
