# Shared pieces of the interop tests (test/interop/*.sh), sourced by each of
# them right after `set -uo pipefail`:
#   source "$(dirname "$0")/lib.sh"
# TAP-like output: "ok - ..." / "not ok - ..." lines, "# ..." diagnostics and
# a final "N passed, N failed" line; the exit status is non-zero on a failure.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); printf 'ok - %s\n' "$*"; }
not_ok() { FAIL=$((FAIL + 1)); printf 'not ok - %s\n' "$*"; }
check() { if [[ $1 == 0 ]]; then ok "$2"; else not_ok "$2"; fi; }
diag() { printf '# %s\n' "$@"; }
finish() {
    printf '%d passed, %d failed\n' "$PASS" "$FAIL"
    ((FAIL == 0))
    exit
}
bail() { not_ok "$*"; finish; }

# require_env: the broker and the cluster under test are given by the
# environment; exits 2 if one of these variables is not set.  Exports
# KAFKA_STATE_DIR (for test/kafka_broker.sh).
require_env() {
    local v
    for v in KAFKA_BROKERS PGHOST PGPORT PGUSER KAFKA_STATE_DIR; do
        [[ -n ${!v:-} ]] || { echo "$(basename "$0"): $v is not set" >&2; exit 2; }
    done
    export KAFKA_STATE_DIR
}
