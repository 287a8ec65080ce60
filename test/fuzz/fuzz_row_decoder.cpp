// libFuzzer harness: RowDecoder (src/format/row_decoder.cpp), message values
// into the text of payload columns, as the foreign-table scan and
// `kafka_copy consume` run it on untrusted messages.  One decoder per input,
// reused for every message of the input, then given a tombstone.
//
// Input: a header byte, the column set, then the messages (split at 0x1E).
//   [0] bit 0: csv (else json); bit 1 (json): text format instead;
//       bit 2 (csv): csv_all_fields; bits 3-5: columns - 1 (1..8)
//   json: one byte per column: bits 0-2 the member (kNames), bit 3 raw_json,
//         bit 4 pg_array, bit 5 record, bit 6 whole
//   csv: fuzz_csv's 4 option bytes and NULL string, one byte for
//        csv_max_fields (mod 12; 0: any), one byte per column: its field (mod 12)
//
// Invariants beyond "no crash, no sanitizer report", per message:
// - a bad message has error() and a junk reason "invalid <format>: <error>",
//   exactly the columns' count of columns, each NULL without text;
// - a good one has no reason, and the result of an independent
//   JsonObjectReader / CsvReader with the same members / options: the same
//   verdict, types and text (so every non-NULL view is readable, checked by
//   ASan, and holds what the reader holds);
// - json: views of numbers, booleans, objects, arrays and raw_json members lie
//   inside the message (strings unescaped: in the reader's arena); a record
//   column's object is its raw text; a pg_array column holds what
//   JsonArrayToPgArray writes, accepted by pgtext::ArrayLexer (balanced, to
//   End); a NULL column (absent, JSON null) has no text;
// - csv: a missing field is NULL, missing and without text; a NULL field's
//   text is the NULL string (the decoder's view of it, never read by the
//   callers: they test is_null first);
// - a tombstone: every column NULL without text, not bad.
#include "format/json.hpp"
#include "format/csv.hpp"
#include "format/pg_text.hpp"
#include "format/row_decoder.hpp"

#include "fuzz_check.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace kafka_fdw::format;

namespace {

const char *const kNames[8] = {"id", "name", "a", "v", "", "\xC3\xA9", "tags", "meta"};

bool Inside(const char *p, size_t n, const char *s, size_t size) { return p >= s && p + n <= s + size; }

bool Same(const DecodedValue &v, const char *p, size_t n) { return v.len == n && (n == 0 || memcmp(v.data, p, n) == 0); }

void CheckNullNoText(const DecodedValue &v) { FUZZ_CHECK(v.is_null && v.data == nullptr && v.len == 0); }

// The text of a pg_array column: array_in's lexer reads it to the end.
void CheckPgArray(const char *s, size_t n) {
    std::unique_ptr<char[]> buf(new char[n]);
    pgtext::ArrayLexer lex(s, n, ',');
    int depth = 0;
    for (size_t steps = 0;; steps++) {
        FUZZ_CHECK(steps <= n + 1);
        size_t k = 0;
        pgtext::Token t = lex.Next(buf.get(), &k);
        FUZZ_CHECK(t != pgtext::Token::Error);
        if (t == pgtext::Token::End) break;
        if (t == pgtext::Token::Open) depth++;
        if (t == pgtext::Token::Close) FUZZ_CHECK(--depth >= 0);
        if (t == pgtext::Token::Item) FUZZ_CHECK(k <= n);
    }
    FUZZ_CHECK(depth == 0);
}

void CheckBad(const RowDecoder &d, size_t ncols) {
    FUZZ_CHECK(!d.error().empty());
    std::string want = std::string("invalid ") + RowFormatName(d.format()) + ": " + d.error();
    FUZZ_CHECK(d.reason() == want);
    FUZZ_CHECK(d.size() == ncols);
    for (size_t i = 0; i < d.size(); i++) {
        CheckNullNoText(d.Value(i));
        FUZZ_CHECK(!d.Value(i).missing && !d.Value(i).is_record);
    }
}

void CheckJson(const RowDecoder &d, const RowDecoderOptions &o, JsonObjectReader &ref, const char *s, size_t size) {
    bool ok = const_cast<RowDecoder &>(d).Decode(s, size);
    bool ref_ok = ref.Parse(s, size);
    FUZZ_CHECK(ok == ref_ok);
    if (!ok) {
        FUZZ_CHECK(d.error() == ref.error());
        CheckBad(d, o.columns.size());
        return;
    }
    FUZZ_CHECK(d.error().empty() && d.reason().empty());
    FUZZ_CHECK(d.size() == o.columns.size());
    std::string pg;
    size_t k = 0;  // the column's index among the reader's members
    for (size_t i = 0; i < o.columns.size(); i++) {
        const RowColumn &c = o.columns[i];
        const DecodedValue &v = d.Value(i);
        FUZZ_CHECK(!v.missing);
        if (c.whole) {
            FUZZ_CHECK(!v.is_null && !v.is_record && v.data == s && v.len == size);
            continue;
        }
        size_t m = k++;
        if (!ref.Found(m) || ref.Value(m).type == JsonType::Null) {
            CheckNullNoText(v);
            FUZZ_CHECK(!v.is_record);
            continue;
        }
        const JsonValue &jv = ref.Value(m);
        FUZZ_CHECK(!v.is_null && v.json_type == jv.type && v.data != nullptr);
        FUZZ_CHECK(v.is_record == (c.record && jv.type == JsonType::Object));
        if (v.is_record) {
            FUZZ_CHECK(v.data == jv.raw && v.len == jv.raw_len && Inside(v.data, v.len, s, size));
        } else if (c.pg_array && jv.type == JsonType::Array) {
            FUZZ_CHECK(JsonArrayToPgArray(jv.raw, jv.raw_len, pg));  // the reader validated it
            FUZZ_CHECK(Same(v, pg.data(), pg.size()));
            FUZZ_CHECK(!Inside(v.data, v.len, s, size));  // in the decoder's buffer
            CheckPgArray(v.data, v.len);
        } else if (c.raw_json) {
            FUZZ_CHECK(v.data == jv.raw && v.len == jv.raw_len && Inside(v.data, v.len, s, size));
        } else if (jv.type == JsonType::String) {
            FUZZ_CHECK(Same(v, jv.data, jv.len));  // unescaped, in the arena
            fuzz::Touch(v.data, v.len);
        } else {
            FUZZ_CHECK(v.data == jv.raw && v.len == jv.raw_len && Inside(v.data, v.len, s, size));
        }
    }
    for (size_t i = 0; i < d.size(); i++) fuzz::Touch(d.Value(i).data, d.Value(i).len);  // all still live
}

void CheckCsv(const RowDecoder &d, const RowDecoderOptions &o, CsvReader &ref, const char *s, size_t size) {
    bool ok = const_cast<RowDecoder &>(d).Decode(s, size);
    bool ref_ok = ref.Parse(s, size);
    if (ref_ok && o.csv_max_fields && ref.size() > o.csv_max_fields) {
        FUZZ_CHECK(!ok && d.error() == "extra data after last expected column");
        CheckBad(d, o.columns.size());
        return;
    }
    FUZZ_CHECK(ok == ref_ok);
    if (!ok) {
        FUZZ_CHECK(d.error() == ref.error());
        CheckBad(d, o.columns.size());
        return;
    }
    FUZZ_CHECK(d.error().empty() && d.reason().empty());
    FUZZ_CHECK(d.size() == (o.csv_all_fields ? ref.size() : o.columns.size()));
    for (size_t i = 0; i < d.size(); i++) {
        const DecodedValue &v = d.Value(i);
        size_t f = o.csv_all_fields ? i : o.columns[i].field;
        FUZZ_CHECK(!v.is_record);
        if (f >= ref.size()) {
            FUZZ_CHECK(v.missing);
            CheckNullNoText(v);
            continue;
        }
        FUZZ_CHECK(!v.missing && v.is_null == ref.IsNull(f));
        if (v.is_null) FUZZ_CHECK(Same(v, o.csv.null_string.data(), o.csv.null_string.size()));
        else FUZZ_CHECK(Same(v, ref.Data(f), ref.Len(f)));
        fuzz::Touch(v.data, v.len);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = reinterpret_cast<const char *>(data);
    if (size < 1) return 0;
    unsigned h = data[0];
    s++;
    size--;
    size_t ncols = ((h >> 3) & 7) + 1;
    RowDecoderOptions o;
    o.format = (h & 1) ? RowFormat::Csv : (h & 2) ? RowFormat::Text : RowFormat::Json;
    if (o.format == RowFormat::Csv) {
        o.csv_all_fields = (h & 4) != 0;
        if (size < 6) return 0;
        if (s[0]) o.csv.delimiter = s[0];
        if (s[1]) o.csv.quote = s[1];
        o.csv.escape = s[2] ? s[2] : o.csv.quote;
        size_t nlen = static_cast<unsigned char>(s[3]) % 8;
        o.csv_max_fields = static_cast<unsigned char>(s[4]) % 12;
        s += 5;
        size -= 5;
        if (nlen > size) nlen = size;
        o.csv.null_string.assign(s, nlen);
        s += nlen;
        size -= nlen;
    }
    if (size < ncols) return 0;
    for (size_t i = 0; i < ncols; i++) {
        unsigned b = static_cast<unsigned char>(s[i]);
        RowColumn c;
        c.member = kNames[b & 7];
        c.field = b % 12;
        c.raw_json = (b & 8) != 0;
        c.pg_array = (b & 16) != 0;
        c.record = (b & 32) != 0;
        c.whole = o.format != RowFormat::Json || (b & 64) != 0;
        o.columns.push_back(c);
    }
    s += ncols;
    size -= ncols;

    RowDecoder d(o);
    std::vector<std::string> wanted;
    for (const RowColumn &c : o.columns)
        if (!c.whole) wanted.push_back(c.member);
    JsonObjectReader json_ref(wanted);
    CsvReader csv_ref(o.csv);

    // The messages, one after the other through the same decoder.
    const char *end = s + size;
    for (const char *p = s;;) {
        const char *q = static_cast<const char *>(memchr(p, '\x1e', static_cast<size_t>(end - p)));
        size_t n = static_cast<size_t>((q ? q : end) - p);
        // each message in its own allocation: ASan sees a read past its end
        std::unique_ptr<char[]> msg(new char[n]);
        if (n) memcpy(msg.get(), p, n);
        if (o.format == RowFormat::Json) {
            CheckJson(d, o, json_ref, msg.get(), n);
        } else if (o.format == RowFormat::Csv) {
            CheckCsv(d, o, csv_ref, msg.get(), n);
        } else {
            FUZZ_CHECK(d.Decode(msg.get(), n) && d.reason().empty() && d.size() == ncols);
            for (size_t i = 0; i < ncols; i++)
                FUZZ_CHECK(!d.Value(i).is_null && d.Value(i).data == msg.get() && d.Value(i).len == n);
        }
        if (!q) break;
        p = q + 1;
    }
    FUZZ_CHECK(d.Decode(nullptr, 0));  // a tombstone
    FUZZ_CHECK(d.error().empty() && d.reason().empty() && d.size() == ncols);
    for (size_t i = 0; i < ncols; i++) {
        CheckNullNoText(d.Value(i));
        FUZZ_CHECK(!d.Value(i).missing);
    }
    return 0;
}
