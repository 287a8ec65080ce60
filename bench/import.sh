#!/usr/bin/env bash
# IMPORT FOREIGN SCHEMA and ANALYZE timing: the same statements on a topic of
# SMALL and of LARGE messages (3 partitions each).  Both read a bounded sample
# (IMPORT: sample_size, 1000 by default; ANALYZE: 300 *
# default_statistics_target = 30,000 rows), so their times must not grow with the topic.  See
# bench/README.md, "IMPORT FOREIGN SCHEMA / ANALYZE timing".
#
#   bash bench/import.sh [SMALL [LARGE]]    (default 100000 1000000)
#
# Starts its own Kafka broker (bench/tmp/import/kafka) and PostgreSQL cluster
# (bench/tmp/import/pg), stops both on exit.  Environment knobs:
#   BENCH_RUNS   timed runs per topic, the best one counts (default 3)
set -uo pipefail

NS=${1:-100000}
NL=${2:-1000000}
RUNS=${BENCH_RUNS:-3}
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
[[ $NS =~ ^[0-9]+$ && $NL =~ ^[0-9]+$ ]] && ((NS >= 10 && NL >= NS)) ||
    die "SMALL and LARGE must be integers, 10 <= SMALL <= LARGE, got '$NS' '$NL'"
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1)) || die "BENCH_RUNS must be >= 1"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$ROOT/bench/tmp/import
mkdir -p "$TMP"
export KAFKA_STATE_DIR=$TMP/kafka PG_STATE_DIR=$TMP/pg
export PATH="$(pg_config --bindir):$PATH"
KCAT=$(command -v kcat) || die "kcat not found"
DATA=$TMP/data.txt
T_START=$(date +%s)

say() { printf '%s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

cleanup() {
    bash "$ROOT/test/pg_cluster.sh" stop >/dev/null 2>&1 || true
    bash "$ROOT/test/kafka_broker.sh" stop >/dev/null 2>&1 &&
        rm -rf "$KAFKA_STATE_DIR/data"   # ~1 GB at LARGE = 1M; the next start wipes it anyway
    rm -f "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ set-up
section "set-up (topics of $NS and $NL messages, best of $RUNS runs)"
say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
so=$(pg_config --pkglibdir)/kafka_fdw.so
say "extension: $so ($(stat -c '%y' "$so" 2>/dev/null | cut -d. -f1)), repo HEAD $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"

B=$(bash "$ROOT/test/kafka_broker.sh" start | tail -1) || die "the Kafka broker did not start"
[[ $B == *:* ]] || die "unexpected broker address '$B'"
say "broker at $B"

# the cluster preloads kafka_fdw: retry in case an install is in progress
for try in 1 2 3 4; do
    if out=$(bash "$ROOT/test/pg_cluster.sh" start 2>&1); then break; fi
    ((try < 4)) || { say "$out"; die "the PostgreSQL cluster did not start"; }
    say "cluster start failed (try $try), retrying in 20 s"; sleep 20
done
eval "$(grep -E '^PG(HOST|PORT)=' <<<"$out")"
export PGHOST PGPORT PGUSER=postgres PGDATABASE=postgres
say "cluster at $PGHOST port $PGPORT"

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
for try in 1 2 3 4 5; do
    if out=$("${PSQL[@]}" -c 'CREATE EXTENSION kafka_fdw' 2>&1); then break; fi
    ((try < 5)) || die "CREATE EXTENSION kafka_fdw failed: $out"
    say "CREATE EXTENSION failed (try $try: $out), retrying in 20 s"; sleep 20
done

TS=imp_small TL=imp_large
"${PSQL[@]}" >/dev/null <<SQL || die "creating the server or the topics failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
SELECT kafka.create_topic('kafka', '$TS', 3);
SELECT kafka.create_topic('kafka', '$TL', 3);
SQL
say "default_statistics_target: $("${PSQL[@]}" -At -c 'SHOW default_statistics_target') (ANALYZE samples 300 times that many rows)"

# ------------------------------------------------------------------ seeding
# As bench/run.sh: "key:payload" lines, the key is the id (librdkafka's default
# partitioner spreads them over the 3 partitions); ~110-byte JSON payloads.
section "seeding"
t0=$(date +%s%N)
awk -v n="$NL" 'BEGIN {
    for (i = 1; i <= n; i++)
        printf("%d:{\"id\":%d,\"name\":\"user-%d\",\"price\":%.2f,\"ts_text\":\"2026-11-30T%02d:%02d:%02dZ\",\"tags\":[\"a\",\"b\"],\"active\":true}\n",
               i, i, i, (i % 10000) / 100, int(i / 3600) % 24, int(i / 60) % 60, i % 60)
}' >"$DATA" || die "generating $DATA failed"
avg=$(awk -F: '{ s += length($0) - length($1) - 1 } END { printf "%.1f", s / NR }' "$DATA")
say "generated $NL messages, average payload $avg bytes"
produce() { # produce TOPIC < lines
    "$KCAT" -P -b "$B" -t "$1" -K: -X linger.ms=20 -X batch.num.messages=10000 \
        -X queue.buffering.max.messages=500000 2>"$TMP/produce.err"
    local rc=$?
    if ((rc != 0)) || grep -q . "$TMP/produce.err"; then
        cat "$TMP/produce.err" >&2
        die "kcat -P to $1 failed (exit $rc)"
    fi
}
head -n "$NS" "$DATA" | produce "$TS"
produce "$TL" <"$DATA"
rm -f "$DATA"
t1=$(date +%s%N)
say "produced $NS to '$TS' and $NL to '$TL' in $(((t1 - t0) / 1000000)) ms"

check_topic() { # check_topic TOPIC EXPECTED
    local got
    for _ in $(seq 1 20); do
        got=$("${PSQL[@]}" -At -c "SELECT sum(high - low) FROM kafka.partitions('kafka', '$1')") ||
            die "kafka.partitions('kafka', '$1') failed"
        [[ $got == "$2" ]] && break
        sleep 0.5
    done
    [[ $got == "$2" ]] || die "topic $1 holds $got messages, expected $2"
    say "topic $1: $got messages, per partition (partition:low-high) $("${PSQL[@]}" -At \
        -c "SELECT string_agg(partition || ':' || low || '-' || high, ' ' ORDER BY partition) FROM kafka.partitions('kafka', '$1')")"
}
check_topic "$TS" "$NS"
check_topic "$TL" "$NL"

# ------------------------------------------------------------------ runs
# One run = one fresh psql session (a fresh backend, so IMPORT pays the
# connection to Kafka, as a user's first IMPORT does):
#   DROP SCHEMA s CASCADE; CREATE SCHEMA s;                          (untimed)
#   IMPORT FOREIGN SCHEMA kafka LIMIT TO (topic) FROM SERVER kafka INTO s;
#   ANALYZE s.topic;
# timed by psql's \timing (the statement's round trip, no connection set-up),
# then checks: the imported columns, reltuples = the topic's size, pg_stats
# rows for the payload columns.
one_run() { # one_run TOPIC EXPECTED_COUNT -> "import_ms analyze_ms" in RUN_IMPORT, RUN_ANALYZE
    local topic=$1 n=$2 out times cols reltuples nstats
    out=$("${PSQL[@]}" -At 2>&1 <<SQL
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS s CASCADE;
CREATE SCHEMA s;
\timing on
IMPORT FOREIGN SCHEMA kafka LIMIT TO ($topic) FROM SERVER kafka INTO s;
ANALYZE s.$topic;
\timing off
SELECT 'cols', string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
  FROM pg_attribute WHERE attrelid = 's.$topic'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT 'reltuples', reltuples::bigint FROM pg_class WHERE oid = 's.$topic'::regclass;
SELECT 'stats', count(*) FROM pg_stats WHERE schemaname = 's' AND tablename = '$topic';
SQL
    ) || { say "  !! $topic: the run failed:"; sed 's/^/     /' <<<"$out"; return 1; }
    times=($(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out"))
    cols=$(sed -n 's/^cols|//p' <<<"$out")
    reltuples=$(sed -n 's/^reltuples|//p' <<<"$out")
    nstats=$(sed -n 's/^stats|//p' <<<"$out")
    if ((${#times[@]} != 2)) || [[ $reltuples != "$n" ]] || ((nstats < 6)) ||
        [[ $cols != *', id '*', name text'*', price numeric'* ]]; then
        say "  !! $topic: unexpected result (times '${times[*]}', reltuples '$reltuples', $nstats pg_stats rows, columns '$cols'):"
        sed 's/^/     /' <<<"$out"
        return 1
    fi
    RUN_IMPORT=${times[0]} RUN_ANALYZE=${times[1]} RUN_COLS=$cols RUN_STATS=$nstats
}

min() { printf '%s\n' "$@" | sort -g | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

declare -A IMP ANA
section "IMPORT FOREIGN SCHEMA + ANALYZE, $RUNS runs per topic, interleaved"
failed=0
for ((r = 1; r <= RUNS; r++)); do
    order=("$TS:$NS" "$TL:$NL")
    ((r % 2 == 0)) && order=("$TL:$NL" "$TS:$NS")
    for e in "${order[@]}"; do
        topic=${e%%:*} n=${e#*:}
        if one_run "$topic" "$n"; then
            IMP[$topic]+=" $RUN_IMPORT"; ANA[$topic]+=" $RUN_ANALYZE"
            say "  run $r, $topic ($n messages): IMPORT $RUN_IMPORT ms, ANALYZE $RUN_ANALYZE ms ($RUN_STATS pg_stats rows, reltuples checked)"
        else
            failed=1
        fi
    done
done
say "  imported columns: ${RUN_COLS:-?}"
((failed)) && say "  (some runs failed, see above)"

[[ -n ${IMP[$TS]:-} && -n ${IMP[$TL]:-} ]] || die "no successful run for one of the topics"
bis=$(min ${IMP[$TS]}) bil=$(min ${IMP[$TL]})
bas=$(min ${ANA[$TS]}) bal=$(min ${ANA[$TL]})
qi=$(ratio "$bil" "$bis") qa=$(ratio "$bal" "$bas")

# ------------------------------------------------------------------ summary
dst=$("${PSQL[@]}" -At -c 'SHOW default_statistics_target')
section "summary (best of $RUNS, ms; ratio = time on $NL / time on $NS messages, expected about 1)"
say "samples read: IMPORT sample_size 1000 per topic; ANALYZE min(300 * $dst, topic size) = $((NS < 300 * dst ? NS : 300 * dst)) and $((NL < 300 * dst ? NL : 300 * dst)) messages"
say "| statement | $NS messages | $NL messages | ratio |"
say "|---|---|---|---|"
say "| IMPORT FOREIGN SCHEMA kafka LIMIT TO (topic) FROM SERVER kafka INTO s | $bis | $bil | ${qi}x |"
say "| ANALYZE s.topic | $bas | $bal | ${qa}x |"
say ""
say "runs (ms): IMPORT $TS:${IMP[$TS]}; $TL:${IMP[$TL]}"
say "           ANALYZE $TS:${ANA[$TS]}; $TL:${ANA[$TL]}"
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
log=$PG_STATE_DIR/server.log
if [[ -f $log ]]; then
    nerr=$(grep -cE ' (ERROR|FATAL|PANIC): |terminated by signal' "$log")
    say "server log ($log): $nerr ERROR/FATAL/PANIC/signal lines"
    grep -E ' (ERROR|FATAL|PANIC): |terminated by signal' "$log" | head -5 | sed 's/^/    /'
fi
say "total runtime: $(($(date +%s) - T_START)) s"
