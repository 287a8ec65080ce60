// Runs the registered tests: all of them, or those whose name contains argv[1].
//
//   ok - name
//   not ok - name
//       file:line: message
//   ...
//   N passed, N failed
//
// Exit code 0 only if no test failed.  DISABLED_TEST tests (known bugs) are
// listed as "# disabled: name" and run only when UNIT_RUN_DISABLED=1.
// UNIT_TIMING=1 prints each test's duration.
// A watchdog ends the run (as a failure) if one test takes longer than
// UNIT_TEST_TIMEOUT seconds (default 60), so a hang in the Kafka core can
// never block CI.
#include "framework.hpp"
#include "kafka_helpers.hpp"

#include "kafka/errors.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace unit {

std::vector<TestCase> &Registry() {
    static std::vector<TestCase> tests;
    return tests;
}

namespace {

std::vector<std::string> *g_failures = nullptr;  // of the running test
std::mutex g_mu;                                  // guards g_failures

// Ends the process if the running test overstays its time.
class Watchdog {
public:
    explicit Watchdog(int limit_s) : limit_s_(limit_s), thread_([this] { Run(); }) {}
    ~Watchdog() {
        {
            std::lock_guard<std::mutex> lk(mu_);
            quit_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void Arm(const char *name, int passed, int failed) {
        std::lock_guard<std::mutex> lk(mu_);
        name_ = name;
        passed_ = passed;
        failed_ = failed;
        deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(limit_s_);
        armed_ = true;
        cv_.notify_all();
    }
    void Disarm() {
        std::lock_guard<std::mutex> lk(mu_);
        armed_ = false;
    }

private:
    void Run() {
        std::unique_lock<std::mutex> lk(mu_);
        while (!quit_) {
            if (!armed_) {
                cv_.wait(lk);
                continue;
            }
            if (cv_.wait_until(lk, deadline_) == std::cv_status::timeout && armed_ && !quit_ &&
                std::chrono::steady_clock::now() >= deadline_) {
                std::printf("not ok - %s\n    timed out after %d s (UNIT_TEST_TIMEOUT)\n", name_,
                            limit_s_);
                std::printf("%d passed, %d failed\n", passed_, failed_ + 1);
                std::fflush(stdout);
                std::_Exit(1);
            }
        }
    }

    int limit_s_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool quit_ = false;
    bool armed_ = false;
    const char *name_ = "";
    int passed_ = 0, failed_ = 0;
    std::chrono::steady_clock::time_point deadline_;
    std::thread thread_;
};

}  // namespace

void RecordFailure(const char *file, int line, const std::string &message) {
    std::lock_guard<std::mutex> lk(g_mu);
    std::string where = std::string(file) + ":" + std::to_string(line) + ": " + message;
    if (g_failures)
        g_failures->push_back(where);
    else
        std::fprintf(stderr, "failure outside of a test: %s\n", where.c_str());
}

}  // namespace unit

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : nullptr;
    int limit_s = 60;
    if (const char *t = std::getenv("UNIT_TEST_TIMEOUT"))
        if (std::atoi(t) > 0) limit_s = std::atoi(t);

    const char *run_disabled = std::getenv("UNIT_RUN_DISABLED");
    bool with_disabled = run_disabled && std::strcmp(run_disabled, "1") == 0;
    bool timing = std::getenv("UNIT_TIMING") != nullptr;

    int passed = 0, failed = 0;
    unit::Watchdog watchdog(limit_s);
    for (const unit::TestCase &tc : unit::Registry()) {
        if (filter && !std::strstr(tc.name, filter)) continue;
        if (tc.disabled && !with_disabled) {
            std::printf("# disabled: %s (known bug; UNIT_RUN_DISABLED=1 runs it)\n", tc.name);
            continue;
        }
        std::vector<std::string> failures;
        {
            std::lock_guard<std::mutex> lk(unit::g_mu);
            unit::g_failures = &failures;
        }
        watchdog.Arm(tc.name, passed, failed);
        auto t0 = std::chrono::steady_clock::now();
        try {
            tc.fn();
        } catch (const unit::AbortTest &) {
            // REQUIRE recorded why
        } catch (const kafka_fdw::kafka::Error &e) {
            unit::RecordFailure(tc.file, tc.line,
                                "uncaught kafka::Error " + unit::Describe(e));
        } catch (const std::exception &e) {
            unit::RecordFailure(tc.file, tc.line, std::string("uncaught exception: ") + e.what());
        } catch (...) {
            unit::RecordFailure(tc.file, tc.line, "uncaught exception of unknown type");
        }
        watchdog.Disarm();
        {
            std::lock_guard<std::mutex> lk(unit::g_mu);
            unit::g_failures = nullptr;
        }
        if (failures.empty()) {
            passed++;
            std::printf("ok - %s\n", tc.name);
        } else {
            failed++;
            std::printf("not ok - %s\n", tc.name);
            for (const auto &f : failures) std::printf("    %s\n", f.c_str());
        }
        if (timing)
            std::printf("    # %lld ms\n",
                        static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::steady_clock::now() - t0)
                                                   .count()));
        std::fflush(stdout);
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
