// What kafka.lag and the stall warnings are computed from, as plain data and
// arithmetic (no Postgres header: unit-tested in test/unit/test_progress.cpp).
// The structs live in the workers' shared memory (cdc/shmem.hpp) and in the
// sink worker's own list; times are microseconds (TimestampTz).
//   RateRing    events per second over the last minute: six 10-second
//               buckets, written by the one process that counts
//   StallWatch  "has not advanced for N seconds while it had work to do",
//               once per stall, and the recovery
#pragma once

#include <cstdint>

namespace kafka_fdw::cdc {

constexpr int64_t kRateBucketUs = 10 * 1000 * 1000;
constexpr int kRateBuckets = 6;

struct RateRing {
    int64_t newest;                 // the bucket number (time / 10 s) of the newest bucket
    uint64_t counts[kRateBuckets];  // counts[b % 6] for buckets newest-5 .. newest
};

// Counts n events at now_us.
inline void RateAdd(RateRing *r, int64_t now_us, uint64_t n) {
    int64_t b = now_us / kRateBucketUs;
    if (b > r->newest) {
        // the buckets between the newest and b are empty (at most all six)
        for (int64_t k = r->newest + 1; k <= b && k <= r->newest + kRateBuckets; k++) r->counts[k % kRateBuckets] = 0;
        if (b - r->newest > kRateBuckets)
            for (int i = 0; i < kRateBuckets; i++) r->counts[i] = 0;
        r->newest = b;
    }
    if (b > r->newest - kRateBuckets) r->counts[b % kRateBuckets] += n;  // (an older bucket is gone: dropped)
}

// Events per second over the last minute at now_us: the buckets of the
// last 50-60 s, divided by the time they cover.  since_us: when counting
// began (the window is no longer than that; 0: unknown).
inline double RatePerSecond(const RateRing &r, int64_t now_us, int64_t since_us) {
    int64_t b = now_us / kRateBucketUs;
    uint64_t sum = 0;
    for (int64_t k = b - (kRateBuckets - 1); k <= b; k++)
        if (k <= r.newest && k > r.newest - kRateBuckets && k >= 0) sum += r.counts[k % kRateBuckets];
    int64_t window = (kRateBuckets - 1) * kRateBucketUs + (now_us - b * kRateBucketUs);
    if (since_us > 0 && now_us - since_us < window) window = now_us - since_us;
    if (window < 1000 * 1000) window = 1000 * 1000;  // at least a second: no spike right after a start
    return (double)sum * 1e6 / (double)window;
}

// Watches one pipeline or sink.  position: a value that changes whenever it
// advances (a confirmed LSN, a count of successful batches); has_work:
// whether something waits for it now.  Not advancing with nothing to do is
// not a stall.
struct StallWatch {
    uint64_t position;
    int64_t moved_at;       // when position last changed (first look: then)
    int64_t waiting_since;  // when work was first seen not taken up; 0: none waiting
    bool warned;            // the stall was reported (its recovery is reported too)
};

enum class StallEvent { None, Stalled, Recovered };

// One look at now_us; after_us: the stall threshold (0: no warnings).
// *for_us: on Stalled, how long it has not advanced with work waiting; on
// Recovered, how long the stall lasted.
inline StallEvent StallStep(StallWatch *w, uint64_t position, bool has_work, int64_t now_us, int64_t after_us,
                            int64_t *for_us) {
    StallEvent ev = StallEvent::None;
    if (w->moved_at == 0) {
        w->position = position;
        w->moved_at = now_us;
    } else if (position != w->position) {
        if (w->warned) {
            ev = StallEvent::Recovered;
            *for_us = now_us - w->waiting_since;
        }
        w->position = position;
        w->moved_at = now_us;
        w->waiting_since = 0;
        w->warned = false;
    }
    if (!has_work) {
        // caught up without moving (the work went away): over as well
        if (w->warned) {
            ev = StallEvent::Recovered;
            *for_us = now_us - w->waiting_since;
        }
        w->waiting_since = 0;
        w->warned = false;
        return ev;
    }
    if (w->waiting_since == 0) w->waiting_since = now_us;
    if (!w->warned && after_us > 0 && now_us - w->waiting_since >= after_us) {
        w->warned = true;
        *for_us = now_us - w->waiting_since;
        return StallEvent::Stalled;
    }
    return ev;
}

}  // namespace kafka_fdw::cdc
