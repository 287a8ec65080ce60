#!/usr/bin/env bash
# Short scans over a topic with many partitions: the fixed cost of a query
# (metadata, watermarks, the consumer's start) rather than its reading rate.
#
#   bash bench/short_scans.sh [PARTITIONS] [MESSAGES]   64 partitions, 64,000 messages
#   PG_MAJOR=17 bash bench/short_scans.sh               inside 17's Debian root
#
# Seeds one topic, then `pgbench -n -M prepared` runs each query 200 times
# (BENCH_CALLS) in one session, best of BENCH_RUNS series, interleaved with
# the reference: `kcat -C -e` reading the same message(s), one process per
# call (what a shell script does today), timed over 20 calls.
#   limit:  SELECT id FROM many LIMIT 10
#   point:  SELECT id FROM many WHERE part = 17 AND off = 100
# ratio = kcat's time per call / ours (> 1: we are faster).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

P=${1:-64}
N=${2:-64000}
CALLS=${BENCH_CALLS:-200}
[[ $P =~ ^[0-9]+$ && $P -ge 18 ]] || die "PARTITIONS must be >= 18"
[[ $N =~ ^[0-9]+$ && $N -ge $((P * 300)) ]] || die "MESSAGES must be >= 300 per partition"

bench_init short_scans
DATA=$TMP/data.txt
on_exit_stop wipe "$DATA" "$TMP/limit.sql" "$TMP/point.sql"

section "set-up ($P partitions, $N messages, $CALLS calls per series, best of $RUNS)"
say_machine
say_extension
say_kcat
start_services
"${PSQL[@]}" >/dev/null <<SQL || die "set-up failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
SELECT kafka.create_topic('kafka', 'many', $P);
CREATE FOREIGN TABLE many (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), id int)
  SERVER kafka OPTIONS (topic 'many', format 'json');
SQL
# keyed by id: librdkafka's default partitioner (a hash of the key) spreads
# them, about N/P per partition
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "%d:{\"id\":%d}\n", i, i }' >"$DATA"
"$KCAT" -P -b "$B" -t many -K: -l "$DATA" 2>/dev/null || true
rm -f "$DATA"
"$KCAT" -C -b "$B" -t many -e -q -o beginning -X fetch.wait.max.ms=10 | wc -l | grep -qx "$N" ||
    die "the topic does not hold $N messages"
low17=$("${PSQL[@]}" -At -c "SELECT high - low FROM kafka.partitions('kafka', 'many') WHERE partition = 17")
((low17 > 100)) || die "partition 17 holds only $low17 messages"

echo 'SELECT id FROM many LIMIT 10;' >"$TMP/limit.sql"
echo 'SELECT id FROM many WHERE part = 17 AND off = 100;' >"$TMP/point.sql"
[[ $("${PSQL[@]}" -At -f "$TMP/limit.sql" | wc -l) == 10 ]] || die "LIMIT 10 does not give 10 rows"
[[ $("${PSQL[@]}" -At -f "$TMP/point.sql" | wc -l) == 1 ]] || die "the point lookup does not give 1 row"

ours_ms() { # FILE: average latency in ms of CALLS calls in one session
    pgbench -n -M prepared -t "$CALLS" -f "$1" 2>/dev/null | awk '/latency average/ { print $4 }'
}
kcat_ms() { # ARGS...: average wall ms of 20 kcat processes
    local t0 t1 i
    t0=$(date +%s%N)
    for ((i = 0; i < 20; i++)); do "$KCAT" -C -b "$B" -t many -e -q "$@" >/dev/null || return 1; done
    t1=$(date +%s%N)
    awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 20 / 1e6 }'
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }

best_limit= best_point= ref_limit= ref_point=
for ((r = 1; r <= RUNS; r++)); do
    l=$(ours_ms "$TMP/limit.sql"); p=$(ours_ms "$TMP/point.sql")
    [[ -n $l && -n $p ]] || die "pgbench failed"
    # kcat: 10 messages from the beginning of the topic / one message at 17:100
    kl=$(kcat_ms -o beginning -c 10) || die "kcat failed"
    kp=$(kcat_ms -p 17 -o 100 -c 1) || die "kcat failed"
    say "  series $r: LIMIT 10 ${l} ms (kcat ${kl} ms), point ${p} ms (kcat ${kp} ms)"
    best_limit=$(min "$best_limit" "$l"); best_point=$(min "$best_point" "$p")
    ref_limit=$(min "$ref_limit" "$kl"); ref_point=$(min "$ref_point" "$kp")
done

section "summary (ms per call, best series)"
printf '%-50s %10s %10s %8s\n' "query" "ours" "kcat" "ratio"
printf '%-50s %10s %10s %7sx\n' "SELECT id FROM many LIMIT 10" "$best_limit" "$ref_limit" "$(ratio "$ref_limit" "$best_limit")"
printf '%-50s %10s %10s %7sx\n' "SELECT id FROM many WHERE part = 17 AND off = 100" "$best_point" "$ref_point" "$(ratio "$ref_point" "$best_point")"
say_server_log
say_runtime
