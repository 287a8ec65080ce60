#!/usr/bin/env bash
# For developers: `eval "$(test/dev_env.sh)"` sets KAFKA_BROKERS, PGHOST,
# PGPORT and PGUSER for the broker and cluster left running by
# `test/kafka_broker.sh start` and `test/pg_cluster.sh start`.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$ROOT/test/tmp/kafka/bootstrap" ] && echo "export KAFKA_BROKERS=$(cat "$ROOT/test/tmp/kafka/bootstrap")"
if [ -f "$ROOT/test/tmp/pg/data/postgresql.conf" ]; then
  echo "export PGHOST=$ROOT/test/tmp/pg PGUSER=postgres"
  echo "export PGPORT=$(awk '/^port = /{print $3}' "$ROOT/test/tmp/pg/data/postgresql.conf" | tail -1)"
fi
