#!/usr/bin/env bash
# Builds the libFuzzer harnesses (make -f mk/fuzz.mk fuzz) and runs each one,
# one after the other, from its seed corpus (test/fuzz/corpus/<name>, read
# only) and a work corpus that keeps what it finds (build/fuzz/corpus/<name>).
#
#   bash test/fuzz/fuzz.sh --seconds 30 [NAME...]    each for 30 s (CI)
#   bash test/fuzz/fuzz.sh --runs 1000000 [NAME...]  each for 1,000,000 inputs (bench/fuzz.sh)
#
# Inputs are at most FUZZ_MAX_LEN bytes (default 1024: deeper than the JSON
# reader's nesting limit, and several times faster per input than libFuzzer's
# default of the largest seed; seeds beyond it are cut).
#
# Prints per harness "ok - fuzz_NAME: N inputs in S s" or "not ok - ..."
# (with the sanitizer report and the saved input, build/fuzz/artifacts/),
# then "N passed, N failed"; exits non-zero if any harness failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

limit=(-max_total_time=30)
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in test/fuzz/fuzz_*.cpp; do n=${f#test/fuzz/fuzz_}; names+=("${n%.cpp}"); done
fi

mkdir -p build/fuzz
if ! make -s -j2 -f mk/fuzz.mk fuzz >build/fuzz/build.log 2>&1; then
  tail -30 build/fuzz/build.log | sed 's/^/# /'
  echo "not ok - build of the fuzz harnesses"; echo "0 passed, 1 failed"; exit 1
fi

passed=0; failed=0
mkdir -p build/fuzz/artifacts build/fuzz/logs
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
for n in "${names[@]}"; do
  bin=build/fuzz/fuzz_$n log=build/fuzz/logs/$n.log
  mkdir -p "build/fuzz/corpus/$n"
  start=$(date +%s)
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: 2 GB is a leak
  # or a runaway allocation.  No -jobs/-workers: one process at a time.
  "$bin" "${limit[@]}" -max_len="${FUZZ_MAX_LEN:-1024}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/artifacts/$n-" "build/fuzz/corpus/$n" "test/fuzz/corpus/$n" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" = 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
    echo "ok - fuzz_$n: ${runs:-?} inputs in $secs s"
    passed=$((passed + 1))
  else
    echo "not ok - fuzz_$n: exit $rc after ${runs:-?} inputs in $secs s"
    grep -E 'ERROR|SUMMARY|FUZZ_CHECK|runtime error|^    #[0-9] ' "$log" | head -16 | sed 's/^/# /'
    grep -E 'Test unit written to' "$log" | sed 's/^/# /'
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
