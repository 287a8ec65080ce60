#!/usr/bin/env bash
# Exactly-once vs at-least-once CDC, side by side in one run: two pipelines
# on the same publication, one with the default {"exactly_once": true}
# (transactional producer, Kafka commits every commit_interval_ms, progress
# topic), one with {"exactly_once": false} (idempotent producer).  Each round
# pauses both, writes N row changes (transactions of 1,000 rows) into the
# WAL, then resumes one pipeline after the other and times each from its
# start to the confirmation of the round's end (both decode the same WAL);
# the order alternates between rounds.  Then the latency from commit to the
# broker's append (LogAppendTime topics, commit time from the commit_ts
# header), and to a read_committed consumer's receipt (kcat), at
# CDC_EOS_RATE changes/s (default 20,000: 2,000 transactions/s of
# 10 rows) for CDC_RATE_SECONDS, one pipeline at a time.  See "Exactly-once
# CDC" in bench/README.md.
#
#   bash bench/cdc_eos.sh [N]     N = row changes per round (default 500000)
#
# Knobs: CDC_ROUNDS (default 3), CDC_WARMUP (default 1), CDC_RATE_SECONDS
# (default 10), CDC_EOS_RATE (default 20000), CDC_EOS_OPTIONS (more options of
# the exactly-once pipeline, JSON members, e.g. '"commit_interval_ms": 50'),
# CDC_PERF (a file name: system-wide perf profiles of the last round, one
# per pipeline, FILE.eo and FILE.alo; CDC_PERF_ARGS: perf record options,
# default "-g -F 999").
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-500000}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 10000)) || die "N must be an integer >= 10000, got '$N'"
TXN=1000
ROUNDS=${CDC_ROUNDS:-3}
WARMUP=${CDC_WARMUP:-1}
SECONDS_RATE=${CDC_RATE_SECONDS:-10}
RATE=${CDC_EOS_RATE:-20000}
EXTRA=${CDC_EOS_OPTIONS:-}
[[ -n $EXTRA ]] && EXTRA=", $EXTRA"

bench_init cdc_eos
on_exit_stop wipe

section "set-up (N=$N row changes per round in transactions of $TXN; exactly-once options: {${EXTRA#, }})"
say_machine
say_extension
start_services

"${PSQL[@]}" >/dev/null <<SQL || die "set-up failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
CREATE TABLE rate (id bigserial PRIMARY KEY, v int);
CREATE PUBLICATION bench_pub FOR TABLE rate;
SELECT kafka.create_topic('kafka', p || '.public.rate', 3, -1, '{"message.timestamp.type": "LogAppendTime"}')
  FROM unnest(ARRAY['eo', 'alo']) p;
CREATE FUNCTION bench_wait(pname text, lsn pg_lsn, old_pid int, OUT start_ms float8, OUT run_ms float8, OUT pid int) AS \$\$
DECLARE t0 timestamptz := clock_timestamp(); tw timestamptz; p int; done bool;
BEGIN
  LOOP
    SELECT coalesce(worker_pid, 0), coalesce(confirmed_lsn >= lsn, false) INTO p, done
      FROM kafka.pipeline_status WHERE name = pname;
    IF tw IS NULL AND p > 0 AND p <> old_pid THEN tw := clock_timestamp(); pid := p; END IF;
    EXIT WHEN done OR clock_timestamp() - t0 > interval '600 s';
    PERFORM pg_sleep(0.01);
  END LOOP;
  tw := coalesce(tw, t0);
  start_ms := extract(epoch FROM tw - t0) * 1000;
  run_ms := extract(epoch FROM clock_timestamp() - tw) * 1000;
  pid := coalesce(pid, 0);
END \$\$ LANGUAGE plpgsql;
SELECT kafka.create_pipeline('eo', 'kafka', 'bench_pub', '{"topic_prefix": "eo"$EXTRA}');
SELECT kafka.create_pipeline('alo', 'kafka', 'bench_pub', '{"topic_prefix": "alo", "exactly_once": false}');
SQL

pause() {   # pipeline
    "${PSQL[@]}" -c "SELECT kafka.pause_pipeline('$1')" >/dev/null || die "pause failed"
    local st
    for _ in $(seq 1 100); do
        st=$("${PSQL[@]}" -At -c "SELECT state FROM kafka.pipeline_status WHERE name = '$1'")
        [[ $st == paused ]] && return
        sleep 0.1
    done
    die "pipeline $1 did not pause (state $st)"
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

deliver() {   # pipeline lsn: resume, wait for the confirmation; sets WORKER_MS
    local paused_pid row start_ms pid
    paused_pid=$("${PSQL[@]}" -At -c "SELECT coalesce(worker_pid, 0) FROM kafka.pipeline_status WHERE name = '$1'")
    row=$("${PSQL[@]}" -At <<SQL
SELECT kafka.resume_pipeline('$1') \\g /dev/null
SELECT start_ms, run_ms, pid FROM bench_wait('$1', '$2', $paused_pid);
SQL
) || die "waiting for pipeline $1 failed"
    IFS='|' read -r start_ms WORKER_MS pid <<<"$row"
    WORKER_MS=${WORKER_MS%.*}
}

count_topic() {   # topic: messages a read_committed scan sees
    "${PSQL[@]}" -At -c "SELECT count(*) FROM $1" 2>/dev/null
}

declare -A best ratios_of
eo_ratios=()
for ((r = 0; r <= ROUNDS + WARMUP - 1; r++)); do
    t="narrow_$r"
    "${PSQL[@]}" >/dev/null <<SQL || die "round set-up failed"
CREATE TABLE $t (id int PRIMARY KEY, v int, name text);
ALTER PUBLICATION bench_pub ADD TABLE $t;
SELECT kafka.create_topic('kafka', p || '.public.$t', 3) FROM unnest(ARRAY['eo', 'alo']) p;
CREATE FOREIGN TABLE eo_$t (v text) SERVER kafka OPTIONS (topic 'eo.public.$t', format 'text');
CREATE FOREIGN TABLE alo_$t (v text) SERVER kafka OPTIONS (topic 'alo.public.$t', format 'text');
SQL
    # both confirm the set-up, then pause
    lsn=$("${PSQL[@]}" -At -c "CHECKPOINT" -c "SELECT pg_current_wal_lsn()" | tail -1)
    for p in eo alo; do
        "${PSQL[@]}" -At -c "SELECT kafka.resume_pipeline('$p')" >/dev/null 2>&1
        "${PSQL[@]}" -At -c "SELECT bench_wait('$p', '$lsn', -1)" >/dev/null || die "settle failed"
        pause "$p"
    done
    workload "$t" 1
    END_LSN=$("${PSQL[@]}" -At -c "SELECT pg_current_wal_lsn()")
    if ((r < WARMUP)); then label="warm-up $((r + 1))"; else label="round $((r - WARMUP + 1)) of $ROUNDS"; fi
    if ((r % 2 == 0)); then order="eo alo"; else order="alo eo"; fi
    declare -A ms=()
    for p in $order; do
        perf_pid=
        if [[ -n ${CDC_PERF:-} ]] && ((r == ROUNDS + WARMUP - 1)); then   # system-wide profile of the last round
            perf record -a ${CDC_PERF_ARGS:--g -F 999} -e cpu-clock -o "$CDC_PERF.$p" >/dev/null 2>&1 &
            perf_pid=$!
            sleep 0.3
        fi
        deliver "$p" "$END_LSN"
        [[ -n $perf_pid ]] && { kill -INT "$perf_pid"; wait "$perf_pid"; say "  profile of $p written to $CDC_PERF.$p"; }
        ms[$p]=$WORKER_MS
        n=$(count_topic "${p}_$t")
        say "$label: pipeline $p: $N changes delivered in $WORKER_MS ms ($(rate "$N" "$WORKER_MS") events/s); read_committed count $n"
        [[ $n == "$N" ]] || say "  !! expected $N events in ${p}.public.$t"
    done
    ((r < WARMUP)) && continue
    q=$(ratio "${ms[alo]}" "${ms[eo]}")
    eo_ratios+=("$q")
    say "  $label: exactly-once / at-least-once throughput: ${q}x"
    [[ -z ${best[eo]:-} || ${ms[eo]} -lt ${best[eo]} ]] && best[eo]=${ms[eo]}
    [[ -z ${best[alo]:-} || ${ms[alo]} -lt ${best[alo]} ]] && best[alo]=${ms[alo]}
done

section "throughput: exactly-once vs at-least-once (best round each)"
if [[ -n ${best[eo]:-} && -n ${best[alo]:-} ]]; then
    q=$(ratio "${best[alo]}" "${best[eo]}")
    med=$(printf '%s\n' "${eo_ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    say "  exactly-once $(rate "$N" "${best[eo]}") events/s vs at-least-once $(rate "$N" "${best[alo]}") events/s: ${q}x (target >= 0.85) $(ok_mark "$q" 0.85); per round ${eo_ratios[*]}, median ${med}x"
    summary_line "CDC events/s, exactly-once vs at-least-once (best rounds)" "$(rate "$N" "${best[eo]}")/s" "$(rate "$N" "${best[alo]}")/s" "${q}x" ">= 0.85 $(ok_mark "$q" 0.85)"
    summary_line "the same, median of the per-round ratios" "-" "-" "${med}x" "-"
fi

section "latency from commit to broker append at $RATE changes/s for $SECONDS_RATE s, one pipeline at a time"
for p in eo alo; do
    other=alo; [[ $p == alo ]] && other=eo
    # both caught up first (the other one keeps its backlog out of this run)
    lsn=$("${PSQL[@]}" -At -c "SELECT pg_current_wal_lsn()")
    for q in eo alo; do
        "${PSQL[@]}" -At -c "SELECT kafka.resume_pipeline('$q')" >/dev/null 2>&1
        "${PSQL[@]}" -At -c "SELECT bench_wait('$q', '$lsn', -1)" >/dev/null || die "waiting failed"
    done
    pause "$other"
    # a read_committed consumer, its receive times: an event is visible to
    # it only once its Kafka transaction is committed (exactly-once)
    vis=$TMP/visible_$p.tsv
    : >"$vis"
    setsid bash -c "\"\$0\" -C -b '$B' -t '$p.public.rate' -o end -u -q -X isolation.level=read_committed \
        -f '%h\n' 2>/dev/null | perl -MTime::HiRes=time -ne \
        'BEGIN { \$| = 1 } printf \"%.6f\t%s\n\", time, \$1 if /commit_ts=([^,\n]+)/' >'$vis'" "$KCAT" &
    vis_pid=$!
    sleep 2   # (the consumer at the end of the topic)
    from=$("${PSQL[@]}" -At -c "SELECT clock_timestamp()")
    "${PSQL[@]}" <<SQL || die "rate workload failed"
DO \$\$
DECLARE t0 timestamptz := clock_timestamp(); lag interval; per_s int := $RATE / 10;
BEGIN
  FOR i IN 1..per_s * $SECONDS_RATE LOOP       -- transactions of 10 rows
    INSERT INTO rate (v) SELECT g FROM generate_series(1, 10) g;
    COMMIT;
    lag := t0 + i * (interval '1 s' / per_s) - clock_timestamp();
    IF lag > interval '0' THEN PERFORM pg_sleep(extract(epoch FROM lag)); END IF;
  END LOOP;
END
\$\$;
SQL
    lsn=$("${PSQL[@]}" -At -c "SELECT pg_current_wal_lsn()")
    "${PSQL[@]}" -At -c "SELECT bench_wait('$p', '$lsn', -1)" >/dev/null || die "waiting failed"
    lat=$("${PSQL[@]}" -At -F' ' -c "
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l)::numeric, 2),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY l)::numeric, 2),
       round(max(l)::numeric, 2), count(*)
  FROM (SELECT extract(epoch FROM ts - (headers->>'commit_ts')::timestamptz) * 1000 AS l
          FROM kafka.consume('kafka', '$p.public.rate')
         WHERE (headers->>'commit_ts')::timestamptz >= '$from') x")
    read -r p50 p99 pmax cnt <<<"$lat"
    say "  $p: $cnt events: p50 $p50 ms, p99 $p99 ms, max $pmax ms (commit time -> LogAppendTime)"
    target="-"; [[ $p == eo ]] && target="p99 < 25 ms $(awk -v x="$p99" 'BEGIN { print (x + 0 < 25) ? "ok" : "MISSED" }')"
    summary_line "latency commit -> append at $RATE changes/s, $p" "p50 $p50 ms, p99 $p99 ms" "-" "-" "$target"
    sleep 1
    kill -- -"$vis_pid" 2>/dev/null; wait "$vis_pid" 2>/dev/null
    vlat=$("${PSQL[@]}" -At -F' ' <<SQL
CREATE TEMP TABLE vis (recv float8, commit_ts text);
\copy vis FROM '$vis'
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l)::numeric, 2),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY l)::numeric, 2),
       round(max(l)::numeric, 2), count(*)
  FROM (SELECT (recv - extract(epoch FROM commit_ts::timestamptz)) * 1000 AS l
          FROM vis WHERE commit_ts::timestamptz >= '$from') x;
SQL
)
    read -r v50 v99 vmax vcnt <<<"$vlat"
    say "  $p: $vcnt events: p50 $v50 ms, p99 $v99 ms, max $vmax ms (commit time -> received by a read_committed consumer: kcat)"
    summary_line "latency commit -> read_committed consumer at $RATE changes/s, $p" "p50 $v50 ms, p99 $v99 ms" "-" "-" "-"
done

section "summary"
print_summary_table
say_server_log ERROR FATAL PANIC
say_load
say_runtime
