// COPY's own data formats, as PostgreSQL's COPY TO writes them and COPY FROM
// reads them: the text format (backslash escapes, \N for NULL, one row per
// line) and the CSV format's quoting (NULL is an unquoted empty field).  Used
// by kafka_copy to write rows for COPY FROM PROGRAM and to read the rows of
// COPY TO PROGRAM.
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace kafka_fdw::format {

// --- text format ------------------------------------------------------------

// Appends `s` as one field of COPY's text format: backslash, the delimiter
// (tab), newline, carriage return and the other C escapes (\b \f \v) are
// escaped as COPY TO does, so COPY FROM reads back exactly `s`.
void AppendCopyText(std::string &out, const char *s, size_t len);
// The NULL marker of the text format.
inline void AppendCopyNull(std::string &out) { out.append("\\N", 2); }

// Length of the next text-format line in [data, data+len), its newline
// included, or 0 if no complete line is there yet.  A newline preceded by an
// odd number of backslashes is data (COPY FROM accepts that too).
size_t CopyTextLineEnd(const char *data, size_t len) noexcept;

// Splits one text-format line (without its newline) into fields and undoes
// the escapes (\b \f \n \r \t \v \\, \ooo octal, \xhh hex, \c for any other
// c).  A field that is exactly \N (before unescaping) is NULL.
class CopyTextParser {
public:
    explicit CopyTextParser(char delimiter = '\t') : delimiter_(delimiter) {}
    bool Parse(const char *line, size_t len);
    size_t size() const { return fields_.size(); }
    bool IsNull(size_t i) const { return fields_[i].is_null; }
    const char *Data(size_t i) const { return buf_.data() + fields_[i].offset; }
    size_t Len(size_t i) const { return fields_[i].len; }
    const std::string &error() const { return error_; }

private:
    struct Field {
        bool is_null;
        size_t offset;
        size_t len;
    };
    char delimiter_;
    std::vector<Field> fields_;
    std::string buf_;
    std::string error_;
};

// True for the end-of-data marker line "\." (without its newline).
inline bool IsCopyEndMarker(const char *line, size_t len) {
    return len == 2 && line[0] == '\\' && line[1] == '.';
}

// --- CSV format ---------------------------------------------------------------

// Length of the next CSV record in [data, data+len), its newline included,
// or 0 if it is not complete yet (a quoted field may hold newlines).  At the
// end of the input (`at_eof`), whatever is left is the last record.
size_t CsvRecordEnd(const char *data, size_t len, char quote, char escape, bool at_eof) noexcept;

// Appends one field as COPY ... (FORMAT csv) writes it: quoted when it holds
// the delimiter, the quote, a newline or CR, is empty (an unquoted empty field
// is NULL) or is the end-of-data marker \. ; quotes inside are doubled.
void AppendCopyCsvField(std::string &out, const char *s, size_t len, char delimiter = ',',
                        char quote = '"');

}  // namespace kafka_fdw::format
