#!/usr/bin/env bash
# kafka_fdw produce benchmarks: INSERT and COPY FROM into a foreign table,
# side by side with what users run today (COPY ... TO PROGRAM 'kcat -P'), the
# latency of kafka.produce() and of the COMMIT of kafka.send(), and the
# backend's peak memory during COPY FROM.  See bench/README.md.
#
#   bash bench/produce.sh [N]     N = rows per bulk run (default 1000000)
#
# Starts its own Kafka broker (bench/tmp/produce/kafka) and PostgreSQL cluster
# (bench/tmp/produce/pg), stops both on exit.  Environment knobs:
#   BENCH_RUNS   timed runs per bulk command, the best one counts (default 5)
#   BENCH_WARMUP untimed rounds of every bulk command first (default 1)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 10)) || die "N must be an integer >= 10, got '$N'"
NSMALL=$((N / 10))
RUNS=${BENCH_RUNS:-5}   # more than lib.sh's 3: this machine's speed drifts
WARMUP=${BENCH_WARMUP:-1}
[[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be an integer >= 0, got '$WARMUP'"

bench_init produce
PGBENCH=$(command -v pgbench) || die "pgbench not found"
CSV=$TMP/rows.csv             # N CSV lines (COPY FROM and the memory probe)
CSV_SMALL=$TMP/rows_small.csv # its first N/10 lines (memory probe)

cleanup() {
    stop_services wipe   # ~1.5 GB of broker data at N = 1M
    rm -f "$CSV" "$CSV_SMALL" "$TMP"/pgbench_log* "$TMP/latency.sql"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ set-up
section "set-up (N=$N, N/10=$NSMALL, best of $RUNS runs)"
say_machine
say_extension
say_kcat

start_services

# events: our side; events_kcat: the kcat reference; lat, send_lat: latencies.
# All 3 partitions, no keys (librdkafka's sticky partitioner on both sides).
"${PSQL[@]}" >/dev/null <<SQL || die "creating the server, topics or table failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
SELECT kafka.create_topic('kafka', 'events', 3);
SELECT kafka.create_topic('kafka', 'events_kcat', 3);
SELECT kafka.create_topic('kafka', 'lat', 1);
SELECT kafka.create_topic('kafka', 'send_lat', 1);
CREATE FOREIGN TABLE events (
  id int, name text, price numeric, ts_text text, tags text[], active bool
) SERVER kafka OPTIONS (topic 'events', format 'json');
SQL

# The rows, the same on every side: ~110-byte JSON documents (111 for 6-digit ids)
#   {"id":123456,"name":"user-123456","price":34.56,"ts_text":"2026-11-30T10:17:36Z","tags":["a","b"],"active":true}
ROWS="SELECT i AS id, 'user-' || i AS name, (i % 10000) * 0.01 AS price,
       '2026-11-30T' || (time '00:00' + i * interval '1 second')::text || 'Z' AS ts_text,
       ARRAY['a', 'b'] AS tags, true AS active
  FROM generate_series(1, $N) i"

# the same rows as CSV for COPY FROM (awk, so the file costs no database time);
# COPY reads it as the postgres user
awk -v n="$N" 'BEGIN {
    for (i = 1; i <= n; i++)
        printf("%d,user-%d,%.2f,2026-11-30T%02d:%02d:%02dZ,\"{a,b}\",true\n",
               i, i, (i % 10000) / 100, int(i / 3600) % 24, int(i / 60) % 60, i % 60)
}' >"$CSV" || die "writing $CSV failed"
head -n "$NSMALL" "$CSV" >"$CSV_SMALL"
chmod a+rx "$ROOT/bench/tmp" "$TMP"; chmod a+r "$CSV" "$CSV_SMALL"
if [[ $(id -u) == 0 ]] && ! runuser -u postgres -- test -r "$CSV"; then
    die "the postgres user cannot read $CSV (a parent directory is not searchable?)"
fi
say "wrote $N CSV lines to $CSV ($(($(stat -c %s "$CSV") / 1024)) kB)"

avg=$("${PSQL[@]}" -At -c "SELECT round(avg(octet_length(row_to_json(t)::text)), 1) FROM ($ROWS) t")
say "average JSON document: $avg bytes"
# both sides must send the same bytes: one row each way (before the timed
# runs, whose counts are diffed), read back with kcat
ONE="SELECT * FROM ($ROWS) r WHERE id = $((N < 123456 ? N : 123456))"
"${PSQL[@]}" -c "INSERT INTO events $ONE" -c "COPY (SELECT row_to_json(t) FROM ($ONE) t) TO PROGRAM '$KCAT -P -b $B -t events_kcat'" ||
    die "producing the sample row failed"
m_ours=$("$KCAT" -C -b "$B" -t events -e -q -o beginning -c 1)
m_ref=$("$KCAT" -C -b "$B" -t events_kcat -e -q -o beginning -c 1)
say "message from INSERT: $m_ours"
[[ -n $m_ours && $m_ours == "$m_ref" ]] || die "the kcat pipe sent a different message: $m_ref"
sed -n "$((N < 123456 ? N : 123456))p" "$CSV" >"$TMP/one.csv"; chmod a+r "$TMP/one.csv"
"${PSQL[@]}" -c "COPY events FROM '$TMP/one.csv' (FORMAT csv)" || die "COPY of the sample CSV line failed"
m_copy=$("$KCAT" -C -b "$B" -t events -e -q -o beginning | sort -u)
[[ $m_copy == "$m_ours" ]] || die "COPY FROM sent a different message: $m_copy"
say "the kcat pipe and COPY FROM '$(cat "$TMP/one.csv")' send the same bytes"
rm -f "$TMP/one.csv"

# ------------------------------------------------------------------ helpers
# (timed, rate, ratio, ok_mark, topic_high, check_grew, summary_line, report:
# bench/lib.sh)

# bench NAME: runs the contenders in CONTENDERS RUNS times each, interleaved
# (the order flips every round); each entry is "label|function|expected
# output|topic or -".  The topic's high watermarks must grow by exactly N.
# Best times (ms) go into BEST[label].  First WARMUP untimed rounds: a new
# broker's JVM needs a few million messages before its code is compiled, and
# until then it, not the producer, sets the pace.
declare -A BEST TIMES
bench() {
    local name=$1 r i entry label fn exp topic before failed=0
    section "$name"
    for ((r = 1; r <= WARMUP; r++)); do
        for entry in "${CONTENDERS[@]}"; do
            IFS='|' read -r label fn exp topic <<<"$entry"
            timed "$label (warm-up)" "$exp" $fn || failed=1
        done
    done
    for ((r = 1; r <= RUNS; r++)); do
        local order=("${CONTENDERS[@]}")
        if ((r % 2 == 0)); then
            order=()
            for ((i = ${#CONTENDERS[@]} - 1; i >= 0; i--)); do order+=("${CONTENDERS[i]}"); done
        fi
        for entry in "${order[@]}"; do
            IFS='|' read -r label fn exp topic <<<"$entry"
            before=''
            if [[ $topic != - ]]; then
                before=$(topic_high "$topic") || { say "  !! counting $topic failed"; failed=1; continue; }
            fi
            if timed "$label" "$exp" $fn; then
                if [[ -n $before ]] && ! check_grew "$topic" "$before" "$N"; then
                    say "  !! $label: wrong message count, run discarded"; failed=1; continue
                fi
                TIMES[$label]+=" $ELAPSED"
                [[ -z ${BEST[$label]:-} || $ELAPSED -lt ${BEST[$label]} ]] && BEST[$label]=$ELAPSED
            else
                failed=1
            fi
        done
    done
    for entry in "${CONTENDERS[@]}"; do
        IFS='|' read -r label fn exp topic <<<"$entry"
        if [[ -n ${BEST[$label]:-} ]]; then
            printf '  %-48s runs (ms):%-22s best %6s ms  %9s msg/s%s\n' "$label" "${TIMES[$label]}" \
                "${BEST[$label]}" "$(rate "$N" "${BEST[$label]}")" \
                "$([[ $topic != - ]] && echo ", counts checked")"
        else
            printf '  %-48s FAILED\n' "$label"
        fi
    done
    ((failed)) && say "  (some runs failed, see above)"
    return 0
}

# ------------------------------------------------------------------ bulk
# ours: the foreign table encodes each row as JSON and produces it
ours_insert() { "${PSQL_TAG[@]}" -c "INSERT INTO events $ROWS"; }
# the pattern users run today: row_to_json piped into kcat's producer
# (librdkafka defaults: acks=all, linger.ms=5); COPY ends when kcat has exited,
# i.e. after every message was acknowledged
ref_kcat() { "${PSQL_TAG[@]}" -c "COPY (SELECT row_to_json(t) FROM ($ROWS) t) TO PROGRAM '$KCAT -P -b $B -t events_kcat'"; }
# the SQL side alone: the same COPY into /dev/null
ref_devnull() { "${PSQL_TAG[@]}" -c "COPY (SELECT row_to_json(t) FROM ($ROWS) t) TO '/dev/null'"; }
# COPY FROM a file into the foreign table: each CSV line becomes a message
ours_copy() { "${PSQL_TAG[@]}" -c "COPY events FROM '$CSV' (FORMAT csv)"; }

L_INSERT='INSERT INTO events SELECT'
L_KCAT="COPY (row_to_json) TO PROGRAM kcat"
L_NULL="COPY (row_to_json) TO /dev/null"
L_COPY='COPY events FROM file'

section "plans"
"${PSQL[@]}" -At -c "EXPLAIN INSERT INTO events $ROWS" | sed 's/^/    /'

CONTENDERS=("$L_KCAT|ref_kcat|COPY $N|events_kcat" "$L_NULL|ref_devnull|COPY $N|-"
            "$L_INSERT|ours_insert|INSERT 0 $N|events")
bench "INSERT ... SELECT vs COPY TO PROGRAM kcat vs COPY TO /dev/null"
report "$L_INSERT" "$L_KCAT" "INSERT…SELECT vs kcat pipe" ">= 1.0"
report "$L_INSERT" "$L_NULL" "INSERT…SELECT vs COPY TO /dev/null" ">= 0.9"

# a second series for COPY FROM, against the kcat pipe and /dev/null again
# (same conditions)
L_KCAT2="$L_KCAT (2nd series)"
L_NULL2="$L_NULL (2nd series)"
CONTENDERS=("$L_KCAT2|ref_kcat|COPY $N|events_kcat" "$L_NULL2|ref_devnull|COPY $N|-"
            "$L_COPY|ours_copy|COPY $N|events")
bench "COPY events FROM file vs COPY TO PROGRAM kcat vs COPY TO /dev/null"
report "$L_COPY" "$L_KCAT2" "COPY FROM file vs kcat pipe" ">= 1.0"
report "$L_COPY" "$L_NULL2" "COPY FROM file vs COPY TO /dev/null" ">= 0.9"

# ------------------------------------------------------------------ latency
# percentile P of the numbers on stdin (nearest rank)
pct() { sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "?"; exit }
    k = int(p / 100 * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR; print v[k] }'; }
ms() { awk '{ printf "%.3f\n", $1 / 1000 }'; }   # us -> ms

section "kafka.produce latency (1000 calls, one session, pgbench -M prepared)"
printf '%s\n' "SELECT * FROM kafka.produce('kafka', 'lat', 'x'::text);" >"$TMP/latency.sql"
before=$(topic_high lat)
rm -f "$TMP"/pgbench_log*
if (cd "$TMP" && "$PGBENCH" -n -t 1000 -f latency.sql -M prepared -l --log-prefix=pgbench_log postgres \
        >"$TMP/pgbench.out" 2>&1); then
    # log lines: client_id transaction_no latency_us script_no epoch epoch_us
    lat=$(awk '{ print $3 }' "$TMP"/pgbench_log*)
    n=$(wc -l <<<"$lat")
    first=$(head -n 1 "$TMP"/pgbench_log* | awk '{ printf "%.3f", $3 / 1000 }')
    med=$(pct 50 <<<"$lat" | ms); p99=$(pct 99 <<<"$lat" | ms); mx=$(pct 100 <<<"$lat" | ms)
    say "  $n calls: median $med ms, p99 $p99 ms, max $mx ms (the first call, which connects: $first ms)"
    grep -E '^(latency average|tps)' "$TMP/pgbench.out" | sed 's/^/  pgbench: /'
    check_grew lat "$before" 1000 && say "  topic lat grew by 1000 messages"
    summary_line "kafka.produce() latency, 1000 calls" "median $med ms, p99 $p99 ms" "-" "-" "-"
else
    say "  !! pgbench failed:"; sed 's/^/     /' "$TMP/pgbench.out"
    summary_line "kafka.produce() latency, 1000 calls" "FAILED" "-" "-" "-"
fi

section "kafka.send commit latency (time of the COMMIT alone, psql \\timing)"
# one session; a warm-up transaction first (the producer connects), then the
# runs; psql's \timing is switched on for the COMMIT only
send_script() { # send_script MESSAGES RUNS
    printf "BEGIN;\nSELECT count(kafka.send('kafka', 'send_lat', 'warm-up'::text));\nCOMMIT;\n"
    local i
    for ((i = 1; i <= $2; i++)); do
        printf "BEGIN;\nSELECT count(kafka.send('kafka', 'send_lat', 'm-' || g)) FROM generate_series(1, %d) g;\n" "$1"
        printf '\\timing on\nCOMMIT;\n\\timing off\n'
    done
}
for spec in 1:20 100:20 10000:3; do
    m=${spec%%:*} runs=${spec#*:}
    before=$(topic_high send_lat)
    if out=$(send_script "$m" "$runs" | "${PSQL[@]}" -At 2>&1); then
        times=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out")
        n=$(grep -c . <<<"$times")
        med=$(pct 50 <<<"$times"); mn=$(pct 0 <<<"$times"); mx=$(pct 100 <<<"$times")
        check_grew send_lat "$before" $((m * runs + 1)) && counted=", counts checked" || counted=", COUNT WRONG"
        say "  $m message(s): COMMIT median $med ms over $n runs (min $mn, max $mx)$counted"
        say "      runs (ms): $(tr '\n' ' ' <<<"$times")"
        summary_line "kafka.send() COMMIT, $m msg" "median $med ms ($n runs)" "-" "-" "-"
    else
        say "  !! $m message(s) failed:"; sed 's/^/     /' <<<"$out" | tail -5
        summary_line "kafka.send() COMMIT, $m msg" "FAILED" "-" "-" "-"
    fi
done

# ------------------------------------------------------------------ memory
# Peak RSS (VmHWM) of the backend running COPY events FROM a file of N/10 and
# of N lines, each in a fresh backend; psql's \! reads /proc/<pid>/status (this
# script runs as root) while the session is still open.
mem_probe() { # mem_probe FILE -> "before", "after" and the COPY tag
    "${PSQL[@]}" -At <<SQL
SELECT pg_backend_pid() AS pid \gset
\setenv BENCH_BACKEND_PID :pid
\! awk '/^VmHWM/ { print "before", \$2 }' /proc/\$BENCH_BACKEND_PID/status
\set QUIET off
COPY events FROM '$1' (FORMAT csv);
\set QUIET on
\! awk '/^VmHWM/ { print "after", \$2 }' /proc/\$BENCH_BACKEND_PID/status
SQL
}
section "backend peak memory (COPY events FROM file)"
declare -A HWM
mem_ok=1
for t in small:$CSV_SMALL:$NSMALL full:$CSV:$N; do
    IFS=: read -r which file n <<<"$t"
    before_count=$(topic_high events)
    if ! out=$(mem_probe "$file" 2>&1); then
        say "  !! memory probe with $n lines failed:"; sed 's/^/     /' <<<"$out"; mem_ok=0; continue
    fi
    b=$(awk '$1 == "before" { print $2 }' <<<"$out")
    a=$(awk '$1 == "after" { print $2 }' <<<"$out")
    if [[ -z $b || -z $a ]] || ! grep -qx "COPY $n" <<<"$out" || ! check_grew events "$before_count" "$n"; then
        say "  !! memory probe with $n lines gave unexpected output:"; sed 's/^/     /' <<<"$out"; mem_ok=0; continue
    fi
    HWM[$which]=$a
    say "  COPY of $n lines: VmHWM $b kB before, $a kB after (counts checked)"
done
if ((mem_ok)); then
    q=$(ratio "${HWM[full]}" "${HWM[small]}")
    mark=$(awk -v q="$q" 'BEGIN { print (q <= 1.10) ? "ok" : "MISSED" }')
    say "  ratio N / (N/10): ${q}x (target <= 1.10x) $mark"
    summary_line "peak RSS of COPY FROM, N vs N/10" "${HWM[full]} kB" "${HWM[small]} kB" "${q}x" "<= 1.10 $mark"
else
    summary_line "peak RSS of COPY FROM, N vs N/10" "FAILED" "FAILED" "-" "<= 1.10"
fi

# ------------------------------------------------------------------ summary
section "summary (N=$N, best of $RUNS, rates in messages/s, ratio = ours / reference)"
print_summary_table
say ""
say "best times (ms): $(for l in "$L_INSERT" "$L_KCAT" "$L_NULL" "$L_COPY" "$L_KCAT2"; do printf '%s=%s; ' "$l" "${BEST[$l]:-?}"; done)"
say_load
say_server_log ERROR FATAL PANIC
say_runtime
