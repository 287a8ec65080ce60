// libFuzzer harness: schema inference for IMPORT FOREIGN SCHEMA
// (src/format/infer.cpp), which decodes a sample of a topic's messages
// with nlohmann::json and classifies their members and keys.
//
// Input: messages separated by the byte 0x1e (record separator); in each,
// the part before the first 0x1f (unit separator) is the key (no key when
// there is none), an empty value is a tombstone.  All of one input go to one
// inferrer, as one IMPORT's sample.
//
// Invariants beyond "no crash, no sanitizer report": every column has a
// type name, a non-empty column name of at most 63 bytes (PostgreSQL's
// NAMEDATALEN - 1); every message is counted.
#include "format/infer.hpp"

#include "fuzz_check.hpp"

#include <cstdint>
#include <cstring>
#include <string>

using namespace kafka_fdw::format;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = reinterpret_cast<const char *>(data);
    const char *end = s + size;
    SchemaInferrer inf;
    size_t n = 0;
    for (const char *p = s; p <= end;) {
        const char *rec_end = static_cast<const char *>(memchr(p, 0x1e, static_cast<size_t>(end - p)));
        if (!rec_end) rec_end = end;
        const char *sep = static_cast<const char *>(memchr(p, 0x1f, static_cast<size_t>(rec_end - p)));
        const char *value = sep ? sep + 1 : p;
        size_t value_len = static_cast<size_t>(rec_end - value);
        inf.AddMessage(value, value_len, value_len == 0, p, sep ? static_cast<size_t>(sep - p) : 0, !sep);
        n++;
        p = rec_end + 1;
    }
    FUZZ_CHECK(inf.messages() == n);
    (void)inf.format();
    for (const InferredColumn &c : inf.columns()) {
        FUZZ_CHECK(PgTypeName(c.type) != nullptr);
        std::string col = ColumnNameFor(c.member);
        FUZZ_CHECK(!col.empty() && col.size() <= 63);
        (void)ClassifyString(c.member);
    }
    return 0;
}
