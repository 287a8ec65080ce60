#!/usr/bin/env bash
# Consumer group benchmark: reading N messages through a group table in 10
# transactions of N/10 vs a plain scan of the same messages, in the same run.
# See "Consumer group benchmark" in bench/README.md.
#
#   bash bench/groups.sh [N]        N = messages in the topic (default 1000000)
#
# Starts its own Kafka broker (bench/tmp/groups/kafka) and PostgreSQL cluster
# (bench/tmp/groups/pg), stops both on exit.  Environment knobs:
#   BENCH_RUNS   timed runs per command, the best one counts (default 3)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 100)) || die "N must be an integer >= 100, got '$N'"
TXNS=10
CHUNK=$(((N + TXNS - 1) / TXNS))

bench_init groups
DATA=$TMP/data.txt

on_exit_stop "$DATA"

# ------------------------------------------------------------------ set-up
section "set-up (N=$N, $TXNS transactions of $CHUNK, best of $RUNS runs)"
say_machine
say_extension

start_services

# the same columns on both tables; the group table differs only by its group
"${PSQL[@]}" >/dev/null <<SQL || die "creating the server, topic or tables failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
SELECT kafka.create_topic('kafka', 'bench', 3);
CREATE FOREIGN TABLE plain_feed (
  id int, name text, amount numeric OPTIONS (json 'price')
) SERVER kafka OPTIONS (topic 'bench', format 'json');
CREATE FOREIGN TABLE group_feed (
  id int, name text, amount numeric OPTIONS (json 'price')
) SERVER kafka OPTIONS (topic 'bench', format 'json', group 'bench_loader');
CREATE UNLOGGED TABLE unlogged_t (id int, name text, amount numeric);
SQL

# ------------------------------------------------------------------ seeding
# As bench/run.sh: "key:payload" lines, key = id, ~110-byte JSON documents.
section "seeding"
t0=$(date +%s%N)
generate_data "$N"
average_payload
produce bench <"$DATA"
rm -f "$DATA"
t1=$(date +%s%N)
say "produced $N messages (average payload $avg bytes) in $(((t1 - t0) / 1000000)) ms"
check_topic bench "$N" 20 1

section "plans"
for q in "INSERT INTO unlogged_t SELECT id, name, amount FROM group_feed LIMIT $CHUNK" \
         'INSERT INTO unlogged_t SELECT id, name, amount FROM plain_feed'; do
    say "$q:"
    "${PSQL[@]}" -At -c "EXPLAIN $q" | sed 's/^/    /'
done

# ------------------------------------------------------------------ commands
# Each command is one psql process (one connection), timed from outside.
# group:  10 statements = 10 transactions of LIMIT N/10 through the group
#         table; every COMMIT stores the positions in kafka.group_offsets and
#         commits them to the broker's group coordinator (both timed).
# plain:  one INSERT ... SELECT of the whole topic through the plain table.
# group1: information only: the group table in one transaction, no LIMIT.
# Before each run (untimed): TRUNCATE, and the group reset to 'earliest'.
GROUP_SQL=$TMP/group.sql
{
    echo '\timing on'
    for ((i = 0; i < TXNS; i++)); do
        echo "INSERT INTO unlogged_t SELECT id, name, amount FROM group_feed LIMIT $CHUNK;"
    done
} >"$GROUP_SQL"

prep() {
    "${PSQL[@]}" -At >/dev/null <<SQL
TRUNCATE unlogged_t;
SELECT count(*) FROM kafka.reset_group('kafka', 'bench_loader', 'bench', 'earliest');
CHECKPOINT;
SQL
}
run_group() { psql -X -v ON_ERROR_STOP=1 -f "$GROUP_SQL"; }
run_plain() { psql -X -v ON_ERROR_STOP=1 -c 'INSERT INTO unlogged_t SELECT id, name, amount FROM plain_feed'; }
run_group1() { psql -X -v ON_ERROR_STOP=1 -c 'INSERT INTO unlogged_t SELECT id, name, amount FROM group_feed'; }
# kcat: information only, the raw librdkafka read of the same topic (no
# decoding, no Postgres), as bench/run.sh's "tuned reference"
run_kcat() { "$KCAT" -C -b "$B" -t bench -e -q -o beginning -X fetch.wait.max.ms=10 | wc -l; }
# verify KIND: the table holds each id once (count, sum) and, for the group
# commands, the group's lag is 0
verify() {
    local got want="$N|$((N * (N + 1) / 2))"
    if [[ $1 == kcat ]]; then
        [[ $(cat "$TMP/kcat.out") == "$N" ]] || { say "     kcat read $(cat "$TMP/kcat.out") messages, expected $N"; return 1; }
        return 0
    fi
    got=$("${PSQL[@]}" -At -c 'SELECT count(*), sum(id) FROM unlogged_t') || return 1
    [[ $got == "$want" ]] || { say "     unlogged_t: count|sum(id) = $got, expected $want"; return 1; }
    if [[ $1 != plain ]]; then
        got=$("${PSQL[@]}" -At -c "SELECT sum(lag) FROM kafka.group_lag('kafka', 'bench_loader')") || return 1
        [[ $got == 0 ]] || { say "     group lag after the run: $got, expected 0"; return 1; }
    fi
}

declare -A BEST TIMES STMTS
timed() { # timed KIND
    local kind=$1 t0 t1 rc el
    if [[ $kind != kcat ]]; then prep || { say "  !! preparation before $kind failed"; return 1; }; fi
    t0=$(date +%s%N)
    "run_$kind" >"$TMP/$kind.out" 2>"$TMP/cmd.err"
    rc=$?
    t1=$(date +%s%N)
    el=$(((t1 - t0) / 1000000))
    if ((rc != 0)) || ! verify "$kind"; then
        say "  !! $kind FAILED after $el ms (exit $rc)"
        sed 's/^/     stdout: /' "$TMP/$kind.out" | tail -5
        sed 's/^/     stderr: /' "$TMP/cmd.err" | tail -5
        return 1
    fi
    TIMES[$kind]+=" $el"
    if [[ -z ${BEST[$kind]:-} || $el -lt ${BEST[$kind]} ]]; then
        BEST[$kind]=$el
        # per-statement times (psql \timing) of the best group run
        [[ $kind == group ]] && STMTS[group]=$(awk '/^Time:/ { printf "%s%.0f", sep, $2; sep = " " }' "$TMP/group.out")
    fi
}


section "timed runs (order flips every round)"
for ((r = 1; r <= RUNS; r++)); do
    order=(plain group group1 kcat)
    ((r % 2 == 0)) && order=(kcat group1 group plain)
    for kind in "${order[@]}"; do timed "$kind"; done
done
printf '  %-46s runs (ms):%s\n' "plain scan, 1 transaction" "${TIMES[plain]:- -}" \
    "group table, $TXNS x LIMIT $CHUNK" "${TIMES[group]:- -}" "group table, 1 transaction" "${TIMES[group1]:- -}" \
    "kcat -C -e > /dev/null (fetch.wait.max.ms=10)" "${TIMES[kcat]:- -}"
[[ -n ${STMTS[group]:-} ]] && say "  best group run, per statement (ms): ${STMTS[group]}"

# ------------------------------------------------------------------ summary
section "summary (N=$N, best of $RUNS, rates in messages/s)"
printf '%-44s %14s %10s\n' "command" "rate" "best ms"
for kind in plain group group1 kcat; do
    case $kind in
        plain) name="plain scan (INSERT ... SELECT, 1 txn)" ;;
        group) name="group table ($TXNS txns of LIMIT $CHUNK)" ;;
        group1) name="group table (1 txn, no LIMIT; info)" ;;
        kcat) name="kcat read, no decoding (info)" ;;
    esac
    if [[ -n ${BEST[$kind]:-} ]]; then
        printf '%-44s %14s %10s\n' "$name" "$(rate "$N" "${BEST[$kind]}")" "${BEST[$kind]}"
    else
        printf '%-44s %14s %10s\n' "$name" FAILED -
    fi
done
if [[ -n ${BEST[group]:-} && -n ${BEST[plain]:-} ]]; then
    q=$(ratio "${BEST[plain]}" "${BEST[group]}")
    verdict=$(awk -v q="$q" 'BEGIN { print (q >= 0.9) ? "met" : "MISSED" }')
    say ""
    say "ratio group ($TXNS txns) / plain: ${q}x (target >= 0.9x: $verdict)"
    [[ -n ${BEST[group1]:-} ]] && say "ratio group (1 txn) / plain: $(ratio "${BEST[plain]}" "${BEST[group1]}")x (information only)"
fi
say_server_log ERROR FATAL PANIC WARNING
say_load
say_runtime
