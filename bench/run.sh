#!/usr/bin/env bash
# kafka_fdw benchmarks: each query under test runs side by side with a
# reference command, in the same run and on the same data.  See bench/README.md.
#
#   bash bench/run.sh [N]        N = messages in the topic (default 1000000)
#
# Starts its own Kafka broker (bench/tmp/kafka) and PostgreSQL cluster
# (bench/tmp/pg), stops both on exit.  Environment knobs:
#   BENCH_RUNS   timed runs per command, the best one counts (default 3)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 10)) || die "N must be an integer >= 10, got '$N'"
NSMALL=$((N / 10))

bench_init
DATA=$TMP/data.txt

on_exit_stop "$DATA"

# ------------------------------------------------------------------ set-up
section "set-up (N=$N, N/10=$NSMALL, best of $RUNS runs)"
say_machine
say_extension
say_kcat

start_services

"${PSQL[@]}" >/dev/null <<SQL || die "creating the server, topics or tables failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
SELECT kafka.create_topic('kafka', 'bench', 3);
SELECT kafka.create_topic('kafka', 'bench_small', 3);
CREATE FOREIGN TABLE bench_events (
  part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  id int, name text, amount numeric OPTIONS (json 'price'), ts_text text
) SERVER kafka OPTIONS (topic 'bench', format 'json');
CREATE FOREIGN TABLE bench_small_events (
  part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
  id int, name text, amount numeric OPTIONS (json 'price'), ts_text text
) SERVER kafka OPTIONS (topic 'bench_small', format 'json');
CREATE UNLOGGED TABLE raw_t (doc jsonb);
CREATE UNLOGGED TABLE unlogged_t2 (id int, name text, amount numeric);
SQL

# ------------------------------------------------------------------ seeding
# "key:payload" lines (see generate_data in bench/lib.sh), over 3 partitions
section "seeding"
t0=$(date +%s%N)
generate_data "$N"
grep -q '\\' "$DATA" && die "generated payloads contain a backslash"
average_payload
say "generated $N messages, average payload $avg bytes"

produce bench <"$DATA"
head -n "$NSMALL" "$DATA" | produce bench_small
t1=$(date +%s%N)
say "produced N to 'bench' and N/10 to 'bench_small' in $(((t1 - t0) / 1000000)) ms"

# verify the counts through the extension (the watermarks), then that the
# reference command reads exactly N messages too
check_topic bench "$N" 10 1
check_topic bench_small "$NSMALL" 10 1
got=$("$KCAT" -C -b "$B" -t bench -e -q -o beginning -X fetch.wait.max.ms=10 | wc -l)
[[ $got == "$N" ]] || die "kcat reads $got messages from bench, expected $N"
rm -f "$DATA"   # needed only for seeding: leave the disk and page cache to the broker

# ------------------------------------------------------------------ helpers
# (timed, rate, ratio: bench/lib.sh)
# the summary here is a table of columns, not lib.sh's markdown table
SUMMARY=()
summary_line() { # name ours reference ratio target [ratio vs tuned]
    SUMMARY+=("$(printf '%-28s %16s %16s %7s %9s %9s' "$@")")
}

# compare NAME TARGET PREP REF_FN REF_EXPECTED TUNED_FN OURS_FN OURS_EXPECTED
# Runs the reference, the tuned reference (information only) and ours RUNS
# times each, interleaved, PREP before every run; the best (shortest) run counts.
compare() {
    local name=$1 target=$2 prep=$3 ref=$4 ref_exp=$5 tuned=$6 ours=$7 ours_exp=$8
    local r fn best_ref='' best_tuned='' best_ours='' failed=0 times_ref='' times_tuned='' times_ours=''
    section "$name"
    for ((r = 1; r <= RUNS; r++)); do
        local order=(ref tuned ours)
        ((r % 2 == 0)) && order=(ours tuned ref)
        for fn in "${order[@]}"; do
            $prep || { say "  !! preparation ($prep) failed"; failed=1; continue; }
            case $fn in
                ref)
                    if timed reference "$ref_exp" $ref; then
                        times_ref+=" $ELAPSED"
                        [[ -z $best_ref || $ELAPSED -lt $best_ref ]] && best_ref=$ELAPSED
                    else failed=1; fi ;;
                tuned)
                    if timed "tuned reference" "$ref_exp" $tuned; then
                        times_tuned+=" $ELAPSED"
                        [[ -z $best_tuned || $ELAPSED -lt $best_tuned ]] && best_tuned=$ELAPSED
                    else failed=1; fi ;;
                ours)
                    if timed ours "$ours_exp" $ours; then
                        times_ours+=" $ELAPSED"
                        [[ -z $best_ours || $ELAPSED -lt $best_ours ]] && best_ours=$ELAPSED
                    else failed=1; fi ;;
            esac
        done
    done
    say "  reference         runs (ms):${times_ref:- -}"
    say "  tuned reference   runs (ms):${times_tuned:- -}"
    say "  ours              runs (ms):${times_ours:- -}"
    if [[ -z $best_ref || -z $best_ours ]]; then
        summary_line "$name" "${best_ours:+$(rate "$N" "$best_ours")}${best_ours:-FAILED}" \
            "${best_ref:+$(rate "$N" "$best_ref")}${best_ref:-FAILED}" "-" "$target"
        return
    fi
    local ro rr rt q qt='-'
    ro=$(rate "$N" "$best_ours"); rr=$(rate "$N" "$best_ref")
    q=$(ratio "$best_ref" "$best_ours")
    [[ -n $best_tuned ]] && { rt=$(rate "$N" "$best_tuned"); qt=$(ratio "$best_tuned" "$best_ours"); }
    say "  reference:        $rr msg/s (best $best_ref ms)"
    [[ -n $best_tuned ]] && say "  tuned reference:  $rt msg/s (best $best_tuned ms)"
    say "  ours:             $ro msg/s (best $best_ours ms)"
    say "  ratio ours/reference: ${q}x (target $target); ours/tuned reference: ${qt}x"
    ((failed)) && say "  (some runs failed, see above)"
    summary_line "$name" "$ro msg/s" "$rr msg/s" "${q}x" "$target" "${qt}x"
}

# ------------------------------------------------------------------ commands
# The reference reader: kcat, the plain librdkafka consumer, reading the whole
# topic once and exiting at the end of every partition.  With -e, kcat learns
# a partition's end from a fetch that comes back empty, and the broker holds
# that fetch for fetch.wait.max.ms (500 ms by default): a fixed ~0.5 s at the
# end of each run that is idle waiting, not reading.  The "tuned reference"
# (fetch.wait.max.ms=10) removes it; it is printed for information only, the
# targets apply to the plain command.
KCAT_READ="$KCAT -C -b $B -t bench -e -q -o beginning"
KCAT_TUNED="$KCAT_READ -X fetch.wait.max.ms=10"

ref_kcat() { $KCAT_READ >/dev/null; }
ref_kcat_tuned() { $KCAT_TUNED >/dev/null; }
ours_count() { "${PSQL[@]}" -At -c 'SELECT count(*) FROM bench_events'; }
ours_decode() { "${PSQL[@]}" -At -c 'SELECT sum(id), count(name) FROM bench_events'; }

# What users run today without kafka_fdw, in its simplest honest form: COPY
# pipes kcat's output (one JSON document per line) into an unlogged table with
# a single jsonb column.  The server parses and validates every document as
# jsonb and stores it; no field is extracted and nothing else is done, so the
# reference does less than ours, which extracts and converts three fields
# (int, text, numeric) into typed columns.  Both write ~N rows into an
# unlogged table, both tables are truncated (untimed) before each run.
ref_copy() { "${PSQL_TAG[@]}" -c "COPY raw_t FROM PROGRAM '$KCAT_READ'"; }
ref_copy_tuned() { "${PSQL_TAG[@]}" -c "COPY raw_t FROM PROGRAM '$KCAT_TUNED'"; }
ours_insert() { "${PSQL_TAG[@]}" -c 'INSERT INTO unlogged_t2 SELECT id, name, amount FROM bench_events'; }
truncate_both() { "${PSQL[@]}" -c 'TRUNCATE raw_t, unlogged_t2'; }
no_prep() { :; }

section "plans"
for q in 'SELECT count(*) FROM bench_events' 'SELECT sum(id), count(name) FROM bench_events' \
         'INSERT INTO unlogged_t2 SELECT id, name, amount FROM bench_events'; do
    say "$q:"
    "${PSQL[@]}" -At -c "EXPLAIN $q" | sed 's/^/    /'
done

compare "count(*) vs kcat" ">= 0.5x" no_prep ref_kcat - ref_kcat_tuned ours_count "$N"
compare "sum(id),count(name) vs kcat" ">= 0.5x" no_prep ref_kcat - ref_kcat_tuned ours_decode "$((N * (N + 1) / 2))|$N"
compare "INSERT..SELECT vs COPY jsonb" ">= 1.5x" truncate_both ref_copy "COPY $N" ref_copy_tuned ours_insert "INSERT 0 $N"

# ------------------------------------------------------------------ memory
# Peak RSS (VmHWM) of the backend running the decode query, each in a fresh
# backend (one psql session per probe): the same query on N/10 and on N
# messages.  psql reads the backend's /proc status (this script runs as root)
# while the session is still open.  Parallel query is switched off so the one
# backend decodes every message.  VmHWM includes the shared memory the backend
# touched; "before" is the fresh backend's VmHWM before the query.
mem_probe() { # mem_probe TABLE -> "before after result"
    "${PSQL[@]}" -At <<SQL
SET max_parallel_workers_per_gather = 0;
SELECT pg_backend_pid() AS pid \gset
\setenv BENCH_BACKEND_PID :pid
\! awk '/^VmHWM/ { print "before", \$2 }' /proc/\$BENCH_BACKEND_PID/status
SELECT 'result', sum(id), count(name) FROM $1;
\! awk '/^VmHWM/ { print "after", \$2 }' /proc/\$BENCH_BACKEND_PID/status
SQL
}
section "backend peak memory (decode query)"
declare -A HWM
mem_ok=1
for t in bench_small_events:$NSMALL bench_events:$N; do
    table=${t%%:*} n=${t#*:}
    if ! out=$(mem_probe "$table" 2>&1); then
        say "  !! memory probe on $table failed:"; sed 's/^/     /' <<<"$out"; mem_ok=0; continue
    fi
    before=$(awk '$1 == "before" { print $2 }' <<<"$out")
    after=$(awk '$1 == "after" { print $2 }' <<<"$out")
    result=$(grep '^result|' <<<"$out")
    if [[ -z $before || -z $after || $result != "result|$((n * (n + 1) / 2))|$n" ]]; then
        say "  !! memory probe on $table gave unexpected output:"; sed 's/^/     /' <<<"$out"; mem_ok=0; continue
    fi
    HWM[$table]=$after
    say "  $table ($n messages): VmHWM $before kB before the query, $after kB after"
done
if ((mem_ok)); then
    q=$(ratio "${HWM[bench_events]}" "${HWM[bench_small_events]}")
    say "  ratio N / (N/10): ${q}x (target <= 1.10x)"
    summary_line "peak RSS, N vs N/10" "${HWM[bench_events]} kB" "${HWM[bench_small_events]} kB" "${q}x" "<= 1.10x"
else
    summary_line "peak RSS, N vs N/10" "FAILED" "FAILED" "-" "<= 1.10x"
fi

# ------------------------------------------------------------------ summary
section "summary (N=$N, best of $RUNS, rates in messages/s, ratio = ours / reference)"
summary_line "comparison" "ours" "reference" "ratio" "target" "vs tuned"
printf '%s\n' "${SUMMARY[-1]}"
unset 'SUMMARY[-1]'
printf '%s\n' "${SUMMARY[@]}"
say ""
say "('vs tuned' = ours / the reference with kcat's fetch.wait.max.ms=10; information only)"
say_server_log ERROR FATAL PANIC
say_runtime
