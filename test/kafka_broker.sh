#!/usr/bin/env bash
# Run a real single-node Apache Kafka broker (KRaft, broker+controller in one
# JVM, loopback only) for kafka_fdw's tests. Kafka comes from Maven Central
# through test/broker/pom.xml; nothing is installed system-wide.
#
# Usage: test/kafka_broker.sh COMMAND [ARGS...]
#
#   classpath             resolve (once) and cache the broker's runtime classpath;
#                         prints the path of the classpath file
#   start [--keep-data] [--prop KEY=VALUE]...
#                         start the broker in the background and wait until it is
#                         ready; prints the bootstrap address (host:port) as the
#                         last line on stdout. Without --keep-data the state
#                         directory is wiped and free ports are picked; with
#                         --keep-data the data and the ports of the previous run
#                         are reused. --prop adds/overrides a server property
#                         (fresh start only). If the broker of this state
#                         directory is already running, just prints its address.
#   stop                  stop the broker (TERM, then KILL after $KAFKA_STOP_TIMEOUT s)
#   restart               stop, then start --keep-data (same data, same ports)
#   restart-slow          the same with the broker down for $KAFKA_DOWN_SECONDS (20) s
#   pause | resume        SIGSTOP / SIGCONT the broker (simulates a hung broker)
#   status                prints running | paused | stopped (exit 0, 0, 3)
#   env                   prints KAFKA_BROKERS=<bootstrap> (for eval)
#   bootstrap             prints <bootstrap>
#   codecs TOPIC          prints the compression codecs of TOPIC's record batches as
#                         the broker stored them, read from its log segments, e.g.
#                         "lz4 12" or "none 3 lz4 9" (no broker process needed;
#                         control batches, the transaction markers, not counted)
#   console-consume TOPIC Kafka's Java console consumer, read_committed, from the
#                         beginning until 15 s without a message: one line per
#                         message, "HEADERS<TAB>KEY" (headers as name:value,...)
#   tool CLASS ARGS...    run one of Kafka's Java CLI classes on the classpath, e.g.
#                         tool org.apache.kafka.tools.TopicCommand \
#                              --bootstrap-server "$(cat test/tmp/kafka/bootstrap)" --list
#
# Environment:
#   KAFKA_STATE_DIR       state directory (default <repo>/test/tmp/kafka): holds
#                         data/, server.properties, stdout.log, pid, bootstrap
#   KAFKA_CACHE_DIR       where the classpath file is cached (default ~/.cache/kafka_fdw)
#   KAFKA_PORT, KAFKA_CONTROLLER_PORT
#                         fixed ports instead of random free ones (fresh start)
#   KAFKA_START_TIMEOUT   seconds to wait for "Kafka Server started" (default 60)
#   KAFKA_STOP_TIMEOUT    seconds to wait after TERM before KILL (default 20)
#   KAFKA_HEAP_OPTS       broker heap (default "-Xms128m -Xmx512m")
#   KAFKA_JVM_OPTS        extra JVM options for the broker
#   KAFKA_TOOL_OPTS       JVM options for `tool` and StorageTool
#   JAVA_HOME / JAVA, MVN the java and mvn executables
set -euo pipefail

KAFKA_VERSION=3.9.1

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(dirname -- "$SCRIPT_DIR")
BROKER_DIR=$SCRIPT_DIR/broker
POM=$BROKER_DIR/pom.xml
BROKER_LOG4J=$BROKER_DIR/log4j.properties
TOOLS_LOG4J=$BROKER_DIR/log4j-tools.properties

CACHE_DIR=${KAFKA_CACHE_DIR:-$HOME/.cache/kafka_fdw}
CP_FILE=$CACHE_DIR/kafka-$KAFKA_VERSION.cp
STATE=${KAFKA_STATE_DIR:-$REPO_ROOT/test/tmp/kafka}
[[ $STATE == /* ]] || STATE=${PWD%/}/$STATE
START_TIMEOUT=${KAFKA_START_TIMEOUT:-60}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-20}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
TOOL_OPTS=${KAFKA_TOOL_OPTS:--Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}

if [[ -n ${JAVA:-} ]]; then
    :
elif [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    JAVA=$JAVA_HOME/bin/java
else
    JAVA=java
fi
MVN=${MVN:-mvn}

PID_FILE=$STATE/pid
BOOTSTRAP_FILE=$STATE/bootstrap
PORTS_FILE=$STATE/ports
PROPS_FILE=$STATE/server.properties
LOG_FILE=$STATE/stdout.log
DATA_DIR=$STATE/data

# the port range we pick from: below Linux's ephemeral range (32768-60999), so
# an outgoing connection cannot grab the port between our pick and the bind,
# and far from the well-known service ports of the machine
PORT_MIN=20000
PORT_MAX=32000

say() { printf 'kafka_broker: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------- classpath

classpath_ok() {
    [[ -s $CP_FILE ]] || return 1
    local cp jar
    local -a jars
    cp=$(<"$CP_FILE")
    IFS=: read -r -a jars <<<"$cp"
    ((${#jars[@]} > 0)) || return 1
    for jar in "${jars[@]}"; do
        [[ -f $jar ]] || return 1
    done
}

cmd_classpath() {
    if ! classpath_ok; then
        command -v "$MVN" >/dev/null || die "mvn not found (needed once to fetch Kafka $KAFKA_VERSION)"
        mkdir -p "$CACHE_DIR"
        local tmp
        tmp=$(mktemp "$CACHE_DIR/kafka-$KAFKA_VERSION.cp.XXXXXX")
        say "resolving the Kafka $KAFKA_VERSION classpath with Maven"
        # The classpath is captured only through the output file: with -q Maven
        # still prints escape codes on stdout. Its output is shown on failure.
        if ! "$MVN" -q -B -f "$POM" dependency:build-classpath \
                -DincludeScope=runtime -Dmdep.outputFile="$tmp" >"$tmp.log" 2>&1; then
            cat "$tmp.log" >&2
            rm -f "$tmp" "$tmp.log"
            die "mvn dependency:build-classpath failed"
        fi
        rm -f "$tmp.log"
        mv -f "$tmp" "$CP_FILE"
        classpath_ok || die "the resolved classpath in $CP_FILE is unusable"
    fi
    printf '%s\n' "$CP_FILE"
}

ensure_classpath() {
    cmd_classpath >/dev/null
    CP=$(<"$CP_FILE")
}

# ---------------------------------------------------------------- processes

broker_pid() {
    [[ -s $PID_FILE ]] || return 1
    local pid
    pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    printf '%s\n' "$pid"
}

# process state letter from /proc (R, S, T, Z, ...), empty if gone
proc_state() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    printf '%s\n' "${stat%% *}"
}

# true once process $1 has fully exited. While a JVM exits, its main thread
# can already be a zombie (state Z, empty cmdline) while other threads still
# run and hold the data-dir lock and the listening sockets.
proc_gone() {
    local pid=$1 state threads
    [[ -d /proc/$pid ]] || return 0
    state=$(proc_state "$pid")
    [[ -z $state ]] && return 0
    [[ $state == Z || $state == X ]] || return 1
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return 0
    [[ -z $threads || $threads -le 1 ]]
}

# true if $1 is alive (not a zombie) and is the broker of this state dir
is_our_broker() {
    local pid=$1 state cmdline
    state=$(proc_state "$pid")
    [[ -n $state && $state != Z && $state != X ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *kafka.Kafka* && $cmdline == *"$PROPS_FILE"* ]]
}

running_pid() {
    local pid
    pid=$(broker_pid) || return 1
    is_our_broker "$pid" || return 1
    printf '%s\n' "$pid"
}

# port_listening PORT: something accepts connections on 127.0.0.1:PORT
port_listening() {
    # shellcheck disable=SC2016
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# pick_ports N: print N distinct free loopback ports
pick_ports() {
    local n=$1
    if command -v python3 >/dev/null && python3 -c '' 2>/dev/null; then
        python3 - "$n" "$PORT_MIN" "$PORT_MAX" <<'EOF'
import random, socket, sys
n, lo, hi = map(int, sys.argv[1:4])
rnd = random.SystemRandom()
picked = []
for _ in range(2000):
    port = rnd.randint(lo, hi)
    if port in picked:
        continue
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))   # fails if anything holds the port
    except OSError:
        continue
    finally:
        s.close()
    picked.append(port)
    if len(picked) == n:
        print(" ".join(map(str, picked)))
        sys.exit(0)
sys.exit("no free port found")
EOF
    else
        local -a picked=()
        local port tries=0
        while ((${#picked[@]} < n)); do
            ((tries++ < 2000)) || die "no free port found"
            port=$((PORT_MIN + (RANDOM * 32768 + RANDOM) % (PORT_MAX - PORT_MIN + 1)))
            [[ " ${picked[*]} " == *" $port "* ]] && continue
            port_listening "$port" && continue
            picked+=("$port")
        done
        echo "${picked[*]}"
    fi
}

# a random Kafka Uuid string (base64url of 16 random bytes, no padding) that
# does not start with '-' (saves the JVM start of `StorageTool random-uuid`)
random_cluster_id() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
        [[ ${#id} == 22 && $id != -* && $id != AAAAAAAAAAAAAAAAAAAAAA && $id != AAAAAAAAAAAAAAAAAAAAAQ ]] && break
    done
    printf '%s\n' "$id"
}

# broker is up, not paused, and its port accepts connections
broker_answers() {
    local pid=$1 state
    state=$(proc_state "$pid")
    [[ $state != T && $state != t ]] || return 1
    [[ -s $BOOTSTRAP_FILE ]] || return 1
    port_listening "$(sed 's/.*://' "$BOOTSTRAP_FILE")"
}

lock_state() {
    mkdir -p "$STATE"
    exec 9>"$STATE/.lock"
    flock -w 120 9 || die "could not lock $STATE/.lock"
}

# ---------------------------------------------------------------- commands

write_properties() { # write_properties BROKER_PORT CONTROLLER_PORT [KEY=VALUE...]
    local port=$1 cport=$2
    shift 2
    {
        cat <<EOF
# generated by test/kafka_broker.sh: single-node KRaft broker for tests
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true
# one node: the internal topics must not ask for 3 replicas / ISR 2, or
# consumer groups and transactions hang
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
min.insync.replicas=1
default.replication.factor=1
group.initial.rebalance.delay.ms=0
# after a KILL, the restarted broker is refused (DUPLICATE_BROKER_REGISTRATION)
# until the old session expires: 9 s by default, ~15 s with the retry backoff
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=33554432
EOF
        if (($# > 0)); then
            echo "# --prop"
            printf '%s\n' "$@"
        fi
    } >"$PROPS_FILE.tmp"
    mv -f "$PROPS_FILE.tmp" "$PROPS_FILE"
}

show_log_tail() {
    say "last lines of $LOG_FILE:"
    tail -n 40 "$LOG_FILE" >&2 || true
}

# wait_started PID: wait for "Kafka Server started" in the log
wait_started() {
    local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        if grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null; then
            return 0
        fi
        if ! is_our_broker "$pid"; then
            show_log_tail
            rm -f "$PID_FILE"
            die "the broker exited during start-up (log above, in full: $LOG_FILE)"
        fi
        if ((SECONDS >= deadline)); then
            show_log_tail
            stop_pid "$pid"
            die "the broker did not start within ${START_TIMEOUT}s (log above, in full: $LOG_FILE); stopped it"
        fi
        sleep 0.2
    done
}

cmd_start() {
    local keep=0
    local -a props=()
    while (($# > 0)); do
        case $1 in
            --keep-data) keep=1 ;;
            --prop)
                (($# >= 2)) || die "--prop needs KEY=VALUE"
                [[ $2 == *=* ]] || die "--prop needs KEY=VALUE, got '$2'"
                props+=("$2")
                shift ;;
            --prop=*) props+=("${1#--prop=}") ;;
            *) die "start: unknown option '$1'" ;;
        esac
        shift
    done

    lock_state

    local pid
    if pid=$(running_pid); then
        if broker_answers "$pid"; then
            cat "$BOOTSTRAP_FILE"
            return 0
        fi
        [[ $(proc_state "$pid") == [Tt] ]] &&
            die "the broker (pid $pid) is paused; run '$0 resume'"
        # still starting up (another start timed out / was interrupted)
        wait_started "$pid"
        cat "$BOOTSTRAP_FILE"
        return 0
    fi
    rm -f "$PID_FILE"

    ensure_classpath

    local port cport
    if ((keep)) && [[ -f $DATA_DIR/meta.properties && -s $PORTS_FILE && -s $PROPS_FILE ]]; then
        ((${#props[@]} == 0)) || say "--prop ignored with --keep-data (the existing server.properties is reused)"
        read -r port cport <"$PORTS_FILE"
        [[ $port =~ ^[0-9]+$ && $cport =~ ^[0-9]+$ ]] || die "bad $PORTS_FILE"
        local p
        for p in "$port" "$cport"; do
            if port_listening "$p"; then
                die "port $p of the previous run is now taken by another process"
            fi
        done
    else
        ((keep)) && say "no previous data in $STATE: starting fresh"
        # wipe only what this script creates
        rm -rf "$DATA_DIR" "$STATE/logs"
        rm -f "$PROPS_FILE" "$LOG_FILE" "$LOG_FILE.prev" "$BOOTSTRAP_FILE" "$PORTS_FILE" \
            "$STATE/cluster.id"
        if [[ -n ${KAFKA_PORT:-} || -n ${KAFKA_CONTROLLER_PORT:-} ]]; then
            [[ -n ${KAFKA_PORT:-} && -n ${KAFKA_CONTROLLER_PORT:-} ]] ||
                die "set both KAFKA_PORT and KAFKA_CONTROLLER_PORT"
            port=$KAFKA_PORT cport=$KAFKA_CONTROLLER_PORT
            local p
            for p in "$port" "$cport"; do
                ! port_listening "$p" || die "port $p (KAFKA_PORT/KAFKA_CONTROLLER_PORT) is in use"
            done
        else
            read -r port cport < <(pick_ports 2)
            [[ -n $port && -n $cport ]] || die "could not pick free ports"
        fi
        write_properties "$port" "$cport" ${props[@]+"${props[@]}"}
        echo "$port $cport" >"$PORTS_FILE"
        random_cluster_id >"$STATE/cluster.id"
    fi
    mkdir -p "$DATA_DIR" "$STATE/logs"

    # format the storage (a no-op for an already formatted data dir)
    local cluster_id
    [[ -s $STATE/cluster.id ]] || die "missing $STATE/cluster.id"
    cluster_id=$(<"$STATE/cluster.id")
    # shellcheck disable=SC2086
    if ! "$JAVA" $TOOL_OPTS -Dlog4j.configuration="file:$TOOLS_LOG4J" -cp "$CP" \
            kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS_FILE" \
            --ignore-formatted >"$STATE/format.log" 2>&1; then
        cat "$STATE/format.log" >&2
        die "kafka.tools.StorageTool format failed"
    fi

    [[ -f $LOG_FILE ]] && mv -f "$LOG_FILE" "$LOG_FILE.prev"
    : >"$LOG_FILE"
    printf '127.0.0.1:%s\n' "$port" >"$BOOTSTRAP_FILE"

    # New session (setsid) so the broker survives the shell, make, or CI step
    # that started it, with all of its descriptors (including our lock on fd 9)
    # detached. The inner bash writes its own PID and execs java, so the pid
    # file holds the JVM's PID.
    # shellcheck disable=SC2016,SC2086
    # Every other inherited descriptor is closed too: a caller's lock (e.g.
    # flock around a test run that restarts the broker) must not be held by
    # the broker for the rest of its life.
    setsid nohup bash -c 'for fd in /proc/$$/fd/*; do n=${fd##*/}; ((n > 2)) && eval "exec $n>&-"; done 2>/dev/null
                          echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
        "$JAVA" $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$BROKER_LOG4J" -Dkafka.logs.dir="$STATE/logs" \
        ${KAFKA_JVM_OPTS:-} -cp "$CP" kafka.Kafka "$PROPS_FILE" \
        </dev/null >>"$LOG_FILE" 2>&1 9>&- &

    # the launcher writes the pid file, then execs java (same PID)
    local deadline=$((SECONDS + 10))
    until pid=$(broker_pid); do
        if ((SECONDS >= deadline)); then
            show_log_tail
            die "the broker process did not come up"
        fi
        sleep 0.05
    done
    deadline=$((SECONDS + 10))
    until is_our_broker "$pid"; do
        if ((SECONDS >= deadline)) || [[ -z $(proc_state "$pid") ]]; then
            show_log_tail
            rm -f "$PID_FILE"
            die "the broker process did not come up"
        fi
        sleep 0.05
    done

    wait_started "$pid"
    say "broker started (pid $pid) on $(<"$BOOTSTRAP_FILE"), state in $STATE"
    cat "$BOOTSTRAP_FILE"
}

# stop_pid PID: TERM, wait up to STOP_TIMEOUT s, then KILL
stop_pid() {
    local pid=$1 deadline=$((SECONDS + STOP_TIMEOUT))
    kill -TERM "$pid" 2>/dev/null || true
    # a paused (SIGSTOPped) JVM handles TERM only once continued
    kill -CONT "$pid" 2>/dev/null || true
    while ! proc_gone "$pid"; do
        if ((SECONDS >= deadline)); then
            say "broker (pid $pid) still running after ${STOP_TIMEOUT}s: sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 10))
            while ! proc_gone "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
            proc_gone "$pid" || die "broker (pid $pid) survived KILL"
            break
        fi
        sleep 0.1
    done
    rm -f "$PID_FILE"
}

cmd_stop() {
    lock_state
    local pid
    if pid=$(running_pid); then
        stop_pid "$pid"
        say "broker (pid $pid) stopped"
    else
        rm -f "$PID_FILE"
        say "no broker running for $STATE"
    fi
}

cmd_restart() {
    cmd_stop
    exec 9>&-
    # restart-slow: the broker stays down for KAFKA_DOWN_SECONDS (20) first
    if [ "${1:-}" = slow ]; then sleep "${KAFKA_DOWN_SECONDS:-20}"; fi
    cmd_start --keep-data
}

cmd_signal() { # cmd_signal STOP|CONT
    local pid
    pid=$(running_pid) || die "no broker running for $STATE"
    kill -"$1" "$pid"
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        if [[ $(proc_state "$pid") == [Tt] ]]; then
            echo paused
        else
            echo running
        fi
    else
        echo stopped
        return 3
    fi
}

need_bootstrap() {
    [[ -s $BOOTSTRAP_FILE ]] || die "no broker address in $BOOTSTRAP_FILE: run '$0 start'"
    running_pid >/dev/null || say "warning: the broker of $STATE is not running"
}

cmd_tool() {
    (($# >= 1)) || die "usage: $0 tool CLASS [ARGS...]"
    ensure_classpath
    # shellcheck disable=SC2086
    exec "$JAVA" $TOOL_OPTS -Dlog4j.configuration="file:$TOOLS_LOG4J" -cp "$CP" "$@"
}

cmd_console_consume() {
    (($# == 1)) || die "usage: $0 console-consume TOPIC"
    local bootstrap
    bootstrap=$(cat "$BOOTSTRAP_FILE" 2>/dev/null) || die "no broker running (no $BOOTSTRAP_FILE)"
    cmd_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$bootstrap" --topic "$1" \
        --from-beginning --isolation-level read_committed --timeout-ms 15000 \
        --property print.headers=true --property print.key=true --property print.value=false
}

# Record batch v2 header: baseOffset int64, batchLength int32,
# partitionLeaderEpoch int32, magic int8, crc int32, attributes int16 (its
# low 3 bits: the codec).  Only the partition directories TOPIC-<n>.
cmd_codecs() {
    (($# == 1)) || die "usage: $0 codecs TOPIC"
    python3 - "$DATA_DIR" "$1" <<'PY'
import collections, glob, os, struct, sys
data, topic = sys.argv[1], sys.argv[2]
names = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
seen = collections.Counter()
for seg in sorted(glob.glob(os.path.join(glob.escape(data), glob.escape(topic) + "-*", "*.log"))):
    if not os.path.basename(os.path.dirname(seg))[len(topic) + 1:].isdigit():
        continue
    with open(seg, "rb") as f:
        buf = f.read()
    pos = 0
    while pos + 23 <= len(buf):
        _, length = struct.unpack_from(">qi", buf, pos)
        if length <= 0 or buf[pos + 16] < 2:
            break
        (attributes,) = struct.unpack_from(">h", buf, pos + 21)
        if not attributes & 0x20:  # control batches (transaction markers) carry no data
            seen[names.get(attributes & 7, str(attributes & 7))] += 1
        pos += 12 + length
print(" ".join("%s %d" % kv for kv in sorted(seen.items())) or "no batches")
PY
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
}

# sourced (test/kafka_cluster.sh reuses the functions above): no command
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

(($# >= 1)) || usage
cmd=$1
shift
case $cmd in
    classpath) cmd_classpath ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    restart) cmd_restart ;;
    restart-slow) cmd_restart slow ;;
    pause) cmd_signal STOP ;;
    resume) cmd_signal CONT ;;
    status) cmd_status ;;
    env) need_bootstrap; printf 'KAFKA_BROKERS=%s\n' "$(<"$BOOTSTRAP_FILE")" ;;
    bootstrap) need_bootstrap; cat "$BOOTSTRAP_FILE" ;;
    tool) cmd_tool "$@" ;;
    console-consume) cmd_console_consume "$@" ;;
    codecs) cmd_codecs "$@" ;;
    -h | --help | help) usage ;;
    *) say "unknown command '$cmd'"; usage ;;
esac
