#!/usr/bin/env bash
# Debian roots for testing kafka_fdw against other PostgreSQL majors than the
# host's 15: Debian 13 (trixie) for 17, Debian unstable (sid) for 18.  Each is
# a `debootstrap --variant=minbase` root under ~/.cache/kafka_fdw-roots/pgMAJOR
# (owned by this script; shared by every clone of the repository) with that major's server, headers and client,
# the distribution's compiler and librdkafka, and a JDK + maven for the
# broker and the Java interop tools.
#
#   test/pg_root.sh create MAJOR       make the root, or reuse a cached one whose
#                                      package lists are less than a week old
#   test/pg_root.sh shell MAJOR [CMD...]
#                                      run CMD (default: an interactive bash) in
#                                      the root, as root, with /proc, /dev and
#                                      /dev/shm bind-mounted for the duration
#   test/pg_root.sh suite MAJOR        the whole suite (test/run.sh) inside the root:
#                                      what PG_MAJOR=MAJOR bash test/run.sh runs
#   test/pg_root.sh run MAJOR CMD...   copy the work tree into the root, build and
#                                      install it there, start a throwaway cluster
#                                      and run CMD in the copy with PGHOST/PGPORT/
#                                      PGUSER set (KAFKA_BROKERS is passed on: the
#                                      host's broker serves the root), e.g.
#                                      run 17 make installcheck REGRESS="setup decode"
#   test/pg_root.sh exec MAJOR CMD...  the same without a cluster (CMD starts its own:
#                                      what PG_MAJOR=MAJOR bash bench/run.sh runs)
#   test/pg_root.sh path MAJOR         print the root's directory
#   test/pg_root.sh clean [MAJOR]      unmount and remove one root, or all of them
#
# The mirror is the one the machine's own apt configuration uses
# (/etc/apt/sources.list.d/*.sources or /etc/apt/sources.list); neither that
# configuration nor the machine's own PostgreSQL is changed.  Inside a root,
# PostgreSQL's packages neither create nor start a cluster (policy-rc.d and
# createcluster.conf), so nothing listens on 5432.
#
# Environment: PG_ROOTS_DIR (default ${XDG_CACHE_HOME:-~/.cache}/kafka_fdw-roots),
#              PG_ROOT_MAX_AGE_DAYS (default 7).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROOTS=${PG_ROOTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka_fdw-roots}
MAX_AGE_DAYS=${PG_ROOT_MAX_AGE_DAYS:-7}

die() { echo "pg_root.sh: $*" >&2; exit 1; }

suite_of() {
  case "$1" in
    17) echo trixie ;;
    18) echo sid ;;
    *) die "no Debian root for PostgreSQL $1 (17: trixie, 18: sid; 15 is the host's)" ;;
  esac
}

# The first Debian (non-security) URI of the machine's apt sources.
mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
      /^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }')
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) { print $i; exit } break } }' \
          /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "no Debian mirror in the machine's apt configuration"
  echo "${uri%/}"
}

# What a root mounts, in mount order.
MOUNTS=(proc dev dev/shm)

is_mounted() { mountpoint -q "$1" 2>/dev/null; }

# Unmount everything under DIR (deepest first).  Fails if anything stays.
umount_all() {
  local dir=$1 m
  [ -d "$dir" ] || return 0
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  ! awk -v d="$dir/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts
}

# Mount what is not mounted yet (a second shell in a root that a first one
# uses mounts nothing; see release_mounts for the unmounting).
mount_all() {
  local dir=$1 m
  for m in "${MOUNTS[@]}"; do
    mkdir -p "$dir/$m"
    if ! is_mounted "$dir/$m"; then mount --bind "/$m" "$dir/$m"; fi
  done
}

# At the end of a shell: the last user of the root unmounts what is mounted
# under it, whoever mounted it.  "Last" = its shared lock (fd 9) converts to
# an exclusive one without waiting; otherwise another command still runs in
# the root (the first caller used to unmount under a second one still running:
# /dev/fd vanished in a CI run) and the last of them unmounts.
release_mounts() {
  local dir=$1
  flock -x -n 9 || return 0
  umount_all "$dir"
}

# Remove a root's directory: never while anything is mounted below it.
remove_dir() {
  local dir=$1
  [ -e "$dir" ] || return 0
  umount_all "$dir" || die "cannot unmount everything under $dir; not removing it"
  rm -rf --one-file-system "$dir"
}

# The date of a root's package lists (seconds since the epoch), 0 if none.
lists_date() {
  local f; f=$(ls -t "$1"/var/lib/apt/lists/*Release 2>/dev/null | head -1)
  [ -n "$f" ] && stat -c %Y "$f" || echo 0
}

packages_of() {
  local major=$1
  # Java 21 on every root: Kafka 3.9.1 supports it, and sid's default (25) is newer than Kafka knows
  echo "postgresql-$major postgresql-server-dev-$major postgresql-client-$major" \
       "librdkafka-dev nlohmann-json3-dev g++ make libipc-run-perl kcat python3 bc" \
       "openjdk-21-jdk-headless maven procps git ca-certificates"
}

# apt-get update + install the packages of MAJOR in DIR (mounted by the caller).
install_packages() {
  local major=$1 dir=$2
  echo "pg_root.sh: installing $(packages_of "$major")" >&2
  # shellcheck disable=SC2046
  chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
    sh -c 'apt-get update -qq && apt-get install -y -qq -o Dpkg::Options::=--force-confold "$@"' \
    sh $(packages_of "$major") >"$ROOTS/pg$major.install.log" 2>&1 \
    || { tail -30 "$ROOTS/pg$major.install.log" >&2; return 1; }
  packages_of "$major" >"$dir/.kafka_fdw_root"
}

create() {
  local major=$1 suite dir age now
  suite=$(suite_of "$major")
  dir=$ROOTS/pg$major
  now=$(date +%s)
  if [ -f "$dir/.kafka_fdw_root" ]; then
    age=$(( (now - $(lists_date "$dir")) / 86400 ))
    if [ "$age" -lt "$MAX_AGE_DAYS" ]; then
      if [ "$(cat "$dir/.kafka_fdw_root")" != "$(packages_of "$major")" ]; then
        trap 'umount_all "'"$dir"'" || true' EXIT
        mount_all "$dir"
        install_packages "$major" "$dir" || die "package installation failed"
        umount_all "$dir" || die "cannot unmount under $dir"
        trap - EXIT
      fi
      echo "pg_root.sh: reusing $dir (package lists $age days old)" >&2
      echo "$dir"; return 0
    fi
    if ! lock_exclusive "$major"; then
      echo "pg_root.sh: reusing $dir (package lists $age days old; in use, not rebuilt now)" >&2
      echo "$dir"; return 0
    fi
    echo "pg_root.sh: rebuilding $dir (package lists $age days old)" >&2
  fi
  command -v debootstrap >/dev/null || {
    echo "pg_root.sh: installing debootstrap" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local m; m=$(mirror)
  local tmp=$dir.new
  remove_dir "$tmp"
  mkdir -p "$ROOTS"
  trap 'umount_all "'"$tmp"'" || true' EXIT
  echo "pg_root.sh: debootstrap $suite into $tmp" >&2
  debootstrap --variant=minbase "$suite" "$tmp" "$m" >"$ROOTS/pg$major.debootstrap.log" 2>&1 \
    || { tail -20 "$ROOTS/pg$major.debootstrap.log" >&2; die "debootstrap failed"; }
  # no service starts inside the root, and PostgreSQL creates no cluster
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"; chmod 755 "$tmp/usr/sbin/policy-rc.d"
  mkdir -p "$tmp/etc/postgresql-common"
  echo "create_main_cluster = false" >"$tmp/etc/postgresql-common/createcluster.conf"
  # (the mirror may be a dated snapshot whose sid Release files have expired)
  printf 'APT::Install-Recommends "false";\nAcquire::Check-Valid-Until "false";\n' \
    >"$tmp/etc/apt/apt.conf.d/90kafka-fdw"
  cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
  mount_all "$tmp"
  install_packages "$major" "$tmp" || die "package installation failed"
  umount_all "$tmp" || die "cannot unmount under $tmp"
  trap - EXIT
  remove_dir "$dir"
  mv "$tmp" "$dir"
  echo "$dir"
}

# A root in use holds a shared lock on $ROOTS/pgMAJOR.lock (fd 9, until the
# command ends); rebuilding or removing it takes the lock exclusively.
lock_shared() { mkdir -p "$ROOTS"; exec 9>"$ROOTS/pg$1.lock"; flock -s 9; }
lock_exclusive() { mkdir -p "$ROOTS"; exec 8>"$ROOTS/pg$1.lock"; flock -x -n 8; }

shell() {
  local major=$1; shift
  local dir=$ROOTS/pg$major
  [ -f "$dir/.kafka_fdw_root" ] || die "no root for $major: run test/pg_root.sh create $major"
  lock_shared "$major"
  trap 'release_mounts "'"$dir"'" || echo "pg_root.sh: could not unmount everything under '"$dir"'" >&2' EXIT
  mount_all "$dir"
  local rc=0
  if (($# == 0)); then set -- bash; fi
  chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    "$@" || rc=$?
  return "$rc"
}

# The suite inside the root, on a copy of the work tree (tracked and untracked
# files that git does not ignore) in <root>/build/kafka_fdw: the build,
# unit tests, pg_regress, the kafka_copy and interop scripts and TAP, with the
# root's compiler, librdkafka, server and JDK.  Its Kafka broker is its own
# (state in the copy's test/tmp/kafka), on the host's loopback like every
# process of the root.  The logs are copied back to test/tmp/pgMAJOR-logs.
# Copy the work tree into <root>/build/$COPY (one per call: clones and
# commands using one root at once do not share a copy); prints its path.
COPY=kafka_fdw-$$
copy_tree() {
  local dir=$1 copy=$1/build/$COPY
  rm -rf "$copy"; mkdir -p "$copy"
  # (extracted with the current time: a file older than the copy's objects,
  # e.g. after a rebase, must still rebuild them)
  (cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -cf - -T - 2>/dev/null) | tar -xmf - -C "$copy"
  # the previous releases' sources for the upgrade test (the copy has no git)
  bash "$ROOT/test/upgrade/prepare.sh" sources "$copy/test/upgrade/src" >&2 || true
  echo "$copy"
}

# root_env MAJOR: the environment of every command run in a root (one word each)
root_env() {
  echo "PATH=/usr/lib/postgresql/$1/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "PG_CONFIG=/usr/lib/postgresql/$1/bin/pg_config" "JAVA_HOME=/usr/lib/jvm/java-21-openjdk-amd64"
}

# share_maven DIR: the host's Maven repository and Kafka classpath cache into
# the root, as hard links (same file system), so the broker started inside
# never runs Maven (the root's own Maven may want plugin versions the registry
# does not serve); files already in the root are kept
share_maven() {
  local dir=$1
  if [ -d "$HOME/.m2" ]; then
    mkdir -p "$dir/root/.m2"
    cp -aln "$HOME/.m2/." "$dir/root/.m2/" 2>/dev/null || cp -an "$HOME/.m2/." "$dir/root/.m2/"
  fi
  if ls "$HOME"/.cache/kafka_fdw/*.cp >/dev/null 2>&1; then
    mkdir -p "$dir/root/.cache/kafka_fdw"
    cp -a "$HOME"/.cache/kafka_fdw/*.cp "$dir/root/.cache/kafka_fdw/"
    # the classpath files name jars under the host's $HOME/.m2
    [ "$HOME" = /root ] || sed -i "s#$HOME/.m2#/root/.m2#g" "$dir"/root/.cache/kafka_fdw/*.cp
  fi
}

suite() {
  local major=$1 dir
  dir=$(create "$major") || exit 1
  local copy; copy=$(copy_tree "$dir")
  share_maven "$dir"
  local rc=0
  shell "$major" env KAFKA_FDW_IN_ROOT=1 PG_MAJOR="$major" CI="${CI:-}" $(root_env "$major") \
    ${LANG:+LANG=$LANG} ${LC_ALL:+LC_ALL=$LC_ALL} \
    bash -c "cd /build/$COPY && bash test/run.sh" || rc=$?
  local logs=$ROOT/test/tmp/pg$major-logs
  rm -rf "$logs"; mkdir -p "$logs"
  cp "$copy"/test/*.log "$logs/" 2>/dev/null || true
  cp "$copy"/regression.diffs "$copy"/regression.out "$logs/" 2>/dev/null || true
  [ -d "$copy/test/tmp/tap_logs" ] && cp -r "$copy/test/tmp/tap_logs" "$logs/"
  [ -f "$copy/test/tmp/pg/server.log" ] && cp "$copy/test/tmp/pg/server.log" "$logs/"
  rm -rf "$copy"
  echo "(PostgreSQL $major: logs in $logs)"
  return "$rc"
}

# exec and run: the tree copied, built and installed in the root, then CMD in
# the copy; "run" (CLUSTER=1) with a throwaway cluster (PGHOST, PGPORT,
# PGUSER set), "exec" without (for scripts that start their own, e.g.
# PG_MAJOR=17 bash bench/run.sh).  KAFKA_BROKERS and BENCH_*, CDC_*, FUZZ_* are passed on.
build_and_run() {
  local major=$1 cluster=$2; shift 2
  local dir; dir=$(create "$major") || exit 1
  local copy; copy=$(copy_tree "$dir")
  local rc=0 pass=() v
  for v in KAFKA_BROKERS $(compgen -e | grep -E '^(BENCH|CDC|FUZZ)_' || true); do
    [ -n "${!v:-}" ] && pass+=("$v=${!v}")
  done
  share_maven "$dir"
  shell "$major" env KAFKA_FDW_IN_ROOT=1 PG_MAJOR="$major" CLUSTER="$cluster" "${pass[@]}" \
    $(root_env "$major") \
    bash -c 'cd "/build/$0" || exit 1
      { make -s -j2 WERROR=1 >test/build.log 2>&1 && make -s install >>test/build.log 2>&1; } || { tail -30 test/build.log; exit 1; }
      [ "$CLUSTER" = 1 ] || exec "$@"
      env=$(bash test/pg_cluster.sh start) || exit 1; eval "$env"
      export PGHOST PGPORT PGUSER=postgres; rc=0; "$@" || rc=$?
      bash test/pg_cluster.sh stop >/dev/null 2>&1; exit $rc' "$COPY" "$@" || rc=$?
  rm -rf "$copy"
  return "$rc"
}

case "${1:-}" in
  run) [ -n "${3:-}" ] || die "usage: $0 run MAJOR CMD..."; major=$2; shift 2; build_and_run "$major" 1 "$@" ;;
  exec) [ -n "${3:-}" ] || die "usage: $0 exec MAJOR CMD..."; major=$2; shift 2; build_and_run "$major" 0 "$@" ;;
  suite) [ -n "${2:-}" ] || die "usage: $0 suite MAJOR"; suite "$2" ;;
  create) [ -n "${2:-}" ] || die "usage: $0 create MAJOR"; create "$2" ;;
  shell) [ -n "${2:-}" ] || die "usage: $0 shell MAJOR [CMD...]"; major=$2; shift 2; shell "$major" "$@" ;;
  path) [ -n "${2:-}" ] || die "usage: $0 path MAJOR"; suite_of "$2" >/dev/null; echo "$ROOTS/pg$2" ;;
  clean)
    if [ -n "${2:-}" ]; then
      suite_of "$2" >/dev/null
      lock_exclusive "$2" || die "the root of $2 is in use"
      remove_dir "$ROOTS/pg$2"; remove_dir "$ROOTS/pg$2.new"; rm -f "$ROOTS/pg$2".*.log
    else
      for d in "$ROOTS"/pg*; do
        [ -d "$d" ] || continue
        lock_exclusive "${d##*/pg}" || die "the root $d is in use"
        remove_dir "$d"
      done
      rm -rf "$ROOTS"
    fi ;;
  *) echo "usage: $0 create|shell|run|exec|suite|path|clean MAJOR" >&2; exit 2 ;;
esac
