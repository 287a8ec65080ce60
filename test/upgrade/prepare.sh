#!/usr/bin/env bash
# What the upgrade test (test/t/014_upgrade.pl) installs, laid out in OUT:
#
#   OUT/prefix/...         a private copy of this PostgreSQL installation
#                          (its bin, lib and share directories under their
#                          own absolute paths): PostgreSQL finds its share and
#                          lib directories relative to its binary, so a
#                          release installed there touches neither the
#                          system's directories nor other tests or agents
#   OUT/install_path       the copy's directory of bin/ and lib/
#                          (PostgreSQL::Test::Cluster's install_path)
#   OUT/libdir, OUT/sharedir   where the copy keeps kafka_fdw.so and extension/
#   OUT/releases/VERSION/  each release of test/upgrade/releases made for this
#                          major, as `make install DESTDIR=` lays it out;
#                          built from its commit once and cached in
#                          ~/.cache/kafka_fdw-releases/VERSION-pgMAJOR/
#   OUT/current/           the tree's own build, laid out the same way
#   OUT/skipped            one line per release not tested here, with why
#
#   bash test/upgrade/prepare.sh OUT
#   bash test/upgrade/prepare.sh sources DIR   each release's source as
#       DIR/VERSION.tar (test/pg_root.sh: its copy of the tree has no git)
#
# Environment: PG_CONFIG (default pg_config); KAFKA_FDW_RELEASES_CACHE
# (default ${XDG_CACHE_HOME:-~/.cache}/kafka_fdw-releases).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

releases() { grep -vE '^[[:space:]]*(#|$)' "$ROOT/test/upgrade/releases"; }

if [ "${1:-}" = sources ]; then
  dir=${2:?usage: prepare.sh sources DIR}
  mkdir -p "$dir"
  releases | while read -r version commit _; do
    git -C "$ROOT" archive --format=tar -o "$dir/$version.tar" "$commit"
  done
  exit 0
fi

out=${1:?usage: prepare.sh OUT | prepare.sh sources DIR}
PG_CONFIG=${PG_CONFIG:-pg_config}
bindir=$("$PG_CONFIG" --bindir)
sharedir=$("$PG_CONFIG" --sharedir)
libdir=$("$PG_CONFIG" --pkglibdir)
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
cache=${KAFKA_FDW_RELEASES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka_fdw-releases}
mkdir -p "$out/releases" "$cache"
: >"$out/skipped"

# release_source VERSION COMMIT DIR: the release's files into DIR
release_source() {
  if git -C "$ROOT" cat-file -e "$2^{commit}" 2>/dev/null; then
    git -C "$ROOT" archive "$2" | tar -x -C "$3"
  elif [ -f "$ROOT/test/upgrade/src/$1.tar" ]; then
    tar -x -C "$3" -f "$ROOT/test/upgrade/src/$1.tar"
  else
    return 1
  fi
}

# build_release VERSION COMMIT: the release built and installed into
# $cache/VERSION-pgMAJOR/stage (once; one build at a time per cache)
build_release() {
  local version=$1 commit=$2 dest=$cache/$1-pg$major rc=0
  exec 8>"$cache/.lock"
  flock 8
  if [ -f "$dest/commit" ] && [ "$(cat "$dest/commit")" = "$commit" ] && [ -d "$dest/stage" ]; then
    echo "kafka_fdw $version for PostgreSQL $major: cached in $dest"
  else
    rm -rf "$dest"
    mkdir -p "$dest"
    local src
    src=$(mktemp -d /tmp/kafka_fdw_release.XXXXXX)
    if ! release_source "$version" "$commit" "$src"; then
      echo "$version: no source (commit $commit is not in the repository and there is no test/upgrade/src/$version.tar)" >>"$out/skipped"
      rc=1
    else
      echo "kafka_fdw $version ($commit): building for PostgreSQL $major (log: $dest/build.log)"
      local t0=$SECONDS
      # (no WERROR: a release's warnings on a newer compiler are not ours to fix)
      if (cd "$src" && make -j2 PG_CONFIG="$PG_CONFIG" && make install PG_CONFIG="$PG_CONFIG" DESTDIR="$dest/stage") \
          >"$dest/build.log" 2>&1; then
        echo "$commit" >"$dest/commit"
        echo "kafka_fdw $version: built in $((SECONDS - t0)) s"
      else
        tail -20 "$dest/build.log"
        cp "$dest/build.log" "$out/build-$version.log"
        echo "$version: does not build on PostgreSQL $major (log: $out/build-$version.log)" >>"$out/skipped"
        rm -rf "$dest"
        rc=1
      fi
    fi
    rm -rf "$src"
  fi
  exec 8>&-
  return "$rc"
}

releases | while read -r version commit majors; do
  if ! [[ " $majors " == *" $major "* ]]; then
    echo "$version: not a release for PostgreSQL $major (made for $majors)" >>"$out/skipped"
    continue
  fi
  build_release "$version" "$commit" || continue
  rm -rf "$out/releases/$version"
  cp -a "$cache/$version-pg$major/stage" "$out/releases/$version"
done

# The tree's build, installed the same way.
echo "the tree: make install DESTDIR=$out/current"
make -s -C "$ROOT" install PG_CONFIG="$PG_CONFIG" DESTDIR="$out/current" >"$out/current.log" 2>&1 \
  || { tail -20 "$out/current.log"; exit 1; }

# The private installation: a copy of the binaries' parent directory and of
# the share directory, without kafka_fdw's files (each test run installs
# the ones it means).
inst=$(dirname "$bindir")
rm -rf "$out/prefix"
mkdir -p "$out/prefix$inst" "$out/prefix$sharedir"
cp -a "$inst/." "$out/prefix$inst/"
cp -a "$sharedir/." "$out/prefix$sharedir/"
mkdir -p "$out/prefix$libdir"
[ -d "$libdir" ] && [ "${libdir#"$inst"/}" = "$libdir" ] && cp -a "$libdir/." "$out/prefix$libdir/"
rm -f "$out/prefix$libdir/kafka_fdw.so" "$out/prefix$sharedir"/extension/kafka_fdw[.-]* "$out/prefix$bindir/kafka_copy"
echo "$out/prefix$inst" >"$out/install_path"
echo "$out/prefix$libdir" >"$out/libdir"
echo "$out/prefix$sharedir" >"$out/sharedir"
echo "private installation in $out/prefix; releases: $(ls "$out/releases" | tr '\n' ' ')"
sed 's/^/skipped: /' "$out/skipped"
