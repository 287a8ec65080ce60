// Waiting on Kafka without ever blocking the host.  Every wait in the core is
// a loop of slices of at most kSliceMs; between slices the host's interrupt
// check runs (in the backend: a check of QueryCancelPending/ProcDiePending that
// throws Interrupted, turned into CHECK_FOR_INTERRUPTS() by the glue once the
// C++ frames are gone).
#pragma once
#include "cpp_only.hpp"

#include <algorithm>
#include <chrono>

namespace kafka_fdw::kafka {

constexpr int kSliceMs = 100;

// Installed once by the host; throws Interrupted when the host wants to stop.
using InterruptCheck = void (*)();
void SetInterruptCheck(InterruptCheck check);
void CheckInterrupts();

class Deadline {
public:
    explicit Deadline(int timeout_ms)
        : at_(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms)) {}
    bool Expired() const { return std::chrono::steady_clock::now() >= at_; }
    int RemainingMs() const {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        at_ - std::chrono::steady_clock::now())
                        .count();
        return left < 0 ? 0 : static_cast<int>(left);
    }
    // The next slice: at most kSliceMs, never past the deadline.
    int SliceMs() const { return std::max(1, std::min(kSliceMs, RemainingMs())); }

private:
    std::chrono::steady_clock::time_point at_;
};

}  // namespace kafka_fdw::kafka
