// libFuzzer harness: the JSON decoder (src/format/json.cpp) on arbitrary
// message values, the way a json-format scan uses it: one reader reused from
// message to message (its arena too), wanted members found or not, array
// members converted to array literals, strings checked for UTF-8.
//
// Invariants beyond "no crash, no sanitizer report":
// - every value the reader reports lies inside the message (raw text) or its
//   arena (unescaped strings);
// - any bytes written as a JSON string by AppendJsonString (what INSERT and
//   the headers column write) read back as exactly those bytes.
#include "format/json.hpp"

#include "fuzz_check.hpp"

#include <cstdint>
#include <cstring>
#include <string>

using namespace kafka_fdw::format;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = reinterpret_cast<const char *>(data);
    static JsonObjectReader reader({"id", "name", "a", "v", "", "\xC3\xA9", "tags", "meta"});
    static std::string scratch;

    if (reader.Parse(s, size)) {
        for (size_t i = 0; i < 8; i++) {
            if (!reader.Found(i)) continue;
            const JsonValue &v = reader.Value(i);
            FUZZ_CHECK(v.raw >= s && v.raw + v.raw_len <= s + size);
            fuzz::Touch(v.data, v.len);
            if (v.type == JsonType::String) {
                FUZZ_CHECK(v.raw_len >= 2 && v.raw[0] == '"' && v.raw[v.raw_len - 1] == '"');
                IsValidUtf8(v.data, v.len);
            } else {
                FUZZ_CHECK(v.data == v.raw && v.len == v.raw_len);
            }
            if (v.type == JsonType::Array) FUZZ_CHECK(JsonArrayToPgArray(v.data, v.len, scratch));
        }
    } else {
        FUZZ_CHECK(!reader.error().empty());
    }
    JsonArrayToPgArray(s, size, scratch);
    IsValidUtf8(s, size);

    // Round trip of a string: {"v": <the input as a JSON string>}.
    std::string doc = "{\"v\": ";
    AppendJsonString(doc, s, size);
    doc += "}";
    FUZZ_CHECK(JsonNeedsEscape(s, size) == (doc.size() != size + 2 + 7));
    FUZZ_CHECK(reader.Parse(doc.data(), doc.size()));
    FUZZ_CHECK(reader.Found(3));
    const JsonValue &v = reader.Value(3);
    FUZZ_CHECK(v.type == JsonType::String && v.len == size && memcmp(v.data, s, size) == 0);
    return 0;
}
