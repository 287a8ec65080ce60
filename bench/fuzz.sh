#!/usr/bin/env bash
# Decoder fuzzing (issue 19): every libFuzzer harness of the pure core
# (test/fuzz/fuzz_*.cpp) for at least 1,000,000 inputs, one after the other.
# Prints per harness the inputs run and the result; exits non-zero on any
# crash, sanitizer report or broken invariant (see test/fuzz/fuzz.sh).
#
#   bash bench/fuzz.sh [NAME...]       e.g. bash bench/fuzz.sh json csv
#   FUZZ_RUNS=5000000 bash bench/fuzz.sh
set -uo pipefail
cd "$(dirname "$0")/.."
exec bash test/fuzz/fuzz.sh --runs "${FUZZ_RUNS:-1000000}" "$@"
