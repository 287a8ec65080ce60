// JsonObjectReader, AppendJsonString and IsValidUtf8 (src/format/json.hpp).
#include "format/json.hpp"

#include "framework.hpp"

#include <cstring>
#include <string>
#include <vector>

using kafka_fdw::format::AppendJsonString;
using kafka_fdw::format::IsValidUtf8;
using kafka_fdw::format::JsonObjectReader;
using kafka_fdw::format::JsonType;

namespace {

// Non-string values point into the input: it must outlive the reader's use,
// hence no temporaries (string literals are fine).
bool Parse(JsonObjectReader &r, const std::string &s) { return r.Parse(s.data(), s.size()); }
bool Parse(JsonObjectReader &r, const char *s) { return r.Parse(s, strlen(s)); }
bool Parse(JsonObjectReader &r, std::string &&s) = delete;

std::string Text(const JsonObjectReader &r, size_t i) {
    return std::string(r.Value(i).data, r.Value(i).len);
}

// Parses `json` wanting one member "v": its type and text, or a failure.
struct One {
    bool ok;
    bool found;
    JsonType type;
    std::string text;
    std::string error;
};
One ParseOne(const std::string &json) {
    JsonObjectReader r({"v"});
    One o{};
    o.ok = Parse(r, json);
    o.error = r.error();
    if (o.ok) {
        o.found = r.Found(0);
        if (o.found) {
            o.type = r.Value(0).type;
            o.text = Text(r, 0);
        }
    }
    return o;
}

bool Contains(const std::string &hay, const std::string &needle) {
    return hay.find(needle) != std::string::npos;
}

std::string Unescaped(const std::string &json_string_literal) {
    One o = ParseOne("{\"v\":" + json_string_literal + "}");
    if (!o.ok || !o.found || o.type != JsonType::String) return "<parse failed: " + o.error + ">";
    return o.text;
}

// Expects `json` to be rejected with an error message.
void ExpectReject(const std::string &json, const char *part, const char *file, int line) {
    JsonObjectReader r({"v", "a"});
    bool ok = Parse(r, json);
    if (ok) {
        unit::RecordFailure(file, line, "accepted invalid JSON " + unit::Show(json));
        return;
    }
    if (r.error().empty())
        unit::RecordFailure(file, line, "no error message for " + unit::Show(json));
    if (part && !Contains(r.error(), part))
        unit::RecordFailure(file, line,
                            "error for " + unit::Show(json) + " is " + unit::Show(r.error()) +
                                ", expected it to contain " + unit::Show(std::string(part)));
}
void ExpectReject(const std::string &json, const char *file, int line) {
    ExpectReject(json, nullptr, file, line);
}
// EXPECT_REJECT(json) or EXPECT_REJECT(json, "part of the error message")
#define EXPECT_REJECT(...) ExpectReject(__VA_ARGS__, __FILE__, __LINE__)

}  // namespace

// ---- members ---------------------------------------------------------------

TEST(json_members_found_and_not_found) {
    JsonObjectReader r({"id", "name", "missing", "flag"});
    REQUIRE(Parse(r, R"({"id": 42, "name": "alice", "flag": true, "other": [1,2]})"));
    CHECK(r.error().empty());
    CHECK(r.Found(0));
    CHECK(r.Found(1));
    CHECK(!r.Found(2));
    CHECK(r.Found(3));
    CHECK(r.Value(0).type == JsonType::Number);
    CHECK_EQ(Text(r, 0), "42");
    CHECK(r.Value(1).type == JsonType::String);
    CHECK_EQ(Text(r, 1), "alice");
    CHECK(r.Value(3).type == JsonType::Bool);
    CHECK_EQ(Text(r, 3), "true");
}

TEST(json_no_wanted_members) {
    JsonObjectReader r({});
    CHECK(Parse(r, R"({"a":1,"b":{"c":[true,false,null]}})"));
    CHECK(!Parse(r, R"({"a":1,)"));
}

TEST(json_member_names_are_case_sensitive_and_exact) {
    JsonObjectReader r({"Name", "nam", "name"});
    REQUIRE(Parse(r, R"({"name": 1, "names": 2, "NAME": 3})"));
    CHECK(!r.Found(0));
    CHECK(!r.Found(1));
    REQUIRE(r.Found(2));
    CHECK_EQ(Text(r, 2), "1");
}

TEST(json_last_occurrence_wins) {
    JsonObjectReader r({"a", "b"});
    REQUIRE(Parse(r, R"({"a": 1, "b": "first", "a": "two", "b": [3], "a": 3.5})"));
    REQUIRE(r.Found(0));
    CHECK(r.Value(0).type == JsonType::Number);
    CHECK_EQ(Text(r, 0), "3.5");
    REQUIRE(r.Found(1));
    CHECK(r.Value(1).type == JsonType::Array);
    CHECK_EQ(Text(r, 1), "[3]");

    // string after a non-string, and the other way round
    REQUIRE(Parse(r, R"({"a": null, "a": "x\ty", "b": "s", "b": false})"));
    CHECK(r.Value(0).type == JsonType::String);
    CHECK_EQ(Text(r, 0), "x\ty");
    CHECK(r.Value(1).type == JsonType::Bool);
    CHECK_EQ(Text(r, 1), "false");
}

TEST(json_same_name_wanted_twice) {
    JsonObjectReader r({"a", "a"});
    REQUIRE(Parse(r, R"({"a": "v"})"));
    CHECK(r.Found(0));
    CHECK(r.Found(1));
    CHECK_EQ(Text(r, 0), "v");
    CHECK_EQ(Text(r, 1), "v");
}

// ---- types and raw text ----------------------------------------------------

TEST(json_every_type_and_its_raw_text) {
    JsonObjectReader r({"null", "t", "f", "int", "neg", "frac", "exp", "str", "obj", "arr", "empty_obj",
                        "empty_arr", "zero", "big"});
    const std::string doc =
        R"({"null": null, "t": true, "f": false, "int": 123, "neg": -0, "frac": -12.500,)"
        R"( "exp": 1.5E+10, "str": "hé", "obj": {"x": [1, {"y": "}"}], "z": "]"},)"
        R"( "arr": [ 1 , "a" , {"b": null} , [ ] ], "empty_obj": {}, "empty_arr": [],)"
        R"( "zero": 0e-0, "big": 123456789012345678901234567890})";
    REQUIRE(Parse(r, doc));
    for (size_t i = 0; i < 14; i++) CHECK(r.Found(i));
    CHECK(r.Value(0).type == JsonType::Null);
    CHECK_EQ(Text(r, 0), "null");
    CHECK(r.Value(1).type == JsonType::Bool);
    CHECK_EQ(Text(r, 1), "true");
    CHECK(r.Value(2).type == JsonType::Bool);
    CHECK_EQ(Text(r, 2), "false");
    CHECK(r.Value(3).type == JsonType::Number);
    CHECK_EQ(Text(r, 3), "123");
    CHECK(r.Value(4).type == JsonType::Number);
    CHECK_EQ(Text(r, 4), "-0");
    CHECK(r.Value(5).type == JsonType::Number);
    CHECK_EQ(Text(r, 5), "-12.500");  // numbers keep their text
    CHECK(r.Value(6).type == JsonType::Number);
    CHECK_EQ(Text(r, 6), "1.5E+10");
    CHECK(r.Value(7).type == JsonType::String);
    CHECK_EQ(Text(r, 7), "hé");
    CHECK(r.Value(8).type == JsonType::Object);
    CHECK_EQ(Text(r, 8), R"({"x": [1, {"y": "}"}], "z": "]"})");  // raw, whitespace kept
    CHECK(r.Value(9).type == JsonType::Array);
    CHECK_EQ(Text(r, 9), R"([ 1 , "a" , {"b": null} , [ ] ])");
    CHECK(r.Value(10).type == JsonType::Object);
    CHECK_EQ(Text(r, 10), "{}");
    CHECK(r.Value(11).type == JsonType::Array);
    CHECK_EQ(Text(r, 11), "[]");
    CHECK(r.Value(12).type == JsonType::Number);
    CHECK_EQ(Text(r, 12), "0e-0");
    CHECK(r.Value(13).type == JsonType::Number);
    CHECK_EQ(Text(r, 13), "123456789012345678901234567890");
}

TEST(json_raw_text_points_into_the_input) {
    std::string doc = R"({"n": 7, "o": {"k": 1}})";
    JsonObjectReader r({"n", "o"});
    REQUIRE(Parse(r, doc));
    CHECK(r.Value(0).data >= doc.data() && r.Value(0).data < doc.data() + doc.size());
    CHECK(r.Value(1).data >= doc.data() && r.Value(1).data < doc.data() + doc.size());
}

TEST(json_valid_numbers) {
    for (const char *n : {"0", "-0", "1", "-1", "10", "0.0", "1.25", "-0.5", "1e5", "1E5", "1e+5", "1e-5",
                          "-1.5e-3", "9007199254740993", "1.0E-400"}) {
        One o = ParseOne(std::string("{\"v\":") + n + "}");
        CHECK(o.ok);
        CHECK(o.found && o.type == JsonType::Number);
        CHECK_EQ(o.text, std::string(n));
    }
}

TEST(json_invalid_numbers_and_literals) {
    for (const char *bad : {"01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "0x10", "NaN", "Infinity",
                            "-Infinity", "1.2.3", "True", "nul", "tru", "falsey", "nulll", "1 2",
                            "--1", "1e5.0", "'s'"}) {
        std::string doc = std::string("{\"v\":") + bad + "}";
        EXPECT_REJECT(doc);
    }
}

// ---- strings -----------------------------------------------------------------

TEST(json_string_escapes) {
    CHECK_EQ(Unescaped(R"("plain")"), "plain");
    CHECK_EQ(Unescaped(R"("")"), "");
    CHECK_EQ(Unescaped(R"("a\nb")"), "a\nb");
    CHECK_EQ(Unescaped(R"("a\tb")"), "a\tb");
    CHECK_EQ(Unescaped(R"("a\rb")"), "a\rb");
    CHECK_EQ(Unescaped(R"("a\bb")"), "a\bb");
    CHECK_EQ(Unescaped(R"("a\fb")"), "a\fb");
    CHECK_EQ(Unescaped(R"("say \"hi\"")"), "say \"hi\"");
    CHECK_EQ(Unescaped(R"("back\\slash")"), "back\\slash");
    CHECK_EQ(Unescaped(R"("a\/b")"), "a/b");
    CHECK_EQ(Unescaped(R"("\\n is not a newline")"), "\\n is not a newline");
    CHECK_EQ(Unescaped(R"("\"\\\/\b\f\n\r\t")"), "\"\\/\b\f\n\r\t");
    CHECK_EQ(Unescaped(R"("\u0041\u00e9\u00E9")"), "Aéé");
    CHECK_EQ(Unescaped(R"("\u0024\u00a2\u20ac")"), "$\xC2\xA2\xE2\x82\xAC");  // 1, 2, 3 bytes
    CHECK_EQ(Unescaped(R"("\u007f\u0080\u07ff\u0800\uffff")"),
             "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF");
    CHECK_EQ(Unescaped(R"("x\u0000y")"), std::string("x\0y", 3));
    CHECK_EQ(Unescaped(R"("\u001f")"), "\x1F");
    // raw UTF-8 and DEL pass through unchanged
    CHECK_EQ(Unescaped("\"caf\xC3\xA9 \xF0\x9F\x98\x80 \x7F\""), "caf\xC3\xA9 \xF0\x9F\x98\x80 \x7F");
}

TEST(json_surrogate_pairs) {
    CHECK_EQ(Unescaped(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");  // U+1F600
    CHECK_EQ(Unescaped(R"("\uD83D\uDE00")"), "\xF0\x9F\x98\x80");
    CHECK_EQ(Unescaped(R"("\ud800\udc00")"), "\xF0\x90\x80\x80");  // U+10000
    CHECK_EQ(Unescaped(R"("\udbff\udfff")"), "\xF4\x8F\xBF\xBF");  // U+10FFFF
    CHECK_EQ(Unescaped(R"("a\ud834\udd1eb")"), "a\xF0\x9D\x84\x9E" "b");  // U+1D11E
    std::string s = Unescaped(R"("\ud83d\ude00")");
    CHECK(IsValidUtf8(s.data(), s.size()));
}

TEST(json_rejects_unpaired_surrogates) {
    EXPECT_REJECT(R"({"v":"\ud800"})", "surrogate");
    EXPECT_REJECT(R"({"v":"\ud800x"})", "surrogate");
    EXPECT_REJECT(R"({"v":"\ud800\u0041"})", "surrogate");
    EXPECT_REJECT(R"({"v":"\ud800\ud800"})", "surrogate");
    EXPECT_REJECT(R"({"v":"\udc00"})", "surrogate");
    EXPECT_REJECT(R"({"v":"\ude00\ud83d"})", "surrogate");
    EXPECT_REJECT(R"({"v":"\ud800\n"})", "surrogate");
    EXPECT_REJECT(R"({"v":"\ud800\)");
    EXPECT_REJECT(R"({"v":"\ud800\u12"})");
    // also in a member that is not wanted, and in a member name
    EXPECT_REJECT(R"({"other":"\udfff"})", "surrogate");
    EXPECT_REJECT(R"({"\ud800":1})", "surrogate");
}

TEST(json_rejects_bad_escapes) {
    EXPECT_REJECT(R"({"v":"\x41"})", "escape");
    EXPECT_REJECT(R"({"v":"\a"})", "escape");
    EXPECT_REJECT(R"({"v":"\'"})", "escape");
    EXPECT_REJECT(R"({"v":"\U0041"})", "escape");
    EXPECT_REJECT(R"({"v":"\u12G4"})", "escape");
    EXPECT_REJECT(R"({"v":"\u12"})", "escape");
    EXPECT_REJECT(R"({"v":"\u"})", "escape");
    EXPECT_REJECT(R"({"v":"\ )" "\"}");
    EXPECT_REJECT(R"({"other":"\q"})", "escape");
}

TEST(json_rejects_unterminated_strings) {
    EXPECT_REJECT(R"({"v":"abc)", "unterminated");
    EXPECT_REJECT(R"({"v":"abc\")", "unterminated");
    EXPECT_REJECT(R"({"v":"abc\)", "unterminated");
    EXPECT_REJECT(R"({"v":")", "unterminated");
    EXPECT_REJECT(R"({"v)", "unterminated");
    EXPECT_REJECT(R"({"v":"\u00e)");
}

TEST(json_rejects_control_characters_in_strings) {
    for (int c = 0; c < 0x20; c++) {
        std::string value = std::string("{\"v\":\"a") + static_cast<char>(c) + "b\"}";
        EXPECT_REJECT(value, "control character");
        std::string name = std::string("{\"a") + static_cast<char>(c) + "\":1}";
        EXPECT_REJECT(name, "control character");
    }
    // escaped, they are fine
    CHECK_EQ(Unescaped(R"("\u0001\u001F")"), "\x01\x1F");
}

TEST(json_escaped_member_name_matches_wanted_name) {
    JsonObjectReader r({"na\"me", "é", "a/b", "line\nbreak", "plain", "\xF0\x9F\x98\x80"});
    REQUIRE(Parse(r, R"({"na\"me": 1, "\u00e9": 2, "a\/b": 3, "line\nbreak": 4, "pl\u0061in": 5,)"
                     R"( "\ud83d\ude00": 6})"));
    for (size_t i = 0; i < 6; i++) {
        CHECK(r.Found(i));
        if (r.Found(i)) CHECK_EQ(Text(r, i), std::to_string(i + 1));
    }
    // an escaped name that does not unescape to a wanted one
    JsonObjectReader q({"ab"});
    REQUIRE(Parse(q, R"({"a\u0062c": 1, "a\\b": 2})"));
    CHECK(!q.Found(0));
}

TEST(json_long_strings_survive_arena_growth) {
    // Several wanted strings, long enough to make the arena reallocate while
    // parsing: each value must still be right afterwards.
    std::vector<std::string> names;
    std::string doc = "{";
    std::vector<std::string> expect;
    for (int i = 0; i < 8; i++) {
        names.push_back("s" + std::to_string(i));
        std::string v(300 + i * 700, static_cast<char>('a' + i));
        v += "\\n";  // force the escaped path
        expect.push_back(std::string(300 + i * 700, static_cast<char>('a' + i)) + "\n");
        if (i) doc += ",";
        doc += "\"s" + std::to_string(i) + "\":\"" + v + "\"";
    }
    doc += "}";
    JsonObjectReader r(names);
    REQUIRE(Parse(r, doc));
    for (size_t i = 0; i < names.size(); i++) {
        REQUIRE(r.Found(i));
        CHECK(r.Value(i).type == JsonType::String);
        CHECK(Text(r, i) == expect[i]);
    }
}

// ---- structure ---------------------------------------------------------------

// A broken top-level value that is not an object says where it breaks (it
// said "at byte 0" for every one) and what it is when it is whole.
TEST(json_non_object_errors_name_the_place) {
    struct Case {
        const char *doc, *error;
    } cases[] = {
        {"[1,2", "value is not valid JSON at byte 4"},
        {"  [1, 2 x]", "value is not valid JSON at byte 8"},
        {"not json", "value is not valid JSON at byte 0"},
        {"[1,2] x", "unexpected data after the value at byte 6"},
        {"[1,{\"a\":1}]", "value is a JSON array, not an object"},
        {"\"s\"", "value is a JSON string, not an object"},
        {"42", "value is a JSON scalar, not an object"},
    };
    for (const Case &c : cases) {
        JsonObjectReader r({"v"});
        CHECK(!r.Parse(c.doc, strlen(c.doc)));
        if (r.error() != c.error)
            unit::RecordFailure(__FILE__, __LINE__,
                                std::string("error for ") + unit::Show(std::string(c.doc)) + ": " +
                                    unit::Show(r.error()));
    }
}

TEST(json_rejects_non_objects) {
    for (const char *doc : {"[1]", "42", "\"s\"", "null", "true", "false", "[]", "-1.5", " [ {\"v\":1} ] ",
                            "\"{}\""}) {
        JsonObjectReader r({"v"});
        CHECK(!r.Parse(doc, strlen(doc)));
        if (!Contains(r.error(), "not an object"))
            unit::RecordFailure(__FILE__, __LINE__,
                                std::string("error for ") + unit::Show(std::string(doc)) + ": " +
                                    unit::Show(r.error()));
    }
}

TEST(json_rejects_invalid_json) {
    EXPECT_REJECT("");
    EXPECT_REJECT("   \n\t ");
    EXPECT_REJECT("x");
    EXPECT_REJECT("{");
    EXPECT_REJECT("}");
    EXPECT_REJECT("{\"v\"}");
    EXPECT_REJECT("{\"v\" 1}", "':'");
    EXPECT_REJECT("{\"v\":}");
    EXPECT_REJECT("{\"v\":1,}", "member name");
    EXPECT_REJECT("{,}");
    EXPECT_REJECT("{\"v\":1 \"a\":2}", "','");
    EXPECT_REJECT("{\"v\":1;\"a\":2}");
    EXPECT_REJECT("{v:1}", "member name");
    EXPECT_REJECT("{'v':1}");
    EXPECT_REJECT("{1:1}");
    EXPECT_REJECT("{\"v\":[1,2}");
    EXPECT_REJECT("{\"v\":[1,]}");
    EXPECT_REJECT("{\"v\":[,1]}");
    EXPECT_REJECT("{\"v\":{\"a\"}}");
    EXPECT_REJECT("{\"v\":{\"a\":1,}}");
    EXPECT_REJECT("{\"v\":{\"a\":1]}");
    EXPECT_REJECT("{\"v\":[1}]}");
    EXPECT_REJECT("{\"v\":1");
    EXPECT_REJECT("{\"v\":1,");
    EXPECT_REJECT("{\"v\":1,\"a\"");
    EXPECT_REJECT("{\"v\":1,\"a\":");
    EXPECT_REJECT("[1");
    EXPECT_REJECT("\xEF\xBB\xBF{\"v\":1}");  // a BOM is not JSON whitespace
    EXPECT_REJECT("{\"v\":1}\f");
    EXPECT_REJECT("\v{\"v\":1}");
}

TEST(json_error_message_says_where) {
    JsonObjectReader r({"v"});
    std::string doc = "{\"v\": 1, \"a\": tru }";
    CHECK(!Parse(r, doc));
    CHECK(Contains(r.error(), "at byte"));
}

TEST(json_rejects_trailing_garbage) {
    EXPECT_REJECT("{\"v\":1}x", "trailing");
    EXPECT_REJECT("{\"v\":1}}", "trailing");
    EXPECT_REJECT("{\"v\":1} {\"v\":2}", "trailing");
    EXPECT_REJECT("{}{}", "trailing");
    EXPECT_REJECT("{} ,", "trailing");
    EXPECT_REJECT(std::string("{\"v\":1}\0", 8), "trailing");
    EXPECT_REJECT("{\"v\":1}\n\"");
}

TEST(json_nesting_limit) {
    auto nested = [](int depth, char open, char close) {
        std::string s = "{\"v\":";
        s += std::string(static_cast<size_t>(depth), open);
        s += std::string(static_cast<size_t>(depth), close);
        s += "}";
        return s;
    };
    // moderate nesting is fine, and the value is the raw text
    One o = ParseOne(nested(100, '[', ']'));
    CHECK(o.ok);
    CHECK(o.type == JsonType::Array);
    CHECK_EQ(o.text.size(), 200u);
    CHECK(ParseOne(nested(500, '[', ']')).ok);
    CHECK(ParseOne(nested(511, '[', ']')).ok);  // 512 levels with the top-level object
    EXPECT_REJECT(nested(513, '[', ']'), "too deep");
    std::string objs = "{\"v\":";
    for (int i = 0; i < 400; i++) objs += "{\"k\":";
    objs += "1";
    for (int i = 0; i < 400; i++) objs += "}";
    objs += "}";
    CHECK(ParseOne(objs).ok);

    // too deep: rejected with a message, without blowing the stack
    EXPECT_REJECT(nested(600, '[', ']'), "too deep");
    EXPECT_REJECT(nested(100000, '[', ']'), "too deep");
    std::string deep_objs = "{\"v\":";
    for (int i = 0; i < 1000; i++) deep_objs += "{\"k\":";
    deep_objs += "1";
    for (int i = 0; i < 1000; i++) deep_objs += "}";
    deep_objs += "}";
    EXPECT_REJECT(deep_objs, "too deep");
    // in a member that is not wanted, and in a top-level array
    EXPECT_REJECT("{\"other\":" + std::string(5000, '[') + std::string(5000, ']') + "}", "too deep");
    EXPECT_REJECT(std::string(1000000, '['));
}

TEST(json_empty_object) {
    JsonObjectReader r({"v"});
    REQUIRE(Parse(r, "{}"));
    CHECK(!r.Found(0));
    REQUIRE(Parse(r, " { \n\t\r } "));
    CHECK(!r.Found(0));
}

TEST(json_whitespace_everywhere) {
    JsonObjectReader r({"a", "b", "c"});
    REQUIRE(Parse(r, " \r\n\t{ \n\"a\" \t:\r\n 1 , \"b\"\n:\n[ 1 ,\n2 ] ,\"c\":\"x y\"\t}\n\r "));
    CHECK_EQ(Text(r, 0), "1");
    CHECK_EQ(Text(r, 1), "[ 1 ,\n2 ]");
    CHECK_EQ(Text(r, 2), "x y");
}

TEST(json_reuse_across_messages_does_not_leak_values) {
    JsonObjectReader r({"a", "b", "c"});
    REQUIRE(Parse(r, R"({"a": "one", "b": 2, "c": {"x": 1}})"));
    CHECK(r.Found(0) && r.Found(1) && r.Found(2));
    CHECK_EQ(Text(r, 0), "one");

    REQUIRE(Parse(r, R"({"b": "bee"})"));
    CHECK(!r.Found(0));
    CHECK(r.Found(1));
    CHECK(!r.Found(2));
    CHECK(r.Value(1).type == JsonType::String);
    CHECK_EQ(Text(r, 1), "bee");

    REQUIRE(Parse(r, "{}"));
    CHECK(!r.Found(0) && !r.Found(1) && !r.Found(2));

    // a failed parse in between: the next good one stands on its own
    CHECK(!Parse(r, R"({"a": "partial", "b": )"));
    CHECK(!r.error().empty());
    REQUIRE(Parse(r, R"({"c": "sea"})"));
    CHECK(r.error().empty());
    CHECK(!r.Found(0));
    CHECK(!r.Found(1));
    REQUIRE(r.Found(2));
    CHECK_EQ(Text(r, 2), "sea");

    // many messages in a row
    for (int i = 0; i < 200; i++) {
        std::string s = "v" + std::to_string(i);
        std::string doc = (i % 2) ? "{\"a\":\"" + s + "\"}" : "{\"b\":\"" + s + "\"}";
        REQUIRE(Parse(r, doc));
        CHECK_EQ(r.Found(0), i % 2 == 1);
        CHECK_EQ(r.Found(1), i % 2 == 0);
        CHECK(!r.Found(2));
        CHECK_EQ(Text(r, (i % 2) ? 0 : 1), s);
    }
}

TEST(json_input_not_nul_terminated) {
    // The reader must honour len: the bytes after it are not part of the value.
    std::string buf = R"({"v": "abc"}garbage)";
    JsonObjectReader r({"v"});
    REQUIRE(r.Parse(buf.data(), 12));
    CHECK_EQ(Text(r, 0), "abc");
    CHECK(!r.Parse(buf.data(), 11));  // cut inside the object
    std::string num = R"({"v": 12345})";
    REQUIRE(r.Parse(num.data(), num.size()));
    CHECK_EQ(Text(r, 0), "12345");
}

// ---- AppendJsonString ------------------------------------------------------

TEST(json_append_string_escaping) {
    auto enc = [](const std::string &s) {
        std::string out;
        AppendJsonString(out, s.data(), s.size());
        return out;
    };
    CHECK_EQ(enc(""), "\"\"");
    CHECK_EQ(enc("plain"), "\"plain\"");
    CHECK_EQ(enc("a\"b"), "\"a\\\"b\"");
    CHECK_EQ(enc("a\\b"), "\"a\\\\b\"");
    CHECK_EQ(enc("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
    CHECK_EQ(enc(std::string("\0", 1)), "\"\\u0000\"");
    CHECK_EQ(enc("\x01\x1f"), "\"\\u0001\\u001f\"");
    CHECK_EQ(enc("a/b"), "\"a/b\"");
    CHECK_EQ(enc("\x7F"), "\"\x7F\"");
    CHECK_EQ(enc("h\xC3\xA9 \xF0\x9F\x98\x80"), "\"h\xC3\xA9 \xF0\x9F\x98\x80\"");

    std::string out = "prefix:";
    AppendJsonString(out, "x", 1);
    CHECK_EQ(out, "prefix:\"x\"");  // appends, does not replace
}

TEST(json_needs_escape) {
    using kafka_fdw::format::JsonNeedsEscape;
    CHECK(!JsonNeedsEscape("", 0));
    CHECK(!JsonNeedsEscape("plain text / with 'quotes' and \x7F h\xC3\xA9", 27));
    CHECK(JsonNeedsEscape("a\"b", 3));
    CHECK(JsonNeedsEscape("a\\b", 3));
    CHECK(JsonNeedsEscape("tab\there", 8));
    CHECK(JsonNeedsEscape("\x1f", 1));
    CHECK(JsonNeedsEscape(std::string("a\0b", 3).data(), 3));
    CHECK(!JsonNeedsEscape("ab\"", 2));  // only the given length counts
    // for every byte: escaped exactly when AppendJsonString changes it
    for (int c = 0; c < 256; c++) {
        std::string s(1, static_cast<char>(c)), out;
        AppendJsonString(out, s.data(), 1);
        CHECK_EQ(JsonNeedsEscape(s.data(), 1), out != "\"" + s + "\"");
    }
}

TEST(json_append_string_round_trips_through_the_reader) {
    std::string all_bytes;
    for (int c = 1; c < 0x80; c++) all_bytes.push_back(static_cast<char>(c));
    const std::vector<std::string> samples = {
        "", "simple", "quote\" backslash\\ slash/", "\n\r\t\b\f", std::string("nul\0inside", 10), all_bytes,
        "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "\\u0041 is not unescaped twice", "}]\",:{["};
    for (const auto &s : samples) {
        std::string doc = "{\"v\":";
        AppendJsonString(doc, s.data(), s.size());
        doc += "}";
        JsonObjectReader r({"v"});
        REQUIRE(Parse(r, doc));
        REQUIRE(r.Found(0));
        CHECK(r.Value(0).type == JsonType::String);
        CHECK_EQ(Text(r, 0), s);
    }
    // also as a member name
    std::string name = "we\"ird\\na\nme";
    std::string doc = "{";
    AppendJsonString(doc, name.data(), name.size());
    doc += ":1}";
    JsonObjectReader r({name});
    REQUIRE(Parse(r, doc));
    CHECK(r.Found(0));
}

// ---- IsValidUtf8 -----------------------------------------------------------

namespace {
bool U8(const std::string &s) { return IsValidUtf8(s.data(), s.size()); }
}  // namespace

TEST(utf8_valid_text) {
    CHECK(U8(""));
    CHECK(U8("hello, world"));
    CHECK(U8(std::string("nul\0byte", 8)));
    CHECK(U8("\x7F"));
    CHECK(U8("\xC2\x80"));          // U+0080, smallest 2-byte
    CHECK(U8("\xC3\xA9t\xC3\xA9"));  // été
    CHECK(U8("\xDF\xBF"));          // U+07FF
    CHECK(U8("\xE0\xA0\x80"));      // U+0800, smallest 3-byte
    CHECK(U8("\xE2\x82\xAC"));      // €
    CHECK(U8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
    CHECK(U8("\xEE\x80\x80"));      // U+E000, just above
    CHECK(U8("\xEF\xBF\xBF"));      // U+FFFF
    CHECK(U8("\xF0\x90\x80\x80"));  // U+10000, smallest 4-byte
    CHECK(U8("\xF0\x9F\x98\x80"));  // 😀
    CHECK(U8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the largest
    CHECK(U8("mixed \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 end"));
}

TEST(utf8_rejects_overlongs) {
    CHECK(!U8("\xC0\x80"));          // U+0000 in 2 bytes
    CHECK(!U8("\xC0\xAF"));          // '/'
    CHECK(!U8("\xC1\xBF"));          // U+007F in 2 bytes
    CHECK(!U8("\xE0\x80\x80"));      // U+0000 in 3 bytes
    CHECK(!U8("\xE0\x9F\xBF"));      // U+07FF in 3 bytes
    CHECK(!U8("\xF0\x80\x80\x80"));  // U+0000 in 4 bytes
    CHECK(!U8("\xF0\x8F\xBF\xBF"));  // U+FFFF in 4 bytes
}

TEST(utf8_rejects_surrogates) {
    CHECK(!U8("\xED\xA0\x80"));  // U+D800
    CHECK(!U8("\xED\xAD\xBF"));  // U+DB7F
    CHECK(!U8("\xED\xB0\x80"));  // U+DC00
    CHECK(!U8("\xED\xBF\xBF"));  // U+DFFF
    CHECK(!U8("\xED\xA0\xBD\xED\xB8\x80"));  // CESU-8 pair for U+1F600
}

TEST(utf8_rejects_truncated_and_malformed_sequences) {
    CHECK(!U8("\xC3"));
    CHECK(!U8("abc\xC3"));
    CHECK(!U8("\xE2\x82"));
    CHECK(!U8("\xF0\x9F\x98"));
    CHECK(!U8("\xF0\x9F"));
    CHECK(!U8("\xF0"));
    CHECK(!U8("\xC3x"));            // continuation missing
    CHECK(!U8("\xE2\x82x"));
    CHECK(!U8("\xE2x\xAC"));
    CHECK(!U8("\x80"));             // lone continuation bytes
    CHECK(!U8("a\xBF" "b"));
    CHECK(!U8("\xC3\xA9\xA9"));     // one continuation too many
    CHECK(!U8("\xFE"));
    CHECK(!U8("\xFF"));
    CHECK(!U8("\xF8\x88\x80\x80\x80"));  // 5-byte form
    CHECK(!U8("\xFC\x84\x80\x80\x80\x80"));
    // length is honoured: a valid sequence cut by len
    const char *euro = "\xE2\x82\xAC";
    CHECK(IsValidUtf8(euro, 3));
    CHECK(!IsValidUtf8(euro, 2));
    CHECK(IsValidUtf8(euro, 0));
}

TEST(utf8_rejects_above_10ffff) {
    CHECK(!U8("\xF4\x90\x80\x80"));  // U+110000
    CHECK(!U8("\xF4\xBF\xBF\xBF"));
    CHECK(!U8("\xF5\x80\x80\x80"));
    CHECK(!U8("\xF7\xBF\xBF\xBF"));  // U+1FFFFF
}

// ---- JsonArrayToPgArray ----------------------------------------------------

namespace {
using kafka_fdw::format::JsonArrayToPgArray;

// The PostgreSQL array literal, or "<invalid>".
std::string PgArray(const std::string &json) {
    std::string out = "stale";
    if (!JsonArrayToPgArray(json.data(), json.size(), out)) return "<invalid>";
    return out;
}
}  // namespace

TEST(json_array_to_pg_array) {
    CHECK_EQ(PgArray("[1,\"a\",null,[2]]"), "{1,\"a\",NULL,{2}}");
    CHECK_EQ(PgArray("[]"), "{}");
    CHECK_EQ(PgArray(" [ ] "), "{}");
    CHECK_EQ(PgArray("[1, 2 ,3]"), "{1,2,3}");
    CHECK_EQ(PgArray("[-1.5e3, 0, 12345678901234567890]"), "{-1.5e3,0,12345678901234567890}");
    CHECK_EQ(PgArray("[true,false,null]"), "{true,false,NULL}");
    CHECK_EQ(PgArray("[[1,2],[3,4]]"), "{{1,2},{3,4}}");
    CHECK_EQ(PgArray("[[[]]]"), "{{{}}}");
    // strings are always quoted, with " and \ escaped: NULL, "", spaces, commas, braces
    CHECK_EQ(PgArray(R"(["NULL", "", " x ", "a,b", "{c}", "q\"b\\s"])"),
             R"({"NULL",""," x ","a,b","{c}","q\"b\\s"})");
    CHECK_EQ(PgArray(R"(["\u00e9\n"])"), "{\"\xC3\xA9\n\"}");
    // objects become quoted JSON text, as written
    CHECK_EQ(PgArray(R"([{"a": "b\\c"}, {}])"), R"({"{\"a\": \"b\\\\c\"}","{}"})");
}

TEST(json_array_to_pg_array_rejects_invalid_input) {
    for (const char *bad : {"", "  ", "{}", "1", "\"[1]\"", "[", "[1", "[1,]", "[,1]", "[1 2]", "[1] x",
                            "[1]]", "[\"a]", "[\"\\q\"]", "[\"\\ud800\"]", "[01]", "[nul]", "[{\"a\"}]",
                            "[{\"a\":1]", "[[1]"}) {
        std::string out;
        if (JsonArrayToPgArray(bad, strlen(bad), out))
            unit::RecordFailure(__FILE__, __LINE__,
                                "accepted " + unit::Show(std::string(bad)) + " as " + unit::Show(out));
    }
    // deep nesting: refused, without blowing the stack
    std::string deep = std::string(100000, '[') + std::string(100000, ']');
    std::string out;
    CHECK(!JsonArrayToPgArray(deep.data(), deep.size(), out));
    std::string ok_depth = std::string(100, '[') + std::string(100, ']');
    CHECK(JsonArrayToPgArray(ok_depth.data(), ok_depth.size(), out));
    CHECK_EQ(out, std::string(100, '{') + std::string(100, '}'));
}

TEST(json_array_to_pg_array_reuses_the_output) {
    std::string out = "previous content";
    REQUIRE(JsonArrayToPgArray("[1]", 3, out));
    CHECK_EQ(out, "{1}");  // replaced, not appended
    // a value taken by JsonObjectReader (raw text, not NUL-terminated)
    std::string doc = R"({"tags": ["x", "y"], "n": 1})";
    JsonObjectReader r({"tags"});
    REQUIRE(Parse(r, doc));
    REQUIRE(r.Found(0));
    REQUIRE(r.Value(0).type == JsonType::Array);
    REQUIRE(JsonArrayToPgArray(r.Value(0).data, r.Value(0).len, out));
    CHECK_EQ(out, "{\"x\",\"y\"}");
}
