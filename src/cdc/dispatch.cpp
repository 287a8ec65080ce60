// The pipeline worker's dispatch (Postgres zone): each pgoutput message
// becomes events for Kafka (format "row" or "debezium"), a table's topic is
// made before its first event, and the slot is confirmed as far as Kafka has
// acknowledged whole transactions.
#include "kafka/errors.hpp"

#include "cdc/worker.hpp"

#include "fdw/connection.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/security.hpp"
#include "pg/worker.hpp"

extern "C" {
#include "common/jsonapi.h"
#include "replication/slot.h"
#include "storage/lwlock.h"
#include "utils/json.h"
}

namespace kafka_fdw::cdc::pipeline {

namespace {

// The producer of the pipeline, in W->cxt: the server's and the user
// mapping's settings over the pipeline's defaults.
void NewSender(fdw::ClientSpec *spec) {
    char client_id[NAMEDATALEN + 32];
    snprintf(client_id, sizeof client_id, "kafka_fdw-cdc-%s", W->name);
    KFDW_ENTRY({
        kafka::Properties defaults = {
            {"client.id", client_id},
            // Metadata requests must not create topics with the broker's
            // defaults: EnsureTopic creates them with the pipeline's options.
            {"allow.auto.create.topics", "false"},
            {"acks", "all"},
            {"enable.idempotence", "true"},
            // Never give up on a message: an outage stalls the pipeline
            // (and the slot), it does not drop changes.
            {"message.timeout.ms", "0"},
            {"linger.ms", "5"},
            {"queue.buffering.max.messages", "100000"},
            {"queue.buffering.max.kbytes", "65536"},
            // Compressed batches: the broker has less to store and move
            // (bench/README.md, "Measurements behind the code (CDC and
            // sink)").  The server's compression.type wins.
            {"compression.type", "lz4"},
        };
        kafka::Config conf = fdw::MakeConfig(spec, defaults);
        W->sender = pg::OwnBy(W->cxt, new Sender(std::move(conf), spec->partitioner));
    });
}

}  // namespace

void CreateSender() {
    pg::InWorkerXact(0, [] {
        ForeignServer *server = GetForeignServerByName(W->server, false);
        fdw::ClientSpec *spec = fdw::GetClientSpec(server->serverid, W->owner, false);
        MemoryContext old = MemoryContextSwitchTo(W->cxt);
        NewSender(spec);
        MemoryContextSwitchTo(old);
    });
}

namespace {

// A topic's metadata is asked for in slices of this length while the brokers
// do not answer (each failed slice is reported in pipeline_status).
constexpr int kTopicSliceMs = 2000;

// Kafka topic names allow [A-Za-z0-9._-]; anything else becomes '_'.
char *TopicName(const char *prefix, const char *nsp, const char *rel) {
    char *t = psprintf("%s.%s.%s", prefix, nsp, rel);
    for (char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') *p = '_';
    if (strlen(t) > 249) t[249] = '\0';
    return t;
}

// Primary key column names of a relation (for REPLICA IDENTITY FULL tables,
// whose identity is the whole row).  Runs under the historic snapshot.
List *PrimaryKeyNames(Oid relid) {
    List *names = NIL;
    Relation r = RelationIdGetRelation(relid);
    if (!RelationIsValid(r)) return NIL;
    List *indexes = RelationGetIndexList(r);
    Oid pk = r->rd_pkindex;
    list_free(indexes);
    if (OidIsValid(pk)) {
        Relation idx = RelationIdGetRelation(pk);
        if (RelationIsValid(idx)) {
            for (int i = 0; i < idx->rd_index->indnkeyatts; i++) {
                AttrNumber att = idx->rd_index->indkey.values[i];
                if (att > 0) names = lappend(names, get_attname(relid, att, false));
            }
            RelationClose(idx);
        }
    }
    RelationClose(r);
    return names;
}

}  // namespace

// The topic of a table, before its first event.  While the brokers cannot
// be reached, pipeline_status says so (state retrying) and the worker keeps
// trying: an outage stalls the pipeline, it does not end it.
void EnsureTopic(const char *topic) {
    bool waited = false;
    for (;;) {
        bool done = false;
        char error[512] = "";
        KFDW_ENTRY({
            try {
                W->sender->EnsureTopic(topic, W->partitions, W->replication, Min(pg::g_timeout_ms, kTopicSliceMs));
                done = true;
            } catch (const kafka::Error &e) {
                if (e.kind != kafka::ErrorKind::Timeout && e.kind != kafka::ErrorKind::Connection) throw;
                snprintf(error, sizeof error, "waiting for Kafka: topic \"%s\": %s%s%s", topic, e.what(),
                         e.detail.empty() ? "" : ": ", e.detail.c_str());
            }
        });
        if (done) break;
        waited = true;
        StalledOnKafka(error);
    }
    if (waited) SetState(WorkerState::Running, nullptr);
}

// The extension's own tables (kafka.pipelines, kafka.group_offsets, ...,
// whatever a later version adds) are never sent, whatever the publication
// says (FOR ALL TABLES, FOR TABLES IN SCHEMA): found by the schema OID of
// pg_extension, never by name.  Cached: the extension is not relocatable.
namespace {
Oid g_extension_schema = InvalidOid;
}  // namespace

bool InExtensionSchema(Oid relid) {
    if (!OidIsValid(g_extension_schema)) g_extension_schema = pg::ExtensionSchema();
    return get_rel_namespace(relid) == g_extension_schema;
}

void OnRelation(const pgo::Relation &msg) {
    // A table's first appearance in the stream (or the snapshot): may the
    // owner read it?  Nothing is sent for one it may not.
    RelationAllowed(msg.relid);
    bool found;
    RelInfo *rel = static_cast<RelInfo *>(hash_search(W->rels, &msg.relid, HASH_ENTER, &found));
    if (found) MemoryContextDelete(rel->cxt);
    rel->cxt = AllocSetContextCreate(W->cxt, "kafka_fdw relation", ALLOCSET_SMALL_SIZES);
    MemoryContext old = MemoryContextSwitchTo(rel->cxt);
    rel->table = psprintf("%s.%s", msg.nspname.c_str(), msg.relname.c_str());
    rel->excluded = InExtensionSchema(msg.relid);
    if (rel->excluded) {
        // no topic, nothing to render: its changes are skipped
        rel->topic = nullptr;
        rel->natts = 0;
        rel->attrs = nullptr;
        rel->dbz = nullptr;
        MemoryContextSwitchTo(old);
        return;
    }
    rel->topic = TopicName(W->topic_prefix, msg.nspname.c_str(), msg.relname.c_str());
    rel->natts = (int)msg.attrs.size();
    rel->attrs = static_cast<AttrInfo *>(palloc0(sizeof(AttrInfo) * Max(1, rel->natts)));
    List *pk = msg.replident == 'f' ? PrimaryKeyNames(msg.relid) : NIL;
    for (int i = 0; i < rel->natts; i++) {
        const pgo::Attribute &src = msg.attrs[i];
        AttrInfo *a = &rel->attrs[i];
        a->name = pstrdup(src.name.c_str());
        StringInfoData jn;
        initStringInfo(&jn);
        escape_json(&jn, a->name);
        appendStringInfoChar(&jn, ':');
        a->json_name = jn.data;
        a->key = src.key;
        // REPLICA IDENTITY FULL: the key is the primary key; a table without
        // one has no key (events with a null key, as Debezium sends them),
        // not the whole row (its updates became delete + create, identical
        // rows shared a key, and every column was declared NOT NULL).
        if (msg.replident == 'f') {
            a->key = false;
            ListCell *lc;
            foreach (lc, pk)
                if (strcmp((char *)lfirst(lc), a->name) == 0) a->key = true;
        }
        DescribeType(&a->type, src.type_oid, src.typmod, rel->cxt);
    }
    rel->dbz = nullptr;
    if (W->debezium) {
        bool *key = static_cast<bool *>(palloc0(sizeof(bool) * Max(1, rel->natts)));
        for (int i = 0; i < rel->natts; i++) key[i] = rel->attrs[i].key;
        dbz::Options o{W->dbz_schemas, W->topic_prefix, W->dbname};
        rel->dbz = dbz::Describe(msg.relid, msg, key, o, rel->cxt);
    }
    MemoryContextSwitchTo(old);
    // The topic is made with the first event (Send): pgoutput describes
    // relations that never get one (with publish_via_partition_root, each
    // leaf partition as well as the root).
    rel->topic_ready = false;
}

RelInfo *LookupRel(uint32 relid) {
    bool found;
    RelInfo *rel = static_cast<RelInfo *>(hash_search(W->rels, &relid, HASH_FIND, &found));
    if (!found) elog(ERROR, "pgoutput sent a change of relation %u before its description", relid);
    return rel;
}

// "<what>[: <the producer's last client error>]", for pipeline_status while
// the broker does not take or acknowledge our messages.
void DescribeKafkaWait(char *buf, size_t size, const char *what) {
    KFDW_ENTRY({
        const std::string &t = W->sender->producer().last_error_text();
        snprintf(buf, size, "%s%s%s", what, t.empty() ? "" : ": ", t.c_str());
    });
}

// Enqueues one event; waits (interruptibly) while the local queue is full.
void Send(RelInfo *rel, StringInfo key, StringInfo value, char op, const char *toast) {
    const char *k = key ? key->data : nullptr;
    size_t klen = key ? key->len : 0;
    const char *v = value ? value->data : nullptr;
    size_t vlen = value ? value->len : 0;
    const char *topic = rel->topic;
    const char *table = rel->table;
    if (!rel->topic_ready) {
        EnsureTopic(topic);
        rel->topic_ready = true;
    }
    for (;;) {
        bool queued = false;
        KFDW_ENTRY(queued = W->sender->Send(topic, k, klen, v, vlen, op, table, toast););
        if (queued) return;
        // The broker does not take our messages: say so and keep trying.
        char msg[512];
        DescribeKafkaWait(msg, sizeof msg, "waiting for Kafka: local produce queue is full");
        StalledOnKafka(msg);
    }
}

// The Debezium source block's values of the change being decoded (snapshot:
// an event of the initial snapshot, at the slot's start).
dbz::Source CurrentSource(bool snapshot) {
    if (snapshot) return dbz::Source{W->txn_commit_unix_us, 0, W->txn_final_lsn, W->txn_final_lsn, true};
    return dbz::Source{W->txn_commit_unix_us, W->txn_xid, W->txn_final_lsn, W->change_lsn, false};
}

namespace {

// A change as Debezium's connector sends it: an event with the envelope; a
// delete is followed by a tombstone; a key change is a delete (and its
// tombstone) of the old key and a create of the new one.
void OnChangeDebezium(RelInfo *rel, const pgo::Change *ch) {
    const dbz::Relation *d = rel->dbz;
    dbz::Source src = CurrentSource(false);
    const pgo::Tuple *full_old = ch->old_kind == 'O' ? &ch->old_tuple : nullptr;
    const pgo::Tuple *old = ch->old_kind ? &ch->old_tuple : nullptr;
    bool old_key_only = ch->old_kind == 'K';
    StringInfoData key, value;
    initStringInfo(&key);
    initStringInfo(&value);
    auto send_delete = [&](StringInfo k, bool has) {
        dbz::RenderEnvelope(&value, d, 'd', old, old_key_only, nullptr, nullptr, src);
        Send(rel, has ? k : nullptr, &value, 'd', nullptr);
        Send(rel, has ? k : nullptr, nullptr, 'd', nullptr);  // the tombstone
    };
    if (ch->action == 'D') {
        bool has_key = old && dbz::RenderKey(&key, d, *old);
        send_delete(&key, has_key);
        return;
    }
    bool has_key = dbz::RenderKey(&key, d, ch->new_tuple);
    if (ch->action == 'U' && old) {
        StringInfoData old_key;
        initStringInfo(&old_key);
        bool had_key = dbz::RenderKey(&old_key, d, *old);
        if (had_key && (!has_key || strcmp(old_key.data, key.data) != 0)) {
            send_delete(&old_key, true);
            resetStringInfo(&value);
            dbz::RenderEnvelope(&value, d, 'c', nullptr, false, &ch->new_tuple, full_old, src);
            Send(rel, has_key ? &key : nullptr, &value, 'c', nullptr);
            return;
        }
    }
    char op = ch->action == 'I' ? 'c' : 'u';
    dbz::RenderEnvelope(&value, d, op, ch->action == 'U' ? full_old : nullptr, false, &ch->new_tuple, full_old, src);
    Send(rel, has_key ? &key : nullptr, &value, op, nullptr);
}

void OnChange(const char *data, int len) {
    pgo::Change *ch = &W->sender->change;
    KFDW_ENTRY({
        pgo::ParseChange(std::string_view(data, len), ch);
        pgo::FillUnchangedFromOld(ch);
    });
    RelInfo *rel = LookupRel(ch->relid);
    if (rel->excluded) return;
    if (rel->dbz) {
        OnChangeDebezium(rel, ch);
        return;
    }
    StringInfoData key, value;
    initStringInfo(&key);
    initStringInfo(&value);
    const pgo::Tuple *full_old = ch->old_kind == 'O' ? &ch->old_tuple : nullptr;
    if (ch->action == 'D') {
        bool has_key = RenderKey(&key, rel, ch->old_tuple);
        Send(rel, has_key ? &key : nullptr, nullptr, 'd', nullptr);
        return;
    }
    bool has_key = RenderKey(&key, rel, ch->new_tuple);
    if (ch->action == 'U' && ch->old_kind) {
        // The key changed: a tombstone for the old key first.
        StringInfoData old_key;
        initStringInfo(&old_key);
        bool had_key = RenderKey(&old_key, rel, ch->old_tuple);
        if (had_key && (!has_key || strcmp(old_key.data, key.data) != 0)) Send(rel, &old_key, nullptr, 'd', nullptr);
    }
    RenderRow(&value, rel, ch->new_tuple, full_old);
    Send(rel, has_key ? &key : nullptr, &value, ch->action == 'I' ? 'c' : 'u',
         W->toast_cols[0] ? W->toast_cols : nullptr);
}

void OnMessage(const char *data, int len) {
    std::string_view msg(data, len);
    switch (pgo::MessageType(msg)) {
    case 'B':
        KFDW_ENTRY({
            pgo::Begin b = pgo::ParseBegin(msg);
            W->sender->Begin(b);
            W->txn_final_lsn = b.final_lsn;
            W->txn_xid = b.xid;
            W->txn_commit_unix_us = b.commit_time + pg::kEpochShiftUs;
        });
        break;
    case 'C':
        KFDW_ENTRY(W->sender->Commit(););
        break;
    case 'R': {
        pgo::Relation *rel = nullptr;
        KFDW_ENTRY(rel = new pgo::Relation(pgo::ParseRelation(msg)););
        PG_TRY();
        { OnRelation(*rel); }
        PG_FINALLY();
        { delete rel; }
        PG_END_TRY();
        break;
    }
    case 'I':
    case 'U':
    case 'D':
        OnChange(data, len);
        break;
    case 'T': {
        int nrel = 0;
        uint32 *relids = nullptr;
        KFDW_ENTRY({
            pgo::Truncate t = pgo::ParseTruncate(msg);
            nrel = (int)t.relids.size();
            relids = static_cast<uint32 *>(pg::AllocOrThrow(sizeof(uint32) * Max(1, nrel)));
            for (int i = 0; i < nrel; i++) relids[i] = t.relids[i];
        });
        for (int i = 0; i < nrel; i++) {
            RelInfo *rel = LookupRel(relids[i]);
            if (rel->excluded) continue;
            StringInfoData value;
            initStringInfo(&value);
            if (rel->dbz) {
                dbz::RenderEnvelope(&value, rel->dbz, 't', nullptr, false, nullptr, nullptr, CurrentSource(false));
            } else {
                appendStringInfoString(&value, "{}");
            }
            Send(rel, nullptr, &value, 't', nullptr);
        }
        break;
    }
    case 'M':  // logical messages: kafka.produce_on_commit's (outbox.cpp)
        OnOutboxMessage(data, len);
        break;
    default:  // 'Y' types, 'O' origins: nothing to send
        break;
    }
}

}  // namespace

// ---- output writer callbacks (pgoutput writes, we produce) -----------------

void PrepareWrite(LogicalDecodingContext *ctx, XLogRecPtr, TransactionId, bool) { resetStringInfo(ctx->out); }

void Write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId, bool) {
    W->change_lsn = lsn;
    MemoryContext old = MemoryContextSwitchTo(W->scratch);
    OnMessage(ctx->out->data, ctx->out->len);
    MemoryContextSwitchTo(old);
    MemoryContextReset(W->scratch);
}

void UpdateProgress(LogicalDecodingContext *, XLogRecPtr, TransactionId, bool) {
    // Long filtered transactions: keep serving delivery reports.
    KFDW_ENTRY(W->sender->producer().Poll(0););
}

// ---- confirming progress ----------------------------------------------------

void Housekeeping(bool force) {
    TimestampTz now = GetCurrentTimestamp();
    if (!force && now - W->last_housekeeping < 20 * 1000) return;  // 20 ms
    W->last_housekeeping = now;
    uint64_t target = 0, pending = 0;
    XLogRecPtr read_end = W->ctx ? W->ctx->reader->EndRecPtr : InvalidXLogRecPtr;
    KFDW_ENTRY({
        target = W->sender->Progress(read_end);
        pending = W->sender->pending();
    });
    if (target > W->confirmed) {
        if (W->entry->failures) {  // progress: the next failure backs off from 1 s again
            LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
            W->entry->failures = 0;
            LWLockRelease(Shared()->lock);
        }
        LogicalConfirmReceivedLocation(target);
        ReplicationSlotMarkDirty();
        W->confirmed = target;
        W->dirty = true;
    }
    if (W->dirty && now - W->last_save >= 1000 * 1000) {
        ReplicationSlotSave();
        W->dirty = false;
        W->last_save = now;
    }
    // Stalled: messages pending and not one acknowledged for 3 s.
    if (pending > 0 && pending >= W->last_pending) {
        if (W->stalled_since == 0) W->stalled_since = now;
    } else {
        W->stalled_since = 0;
        if (W->entry->state == WorkerState::Retrying) SetState(WorkerState::Running, nullptr);
    }
    W->last_pending = pending;
    if (W->stalled_since && now - W->stalled_since > 3000 * 1000 && W->entry->state != WorkerState::Retrying) {
        char what[96], msg[512];
        snprintf(what, sizeof what, "waiting for Kafka to acknowledge %llu messages", (unsigned long long)pending);
        DescribeKafkaWait(msg, sizeof msg, what);
        SetState(WorkerState::Retrying, msg);
    }
    PublishProgress();
}

// A clean stop (definition changed, pipeline paused or dropped, shutdown):
// wait briefly for acknowledgements, confirm, save the slot.
[[noreturn]] void StopCleanly() {
    if (!ProcDiePending && W->sender) KFDW_ENTRY(W->sender->Drain(Min(pg::g_timeout_ms, 5000)););
    if (W->ctx) {
        Housekeeping(true);
        ReplicationSlotMarkDirty();
        ReplicationSlotSave();
    }
    CHECK_FOR_INTERRUPTS();  // a shutdown ends here
    proc_exit(0);
}

}  // namespace kafka_fdw::cdc::pipeline
