// kafka_copy's column types (--types): a Postgres type name as written in SQL
// mapped to how its values are written in JSON (format/row_json.hpp, the
// encoder INSERT and the CDC pipelines use) and read back (consume).
#pragma once
#include "format/row_json.hpp"

#include <string>

namespace kafka_fdw::cli {

using JsonKind = format::JsonKind;

struct ColumnType {
    JsonKind kind = JsonKind::String;  // String, Number, Bool, Json, Date, Timestamp or TimestampTz
    bool array = false;                // an array of `kind`
};

// From a Postgres type name as written in SQL (int, integer, numeric(10,2),
// text[], timestamp with time zone, pg_catalog.int4, _int4...).  Names it does
// not know are strings.
ColumnType ParseTypeName(const std::string &name);

// The encoder's spec of a column type (arrays: elements of static specs).
format::JsonSpec SpecOf(const ColumnType &type);

}  // namespace kafka_fdw::cli
