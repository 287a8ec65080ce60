# Shared pieces of the benchmark scripts (bench/*.sh), sourced by each of
# them right after `set -uo pipefail`:
#   source "$(dirname "$0")/lib.sh"
# Defines functions and RUNS only; nothing runs until a script calls
# bench_init, after checking its own arguments, except that with PG_MAJOR=17
# or 18 the calling script is run again inside that major's root (below).

RUNS=${BENCH_RUNS:-3}   # timed runs per command, the best one counts

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

# bench_init SUBDIR: checks BENCH_RUNS; sets ROOT, TMP (bench/tmp/SUBDIR, or
# bench/tmp with no SUBDIR) and creates it; points the broker and the cluster
# at TMP/kafka and TMP/pg; puts pg_config's bindir first on PATH; finds kcat
# (KCAT); starts the clock (T_START).
# PG_MAJOR=17|18: the same benchmark inside that major's Debian root
# (test/pg_root.sh exec: the tree built there, with its librdkafka and kcat).
if [[ -n ${PG_MAJOR:-} && $PG_MAJOR != 15 && -z ${KAFKA_FDW_IN_ROOT:-} ]]; then
    exec bash "$(dirname "${BASH_SOURCE[0]}")/../test/pg_root.sh" exec "$PG_MAJOR" bash "bench/$(basename "$0")" "$@"
fi

bench_init() {
    [[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1)) || die "BENCH_RUNS must be >= 1"
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    TMP=$ROOT/bench/tmp${1:+/$1}
    mkdir -p "$TMP"
    export KAFKA_STATE_DIR=$TMP/kafka PG_STATE_DIR=$TMP/pg
    export PATH="$(pg_config --bindir):$PATH"
    KCAT=$(command -v kcat) || die "kcat not found"
    T_START=$(date +%s)
}

# stop_services [wipe]: stops the cluster and the broker (for the EXIT trap);
# with "wipe", removes the broker's data once it has stopped (the next start
# wipes it anyway, but it can be large)
stop_services() {
    bash "$ROOT/test/pg_cluster.sh" stop >/dev/null 2>&1 || true
    if [[ ${1:-} == wipe ]]; then
        bash "$ROOT/test/kafka_broker.sh" stop >/dev/null 2>&1 &&
            rm -rf "$KAFKA_STATE_DIR/data"
    else
        bash "$ROOT/test/kafka_broker.sh" stop >/dev/null 2>&1 || true
    fi
}

# on_exit_stop [wipe] [FILE...]: at exit (also after an error or Ctrl-C),
# stop_services [wipe] and remove the FILEs
on_exit_stop() {
    EXIT_WIPE=
    if [[ ${1:-} == wipe ]]; then EXIT_WIPE=wipe; shift; fi
    EXIT_FILES=("$@")
    trap 'stop_services $EXIT_WIPE; rm -f "${EXIT_FILES[@]}"' EXIT
    trap 'exit 130' INT TERM
}

# set-up lines: the machine, the installed extension, kcat's version
say_machine() {
    say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    # ratios against a reference move between hosts (session 16): name the CPU
    say "cpu: $(awk -F': ' '/^model name/ {m=$2} /^cache size/ {c=$2} END {printf "%s, cache %s", m, c}' /proc/cpuinfo), clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo '?')"
}
say_extension() {
    so=$(pg_config --pkglibdir)/kafka_fdw.so
    say "extension: $so ($(stat -c '%y' "$so" 2>/dev/null | cut -d. -f1)), repo HEAD $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
}
say_kcat() {
    say "kcat: $("$KCAT" -V 2>&1 | grep -m1 -i 'version' | sed 's/^ *//')"
}

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
PSQL_TAG=(psql -X -v ON_ERROR_STOP=1 -At)   # not quiet: prints the command tag

# start_services: starts the broker (its address in B) and the cluster
# (exports PGHOST, PGPORT, PGUSER, PGDATABASE), then CREATE EXTENSION kafka_fdw
start_services() {
    # The broker's heap as Kafka's own kafka-server-start.sh sets it (the
    # test suite's default is smaller; a heap that grows while measured
    # costs the broker page faults).
    export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
    B=$(bash "$ROOT/test/kafka_broker.sh" start | tail -1) || die "the Kafka broker did not start"
    [[ $B == *:* ]] || die "unexpected broker address '$B'"
    say "broker at $B (heap $KAFKA_HEAP_OPTS)"

    # the cluster preloads kafka_fdw: retry in case an install is in progress
    for try in 1 2 3 4; do
        if out=$(bash "$ROOT/test/pg_cluster.sh" start 2>&1); then break; fi
        ((try < 4)) || { say "$out"; die "the PostgreSQL cluster did not start"; }
        say "cluster start failed (try $try), retrying in 20 s"; sleep 20
    done
    eval "$(grep -E '^PG(HOST|PORT)=' <<<"$out")"
    export PGHOST PGPORT PGUSER=postgres PGDATABASE=postgres
    say "cluster at $PGHOST port $PGPORT"

    for try in 1 2 3 4 5; do
        if out=$("${PSQL[@]}" -c 'CREATE EXTENSION kafka_fdw' 2>&1); then break; fi
        ((try < 5)) || die "CREATE EXTENSION kafka_fdw failed: $out"
        say "CREATE EXTENSION failed (try $try: $out), retrying in 20 s"; sleep 20
    done
}

# ------------------------------------------------------------------ seeding
# generate_data COUNT: "key:payload" lines into $DATA, the key is the id (so
# librdkafka's default partitioner, consistent_random: crc32 of the key,
# spreads them over the partitions).  The payloads are 101-113 bytes (111 for
# 6-digit ids) and contain no backslash, tab or newline, so COPY's text format
# reads each one verbatim.  The average payload size goes into $avg.
generate_data() {
    awk -v n="$1" 'BEGIN {
        for (i = 1; i <= n; i++)
            printf("%d:{\"id\":%d,\"name\":\"user-%d\",\"price\":%.2f,\"ts_text\":\"2026-11-30T%02d:%02d:%02dZ\",\"tags\":[\"a\",\"b\"],\"active\":true}\n",
                   i, i, i, (i % 10000) / 100, int(i / 3600) % 24, int(i / 60) % 60, i % 60)
    }' >"$DATA" || die "generating $DATA failed"
}
average_payload() { # of the lines in $DATA, into $avg
    avg=$(awk -F: '{ s += length($0) - length($1) - 1 } END { printf "%.1f", s / NR }' "$DATA")
}

produce() { # produce TOPIC < lines
    "$KCAT" -P -b "$B" -t "$1" -K: -X linger.ms=20 -X batch.num.messages=10000 \
        -X queue.buffering.max.messages=500000 2>"$TMP/produce.err"
    local rc=$?
    if ((rc != 0)) || grep -q . "$TMP/produce.err"; then
        cat "$TMP/produce.err" >&2
        die "kcat -P to $1 failed (exit $rc)"
    fi
}

say_partitions() { # say_partitions TOPIC COUNT: the count and each partition's watermarks
    say "topic $1: $2 messages, per partition (partition:low-high) $("${PSQL[@]}" -At \
        -c "SELECT string_agg(partition || ':' || low || '-' || high, ' ' ORDER BY partition) FROM kafka.partitions('kafka', '$1')")"
}

# check_topic TOPIC EXPECTED TRIES PAUSE: waits (TRIES times PAUSE seconds at
# most) until the topic holds EXPECTED messages according to the extension
# (the watermarks), dies if it does not
check_topic() {
    local got
    for _ in $(seq 1 "$3"); do
        got=$("${PSQL[@]}" -At -c "SELECT sum(high - low) FROM kafka.partitions('kafka', '$1')") ||
            die "kafka.partitions('kafka', '$1') failed"
        [[ $got == "$2" ]] && break
        sleep "$4"
    done
    [[ $got == "$2" ]] || die "topic $1 holds $got messages, expected $2"
    say_partitions "$1" "$got"
}

# topic_high TOPIC: messages ever written to TOPIC, the sum of its high watermarks
topic_high() {
    "${PSQL[@]}" -At -c "SELECT coalesce(sum(high), 0) FROM kafka.partitions('kafka', '$1')"
}
# check_grew TOPIC BEFORE EXPECTED_INCREASE (high watermarks): waits up to 10 s
check_grew() {
    local got
    for _ in $(seq 1 20); do
        got=$(topic_high "$1") || got='?'
        [[ $got =~ ^[0-9]+$ ]] && (( got - $2 == $3 )) && return 0
        sleep 0.5
    done
    say "  !! topic $1 grew by $((${got//\?/0} - $2)) messages (now $got), expected $3"
    return 1
}

# ------------------------------------------------------------------ timing
# timed NAME EXPECTED CMD...: run CMD once, wall clock in ms into $ELAPSED;
# its stdout must equal EXPECTED (unless EXPECTED is "-").  On an error or a
# wrong result prints the command, its output and the time, returns 1.
timed() {
    local name=$1 expected=$2 t0 t1 rc
    shift 2
    t0=$(date +%s%N)
    OUT=$("$@" 2>"$TMP/cmd.err")
    rc=$?
    t1=$(date +%s%N)
    ELAPSED=$(((t1 - t0) / 1000000))
    ((ELAPSED > 0)) || ELAPSED=1
    if ((rc != 0)) || [[ $expected != - && $OUT != "$expected" ]]; then
        say "  !! $name FAILED after $ELAPSED ms (exit $rc)"
        say "     output:   ${OUT:-<none>}"
        [[ $expected != - ]] && say "     expected: $expected"
        sed 's/^/     stderr:   /' "$TMP/cmd.err"
        return 1
    fi
}

rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.0f", n * 1000 / ms }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ok_mark() { awk -v q="$1" -v t="$2" 'BEGIN { print (q + 0 >= t + 0) ? "ok" : "MISSED" }'; }

# ------------------------------------------------------------------ summary
# Markdown summary table (bench/produce.sh, bench/kafka_copy.sh)
SUMMARY=()
summary_line() { # what, ours, reference, ratio, target
    SUMMARY+=("$(printf '| %s | %s | %s | %s | %s |' "$@")")
}
print_summary_table() {
    say "| comparison | ours | reference | ratio | target |"
    say "|---|---|---|---|---|"
    printf '%s\n' "${SUMMARY[@]}"
}

# report LABEL_OURS LABEL_REF WHAT TARGET: ratio line + summary row, from the
# best times (ms) in BEST[label]
report() {
    local o=$1 ref=$2 what=$3 target=$4 q ro rr
    if [[ -z ${BEST[$o]:-} || -z ${BEST[$ref]:-} ]]; then
        say "  $what: FAILED"
        summary_line "$what" "${BEST[$o]:+$(rate "$N" "${BEST[$o]}") msg/s}${BEST[$o]:-FAILED}" \
            "${BEST[$ref]:+$(rate "$N" "${BEST[$ref]}") msg/s}${BEST[$ref]:-FAILED}" "-" "$target"
        return
    fi
    ro=$(rate "$N" "${BEST[$o]}"); rr=$(rate "$N" "${BEST[$ref]}")
    q=$(ratio "${BEST[$ref]}" "${BEST[$o]}")
    local mark=''
    [[ $target == '>= '* ]] && mark=" $(ok_mark "$q" "${target#>= }")"
    say "  $what: ${q}x (target $target)$mark"
    summary_line "$what" "$ro msg/s" "$rr msg/s" "${q}x" "$target$mark"
}

say_load() { say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"; }

# say_server_log LEVEL...: how many lines of the server log have one of these
# levels (or tell of a backend killed by a signal), and the first 5 of them
say_server_log() {
    local log=$PG_STATE_DIR/server.log levels
    levels=$(IFS='|'; echo "$*")
    if [[ -f $log ]]; then
        nerr=$(grep -cE " ($levels): |terminated by signal" "$log")
        say "server log ($log): $nerr ${levels//|//}/signal lines"
        grep -E " ($levels): |terminated by signal" "$log" | head -5 | sed 's/^/    /'
    fi
}

say_runtime() { say "total runtime: $(($(date +%s) - T_START)) s"; }
