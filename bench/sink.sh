#!/usr/bin/env bash
# Sink benchmark: a sink (kafka.create_sink) applying N messages of a topic
# into a table, from its creation until every row is in the table, against
# what users run by hand today: the same INSERT ... SELECT ... LIMIT batch
# through the same group foreign table, repeated in one psql session (one
# transaction per batch) until the topic is drained.  In the same run.  See
# "Sink benchmark" in bench/README.md.
#
#   bash bench/sink.sh [N]        N = messages in the topic (default 1000000)
#
# Starts its own Kafka broker (bench/tmp/sink/kafka) and PostgreSQL cluster
# (bench/tmp/sink/pg), stops both on exit.  Environment knobs:
#   BENCH_RUNS   timed runs per side, the best one counts (default 3)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 1000)) || die "N must be an integer >= 1000, got '$N'"
BATCH=10000
BATCHES=$(((N + BATCH - 1) / BATCH))

bench_init sink
DATA=$TMP/data.txt
on_exit_stop "$DATA"

section "set-up (N=$N, batches of $BATCH, best of $RUNS runs)"
say_machine
say_extension
start_services

"${PSQL[@]}" >/dev/null <<SQL || die "creating the server, topic or tables failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
CREATE USER MAPPING FOR CURRENT_USER SERVER kafka;
SELECT kafka.create_topic('kafka', 'bench', 3);
CREATE FOREIGN TABLE feed (
  id int, name text, amount numeric OPTIONS (json 'price')
) SERVER kafka OPTIONS (topic 'bench', format 'json', group 'bench_sink');
CREATE UNLOGGED TABLE t (id int, name text, amount numeric);
SQL

section "seeding"
generate_data "$N"
average_payload
produce bench <"$DATA"
rm -f "$DATA"
say "produced $N messages (average payload $avg bytes)"
check_topic bench "$N" 20 1

BY_HAND=$TMP/by_hand.sql
for ((i = 0; i < BATCHES; i++)); do echo "INSERT INTO t SELECT id, name, amount FROM feed LIMIT $BATCH;"; done >"$BY_HAND"

prep() {
    "${PSQL[@]}" -At >/dev/null <<SQL
TRUNCATE t;
SELECT count(*) FROM kafka.reset_group('kafka', 'bench_sink', 'bench', 'earliest');
CHECKPOINT;
SQL
}
verify() {
    local got
    got=$("${PSQL[@]}" -At -c "SELECT count(*) || '|' || count(DISTINCT id) || '|' || (SELECT sum(lag) FROM kafka.group_lag('kafka', 'bench_sink')) FROM t")
    [[ $got == "$N|$N|0" ]] || { say "     count|distinct|lag = $got, expected $N|$N|0"; return 1; }
}
run_by_hand() { psql -X -q -v ON_ERROR_STOP=1 -f "$BY_HAND"; }
run_sink() {
    "${PSQL[@]}" -At <<SQL
SELECT kafka.create_sink('bench_sink', 'feed', 't', '{"batch_size": $BATCH}') \\g /dev/null
DO \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  WHILE (SELECT count(*) FROM t) < $N AND clock_timestamp() - t0 < interval '600 s' LOOP
    PERFORM pg_sleep(0.01);
  END LOOP;
END \$\$;
SQL
    "${PSQL[@]}" -c "SELECT kafka.drop_sink('bench_sink')" >/dev/null
}

section "by hand ($BATCHES x INSERT ... SELECT ... LIMIT $BATCH) vs a sink, interleaved"
declare -A BEST
for r in $(seq 1 "$RUNS"); do
    for kind in by_hand sink; do
        prep || die "preparation failed"
        t0=$(date +%s%N)
        "run_$kind" >"$TMP/$kind.out" 2>"$TMP/cmd.err" || { say "  !! $kind failed"; sed 's/^/     /' "$TMP/cmd.err" | tail -5; continue; }
        t1=$(date +%s%N)
        el=$(((t1 - t0) / 1000000))
        verify || { say "  !! $kind: wrong result"; continue; }
        say "  run $r $kind: $el ms ($(rate "$N" "$el") rows/s)"
        [[ -z ${BEST[$kind]:-} || $el -lt ${BEST[$kind]} ]] && BEST[$kind]=$el
    done
done

if [[ -n ${BEST[by_hand]:-} && -n ${BEST[sink]:-} ]]; then
    q=$(ratio "${BEST[by_hand]}" "${BEST[sink]}")
    say "  sink $(rate "$N" "${BEST[sink]}") rows/s vs by hand $(rate "$N" "${BEST[by_hand]}") rows/s: ${q}x"
    summary_line "sink rows/s vs the same INSERT ... SELECT by hand" "$(rate "$N" "${BEST[sink]}")/s" \
        "$(rate "$N" "${BEST[by_hand]}")/s" "${q}x" "-"
fi
section "summary"
print_summary_table
say_server_log ERROR FATAL PANIC
say_load
say_runtime
