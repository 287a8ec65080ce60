#!/usr/bin/env bash
# Runs kafka_fdw's TAP tests (test/t/*.pl) against a running broker, exactly
# as the suite does:
#
#   bash test/tap.sh                      # every test/t/*.pl
#   bash test/tap.sh t/006_cdc_faults.pl  # some of them (t/X.pl, test/t/X.pl or X.pl)
#
# The files are run from a temporary copy of test/t, by prove -v, as the
# postgres OS user when we are root (PostgreSQL refuses to run as root).  The
# tests pause/resume/restart the broker, which belongs to us: a loop serves
# their requests through a FIFO (test/broker_ctl.sh is their end of it) by
# running test/kafka_broker.sh with our KAFKA_STATE_DIR.
#
# Environment:
#   KAFKA_STATE_DIR  the broker's state directory (kafka_broker.sh's default
#                    when unset: test/tmp/kafka)
#   KAFKA_BROKERS    its bootstrap address (default: kafka_broker.sh bootstrap;
#                    without one the tests skip)
#   KAFKA_FDW_CLUSTER_TEST  1: run t/021_eos_cluster.pl (a 3-node cluster of
#                    its own, test/kafka_cluster.sh, with KAFKA_CLUSTER_DIR;
#                    test/run.sh sets it on PostgreSQL 15 only); else it skips
#   TAP_LOG_DIR      where the nodes' logs (tmp_check/log) are kept after a
#                    failure (default test/tmp/tap_logs)
# Writes prove's output to stdout; exits with prove's status (non-zero on any
# failure).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin):$PATH"

# the files to run, as t/NAME.pl
files=()
if (($# == 0)); then
  for f in test/t/*.pl; do [ -e "$f" ] && files+=("t/$(basename "$f")"); done
else
  for a in "$@"; do
    f="t/$(basename "$a")"
    [ -f "test/$f" ] || { echo "tap.sh: no such test: test/$f" >&2; exit 2; }
    files+=("$f")
  done
fi
((${#files[@]} > 0)) || { echo "tap.sh: no TAP test in test/t" >&2; exit 2; }

if [ -z "${KAFKA_BROKERS:-}" ]; then
  KAFKA_BROKERS=$(bash test/kafka_broker.sh bootstrap 2>/dev/null | tail -1) || KAFKA_BROKERS=
fi
[ -n "$KAFKA_BROKERS" ] || echo "tap.sh: no broker address (KAFKA_BROKERS unset, no broker running): the tests will skip" >&2

tapdir=$(mktemp -d /tmp/kafka_fdw_tap.XXXXXX)
cp -r test/t "$tapdir/"
# The upgrade test: the previous releases built (cached) and a private copy
# of PostgreSQL's installation to install them into (test/upgrade/prepare.sh),
# made as the invoking user (whose git and cache they use); without them the
# test skips.
upgrade_dir=
if printf '%s\n' "${files[@]}" | grep -q '_upgrade\.pl$'; then
  upgrade_dir=$tapdir/upgrade
  echo "tap.sh: test/upgrade/prepare.sh $upgrade_dir"
  t0=$SECONDS
  bash test/upgrade/prepare.sh "$upgrade_dir" 2>&1 | sed 's/^/# prepare: /' \
    || echo "# prepare: failed: the upgrade test will skip"
  echo "# prepare: $((SECONDS - t0)) s"
fi
# the docs whose examples the tests run (test/t/011_grants.pl)
mkdir -p "$tapdir/docs" && cp docs/*.md "$tapdir/docs/"
chmod -R a+rwX "$tapdir"
RUNAS=(); [ "$(id -u)" = 0 ] && { chown -R postgres: "$tapdir"; RUNAS=(runuser -u postgres --); }
PGXS_DIR=$(dirname "$(pg_config --pgxs)")/..

# The broker control loop: one request "COMMAND ID [ARG]" per line on the FIFO; the
# answer goes to $ctl.out.ID, the exit status to $ctl.done.ID (written last).
ctl="$tapdir/broker.ctl"; mkfifo "$ctl"; chmod 666 "$ctl"
(
  while read -r cmd id arg <"$ctl"; do
    case "$cmd" in
      pause|resume|restart|restart-slow|status|bootstrap|codecs|console-consume)
        run=(bash test/kafka_broker.sh "$cmd" ${arg:+"$arg"}) ;;
      # the 3-node cluster of test/kafka_cluster.sh: "cluster COMMAND ARGS..."
      cluster)
        read -r -a cargs <<<"$arg"; run=(bash test/kafka_cluster.sh "${cargs[@]}"); : >"$tapdir/cluster.used" ;;
      quit) break ;;
      *) continue ;;
    esac
    "${run[@]}" >"$ctl.out.$id" 2>&1; echo $? >"$ctl.done.tmp.$id"
    chmod 644 "$ctl.out.$id" "$ctl.done.tmp.$id"; mv "$ctl.done.tmp.$id" "$ctl.done.$id"
  done
) &
ctl_pid=$!
cp test/broker_ctl.sh "$tapdir/"; chmod 755 "$tapdir/broker_ctl.sh"

cleanup() {
  # stop the loop (a write to the FIFO blocks if it is gone: bounded)
  if kill -0 "$ctl_pid" 2>/dev/null; then
    timeout 10 bash -c 'echo "quit x" >"$1"' _ "$ctl" 2>/dev/null || kill "$ctl_pid" 2>/dev/null
    wait "$ctl_pid" 2>/dev/null
  fi
  # never leave the broker paused
  bash test/kafka_broker.sh resume >/dev/null 2>&1 || true
  # nor a test's 3-node cluster running
  [ -e "$tapdir/cluster.used" ] && { bash test/kafka_cluster.sh stop >/dev/null 2>&1 || true; }
  rm -rf "$tapdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

(cd "$tapdir" && "${RUNAS[@]}" env PATH="$PATH" KAFKA_BROKERS="$KAFKA_BROKERS" \
    KAFKA_BROKER_SCRIPT="$tapdir/broker_ctl.sh" KAFKA_BROKER_CTL="$ctl" KAFKA_FDW_UPGRADE_DIR="$upgrade_dir" \
    KAFKA_FDW_CLUSTER_TEST="${KAFKA_FDW_CLUSTER_TEST:-}" \
    PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" top_builddir="$PGXS_DIR/.." PG_TEST_PORT_DIR="$tapdir" \
    prove -I "$PGXS_DIR/test/perl" -I t --ext .pl -v "${files[@]}" ) 2>&1
rc=$?

# (the nodes' logs: tmp_check/log up to PostgreSQL 16, log from 17 on)
nodelogs=$tapdir/tmp_check/log; [ -d "$nodelogs" ] || nodelogs=$tapdir/log
if [ "$rc" != 0 ] && [ -d "$nodelogs" ]; then
  logs=${TAP_LOG_DIR:-$ROOT/test/tmp/tap_logs}
  rm -rf "$logs"; mkdir -p "$logs"
  cp -r "$nodelogs/." "$logs/" 2>/dev/null
  echo "tap.sh: the nodes' logs are kept in $logs"
fi
exit "$rc"
