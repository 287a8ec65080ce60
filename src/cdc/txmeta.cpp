// Debezium's transaction metadata (pipeline option "transaction_topic",
// format "debezium"; Debezium's provide.transaction.metadata=true): a BEGIN
// and an END record per decoded transaction in <topic_prefix>.transaction,
// and the counts behind the `transaction` block of its events (see
// debezium.hpp for the id).  Postgres zone.
//
// As Debezium's TransactionMonitor: BEGIN when the transaction starts, END
// (with the number of events, in all and per table) just before its commit;
// every data event (c, u, d, t; not the tombstones, not the initial
// snapshot's r events) counts once.  Both records belong to the source
// transaction (its ledger in the commit queue), so a restart sends them again
// with the transaction, counts from 1 again.
#include "cdc/worker.hpp"

extern "C" {
#include "utils/json.h"
}

namespace kafka_fdw::cdc {

namespace dbz {

namespace {

// Debezium's SchemaFactory.transactionKeySchema / transactionValueSchema
// (the event.collection items: transactionEventCountPerDataCollectionSchema),
// as JsonConverter writes them.
constexpr const char *kKeySchema =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataKey\",\"version\":1}";
constexpr const char *kValueSchema =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"status\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"event_count\"},"
    "{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
    "\"field\":\"data_collection\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"event_count\"}],"
    "\"optional\":true,\"name\":\"event.collection\",\"version\":1},\"optional\":true,\"field\":\"data_collections\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataValue\",\"version\":1}";

struct TableCount {
    char name[2 * NAMEDATALEN];  // hash key: "schema.table" (each name < NAMEDATALEN)
    int64 count;
};

void AppendId(StringInfo out, uint32 xid, uint64 lsn) { appendStringInfo(out, "\"%u:" UINT64_FORMAT "\"", xid, lsn); }

}  // namespace

Transaction *NewTransaction(MemoryContext parent) {
    auto *t = static_cast<Transaction *>(MemoryContextAllocZero(parent, sizeof(Transaction)));
    t->cxt = AllocSetContextCreate(parent, "kafka_fdw transaction metadata", ALLOCSET_SMALL_SIZES);
    return t;
}

void StartTransaction(Transaction *t, uint32 xid) {
    MemoryContextReset(t->cxt);
    t->tables = nullptr;
    t->order = NIL;
    t->total = 0;
    t->xid = xid;
}

void AppendTransactionBlock(StringInfo out, Transaction *t, const char *collection, uint64 lsn) {
    if (t->tables == nullptr) {
        HASHCTL ctl;
        ctl.keysize = sizeof(TableCount::name);
        ctl.entrysize = sizeof(TableCount);
        ctl.hcxt = t->cxt;
        t->tables = hash_create("kafka_fdw transaction tables", 16, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
    }
    bool found;
    auto *e = static_cast<TableCount *>(hash_search(t->tables, collection, HASH_ENTER, &found));
    if (!found) {
        e->count = 0;
        MemoryContext old = MemoryContextSwitchTo(t->cxt);
        t->order = lappend(t->order, e);
        MemoryContextSwitchTo(old);
    }
    e->count++;
    t->total++;
    appendStringInfoString(out, "{\"id\":");
    AppendId(out, t->xid, lsn);
    appendStringInfo(out, ",\"total_order\":" INT64_FORMAT ",\"data_collection_order\":" INT64_FORMAT "}", t->total,
                     e->count);
}

void RenderTransactionKey(StringInfo out, bool schemas, const Transaction *t, uint64 lsn) {
    if (schemas) appendStringInfo(out, "{\"schema\":%s,\"payload\":", kKeySchema);
    appendStringInfoString(out, "{\"id\":");
    AppendId(out, t->xid, lsn);
    appendStringInfoChar(out, '}');
    if (schemas) appendStringInfoChar(out, '}');
}

void RenderTransactionValue(StringInfo out, bool schemas, const Transaction *t, bool end, uint64 lsn, int64 ts_ms) {
    if (schemas) appendStringInfo(out, "{\"schema\":%s,\"payload\":", kValueSchema);
    appendStringInfo(out, "{\"status\":\"%s\",\"id\":", end ? "END" : "BEGIN");
    AppendId(out, t->xid, lsn);
    if (end) {
        appendStringInfo(out, ",\"event_count\":" INT64_FORMAT ",\"data_collections\":[", t->total);
        ListCell *lc;
        foreach (lc, t->order) {
            auto *e = static_cast<const TableCount *>(lfirst(lc));
            if (foreach_current_index(lc) > 0) appendStringInfoChar(out, ',');
            appendStringInfoString(out, "{\"data_collection\":");
            escape_json(out, e->name);
            appendStringInfo(out, ",\"event_count\":" INT64_FORMAT "}", e->count);
        }
        appendStringInfoChar(out, ']');
    } else {
        appendStringInfoString(out, ",\"event_count\":null,\"data_collections\":null");
    }
    appendStringInfo(out, ",\"ts_ms\":" INT64_FORMAT "}", ts_ms);
    if (schemas) appendStringInfoChar(out, '}');
}

}  // namespace dbz

namespace pipeline {

namespace {

// The transaction topic as Send takes a table's (W->cxt): its records carry
// the pipeline's headers, with op B or E and an empty table.
RelInfo *g_topic = nullptr;

void SendRecord(bool end) {
    StringInfoData key, value;
    initStringInfo(&key);
    initStringInfo(&value);
    dbz::RenderTransactionKey(&key, W->dbz_schemas, W->txn, W->change_lsn);
    dbz::RenderTransactionValue(&value, W->dbz_schemas, W->txn, end, W->change_lsn, W->txn_commit_unix_us / 1000);
    Send(g_topic, &key, &value, end ? 'E' : 'B', nullptr);
}

}  // namespace

void TxnMetaBegin() {
    if (!W->dbz_txn_topic) return;
    if (W->txn == nullptr) {
        MemoryContext old = MemoryContextSwitchTo(W->cxt);
        g_topic = static_cast<RelInfo *>(palloc0(sizeof(RelInfo)));
        g_topic->topic = psprintf("%s.transaction", W->topic_prefix);
        if (strlen(g_topic->topic) > 249) g_topic->topic[249] = '\0';  // as the tables' topics
        g_topic->table = pstrdup("");
        W->txn = dbz::NewTransaction(W->cxt);
        MemoryContextSwitchTo(old);
    }
    dbz::StartTransaction(W->txn, W->txn_xid);
    SendRecord(false);
}

void TxnMetaEnd() {
    if (W->txn == nullptr) return;
    SendRecord(true);
}

}  // namespace pipeline

}  // namespace kafka_fdw::cdc
