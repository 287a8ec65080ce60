#!/usr/bin/env bash
# The whole test suite, from a fresh machine:
#   installs missing Debian packages, builds with -Werror, installs the
#   extension, runs the core's unit tests (also under ASan+UBSan) and its
#   libFuzzer harnesses (30 s each), starts a real Kafka broker and a
#   throwaway PostgreSQL 15 cluster, runs pg_regress, the TAP tests and the
#   SQL examples of the docs (test/docs/run_docs.sh), fails
#   if the server log shows a backend killed by a signal, and ends with
#   "N passed, N failed".
#
#   PG_MAJOR=17 bash test/run.sh   the same suite against PostgreSQL 17 (or 18),
#                                  inside a Debian root (test/pg_root.sh suite);
#                                  PG_MAJOR unset or 15: the host's PostgreSQL 15
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ -n "${PG_MAJOR:-}" ] && [ "$PG_MAJOR" != 15 ] && [ -z "${KAFKA_FDW_IN_ROOT:-}" ]; then
  exec bash test/pg_root.sh suite "$PG_MAJOR"
fi
export PATH="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin):$PATH"

passed=0; failed=0
note() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

# Scripts that print ok/not ok lines and end with "N passed, N failed".
run_script() {
  local name=$1; shift
  note "$name"
  local log="test/$(basename "${@: -1}" .sh).log"
  "$@" >"$log" 2>&1
  local rc=$?
  grep -E '^(not ok|# )' "$log" | head -40 || true
  local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  echo "${line:-no summary line (exit $rc)}"
  if [ -n "$line" ]; then
    count "$(echo "$line" | cut -d' ' -f1)" "$(echo "$line" | cut -d' ' -f3)"
    [ "$rc" != 0 ] && [ "$(echo "$line" | cut -d' ' -f3)" = 0 ] && { tail -20 "$log"; count 0 1; }
  else
    tail -20 "$log"; count 0 1
  fi
}

note "dependencies"
bash scripts/deps.sh || { echo "could not install dependencies"; echo "0 passed, 1 failed"; exit 1; }
export PATH="$(pg_config --bindir):$PATH"

note "build"
if ! { make -j2 WERROR=1 >test/build.log 2>&1 && make install >>test/build.log 2>&1; }; then
  tail -50 test/build.log; echo "0 passed, 1 failed"; exit 1
fi

cleanup() {
  bash test/pg_cluster.sh stop >/dev/null 2>&1 || true
  bash test/kafka_broker.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The pure core's unit tests (75 s, mostly waits on librdkafka's mock
# cluster) run with the host's PostgreSQL 15 only, as the sanitizers do: the
# core is the same on every major (CI's 45 minutes for three majors).
if [ -z "${KAFKA_FDW_IN_ROOT:-}" ]; then
  note "unit tests (pure C++ core)"
  unit_out=$(make -s unit 2>&1); echo "$unit_out" | tail -15
  line=$(echo "$unit_out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
  if [ -n "$line" ]; then count "$(echo "$line" | cut -d' ' -f1)" "$(echo "$line" | cut -d' ' -f3)"; else count 0 1; fi
else
  note "unit tests: run with the host's PostgreSQL 15 (the pure core is the same on every major)"
fi

# Sanitizer builds of the pure core (mk/fuzz.mk; clang and gcc, no server
# headers).  The ASan+UBSan unit tests mostly wait on librdkafka's mock
# cluster, so they are built (one job) and run in the background while the
# fuzz harnesses run one after the other: two processes, as on two cores.
# The pure core does not depend on the PostgreSQL major: inside the root of
# another major (PG_MAJOR=17/18) they are left to the host's run.
if [ -z "${KAFKA_FDW_IN_ROOT:-}" ]; then
note "sanitizers: unit tests under ASan+UBSan"
make -s -j2 -f mk/fuzz.mk fuzz >test/fuzz-build.log 2>&1  # a failure is reported by test/fuzz/fuzz.sh
make -s -f mk/fuzz.mk unit-asan >test/unit-asan.log 2>&1 &
asan_pid=$!
echo "(building and running in the background)"
# Each harness 20 s from its seed corpus (10 harnesses: CI stays under 45
# minutes for three majors); one ok/not ok per harness.
run_script "fuzz: decoders of the pure core (libFuzzer, ASan+UBSan), 10 s each" bash test/fuzz/fuzz.sh --seconds 10
wait "$asan_pid"; asan_rc=$?
note "unit tests under ASan+UBSan (started before the fuzzing)"
grep -E '^(not ok|    )|ERROR|SUMMARY|runtime error' test/unit-asan.log | head -30
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' test/unit-asan.log | tail -1)
if [ -n "$line" ]; then
  echo "$line"; count "$(echo "$line" | cut -d' ' -f1)" "$(echo "$line" | cut -d' ' -f3)"
  # a leak is reported at exit, after the summary line
  [ "$asan_rc" != 0 ] && [ "$(echo "$line" | cut -d' ' -f3)" = 0 ] && { tail -30 test/unit-asan.log; count 0 1; }
else
  tail -30 test/unit-asan.log; echo "no summary line: a sanitizer report or a build failure"; count 0 1
fi
else
  note "sanitizers and fuzzing: run with the host's PostgreSQL 15 (the pure core is the same on every major)"
fi

# run_lint TITLE SCRIPT: a lint script of test/lint/ over src/; its ok/not ok
# lines and its "N passed, N failed" count (a missing count, or a non-zero
# exit with no failure counted, is one failure)
run_lint() {
  note "$1"
  local out rc line
  out=$(python3 "$2" src 2>&1); rc=$?
  echo "$out" | grep -E '^(not ok|#)' | head -40
  line=$(echo "$out" | tail -1); echo "$line"
  if echo "$line" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then count "$(echo "$line" | cut -d' ' -f1)" "$(echo "$line" | cut -d' ' -f3)"; else count 0 1; fi
  [ "$rc" != 0 ] && [ "$(echo "$line" | cut -d' ' -f3)" = 0 ] && count 0 1
  return 0
}
run_lint "lint: SPI query texts qualify their functions and operators" test/lint/spi_sql.py
run_lint "lint: the rooms of src/ include each other without a cycle; the core never includes the glue" test/lint/rooms.py

# Every ```sql block of README.md and docs/*.md, against a broker and a
# cluster of its own (started and stopped by the script).
run_script "docs: the SQL examples of README.md and docs/" bash test/docs/run_docs.sh

note "kafka broker"
bash test/kafka_broker.sh stop >/dev/null 2>&1 || true  # always a fresh broker: tests create topics
KAFKA_BROKERS=$(bash test/kafka_broker.sh start | tail -1) || { echo "broker did not start"; count 0 1; echo "$passed passed, $failed failed"; exit 1; }
export KAFKA_BROKERS
echo "broker at $KAFKA_BROKERS"

note "postgres cluster"
cluster_env=$(bash test/pg_cluster.sh start) && eval "$cluster_env" && [ -n "${PGPORT:-}" ] \
  || { echo "cluster did not start"; count 0 1; echo "$passed passed, $failed failed"; exit 1; }
export PGHOST PGPORT PGUSER=postgres
echo "cluster at $PGHOST port $PGPORT"

note "pg_regress"
rm -rf results regression.diffs regression.out
make -s installcheck PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres >test/regress.log 2>&1
cat test/regress.log | grep -E '^(ok|not ok|test|     )|tests passed|failed' || true
rp=$(grep -cE '^ok ' test/regress.log || true)
rf=$(grep -cE '^not ok ' test/regress.log || true)
if [ "$rp" = 0 ] && [ "$rf" = 0 ]; then
  # older pg_regress output: "test name ... ok"
  rp=$(grep -cE '\.\.\. ok' test/regress.log || true); rf=$(grep -cE '\.\.\. FAILED' test/regress.log || true)
fi
count "$rp" "$rf"
[ -f regression.diffs ] && head -100 regression.diffs

export KAFKA_STATE_DIR="$ROOT/test/tmp/kafka"
export KAFKA_COPY="$(pg_config --bindir)/kafka_copy"
export KC_BROKER_CTL="bash $ROOT/test/kafka_broker.sh"
# kafka_copy is the pure core and its CLI (no server code): with the host's
# PostgreSQL 15 only (its RangeConsumer runs on every major's librdkafka in
# the scans of pg_regress and TAP)
if [ -z "${KAFKA_FDW_IN_ROOT:-}" ]; then
  run_script "kafka_copy tests" bash test/cli/test_kafka_copy.sh
else
  note "kafka_copy tests: run with the host's PostgreSQL 15 (the pure core and its CLI)"
fi
run_script "interop: murmur2 against Kafka's Java producer" bash test/interop/murmur2_java.sh
run_script "interop: broker outage during INSERT" bash test/interop/broker_outage.sh
run_script "interop: consumer groups" bash test/interop/groups.sh
run_script "interop: Debezium-format CDC events through Kafka Connect's JsonConverter" bash test/interop/debezium_connect.sh
bash test/kafka_broker.sh resume >/dev/null 2>&1 || true

note "TAP tests"
if ls test/t/*.pl >/dev/null 2>&1; then
  # As postgres, with a FIFO proxy for the broker control (test/tap.sh).
  # t/021_eos_cluster.pl (a 3-node Kafka cluster of its own, about 2 min)
  # runs once per CI: with the host's PostgreSQL 15, not in the roots of
  # 17/18 (KAFKA_FDW_CLUSTER_TEST=1 set by hand runs it anywhere).
  if [ -z "${KAFKA_FDW_IN_ROOT:-}" ]; then
    export KAFKA_FDW_CLUSTER_TEST=${KAFKA_FDW_CLUSTER_TEST:-1}
  else
    export KAFKA_FDW_CLUSTER_TEST=${KAFKA_FDW_CLUSTER_TEST:-0}
  fi
  bash test/tap.sh >test/tap.log 2>&1
  bash test/kafka_broker.sh resume >/dev/null 2>&1 || true
  grep -E '^(t/|ok|not ok|#)' test/tap.log | grep -vE '^ok ' | head -80 || true
  tp=$(grep -E '^ok ' test/tap.log | grep -vc '# skip' || true); tf=$(grep -cE '^not ok ' test/tap.log || true)
  if ! grep -q '^Result: PASS' test/tap.log; then
    tail -20 test/tap.log
    [ "$tf" = 0 ] && tf=1
  fi
  count "$tp" "$tf"
fi

note "server log"
log=$(bash test/pg_cluster.sh log)
if grep -E 'terminated by signal|was terminated by exception' "$log"; then
  echo "a backend was killed by a signal"; count 0 1
else
  count 1 0; echo "no backend killed by a signal"
fi
# Resources left behind by a statement are WARNINGs at its end: TupleDesc,
# relcache, catcache, plancache, buffer, snapshot references and the like.
if grep -E 'WARNING: .*(reference leak|refcount leak|still referenced|leaked|was not closed|snapshot .* still active)' "$log"; then
  echo "the server log shows leaked references"; count 0 1
else
  count 1 0; echo "no leaked references or snapshots"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
