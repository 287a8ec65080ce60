#!/usr/bin/env bash
# The initial snapshot alone, repeated: where its time goes.
#
#   bash bench/snapshot.sh [N]            (default N = 1000000 rows)
#   PG_MAJOR=18 bash bench/snapshot.sh    (inside that major's Debian root)
#
# A table of N narrow rows (id int PRIMARY KEY, v int, name text, as
# bench/cdc.sh's) is read out by COPY TO '/dev/null' (the reference, best of
# BENCH_RUNS) and then snapshotted BENCH_RUNS times, each by a new pipeline
# with "snapshot": true (its worker makes its slot, reads the table in the
# slot's snapshot, produces op 'r' events, waits for every acknowledgement).
# Per run: wall time from create_pipeline to 'done', and the CPU used in that
# time by the pipeline's worker, by the broker's JVM and by the rest of the
# machine (from /proc), so a slower snapshot can be told apart as the
# worker's own cost per row or time spent waiting for the broker.
#
#   BENCH_RUNS     snapshots (and COPY runs), default 3; the best one counts
#   CDC_FORMAT     row (default) or debezium
#   BENCH_PERF=DIR also `perf record -e cpu-clock -g` the worker from its first
#                  sight to 'done' (where perf is installed) into DIR/perf.RUN.data
#                  (in a root: DIR inside the root, e.g. /tmp)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 1000)) || die "N must be a number >= 1000"
FORMAT=${CDC_FORMAT:-row}
[[ $FORMAT == row || $FORMAT == debezium ]] || die "CDC_FORMAT must be row or debezium, got '$FORMAT'"

bench_init snapshot
on_exit_stop wipe

section "set-up (N=$N rows, format $FORMAT, $RUNS snapshots)"
say_machine
say_extension
start_services
say "librdkafka: $(dpkg-query -W -f '${Version}' librdkafka1 2>/dev/null || echo '?')"

"${PSQL[@]}" >/dev/null <<SQL || die "set-up failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
CREATE TABLE narrow (id int PRIMARY KEY, v int, name text);
INSERT INTO narrow SELECT g, g % 1000, 'name-' || g FROM generate_series(1, $N) g;
VACUUM ANALYZE narrow;
CREATE PUBLICATION snap_pub FOR TABLE narrow;
SQL

ticks_ms() { awk '{ print ($14 + $15) * 10 }' "$1" 2>/dev/null || echo 0; }  # utime+stime, 100 Hz
all_ms() { awk '/^cpu / { print ($2 + $3 + $4 + $7 + $8) * 10 }' /proc/stat; }  # busy time of all cores
broker_pid=$(cat "$KAFKA_STATE_DIR/pid" 2>/dev/null)
[[ -n $broker_pid ]] || say "  (broker pid not found: its CPU is counted as 'rest')"

section "reference: COPY narrow TO '/dev/null' (best of $RUNS)"
best_copy=
for r in $(seq 1 "$RUNS"); do
    timed "copy" - "${PSQL[@]}" -c "COPY narrow TO '/dev/null'" || continue
    say "  run $r: $ELAPSED ms"
    [[ -z $best_copy || $ELAPSED -lt $best_copy ]] && best_copy=$ELAPSED
done
[[ -n $best_copy ]] || die "COPY failed"

section "snapshots (wall from create_pipeline to 'done'; CPU in that time)"
best=
for r in $(seq 1 "$RUNS"); do
    b0=$(ticks_ms /proc/"${broker_pid:-0}"/stat); a0=$(all_ms)
    t0=$(date +%s%N)
    "${PSQL[@]}" -c "SELECT kafka.create_pipeline('snap$r', 'kafka', 'snap_pub', '{\"snapshot\": true, \"format\": \"$FORMAT\"}')" >/dev/null ||
        die "create_pipeline failed"
    # poll inside the server (a psql per poll would take CPU from the worker);
    # the worker's CPU is read when the state turns 'done', before it exits
    pid=; wcpu=0; state=
    while :; do
        read -r state pid < <("${PSQL[@]}" -At -F' ' <<SQL
DO \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  WHILE (SELECT snapshot FROM kafka.pipelines WHERE name = 'snap$r') <> 'done'
        AND clock_timestamp() - t0 < interval '0.5 s' LOOP
    PERFORM pg_sleep(0.005);
  END LOOP;
END \$\$;
SELECT p.snapshot, coalesce(s.worker_pid, 0) FROM kafka.pipelines p
  LEFT JOIN kafka.pipeline_status s USING (name) WHERE p.name = 'snap$r';
SQL
)
        ((pid > 0)) && wcpu=$(ticks_ms /proc/"$pid"/stat)
        if ((pid > 0)) && [[ -n ${BENCH_PERF:-} && -z ${perf_pid:-} ]] && command -v perf >/dev/null; then
            perf record -q -e cpu-clock -g -p "$pid" -o "$BENCH_PERF/perf.$r.data" >/dev/null 2>&1 &
            perf_pid=$!
        fi
        [[ $state == done || $state == failed ]] && break
        (($(date +%s%N) - t0 > 600 * 1000000000)) && break
    done
    t1=$(date +%s%N)
    if [[ -n ${perf_pid:-} ]]; then
        kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null; perf_pid=
        say "  run $r: perf data of the worker in $BENCH_PERF/perf.$r.data"
    fi
    b1=$(ticks_ms /proc/"${broker_pid:-0}"/stat); a1=$(all_ms)
    ms=$(((t1 - t0) / 1000000))
    n=$("${PSQL[@]}" -At -c "SELECT count(*) FROM kafka.consume('kafka', 'snap$r.public.narrow')")
    "${PSQL[@]}" -c "SELECT kafka.drop_pipeline('snap$r')" >/dev/null
    if [[ $state != done || $n != "$N" ]]; then
        say "  !! run $r: state '$state', $n events of $N"
        continue
    fi
    bcpu=$((b1 - b0)); rest=$((a1 - a0 - wcpu - bcpu))
    say "  run $r (worker pid $pid): $ms ms ($(rate "$N" "$ms") rows/s, $(ratio "$best_copy" "$ms")x COPY); CPU: worker $wcpu ms ($(awk -v c="$wcpu" -v n="$N" 'BEGIN { printf "%.2f", c * 1000 / n }') us/row), broker $bcpu ms, rest $rest ms"
    [[ -z $best || $ms -lt $best ]] && best=$ms
done

section "summary"
if [[ -n $best ]]; then
    say "  best snapshot $(rate "$N" "$best") rows/s vs COPY TO /dev/null $(rate "$N" "$best_copy") rows/s: $(ratio "$best_copy" "$best")x"
else
    say "  !! no snapshot finished"
fi
say_load
say_server_log ERROR FATAL PANIC
say_runtime
