// libFuzzer harness: COPY's data formats (src/format/copy_text.cpp) as
// kafka_copy reads them from COPY TO's output: the input is cut into records
// (CopyTextLineEnd for the text format, CsvRecordEnd for CSV, at the end of
// the input), the end marker \. is looked for, and every text line is split
// into fields by CopyTextParser.
//
// Invariants beyond "no crash, no sanitizer report": records tile the input
// (each ends inside it, the next one starts there); fields lie inside the
// parser's buffer; fields written by AppendCopyText (what kafka_copy's
// consume writes for COPY FROM) and joined by tabs split back into the same
// fields, NULLs (\N) included.
#include "format/copy_text.hpp"

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

void SplitText(CopyTextParser &p, const char *s, size_t len, std::vector<Field> *out) {
    FUZZ_CHECK(p.Parse(s, len));
    FUZZ_CHECK(p.size() >= 1);
    for (size_t i = 0; i < p.size(); i++) {
        fuzz::Touch(p.Data(i), p.Len(i));
        if (p.IsNull(i)) FUZZ_CHECK(p.Len(i) == 0);
        if (out) out->push_back({p.IsNull(i), std::string(p.Data(i), p.Len(i))});
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = reinterpret_cast<const char *>(data);
    static CopyTextParser tab;
    static CopyTextParser comma(',');

    // The text format, record by record, as kafka_copy's Input::Next.
    std::vector<Field> fields;
    for (size_t pos = 0; pos < size;) {
        size_t n = CopyTextLineEnd(s + pos, size - pos);
        if (n == 0) n = size - pos;  // the last line without a newline
        FUZZ_CHECK(n <= size - pos);
        size_t len = n;
        if (s[pos + len - 1] == '\n') len--;
        if (IsCopyEndMarker(s + pos, len)) break;
        fields.clear();
        SplitText(tab, s + pos, len, &fields);
        SplitText(comma, s + pos, len, nullptr);

        // Round trip of this line's fields through AppendCopyText.
        std::string line;
        for (size_t i = 0; i < fields.size(); i++) {
            if (i) line.push_back('\t');
            if (fields[i].is_null) AppendCopyNull(line);
            else AppendCopyText(line, fields[i].text.data(), fields[i].text.size());
        }
        FUZZ_CHECK(CopyTextLineEnd(line.data(), line.size()) == 0);  // no unescaped newline
        line.push_back('\n');
        FUZZ_CHECK(CopyTextLineEnd(line.data(), line.size()) == line.size());
        std::vector<Field> again;
        SplitText(tab, line.data(), line.size() - 1, &again);
        FUZZ_CHECK(again.size() == fields.size());
        for (size_t i = 0; i < fields.size(); i++)
            FUZZ_CHECK(again[i].is_null == fields[i].is_null && again[i].text == fields[i].text);
        pos += n;
    }

    // The CSV format's record boundaries, with COPY's default quote/escape
    // and with a backslash escape; then each record's fields.
    for (char escape : {'"', '\\'}) {
        for (size_t pos = 0; pos < size;) {
            size_t n = CsvRecordEnd(s + pos, size - pos, '"', escape, true);
            FUZZ_CHECK(n > 0 && n <= size - pos);
            size_t n_more = CsvRecordEnd(s + pos, size - pos, '"', escape, false);
            FUZZ_CHECK(n_more == 0 || n_more == n);
            pos += n;
        }
    }

    // A CSV field as COPY ... (FORMAT csv) writes it: quoted where needed,
    // one record, and not the end marker.
    std::string csv;
    AppendCopyCsvField(csv, s, size);
    FUZZ_CHECK(!IsCopyEndMarker(csv.data(), csv.size()));
    FUZZ_CHECK(CsvRecordEnd(csv.data(), csv.size(), '"', '"', true) == csv.size());
    return 0;
}
