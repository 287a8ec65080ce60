#!/usr/bin/env bash
# A scan's speed under different prefetch settings, on the installed
# librdkafka (why count(*) is slower on some majors: bench/README.md,
# "Scan prefetch and librdkafka's version").
#
#   bash bench/scan_prefetch.sh [N]            N = 1,000,000 messages
#   PG_MAJOR=17 bash bench/scan_prefetch.sh    the same inside 17's Debian root
#
# Seeds one 3-partition topic as bench/run.sh does, then times
# `SELECT count(*)` and `SELECT sum(id), count(name)` (best of BENCH_RUNS,
# interleaved) with the server's defaults and with each variant below set as
# server options (they override the scan's defaults, src/fdw/connection.cpp
# ReaderDefaults). kcat's plain read is printed for reference.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-1000000}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 10)) || die "N must be an integer >= 10, got '$N'"

bench_init scan_prefetch
DATA=$TMP/data.txt
on_exit_stop wipe "$DATA"

section "set-up (N=$N, best of $RUNS runs)"
say_machine
say_extension
say_kcat
start_services
say "librdkafka: $(dpkg-query -W -f '${Version}' librdkafka1 2>/dev/null || echo '?') (Debian package librdkafka1)"

"${PSQL[@]}" >/dev/null <<SQL || die "set-up failed"
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$B');
SELECT kafka.create_topic('kafka', 'bench', 3);
CREATE FOREIGN TABLE bench_events (id int, name text) SERVER kafka OPTIONS (topic 'bench', format 'json');
SQL

section "seeding"
generate_data "$N"
produce bench <"$DATA"
check_topic bench "$N" 10 1
rm -f "$DATA"

# name | server options (ADD ...) or "" for the defaults
VARIANTS=(
    "defaults|"
    "fetch.queue.backoff.ms=1|\"fetch.queue.backoff.ms\" '1'"
    "fetch.queue.backoff.ms=1000 (librdkafka's default; the scan wakes the fetchers)|\"fetch.queue.backoff.ms\" '1000'"
    "queue 50000 msgs / 16 MB|\"queued.min.messages\" '50000', \"queued.max.messages.kbytes\" '16384'"
)
# fetch.queue.backoff.ms exists from librdkafka 2.4 on
if ! "${PSQL[@]}" -c "ALTER SERVER kafka OPTIONS (ADD \"fetch.queue.backoff.ms\" '1')" 2>/dev/null; then
    say "(this librdkafka has no fetch.queue.backoff.ms: those variants are skipped)"
    VARIANTS=("${VARIANTS[0]}" "${VARIANTS[3]}")
else
    "${PSQL[@]}" -c "ALTER SERVER kafka OPTIONS (DROP \"fetch.queue.backoff.ms\")"
fi

declare -A BEST
SUM=$((N * (N + 1) / 2))
for ((r = 1; r <= RUNS; r++)); do
    for v in "${VARIANTS[@]}"; do
        name=${v%%|*}; opts=${v#*|}
        if [[ -n $opts ]]; then "${PSQL[@]}" -c "ALTER SERVER kafka OPTIONS (ADD $opts)" || die "options $opts"; fi
        for q in count decode; do
            if [[ $q == count ]]; then sql='SELECT count(*) FROM bench_events'; exp=$N
            else sql='SELECT sum(id), count(name) FROM bench_events'; exp="$SUM|$N"; fi
            timed "$name $q" "$exp" "${PSQL[@]}" -At -c "$sql" || exit 1
            key="$name|$q"
            [[ -z ${BEST[$key]:-} || $ELAPSED -lt ${BEST[$key]} ]] && BEST[$key]=$ELAPSED
            say "  round $r  $q  $name: $ELAPSED ms"
        done
        if [[ -n $opts ]]; then
            drop=$(sed -E "s/(\"[a-z.]+\") '[^']*'/DROP \1/g" <<<"$opts")
            "${PSQL[@]}" -c "ALTER SERVER kafka OPTIONS ($drop)" || die "drop $drop"
        fi
    done
    timed "kcat" "$N" bash -c "'$KCAT' -C -b '$B' -t bench -e -q -o beginning | wc -l" || exit 1
    [[ -z ${BEST[kcat]:-} || $ELAPSED -lt ${BEST[kcat]} ]] && BEST[kcat]=$ELAPSED
    say "  round $r  kcat -C -e: $ELAPSED ms"
done

section "best of $RUNS (msg/s)"
printf '%-75s %12s %12s\n' "variant" "count(*)" "sum, count"
for v in "${VARIANTS[@]}"; do
    name=${v%%|*}
    printf '%-75s %12s %12s\n' "$name" "$(rate "$N" "${BEST[$name|count]}")" "$(rate "$N" "${BEST[$name|decode]}")"
done
printf '%-75s %12s\n' "kcat -C -e (plain)" "$(rate "$N" "${BEST[kcat]}")"
say_server_log
say_runtime
