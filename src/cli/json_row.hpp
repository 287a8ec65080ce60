// kafka_copy produce --format json: the JSON object of one row, built from the
// text of COPY's output the way row_to_json builds it from the typed values
// (what the extension's INSERT produces): numbers and booleans unquoted,
// json/jsonb nested, date/timestamp/timestamptz in ISO 8601 with a "T",
// arrays as JSON arrays, everything else a JSON string; no spaces.
#pragma once
#include "kafka/cpp_only.hpp"

#include <cstddef>
#include <string>

namespace kafka_fdw::cli {

enum class JsonKind { String, Number, Bool, Json, Date, Timestamp, TimestampTz };

struct ColumnType {
    JsonKind kind = JsonKind::String;
    bool array = false;  // an array of `kind`
};

// From a Postgres type name as written in SQL (int, integer, numeric(10,2),
// text[], timestamp with time zone, pg_catalog.int4, _int4...).  Names it does
// not know are strings.
ColumnType ParseTypeName(const std::string &name);

// Appends the JSON of one non-NULL value given as COPY's (unescaped) text.
// False, with `error` set, when the text is not a value of the type.
bool AppendJsonValue(std::string &out, const ColumnType &type, const char *s, size_t len,
                     std::string &error);

// True if s is a JSON number.
bool IsJsonNumber(const char *s, size_t len) noexcept;

}  // namespace kafka_fdw::cli
