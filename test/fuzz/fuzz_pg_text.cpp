// libFuzzer harness: the readers of PostgreSQL's array and composite text
// (src/format/pg_text.cpp), which the CDC worker and the Debezium renderer
// run on every array/composite column pgoutput sends.  They write unescaped
// items into a caller's buffer "at least as long as the whole input": here
// it is exactly that long, in its own allocation, so ASan sees any write
// past it.
//
// Invariants beyond "no crash, no sanitizer report": the callers loop until
// End or Error, so each lexer must get there within a bounded number of
// tokens (one per input byte, plus the final one); items fit the buffer;
// Open/Close balance; VectorLexer's items are views into the input.
#include "format/pg_text.hpp"

#include "fuzz_check.hpp"

#include <cstdint>
#include <memory>

using namespace kafka_fdw::format::pgtext;

namespace {

void LexArray(const char *s, size_t size, char delim, char *buf) {
    ArrayLexer lex(s, size, delim);
    int depth = 0;
    for (size_t steps = 0;; steps++) {
        FUZZ_CHECK(steps <= size + 1);
        size_t n = 0;
        Token t = lex.Next(buf, &n);
        if (t == Token::End) {
            FUZZ_CHECK(depth == 0);
            return;
        }
        if (t == Token::Error) return;
        if (t == Token::Open) depth++;
        if (t == Token::Close) FUZZ_CHECK(--depth >= 0);
        if (t == Token::Item) {
            FUZZ_CHECK(n <= size);
            fuzz::Touch(buf, n);
        }
    }
}

void LexRecord(const char *s, size_t size, char *buf) {
    RecordLexer lex(s, size);
    for (size_t steps = 0;; steps++) {
        FUZZ_CHECK(steps <= size + 1);
        size_t n = 0;
        Token t = lex.Next(buf, &n);
        if (t == Token::End || t == Token::Error) return;
        FUZZ_CHECK(t == Token::Item || t == Token::Null);
        if (t == Token::Item) {
            FUZZ_CHECK(n <= size);
            fuzz::Touch(buf, n);
        }
    }
}

void LexVector(const char *s, size_t size) {
    VectorLexer lex(s, size);
    for (size_t steps = 0;; steps++) {
        FUZZ_CHECK(steps <= size + 1);
        const char *item = nullptr;
        size_t n = 0;
        Token t = lex.Next(&item, &n);
        if (t == Token::End) return;
        FUZZ_CHECK(t == Token::Item && n > 0 && item >= s && item + n <= s + size);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = reinterpret_cast<const char *>(data);
    // Exactly `size` bytes (new[0] is a valid, zero-length allocation).
    std::unique_ptr<char[]> buf(new char[size]);
    LexArray(s, size, ',', buf.get());
    LexArray(s, size, ';', buf.get());  // box[]: typdelim ';'
    LexRecord(s, size, buf.get());
    LexVector(s, size);
    return 0;
}
