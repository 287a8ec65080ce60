// The arithmetic behind kafka.lag and the stall warnings (src/cdc/progress.hpp).
#include "cdc/progress.hpp"

#include "framework.hpp"

namespace cdc = kafka_fdw::cdc;

namespace {
constexpr int64_t kS = 1000 * 1000;  // a second in microseconds
}

TEST(rate_counts_the_last_minute) {
    cdc::RateRing r{};
    int64_t t0 = 1000 * kS;  // a bucket boundary
    for (int s = 0; s < 60; s++) cdc::RateAdd(&r, t0 + s * kS, 10);  // 10/s for a minute
    CHECK_EQ(cdc::RatePerSecond(r, t0 + 60 * kS, 0), 10.0);
    // nothing for another minute: 0
    CHECK_EQ(cdc::RatePerSecond(r, t0 + 121 * kS, 0), 0.0);
    // a burst after a long silence: the old buckets are cleared
    cdc::RateAdd(&r, t0 + 1000 * kS, 600);
    CHECK_EQ(cdc::RatePerSecond(r, t0 + 1000 * kS, 0), 600.0 / 50.0);
}

TEST(rate_window_starts_with_counting) {
    cdc::RateRing r{};
    int64_t t0 = 1000 * kS + 3 * kS;
    cdc::RateAdd(&r, t0 + 2 * kS, 40);
    cdc::RateAdd(&r, t0 + 4 * kS, 40);
    // counting began at t0: 80 events in 4 s
    CHECK_EQ(cdc::RatePerSecond(r, t0 + 4 * kS, t0), 20.0);
    // at least a second: no spike right after a start
    CHECK_EQ(cdc::RatePerSecond(r, t0 + 4 * kS, t0 + 4 * kS - 1000), 80.0);
}

TEST(stall_needs_work_and_no_progress) {
    cdc::StallWatch w{};
    int64_t d = 0;
    const int64_t after = 10 * kS;
    int64_t t = 100 * kS;
    // idle, nothing to do: never a stall
    for (int i = 0; i < 30; i++) CHECK(cdc::StallStep(&w, 5, false, t + i * kS, after, &d) == cdc::StallEvent::None);
    // busy and advancing every second: never a stall
    t += 30 * kS;
    for (int i = 0; i < 30; i++)
        CHECK(cdc::StallStep(&w, 6 + i, true, t + i * kS, after, &d) == cdc::StallEvent::None);
    // work waits, no progress: one warning after 10 s, not repeated
    t += 30 * kS;
    int warnings = 0;
    for (int i = 0; i <= 30; i++) {
        cdc::StallEvent ev = cdc::StallStep(&w, 99, true, t + i * kS, after, &d);
        if (ev == cdc::StallEvent::Stalled) {
            warnings++;
            CHECK_EQ(i, 10);
            CHECK_EQ(d, 10 * kS);
        }
    }
    CHECK_EQ(warnings, 1);
    // it advances again: the recovery, once
    CHECK(cdc::StallStep(&w, 100, true, t + 40 * kS, after, &d) == cdc::StallEvent::Recovered);
    CHECK_EQ(d, 40 * kS);
    CHECK(cdc::StallStep(&w, 101, true, t + 41 * kS, after, &d) == cdc::StallEvent::None);
}

TEST(stall_off_and_work_gone) {
    cdc::StallWatch w{};
    int64_t d = 0;
    int64_t t = 100 * kS;
    // threshold 0: no warnings
    for (int i = 0; i < 100; i++) CHECK(cdc::StallStep(&w, 1, true, t + i * kS, 0, &d) == cdc::StallEvent::None);
    // a stall that ends because the work went away (without moving)
    cdc::StallWatch v{};
    CHECK(cdc::StallStep(&v, 1, true, t, kS, &d) == cdc::StallEvent::None);
    CHECK(cdc::StallStep(&v, 1, true, t + 2 * kS, kS, &d) == cdc::StallEvent::Stalled);
    CHECK(cdc::StallStep(&v, 1, false, t + 3 * kS, kS, &d) == cdc::StallEvent::Recovered);
    CHECK(cdc::StallStep(&v, 1, false, t + 4 * kS, kS, &d) == cdc::StallEvent::None);
}
