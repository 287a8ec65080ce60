// RowDecoder (src/format/row_decoder.hpp): message values into the text of
// payload columns, as the scan and kafka_copy consume read them.
#include "format/row_decoder.hpp"

#include "framework.hpp"

#include <cstring>
#include <string>
#include <vector>

using kafka_fdw::format::DecodedValue;
using kafka_fdw::format::JsonType;
using kafka_fdw::format::RowColumn;
using kafka_fdw::format::RowDecoder;
using kafka_fdw::format::RowDecoderOptions;
using kafka_fdw::format::RowFormat;

namespace {

constexpr const char *kNull = "<NULL>";
constexpr const char *kMissing = "<MISSING>";

RowColumn Member(const std::string &name) {
    RowColumn c;
    c.member = name;
    return c;
}

RowColumn Field(size_t i) {
    RowColumn c;
    c.field = i;
    return c;
}

RowDecoderOptions Opts(RowFormat f, std::vector<RowColumn> cols) {
    RowDecoderOptions o;
    o.format = f;
    o.columns = std::move(cols);
    return o;
}

// The decoded columns: text, "<NULL>" or "<MISSING>".
std::vector<std::string> Columns(const RowDecoder &d) {
    std::vector<std::string> out;
    for (size_t i = 0; i < d.size(); i++) {
        const DecodedValue &v = d.Value(i);
        if (v.missing) out.push_back(kMissing);
        else if (v.is_null) out.push_back(kNull);
        else out.push_back(std::string(v.data, v.len));
    }
    return out;
}

// Decodes `msg` (which must outlive the use of the views).
bool Decode(RowDecoder &d, const std::string &msg) { return d.Decode(msg.data(), msg.size()); }
bool Decode(RowDecoder &d, std::string &&msg) = delete;

using Cols = std::vector<std::string>;

}  // namespace

TEST(row_decoder_json_members_missing_and_null) {
    RowDecoder d(Opts(RowFormat::Json, {Member("a"), Member("b"), Member("c"), Member("d")}));
    std::string msg = R"({"a": 1, "b": null, "d": "x\ty", "e": 5})";
    REQUIRE(Decode(d, msg));
    CHECK(d.reason().empty());
    CHECK(Columns(d) == (Cols{"1", kNull, kNull, "x\ty"}));
    CHECK(d.Value(1).json_type == JsonType::Null);
    CHECK(d.Value(2).json_type == JsonType::Null);  // no such member
    CHECK(!d.Value(2).missing);                     // missing is CSV's
    CHECK(d.Value(3).json_type == JsonType::String);
}

TEST(row_decoder_json_nested_object) {
    RowColumn rec = Member("r");
    rec.record = true;
    RowDecoder d(Opts(RowFormat::Json, {rec, Member("o"), rec}));
    std::string msg = R"({"r": {"x": [1, 2], "y": "z"}, "o": {"k": true}})";
    REQUIRE(Decode(d, msg));
    CHECK(Columns(d) == (Cols{R"({"x": [1, 2], "y": "z"})", R"({"k": true})", R"({"x": [1, 2], "y": "z"})"}));
    CHECK(d.Value(0).is_record);
    CHECK(!d.Value(1).is_record);  // the object's text, for a column that is not a composite
    // a record column given a string: its text, for record_in
    std::string msg2 = R"x({"r": "(1,2)"})x";
    REQUIRE(Decode(d, msg2));
    CHECK(Columns(d) == (Cols{"(1,2)", kNull, "(1,2)"}));
    CHECK(!d.Value(0).is_record);
}

TEST(row_decoder_json_arrays) {
    RowColumn arr = Member("a");
    arr.pg_array = true;
    RowColumn arr2 = Member("b");
    arr2.pg_array = true;
    RowDecoder d(Opts(RowFormat::Json, {arr, arr2, Member("a"), arr}));
    std::string msg = R"({"a": [1, "x y", null, [2, 3]], "b": [{"k": 1}]})";
    REQUIRE(Decode(d, msg));
    CHECK(Columns(d) ==
          (Cols{R"({1,"x y",NULL,{2,3}})", R"({"{\"k\": 1}"})", R"([1, "x y", null, [2, 3]])", R"({1,"x y",NULL,{2,3}})"}));
    // not an array: the member's text as usual
    std::string msg2 = R"({"a": "[1]", "b": 7})";
    REQUIRE(Decode(d, msg2));
    CHECK(Columns(d) == (Cols{"[1]", "7", "[1]", "[1]"}));
    // buffers are reused: a longer array after a shorter one
    std::string msg3 = R"({"a": [], "b": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]})";
    REQUIRE(Decode(d, msg3));
    CHECK(Columns(d) == (Cols{"{}", "{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20}", "[]", "{}"}));
}

TEST(row_decoder_json_raw_json) {
    RowColumn raw = Member("j");
    raw.raw_json = true;
    RowDecoder d(Opts(RowFormat::Json, {raw, Member("j")}));
    std::string msg = R"({"j": "caf\u00e9 \"q\""})";
    REQUIRE(Decode(d, msg));
    // as in the message (quotes and escapes) / unescaped
    CHECK(Columns(d) == (Cols{R"("caf\u00e9 \"q\"")", "caf\xc3\xa9 \"q\""}));
    std::string msg2 = R"({"j": {"a": [1, null]}})";
    REQUIRE(Decode(d, msg2));
    CHECK(Columns(d) == (Cols{R"({"a": [1, null]})", R"({"a": [1, null]})"}));
    std::string msg3 = R"({"j": null})";
    REQUIRE(Decode(d, msg3));
    CHECK(Columns(d) == (Cols{kNull, kNull}));  // JSON null is NULL, not the json 'null'
}

TEST(row_decoder_json_whole_value) {
    RowColumn whole;
    whole.whole = true;
    RowDecoder d(Opts(RowFormat::Json, {whole}));
    std::string msg = R"( {"a": 1} )";
    REQUIRE(Decode(d, msg));
    CHECK(Columns(d) == (Cols{msg}));
    std::string bad = "[1]";
    CHECK(!Decode(d, bad));
    CHECK(Columns(d) == (Cols{kNull}));
}

TEST(row_decoder_json_junk_reason) {
    RowDecoder d(Opts(RowFormat::Json, {Member("a"), Member("b")}));
    std::string msg = R"({"a" 1})";
    CHECK(!Decode(d, msg));
    CHECK_EQ(d.error(), std::string("expected ':' at byte 5"));
    CHECK_EQ(d.reason(), std::string("invalid json: expected ':' at byte 5"));
    CHECK(Columns(d) == (Cols{kNull, kNull}));
    std::string arr = "[1, 2]";
    CHECK(!Decode(d, arr));
    CHECK_EQ(d.reason(), std::string("invalid json: value is a JSON array, not an object"));
    // the next good message clears the reason
    std::string ok = R"({"b": 2})";
    REQUIRE(Decode(d, ok));
    CHECK(d.reason().empty());
    CHECK(d.error().empty());
    CHECK(Columns(d) == (Cols{kNull, "2"}));
}

TEST(row_decoder_tombstone) {
    for (RowFormat f : {RowFormat::Json, RowFormat::Csv, RowFormat::Text, RowFormat::Bytea}) {
        RowDecoder d(Opts(f, {Member("a"), Field(1)}));
        CHECK(d.Decode(nullptr, 0));  // not a bad message
        CHECK(d.reason().empty());
        CHECK(Columns(d) == (Cols{kNull, kNull}));
    }
    RowDecoderOptions o = Opts(RowFormat::Csv, {Field(0)});
    o.csv_all_fields = true;
    RowDecoder all(o);
    CHECK(all.Decode(nullptr, 0));
    CHECK(Columns(all) == (Cols{kNull}));
}

TEST(row_decoder_csv_fields_missing_and_null) {
    RowDecoderOptions o = Opts(RowFormat::Csv, {Field(2), Field(0), Field(3)});
    o.csv.null_string = "\\N";
    o.csv_max_fields = 4;
    RowDecoder d(o);
    std::string msg = "a,\"b,c\",\\N,\"\\N\"\n";
    REQUIRE(Decode(d, msg));
    CHECK(Columns(d) == (Cols{kNull, "a", "\\N"}));  // a quoted NULL string is text
    std::string short_msg = "x,y";
    REQUIRE(Decode(d, short_msg));  // missing fields are the caller's error
    CHECK(Columns(d) == (Cols{kMissing, "x", kMissing}));
    CHECK(d.Value(0).is_null);
    CHECK(d.reason().empty());
}

TEST(row_decoder_csv_extra_fields_and_junk_reason) {
    RowDecoderOptions o = Opts(RowFormat::Csv, {Field(0), Field(1)});
    o.csv_max_fields = 2;
    RowDecoder d(o);
    std::string extra = "1,2,3";
    CHECK(!Decode(d, extra));
    CHECK_EQ(d.error(), std::string("extra data after last expected column"));
    CHECK_EQ(d.reason(), std::string("invalid csv: extra data after last expected column"));
    CHECK(Columns(d) == (Cols{kNull, kNull}));
    std::string unterminated = "1,\"2";
    CHECK(!Decode(d, unterminated));
    CHECK_EQ(d.reason(), std::string("invalid csv: unterminated quoted field 2"));
    // no limit: extra fields are not read
    o.csv_max_fields = 0;
    RowDecoder any(o);
    REQUIRE(Decode(any, extra));
    CHECK(Columns(any) == (Cols{"1", "2"}));
}

TEST(row_decoder_csv_all_fields) {
    RowDecoderOptions o = Opts(RowFormat::Csv, {Field(0)});
    o.csv_all_fields = true;
    o.csv.delimiter = ';';
    RowDecoder d(o);
    std::string msg = "1;;x";
    REQUIRE(Decode(d, msg));
    CHECK(Columns(d) == (Cols{"1", kNull, "x"}));  // an unquoted empty field is NULL (null string "")
    std::string one = "z";
    REQUIRE(Decode(d, one));
    CHECK(Columns(d) == (Cols{"z"}));
    std::string bad = "\"z";
    CHECK(!Decode(d, bad));
    CHECK(Columns(d) == (Cols{kNull}));
}

TEST(row_decoder_text_and_bytea_whole_value) {
    for (RowFormat f : {RowFormat::Text, RowFormat::Bytea}) {
        RowDecoder d(Opts(f, {Member("v")}));
        std::string msg("a\0b{", 4);
        REQUIRE(Decode(d, msg));  // checking the bytes is the caller's
        REQUIRE(d.size() == 1);
        CHECK(d.Value(0).data == msg.data());
        CHECK_EQ(d.Value(0).len, 4u);
        CHECK(!d.Value(0).is_null);
    }
    CHECK_EQ(std::string(kafka_fdw::format::RowFormatName(RowFormat::Bytea)), std::string("bytea"));
}
