#!/usr/bin/env bash
# Broker control for tests that run as another OS user than the broker (the
# TAP tests run as `postgres`, the broker as root in CI): sends one command
# (pause|resume|restart|status|bootstrap|codecs TOPIC, or cluster COMMAND
# ARGS... for test/kafka_cluster.sh) through the FIFO $KAFKA_BROKER_CTL
# to the loop that test/run.sh runs as the broker's owner, waits for the
# answer, prints the command's output and exits with its status.
set -u
CTL=${KAFKA_BROKER_CTL:?KAFKA_BROKER_CTL is not set}
id="$$.$RANDOM"
echo "${1:-status} $id ${*:2}" >"$CTL"
# (a cluster start of test/kafka_cluster.sh can take a minute under load)
for _ in $(seq 1 1700); do
  [ -f "$CTL.done.$id" ] && break
  sleep 0.1
done
[ -f "$CTL.done.$id" ] || { echo "broker control: no answer" >&2; exit 1; }
cat "$CTL.out.$id" 2>/dev/null
rc=$(cat "$CTL.done.$id")
rm -f "$CTL.out.$id" "$CTL.done.$id"
exit "$rc"
