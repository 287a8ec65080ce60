// Decoding of CSV message values (one record per message) with COPY's
// options: delimiter, quote, escape and the NULL string (an unquoted field
// equal to it is NULL; a quoted one is not).
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace kafka_fdw::format {

struct CsvOptions {
    char delimiter = ',';
    char quote = '"';
    char escape = '"';
    std::string null_string;
};

struct CsvField {
    bool is_null;
    size_t offset;  // into the reader's buffer
    size_t len;
};

class CsvReader {
public:
    explicit CsvReader(CsvOptions opts) : opts_(std::move(opts)) {}
    // Splits one record; a trailing newline is ignored.
    bool Parse(const char *data, size_t len) noexcept;
    size_t size() const { return fields_.size(); }
    bool IsNull(size_t i) const { return fields_[i].is_null; }
    const char *Data(size_t i) const { return buf_.data() + fields_[i].offset; }
    size_t Len(size_t i) const { return fields_[i].len; }
    const std::string &error() const { return error_; }

private:
    CsvOptions opts_;
    std::vector<CsvField> fields_;
    std::string buf_;
    std::string error_;
};

// Appends one field to a CSV record, quoting when needed.
void AppendCsvField(std::string &out, const char *s, size_t len, const CsvOptions &opts);

}  // namespace kafka_fdw::format
