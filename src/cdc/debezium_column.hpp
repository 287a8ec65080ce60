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
enum class Kind {
    Bool, Int16, Int32, Int64, Float32, Float64,
    String,        // text and everything without a closer mapping: the text form
    Decimal,       // numeric(p,s): base64 of the unscaled two's complement
    VarDecimal,    // numeric: {"scale":s,"value":<base64>}
    Date,          // days since 1970-01-01
    TimeMs, TimeUs,            // time(0-3) / time(4-6), time
    TimestampMs, TimestampUs,  // timestamp(0-3) / timestamp(4-6), timestamp
    ZonedTimestamp,  // timestamptz: ISO 8601 in UTC
    ZonedTime,       // timetz: ISO 8601 in UTC
    Interval,        // microseconds, 365.25/12-day months
    Uuid, Json, Xml, Enum,  // strings with a semantic name
    Bytes,           // bytea: base64
    Array,
};

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
    // arrays: the element's encoding, and the delimiter of the array's text
    // (read here, never by array_in: see InitArray)
    Column *elem;
    char delim;
};

}  // namespace kafka_fdw::cdc::dbz

#pragma GCC visibility pop
