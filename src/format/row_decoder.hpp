// One message value into the text of columns: the decoding shared by the
// foreign-table scan (src/fdw/scan_decode.cpp) and `kafka_copy consume`
// (src/cli/consume.cpp).  Configured once with the table's format and the
// payload columns to fill; per message it gives each column a view of its
// text (or NULL), tells which columns a CSV record lacks, and why a message
// could not be decoded (the junk reason).  Turning the text into values,
// strict-mode errors and junk columns are the caller's.
//
// Nothing is allocated per message once the reused buffers have grown: the
// views point into the message or into the decoder's buffers, valid until
// the next Decode.
#pragma once
#include "cpp_only.hpp"

#include "format/csv.hpp"
#include "format/json.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kafka_fdw::format {

enum class RowFormat { Json, Csv, Text, Bytea };

// The name of a format as messages and errors spell it ("json", ...).
const char *RowFormatName(RowFormat f) noexcept;

// One payload column.
struct RowColumn {
    std::string member;     // json: the member's name, as in messages (UTF-8)
    size_t field = 0;       // csv: the field's position in the record
    bool whole = false;     // json: the whole (validated) value; text, bytea: every column is
    bool raw_json = false;  // json: the member's JSON text (strings keep their quotes and escapes)
    bool pg_array = false;  // json: an array member as a PostgreSQL array literal ({1,"a",NULL})
    bool record = false;    // json: an object member fills a composite (see DecodedValue::is_record)
};

struct RowDecoderOptions {
    RowFormat format = RowFormat::Json;
    std::vector<RowColumn> columns;
    CsvOptions csv;
    // csv: a record with more fields than this is a bad message ("extra
    // data after last expected column", as COPY); 0: any number
    size_t csv_max_fields = 0;
    // csv: the columns are the record's fields, as many as it has; a
    // tombstone or a bad message has `columns.size()` NULL columns
    bool csv_all_fields = false;
};

// One column of the decoded message.
struct DecodedValue {
    const char *data;   // the column's text (not NUL-terminated)
    size_t len;
    bool is_null;       // a tombstone, a bad message, no such member, JSON null, the CSV NULL string, a missing field
    bool missing;       // csv: the record has no such field (COPY's "missing data for column"); is_null too
    bool is_record;     // json: an object for a `record` column: data is the object's JSON text
    JsonType json_type; // json: the member's type (when not NULL)
};

class RowDecoder {
public:
    explicit RowDecoder(RowDecoderOptions opts);

    // Decodes one message value; `data` nullptr is a tombstone (every column
    // NULL, not bad).  False for a message that cannot be decoded: every
    // column is NULL, error() says why and reason() is the junk reason.
    // Throws only std::bad_alloc.
    bool Decode(const char *data, size_t len);

    size_t size() const { return values_.size(); }
    const DecodedValue &Value(size_t i) const { return values_[i]; }
    RowFormat format() const { return opts_.format; }
    // why the last message could not be decoded ("expected ':' at byte 7")
    const std::string &error() const { return error_; }
    // the same as a junk_error column says it ("invalid json: expected ':' at byte 7")
    const std::string &reason() const { return reason_; }

private:
    bool Bad(const std::string &why);
    void SetAll(size_t n, bool is_null, const char *data, size_t len);
    void FillJson(const char *data, size_t len);
    void FillCsv();

    RowDecoderOptions opts_;
    std::unique_ptr<JsonObjectReader> json_;
    std::unique_ptr<CsvReader> csv_;
    std::vector<size_t> member_of_;      // per column: its index among the JSON reader's members
    std::vector<DecodedValue> values_;
    std::vector<std::pair<size_t, size_t>> converted_;  // (column, offset in arrays_) of this message's arrays
    std::string arrays_;                                // the array literals of this message
    std::string scratch_;
    std::string error_;
    std::string reason_;
};

}  // namespace kafka_fdw::format
