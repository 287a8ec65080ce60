#!/usr/bin/env bash
# kafka_copy benchmarks: COPY FROM/TO PROGRAM 'kafka_copy ...' side by side
# with what users run today (COPY FROM/TO PROGRAM 'kcat ...'), in the same run
# and on the same data.  See bench/README.md, "kafka_copy benchmark".
#
#   bash bench/kafka_copy.sh [N]     N = messages / rows per run (default 1000000)
#
# Starts its own Kafka broker (bench/tmp/kafka_copy/kafka) and PostgreSQL
# cluster (bench/tmp/kafka_copy/pg), stops both on exit.  Environment knobs:
#   BENCH_RUNS   timed runs per command, the best one counts (default 3)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 10)) || die "N must be an integer >= 10, got '$N'"

bench_init kafka_copy
KCOPY=$(command -v kafka_copy) || die "kafka_copy not found (neither in $(pg_config --bindir) nor on PATH)"
DATA=$TMP/data.txt

on_exit_stop wipe "$DATA"   # ~1 GB of broker data at N = 1M

# ------------------------------------------------------------------ set-up
section "set-up (N=$N, best of $RUNS runs)"
say_machine
say "kafka_copy: $KCOPY ($(stat -L -c '%y' "$KCOPY" 2>/dev/null | cut -d. -f1)), $("$KCOPY" --version 2>&1 | head -1)"
say "repo HEAD $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say_kcat

start_services

# COPY ... PROGRAM runs the command through /bin/sh as the postgres OS user,
# with the server's PATH: both programs are named without a path in the
# commands below, as users write them; show what the server finds
srv_which=$("${PSQL[@]}" -At -c "CREATE TEMP TABLE w(p text)" \
    -c "COPY w FROM PROGRAM 'command -v kafka_copy; command -v kcat'" -c "SELECT string_agg(p, ', ') FROM w") ||
    die "the server cannot run 'command -v' through COPY FROM PROGRAM"
say "the server runs: $srv_which"
[[ $srv_which == *kafka_copy*kcat* ]] || die "the server does not find kafka_copy and kcat on its PATH"

# copy_in: consumed by both sides (N messages); out_ours / out_kcat: produced
# to by kafka_copy / by kcat.  t: typed target of kafka_copy consume; raw: the
# one-text-column target of kcat; src: the N rows produced by both.
"${PSQL[@]}" >/dev/null <<SQL || die "creating the server, topics or tables failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
SELECT kafka.create_topic('kafka', 'copy_in', 3);
SELECT kafka.create_topic('kafka', 'out_ours', 3);
SELECT kafka.create_topic('kafka', 'out_kcat', 3);
CREATE UNLOGGED TABLE t (id int, name text);
CREATE UNLOGGED TABLE raw (doc text);
CREATE TABLE src (id int, name text, price numeric);
INSERT INTO src SELECT i, 'user-' || i, (i % 10000) * 0.01 FROM generate_series(1, $N) i;
VACUUM ANALYZE src;
SQL

# ------------------------------------------------------------------ seeding
# As bench/run.sh: "key:payload" lines (see generate_data in bench/lib.sh)
section "seeding"
t0=$(date +%s%N)
generate_data "$N"
grep -q '\\' "$DATA" && die "generated payloads contain a backslash"
average_payload
say "generated $N messages, average payload $avg bytes"
produce copy_in <"$DATA"
rm -f "$DATA"
t1=$(date +%s%N)
say "produced N to 'copy_in' in $(((t1 - t0) / 1000000)) ms"

topic_total() { # messages in TOPIC: sum of high - low over its partitions
    "${PSQL[@]}" -At -c "SELECT coalesce(sum(high - low), 0) FROM kafka.partitions('kafka', '$1')"
}
for _ in $(seq 1 20); do got=$(topic_total copy_in); [[ $got == "$N" ]] && break; sleep 0.5; done
[[ $got == "$N" ]] || die "topic copy_in holds $got messages, expected $N"
say_partitions copy_in "$got"
src_avg=$("${PSQL[@]}" -At -c "SELECT round(avg(octet_length(row_to_json(s)::text)), 1) FROM src s")
say "table src: $N rows, average row_to_json document $src_avg bytes"

# ------------------------------------------------------------------ helpers
# (timed, rate, ratio, ok_mark, topic_high, check_grew, summary_line, report:
# bench/lib.sh)

# bench NAME: runs the contenders in CONTENDERS RUNS times each, interleaved
# (the order flips every round); each entry is
#   "label|function|expected output|topic or -|prep function|check function"
# prep runs (untimed) before every run; check runs (untimed) after it and must
# succeed; with a topic, its high watermarks must grow by exactly N.
# Best times (ms) go into BEST[label].
declare -A BEST TIMES
bench() {
    local name=$1 r i entry label fn exp topic prep check before failed=0
    section "$name"
    for ((r = 1; r <= RUNS; r++)); do
        local order=("${CONTENDERS[@]}")
        if ((r % 2 == 0)); then
            order=()
            for ((i = ${#CONTENDERS[@]} - 1; i >= 0; i--)); do order+=("${CONTENDERS[i]}"); done
        fi
        for entry in "${order[@]}"; do
            IFS='|' read -r label fn exp topic prep check <<<"$entry"
            $prep || { say "  !! $label: preparation ($prep) failed"; failed=1; continue; }
            before=''
            if [[ $topic != - ]]; then
                before=$(topic_high "$topic") || { say "  !! counting $topic failed"; failed=1; continue; }
            fi
            if timed "$label" "$exp" $fn; then
                if [[ -n $before ]] && ! check_grew "$topic" "$before" "$N"; then
                    say "  !! $label: wrong message count, run discarded"; failed=1; continue
                fi
                if ! $check; then
                    say "  !! $label: check ($check) failed, run discarded"; failed=1; continue
                fi
                TIMES[$label]+=" $ELAPSED"
                [[ -z ${BEST[$label]:-} || $ELAPSED -lt ${BEST[$label]} ]] && BEST[$label]=$ELAPSED
            else
                failed=1
            fi
        done
    done
    for entry in "${CONTENDERS[@]}"; do
        IFS='|' read -r label fn exp topic prep check <<<"$entry"
        if [[ -n ${BEST[$label]:-} ]]; then
            printf '  %-44s runs (ms):%-20s best %6s ms  %9s msg/s, checked\n' "$label" "${TIMES[$label]}" \
                "${BEST[$label]}" "$(rate "$N" "${BEST[$label]}")"
        else
            printf '  %-44s FAILED\n' "$label"
        fi
    done
    ((failed)) && say "  (some runs failed, see above)"
    return 0
}

# ------------------------------------------------------------------ commands
# topic -> table.  Ours: kafka_copy decodes two JSON members into typed
# columns (id int, name text).  Reference: kcat prints each message as a line,
# COPY stores it as text in a one-column table (no parsing at all, so the
# reference does less work).  Both tables are unlogged, truncated (untimed)
# before every run; kcat's -e makes it exit at the end of every partition.
CONSUME_OURS="kafka_copy consume -b $B -t copy_in --format json --columns id,name"
CONSUME_KCAT="kcat -C -b $B -t copy_in -e -q"
ours_consume() { "${PSQL_TAG[@]}" -c "COPY t(id, name) FROM PROGRAM '$CONSUME_OURS'"; }
ref_consume() { "${PSQL_TAG[@]}" -c "COPY raw(doc) FROM PROGRAM '$CONSUME_KCAT'"; }
# information only (as in bench/run.sh): with -e, kcat learns that a partition
# ended from an empty fetch, which the broker holds for fetch.wait.max.ms
# (500 ms by default), a fixed idle wait at the end of every run
CONSUME_KCAT_TUNED="$CONSUME_KCAT -X fetch.wait.max.ms=10"
ref_consume_tuned() { "${PSQL_TAG[@]}" -c "COPY raw(doc) FROM PROGRAM '$CONSUME_KCAT_TUNED'"; }
truncate_t() { "${PSQL[@]}" -c 'TRUNCATE t'; }
truncate_raw() { "${PSQL[@]}" -c 'TRUNCATE raw'; }
# after a run: every id once, every name right
check_t() {
    local got
    got=$("${PSQL[@]}" -At -c "SELECT count(*), count(DISTINCT id), sum(id), count(*) FILTER (WHERE name = 'user-' || id) FROM t") || return 1
    [[ $got == "$N|$N|$((N * (N + 1) / 2))|$N" ]] || { say "  !! table t: count|distinct ids|sum(id)|good names = $got"; return 1; }
}
check_raw() {
    local got
    got=$("${PSQL[@]}" -At -c "SELECT count(*), count(DISTINCT doc), sum((doc::json->>'id')::int) FROM raw") || return 1
    [[ $got == "$N|$N|$((N * (N + 1) / 2))" ]] || { say "  !! table raw: count|distinct|sum(id) = $got"; return 1; }
}

# table -> topic.  Ours: kafka_copy encodes the COPY text rows as JSON (byte
# for byte row_to_json's output, thanks to --types).  Reference: row_to_json in
# the backend, kcat's producer (librdkafka defaults: acks=all).  Both commands
# end once every message was acknowledged (kafka_copy: acks=all, idempotent).
PRODUCE_OURS="kafka_copy produce -b $B -t out_ours --format json --columns id,name,price --types int,text,numeric"
PRODUCE_KCAT="kcat -P -b $B -t out_kcat"
ours_produce() { "${PSQL_TAG[@]}" -c "COPY (SELECT id, name, price FROM src) TO PROGRAM '$PRODUCE_OURS'"; }
ref_produce() { "${PSQL_TAG[@]}" -c "COPY (SELECT row_to_json(s) FROM src s) TO PROGRAM '$PRODUCE_KCAT'"; }
no_op() { :; }

# one row each way before the timed runs (whose counts are diffed): both sides
# must send the same bytes
section "same bytes on both sides"
ONE="SELECT * FROM src WHERE id = $((N < 123456 ? N : 123456))"
"${PSQL[@]}" -c "COPY ($ONE) TO PROGRAM '$PRODUCE_OURS'" \
    -c "COPY (SELECT row_to_json(s) FROM ($ONE) s) TO PROGRAM '$PRODUCE_KCAT'" || die "producing the sample row failed"
m_ours=$("$KCAT" -C -b "$B" -t out_ours -e -q -o beginning)
m_ref=$("$KCAT" -C -b "$B" -t out_kcat -e -q -o beginning)
say "kafka_copy produce sent: $m_ours"
say "kcat pipe sent:          $m_ref"
[[ -n $m_ours && $m_ours == "$m_ref" ]] || die "the two producers sent different messages"
# and the consumer: the first rows of both targets, for the record
"${PSQL[@]}" -c "COPY t(id, name) FROM PROGRAM '$CONSUME_OURS'" || die "kafka_copy consume failed"
check_t || die "kafka_copy consume loaded wrong rows"
say "kafka_copy consume row: $("${PSQL[@]}" -At -c "SELECT id, name FROM t ORDER BY id LIMIT 1")"
truncate_t

CONTENDERS=("COPY raw FROM PROGRAM kcat -C|ref_consume|COPY $N|-|truncate_raw|check_raw"
            "(info) kcat -C -X fetch.wait.max.ms=10|ref_consume_tuned|COPY $N|-|truncate_raw|check_raw"
            "COPY t FROM PROGRAM kafka_copy consume|ours_consume|COPY $N|-|truncate_t|check_t")
bench "topic -> table: COPY FROM PROGRAM kafka_copy vs kcat"
report "COPY t FROM PROGRAM kafka_copy consume" "COPY raw FROM PROGRAM kcat -C" \
    "COPY FROM PROGRAM: kafka_copy consume vs kcat -C" ">= 1.0"
report "COPY t FROM PROGRAM kafka_copy consume" "(info) kcat -C -X fetch.wait.max.ms=10" \
    "(info) kafka_copy consume vs kcat -C -X fetch.wait.max.ms=10" "-"
"${PSQL[@]}" -c 'TRUNCATE t, raw'

CONTENDERS=("COPY (row_to_json) TO PROGRAM kcat -P|ref_produce|COPY $N|out_kcat|no_op|no_op"
            "COPY (SELECT) TO PROGRAM kafka_copy produce|ours_produce|COPY $N|out_ours|no_op|no_op")
bench "table -> topic: COPY TO PROGRAM kafka_copy vs kcat"
report "COPY (SELECT) TO PROGRAM kafka_copy produce" "COPY (row_to_json) TO PROGRAM kcat -P" \
    "COPY TO PROGRAM: kafka_copy produce vs kcat -P" ">= 1.0"
# every message of both output topics, once more: 1 + RUNS * N each
for tp in out_ours out_kcat; do
    got=$(topic_total "$tp")
    say "  topic $tp holds $got messages (expected 1 + runs * N = $((1 + RUNS * N)) if every run succeeded)"
done

# ------------------------------------------------------------------ summary
section "summary (N=$N, best of $RUNS, rates in messages/s, ratio = ours / reference)"
print_summary_table
say ""
say "commands:"
say "  ours:      COPY t(id, name) FROM PROGRAM '$CONSUME_OURS'"
say "  reference: COPY raw(doc) FROM PROGRAM '$CONSUME_KCAT'"
say "  (info):    COPY raw(doc) FROM PROGRAM '$CONSUME_KCAT_TUNED'"
say "  ours:      COPY (SELECT id, name, price FROM src) TO PROGRAM '$PRODUCE_OURS'"
say "  reference: COPY (SELECT row_to_json(s) FROM src s) TO PROGRAM '$PRODUCE_KCAT'"
say_load
say_server_log ERROR FATAL PANIC
say_runtime
