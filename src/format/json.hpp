// Decoding of JSON message values: a validating single-pass reader of one
// top-level object that records where each member's value is, without
// building a tree.  Strings are unescaped into an arena owned by the reader
// (reused from message to message), so the per-message cost is one pass.
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace kafka_fdw::format {

enum class JsonType { Null, Bool, Number, String, Object, Array };

struct JsonValue {
    JsonType type;
    const char *data;  // strings: unescaped UTF-8; others: the raw JSON text
    size_t len;
    const char *raw;   // the raw JSON text (strings with their quotes)
    size_t raw_len;
};

class JsonObjectReader {
public:
    // Members the caller wants, by name (in column order).
    explicit JsonObjectReader(std::vector<std::string> wanted);

    // Parses `data` as one JSON object.  On success, Found(i) tells whether
    // wanted member i was present (the last occurrence wins) and Value(i) is
    // its value.  On failure, error() says why and where.
    bool Parse(const char *data, size_t len) noexcept;

    bool Found(size_t i) const { return found_[i]; }
    const JsonValue &Value(size_t i) const { return values_[i]; }
    const std::string &error() const { return error_; }

private:
    bool Fail(const char *what, const char *at) noexcept;

    std::vector<std::string> wanted_;
    std::vector<bool> found_;
    std::vector<JsonValue> values_;
    std::vector<size_t> string_offsets_;  // arena offsets of unescaped strings
    std::string arena_;
    std::string error_;
    const char *begin_ = nullptr;
};

// Converts a JSON array (raw text) into a PostgreSQL array literal:
// [1,"a",null,[2]] -> {1,"a",NULL,{2}}.  Objects become quoted JSON text.
// Returns false if the text is not a valid JSON array.
bool JsonArrayToPgArray(const char *data, size_t len, std::string &out);

// Appends `s` to `out` as a JSON string literal (with quotes), escaped as
// PostgreSQL's escape_json does.
void AppendJsonString(std::string &out, const char *s, size_t len);

// The same into a buffer the caller sized (the backend's StringInfo):
// JsonStringLength is the exact length of the literal WriteJsonString writes
// (and returns).  The one JSON string escape of the tree.
size_t JsonStringLength(const char *s, size_t len) noexcept;
size_t WriteJsonString(char *dst, const char *s, size_t len) noexcept;

// True if `s` holds a character that a JSON string literal must escape
// (a control character, '"' or '\\'): otherwise the literal is `s` in quotes.
bool JsonNeedsEscape(const char *s, size_t len) noexcept;

// True if [s, s+len) is valid UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(const char *s, size_t len) noexcept;

}  // namespace kafka_fdw::format
