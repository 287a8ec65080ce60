#!/usr/bin/env bash
# CDC benchmark: N row changes (narrow rows, transactions of 10k) written
# into the WAL while the pipeline is paused, then delivered by the pipeline
# worker (from its start to the last acknowledgement), against decoding the
# same WAL with pgoutput only (pg_logical_slot_peek_binary_changes), in
# CDC_ROUNDS rounds of the same shape after CDC_WARMUP warm-up rounds; the
# worker's best round counts against the reference's best run.  Then the
# initial snapshot against COPY TO, the latency from commit to the broker's
# append (LogAppendTime topic, commit time from the commit_ts header) at
# 5,000 changes/s, and the worker's peak RSS while it delivers one
# transaction of N rows.  See "CDC benchmark" in bench/README.md.
#
#   bash bench/cdc.sh [N]        N = row changes (default 1000000)
#
# Starts its own Kafka broker (bench/tmp/cdc/kafka) and PostgreSQL cluster
# (bench/tmp/cdc/pg), stops both on exit.  Environment knobs:
#   BENCH_RUNS        timed runs of the decode-only reference per round (default 3)
#   CDC_ROUNDS        timed rounds (default 3)
#   CDC_RATE_SECONDS  length of the latency run (default 10)
#   CDC_WARMUP        warm-up rounds of N inserts, not timed (default 2)
#   CDC_FORMAT        the pipeline's event format: row (default) or debezium
#   CDC_OPTIONS       more pipeline options (JSON members, e.g. '"exactly_once": false';
#                     the default pipeline is exactly-once; bench/cdc_eos.sh compares both)
#   CDC_PERF          a file: record a system-wide perf profile of the last round
#   CDC_PERF_ARGS     perf record options (default "-g -F 999")
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 10000)) || die "N must be an integer >= 10000, got '$N'"
TXN=10000
WARMUP=${CDC_WARMUP:-2}
ROUNDS=${CDC_ROUNDS:-3}
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1)) || die "CDC_ROUNDS must be an integer >= 1, got '$ROUNDS'"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "CDC_WARMUP must be an integer >= 0, got '$WARMUP'"
SECONDS_RATE=${CDC_RATE_SECONDS:-10}
FORMAT=${CDC_FORMAT:-row}
[[ $FORMAT == row || $FORMAT == debezium ]] || die "CDC_FORMAT must be row or debezium, got '$FORMAT'"

bench_init cdc
on_exit_stop wipe

section "set-up (N=$N row changes in transactions of $TXN, format $FORMAT)"
say_machine
say_extension
start_services

"${PSQL[@]}" >/dev/null <<SQL || die "set-up failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
CREATE TABLE warm (id int PRIMARY KEY, v int, name text);
CREATE TABLE rate (id bigserial PRIMARY KEY, v int);
CREATE TABLE big (id int PRIMARY KEY, v int, name text);
CREATE PUBLICATION bench_pub FOR TABLE warm, rate, big;
SELECT kafka.create_topic('kafka', 'bench.public.warm', 3);
SELECT kafka.create_topic('kafka', 'bench.public.big', 3);
SELECT kafka.create_topic('kafka', 'bench.public.rate', 3, -1, '{"message.timestamp.type": "LogAppendTime"}');
-- Polls every 10 ms inside the server (a psql process per poll would take
-- CPU from the worker) until the pipeline confirmed lsn; returns the ms from
-- the call to the start of a worker other than old_pid, and from that start
-- to the confirmation, and that worker's pid.
CREATE FUNCTION bench_wait(lsn pg_lsn, old_pid int, OUT start_ms int, OUT run_ms int, OUT pid int) AS \$\$
DECLARE t0 timestamptz := clock_timestamp(); tw timestamptz; p int; done bool;
BEGIN
  LOOP
    SELECT coalesce(worker_pid, 0), coalesce(confirmed_lsn >= lsn, false) INTO p, done
      FROM kafka.pipeline_status WHERE name = 'bench';
    IF tw IS NULL AND p > 0 AND p <> old_pid THEN tw := clock_timestamp(); pid := p; END IF;
    EXIT WHEN done OR clock_timestamp() - t0 > interval '600 s';
    PERFORM pg_sleep(0.01);
  END LOOP;
  tw := coalesce(tw, t0);
  start_ms := extract(epoch FROM tw - t0) * 1000;
  run_ms := extract(epoch FROM clock_timestamp() - tw) * 1000;
  pid := coalesce(pid, 0);
END \$\$ LANGUAGE plpgsql;
SELECT kafka.create_pipeline('bench', 'kafka', 'bench_pub', '{"format": "$FORMAT"${CDC_OPTIONS:+, $CDC_OPTIONS}}');
SQL
for ((r = 1; r <= ROUNDS; r++)); do
    "${PSQL[@]}" >/dev/null <<SQL || die "set-up failed"
CREATE TABLE narrow_$r (id int PRIMARY KEY, v int, name text);
ALTER PUBLICATION bench_pub ADD TABLE narrow_$r;
SELECT kafka.create_topic('kafka', 'bench.public.narrow_$r', 3);
CREATE FOREIGN TABLE topic_narrow_$r (v text) SERVER kafka OPTIONS (topic 'bench.public.narrow_$r', format 'text');
SQL
done

# Rounds.  Each round has the same shape: pause the pipeline, write N changes
# into the WAL, resume, time the worker from its start to the last
# acknowledgement.  Warm-up rounds (table warm) do just that; timed rounds
# (tables narrow_1..) also time the decode-only reference on the round's own
# WAL (best of $RUNS) before the resume.  The warm-up has the timed rounds'
# shape because a resume starts a new worker, i.e. a new producer
# connection, and a broker whose JVM had not seen that yet deoptimised and
# recompiled its request path during the timed run (session 17: its C2
# compiler thread used ~25% of all CPU during a run that followed warm-ups
# without a pause).  Both sides count their best: the worker's best round
# against the reference's best run.
cpu_ms() { awk '{ print ($14 + $15) * 10 }' "$1" 2>/dev/null || echo 0; }  # utime+stime, 100 Hz ticks
jit_ms() {   # CPU of the broker JVM's JIT compiler threads
    local t s=0 c
    for t in /proc/"$1"/task/*; do
        c=$(cat "$t/comm" 2>/dev/null) || continue
        [[ $c == C1\ Compiler* || $c == C2\ Compiler* ]] && s=$((s + $(cpu_ms "$t/stat")))
    done
    echo "$s"
}
jvm=$(cat "$KAFKA_STATE_DIR/pid" 2>/dev/null)

# A worker restarts decoding at its slot's restart_lsn, which PostgreSQL moves
# only past a running-transactions record (logged at checkpoints and every
# 15 s): log one, let the worker confirm past it, so the next round decodes
# its own workload only (as the reference does), not the previous one again.
settle() {
    "${PSQL[@]}" -c "CHECKPOINT" -c "INSERT INTO warm VALUES (-$1, 0, 'after the checkpoint')" >/dev/null || die "checkpoint failed"
    local lsn
    lsn=$("${PSQL[@]}" -At -c "SELECT pg_current_wal_lsn()")
    "${PSQL[@]}" -At -c "SELECT bench_wait('$lsn', 0)" >/dev/null || die "waiting for the worker failed"
}

pause() {
    "${PSQL[@]}" -c "SELECT kafka.pause_pipeline('bench')" >/dev/null || die "pause failed"
    local st
    for _ in $(seq 1 100); do
        st=$("${PSQL[@]}" -At -c "SELECT state FROM kafka.pipeline_status WHERE name = 'bench'")
        [[ $st == paused ]] && return
        sleep 0.1
    done
    die "the pipeline did not pause (state $st)"
}

workload() {   # table, first id
    "${PSQL[@]}" <<SQL || die "workload failed"
DO \$\$
BEGIN
  FOR i IN 0..($N / $TXN) - 1 LOOP
    INSERT INTO $1 SELECT g, g % 1000, 'name-' || g
      FROM generate_series($2 + i * $TXN, $2 + (i + 1) * $TXN - 1) g;
    COMMIT;
  END LOOP;
END
\$\$;
SQL
}

# Resume and wait until the worker confirmed $1; sets WORKER_MS, WORKER_PID
# and the CPU figures of the run.
deliver() {
    local paused_pid row start_ms jvm0 jit0 jvm1 jit1
    paused_pid=$("${PSQL[@]}" -At -c "SELECT coalesce(worker_pid, 0) FROM kafka.pipeline_status WHERE name = 'bench'")
    jvm0=$(cpu_ms "/proc/$jvm/stat"); jit0=$(jit_ms "$jvm")
    row=$("${PSQL[@]}" -At <<SQL
SELECT kafka.resume_pipeline('bench') \\g /dev/null
SELECT start_ms, run_ms, pid FROM bench_wait('$1', $paused_pid);
SQL
) || die "waiting for the worker failed"
    IFS='|' read -r start_ms WORKER_MS WORKER_PID <<<"$row"
    jvm1=$(cpu_ms "/proc/$jvm/stat"); jit1=$(jit_ms "$jvm")
    CPU_NOTE="worker $(cpu_ms "/proc/$WORKER_PID/stat") ms (main thread $(cpu_ms "/proc/$WORKER_PID/task/$WORKER_PID/stat") ms), broker JVM $((jvm1 - jvm0)) ms (of it JIT compiler $((jit1 - jit0)) ms); resume to worker start $start_ms ms"
}

for ((w = 1; w <= WARMUP; w++)); do
    settle "$w"; pause
    workload warm $(((w - 1) * N + 1))
    deliver "$("${PSQL[@]}" -At -c "SELECT pg_current_wal_lsn()")"
    say "warm-up $w: pause, $N inserts into table warm, resume: delivered in $WORKER_MS ms; $CPU_NOTE"
done

best_ref= best_worker= ratios=()
for ((r = 1; r <= ROUNDS; r++)); do
    section "round $r of $ROUNDS: $N inserts into narrow_$r with the pipeline paused, decode-only reference, then the worker"
    settle "$((WARMUP + r))"; pause
    "${PSQL[@]}" -c "SELECT 'ref' FROM pg_create_logical_replication_slot('ref', 'pgoutput')" >/dev/null || die "reference slot failed"
    t0=$(date +%s%N)
    workload "narrow_$r" 1
    t1=$(date +%s%N)
    END_LSN=$("${PSQL[@]}" -At -c "SELECT pg_current_wal_lsn()")
    WAL_MB=$("${PSQL[@]}" -At -c "SELECT round(pg_wal_lsn_diff('$END_LSN', restart_lsn) / 1048576) FROM pg_replication_slots WHERE slot_name = 'ref'")
    say "  workload: $N inserts in $((N / TXN)) transactions in $(((t1 - t0) / 1000000)) ms; $WAL_MB MB of WAL to decode"
    round_ref=
    for k in $(seq 1 "$RUNS"); do
        timed "peek" - "${PSQL[@]}" -At -c "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('ref', '$END_LSN', NULL, 'proto_version', '1', 'publication_names', 'bench_pub')" || continue
        say "  decode only (pg_logical_slot_peek_binary_changes, pgoutput) run $k: $ELAPSED ms ($OUT protocol messages)"
        [[ -z $round_ref || $ELAPSED -lt $round_ref ]] && round_ref=$ELAPSED
    done
    "${PSQL[@]}" -c "SELECT pg_drop_replication_slot('ref')" >/dev/null

    perf_pid=
    if [[ -n ${CDC_PERF:-} && $r == "$ROUNDS" ]]; then    # CDC_PERF=file: system-wide profile of the last round
        perf record -a ${CDC_PERF_ARGS:--g -F 999} -e cpu-clock -o "$CDC_PERF" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 1
    fi
    deliver "$END_LSN"
    [[ -n $perf_pid ]] && { kill -INT "$perf_pid"; wait "$perf_pid"; say "  profile written to $CDC_PERF"; }
    sent=$("${PSQL[@]}" -At -c "SELECT events_sent FROM kafka.pipeline_status WHERE name = 'bench'")
    # (a read_committed count: an exactly-once pipeline's offsets also hold transaction markers)
    high=$("${PSQL[@]}" -At -c "SELECT count(*) FROM topic_narrow_$r")
    hwm1=$(awk '/VmHWM/ {print $2}' /proc/"$WORKER_PID"/status 2>/dev/null)
    say "  worker (pid $WORKER_PID, peak RSS ${hwm1:-?} kB): start to last acknowledgement $WORKER_MS ms (includes connecting to Kafka); events_sent $sent; messages in the topic: $high"
    say "  CPU during the run: $CPU_NOTE"
    if [[ $high != "$N" ]]; then
        say "  !! expected $N messages in the topic: round not counted"
        continue
    fi
    [[ -n $round_ref ]] || continue
    q=$(ratio "$round_ref" "$WORKER_MS"); ratios+=("$q")
    say "  round $r: worker $(rate "$N" "$WORKER_MS") events/s vs decode-only $(rate "$N" "$round_ref") changes/s: ${q}x"
    [[ -z $best_ref || $round_ref -lt $best_ref ]] && best_ref=$round_ref
    [[ -z $best_worker || $WORKER_MS -lt $best_worker ]] && best_worker=$WORKER_MS
done

section "worker events/s vs decode-only: best round against best run"
if [[ -n $best_ref && -n $best_worker ]]; then
    ours=$(rate "$N" "$best_worker"); ref=$(rate "$N" "$best_ref")
    q=$(ratio "$best_ref" "$best_worker")
    med=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    say "  worker ${ours} events/s (best of ${#ratios[@]} rounds) vs decode-only ${ref} changes/s (best of all runs): ${q}x (target >= 0.25) $(ok_mark "$q" 0.25)"
    say "  per-round ratios (each round's worker against that round's best reference run): ${ratios[*]}; median ${med}x"
    summary_line "worker events/s (start to last ack) vs pgoutput decode-only, best vs best" "$ours/s" "$ref/s" "${q}x" ">= 0.25 $(ok_mark "$q" 0.25)"
    summary_line "the same, median of the per-round ratios" "-" "-" "${med}x" "-"
else
    say "  !! no round counted"
    summary_line "worker events/s (start to last ack) vs pgoutput decode-only" "FAILED" "-" "-" ">= 0.25"
fi

section "initial snapshot of the $N rows of table narrow_1 vs COPY narrow_1 TO '/dev/null'"
# A second pipeline with "snapshot": true on a publication of narrow_1 alone:
# from create_pipeline to every snapshot event acknowledged (its worker makes
# its slot, reads the table in the slot's snapshot, produces op r events),
# against Postgres reading the same table out (COPY, best of $RUNS).
best_copy=
for r in $(seq 1 "$RUNS"); do
    timed "copy" - "${PSQL[@]}" -c "COPY narrow_1 TO '/dev/null'" || continue
    [[ -z $best_copy || $ELAPSED -lt $best_copy ]] && best_copy=$ELAPSED
done
"${PSQL[@]}" -c "CREATE PUBLICATION snap_pub FOR TABLE narrow_1" >/dev/null || die "publication failed"
t0=$(date +%s%N)
"${PSQL[@]}" -c "SELECT kafka.create_pipeline('snapbench', 'kafka', 'snap_pub', '{\"snapshot\": true, \"format\": \"$FORMAT\"}')" >/dev/null ||
    die "create_pipeline failed"
snap_state=$("${PSQL[@]}" -At <<'SQL'
DO $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  WHILE (SELECT snapshot FROM kafka.pipelines WHERE name = 'snapbench') <> 'done'
        AND clock_timestamp() - t0 < interval '600 s' LOOP
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
SELECT snapshot FROM kafka.pipelines WHERE name = 'snapbench';
SQL
)
t1=$(date +%s%N)
snap_ms=$(((t1 - t0) / 1000000))
snap_n=$("${PSQL[@]}" -At -c "SELECT sum(high - low) FROM kafka.partitions('kafka', 'snapbench.public.narrow_1')")
"${PSQL[@]}" -c "SELECT kafka.drop_pipeline('snapbench')" >/dev/null
if [[ $snap_state == done && -n $best_copy ]]; then
    q=$(ratio "$best_copy" "$snap_ms")
    say "  snapshot: $snap_n events in $snap_ms ms ($(rate "$N" "$snap_ms") rows/s); COPY TO /dev/null: $best_copy ms ($(rate "$N" "$best_copy") rows/s): ${q}x"
    summary_line "initial snapshot rows/s vs COPY TO /dev/null" "$(rate "$N" "$snap_ms")/s" "$(rate "$N" "$best_copy")/s" "${q}x" "-"
else
    say "  !! the snapshot did not finish (state '$snap_state')"
fi

section "latency from commit to broker append at 5,000 changes/s for $SECONDS_RATE s"
"${PSQL[@]}" <<SQL || die "rate workload failed"
DO \$\$
DECLARE t0 timestamptz := clock_timestamp(); lag interval;
BEGIN
  FOR i IN 1..500 * $SECONDS_RATE LOOP       -- 500 transactions/s of 10 rows
    INSERT INTO rate (v) SELECT g FROM generate_series(1, 10) g;
    COMMIT;
    lag := t0 + i * interval '2 ms' - clock_timestamp();
    IF lag > interval '0' THEN PERFORM pg_sleep(extract(epoch FROM lag)); END IF;
  END LOOP;
END
\$\$;
SQL
want=$((5000 * SECONDS_RATE))
for _ in $(seq 1 600); do
    got=$("${PSQL[@]}" -At -c "SELECT count(*) FROM kafka.consume('kafka', 'bench.public.rate')")
    ((got >= want)) && break
    sleep 0.1
done
lat=$("${PSQL[@]}" -At -F' ' -c "
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l)::numeric, 2),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY l)::numeric, 2),
       round(max(l)::numeric, 2), count(*)
  FROM (SELECT extract(epoch FROM ts - (headers->>'commit_ts')::timestamptz) * 1000 AS l
          FROM kafka.consume('kafka', 'bench.public.rate')) x")
read -r p50 p99 pmax cnt <<<"$lat"
say "  $cnt events: p50 $p50 ms, p99 $p99 ms, max $pmax ms (commit time -> LogAppendTime)"
summary_line "latency commit -> broker append at 5k changes/s" "p50 $p50 ms, p99 $p99 ms" "-" "-" "-"

section "one transaction of $N rows: worker peak RSS"
pid=$("${PSQL[@]}" -At -c "SELECT worker_pid FROM kafka.pipeline_status WHERE name = 'bench'")
base=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status 2>/dev/null)
t0=$(date +%s%N)
"${PSQL[@]}" -c "INSERT INTO big SELECT g, g % 1000, 'name-' || g FROM generate_series(1, $N) g" || die "big insert failed"
END2=$("${PSQL[@]}" -At -c "SELECT pg_current_wal_lsn()")
"${PSQL[@]}" -At -c "SELECT bench_wait('$END2', 0)" >/dev/null || die "waiting for the worker failed"
t1=$(date +%s%N)
hwm=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status 2>/dev/null)
high=$("${PSQL[@]}" -At -c "SELECT sum(high - low) FROM kafka.partitions('kafka', 'bench.public.big')")
spill=$(du -sm "$PG_STATE_DIR/data/pg_replslot" 2>/dev/null | cut -f1)
say "  commit to last ack: $(((t1 - t0) / 1000000)) ms; $high messages; worker RSS before ${base:-?} kB, peak ${hwm:-?} kB"
summary_line "worker peak RSS, one $N-row transaction" "${hwm:-?} kB" "-" "-" "bounded"

section "summary"
print_summary_table
say_server_log ERROR FATAL PANIC
say_load
say_runtime
