// The row encoder (src/format/row_json.hpp) on texts as PostgreSQL 15's
// output functions write them, against what row_to_json writes for the same
// values; and Debezium's value encodings (src/format/debezium_value.hpp).
#include "format/debezium_value.hpp"
#include "format/json.hpp"
#include "format/row_json.hpp"

#include "framework.hpp"

#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using kafka_fdw::format::JsonField;
using kafka_fdw::format::JsonKind;
using kafka_fdw::format::JsonSpec;
using kafka_fdw::format::RowJsonWriter;
namespace enc = kafka_fdw::format::dbz;

namespace {

JsonSpec Spec(JsonKind kind, const JsonSpec *elem = nullptr, char delim = 0) {
    JsonSpec s{};
    s.kind = kind;
    s.elem = elem;
    s.delim = delim;
    return s;
}

// The JSON of one trusted value.
std::string Json(const JsonSpec &spec, const std::string &text) {
    RowJsonWriter w;
    std::string out;
    CHECK(w.AppendValue(out, spec, text.data(), text.size()));
    return out;
}

std::string Json(JsonKind kind, const std::string &text) { return Json(Spec(kind), text); }

// The JSON of one value read as kafka_copy's input: "error: <message>" when
// it is refused (and then nothing may have been appended).
std::string Strict(const JsonSpec &spec, const std::string &text) {
    RowJsonWriter w;
    std::string out = "x", error;
    if (w.AppendValue(out, spec, text.data(), text.size(), &error)) return out.substr(1);
    CHECK_EQ(out, "x");
    return "error: " + error;
}

std::string Strict(JsonKind kind, const std::string &text) { return Strict(Spec(kind), text); }

}  // namespace

// ---- scalars ----------------------------------------------------------------

TEST(row_json_strings_are_escaped_as_escape_json) {
    CHECK_EQ(Json(JsonKind::String, "plain"), "\"plain\"");
    CHECK_EQ(Json(JsonKind::String, ""), "\"\"");
    CHECK_EQ(Json(JsonKind::String, "a\"b\\c"), "\"a\\\"b\\\\c\"");
    CHECK_EQ(Json(JsonKind::String, "l1\nl2\tx\r\b\f"), "\"l1\\nl2\\tx\\r\\b\\f\"");
    CHECK_EQ(Json(JsonKind::String, "\x01\x1f"), "\"\\u0001\\u001f\"");
    CHECK_EQ(Json(JsonKind::String, "h\xC3\xA9 \x7F"), "\"h\xC3\xA9 \x7F\"");  // bytes >= 0x20 as they are
}

TEST(row_json_write_json_string_is_append_json_string) {
    // the buffer form (the backend's) and the std::string form are one escape
    for (int c = 0; c < 256; c++) {
        std::string s = "a" + std::string(1, static_cast<char>(c)) + "b", appended;
        kafka_fdw::format::AppendJsonString(appended, s.data(), s.size());
        size_t n = kafka_fdw::format::JsonStringLength(s.data(), s.size());
        std::string written(n + 8, '#');
        CHECK_EQ(kafka_fdw::format::WriteJsonString(&written[0], s.data(), s.size()), n);
        CHECK_EQ(written.substr(0, n), appended);
        CHECK_EQ(written.substr(n), "########");  // exactly the length said
    }
}

TEST(row_json_numbers) {
    CHECK_EQ(Json(JsonKind::Number, "42"), "42");
    CHECK_EQ(Json(JsonKind::Number, "-0"), "-0");
    CHECK_EQ(Json(JsonKind::Number, "123.4500"), "123.4500");  // numeric keeps its scale
    CHECK_EQ(Json(JsonKind::Number, "1e+30"), "1e+30");       // float8_out
    CHECK_EQ(Json(JsonKind::Number, "1.5e-07"), "1.5e-07");
    // no JSON number: strings, as row_to_json writes them
    CHECK_EQ(Json(JsonKind::Number, "NaN"), "\"NaN\"");
    CHECK_EQ(Json(JsonKind::Number, "Infinity"), "\"Infinity\"");
    CHECK_EQ(Json(JsonKind::Number, "-Infinity"), "\"-Infinity\"");
    CHECK_EQ(Json(JsonKind::Number, "abc"), "\"abc\"");  // trusted text: never refused
    // kafka_copy's input
    CHECK_EQ(Strict(JsonKind::Number, "12.5"), "12.5");
    CHECK_EQ(Strict(JsonKind::Number, "nan"), "\"nan\"");
    CHECK_EQ(Strict(JsonKind::Number, "abc"), "error: invalid number \"abc\"");
    CHECK_EQ(Strict(JsonKind::Number, "01"), "error: invalid number \"01\"");
    CHECK_EQ(Strict(JsonKind::Number, ""), "error: invalid number \"\"");
}

TEST(row_json_is_json_number) {
    using kafka_fdw::format::IsJsonNumber;
    for (const char *ok : {"0", "-0", "1", "10", "1.5", "-1.5e10", "1E-2", "0.0", "1e+5"})
        CHECK(IsJsonNumber(ok, strlen(ok)));
    for (const char *bad : {"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "NaN", "Infinity", "1 ", " 1", "0x10"})
        CHECK(!IsJsonNumber(bad, strlen(bad)));
}

TEST(row_json_booleans) {
    CHECK_EQ(Json(JsonKind::Bool, "t"), "true");
    CHECK_EQ(Json(JsonKind::Bool, "f"), "false");
    CHECK_EQ(Strict(JsonKind::Bool, "TRUE"), "true");
    CHECK_EQ(Strict(JsonKind::Bool, "yes"), "true");
    CHECK_EQ(Strict(JsonKind::Bool, "on"), "true");
    CHECK_EQ(Strict(JsonKind::Bool, "1"), "true");
    CHECK_EQ(Strict(JsonKind::Bool, "F"), "false");
    CHECK_EQ(Strict(JsonKind::Bool, "off"), "false");
    CHECK_EQ(Strict(JsonKind::Bool, "0"), "false");
    CHECK_EQ(Strict(JsonKind::Bool, "maybe"), "error: invalid boolean \"maybe\"");
    CHECK_EQ(Json(JsonKind::Bool, "maybe"), "false");
}

TEST(row_json_json_is_written_as_it_is) {
    CHECK_EQ(Json(JsonKind::Json, "{\"a\": [1, 2]}"), "{\"a\": [1, 2]}");
    CHECK_EQ(Json(JsonKind::Json, "\"s\""), "\"s\"");
    CHECK_EQ(Strict(JsonKind::Json, "[]"), "[]");
}

TEST(row_json_dates_and_times_as_row_to_json) {
    CHECK_EQ(Json(JsonKind::Date, "2024-01-02"), "\"2024-01-02\"");
    CHECK_EQ(Json(JsonKind::Date, "0044-03-15 BC"), "\"0044-03-15 BC\"");
    CHECK_EQ(Json(JsonKind::Date, "infinity"), "\"infinity\"");
    CHECK_EQ(Json(JsonKind::Timestamp, "2024-01-02 03:04:05"), "\"2024-01-02T03:04:05\"");
    CHECK_EQ(Json(JsonKind::Timestamp, "2024-01-02 03:04:05.5"), "\"2024-01-02T03:04:05.5\"");
    CHECK_EQ(Json(JsonKind::Timestamp, "0044-03-15 12:00:00 BC"), "\"0044-03-15T12:00:00 BC\"");
    CHECK_EQ(Json(JsonKind::Timestamp, "12345-06-07 00:00:00"), "\"12345-06-07T00:00:00\"");
    CHECK_EQ(Json(JsonKind::Timestamp, "-infinity"), "\"-infinity\"");
    // XSD zones: always +HH:MM, seconds when there are
    CHECK_EQ(Json(JsonKind::TimestampTz, "2024-01-02 03:04:05+01"), "\"2024-01-02T03:04:05+01:00\"");
    CHECK_EQ(Json(JsonKind::TimestampTz, "2024-01-02 03:04:05.123456-05"), "\"2024-01-02T03:04:05.123456-05:00\"");
    CHECK_EQ(Json(JsonKind::TimestampTz, "2024-01-02 03:04:05+05:30"), "\"2024-01-02T03:04:05+05:30\"");
    CHECK_EQ(Json(JsonKind::TimestampTz, "1850-01-02 03:04:05+00:53:28"), "\"1850-01-02T03:04:05+00:53:28\"");
    CHECK_EQ(Json(JsonKind::TimestampTz, "0044-03-15 12:00:00+00:53:28 BC"), "\"0044-03-15T12:00:00+00:53:28 BC\"");
    CHECK_EQ(Json(JsonKind::TimestampTz, "0044-03-15 12:00:00-01 BC"), "\"0044-03-15T12:00:00-01:00 BC\"");
    CHECK_EQ(Json(JsonKind::TimestampTz, "infinity"), "\"infinity\"");
}

TEST(row_json_date_times_that_need_escapes_are_json_strings) {
    // No output function writes these, but kafka_copy's input may: the text
    // must still become one JSON string (fuzz_row_json: a NUL was written raw)
    CHECK_EQ(Json(JsonKind::Timestamp, std::string("\0", 1)), "\"\\u0000\"");
    CHECK_EQ(Json(JsonKind::Timestamp, "2024-01-02 \"03\\"), "\"2024-01-02 \\\"03\\\\\"");
    CHECK_EQ(Json(JsonKind::TimestampTz, "2024-01-02\t03:04:05+01\n"), "\"2024-01-02\\t03:04:05+01\\n\"");
    CHECK_EQ(Strict(Spec(JsonKind::TimestampTz), "a\"b"), "\"a\\\"b\"");
}

// ---- arrays, vectors ----------------------------------------------------------

TEST(row_json_arrays_as_array_to_json) {
    JsonSpec num = Spec(JsonKind::Number), str = Spec(JsonKind::String), tz = Spec(JsonKind::TimestampTz);
    JsonSpec nums = Spec(JsonKind::Array, &num), strs = Spec(JsonKind::Array, &str), tzs = Spec(JsonKind::Array, &tz);
    CHECK_EQ(Json(nums, "{1,2,3}"), "[1,2,3]");
    CHECK_EQ(Json(nums, "{}"), "[]");
    CHECK_EQ(Json(nums, "{1,NULL,3}"), "[1,null,3]");
    CHECK_EQ(Json(nums, "{{1,2},{3,4}}"), "[[1,2],[3,4]]");
    CHECK_EQ(Json(nums, "{{{1},{2}},{{3},{4}}}"), "[[[1],[2]],[[3],[4]]]");
    CHECK_EQ(Json(nums, "[0:1]={7,8}"), "[7,8]");
    CHECK_EQ(Json(nums, "{NaN,1.5}"), "[\"NaN\",1.5]");
    CHECK_EQ(Json(strs, "{\"a b\",\"x\\\"y\",\"NULL\",NULL,\"\",\"\\\\\"}"), "[\"a b\",\"x\\\"y\",\"NULL\",null,\"\",\"\\\\\"]");
    CHECK_EQ(Json(strs, "{\"line\nbreak\"}"), "[\"line\\nbreak\"]");
    CHECK_EQ(Json(tzs, "{\"2024-01-02 03:04:05+01\",NULL}"), "[\"2024-01-02T03:04:05+01:00\",null]");
    // box[]: elements delimited by ';'
    JsonSpec boxes = Spec(JsonKind::Array, &str, ';');
    CHECK_EQ(Json(boxes, "{(1,1),(0,0);(2,2),(0,0)}"), "[\"(1,1),(0,0)\",\"(2,2),(0,0)\"]");
    // text no array_out writes: the JSON string of the text
    CHECK_EQ(Json(nums, "{1,2"), "\"{1,2\"");
    CHECK_EQ(Json(nums, "1,2"), "\"1,2\"");
}

TEST(row_json_arrays_from_kafka_copy_input) {
    JsonSpec num = Spec(JsonKind::Number), boo = Spec(JsonKind::Bool);
    JsonSpec nums = Spec(JsonKind::Array, &num), bools = Spec(JsonKind::Array, &boo);
    CHECK_EQ(Strict(nums, "{1,2}"), "[1,2]");
    CHECK_EQ(Strict(nums, "{ 1 , 2 }"), "[1,2]");  // white space around elements, as array_in
    CHECK_EQ(Strict(bools, "{t,yes,off}"), "[true,true,false]");
    CHECK_EQ(Strict(nums, "{1,x}"), "error: invalid number \"x\"");
    CHECK_EQ(Strict(nums, "{1,2"), "error: malformed array literal");
    CHECK_EQ(Strict(nums, "1"), "error: malformed array literal");
    CHECK_EQ(Strict(nums, "{1}x"), "error: malformed array literal");
}

TEST(row_json_vectors) {
    JsonSpec num = Spec(JsonKind::Number), str = Spec(JsonKind::String);
    CHECK_EQ(Json(Spec(JsonKind::Vector, &num), "1 2 3"), "[1,2,3]");
    CHECK_EQ(Json(Spec(JsonKind::Vector, &str), "23 1184"), "[\"23\",\"1184\"]");  // oidvector: oids are strings
    CHECK_EQ(Json(Spec(JsonKind::Vector, &num), ""), "[]");
}

// ---- composites ---------------------------------------------------------------

TEST(row_json_composites_as_row_to_json) {
    JsonSpec num = Spec(JsonKind::Number), str = Spec(JsonKind::String);
    JsonSpec nums = Spec(JsonKind::Array, &num);
    const char *inner_names[] = {"\"x\":", "\"y\":"};
    JsonSpec inner_fields[] = {num, str};
    JsonSpec inner = Spec(JsonKind::Composite);
    inner.nfields = 2;
    inner.field_names = inner_names;
    inner.fields = inner_fields;
    const char *names[] = {"\"a\":", "\"b\":", "\"c\":", "\"d\":"};
    JsonSpec fields[] = {num, str, nums, inner};
    JsonSpec comp = Spec(JsonKind::Composite);
    comp.nfields = 4;
    comp.field_names = names;
    comp.fields = fields;
    CHECK_EQ(Json(comp, "(1,\"x y\",\"{1,2}\",\"(2,z)\")"), "{\"a\":1,\"b\":\"x y\",\"c\":[1,2],\"d\":{\"x\":2,\"y\":\"z\"}}");
    CHECK_EQ(Json(comp, "(,,,)"), "{\"a\":null,\"b\":null,\"c\":null,\"d\":null}");
    CHECK_EQ(Json(comp, "(1,\"\",{},\"(,\"\"q\"\"\"\"\"\")\")"),
             "{\"a\":1,\"b\":\"\",\"c\":[],\"d\":{\"x\":null,\"y\":\"q\\\"\"}}");
    // text record_out does not write (fields missing or extra): its string
    CHECK_EQ(Json(comp, "(1,2)"), "\"(1,2)\"");
    CHECK_EQ(Json(comp, "(1,a,{},\"(1,b)\",5)"), "\"(1,a,{},\\\"(1,b)\\\",5)\"");
    CHECK_EQ(Json(comp, "(1,a,{},\"(1,b)\")x"), "\"(1,a,{},\\\"(1,b)\\\")x\"");
    // a type without attributes: record_out writes "()"
    JsonSpec empty = Spec(JsonKind::Composite);
    CHECK_EQ(Json(empty, "()"), "{}");
    CHECK_EQ(Json(empty, "(1)"), "\"(1)\"");
    CHECK_EQ(Strict(comp, "(1,2)"), "error: malformed record literal");
}

TEST(row_json_nested_scratch_survives_reuse) {
    // one writer for rows of decreasing and increasing sizes: the buffers of
    // each nesting level are reused
    JsonSpec str = Spec(JsonKind::String);
    JsonSpec strs = Spec(JsonKind::Array, &str);
    const char *names[] = {"\"t\":"};
    JsonSpec fields[] = {strs};
    JsonSpec comp = Spec(JsonKind::Composite);
    comp.nfields = 1;
    comp.field_names = names;
    comp.fields = fields;
    JsonSpec comps = Spec(JsonKind::Array, &comp);
    RowJsonWriter w;
    for (size_t n : {200, 3, 1000, 0, 50}) {
        std::string word(n, 'w'), out;
        std::string text = "{\"(\\\"{\\\"\\\"" + word + "\\\"\\\",x}\\\")\",NULL}";
        CHECK(w.AppendValue(out, comps, text.data(), text.size()));
        CHECK_EQ(out, "[{\"t\":[\"" + word + "\",\"x\"]},null]");
    }
}

// ---- objects --------------------------------------------------------------------

TEST(row_json_objects_with_nulls) {
    JsonSpec num = Spec(JsonKind::Number), str = Spec(JsonKind::String), json = Spec(JsonKind::Json);
    std::vector<JsonField> f = {
        {"\"id\":", 5, &num, false, "7", 1},
        {"\"name\":", 7, &str, false, "a\"b", 3},
        {"\"gone\":", 7, &str, true, nullptr, 0},
        {"\"j\":", 4, &json, false, "{\"k\":null}", 10},
        {"\"e\":", 4, &str, false, "", 0},
    };
    RowJsonWriter w;
    std::string out = "pre:";
    CHECK(w.AppendObject(out, f.data(), f.size()));
    CHECK_EQ(out, "pre:{\"id\":7,\"name\":\"a\\\"b\",\"gone\":null,\"j\":{\"k\":null},\"e\":\"\"}");
    out.clear();
    CHECK(w.AppendObject(out, f.data(), 0));
    CHECK_EQ(out, "{}");
}

TEST(row_json_objects_refused_field) {
    JsonSpec num = Spec(JsonKind::Number);
    std::vector<JsonField> f = {
        {"\"a\":", 4, &num, false, "1", 1},
        {"\"b\":", 4, &num, true, nullptr, 0},
        {"\"c\":", 4, &num, false, "x", 1},
    };
    RowJsonWriter w;
    std::string out = "keep", error;
    size_t failed = 99;
    CHECK(!w.AppendObject(out, f.data(), f.size(), &error, &failed));
    CHECK_EQ(out, "keep");
    CHECK_EQ(failed, 2u);
    CHECK_EQ(error, "invalid number \"x\"");
}

// ---- Debezium's encodings ---------------------------------------------------------

namespace {

std::string Base64(const std::string &s) {
    std::string out(enc::Base64Length(s.size()), '#');
    CHECK_EQ(enc::Base64Encode(reinterpret_cast<const unsigned char *>(s.data()), s.size(), &out[0]), out.size());
    return out;
}

// "<base64> scale" of a numeric text, or "null".
std::string Unscaled(const std::string &text) {
    std::vector<unsigned char> scratch(enc::UnscaledScratchSize(text.size()));
    const unsigned char *bytes = nullptr;
    size_t n = 0;
    int scale = -1;
    if (!enc::Unscaled(text.data(), text.size(), scratch.data(), &bytes, &n, &scale)) return "null";
    return Base64(std::string(reinterpret_cast<const char *>(bytes), n)) + " " + std::to_string(scale);
}

std::string Text(size_t (*f)(char *)) {
    char buf[enc::kTextSize];
    return std::string(buf, f(buf));
}

}  // namespace

TEST(debezium_base64) {
    CHECK_EQ(Base64(""), "");
    CHECK_EQ(Base64("f"), "Zg==");
    CHECK_EQ(Base64("fo"), "Zm8=");
    CHECK_EQ(Base64("foo"), "Zm9v");
    CHECK_EQ(Base64("foob"), "Zm9vYg==");
    CHECK_EQ(Base64(std::string("\xff\xfe\x00", 3)), "//4A");
    CHECK_EQ(Base64(std::string("\xfb\xff\xbf", 3)), "+/+/");
    // the placeholder of unchanged TOASTed bytea values
    CHECK_EQ("\"" + Base64("__debezium_unavailable_value") + "\"", enc::UnavailableJson(enc::Kind::Bytes, enc::Kind::String));
}

TEST(debezium_numeric_unscaled_as_big_integer_to_byte_array) {
    CHECK_EQ(Unscaled("12.34"), "BNI= 2");
    CHECK_EQ(Unscaled("-12.34"), "+y4= 2");
    CHECK_EQ(Unscaled("0"), "AA== 0");
    CHECK_EQ(Unscaled("-0.00"), "AA== 2");
    CHECK_EQ(Unscaled("-1"), "/w== 0");
    CHECK_EQ(Unscaled("128"), "AIA= 0");   // sign byte added
    CHECK_EQ(Unscaled("-128"), "gA== 0");  // minimal
    CHECK_EQ(Unscaled("-129"), "/38= 0");
    CHECK_EQ(Unscaled("2.55"), "AP8= 2");
    CHECK_EQ(Unscaled("123456789012345678901234567890"), "AY7pD/bDc+DuTj8K0g== 0");
    CHECK_EQ(Unscaled("NaN"), "null");
    CHECK_EQ(Unscaled("Infinity"), "null");
    CHECK_EQ(Unscaled("-Infinity"), "null");
}

TEST(debezium_clock_and_zoned_texts) {
    const int64_t s = 1000000;
    CHECK_EQ(Text([](char *b) { return enc::FormatClock(b, (3600 + 120 + 3) * 1000000LL, -1); }), "01:02:03");
    CHECK_EQ(Text([](char *b) { return enc::FormatClock(b, 3 * 1000000LL + 500000, -1); }), "00:00:03.5");
    CHECK_EQ(Text([](char *b) { return enc::FormatClock(b, 3 * 1000000LL + 500000, 3); }), "00:00:03.500");
    CHECK_EQ(Text([](char *b) { return enc::FormatClock(b, 86399 * 1000000LL + 999999, -1); }), "23:59:59.999999");
    CHECK_EQ(Text([](char *b) { return enc::FormatClock(b, 0, 0); }), "00:00:00");
    // extended years as Java's ISO 8601: +10000, 0000 (1 BC), -0001 (2 BC)
    int64_t t = (3 * 3600 + 4 * 60 + 5) * s + 120000;
    char buf[enc::kTextSize];
    CHECK_EQ(std::string(buf, enc::FormatZonedTimestamp(buf, 2024, 1, 2, t, 6)), "\"2024-01-02T03:04:05.120000Z\"");
    CHECK_EQ(std::string(buf, enc::FormatZonedTimestamp(buf, 2024, 1, 2, t, 2)), "\"2024-01-02T03:04:05.12Z\"");
    CHECK_EQ(std::string(buf, enc::FormatZonedTimestamp(buf, 2024, 1, 2, t, 0)), "\"2024-01-02T03:04:05Z\"");
    CHECK_EQ(std::string(buf, enc::FormatZonedTimestamp(buf, 10000, 12, 31, 0, 6)), "\"+10000-12-31T00:00:00.000000Z\"");
    CHECK_EQ(std::string(buf, enc::FormatZonedTimestamp(buf, 999, 3, 4, 0, 0)), "\"0999-03-04T00:00:00Z\"");
    CHECK_EQ(std::string(buf, enc::FormatZonedTimestamp(buf, 0, 3, 4, 0, 0)), "\"0000-03-04T00:00:00Z\"");
    CHECK_EQ(std::string(buf, enc::FormatZonedTimestamp(buf, -1, 3, 4, 0, 0)), "\"-0001-03-04T00:00:00Z\"");
    CHECK_EQ(std::string(buf, enc::FormatZonedTimestamp(buf, -4712, 1, 1, 0, 0)), "\"-4712-01-01T00:00:00Z\"");
    // timetz: the zone is seconds west of UTC (UTC+01 is -3600)
    CHECK_EQ(std::string(buf, enc::FormatZonedTime(buf, t, -3600)), "\"02:04:05.12Z\"");
    CHECK_EQ(std::string(buf, enc::FormatZonedTime(buf, 30 * 60 * s, -3600)), "\"23:30:00Z\"");
    CHECK_EQ(std::string(buf, enc::FormatZonedTime(buf, 23 * 3600 * s, 3 * 3600)), "\"02:00:00Z\"");
}

TEST(debezium_epoch_numbers_and_infinities) {
    const int64_t shift = 946684800000000LL;  // 2000-01-01 in microseconds since 1970
    CHECK_EQ(enc::TimestampValue(0, false), shift);
    CHECK_EQ(enc::TimestampValue(0, true), shift / 1000);
    CHECK_EQ(enc::TimestampValue(-shift - 1, false), -1);
    CHECK_EQ(enc::TimestampValue(-shift - 1, true), -1);  // rounded down
    CHECK_EQ(enc::TimestampValue(-shift - 1000, true), -1);
    CHECK_EQ(enc::TimestampValue(-shift - 1001, true), -2);
    CHECK_EQ(enc::TimestampValue(INT64_MIN, false), -9223372036832400000LL);  // -infinity
    CHECK_EQ(enc::TimestampValue(INT64_MIN, true), -9223372036832400000LL);
    CHECK_EQ(enc::TimestampValue(INT64_MAX, false), 9223372036825200000LL);  // infinity
    CHECK_EQ(enc::TimestampValue(INT64_MAX - 1, true), INT64_MAX);            // saturated
    int64_t days = -1;
    CHECK(enc::DateValue(0, &days));
    CHECK_EQ(days, 10957);
    CHECK(enc::DateValue(-10958, &days));
    CHECK_EQ(days, -1);
    CHECK(!enc::DateValue(INT32_MIN, &days));  // -infinity: null
    CHECK(!enc::DateValue(INT32_MAX, &days));  // infinity: null
    CHECK_EQ(enc::IntervalValue(0, 1, 1), 86400000001LL);
    CHECK_EQ(enc::IntervalValue(1, 0, 0), 2629800000000LL);  // 365.25/12 days
    CHECK_EQ(enc::IntervalValue(-1, 0, -5), -2629800000005LL);
    CHECK_EQ(enc::IntervalValue(INT32_MAX, 0, 0), INT64_MAX);
    CHECK_EQ(enc::IntervalValue(INT32_MIN, 0, 0), INT64_MIN);
    CHECK_EQ(enc::IntervalValue(0, 0, INT64_MAX), INT64_MAX);
    CHECK_EQ(enc::IntervalValue(0, 106751991, INT64_MAX), INT64_MAX);  // the sum overflows
}

TEST(debezium_fallbacks_and_placeholders) {
    CHECK_EQ(enc::FallbackJson(enc::Kind::Bool), "false");
    CHECK_EQ(enc::FallbackJson(enc::Kind::Int32), "0");
    CHECK_EQ(enc::FallbackJson(enc::Kind::TimestampUs), "0");
    CHECK_EQ(enc::FallbackJson(enc::Kind::Decimal), "\"AA==\"");
    CHECK_EQ(enc::FallbackJson(enc::Kind::VarDecimal), "{\"scale\":0,\"value\":\"AA==\"}");
    CHECK_EQ(enc::FallbackJson(enc::Kind::Array), "[]");
    CHECK_EQ(enc::FallbackJson(enc::Kind::String), "\"\"");
    CHECK_EQ(enc::FallbackJson(enc::Kind::Bytes), "\"\"");
    CHECK_EQ(enc::FallbackJson(enc::Kind::ZonedTimestamp), "\"\"");
    CHECK_EQ(enc::UnavailableJson(enc::Kind::String, enc::Kind::String), "\"__debezium_unavailable_value\"");
    CHECK_EQ(enc::UnavailableJson(enc::Kind::Json, enc::Kind::String), "\"__debezium_unavailable_value\"");
    CHECK_EQ(enc::UnavailableJson(enc::Kind::Array, enc::Kind::String), "[\"__debezium_unavailable_value\"]");
    CHECK_EQ(enc::UnavailableJson(enc::Kind::Array, enc::Kind::Int32), "null");
    CHECK_EQ(enc::UnavailableJson(enc::Kind::Int64, enc::Kind::String), "null");
    CHECK_EQ(enc::UnavailableJson(enc::Kind::ZonedTimestamp, enc::Kind::String), "null");
}
