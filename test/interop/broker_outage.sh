#!/usr/bin/env bash
# Interop: a broker that hangs (SIGSTOP) in the middle of a bulk INSERT.
#
#   KAFKA_BROKERS=host:port KAFKA_STATE_DIR=<that broker's state dir> \
#   PGHOST=... PGPORT=... PGUSER=... bash test/interop/broker_outage.sh
#
# With kafka_fdw.timeout = 5000:
#   - INSERT ... FROM generate_series(1, 200000) runs in the background; the
#     broker is paused (test/kafka_broker.sh pause) ~0.5 s after the INSERT
#     started: the INSERT must end with an ERROR (not "INSERT 0 200000")
#     within the timeout + 30 s;
#   - the broker is resumed: the server is still up (no crash restart), the
#     same session and a new session each INSERT 10 rows;
#   - with the broker paused, pg_cancel_backend ends a waiting INSERT within
#     2 s, and a kafka.send() COMMIT fails with an ERROR within the timeout
#     + 30 s (its messages cannot be delivered).
# The broker is always resumed at exit.  Prints "ok - ..." / "not ok - ..."
# lines and "N passed, N failed"; exits non-zero on a failure.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

require_env
export PATH="$(pg_config --bindir 2>/dev/null || echo /usr/bin):$PATH"
export PGDATABASE=${PGDATABASE:-postgres}
BROKER=(bash "$ROOT/test/kafka_broker.sh")
B=$KAFKA_BROKERS
TAG=interop_outage_$$
SERVER=$TAG TOPIC=$TAG TABLE=${TAG}_t
TIMEOUT_MS=5000
MARGIN_S=30
WORK=$(mktemp -d "${TMPDIR:-/tmp}/broker_outage.XXXXXX")
chmod 755 "$WORK"
BG_PIDS=()

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)
now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }

resume_broker() {
    [[ $("${BROKER[@]}" status 2>/dev/null) == paused ]] && "${BROKER[@]}" resume >/dev/null 2>&1
    return 0
}
cleanup() {
    resume_broker
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    "${PSQL[@]}" >/dev/null 2>&1 <<SQL
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE '$TAG%';
SELECT kafka.delete_topic('$SERVER', '$TOPIC');
DROP SERVER IF EXISTS $SERVER CASCADE;
SQL
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $("${BROKER[@]}" status 2>/dev/null) == running ]] ||
    bail "the broker of $KAFKA_STATE_DIR is running (status: $("${BROKER[@]}" status 2>&1))"

# ------------------------------------------------------------------ set-up
if ! out=$("${PSQL[@]}" 2>&1 <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER $SERVER FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
SELECT kafka.create_topic('$SERVER', '$TOPIC', 3);
CREATE FOREIGN TABLE $TABLE (v text) SERVER $SERVER OPTIONS (topic '$TOPIC', format 'text');
INSERT INTO $TABLE VALUES ('warm-up');
SQL
); then
    bail "set-up (server, 3-partition topic, text foreign table, one warm-up row): $out"
fi
ok "set-up: server, topic $TOPIC, foreign table $TABLE, a warm-up row produced"
START_TIME=$("${PSQL[@]}" -c 'SELECT pg_postmaster_start_time()')

# backend pid of the session with this application_name, once it runs a query
# containing PATTERN ("" if none within 10 s)
wait_active() { # wait_active APPNAME PATTERN
    local pid deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        pid=$("${PSQL[@]}" -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1'
                                 AND state = 'active' AND query LIKE '%$2%'" 2>/dev/null)
        [[ -n $pid ]] && { echo "$pid"; return 0; }
        sleep 0.05
    done
    return 1
}
broker_answers() {
    timeout 10 kcat -L -b "$B" -t "$TOPIC" -m 3 >/dev/null 2>&1
}

# ------------------------------------------------------------------ 1. outage during INSERT
# One psql session runs a script: the big INSERT (errors do not stop it),
# the time it ended, then it waits for $WORK/go (the broker is back) and
# inserts 10 rows in the same session.  ~200-byte messages; every 10,000th
# row sleeps 0.1 s (pg_sleep()::text is ''), so the INSERT takes at least 2 s
# on any machine and is still producing when the broker stops.
cat >"$WORK/session.sql" <<SQL
SET kafka_fdw.timeout = $TIMEOUT_MS;
\\set VERBOSITY verbose
\\set QUIET off
INSERT INTO $TABLE SELECT 'big-' || i || '-' || repeat('x', 200)
       || CASE WHEN i % 10000 = 0 THEN pg_sleep(0.1)::text ELSE '' END FROM generate_series(1, 200000) i;
\\! date +%s%N >$WORK/insert_end
\\! while [ ! -e $WORK/go ]; do sleep 0.1; done
INSERT INTO $TABLE SELECT 'same-session-' || i FROM generate_series(1, 10) i;
SQL
t_start=$(now_ms)
PGAPPNAME=${TAG}_bulk psql -X -At -f "$WORK/session.sql" >"$WORK/session.out" 2>&1 &
BG_PIDS+=($!)
SESSION_PID=$!
n_failed=''
if bpid=$(wait_active "${TAG}_bulk" "generate_series(1, 200000)"); then
    sleep 0.5
    "${BROKER[@]}" pause || bail "test/kafka_broker.sh pause"
    t_pause=$(now_ms)
    diag "broker paused $((t_pause - t_start)) ms after psql started (backend $bpid)"
    # the INSERT must still be running, else the test proves nothing
    if [[ -e $WORK/insert_end ]]; then
        not_ok "the INSERT was still running when the broker was paused (it had already ended: make it bigger)"
    else
        ok "the INSERT of 200000 rows was still running when the broker was paused"
    fi
    deadline=$((t_pause + TIMEOUT_MS + MARGIN_S * 1000))
    while [[ ! -e $WORK/insert_end ]] && (($(now_ms) < deadline)); do sleep 0.1; done
    if [[ -e $WORK/insert_end ]]; then
        t_end=$(($(cat "$WORK/insert_end") / 1000000))
        ok "the INSERT ended $(secs $((t_end - t_pause))) s after the pause (limit: timeout $(secs $TIMEOUT_MS) s + $MARGIN_S s)"
        first=$(grep -m1 -E '^(INSERT|psql:.*ERROR)' "$WORK/session.out")
        if grep -q 'INSERT 0 200000' "$WORK/session.out"; then
            not_ok "the INSERT ended with an ERROR, not 'INSERT 0 200000' (got: $first)"
        elif grep -qE 'ERROR:' "$WORK/session.out"; then
            err=$(grep -m1 'ERROR:' "$WORK/session.out" | sed 's/^psql:[^:]*:[0-9]*: //')
            ok "the INSERT ended with an ERROR: $err"
            grep -E '^(DETAIL|HINT|CONTEXT):' "$WORK/session.out" | head -3 | sed 's/^/#   /'
            # information only: docs/operations.md documents 08006 for timed-out brokers
            [[ $err == *' 08006: '* ]] || diag "note: SQLSTATE is not 08006 (docs/operations.md: 08006 = unreachable or timed-out brokers)"
            # "K of 200000 messages were not delivered": K, to compare with the topic later
            n_failed=$(sed -n 's/.*ERROR: *[0-9A-Z]*: \([0-9]*\) of 200000 messages.*/\1/p' <<<"$err")
        else
            not_ok "the INSERT ended with an ERROR (output: $(head -c 300 "$WORK/session.out"))"
        fi
    else
        not_ok "the INSERT ended within $(secs $((TIMEOUT_MS + MARGIN_S * 1000))) s of the pause (still running)"
        "${PSQL[@]}" -c "SELECT pg_cancel_backend($bpid)" >/dev/null 2>&1
    fi
else
    not_ok "the INSERT started (not seen in pg_stat_activity within 10 s): $(head -c 300 "$WORK/session.out")"
fi

# ------------------------------------------------------------------ 2. after the outage
"${BROKER[@]}" resume || bail "test/kafka_broker.sh resume"
t_resume=$(now_ms)
deadline=$((SECONDS + 60))
until broker_answers || ((SECONDS >= deadline)); do sleep 0.5; done
broker_answers; check $? "the broker answers again after resume ($(secs $(($(now_ms) - t_resume))) s)"

now_start=$("${PSQL[@]}" -c 'SELECT pg_postmaster_start_time()' 2>&1)
[[ $now_start == "$START_TIME" ]]
check $? "the server is still up, no crash restart (postmaster start time $now_start)"

# a new session: 10 rows.  Right after a SIGCONT the broker may briefly lack
# partition leaders (its controller fenced it), so retry for up to 60 s.
tries=0 deadline=$((SECONDS + 60))
while :; do
    tries=$((tries + 1))
    out=$("${PSQL[@]}" -v VERBOSITY=verbose -c "SET kafka_fdw.timeout = $TIMEOUT_MS" \
        -c "INSERT INTO $TABLE SELECT 'new-session-' || i FROM generate_series(1, 10) i" 2>&1) && break
    ((SECONDS < deadline)) || break
    diag "new-session INSERT, try $tries: $out"
    sleep 2
done
[[ -z $out ]]; check $? "a new session inserts 10 rows after the outage (try $tries)${out:+: $out}"

# the waiting session goes on: its 10 rows (the same backend, its cached producer)
touch "$WORK/go"
wait "$SESSION_PID"
if grep -qx 'INSERT 0 10' "$WORK/session.out"; then
    ok "the same session (the one whose INSERT failed) inserts 10 rows after the outage"
else
    not_ok "the same session inserts 10 rows after the outage: $(tail -n 3 "$WORK/session.out" | tr '\n' ' ')"
fi

if out=$("${PSQL[@]}" -c "SELECT count(*) FILTER (WHERE v LIKE 'new-session-%'),
                                  count(*) FILTER (WHERE v LIKE 'same-session-%'),
                                  count(*) FILTER (WHERE v LIKE 'big-%') FROM $TABLE" 2>&1); then
    IFS='|' read -r n_new n_same n_big <<<"$out"
    [[ $n_new == 10 && $n_same == 10 ]]
    check $? "the topic holds the 10 + 10 rows of the two sessions ($n_new, $n_same)"
    diag "$n_big of the failed INSERT's 200000 messages reached the topic (acknowledged before the pause, or in flight and appended after the resume)"
    if [[ -n ${n_failed:-} && $n_big =~ ^[0-9]+$ ]] && ((n_big + n_failed > 200000)); then
        diag "note: the ERROR said $n_failed were not delivered, so at least $((n_big + n_failed - 200000)) messages reported as failed are in the topic"
    fi
else
    not_ok "reading the topic back: $out"
fi

# ------------------------------------------------------------------ 3. cancel while paused
"${BROKER[@]}" pause || bail "test/kafka_broker.sh pause"
diag "broker paused again"
# a timeout far beyond the test, so only the cancel can end the INSERT
PGAPPNAME=${TAG}_cancel psql -X -At -v VERBOSITY=verbose -c 'SET kafka_fdw.timeout = 600000' \
    -c "INSERT INTO $TABLE SELECT 'cancel-' || i FROM generate_series(1, 1000) i" >"$WORK/cancel.out" 2>&1 &
CANCEL_PID=$!
BG_PIDS+=("$CANCEL_PID")
if bpid=$(wait_active "${TAG}_cancel" "cancel-"); then
    sleep 1.5   # let it get stuck waiting on the broker
    if kill -0 "$CANCEL_PID" 2>/dev/null; then
        t0=$(now_ms)
        "${PSQL[@]}" -c "SELECT pg_cancel_backend($bpid)" >/dev/null
        while kill -0 "$CANCEL_PID" 2>/dev/null && (($(now_ms) - t0 < 30000)); do sleep 0.02; done
        el=$(($(now_ms) - t0))
        if kill -0 "$CANCEL_PID" 2>/dev/null; then
            not_ok "pg_cancel_backend ends an INSERT waiting on the paused broker (still running after 30 s)"
        else
            ((el < 2000)); check $? "pg_cancel_backend ends an INSERT waiting on the paused broker within 2 s ($el ms)"
            grep -q '57014' "$WORK/cancel.out"
            check $? "with 'canceling statement due to user request' (57014): $(grep -m1 'ERROR' "$WORK/cancel.out")"
        fi
    else
        not_ok "the INSERT was waiting on the paused broker when cancelled (it had ended: $(tr '\n' ' ' <"$WORK/cancel.out"))"
    fi
else
    not_ok "the INSERT to be cancelled started: $(tr '\n' ' ' <"$WORK/cancel.out")"
fi

# a kafka.send() transaction cannot be delivered: its COMMIT fails
t0=$(now_ms)
timeout $((TIMEOUT_MS / 1000 + MARGIN_S + 30)) psql -X -At -v VERBOSITY=verbose >"$WORK/send.out" 2>&1 <<SQL
SET kafka_fdw.timeout = $TIMEOUT_MS;
BEGIN;
SELECT kafka.send('$SERVER', '$TOPIC', 'send-' || i) FROM generate_series(1, 10) i \\g /dev/null
COMMIT;
SQL
el=$(($(now_ms) - t0))
if grep -q 'ERROR' "$WORK/send.out"; then
    ((el < TIMEOUT_MS + MARGIN_S * 1000))
    check $? "a kafka.send() COMMIT with the broker paused fails with an ERROR within $(secs $((TIMEOUT_MS + MARGIN_S * 1000))) s ($(secs "$el") s): $(grep -m1 'ERROR' "$WORK/send.out")"
else
    not_ok "a kafka.send() COMMIT with the broker paused fails with an ERROR (after $(secs "$el") s: $(tr '\n' ' ' <"$WORK/send.out"))"
fi

"${BROKER[@]}" resume || bail "test/kafka_broker.sh resume"
deadline=$((SECONDS + 60))
until broker_answers || ((SECONDS >= deadline)); do sleep 0.5; done
out=$("${PSQL[@]}" -c 'SELECT pg_postmaster_start_time()' 2>&1)
[[ $out == "$START_TIME" ]]; check $? "the server is still up after the cancel and the failed COMMIT"
n_send=$("${PSQL[@]}" -c "SELECT count(*) FROM $TABLE WHERE v LIKE 'send-%'" 2>&1)
diag "messages of the failed kafka.send() COMMIT in the topic after the resume: $n_send"

finish
