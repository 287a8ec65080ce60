// Shared by the libFuzzer harnesses (test/fuzz/fuzz_*.cpp): FUZZ_CHECK
// aborts on a broken invariant, so libFuzzer reports it like a crash and
// saves the input.  The sanitizers (ASan, UBSan with -fno-sanitize-recover)
// report memory errors and undefined behaviour the same way.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                  \
        }                                                                                  \
    } while (0)

namespace fuzz {

// Reads every byte of [p, p+n): ASan reports it if any is outside live memory.
inline unsigned Touch(const char *p, size_t n) {
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) sum += static_cast<unsigned char>(p[i]);
    return sum;
}

}  // namespace fuzz
