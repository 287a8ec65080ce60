#!/usr/bin/env bash
# Interop: consumer groups (group tables) against a real broker, Kafka's own
# tools and kcat.
#
#   KAFKA_BROKERS=host:port KAFKA_STATE_DIR=<broker state dir> \
#   PGHOST=... PGPORT=... PGUSER=... bash test/interop/groups.sh
#
# a. exactly-once: 1,000 transactions in 2 psql sessions read a 3-partition
#    topic that a background kcat loop keeps growing, through a group table,
#    into a local table, randomly committing, rolling back, failing after the
#    read, failing in the middle of the read, rolling back to a savepoint or
#    reading twice; then the rest is drained: every message exactly once
#    (count per partition = high watermark, 0 duplicates, 0 gaps);
# b. concurrency: 4 pgbench sessions with skip_locked 'true' and 4 without
#    drain one group each, at the same time: 0 duplicates, 0 gaps;
# c. Kafka's ConsumerGroupCommand --describe shows the positions after a
#    COMMIT (CURRENT-OFFSET = kafka.group_lag's next_offset), also those a
#    first scan stored without reading (group_start 'latest'), and nothing
#    moves after a ROLLBACK, an ERROR or a rolled-back savepoint;
# d. a group whose offsets were committed by kcat -G or by
#    ConsumerGroupCommand --reset-offsets is continued from there;
# e. kafka.reset_group to earliest / latest / timestamps (checked against
#    kcat -Q) and kafka.set_group_offset;
# f. retention gap (DeleteRecordsCommand): WARNING naming the skipped
#    offsets and continue from the low watermark (also from a position only
#    the broker had); on_gap 'error': ERROR;
# g. partitions added with TopicCommand --alter are read in full (same
#    session and new session; group_start 'earliest' and 'latest');
# h. a deleted topic: a clear ERROR, not a hang.
#
# lines starting "# NOTE" report behaviour the issue does not specify (no
# failure).  GROUPS_SECTIONS=abc... runs only those sections (default all).
#
# Every topic, group and table name carries the pid, so the script can run
# against a shared broker and cluster.  Prints "ok - ..." / "not ok - ..." and
# "N passed, N failed"; exits non-zero on a failure.  Everything it creates
# (server, tables, topics, positions, broker-side groups) is dropped at exit.
# Runtime about 2 minutes on 2 cores.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
# expect WHAT GOT EXPECTED
expect() {
    if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi
}

require_env
export PATH="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin):$PATH"
export PGDATABASE=${PGDATABASE:-postgres}
command -v kcat >/dev/null || bail "kcat is installed"
command -v pgbench >/dev/null || bail "pgbench is installed"
export KAFKA_TOOL_OPTS="${KAFKA_TOOL_OPTS:--Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}"

B=$KAFKA_BROKERS
TAG=interop_grp_$$
SERVER=$TAG
WORK=$(mktemp -d "${TMPDIR:-/tmp}/groups.XXXXXX")
chmod 755 "$WORK"
BG_PIDS=()
TOPICS=()
GROUPS_MADE=()
T_START=$SECONDS

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)
TOOL=(bash "$ROOT/test/kafka_broker.sh" tool)
CGC=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand

cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    touch "$WORK/stop"
    wait 2>/dev/null
    "${PSQL[@]}" >/dev/null 2>&1 <<SQL
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE '$TAG%';
SELECT kafka.delete_topic('$SERVER', topic) FROM kafka.topics('$SERVER') WHERE topic LIKE '${TAG}%';
DELETE FROM kafka.group_offsets WHERE server = '$SERVER';
DROP SERVER IF EXISTS $SERVER CASCADE;
DROP SCHEMA IF EXISTS $TAG CASCADE;
SQL
    if ((${#GROUPS_MADE[@]})); then
        local args=() g
        for g in "${GROUPS_MADE[@]}"; do args+=(--group "$g"); done
        "${TOOL[@]}" "$CGC" --bootstrap-server "$B" --delete "${args[@]}" >/dev/null 2>&1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# q SQL: statements (read from stdin, one result after the other), their
# output; on an error the error text and status 1
q() { printf 'SET search_path = %s, public;\n%s\n' "$TAG" "$1" | "${PSQL[@]}" 2>&1; }
# produce TOPIC PARTITION FIRST LAST: JSON messages {"id":i}, key i
produce() {
    local part=()
    [[ $2 != - ]] && part=(-p "$2")
    seq "$3" "$4" | awk '{ printf "%d:{\"id\":%d}\n", $1, $1 }' |
        kcat -P -b "$B" -t "$1" "${part[@]}" -K: -X linger.ms=5 2>>"$WORK/kcat.err"
}
# positions GROUP TOPIC: "p:next p:next ..." per kafka.group_lag
positions() {
    q "SELECT string_agg(partition || ':' || next_offset, ' ' ORDER BY partition)
         FROM kafka.group_lag('$SERVER', '$1') WHERE topic = '$2'"
}
# highs TOPIC: "p:high ..." per kafka.partitions
highs() {
    q "SELECT string_agg(partition || ':' || high, ' ' ORDER BY partition) FROM kafka.partitions('$SERVER', '$1')"
}
# describe GROUP TOPIC: "p:CURRENT-OFFSET ..." per Kafka's ConsumerGroupCommand
describe() {
    "${TOOL[@]}" "$CGC" --bootstrap-server "$B" --describe --group "$1" >"$WORK/describe.out" 2>&1
    awk -v t="$2" '$2 == t && $3 ~ /^[0-9]+$/ { print $3 ":" $4 }' "$WORK/describe.out" | sort -n | paste -sd' '
}
# describe_until GROUP TOPIC EXPECTED: the broker commit runs after COMMIT
# (and a backend's last one as it exits); give it up to ~10 tries
describe_until() {
    local got i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        got=$(describe "$1" "$2")
        [[ $got == "$3" ]] && break
        sleep 1
    done
    printf '%s' "$got"
}
# wait_total TOPIC N: until the topic's high watermarks sum to N (20 s)
wait_total() {
    local got i
    for i in $(seq 1 40); do
        got=$(q "SELECT sum(high) FROM kafka.partitions('$SERVER', '$1')")
        [[ $got == "$2" ]] && return 0
        sleep 0.5
    done
    diag "$1: high watermarks sum to $got, expected $2"
    return 1
}
new_topic() { # new_topic NAME PARTITIONS
    TOPICS+=("$1")
    q "SELECT kafka.create_topic('$SERVER', '$1', $2)" >/dev/null
}
group() { GROUPS_MADE+=("$1"); }
ms() { echo $(($(date +%s%N) / 1000000)); }

# ------------------------------------------------------------------ set-up
if ! out=$("${PSQL[@]}" 2>&1 <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER $SERVER FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
CREATE SCHEMA $TAG;
SQL
); then
    bail "set-up (extension, server $SERVER, schema $TAG): $out"
fi
ok "set-up: server $SERVER, schema $TAG"

# feed_table NAME TOPIC GROUP [EXTRA OPTIONS]
feed_table() {
    group "$3"
    q "CREATE FOREIGN TABLE $TAG.$1 (
         part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), id int
       ) SERVER $SERVER OPTIONS (topic '$2', format 'json', group '$3'${4:+, $4})" >/dev/null
}

# =================================================================== a.
# exactly-once under commits, rollbacks, errors and savepoints
section_a() {
    local T=${TAG}_eo G=${TAG}_eo_g
    new_topic "$T" 3 || { not_ok "a: create topic $T"; return; }
    feed_table feed_a "$T" "$G"
    q "CREATE TABLE $TAG.sink_a (part int, off bigint, id int)" >/dev/null
    produce "$T" - 1 6000
    wait_total "$T" 6000 || { not_ok "a: seeding 6000 messages"; return; }

    # the producer: 25 messages every 0.1 s until told to stop
    rm -f "$WORK/stop"
    (
        i=6000
        while [[ ! -e $WORK/stop ]]; do
            produce "$T" - $((i + 1)) $((i + 25)) || echo "kcat exit $?" >>"$WORK/prod_a.err"
            i=$((i + 25))
            # written aside, then renamed: a reader never sees it empty
            echo "$i" >"$WORK/prod_a.count.tmp" && mv "$WORK/prod_a.count.tmp" "$WORK/prod_a.count"
            sleep 0.1
        done
    ) &
    local prod=$!
    BG_PIDS+=("$prod")

    # two scripts of 500 transactions each; n = LIMIT 1..20
    local s k n m r
    declare -A kinds=()
    for s in 1 2; do
        for ((k = 0; k < 500; k++)); do
            n=$((RANDOM % 20 + 1)) m=$((RANDOM % 20 + 1)) r=$((RANDOM % 6 + 1))
            kinds[$r]=$((${kinds[$r]:-0} + 1))
            local ins="INSERT INTO sink_a SELECT part, off, id FROM feed_a LIMIT"
            case $r in
                1) echo "BEGIN; $ins $n; COMMIT;" ;;
                2) echo "BEGIN; $ins $n; ROLLBACK;" ;;
                3) echo "BEGIN; $ins $n; SELECT 1/0; COMMIT;" ;;
                4) echo "BEGIN; $ins $n; SAVEPOINT s; $ins $m; ROLLBACK TO s; COMMIT;" ;;
                5) echo "BEGIN; $ins $n; SAVEPOINT s; $ins $m; RELEASE s; $ins $n; COMMIT;" ;;
                # an ERROR in the middle of the scan (at its 3rd row, if it has one)
                6) echo "BEGIN; INSERT INTO sink_a SELECT part, off, CASE WHEN rn = 3 THEN id / (rn - 3)::int ELSE id END FROM (SELECT part, off, id, row_number() OVER () AS rn FROM feed_a LIMIT $n) x; COMMIT;" ;;
            esac
        done >"$WORK/eo_$s.sql"
    done
    diag "a: transactions by kind: commit ${kinds[1]:-0}, rollback ${kinds[2]:-0}, error after the read ${kinds[3]:-0}, rollback to savepoint ${kinds[4]:-0}, three reads with a released savepoint ${kinds[5]:-0}, error mid-scan ${kinds[6]:-0}"

    local t0=$SECONDS pids=()
    for s in 1 2; do
        PGAPPNAME=${TAG}_eo_$s psql -X -q -At -v ON_ERROR_STOP=0 -c "SET search_path = $TAG, public" \
            -f "$WORK/eo_$s.sql" >"$WORK/eo_$s.out" 2>&1 &
        pids+=($!)
    done
    local rc1 rc2
    wait "${pids[0]}"; rc1=$?
    wait "${pids[1]}"; rc2=$?
    local before during
    during=$(cat "$WORK/prod_a.count" 2>/dev/null || echo 6000)
    before=$(q "SELECT count(*) FROM sink_a")
    diag "a: 1000 transactions in $((SECONDS - t0)) s (2 sessions); the sink holds $before rows, the producer is at $during, the group's lag is $(q "SELECT sum(lag) FROM kafka.group_lag('$SERVER', '$G')")"
    [[ $rc1 == 0 && $rc2 == 0 ]]; check $? "a: both psql sessions ran to the end (exit $rc1, $rc2)"

    local unexpected errs warns
    errs=$(cat "$WORK"/eo_?.out | grep -c 'ERROR:  division by zero')
    unexpected=$(cat "$WORK"/eo_?.out | grep -E 'ERROR|FATAL|PANIC' | grep -v 'ERROR:  division by zero')
    warns=$(cat "$WORK"/eo_?.out | grep -E 'WARNING' | sort | uniq -c | head -5)
    [[ -z $unexpected ]]; check $? "a: the only errors are the planned ones ($errs 'division by zero')"
    [[ -n $unexpected ]] && diag "a: unexpected errors:" "$(head -5 <<<"$unexpected")"
    [[ -z $warns ]]; check $? "a: no WARNING in the sessions"
    [[ -n $warns ]] && diag "a: warnings:" "$warns"
    ((errs >= ${kinds[3]:-0})); check $? "a: at least the ${kinds[3]:-0} errors after the read happened ($errs)"

    # drain, stop the producer, drain again
    out=$(q "INSERT INTO sink_a SELECT part, off, id FROM feed_a") || not_ok "a: drain while producing: $out"
    touch "$WORK/stop"
    wait "$prod"
    local produced
    produced=$(cat "$WORK/prod_a.count")
    [[ ! -s $WORK/prod_a.err ]]; check $? "a: the background producer had no kcat failure"
    wait_total "$T" "$produced"; check $? "a: the topic holds the $produced produced messages"
    out=$(q "INSERT INTO sink_a SELECT part, off, id FROM feed_a") || not_ok "a: final drain: $out"

    local per dup gaps total
    per=$(q "SELECT string_agg(p.partition || ':' || coalesce(c.n, 0) || '/' || p.high || '/' || p.low, ' ' ORDER BY p.partition)
               FROM kafka.partitions('$SERVER', '$T') p
               LEFT JOIN (SELECT part, count(*) AS n FROM sink_a GROUP BY part) c ON c.part = p.partition")
    diag "a: per partition (partition:rows/high/low) $per"
    out=$(q "SELECT count(*) FROM kafka.partitions('$SERVER', '$T') p
               LEFT JOIN (SELECT part, count(*) AS n FROM sink_a GROUP BY part) c ON c.part = p.partition
              WHERE coalesce(c.n, 0) <> p.high - p.low")
    expect "a: rows per partition = high watermark (partitions that differ)" "$out" 0
    dup=$(q "SELECT count(*) FROM (SELECT part, off FROM sink_a GROUP BY part, off HAVING count(*) > 1) d")
    expect "a: 0 duplicates (part, off)" "$dup" 0
    [[ $dup != 0 ]] && diag "a: duplicates, e.g. $(q "SELECT string_agg(part || ':' || off || 'x' || n, ' ') FROM (SELECT part, off, count(*) n FROM sink_a GROUP BY part, off HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 10) d")"
    gaps=$(q "SELECT count(*) FROM kafka.partitions('$SERVER', '$T') p, generate_series(p.low, p.high - 1) o
               WHERE NOT EXISTS (SELECT 1 FROM sink_a s WHERE s.part = p.partition AND s.off = o)")
    expect "a: 0 gaps (offsets of the topic missing from the sink)" "$gaps" 0
    [[ $gaps != 0 ]] && diag "a: missing, e.g. $(q "SELECT string_agg(p.partition || ':' || o, ' ') FROM (SELECT p.partition, o FROM kafka.partitions('$SERVER', '$T') p, generate_series(p.low, p.high - 1) o WHERE NOT EXISTS (SELECT 1 FROM sink_a s WHERE s.part = p.partition AND s.off = o) ORDER BY 1, 2 LIMIT 10) p")"
    total=$(q "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || min(id) || ' ' || max(id) FROM sink_a")
    expect "a: ids: count, distinct, min, max" "$total" "$produced $produced 1 $produced"
    out=$(q "SELECT count(*) FILTER (WHERE lag <> 0 OR next_offset <> high_watermark) || '/' || count(*) FROM kafka.group_lag('$SERVER', '$G')")
    expect "a: group_lag: lag 0 and next_offset = high watermark on every partition (bad/all)" "$out" "0/3"
    ((before > 0 && during > 6000)); check $? "a: the 1000 transactions loaded $before messages while the topic grew from 6000 to $during"
}

# =================================================================== b.
# concurrency: 4 sessions with skip_locked, 4 without, at the same time
section_b() {
    local T=${TAG}_cc N=4000 P=4
    new_topic "$T" $P || { not_ok "b: create topic $T"; return; }
    feed_table feed_sl "$T" "${TAG}_cc_sl" "skip_locked 'true'"
    feed_table feed_wait "$T" "${TAG}_cc_wait"
    q "CREATE TABLE $TAG.sink_b (grp text, part int, off bigint, id int, pid int, rnd int);
       CREATE TABLE $TAG.stats_b (grp text, rnd int, pid int, n int)" >/dev/null
    produce "$T" - 1 $N
    wait_total "$T" $N || { not_ok "b: seeding $N messages"; return; }

    local kind
    for kind in sl wait; do
        cat >"$WORK/b_$kind.sql" <<SQL
WITH ins AS (INSERT INTO $TAG.sink_b SELECT '$kind', part, off, id, pg_backend_pid(), :rnd FROM $TAG.feed_$kind LIMIT 40 RETURNING 1)
INSERT INTO $TAG.stats_b SELECT '$kind', :rnd, pg_backend_pid(), count(*) FROM ins;
SQL
    done
    # drain KIND: pgbench -c 4 -t 40, then rounds of -t 10, until the group's lag is 0
    drain() {
        local kind=$1 g=${TAG}_cc_$1 round lag t=40
        for round in $(seq 1 40); do
            PGAPPNAME=${TAG}_b pgbench -n -c 4 -j 2 -t $t -D rnd=$round -f "$WORK/b_$kind.sql" >>"$WORK/b_$kind.log" 2>&1 ||
                echo "round $round: pgbench exit $?" >>"$WORK/b_$kind.err"
            t=10
            lag=$("${PSQL[@]}" -c "SELECT sum(lag) FROM kafka.group_lag('$SERVER', '$g')" 2>&1)
            [[ $lag == 0 ]] && { echo "$round" >"$WORK/b_$kind.rounds"; return 0; }
        done
        echo "lag still $lag after $round rounds" >>"$WORK/b_$kind.err"
    }
    local t0=$SECONDS
    drain sl & local p1=$!
    drain wait & local p2=$!
    BG_PIDS+=("$p1" "$p2")
    wait "$p1" "$p2"
    diag "b: both groups drained in $((SECONDS - t0)) s (pgbench runs: skip_locked $(cat "$WORK/b_sl.rounds" 2>/dev/null || echo '?'), without $(cat "$WORK/b_wait.rounds" 2>/dev/null || echo '?'))"
    for kind in sl wait; do
        local what="skip_locked" ; [[ $kind == wait ]] && what="without skip_locked"
        if [[ -s $WORK/b_$kind.err ]]; then
            not_ok "b: $what: pgbench ran without errors and drained the group: $(head -3 "$WORK/b_$kind.err" | paste -sd' ')"
            grep -E 'ERROR|abort' "$WORK/b_$kind.log" | head -5 | sed 's/^/# /'
        else
            ok "b: $what: 4 pgbench sessions drained the group without errors"
        fi
        local dup gaps per pids
        dup=$(q "SELECT count(*) FROM (SELECT 1 FROM sink_b WHERE grp = '$kind' GROUP BY part, off HAVING count(*) > 1) d")
        gaps=$(q "SELECT count(*) FROM kafka.partitions('$SERVER', '$T') p, generate_series(p.low, p.high - 1) o
                   WHERE NOT EXISTS (SELECT 1 FROM sink_b s WHERE s.grp = '$kind' AND s.part = p.partition AND s.off = o)")
        expect "b: $what: 0 duplicates" "$dup" 0
        expect "b: $what: 0 gaps" "$gaps" 0
        out=$(q "SELECT count(*) || ' ' || count(DISTINCT id) FROM sink_b WHERE grp = '$kind'")
        expect "b: $what: $N rows, $N distinct ids" "$out" "$N $N"
        pids=$(q "SELECT count(DISTINCT pid) FROM sink_b WHERE grp = '$kind' AND rnd = 1")
        diag "b: $what: $(q "SELECT count(*) || ' transactions, ' || count(*) FILTER (WHERE n = 0) || ' read nothing, ' || count(*) FILTER (WHERE n = 40) || ' read 40'  FROM stats_b WHERE grp = '$kind'")"
        diag "b: $what: rows per session in the first pgbench run: $(q "SELECT string_agg(n::text, ' ' ORDER BY n DESC) FROM (SELECT count(*) n FROM sink_b WHERE grp = '$kind' AND rnd = 1 GROUP BY pid) x")"
        ((pids >= 2)); check $? "b: $what: in one pgbench run, more than one of the 4 sessions received messages ($pids)"
        # the broker-side commits of concurrent transactions: the last one wins
        local exp got
        exp=$(positions "${TAG}_cc_$kind" "$T")
        got=$(describe_until "${TAG}_cc_$kind" "$T" "$exp")
        expect "b: $what: ConsumerGroupCommand --describe shows the final positions" "$got" "$exp"
    done
}

# =================================================================== c.
# Kafka's consumer-groups tool sees committed positions, not rolled-back ones
section_c() {
    local T=${TAG}_kt G=${TAG}_kt_g p exp got
    new_topic "$T" 3 || { not_ok "c: create topic $T"; return; }
    for p in 0 1 2; do produce "$T" $p $((p * 100 + 1)) $((p * 100 + 10)); done
    wait_total "$T" 30 || { not_ok "c: seeding"; return; }
    feed_table feed_c "$T" "$G"

    out=$(q "BEGIN; SELECT count(*) FROM feed_c; COMMIT;")
    expect "c: a group scan reads all 30 messages" "$out" 30
    exp=$(positions "$G" "$T")
    expect "c: group_lag after the COMMIT" "$exp" "0:10 1:10 2:10"
    got=$(describe_until "$G" "$T" "$exp")
    expect "c: ConsumerGroupCommand --describe shows CURRENT-OFFSET = group_lag next_offset after the COMMIT" "$got" "$exp"

    # partial reads: partition pushdown and LIMIT
    for p in 0 1 2; do produce "$T" $p $((p * 100 + 11)) $((p * 100 + 20)); done
    wait_total "$T" 60 || not_ok "c: producing 30 more"
    out=$(q "SELECT count(*) FROM feed_c WHERE part = 1")
    expect "c: WHERE part = 1 reads partition 1 only" "$out" 10
    out=$(q "SELECT count(*) FROM (SELECT * FROM feed_c WHERE part = 2 LIMIT 4) x")
    expect "c: WHERE part = 2 LIMIT 4" "$out" 4
    exp=$(positions "$G" "$T")
    expect "c: group_lag after partial reads" "$exp" "0:10 1:20 2:14"
    got=$(describe_until "$G" "$T" "$exp")
    expect "c: --describe after the partial reads" "$got" "$exp"

    # nothing moves: ROLLBACK, an ERROR, a rolled-back savepoint, a rolled-back reset
    out=$(q "BEGIN; SELECT count(*) FROM feed_c; ROLLBACK;")
    expect "c: the rolled-back scan read the 16 new messages" "$out" 16
    "${PSQL[@]}" -v ON_ERROR_STOP=0 -c "SET search_path = $TAG" -c "BEGIN" -c "SELECT count(*) FROM feed_c" \
        -c "SELECT 1/0" -c "COMMIT" >/dev/null 2>&1
    out=$(q "BEGIN; SAVEPOINT s; SELECT count(*) FROM feed_c; ROLLBACK TO s; COMMIT;")
    "${PSQL[@]}" -c "BEGIN" -c "SELECT count(*) FROM kafka.reset_group('$SERVER', '$G', '$T', 'earliest')" -c "ROLLBACK" >/dev/null 2>&1
    got=$(positions "$G" "$T")
    expect "c: group_lag unchanged after ROLLBACK, ERROR, ROLLBACK TO SAVEPOINT, rolled-back reset_group" "$got" "$exp"
    sleep 1
    got=$(describe "$G" "$T")
    expect "c: --describe unchanged after them" "$got" "$exp"

    # the functions commit too
    q "SELECT count(*) FROM kafka.reset_group('$SERVER', '$G', '$T', 'earliest')" >/dev/null
    q "SELECT kafka.set_group_offset('$SERVER', '$G', '$T', 1, 7)" >/dev/null
    got=$(describe_until "$G" "$T" "0:0 1:7 2:0")
    expect "c: --describe after reset_group(earliest) and set_group_offset(1, 7)" "$got" "0:0 1:7 2:0"
    out=$(q "SELECT count(*) FROM feed_c")
    expect "c: the group then reads 20 + 13 + 20 messages" "$out" 53
    got=$(describe_until "$G" "$T" "0:20 1:20 2:20")
    expect "c: --describe at the end" "$got" "0:20 1:20 2:20"

    # a new group_start 'latest' group: its first scan stores positions (the
    # high watermarks) without reading a message; Kafka should see them too
    local GL=${TAG}_kt_late
    feed_table feed_cl "$T" "$GL" "group_start 'latest'"
    out=$(q "BEGIN; SELECT count(*) FROM feed_cl; COMMIT;")
    expect "c: a new group_start 'latest' group reads nothing" "$out" 0
    exp=$(positions "$GL" "$T")
    expect "c: ... and its positions are the high watermarks" "$exp" "0:20 1:20 2:20"
    got=$(describe_until "$GL" "$T" "$exp")
    expect "c: --describe shows the positions a first scan stored without reading a message (group_start 'latest')" "$got" "$exp"
}

# =================================================================== d.
# continue from positions committed by kcat -G and by Java's tool
section_d() {
    local T=${TAG}_jv p got
    new_topic "$T" 3 || { not_ok "d: create topic $T"; return; }
    for p in 0 1 2; do produce "$T" $p $((p * 100 + 1)) $((p * 100 + 10)); done
    wait_total "$T" 30 || { not_ok "d: seeding"; return; }

    # kcat's balanced consumer, auto commit, commits what it read on close
    local GK=${TAG}_jv_kcat
    group "$GK"
    kcat -b "$B" -G "$GK" -o beginning -c 12 -q -f '%p %o\n' "$T" >"$WORK/d_kcat.out" 2>"$WORK/d_kcat.err"
    local nk
    nk=$(wc -l <"$WORK/d_kcat.out")
    expect "d: kcat -G $GK consumed 12 messages" "$nk" 12
    local committed
    committed=$(describe "$GK" "$T")
    diag "d: kcat committed (partition:offset) '$committed'"
    [[ -n $committed ]]; check $? "d: ConsumerGroupCommand shows the offsets kcat committed"
    # expected: per partition, committed offset or 0 (group_start earliest)
    local expected=() c
    for p in 0 1 2; do
        c=$(tr ' ' '\n' <<<"$committed" | awk -F: -v p=$p '$1 == p && $2 ~ /^[0-9]+$/ { print $2 }')
        c=${c:-0}
        ((c < 10)) && expected+=("$p:$c+$((10 - c))")
    done
    feed_table feed_dk "$T" "$GK"
    got=$(q "SELECT string_agg(part || ':' || m || '+' || n, ' ' ORDER BY part) FROM (SELECT part, min(off) m, count(*) n FROM feed_dk GROUP BY part) x")
    expect "d: a group table over kcat's group starts each partition where kcat stopped (partition:first+count; no commit: earliest)" "$got" "${expected[*]}"
    got=$(positions "$GK" "$T")
    expect "d: ... and has read to the end" "$got" "0:10 1:10 2:10"

    # Java's ConsumerGroupCommand --reset-offsets --from-file, partitions 0 and 1 only
    local GJ=${TAG}_jv_java
    group "$GJ"
    printf '%s,0,3\n%s,1,8\n' "$T" "$T" >"$WORK/d_reset.csv"
    "${TOOL[@]}" "$CGC" --bootstrap-server "$B" --reset-offsets --group "$GJ" --from-file "$WORK/d_reset.csv" --execute >"$WORK/d_reset.out" 2>&1
    got=$(describe "$GJ" "$T")
    expect "d: ConsumerGroupCommand --reset-offsets --from-file committed 0:3 1:8" "$got" "0:3 1:8"
    [[ $got != "0:3 1:8" ]] && sed 's/^/# /' "$WORK/d_reset.out" | tail -5
    # partition 2 has no committed offset: group_start 'latest' applies to it
    produce "$T" 2 211 212
    wait_total "$T" 32 || true
    feed_table feed_dj "$T" "$GJ" "group_start 'latest'"
    got=$(q "SELECT string_agg(part || ':' || m || '+' || n, ' ' ORDER BY part) FROM (SELECT part, min(off) m, count(*) n FROM feed_dj GROUP BY part) x")
    expect "d: a group table over Java's group reads 0 from 3, 1 from 8 (partition:first+count), 2 nothing (group_start latest)" "$got" "0:3+7 1:8+2"
    got=$(positions "$GJ" "$T")
    expect "d: ... positions afterwards" "$got" "0:10 1:10 2:12"
}

# =================================================================== e.
# reset_group to earliest / latest / timestamps (vs kcat -Q), set_group_offset
section_e() {
    local T=${TAG}_rs G=${TAG}_rs_g got exp p
    new_topic "$T" 2 || { not_ok "e: create topic $T"; return; }
    # 20 messages per partition, one a minute from 2024-01-01 00:00 UTC
    out=$(q "SELECT count(*) FROM generate_series(0, 1) p, generate_series(0, 19) i,
               kafka.produce('$SERVER', '$T', json_build_object('id', p * 100 + i)::text, NULL::text, p, NULL::jsonb,
                             timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute')")
    expect "e: 40 messages with timestamps produced" "$out" 40
    # move partition 0's low watermark to 3
    printf '{"partitions":[{"topic":"%s","partition":0,"offset":3}],"version":1}\n' "$T" >"$WORK/e_del.json"
    "${TOOL[@]}" org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$B" --offset-json-file "$WORK/e_del.json" >"$WORK/e_del.out" 2>&1
    got=$(q "SELECT string_agg(partition || ':' || low, ' ' ORDER BY partition) FROM kafka.partitions('$SERVER', '$T')")
    expect "e: DeleteRecordsCommand moved partition 0's low watermark to 3" "$got" "0:3 1:0"
    feed_table feed_e "$T" "$G"
    # kcat -Q TS: "p:offset ..."
    kq() {
        kcat -Q -b "$B" -t "$T:0:$1" -t "$T:1:$1" 2>&1 |
            sed -n 's/.*\[\([0-9]*\)\] offset \(-\?[0-9]*\).*/\1:\2/p' | sort -n | paste -sd' '
    }
    reset() {
        q "SELECT string_agg(partition || ':' || next_offset, ' ' ORDER BY partition) FROM kafka.reset_group('$SERVER', '$G', '$T', '$1')"
    }
    exp=$(kq -2)
    got=$(reset earliest)
    expect "e: reset_group 'earliest' = kcat -Q earliest ($exp)" "$got" "$exp"
    got=$(q "SELECT count(*) FROM feed_e")
    expect "e: ... then the group reads 17 + 20 messages" "$got" 37
    exp=$(kq -1)
    got=$(reset latest)
    expect "e: reset_group 'latest' = kcat -Q latest ($exp)" "$got" "$exp"
    got=$(q "SELECT count(*) FROM feed_e")
    expect "e: ... then the group reads nothing" "$got" 0
    local ts
    for ts in '2024-01-01 00:10:00+00' '2024-01-01 00:10:30+00' '2024-01-01 01:10:00+01' '2023-12-31 00:00:00+00'; do
        exp=$(kq "$(q "SELECT (extract(epoch FROM timestamptz '$ts') * 1000)::bigint")")
        got=$(reset "$ts")
        expect "e: reset_group '$ts' = kcat -Q offsets for that time ($exp)" "$got" "$exp"
    done
    got=$(reset '2024-01-01 00:10:30+00')
    out=$(q "SELECT string_agg(part || ':' || m || '+' || n, ' ' ORDER BY part) FROM (SELECT part, min(off) m, count(*) n FROM feed_e GROUP BY part) x")
    expect "e: after reset to 00:10:30 the group reads from offset 11 on (partition:first+count)" "$out" "0:11+9 1:11+9"
    got=$(reset '2100-01-01 00:00:00+00')
    expect "e: reset_group past the last message = the high watermarks" "$got" "0:20 1:20"
    q "SELECT kafka.set_group_offset('$SERVER', '$G', '$T', 1, 15)" >/dev/null
    out=$(q "SELECT string_agg(part || ':' || m || '+' || n, ' ' ORDER BY part) FROM (SELECT part, min(off) m, count(*) n FROM feed_e GROUP BY part) x")
    expect "e: set_group_offset(partition 1, 15): the group reads 15..19 of partition 1" "$out" "1:15+5"
    out=$(q "BEGIN; SELECT kafka.set_group_offset('$SERVER', '$G', '$T', 0, 4); ROLLBACK;
             SELECT string_agg(partition || ':' || next_offset, ' ' ORDER BY partition) FROM kafka.group_lag('$SERVER', '$G')" | tail -1)
    expect "e: a rolled-back set_group_offset changes nothing" "$out" "0:20 1:20"
    out=$(q "SELECT kafka.set_group_offset('$SERVER', '$G', '$T', 0, 1000)" 2>&1 | tail -1)
    if [[ $out == *ERROR* ]]; then
        diag "e: set_group_offset beyond the high watermark (1000 > 20) is refused: $out"
    else
        diag "e: NOTE set_group_offset beyond the high watermark (1000 > 20) is accepted: group_lag then says $(q "SELECT next_offset || ' lag ' || lag FROM kafka.group_lag('$SERVER', '$G') WHERE partition = 0"); offsets 20..999 would be skipped silently (Kafka's --reset-offsets --to-offset clamps to the log end)"
    fi
    out=$(q "SELECT kafka.set_group_offset('$SERVER', '$G', '$T', 2, 0)")
    [[ $out == *ERROR* ]]; check $? "e: set_group_offset on a partition that does not exist is an ERROR (${out//$'\n'/ })"
}

# =================================================================== f.
# retention gap: WARNING and continue; on_gap 'error': ERROR
section_f() {
    local T=${TAG}_gap GW=${TAG}_gap_w GE=${TAG}_gap_e got
    new_topic "$T" 2 || { not_ok "f: create topic $T"; return; }
    produce "$T" 0 1 20
    produce "$T" 1 101 110
    wait_total "$T" 30 || { not_ok "f: seeding"; return; }
    feed_table feed_fw "$T" "$GW"
    feed_table feed_fe "$T" "$GE" "on_gap 'error'"
    got=$(q "SELECT count(*) FROM (SELECT * FROM feed_fw WHERE part = 0 LIMIT 5) x;
             SELECT count(*) FROM (SELECT * FROM feed_fw WHERE part = 1 LIMIT 4) x;
             SELECT count(*) FROM (SELECT * FROM feed_fe WHERE part = 0 LIMIT 3) x" | paste -sd' ')
    expect "f: the groups read 5 of partition 0 and 4 of partition 1 / 3 of partition 0" "$got" "5 4 3"
    expect "f: positions before the deletion" "$(positions "$GW" "$T")" "0:5 1:4"
    # a group whose only position is the broker's committed offset (2 on
    # partition 0): committed by set_group_offset, then forgotten in Postgres
    local GB=${TAG}_gap_b
    group "$GB"
    q "SELECT kafka.set_group_offset('$SERVER', '$GB', '$T', 0, 2)" >/dev/null
    got=$(describe_until "$GB" "$T" "0:2")
    expect "f: the broker holds offset 2 for group $GB" "$got" "0:2"
    q "DELETE FROM kafka.group_offsets WHERE server = '$SERVER' AND group_name = '$GB'" >/dev/null
    printf '{"partitions":[{"topic":"%s","partition":0,"offset":12},{"topic":"%s","partition":1,"offset":10}],"version":1}\n' \
        "$T" "$T" >"$WORK/f_del.json"
    "${TOOL[@]}" org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$B" --offset-json-file "$WORK/f_del.json" >"$WORK/f_del.out" 2>&1
    got=$(q "SELECT string_agg(partition || ':' || low || '-' || high, ' ' ORDER BY partition) FROM kafka.partitions('$SERVER', '$T')")
    expect "f: DeleteRecordsCommand: low watermarks 12 and 10 (partition:low-high)" "$got" "0:12-20 1:10-10"
    got=$(q "SELECT string_agg(partition || ':' || lag, ' ' ORDER BY partition) FROM kafka.group_lag('$SERVER', '$GW')")
    expect "f: group_lag counts only what is left (partition:lag)" "$got" "0:8 1:0"

    # warning: a new session, stderr captured
    "${PSQL[@]}" -c "SET search_path = $TAG" -c "SELECT string_agg(part || ':' || off, ' ' ORDER BY part, off) FROM feed_fw" \
        >"$WORK/f_w.out" 2>"$WORK/f_w.err"
    local rc=$?
    expect "f: the scan after the gap succeeds and returns partition 0 from offset 12" "$rc $(cat "$WORK/f_w.out")" \
        "0 0:12 0:13 0:14 0:15 0:16 0:17 0:18 0:19"
    grep -q 'WARNING: .*skips 7 messages of topic "'"$T"'" partition 0 .*offsets 5 to 11' "$WORK/f_w.err"
    check $? "f: WARNING names the 7 skipped messages of partition 0 (offsets 5 to 11)"
    grep -q 'WARNING: .*skips 6 messages of topic "'"$T"'" partition 1 .*offsets 4 to 9' "$WORK/f_w.err"
    check $? "f: WARNING names the 6 skipped messages of partition 1 (offsets 4 to 9), a partition retention emptied"
    sed 's/^/# stderr: /' "$WORK/f_w.err"
    expect "f: positions after the gap (the emptied partition moves to its low watermark too)" "$(positions "$GW" "$T")" "0:20 1:10"
    out=$(q "SELECT count(*) FROM feed_fw" 2>&1)
    expect "f: no second warning, nothing more to read" "$out" 0

    # the broker's committed offset below the low watermark
    feed_table feed_fb "$T" "$GB"
    "${PSQL[@]}" -c "SET search_path = $TAG" -c "SELECT count(*) FROM feed_fb WHERE part = 0" \
        >"$WORK/f_b.out" 2>"$WORK/f_b.err"
    rc=$?
    expect "f: a new group table over a broker-committed offset below the low watermark reads the 8 messages left" \
        "$rc $(cat "$WORK/f_b.out")" "0 8"
    grep -q 'WARNING: .*skips 10 messages of topic "'"$T"'" partition 0 .*offsets 2 to 11' "$WORK/f_b.err"
    check $? "f: ... with a WARNING naming the 10 skipped messages (offsets 2 to 11)"
    sed 's/^/# stderr: /' "$WORK/f_b.err"

    # on_gap 'error'
    local t0
    out=$(q "SELECT count(*) FROM feed_fe")
    rc=$?
    ((rc != 0)) && [[ $out == *'consumer group "'"$GE"'" lost 9 messages of topic "'"$T"'" partition 0'* ]]
    check $? "f: on_gap 'error': ERROR naming the 9 lost messages of partition 0"
    diag "f: on_gap 'error' gave: ${out//$'\n'/ | }"
    expect "f: on_gap 'error': the position stays (partition 1 was never read: it starts at the low watermark)" \
        "$(q "SELECT string_agg(partition || ':' || next_offset, ' ' ORDER BY partition) FROM kafka.group_offsets WHERE server = '$SERVER' AND group_name = '$GE'")" "0:3"
    q "SELECT count(*) FROM kafka.reset_group('$SERVER', '$GE', '$T', 'earliest')" >/dev/null
    out=$(q "SELECT count(*) FROM feed_fe")
    expect "f: after reset_group 'earliest' the group reads the 8 messages left" "$out" 8
}

# =================================================================== g.
# partitions added to the topic are read in full: in a session that read the
# topic before (cached clients) and in a new one
section_g() {
    local T=${TAG}_np G=${TAG}_np_g GS=${TAG}_np_s GL=${TAG}_np_late got
    new_topic "$T" 2 || { not_ok "g: create topic $T"; return; }
    produce "$T" 0 1 5
    produce "$T" 1 101 105
    wait_total "$T" 10 || { not_ok "g: seeding"; return; }
    feed_table feed_g "$T" "$G"
    feed_table feed_gs "$T" "$GS"
    feed_table feed_gl "$T" "$GL" "group_start 'latest'"
    got=$(q "SELECT count(*) FROM feed_g; SELECT count(*) FROM feed_gl" | paste -sd' ')
    expect "g: the groups read 10 (earliest) and 0 (latest) messages of 2 partitions" "$got" "10 0"
    cat >"$WORK/g_alter.sh" <<EOF
bash "$ROOT/test/kafka_broker.sh" tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --alter --topic "$T" --partitions 4 >"$WORK/g_alter.out" 2>&1
echo \$? >"$WORK/g_alter.rc"
for i in \$(seq 1 40); do
    [[ \$(kcat -L -b "$B" -t "$T" 2>/dev/null | grep -c 'partition [0-9]') == 4 ]] && break
    sleep 0.5
done
seq 201 206 | awk '{ printf "%d:{\"id\":%d}\n", \$1, \$1 }' | kcat -P -b "$B" -t "$T" -p 2 -K:
seq 301 303 | awk '{ printf "%d:{\"id\":%d}\n", \$1, \$1 }' | kcat -P -b "$B" -t "$T" -p 3 -K:
seq 6 7 | awk '{ printf "%d:{\"id\":%d}\n", \$1, \$1 }' | kcat -P -b "$B" -t "$T" -p 0 -K:
EOF
    # one session: read, add partitions and produce (\!), read again
    local sq="SELECT string_agg(part || ':' || m || '+' || n, ' ' ORDER BY part) FROM (SELECT part, min(off) m, count(*) n FROM feed_gs GROUP BY part) x"
    got=$(q "SELECT count(*) FROM feed_gs;
\! bash $WORK/g_alter.sh </dev/null
SELECT count(*) FROM kafka.partitions('$SERVER', '$T');
$sq;" | paste -sd'|')
    expect "g: TopicCommand --alter --partitions 4 succeeded" "$(cat "$WORK/g_alter.rc" 2>/dev/null)" 0
    expect "g: same session: read 10, then after the alter kafka.partitions shows 4, the scan reads the new partitions in full (partition:first+count)" \
        "$got" "10|4|0:5+2 2:0+6 3:0+3"
    wait_total "$T" 21 || not_ok "g: producing into the new partitions"
    got=$(q "SELECT string_agg(part || ':' || m || '+' || n, ' ' ORDER BY part) FROM (SELECT part, min(off) m, count(*) n FROM feed_g GROUP BY part) x")
    expect "g: new session: the scan reads the new partitions in full (partition:first+count)" "$got" "0:5+2 2:0+6 3:0+3"
    expect "g: positions" "$(positions "$G" "$T")" "0:7 1:5 2:6 3:3"
    # group_start 'latest': a group that already read the topic meets new partitions
    got=$(q "SELECT string_agg(part || ':' || m || '+' || n, ' ' ORDER BY part) FROM (SELECT part, min(off) m, count(*) n FROM feed_gl GROUP BY part) x")
    # (issue 7: "a topic that gained partitions is read in full on the new
    # partitions"; starting them at their end loses what was produced into
    # them between the alter and the scan)
    expect "g: group_start 'latest', a group that read the topic before the alter: the new partitions are read in full too (partition:first+count)" \
        "$got" "0:5+2 2:0+6 3:0+3"
}

# =================================================================== h.
# a deleted topic: clear ERROR, not a hang (same session and a new one)
section_h() {
    local T=${TAG}_del G=${TAG}_del_g t0 el rc
    new_topic "$T" 2 || { not_ok "h: create topic $T"; return; }
    produce "$T" - 1 10
    wait_total "$T" 10 || { not_ok "h: seeding"; return; }
    feed_table feed_h "$T" "$G"
    t0=$(ms)
    timeout 120 "${PSQL[@]}" -v ON_ERROR_STOP=0 -c "SET search_path = $TAG" -c "SELECT count(*) FROM feed_h" \
        -c "SELECT kafka.delete_topic('$SERVER', '$T')" -c "SELECT pg_sleep(1)" -c "SELECT count(*) FROM feed_h" \
        >"$WORK/h1.out" 2>&1
    rc=$? el=$(($(ms) - t0))
    diag "h: same session (read, delete, read): exit $rc after $el ms: $(paste -sd'|' "$WORK/h1.out")"
    ((rc != 124)); check $? "h: same session: the scan after the deletion returns (no hang; $el ms in all)"
    grep -qE "ERROR: .*$T" "$WORK/h1.out"; check $? "h: same session: ERROR naming the topic"
    t0=$(ms)
    timeout 120 "${PSQL[@]}" -c "SET search_path = $TAG" -c "SELECT count(*) FROM feed_h" >"$WORK/h2.out" 2>&1
    rc=$? el=$(($(ms) - t0))
    diag "h: new session: exit $rc after $el ms: $(paste -sd'|' "$WORK/h2.out")"
    ((rc != 124 && rc != 0)); check $? "h: new session: the scan fails, no hang ($el ms)"
    grep -qE "ERROR: .*$T" "$WORK/h2.out"; check $? "h: new session: ERROR naming the topic"
    t0=$(ms)
    out=$(timeout 120 "${PSQL[@]}" -c "SELECT * FROM kafka.group_lag('$SERVER', '$G')" 2>&1)
    rc=$? el=$(($(ms) - t0))
    diag "h: kafka.group_lag of the group: exit $rc after $el ms: ${out//$'\n'/|}"
    ((rc != 124)); check $? "h: kafka.group_lag returns (no hang; $el ms)"
    out=$(q "SELECT count(*) FROM kafka.topics('$SERVER') WHERE topic = '$T'")
    expect "h: the topic was not recreated (auto.create.topics.enable) by the scans" "$out" 0
    # information: the topic is created again with the same name; the group's
    # stored positions (5 per partition) are beyond the new partitions' ends
    new_topic "$T" 2 && produce "$T" 0 1 3 && wait_total "$T" 3
    "${PSQL[@]}" -c "SET search_path = $TAG" -c "SELECT count(*) FROM feed_h" >"$WORK/h3.out" 2>&1
    diag "h: NOTE after the topic was created again (positions $(q "SELECT string_agg(partition || ':' || next_offset, ' ' ORDER BY partition) FROM kafka.group_offsets WHERE server = '$SERVER' AND group_name = '$G'"), new high watermarks $(highs "$T")), a group scan gives: $(paste -sd'|' "$WORK/h3.out")"
}

SECTIONS=${GROUPS_SECTIONS:-abcdefgh}
for s in a b c d e f g h; do
    [[ $SECTIONS == *$s* ]] || continue
    t0=$SECONDS
    "section_$s"
    diag "section $s: $((SECONDS - t0)) s"
done
diag "total $((SECONDS - T_START)) s"
finish
