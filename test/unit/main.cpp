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
// Each test runs in a child process of its own: a test that crashes (a
// librdkafka bug, say) or takes longer than UNIT_TEST_TIMEOUT seconds
// (default 60) is reported as failed, and the tests after it still run, so a
// hang in the Kafka core can never block CI.
#include "framework.hpp"
#include "kafka_helpers.hpp"

#include "kafka/errors.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace unit {

std::vector<TestCase> &Registry() {
    static std::vector<TestCase> tests;
    return tests;
}

namespace {

std::vector<std::string> *g_failures = nullptr;  // of the running test
std::mutex g_mu;                                  // guards g_failures

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

namespace {

// Runs one test in this process and prints its result; true if it passed.
bool RunOne(const unit::TestCase &tc, bool timing) {
    std::vector<std::string> failures;
    {
        std::lock_guard<std::mutex> lk(unit::g_mu);
        unit::g_failures = &failures;
    }
    auto t0 = std::chrono::steady_clock::now();
    try {
        tc.fn();
    } catch (const unit::AbortTest &) {
        // REQUIRE recorded why
    } catch (const kafka_fdw::kafka::Error &e) {
        unit::RecordFailure(tc.file, tc.line, "uncaught kafka::Error " + unit::Describe(e));
    } catch (const std::exception &e) {
        unit::RecordFailure(tc.file, tc.line, std::string("uncaught exception: ") + e.what());
    } catch (...) {
        unit::RecordFailure(tc.file, tc.line, "uncaught exception of unknown type");
    }
    {
        std::lock_guard<std::mutex> lk(unit::g_mu);
        unit::g_failures = nullptr;
    }
    if (failures.empty()) {
        std::printf("ok - %s\n", tc.name);
    } else {
        std::printf("not ok - %s\n", tc.name);
        for (const auto &f : failures) std::printf("    %s\n", f.c_str());
    }
    if (timing)
        std::printf("    # %lld ms\n", static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                  std::chrono::steady_clock::now() - t0)
                                                                  .count()));
    std::fflush(stdout);
    return failures.empty();
}

}  // namespace

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : nullptr;
    int limit_s = 60;
    if (const char *t = std::getenv("UNIT_TEST_TIMEOUT"))
        if (std::atoi(t) > 0) limit_s = std::atoi(t);

    const char *run_disabled = std::getenv("UNIT_RUN_DISABLED");
    bool with_disabled = run_disabled && std::strcmp(run_disabled, "1") == 0;
    bool timing = std::getenv("UNIT_TIMING") != nullptr;

    int passed = 0, failed = 0;
    for (const unit::TestCase &tc : unit::Registry()) {
        if (filter && !std::strstr(tc.name, filter)) continue;
        if (tc.disabled && !with_disabled) {
            std::printf("# disabled: %s (known bug; UNIT_RUN_DISABLED=1 runs it)\n", tc.name);
            continue;
        }
        std::fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            std::perror("fork");
            return 1;
        }
        if (pid == 0) {
            alarm(static_cast<unsigned>(limit_s));  // the default action ends the child
            bool ok = RunOne(tc, timing);
            std::fflush(stdout);
            std::_Exit(ok ? 0 : 1);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passed++;
        } else if (WIFEXITED(status)) {
            failed++;  // the child printed why
        } else {
            failed++;
            int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
            std::printf("not ok - %s\n", tc.name);
            if (sig == SIGALRM)
                std::printf("    timed out after %d s (UNIT_TEST_TIMEOUT)\n", limit_s);
            else
                std::printf("    the test process was killed by signal %d (%s)\n", sig, strsignal(sig));
            std::fflush(stdout);
        }
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
