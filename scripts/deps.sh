#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test kafka_fdw:
# Debian packages only (the broker itself comes from Maven Central, see
# test/kafka_broker.sh).  Does nothing when everything is present.
set -euo pipefail
# (PG_MAJOR: another major's packages, inside its root: see test/pg_root.sh)
M=${PG_MAJOR:-15}
PKGS=(postgresql-$M postgresql-server-dev-$M postgresql-client-$M librdkafka-dev libssl-dev
      nlohmann-json3-dev libipc-run-perl kcat g++ make python3 bc default-jdk-headless maven)
# clang: libFuzzer harnesses (mk/fuzz.mk, test/fuzz), run on the host only
[ "$M" = 15 ] && PKGS+=(clang-14 libclang-rt-14-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A JDK and maven may come from elsewhere than Debian.
if command -v java >/dev/null && command -v javac >/dev/null; then
  missing=("${missing[@]/default-jdk-headless}")
fi
if command -v mvn >/dev/null; then missing=("${missing[@]/maven}"); fi
read -r -a missing <<<"${missing[*]}"
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo)
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
