#!/usr/bin/env bash
# Runs every ```sql block of README.md and docs/*.md (not docs/session-notes.md),
# so that the docs cannot drift from the code.  See test/docs/README.md.
#
#   bash test/docs/run_docs.sh                 every file
#   bash test/docs/run_docs.sh docs/sinks.md   some of them
#
# Starts its own Kafka broker (test/kafka_broker.sh, state in test/tmp/kafka_docs)
# and its own throwaway PostgreSQL cluster (test/pg_cluster.sh, state in
# test/tmp/pg_docs: kafka_fdw preloaded, wal_level=logical), and stops both at
# the end.  The extension must be installed (make install).  Each file runs in a
# fresh database, its blocks top to bottom, each block in its own psql session;
# afterwards the file's pipelines, sinks, database, roles and topics are
# removed, so the next file starts clean.
#
# Environment:
#   DOCS_KEEP=1    leave the broker and the cluster running at the end
#   DOCS_SHOW=1    print each block's output (indented) after its ok/not ok line
# Prints one ok/not ok line per block and ends with "N passed, N failed";
# exits non-zero on any failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export PATH="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin):$PATH"

passed=0; failed=0; skipped=0; expected=0; ran=0; n=0; skips=()
ok()     { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
diag()   { sed 's/^/#   /'; }
finish() {
  echo "# blocks: $ran ran without error, $expected raised the error they expect, $skipped skipped"
  ((${#skips[@]} == 0)) || printf '%s\n' "${skips[@]}"
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ] && exit 0 || exit 1
}

files=()
if (($# > 0)); then
  files=("$@")
else
  files=(README.md)
  for f in docs/*.md; do [ "$f" = docs/session-notes.md ] || files+=("$f"); done
fi

TMP=$(mktemp -d /tmp/kafka_fdw_docs.XXXXXX)
chmod 755 "$TMP"
export KAFKA_STATE_DIR="$ROOT/test/tmp/kafka_docs"
export PG_STATE_DIR="$ROOT/test/tmp/pg_docs"
cleanup() {
  if [ -z "${DOCS_KEEP:-}" ]; then
    bash test/pg_cluster.sh stop >/dev/null 2>&1 || true
    bash test/kafka_broker.sh stop >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- the broker and the cluster -------------------------------------------
bash test/kafka_broker.sh stop >/dev/null 2>&1 || true
BROKERS=$(bash test/kafka_broker.sh start 2>"$TMP/broker.err" | tail -1)
if [ -z "$BROKERS" ]; then
  not_ok "a Kafka broker starts"; diag <"$TMP/broker.err"; finish
fi
cluster_env=$(bash test/pg_cluster.sh start 2>"$TMP/cluster.err") && eval "$cluster_env" && [ -n "${PGPORT:-}" ] || {
  not_ok "a PostgreSQL cluster starts"; diag <"$TMP/cluster.err"; finish
}
export PGHOST PGPORT PGUSER=postgres

psql_q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

# An administration database: lists and deletes the topics each file made.
psql_q -d postgres -c "CREATE DATABASE docs_admin" >/dev/null &&
  psql_q -d docs_admin >/dev/null <<SQL || { not_ok "set up the administration database"; finish; }
CREATE EXTENSION kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$BROKERS');
CREATE USER MAPPING FOR PUBLIC SERVER kafka;
SQL
topics() { psql_q -d docs_admin -c "SELECT topic FROM kafka.topics('kafka') WHERE topic NOT LIKE '\_\_%'" | LC_ALL=C sort; }
roles()  { psql_q -d postgres -c "SELECT rolname FROM pg_roles" | LC_ALL=C sort; }

# --- one file -------------------------------------------------------------
run_file() {
  local file=$1 dir db
  dir="$TMP/$(basename "$file" .md)"
  db="docs_$(basename "$file" .md | tr -c 'a-zA-Z0-9\n' '_' | tr 'A-Z' 'a-z')"
  local listing
  if ! listing=$(python3 test/docs/extract.py "$file" "$dir" 2>"$TMP/extract.err"); then
    not_ok "$file: its blocks can be read"; diag <"$TMP/extract.err"; return
  fi
  [ -n "$listing" ] || return 0
  topics >"$TMP/topics.before" 2>/dev/null
  roles >"$TMP/roles.before" 2>/dev/null
  psql_q -d postgres -c "CREATE DATABASE $db" >/dev/null || { not_ok "$file: create database $db"; return; }

  local num line kind arg sql out rc codes
  while IFS=$'\t' read -r num line kind arg; do
    local where="$file:$line"
    if [ "$kind" = skip ]; then
      n=$((n + 1)); skipped=$((skipped + 1)); echo "ok $n - $where # skip $arg"
      skips+=("# skipped $where: $arg")
      continue
    fi
    # the placeholders: the broker address and the database's name
    sql="$dir/$num.run.sql"
    { echo '\set VERBOSITY verbose'
      sed -e "s/localhost:9092/$BROKERS/g" -e "s/current_database_placeholder/$db/g" "$dir/$num.sql"
    } >"$sql"
    chmod 644 "$sql"
    if [ "$kind" = run ]; then
      out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$sql" 2>&1 >"$dir/$num.out"); rc=$?
      if [ "$rc" = 0 ] && ! grep -qE '(ERROR|FATAL|PANIC): ' <<<"$out"; then
        ok "$where"; ran=$((ran + 1))
      else
        not_ok "$where (psql exit $rc)"; [ -z "$out" ] || diag <<<"$out"
      fi
    else  # expect-error SQLSTATE: every error the block raises has that SQLSTATE, and there is one
      out=$(psql -X -q -v ON_ERROR_STOP=0 -d "$db" -f "$sql" 2>&1 >"$dir/$num.out"); rc=$?
      codes=$(sed -nE 's/.*(ERROR|FATAL|PANIC): +([0-9A-Z]{5}):.*/\2/p' <<<"$out" | sort -u | tr '\n' ' ')
      if [ "$rc" = 0 ] && [ "$codes" = "$arg " ]; then
        ok "$where raises $arg"; expected=$((expected + 1))
      else
        not_ok "$where should raise $arg, raised: ${codes:-nothing}(psql exit $rc)"; [ -z "$out" ] || diag <<<"$out"
      fi
    fi
    [ -n "${DOCS_SHOW:-}" ] && { sed 's/^/    /' "$dir/$num.out"; [ -n "$out" ] && sed 's/^/    /' <<<"$out"; }
  done <<<"$listing"

  # clean up: the file's pipelines and sinks (their workers and slots), its
  # database, the roles it made, the topics it made
  if [ "$(psql_q -d "$db" -c "SELECT to_regclass('kafka.pipelines') IS NOT NULL" 2>/dev/null)" = t ]; then
    psql_q -d "$db" >/dev/null 2>"$TMP/clean.err" <<'SQL' || { not_ok "$file: drop its pipelines and sinks"; diag <"$TMP/clean.err"; }
SELECT format('SELECT kafka.drop_sink(%L)', name) FROM kafka.sinks \gexec
SELECT format('SELECT kafka.drop_pipeline(%L)', name) FROM kafka.pipelines \gexec
SQL
  fi
  psql_q -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null 2>"$TMP/clean.err" || { not_ok "$file: drop database $db"; diag <"$TMP/clean.err"; }
  local r t
  roles | LC_ALL=C comm -13 "$TMP/roles.before" - | while read -r r; do
    psql_q -d postgres -c "DROP ROLE \"$r\"" >/dev/null 2>>"$TMP/clean.err" || echo "# could not drop role $r"
  done
  local made; made=$(topics | LC_ALL=C comm -13 "$TMP/topics.before" -)
  for t in $made; do
    psql_q -d docs_admin -c "SELECT kafka.delete_topic('kafka', '$t')" >/dev/null 2>&1 || echo "# could not delete topic $t"
  done
  # deletion is asynchronous: wait until the brokers no longer list them
  local i
  for i in $(seq 1 100); do
    [ -z "$made" ] && break
    [ -z "$(topics | LC_ALL=C comm -12 <(echo "$made") -)" ] && break
    sleep 0.2
  done
}

for f in "${files[@]}"; do
  if [ ! -f "$f" ]; then not_ok "$f exists"; continue; fi
  run_file "$f"
done

# a backend killed by a signal fails the test, whatever the blocks said
log=$(bash test/pg_cluster.sh log)
if grep -E 'terminated by signal|was terminated by exception' "$log" >"$TMP/crash" 2>/dev/null; then
  not_ok "no backend was killed by a signal"; diag <"$TMP/crash"
else
  ok "no backend was killed by a signal"
fi
finish
