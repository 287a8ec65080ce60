// Rows as row_to_json writes them, from the text of each value: the one
// encoder of INSERT/COPY FROM into a JSON topic table (src/fdw), the CDC
// pipelines' format "row" (src/cdc) and `kafka_copy produce --format json`
// (src/cli).
//
// A value is given as the text its type's output function writes (what
// pgoutput sends, what COPY writes) with a JsonSpec: how values of its type
// look in JSON.  The caller derives the spec from the type once (from the
// catalog in the backend, from a type name in kafka_copy); the per-value work
// is here, with no Postgres code: numbers and booleans unquoted, json/jsonb
// nested as they are, date/timestamp/timestamptz in ISO 8601 with a "T" (as
// row_to_json writes them), arrays (array_out's text) as JSON arrays,
// int2vector/oidvector as arrays, composites (record_out's text) as objects,
// everything else a JSON string.
//
// Two uses: text an output function wrote (trusted: never refused; text a
// kind cannot read, which Postgres never writes, becomes the JSON string of
// the text), and text from outside (kafka_copy's input: refused with a
// message when it is not a value of the kind).
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <deque>
#include <string>

namespace kafka_fdw::format {

enum class JsonKind : unsigned char {
    String = 0,   // the JSON string of the text
    Number,       // the text when it is a JSON number; NaN, Infinity: strings
    Bool,         // true or false (t, f as bool_out writes them)
    Json,         // the text as it is: json, jsonb, or JSON the caller wrote
    Date,         // a string: date_out's ISO text is what row_to_json writes
    Timestamp,    // "2024-01-02 03:04:05" -> "2024-01-02T03:04:05"
    TimestampTz,  // "2024-01-02 03:04:05+01" -> "2024-01-02T03:04:05+01:00"
    Array,        // array_out's text ({...}) -> a JSON array of elem's values
    Vector,       // int2vector, oidvector ("1 2 3") -> a JSON array
    Composite,    // record_out's text ((...)) -> an object of the fields
};

// How the values of one type are written.  Plain data (zero: a string), so
// that the backend can keep it in palloc'd memory.  Date, Timestamp and
// TimestampTz read ISO text (DateStyle ISO): the CDC worker sets it; in
// INSERT these types go through to_json, written as Json.
struct JsonSpec {
    JsonKind kind;
    char delim;                      // Array: the element type's delimiter (typdelim; 0: ',')
    const JsonSpec *elem;            // Array, Vector: the elements' spec
    int nfields;                     // Composite: its fields (record_out's, in order)
    const char *const *field_names;  // Composite: each as a JSON string and ':' ('"a":')
    const JsonSpec *fields;          // Composite: each field's spec
    void *owner;                     // the caller's own data (never read here)
};

// One member of an object.
struct JsonField {
    const char *name;  // the member name as a JSON string and ':' ('"id":')
    size_t name_len;
    const JsonSpec *spec;
    bool null;         // SQL NULL: null
    const char *data;  // else the value's text
    size_t len;
};

// Writes values and rows; holds the scratch buffers of arrays and composites,
// reused from row to row (one per nesting level).
class RowJsonWriter {
public:
    // Appends the JSON of one (non-NULL) value from its text.  With `error`
    // null the text is trusted and this returns true; with `error`, text that
    // is not a value of the kind appends nothing, sets *error and returns false.
    bool AppendValue(std::string &out, const JsonSpec &spec, const char *s, size_t len,
                     std::string *error = nullptr);

    // {"a":1,"b":null}.  With `error`, the first field refused stops it:
    // false, *failed is its index, and `out` is as it was.
    bool AppendObject(std::string &out, const JsonField *fields, size_t n, std::string *error = nullptr,
                      size_t *failed = nullptr);

private:
    bool AppendArray(std::string &out, const JsonSpec &spec, const char *s, size_t len, std::string *error);
    bool AppendVector(std::string &out, const JsonSpec &spec, const char *s, size_t len, std::string *error);
    bool AppendComposite(std::string &out, const JsonSpec &spec, const char *s, size_t len, std::string *error);
    // A buffer of at least len + 1 bytes for the current nesting level.
    char *Scratch(size_t len);

    std::deque<std::string> scratch_;  // a deque: growing it moves no buffer in use
    size_t depth_ = 0;
};

// True if [s, s+len) is a JSON number (what IsValidJsonNumber accepts).
bool IsJsonNumber(const char *s, size_t len) noexcept;

// A date/time's ISO text as row_to_json writes it (JsonEncodeDateTime, XSD
// style): the space before the time becomes 'T' and a zone "+HH" becomes
// "+HH:00"; " BC" and infinities are kept.  Appends the JSON string.
void AppendIsoDateTime(std::string &out, const char *s, size_t len, bool with_zone);

}  // namespace kafka_fdw::format
