// The Debezium renderer's private header (Postgres zone): how one column is
// described and encoded, shared by debezium_schema.cpp (Describe: the
// encodings and Kafka Connect schemas of a relation's columns) and
// debezium.cpp (the key and envelope of each event).
#pragma once
#include "cdc/debezium.hpp"

// Not part of the library's interface (see worker.hpp).
#pragma GCC visibility push(hidden)

namespace kafka_fdw::cdc::dbz {

// Debezium's encodings (INTEROP.md §2.6), by the column's base type.
using Kind = format::dbz::Kind;

struct Column {
    char *json_name;  // "\"name\":"
    Kind kind;
    bool key;
    bool notnull;
    int32 typmod;
    // the base type's input function, to read pgoutput's text: for the kinds
    // whose base types are built-in (dates, times, interval, bytea) only
    FmgrInfo infunc;
    Oid ioparam;
    char *schema;     // the field's schema, without "field"
    // the column's default as a Connect value (a constant default only:
    // Debezium's "default"), or nullptr
    char *default_json;
    // arrays: the element's encoding, and the delimiter of the array's text
    // (read here, never by array_in: see InitArray)
    Column *elem;
    char delim;
};

// One value, from its text (pgoutput's), as the column's Connect JSON
// (debezium.cpp); "null" where it has no form.
void AppendColumnValue(StringInfo out, const Column *c, const char *text, int len);

}  // namespace kafka_fdw::cdc::dbz

#pragma GCC visibility pop
