// CsvReader and AppendCsvField (src/format/csv.hpp).
#include "format/csv.hpp"

#include "framework.hpp"

#include <string>
#include <vector>

using kafka_fdw::format::AppendCsvField;
using kafka_fdw::format::CsvOptions;
using kafka_fdw::format::CsvReader;

namespace {

// A parsed record: each field's text, or "<NULL>".
struct Rec {
    bool ok;
    std::vector<std::string> fields;
    std::string error;
};

constexpr const char *kNull = "<NULL>";

Rec Parse(CsvReader &r, const std::string &s) {
    Rec rec{};
    rec.ok = r.Parse(s.data(), s.size());
    rec.error = r.error();
    if (rec.ok)
        for (size_t i = 0; i < r.size(); i++)
            rec.fields.push_back(r.IsNull(i) ? std::string(kNull) : std::string(r.Data(i), r.Len(i)));
    return rec;
}

Rec Parse(const std::string &s, CsvOptions opts = {}) {
    CsvReader r(std::move(opts));
    return Parse(r, s);
}

using Fields = std::vector<std::string>;

std::string Join(const Fields &f) {
    std::string out = "[";
    for (size_t i = 0; i < f.size(); i++) out += (i ? ", " : "") + unit::Show(f[i]);
    return out + "]";
}

void ExpectFields(const Rec &rec, const Fields &want, const char *file, int line) {
    if (!rec.ok) {
        unit::RecordFailure(file, line, "parse failed: " + rec.error + ", expected " + Join(want));
        return;
    }
    if (rec.fields != want)
        unit::RecordFailure(file, line, "got " + Join(rec.fields) + ", expected " + Join(want));
}
#define EXPECT_FIELDS(rec, ...) ExpectFields((rec), Fields(__VA_ARGS__), __FILE__, __LINE__)

CsvOptions Opts(char delimiter, char quote, char escape, std::string null_string) {
    CsvOptions o;
    o.delimiter = delimiter;
    o.quote = quote;
    o.escape = escape;
    o.null_string = std::move(null_string);
    return o;
}

}  // namespace

TEST(csv_simple_record) {
    EXPECT_FIELDS(Parse("a,b,c"), {"a", "b", "c"});
    EXPECT_FIELDS(Parse("one"), {"one"});
    EXPECT_FIELDS(Parse("1,hello world, spaced "), {"1", "hello world", " spaced "});
}

TEST(csv_default_null_is_unquoted_empty) {
    // COPY's CSV default: NULL is an unquoted empty string; "" is an empty string
    EXPECT_FIELDS(Parse("a,,c"), {"a", kNull, "c"});
    EXPECT_FIELDS(Parse("a,\"\",c"), {"a", "", "c"});
    EXPECT_FIELDS(Parse(",,"), {kNull, kNull, kNull});
    EXPECT_FIELDS(Parse("\"\",\"\""), {"", ""});
    EXPECT_FIELDS(Parse(""), {kNull});
    EXPECT_FIELDS(Parse("a,"), {"a", kNull});
    EXPECT_FIELDS(Parse(",a"), {kNull, "a"});
}

TEST(csv_null_string) {
    CsvOptions o;
    o.null_string = "\\N";
    EXPECT_FIELDS(Parse("\\N,x,\"\\N\",,\\Nx, \\N", o), {kNull, "x", "\\N", "", "\\Nx", " \\N"});
    o.null_string = "NULL";
    EXPECT_FIELDS(Parse("NULL,\"NULL\",null,NULL", o), {kNull, "NULL", "null", kNull});
    // a field that is partly quoted is quoted: not NULL
    EXPECT_FIELDS(Parse("NU\"LL\"", o), {"NULL"});
    EXPECT_FIELDS(Parse("\"\"NULL", o), {"NULL"});
}

TEST(csv_quoted_fields) {
    EXPECT_FIELDS(Parse("\"a,b\",c"), {"a,b", "c"});
    EXPECT_FIELDS(Parse("\"line1\nline2\",x"), {"line1\nline2", "x"});
    EXPECT_FIELDS(Parse("\"crlf\r\ninside\""), {"crlf\r\ninside"});
    EXPECT_FIELDS(Parse("\"say \"\"hi\"\"\",2"), {"say \"hi\"", "2"});
    EXPECT_FIELDS(Parse("\"\"\"\""), {"\""});
    EXPECT_FIELDS(Parse("\"\"\"\"\"\""), {"\"\""});
    EXPECT_FIELDS(Parse("\"a\"\"\""), {"a\""});
    EXPECT_FIELDS(Parse("\" padded \""), {" padded "});
    EXPECT_FIELDS(Parse("\"trailing newline\n\""), {"trailing newline\n"});
    EXPECT_FIELDS(Parse("\",\",\",\""), {",", ","});
    // quotes may start in the middle of a field (as in COPY)
    EXPECT_FIELDS(Parse("ab\"c,d\"e,f"), {"abc,de", "f"});
}

TEST(csv_trailing_newline_ignored) {
    EXPECT_FIELDS(Parse("a,b\n"), {"a", "b"});
    EXPECT_FIELDS(Parse("a,b\r\n"), {"a", "b"});
    EXPECT_FIELDS(Parse("a,\n"), {"a", kNull});
    EXPECT_FIELDS(Parse("a,\"\"\r\n"), {"a", ""});
    EXPECT_FIELDS(Parse("\n"), {kNull});
    EXPECT_FIELDS(Parse("\r\n"), {kNull});
    EXPECT_FIELDS(Parse("\"x\ny\"\n"), {"x\ny"});
    EXPECT_FIELDS(Parse("\"x\r\n\"\r\n"), {"x\r\n"});
    // only one record terminator is ignored
    EXPECT_FIELDS(Parse("a\n\n"), {"a\n"});
}

TEST(csv_unterminated_quote_is_an_error) {
    Rec r = Parse("a,\"b,c");
    CHECK(!r.ok);
    CHECK(!r.error.empty());
    CHECK(r.error.find("unterminated") != std::string::npos);
    CHECK(r.error.find('2') != std::string::npos);  // names the field
    CHECK(!Parse("\"").ok);
    CHECK(!Parse("\"abc\n").ok);
    CHECK(!Parse("\"abc\"\"").ok);
    CHECK(!Parse("x,\"abc\"\"\r\n").ok);
}

TEST(csv_custom_delimiter_quote_escape) {
    CsvOptions o = Opts(';', '\'', '\\', "");
    EXPECT_FIELDS(Parse("a;b;'c;d'", o), {"a", "b", "c;d"});
    EXPECT_FIELDS(Parse("'it\\'s';x", o), {"it's", "x"});
    EXPECT_FIELDS(Parse("'back\\\\slash'", o), {"back\\slash"});
    EXPECT_FIELDS(Parse("'other \\n escape'", o), {"other \\n escape"});  // not special
    // with an escape other than the quote, '' is no escape: it closes and reopens
    EXPECT_FIELDS(Parse("'doubled '''", o), {"doubled "});
    EXPECT_FIELDS(Parse("un\\quoted;\"dq\"", o), {"un\\quoted", "\"dq\""});
    EXPECT_FIELDS(Parse("a,b;c", o), {"a,b", "c"});
    EXPECT_FIELDS(Parse(";;", o), {kNull, kNull, kNull});
    EXPECT_FIELDS(Parse("'';''", o), {"", ""});

    CsvOptions tab = Opts('\t', '"', '"', "\\N");
    EXPECT_FIELDS(Parse("1\t\\N\t\"a\tb\"\t\n", tab), {"1", kNull, "a\tb", ""});

    CsvOptions pipe = Opts('|', '"', '\\', "");
    EXPECT_FIELDS(Parse("\"a\\\"b\"|\"c\"\"d\"|x", pipe), {"a\"b", "cd", "x"});
    CHECK(!Parse("\"abc\\\"", pipe).ok);  // the escaped quote does not close it
}

TEST(csv_reader_reuse) {
    CsvReader r(CsvOptions{});
    EXPECT_FIELDS(Parse(r, "a,b,c,d"), {"a", "b", "c", "d"});
    EXPECT_FIELDS(Parse(r, "x"), {"x"});
    CHECK(!Parse(r, "\"bad").ok);
    CHECK(!r.error().empty());
    EXPECT_FIELDS(Parse(r, "\"q\",,z"), {"q", kNull, "z"});
    CHECK(r.error().empty());
    CHECK_EQ(r.size(), 3u);
}

TEST(csv_input_not_nul_terminated_and_binary) {
    std::string buf = "a,b,c";
    CsvReader r(CsvOptions{});
    REQUIRE(r.Parse(buf.data(), 3));
    REQUIRE(r.size() == 2u);
    CHECK_EQ(std::string(r.Data(1), r.Len(1)), "b");
    std::string bin("x\0y,\"\0\"", 7);
    EXPECT_FIELDS(Parse(bin), {std::string("x\0y", 3), std::string("\0", 1)});
    EXPECT_FIELDS(Parse("caf\xC3\xA9,\xF0\x9F\x98\x80"), {"caf\xC3\xA9", "\xF0\x9F\x98\x80"});
}

TEST(csv_many_fields) {
    std::string rec;
    Fields want;
    for (int i = 0; i < 1000; i++) {
        if (i) rec += ",";
        rec += std::to_string(i);
        want.push_back(std::to_string(i));
    }
    EXPECT_FIELDS(Parse(rec), want);
}

// ---- AppendCsvField --------------------------------------------------------

namespace {

std::string Field(const std::string &s, const CsvOptions &o = CsvOptions{}) {
    std::string out;
    AppendCsvField(out, s.data(), s.size(), o);
    return out;
}

// Builds a record of `values` (nullptr: NULL) and parses it back.
void RoundTrip(const std::vector<const std::string *> &values, const CsvOptions &o, const char *file,
               int line) {
    std::string rec;
    Fields want;
    for (size_t i = 0; i < values.size(); i++) {
        if (i) rec.push_back(o.delimiter);
        if (values[i]) {
            AppendCsvField(rec, values[i]->data(), values[i]->size(), o);
            want.push_back(*values[i]);
        } else {
            rec += o.null_string;
            want.push_back(kNull);
        }
    }
    rec += "\n";  // a trailing newline is ignored
    CsvReader r(o);
    Rec got = Parse(r, rec);
    if (!got.ok || got.fields != want)
        unit::RecordFailure(file, line,
                            "round trip of " + Join(want) + " via " + unit::Show(rec) + " gave " +
                                (got.ok ? Join(got.fields) : "error " + got.error));
}

}  // namespace

TEST(csv_append_field_quotes_only_when_needed) {
    CHECK_EQ(Field("plain"), "plain");
    CHECK_EQ(Field("with space"), "with space");
    CHECK_EQ(Field(""), "\"\"");  // distinct from the NULL string ""
    CHECK_EQ(Field("a,b"), "\"a,b\"");
    CHECK_EQ(Field("a\"b"), "\"a\"\"b\"");
    CHECK_EQ(Field("line\nbreak"), "\"line\nbreak\"");
    CHECK_EQ(Field("cr\r"), "\"cr\r\"");
    CsvOptions o = Opts(';', '\'', '\\', "\\N");
    CHECK_EQ(Field("a,b", o), "a,b");
    CHECK_EQ(Field("a;b", o), "'a;b'");
    CHECK_EQ(Field("it's", o), "'it\\'s'");
    CHECK_EQ(Field("\\N", o), "'\\\\N'");  // equal to the NULL string: quoted
    CHECK_EQ(Field("", o), "''");
    std::string out = "x;";
    AppendCsvField(out, "y", 1, o);
    CHECK_EQ(out, "x;y");  // appends
}

TEST(csv_append_field_round_trip) {
    std::string all_ascii;
    for (int c = 1; c < 0x80; c++) all_ascii.push_back(static_cast<char>(c));
    const std::vector<std::string> tricky = {
        "",        "plain",     " lead and trail ", "a,b",        "a;b",     "a\tb",       "a|b",
        "\"",      "\"\"",      "say \"hi\"",       "'",          "it's",    "\\",         "ends with \\",
        "\\\"",    "\\N",       "NULL",             "\n",         "\r\n",    "x\r",        "x\n",
        "\"\n\"",  "a\"\n,\"b", std::string("nul\0byte", 8),      all_ascii, "caf\xC3\xA9"};
    const std::vector<CsvOptions> options = {
        CsvOptions{},
        Opts(',', '"', '"', "\\N"),
        Opts(';', '\'', '\\', ""),
        Opts('\t', '"', '\\', "NULL"),
        Opts('|', '\'', '"', "\\N"),
    };
    for (const auto &o : options) {
        // each value alone, and all of them in one record with NULLs between
        std::vector<const std::string *> all;
        for (const auto &s : tricky) {
            RoundTrip({&s}, o, __FILE__, __LINE__);
            all.push_back(&s);
            all.push_back(nullptr);
        }
        RoundTrip(all, o, __FILE__, __LINE__);
    }
}
