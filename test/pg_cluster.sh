#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests: never the machine's own
# server.  Runs as the `postgres` OS user (initdb refuses root), listens only
# on a Unix socket in its state directory and on a free loopback port, and
# preloads kafka_fdw with wal_level=logical.
#
#   test/pg_cluster.sh start   prints PGHOST and PGPORT lines for eval
#   test/pg_cluster.sh stop
#   test/pg_cluster.sh log     path of the server log
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${PG_STATE_DIR:-$ROOT/test/tmp/pg}
PGBIN=$(pg_config --bindir)
RUNAS=()
if [ "$(id -u)" = 0 ]; then RUNAS=(runuser -u postgres --); fi

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

case "${1:-}" in
start)
  if [ -f "$STATE/data/postmaster.pid" ]; then "$0" stop || true; fi
  rm -rf "$STATE"; mkdir -p "$STATE"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$STATE"; chmod 755 "$STATE"; fi
  port=$(free_port)
  "${RUNAS[@]}" "$PGBIN/initdb" -D "$STATE/data" -A trust -U postgres --no-sync >"$STATE/initdb.log" 2>&1
  cat >>"$STATE/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$STATE'
shared_preload_libraries = 'kafka_fdw'
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
max_worker_processes = 16
fsync = off
log_line_prefix = '%m [%p] '
CONF
  # (descriptors above 2 closed: the server must not keep a caller's lock)
  (for fd in /proc/$BASHPID/fd/*; do n=${fd##*/}; ((n > 2)) && eval "exec $n>&-"; done 2>/dev/null
   "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w start >/dev/null)
  echo "PGHOST=$STATE"
  echo "PGPORT=$port"
  ;;
stop)
  if [ -f "$STATE/data/postmaster.pid" ]; then
    "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$STATE/data" -m fast -w stop >/dev/null || true
  fi
  ;;
log)
  echo "$STATE/server.log"
  ;;
*)
  echo "usage: $0 start|stop|log" >&2; exit 2
  ;;
esac
