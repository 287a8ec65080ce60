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
source "$(dirname "$0")/lib.sh"

NS=${1:-100000}
NL=${2:-1000000}
[[ $NS =~ ^[0-9]+$ && $NL =~ ^[0-9]+$ ]] && ((NS >= 10 && NL >= NS)) ||
    die "SMALL and LARGE must be integers, 10 <= SMALL <= LARGE, got '$NS' '$NL'"

bench_init import
DATA=$TMP/data.txt

on_exit_stop wipe "$DATA"   # ~1 GB of broker data at LARGE = 1M

# ------------------------------------------------------------------ set-up
section "set-up (topics of $NS and $NL messages, best of $RUNS runs)"
say_machine
say_extension

start_services

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
generate_data "$NL"
average_payload
say "generated $NL messages, average payload $avg bytes"
head -n "$NS" "$DATA" | produce "$TS"
produce "$TL" <"$DATA"
rm -f "$DATA"
t1=$(date +%s%N)
say "produced $NS to '$TS' and $NL to '$TL' in $(((t1 - t0) / 1000000)) ms"

check_topic "$TS" "$NS" 20 0.5
check_topic "$TL" "$NL" 20 0.5

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
say_load
say_server_log ERROR FATAL PANIC
say_runtime
