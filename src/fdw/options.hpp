// Options of servers, user mappings, foreign tables and columns: the static
// tables that drive validation, and the parsed forms the rest of the FDW uses.
// Everything here is Postgres zone: plain, palloc'd data.
#pragma once

#include "pg/postgres.hpp"

namespace kafka_fdw::fdw {

enum class Format { Json, Csv, Text, Bytea };

enum class ColumnRole {
    Payload,    // decoded from the value by the table's format
    Partition,
    Offset,
    Key,
    Timestamp,
    Headers,
    Value,      // the whole raw value
    Junk,       // the raw message when decoding failed
    JunkError,  // why decoding failed
};

struct ColumnDef {
    AttrNumber attnum;
    const char *name;       // column name
    const char *json_name;  // member name (json), defaults to the column name
    ColumnRole role;
    Oid type;
    int32 typmod;
    int payload_index;      // position among payload columns (csv), -1 otherwise
};

struct TableDef {
    Oid relid;
    Oid serverid;
    const char *topic;
    Format format;
    bool strict;
    bool ignore_junk;
    int batch_size;
    char csv_delimiter;
    char csv_quote;
    char csv_escape;
    const char *csv_null;
    const char *isolation_level;  // read_committed (default) or read_uncommitted
    const char *partitioner;      // murmur2_random (default)
    bool partitioner_set;         // set on the table (else the server's applies)
    bool readonly;
    bool tombstone_on_null;
    bool transactional;
    const char *group;            // consumer group (NULL: a plain scan)
    bool group_latest;            // group_start 'latest'
    bool skip_locked;
    bool gap_error;               // on_gap 'error'
    int ncolumns;                 // live columns
    ColumnDef *columns;
    int npayload;
};

// Table, its server's table-level defaults, and its columns.
TableDef *GetTableDef(Oid relid);

// Server options that are kafka_fdw's own (not librdkafka properties).
bool IsServerFdwOption(const char *name);

const char *FormatName(Format f);

// A Boolean option as the validator accepts it (true/false/yes/no/on/off/1/0).
bool OptBool(DefElem *def);

}  // namespace kafka_fdw::fdw
