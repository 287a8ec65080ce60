// What the files of INSERT and COPY FROM into a topic (src/fdw/modify*.cpp)
// share: the state of one statement (its ledger, the rows buffered for
// ProduceBatch) and the encoding of a row.  Private to those files.
#pragma once

#include "kafka/producer.hpp"

#include "fdw/connection.hpp"
#include "fdw/modify.hpp"
#include "fdw/options.hpp"
#include "pg/postgres.hpp"

#include <string>
#include <vector>

// Nothing declared here is part of the library's interface: hidden also
// where PGXS does not compile with -fvisibility=hidden (PostgreSQL 15), so
// that the functions below, which were file-local before modify.cpp was
// split, are not exported.
#pragma GCC visibility push(hidden)

namespace kafka_fdw::format {
struct JsonField;  // format/row_json.hpp
class RowJsonWriter;
}  // namespace kafka_fdw::format

namespace kafka_fdw::fdw {

// Closes the statement's ledger when the executor's memory goes away, also
// after an ERROR.
struct LedgerGuard {
    kafka::Producer *producer;
    uint32_t ledger;
    ~LedgerGuard() { producer->CloseLedger(ledger); }
};

// Rows waiting for one ProduceBatch call: their keys and values copied into
// one arena (a row's own memory is reset before the next row).
struct RowBuffer {
    struct Entry {
        size_t key_off, key_len, value_off, value_len;
        bool has_key, has_value;
    };
    std::string arena;
    std::vector<Entry> entries;
    std::vector<kafka::BatchMessage> msgs;
    static constexpr size_t kMaxRows = 1000;
    static constexpr size_t kMaxBytes = 1 << 20;
    bool Full() const { return entries.size() >= kMaxRows || arena.size() >= kMaxBytes; }
};

struct ModifyState {
    TableDef *table;
    ClientSpec *spec;
    kafka::Producer *producer;
    LedgerGuard *guard;
    bool transactional;
    bool returning;
    int *payload_cols;       // table column index of each payload column
    int npayload;
    FmgrInfo *out_funcs;
    // format json (BeginJsonEncoding), per payload column:
    int *json_sources;       // how its value's text is had (JsonSource)
    Oid *json_types;         // its base type
    FmgrInfo *to_json;       // kJsonOther: to_json(<its type>)
    format::JsonField *json_fields;  // its member name and spec; the row's text
    char *json_ints;         // kJsonInt: room for its digits (kIntTextSize each)
    format::RowJsonWriter *json;     // the encoder (owned by the statement's context)
    MemoryContext row_cxt;
    std::vector<kafka::Header> *headers;  // reused per row (owned by the guard's context)
    std::string *buf;
    RowBuffer *pending;      // rows not yet handed to librdkafka (no RETURNING)
    int64 rows;
};

// Where the text of a column's value comes from for the JSON encoder
// (format/row_json.hpp): the simple types from the Datum or their output
// function; kJsonOther columns (dates, arrays, composites, ...) from to_json
// for their type, which is what row_to_json does for them.
enum JsonSource { kJsonInt, kJsonNumber, kJsonBool, kJsonRaw, kJsonText, kJsonString, kJsonOther };

// modify_encode.cpp
int JsonSourceOf(Oid type);
void BeginJsonEncoding(ModifyState *ms);  // format json, from BeginModify
void EncodeRow(ModifyState *ms, TupleTableSlot *slot, MessageData *m);

}  // namespace kafka_fdw::fdw

#pragma GCC visibility pop
