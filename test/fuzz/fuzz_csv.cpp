// libFuzzer harness: the CSV decoder of message values (src/format/csv.cpp)
// with COPY's options as a table may set them (delimiter, quote, escape:
// any single byte but NUL; the NULL string: any text).
//
// Input: 4 option bytes, then the NULL string, then the message.
//   [0] delimiter  [1] quote  [2] escape (0: the quote, as when not set)
//   [3] length of the NULL string (mod 8)
// Shorter inputs are messages with the default options (, " " and "").
//
// Invariants beyond "no crash, no sanitizer report": every field lies inside
// the reader's buffer; with options that cannot collide, the fields
// re-encoded by AppendCsvField (what INSERT writes) decode to the same
// fields.
#include "format/csv.hpp"

#include "fuzz_check.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace kafka_fdw::format;

namespace {

struct Field {
    bool is_null;
    std::string text;
};

std::vector<Field> Fields(const CsvReader &r) {
    std::vector<Field> out;
    for (size_t i = 0; i < r.size(); i++) out.push_back({r.IsNull(i), std::string(r.Data(i), r.Len(i))});
    return out;
}

// Options under which a record written by AppendCsvField must read back:
// three distinct characters, none of them a line end, and a NULL string
// that holds none of them.
bool Separable(const CsvOptions &o) {
    auto special = [&o](char c) { return c == o.delimiter || c == o.quote || c == o.escape || c == '\n' || c == '\r'; };
    if (o.delimiter == o.quote || o.delimiter == o.escape) return false;
    if (o.delimiter == '\n' || o.delimiter == '\r' || o.quote == '\n' || o.quote == '\r' || o.escape == '\n' ||
        o.escape == '\r')
        return false;
    for (char c : o.null_string)
        if (special(c)) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    CsvOptions o;
    const char *s = reinterpret_cast<const char *>(data);
    if (size >= 4) {
        if (s[0]) o.delimiter = s[0];
        if (s[1]) o.quote = s[1];
        o.escape = s[2] ? s[2] : o.quote;
        size_t nlen = static_cast<unsigned char>(s[3]) % 8;
        s += 4;
        size -= 4;
        if (nlen > size) nlen = size;
        o.null_string.assign(s, nlen);
        s += nlen;
        size -= nlen;
    }
    CsvReader r(o);
    if (!r.Parse(s, size)) {
        FUZZ_CHECK(!r.error().empty());
        return 0;
    }
    FUZZ_CHECK(r.size() >= 1);
    for (size_t i = 0; i < r.size(); i++) {
        fuzz::Touch(r.Data(i), r.Len(i));
        if (r.IsNull(i)) FUZZ_CHECK(r.Len(i) == o.null_string.size());
    }
    if (!Separable(o)) return 0;

    std::vector<Field> first = Fields(r);
    std::string record;
    for (size_t i = 0; i < first.size(); i++) {
        if (i) record.push_back(o.delimiter);
        if (first[i].is_null) record += o.null_string;
        else AppendCsvField(record, first[i].text.data(), first[i].text.size(), o);
    }
    FUZZ_CHECK(r.Parse(record.data(), record.size()));
    std::vector<Field> again = Fields(r);
    FUZZ_CHECK(again.size() == first.size());
    for (size_t i = 0; i < first.size(); i++)
        FUZZ_CHECK(again[i].is_null == first[i].is_null && again[i].text == first[i].text);
    return 0;
}
