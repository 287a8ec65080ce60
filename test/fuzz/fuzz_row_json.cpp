// libFuzzer harness: the row encoder (src/format/row_json.cpp), values as
// text -> the JSON object row_to_json writes, as INSERT and the CDC worker
// (trusted text: an output function wrote it) and `kafka_copy produce`
// (validated text: the user's) run it.  One writer, reused from row to row.
//
// Input: a header byte, one byte per field (its kind), then the values
// (split at 0x1F; missing ones are empty).
//   [0] bits 0-2: fields - 1 (1..8); bit 3: validated (an error string)
//   per field: bits 0-3 the spec (kSpecs, mod its size), bit 7 SQL NULL
// A json field whose text is not one JSON value is written as a string
// instead (the callers give json/jsonb's output, which is JSON).
//
// Invariants beyond "no crash, no sanitizer report":
// - the row is one JSON object per the core's reader (JsonObjectReader),
//   with every field as a member of the type its kind writes (null for
//   NULL), the text of strings and dates reading back as given; bytes
//   before the row are untouched;
// - trusted text is never refused;
// - validated text: a refusal leaves the buffer as it was, names a non-NULL
//   field and says why; a row accepted is written as for trusted text; the
//   same holds for AppendValue of each value alone.
#include "format/json.hpp"
#include "format/row_json.hpp"

#include "fuzz_check.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace kafka_fdw::format;

namespace {

JsonSpec S(JsonKind kind, const JsonSpec *elem = nullptr, char delim = 0) {
    JsonSpec s{};
    s.kind = kind;
    s.elem = elem;
    s.delim = delim;
    return s;
}

const JsonSpec kString = S(JsonKind::String), kNumber = S(JsonKind::Number), kBool = S(JsonKind::Bool),
               kDate = S(JsonKind::Date), kTs = S(JsonKind::Timestamp), kTsTz = S(JsonKind::TimestampTz);
// (x bool, y timestamptz, z date[])
const JsonSpec kDates = S(JsonKind::Array, &kDate);
const char *const kInnerNames[] = {"\"x\":", "\"y\":", "\"z\":"};
const JsonSpec kInnerFields[] = {kBool, kTsTz, kDates};
JsonSpec Composite(int n, const char *const *names, const JsonSpec *fields) {
    JsonSpec s = S(JsonKind::Composite);
    s.nfields = n;
    s.field_names = names;
    s.fields = fields;
    return s;
}
const JsonSpec kInner = Composite(3, kInnerNames, kInnerFields);
// (a numeric, "b\"" text, c text[], d inner, e timestamp[])
const JsonSpec kStrings = S(JsonKind::Array, &kString), kTsArr = S(JsonKind::Array, &kTs);
const char *const kOuterNames[] = {"\"a\":", "\"b\\\"\":", "\"c\":", "\"d\":", "\"e\":"};
const JsonSpec kOuterFields[] = {kNumber, kString, kStrings, kInner, kTsArr};
const JsonSpec kOuter = Composite(5, kOuterNames, kOuterFields);
const JsonSpec kInners = S(JsonKind::Array, &kInner);

const JsonSpec kJson = S(JsonKind::Json);
const JsonSpec kSpecs[] = {
    kString, kNumber, kBool, kJson, kDate, kTs, kTsTz,
    S(JsonKind::Array, &kNumber), kStrings, S(JsonKind::Array, &kBool), S(JsonKind::Array, &kTsTz, ';'),
    S(JsonKind::Vector, &kNumber), kOuter, kInners, Composite(0, nullptr, nullptr),
};
constexpr size_t kNSpecs = sizeof(kSpecs) / sizeof(kSpecs[0]);
const char *const kNames[8] = {"\"f0\":", "\"f1\":", "\"\":", "\"\xC3\xA9\":", "\"f\\n\":", "\"f5\":", "\"f6\":",
                               "\"f7\":"};
const char *const kMembers[8] = {"f0", "f1", "", "\xC3\xA9", "f\n", "f5", "f6", "f7"};

// True if [s, s+n) is one JSON value (with white space around it).
bool IsJsonValue(JsonObjectReader &r, std::string &doc, const char *s, size_t n) {
    doc = "{\"v\":";
    doc.append(s, n);
    doc += "}";
    if (!r.Parse(doc.data(), doc.size()) || !r.Found(0)) return false;
    const char *b = doc.data() + 5, *e = doc.data() + doc.size() - 1;
    const JsonValue &v = r.Value(0);
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (b < e && ws(*b)) b++;
    while (e > b && ws(e[-1])) e--;
    return v.raw == b && v.raw + v.raw_len == e;
}

// The JSON type a kind writes for a non-NULL value (String: or a string).
JsonType TypeOf(JsonKind k) {
    switch (k) {
    case JsonKind::Number: return JsonType::Number;
    case JsonKind::Bool: return JsonType::Bool;
    case JsonKind::Array:
    case JsonKind::Vector: return JsonType::Array;
    case JsonKind::Composite: return JsonType::Object;
    default: return JsonType::String;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static RowJsonWriter writer;
    static JsonObjectReader check({"v"});
    static JsonObjectReader reader(std::vector<std::string>(kMembers, kMembers + 8));
    static std::string doc;
    if (size < 1) return 0;
    size_t n = (data[0] & 7) + 1;
    bool validated = (data[0] & 8) != 0;
    if (size < 1 + n) return 0;
    const char *s = reinterpret_cast<const char *>(data) + 1 + n, *end = reinterpret_cast<const char *>(data) + size;

    JsonField fields[8];
    std::vector<std::string> texts(n);  // each value in its own allocation: ASan sees a read past it
    for (size_t i = 0; i < n; i++) {
        const char *q = s < end ? static_cast<const char *>(memchr(s, '\x1f', static_cast<size_t>(end - s))) : nullptr;
        const char *e = q ? q : end;
        if (s < e) texts[i].assign(s, static_cast<size_t>(e - s));
        s = q ? q + 1 : end;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned b = data[1 + i];
        JsonField &f = fields[i];
        f.name = kNames[i];
        f.name_len = strlen(kNames[i]);
        f.spec = &kSpecs[(b & 15) % kNSpecs];
        f.null = (b & 128) != 0;
        f.data = texts[i].data();
        f.len = texts[i].size();
        if (f.spec->kind == JsonKind::Json && !IsJsonValue(check, doc, f.data, f.len)) f.spec = &kString;
    }

    const std::string prefix = "row: ";
    std::string out = prefix, error = "unset";
    size_t failed = n;
    bool ok = writer.AppendObject(out, fields, n, validated ? &error : nullptr, validated ? &failed : nullptr);
    FUZZ_CHECK(ok || validated);
    if (!ok) {
        FUZZ_CHECK(out == prefix);
        FUZZ_CHECK(failed < n && !fields[failed].null && !error.empty() && error != "unset");
        // the field alone is refused too, appending nothing
        std::string one = "x", why;
        const JsonField &f = fields[failed];
        FUZZ_CHECK(!writer.AppendValue(one, *f.spec, f.data, f.len, &why));
        FUZZ_CHECK(one == "x" && why == error);
        return 0;
    }
    FUZZ_CHECK(out.compare(0, prefix.size(), prefix) == 0);
    const char *row = out.data() + prefix.size();
    size_t row_len = out.size() - prefix.size();
    if (validated) {  // accepted: as trusted text writes it
        std::string trusted;
        FUZZ_CHECK(writer.AppendObject(trusted, fields, n));
        FUZZ_CHECK(trusted == std::string(row, row_len));
    }
    if (!reader.Parse(row, row_len)) {
        // array_out nests at most 6 dimensions; deeper text still makes JSON, but past the reader's limit
        FUZZ_CHECK(reader.error().find("nesting too deep") != std::string::npos);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const JsonField &f = fields[i];
        FUZZ_CHECK(reader.Found(i));
        const JsonValue &v = reader.Value(i);
        if (f.null) {
            FUZZ_CHECK(v.type == JsonType::Null);
            continue;
        }
        JsonKind k = f.spec->kind;
        if (k == JsonKind::Json) continue;  // the text as it is (any type)
        JsonType t = TypeOf(k);
        // a number may be NaN/Infinity; arrays, composites (trusted) a string of the malformed text
        FUZZ_CHECK(v.type == t || v.type == JsonType::String);
        if (k == JsonKind::String || k == JsonKind::Date)
            FUZZ_CHECK(v.len == f.len && (f.len == 0 || memcmp(v.data, f.data, f.len) == 0));
        if (validated && (k == JsonKind::Array || k == JsonKind::Composite || k == JsonKind::Vector))
            FUZZ_CHECK(v.type == t);
    }
    // each value alone: validated text refused appends nothing, else as trusted
    for (size_t i = 0; i < n; i++) {
        const JsonField &f = fields[i];
        if (f.null) continue;
        std::string a = "x", b = "x", why;
        FUZZ_CHECK(writer.AppendValue(a, *f.spec, f.data, f.len));
        if (writer.AppendValue(b, *f.spec, f.data, f.len, &why)) FUZZ_CHECK(a == b);
        else FUZZ_CHECK(b == "x" && !why.empty());
    }
    return 0;
}
