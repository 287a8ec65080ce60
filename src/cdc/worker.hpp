// The pipeline worker's private header (Postgres zone): its state and what
// its files share.
//   worker_main.cpp  the main loop, signals, status in shared memory
//   definition.cpp   the pipeline's row and its owner's privileges
//   render.cpp       a row as row_to_json renders it
//   dispatch.cpp     pgoutput's messages to Kafka, and confirming the slot
//   snapshot.cpp     the initial snapshot
//   txmeta.cpp       Debezium's transaction metadata topic
//   outbox.cpp       kafka.produce_on_commit's messages to Kafka
// See worker_main.cpp for how the worker runs.
#pragma once

#include "format/row_json.hpp"

#include "cdc/sender.hpp"
#include "cdc/debezium.hpp"

#include "cdc/cdc.hpp"

extern "C" {
#include "replication/logical.h"
#include "utils/hsearch.h"
}

// Nothing here is part of the library's interface: hidden from its dynamic
// symbol table also where PGXS does not compile with -fvisibility=hidden (15).
#pragma GCC visibility push(hidden)

namespace kafka_fdw::cdc::pipeline {

namespace pgo = format::pgoutput;

// How a column's text (as pgoutput sends it) becomes JSON (render.cpp,
// format/row_json.hpp): as row_to_json renders it (PostgreSQL 15's
// json_categorize_type / datum_to_json), except that nothing but built-in
// code runs.  A type's cast to json is never looked for, and dates, arrays
// and composites are read from their text, element by element, never
// through their input functions (array_in/record_in call those of the
// element and attribute types, among them domain CHECK constraints) and
// array_to_json/row_to_json (the casts to json of user types).  Every type
// that is not one of the built-in categories renders as a JSON string of its
// text (its output function's, as pgoutput sends it).
struct RenderBuffers;  // render.cpp: the encoder and its buffers

struct AttrInfo {
    char *name;
    char *json_name;  // the name as a JSON string and ':' ('"id":')
    bool key;
    format::JsonSpec type;
};

struct RelInfo {
    uint32 relid;  // hash key
    MemoryContext cxt;
    char *table;   // schema.table
    char *topic;
    int natts;
    AttrInfo *attrs;
    dbz::Relation *dbz;  // format "debezium"
    bool excluded;       // a relation of the extension's own schema: never sent
    bool topic_ready;    // its topic was made sure of (before the first event)
};

struct Worker {
    int idx;
    PipelineEntry *entry;
    char slot_name[NAMEDATALEN];
    char *name;
    char *server;
    char *publication;
    char *topic_prefix;
    int partitions;
    int replication;
    Oid owner;
    bool paused;
    MemoryContext cxt;      // worker lifetime
    MemoryContext scratch;  // reset after each pgoutput message
    Sender *sender;
    LogicalDecodingContext *ctx;
    HTAB *rels;
    XLogRecPtr confirmed;
    bool dirty;
    TimestampTz last_save;
    TimestampTz last_housekeeping;
    TimestampTz stalled_since;  // first time we saw pending messages not moving
    uint64 last_pending;
    uint64 rate_counted;        // the sender's events_sent already counted in the entry's rate
    uint64 records;
    char toast_cols[1024];
    RenderBuffers *render;  // render.cpp's, made at the first row (owned by cxt)
    bool snapshot_pending;  // the initial snapshot is still to be (re)done
    bool no_definition;     // no pipeline row for the slot (yet)
    bool connecting;        // connecting as the owner (a FATAL there: look the owner up again)
    Oid connected_owner;    // the role this process connected as (InvalidOid: a lookup start)
    List *verified;         // tables checked at this start, not yet described (see RelationAllowed)
    uint32 created_gen;     // the entry's created_gen before the row was looked for
    bool debezium;      // format "debezium" (else "row")
    bool dbz_schemas;   // its option "schemas"
    bool failover;      // option "failover": the slot is synchronized to standbys (17+)
    // exactly-once (option "exactly_once", default true; sender.hpp)
    bool exactly_once;
    char *progress_topic;
    int commit_interval_ms;
    int64 commit_max_events;
    int64 split_max_events;
    bool eos_started;   // transactions initialized and the position read
    bool second;        // a second worker started by hand (the fencing test): never writes the entry
    // heartbeats (option "heartbeat_interval_ms", 0: none)
    int heartbeat_ms;
    char *heartbeat_topic;
    TimestampTz last_heartbeat;
    uint64 kafka_txns_counted;  // the sender's commits already added to the entry
    uint64 txns_at_item;        // the sender's commits seen at the last item (NextItem)
    uint32 items_driven;        // items seen while a commit was under way (NextItem)
    bool dbz_txn_topic; // its option "transaction_topic"
    dbz::Transaction *txn;  // the decoded transaction's counts (txmeta.cpp; nullptr without the option)
    char *dbname;
    // the transaction being decoded, and the position of the current change
    uint64 txn_final_lsn;
    uint32 txn_xid;
    int64 txn_commit_unix_us;
    XLogRecPtr change_lsn;
    // the outbox (outbox.cpp): the option "outbox_topics" (NIL: no outbox,
    // no logical messages asked for), the extension's secret
    List *outbox_topics;
    char outbox_secret[64];
    size_t outbox_secret_len;
    TimestampTz outbox_logged_at;  // the last LOG of a dropped message
};

extern Worker *W;
constexpr const char *kUnchangedToast = "__kafka_fdw_unchanged_toast__";

// ---- worker_main.cpp: status in shared memory --------------------------------

void SetState(WorkerState s, const char *error);
// Both end the worker when its pipeline was paused, changed or dropped.
void ExitIfReloaded();
void StalledOnKafka(const char *why);  // and says why it waits

void PublishProgress();
bool StopRequested();

// ---- definition.cpp: the pipeline's row, its owner ---------------------------

bool LoadDefinition();
void CheckPrivileges();
void RelationAllowed(Oid relid);
[[noreturn]] void LookupOwner();

// ---- render.cpp: rows as row_to_json renders them ------------------------------

void DescribeType(format::JsonSpec *t, Oid typid, int32 typmod, MemoryContext cxt);
void RenderRow(StringInfo out, RelInfo *rel, const pgo::Tuple &tup, const pgo::Tuple *full_old);
bool RenderKey(StringInfo out, RelInfo *rel, const pgo::Tuple &tup);

// ---- dispatch.cpp: changes to Kafka, confirmation ------------------------------

void CreateSender();
// Exactly-once: fences older producers of the pipeline and reads its
// position (once per worker; after the slot is ours).
void StartExactlyOnce();
// Commits the open Kafka transaction (now, or when due), waiting while the
// brokers do not answer.
void CommitKafka(bool now);
// A heartbeat record (option heartbeat_interval_ms), between transactions.
void SendHeartbeat(TimestampTz now);
void EnsureTopic(const char *topic);
bool InExtensionSchema(Oid relid);
void OnRelation(const pgo::Relation &msg);
RelInfo *LookupRel(uint32 relid);
void DescribeKafkaWait(char *buf, size_t size, const char *what);
void Send(RelInfo *rel, StringInfo key, StringInfo value, char op, const char *toast);
// Calls produce(arg) (a Sender call, in the C++ zone) until it has queued:
// a split commits the Kafka transaction first, a full local queue is
// reported in pipeline_status and waited on (interruptibly).
void SendUntilQueued(Sender::SendResult (*produce)(void *arg), void *arg);
dbz::Source CurrentSource(bool snapshot);
// pgoutput's output writer callbacks
void PrepareWrite(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool last_write);
void Write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool last_write);
void UpdateProgress(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool skipped_xact);
void Housekeeping(bool force);
[[noreturn]] void StopCleanly();

// ---- outbox.cpp: kafka.produce_on_commit's messages ---------------------------

// In the transaction that loads the definition: the secret that verifies
// the messages (when the pipeline has "outbox_topics").
void LoadOutboxSecret();
// pgoutput's 'M': a verified outbox message of this pipeline goes to Kafka
// with the transaction's row events; a forged one is dropped and counted;
// other prefixes are ignored.
void OnOutboxMessage(const char *data, int len);

// ---- snapshot.cpp --------------------------------------------------------------

void TakeSnapshot();

// ---- txmeta.cpp: Debezium's transaction metadata (option "transaction_topic") --

// The BEGIN record, at pgoutput's BEGIN (after the sender's Begin), and the
// END record, at its COMMIT (before the sender's Commit); nothing without the
// option.
void TxnMetaBegin();
void TxnMetaEnd();

}  // namespace kafka_fdw::cdc::pipeline

#pragma GCC visibility pop
