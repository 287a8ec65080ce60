// Debezium-compatible change events (pipeline option "format": "debezium").
// Postgres zone.
//
// The key and value are what Debezium's PostgreSQL connector writes through
// Kafka Connect's JsonConverter: with "schemas" (the default, as
// schemas.enable=true) each is {"schema": ..., "payload": ...}; without, the
// payload alone.  The value is Debezium's envelope (before, after, source,
// transaction, op, ts_ms, ts_us, ts_ns) with its source block for
// PostgreSQL, and column values in Debezium's default encodings
// (decimal.handling.mode=precise, time.precision.mode=adaptive,
// binary.handling.mode=bytes).  See ../shared/design/INTEROP.md §2 and
// docs/pipelines.md, "Debezium format".
//
// Values are read from pgoutput's text with built-in code only: no user
// function (cast, domain constraint, input function of a user type) runs.
#pragma once
#include "format/debezium_value.hpp"
#include "format/pg_text.hpp"
#include "format/pgoutput.hpp"

#include "pg/postgres.hpp"

extern "C" {
#include "utils/hsearch.h"
}

namespace kafka_fdw::cdc::dbz {

struct Column;  // how one column is described and encoded

struct Relation {
    int natts;
    Column *cols;
    bool has_key;
    char *key_head;    // '{"schema":<key schema>,"payload":' or "" without schemas
    char *value_head;  // '{"schema":<envelope schema>,"payload":' or "" without schemas
    // the source block's constant parts, around its per-event values
    char *source_head;   // ',"source":{"version":...,"name":<prefix>,"ts_ms":'
    char *source_db;     // ',"db":<db>,"sequence":'
    char *source_table;  // ',"schema":<nsp>,"table":<rel>,"txId":'
    char *collection;    // "schema.table": Debezium's data collection (transaction metadata)
};

struct Options {
    bool schemas;
    const char *prefix;  // Debezium's topic.prefix: the logical server name
    const char *dbname;
};

// Built when pgoutput describes a relation (under the decoding's historic
// snapshot, which catalog lookups here use).  key[i]: column i is part of
// the event key.
Relation *Describe(Oid relid, const format::pgoutput::Relation &msg, const bool *key, const Options &o,
                   MemoryContext cxt);

struct Transaction;

struct Source {
    int64 commit_unix_us;  // commit time, microseconds since 1970
    uint32 xid;
    uint64 commit_lsn;
    uint64 change_lsn;
    bool snapshot;  // an event of the initial snapshot (op 'r')
    // The decoded transaction's counts (option "transaction_topic"): the
    // event is counted and gets its `transaction` block; nullptr: the block
    // is null (without the option, and in the initial snapshot).
    Transaction *txn = nullptr;
};

// The key ({...} of the key columns); false when the table has none.
bool RenderKey(StringInfo out, const Relation *rel, const format::pgoutput::Tuple &tup);

// The envelope.  op 'c', 'u', 'd' or 't'.  before/after may be null;
// before_key_only: `before` holds the key columns only (REPLICA IDENTITY
// DEFAULT): other NOT NULL columns get their type's fallback value, as
// Debezium writes them.  full_old: the complete old row (REPLICA IDENTITY
// FULL), for unchanged TOASTed values of `after`.
void RenderEnvelope(StringInfo out, const Relation *rel, char op, const format::pgoutput::Tuple *before,
                    bool before_key_only, const format::pgoutput::Tuple *after,
                    const format::pgoutput::Tuple *full_old, const Source &src);

// ---- txmeta.cpp: Debezium's transaction metadata ------------------------------
//
// With provide.transaction.metadata=true Debezium's PostgreSQL connector
// writes a BEGIN and an END record per transaction to <prefix>.transaction,
// and a `transaction` block {id, total_order, data_collection_order} in each
// event.  Its id is "<xid>:<LSN>", the LSN being the record's own position
// (PostgresTransactionMonitor.adjustTxId takes the offset's last seen LSN):
// BEGIN's message, the change's (source.lsn), the commit's end; so only the
// xid part is the same in the records of one transaction.

// The counts of the transaction being decoded: its events, in all and per
// table (Debezium's data collection, "schema.table").
struct Transaction {
    MemoryContext cxt;  // what the counts take, reset by StartTransaction
    HTAB *tables;       // collection -> events so far (made at the first event)
    List *order;        // the tables' entries in the order of their first event
    int64 total;
    uint32 xid;
};

Transaction *NewTransaction(MemoryContext parent);
void StartTransaction(Transaction *t, uint32 xid);

// Counts one event of table `collection` and appends its transaction block.
void AppendTransactionBlock(StringInfo out, Transaction *t, const char *collection, uint64 lsn);

// The BEGIN or END record (end: with the counts) at `lsn`; ts_ms: the
// commit time.  With schemas, as JsonConverter writes them.
void RenderTransactionKey(StringInfo out, bool schemas, const Transaction *t, uint64 lsn);
void RenderTransactionValue(StringInfo out, bool schemas, const Transaction *t, bool end, uint64 lsn, int64 ts_ms);

}  // namespace kafka_fdw::cdc::dbz
