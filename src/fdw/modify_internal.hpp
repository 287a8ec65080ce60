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
    int *json_kinds;         // per payload column, for the JSON encoder
    Oid *json_types;         // per payload column: its base type
    FmgrInfo *to_json;       // per payload column of kind kJsonOther: to_json(<its type>)
    char **json_keys;        // per payload column: its escaped member name and ':' ('"id":')
    StringInfoData json_buf; // reused for every row
    MemoryContext row_cxt;
    std::vector<kafka::Header> *headers;  // reused per row (owned by the guard's context)
    std::string *buf;
    RowBuffer *pending;      // rows not yet handed to librdkafka (no RETURNING)
    int64 rows;
};

// How row_to_json writes a column's value.  Simple kinds are written
// directly; kJsonOther columns (dates, arrays, composites, ...) go through
// to_json for their type, which is what row_to_json does for them.
enum JsonKind { kJsonInt, kJsonNumber, kJsonBool, kJsonRaw, kJsonText, kJsonString, kJsonOther };

// modify_encode.cpp
int JsonKindOf(Oid type);
void EncodeRow(ModifyState *ms, TupleTableSlot *slot, MessageData *m);

}  // namespace kafka_fdw::fdw

#pragma GCC visibility pop
