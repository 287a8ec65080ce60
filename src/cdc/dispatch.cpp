// The pipeline worker's dispatch (Postgres zone): each pgoutput message
// becomes events for Kafka (format "row" or "debezium"), a table's topic is
// made before its first event, and the slot is confirmed as far as Kafka has
// acknowledged whole transactions.
#include "kafka/errors.hpp"
#include "kafka/wait.hpp"

#include "cdc/worker.hpp"

#include "fdw/connection.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/security.hpp"
#include "pg/worker.hpp"

extern "C" {
#include "access/xlog.h"
#include "common/jsonapi.h"
#include "replication/slot.h"
#include "storage/lwlock.h"
#include "utils/json.h"
}

namespace kafka_fdw::cdc::pipeline {

namespace {

// The producer of the pipeline, in W->cxt: the server's and the user
// mapping's settings over the pipeline's defaults.  Exactly-once: a
// transactional producer whose transactional.id is the pipeline's identity
// in the cluster (system identifier and slot name: a restarted worker, and
// the pipeline's worker on a promoted standby, fence the older producer),
// and a reader configuration for its progress topic.
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
            // exactly-once: 1 ms, since a commit's EndTxn waits for the last
            // batch (the worker sends it once everything is delivered)
            {"linger.ms", W->exactly_once ? "1" : "5"},
            {"queue.buffering.max.messages", "100000"},
            {"queue.buffering.max.kbytes", "65536"},
            // Compressed batches: the broker has less to store and move
            // (bench/README.md, "Measurements behind the code (CDC and
            // sink)").  The server's compression.type wins.
            {"compression.type", "lz4"},
            // A broker that went away (a transaction coordinator's node
            // killed) is tried again at most every second, not every 10 s
            // (librdkafka's default): the 3-broker test stalled 4-15 s with
            // it, 4-10 s with 1 s.
            {"reconnect.backoff.max.ms", "1000"},
        };
        // At-least-once: never give up on a message: an outage stalls the
        // pipeline (and the slot), it does not drop changes.  Exactly-once:
        // librdkafka's default (transaction.timeout.ms); a message that times
        // out aborts the Kafka transaction, and the worker starts again from
        // the slot.
        if (!W->exactly_once) defaults.push_back({"message.timeout.ms", "0"});
        std::unique_ptr<ExactlyOnce> eos;
        std::unique_ptr<kafka::Config> reader;
        kafka::Config conf = fdw::MakeConfig(spec, defaults);
        if (W->exactly_once) {
            eos = std::make_unique<ExactlyOnce>();
            eos->transactional_id = std::string("kafka_fdw-") + spec->cluster_id + "-" + W->slot_name;
            eos->mac_key.assign(W->outbox_secret, W->outbox_secret_len);
            eos->progress_topic = W->progress_topic;
            eos->commit_interval_ms = W->commit_interval_ms;
            eos->commit_max_events = (uint64_t)W->commit_max_events;
            eos->split_max_events = (uint64_t)W->split_max_events;
            conf.Set("transactional.id", eos->transactional_id);
            reader = std::make_unique<kafka::Config>(fdw::MakeConfig(spec, fdw::ReaderDefaults()));
        }
        W->sender = pg::OwnBy(W->cxt, new Sender(std::move(conf), spec->partitioner, eos.get(), std::move(reader)));
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
// WAL not read yet beyond which an exactly-once worker is catching up.
constexpr uint64 kBehindBytes = 4 * 1024 * 1024;

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

// Exactly-once, once per worker, when the slot is ours (a second worker of
// the same pipeline never gets that far: it cannot acquire the slot, so it
// fences nobody): init_transactions fences the pipeline's older producers
// and ends their open transaction (aborted), then the progress topic says
// what is in Kafka already.  A position past the end of the WAL is not this
// history's (a cluster restored to an earlier point, pg_resetwal): it is
// ignored, with a WARNING (events may then be sent twice).
void StartExactlyOnce() {
    if (!W->exactly_once || W->eos_started) return;
    bool waited = false;
    for (;;) {
        bool done = false;
        bool timed_out = false;
        KFDW_ENTRY({
            try {
                done = W->sender->InitTransactionsSlice(Min(pg::g_timeout_ms, kTopicSliceMs));
                timed_out = !done;
            } catch (const kafka::Error &e) {
                if (e.kind != kafka::ErrorKind::Timeout && e.kind != kafka::ErrorKind::Connection) throw;
                timed_out = true;
            }
        });
        if (done) break;
        if (timed_out) {
            char msg[512];
            DescribeKafkaWait(msg, sizeof msg, "waiting for Kafka: initializing the pipeline's transactions");
            waited = true;
            StalledOnKafka(msg);
        }
    }
    // the progress topic: compacted (one record per pipeline is what counts),
    // small segments so that compaction keeps it short
    for (;;) {
        bool done = false;
        char what[300];
        snprintf(what, sizeof what, "progress topic \"%s\"", W->progress_topic);
        KFDW_ENTRY({
            try {
                W->sender->EnsureTopic(W->progress_topic, 1, W->replication, Min(pg::g_timeout_ms, kTopicSliceMs),
                                       {{"cleanup.policy", "compact"}, {"segment.bytes", "16777216"}, {"segment.ms", "3600000"}});
                W->sender->LoadPosition(Min(pg::g_timeout_ms, kTopicSliceMs));
                done = true;
            } catch (const kafka::Error &e) {
                // (a topic just made may be unknown to the broker asked for
                // a moment: its metadata spreads over the cluster)
                if (e.kind != kafka::ErrorKind::Timeout && e.kind != kafka::ErrorKind::Connection &&
                    e.kind != kafka::ErrorKind::UnknownPartition && e.kind != kafka::ErrorKind::UnknownTopic)
                    throw;
                char error[512];
                snprintf(error, sizeof error, "waiting for Kafka: %s: %s%s%s", what, e.what(),
                         e.detail.empty() ? "" : ": ", e.detail.c_str());
                strlcpy(what, error, sizeof what);
            }
        });
        if (done) break;
        waited = true;
        StalledOnKafka(what);
    }
    kafka::EosPosition p;
    uint64 rejected = 0;
    KFDW_ENTRY({
        p = W->sender->resume_position();
        rejected = W->sender->positions_rejected;
    });
    if (rejected > 0)
        ereport(WARNING, (errmsg("pipeline \"%s\": %llu records of its progress topic \"%s\" carry its transactional "
                                 "id but were not written by it: ignored",
                                 W->name, (unsigned long long)rejected, W->progress_topic),
                          errdetail("Their authentication code does not verify (a record produced to the topic by "
                                    "someone else, or by this database before a restore)."),
                          errhint("Only the pipeline's Kafka principal should be allowed to write its progress "
                                  "topic.")));
    if (p.valid) {
        XLogRecPtr end = GetXLogInsertRecPtr();
        if (p.lsn > end) {
            ereport(WARNING, (errmsg("pipeline \"%s\": its progress topic \"%s\" records %X/%X, past the end of the "
                                     "WAL (%X/%X): ignored",
                                     W->name, W->progress_topic, (uint32)(p.lsn >> 32), (uint32)p.lsn,
                                     (uint32)(end >> 32), (uint32)end),
                              errdetail("The database was restored to an earlier point, or its WAL reset: "
                                        "events up to that position may be sent again.")));
            KFDW_ENTRY(W->sender->IgnorePosition(););
        } else {
            ereport(LOG, (errmsg("pipeline \"%s\": exactly-once, resuming after %X/%X%s", W->name,
                                 (uint32)(p.lsn >> 32), (uint32)p.lsn,
                                 p.complete ? "" : psprintf(" (%llu items of that transaction)",
                                                            (unsigned long long)p.changes))));
        }
    }
    W->eos_started = true;
    if (waited) SetState(WorkerState::Running, nullptr);
}

// Exactly-once commits (Sender::CommitTransaction): `now` waits for the
// commit under way (or, with none, commits the open Kafka transaction),
// else a commit is cut when due and driven without waiting for the flush;
// in slices while the brokers do not answer (pipeline_status says so).
void CommitKafka(bool now) {
    if (!W->exactly_once) return;
    bool behind = false;
    if (!now) {
        bool due = false;
        KFDW_ENTRY(due = W->sender->commit_pending() || W->sender->commit_due(false););
        if (!due) return;
        // catching up (more than kBehindBytes of WAL not read yet): commit
        // less often (Sender::kBehindFactor)
        behind = W->ctx && GetFlushRecPtr(nullptr) > W->ctx->reader->EndRecPtr + kBehindBytes;
    }
    bool waited = false;
    for (;;) {
        bool done = false;
        uint64 before = W->sender->kafka_txns_committed;
        KFDW_ENTRY(done = W->sender->CommitTransaction(now, Min(pg::g_timeout_ms, kTopicSliceMs), behind););
        // (a split of a large transaction shows in pipeline_status at once)
        if (done && now && W->sender->kafka_txns_committed != before) PublishProgress();
        if (done) break;
        char msg[512];
        DescribeKafkaWait(msg, sizeof msg, "waiting for Kafka to commit a transaction");
        waited = true;
        StalledOnKafka(msg);
    }
    if (waited) SetState(WorkerState::Running, nullptr);
}

// A heartbeat record, as Debezium's heartbeat.interval.ms sends them: key
// {"serverName": <topic_prefix>}, value {"ts_ms": ..., "lsn": <the WAL
// position read>}, on the heartbeat topic; between source transactions.
// Consumers see the pipeline alive while its tables are idle, and the
// position it has read; the slot advances as at every housekeeping.
void SendHeartbeat(TimestampTz now) {
    EnsureTopic(W->heartbeat_topic);
    XLogRecPtr read = W->ctx->reader->EndRecPtr;
    StringInfoData key, value;
    initStringInfo(&key);
    initStringInfo(&value);
    appendStringInfoString(&key, "{\"serverName\":");
    escape_json(&key, W->topic_prefix);
    appendStringInfoChar(&key, '}');
    appendStringInfo(&value, "{\"ts_ms\":" INT64_FORMAT ",\"lsn\":\"%X/%X\"}",
                     (int64)((now + pg::kEpochShiftUs) / 1000), (uint32)(read >> 32), (uint32)read);
    StringInfoData *kv[2] = {&key, &value};
    SendUntilQueued(
        [](void *arg) {
            auto **x = static_cast<StringInfoData **>(arg);
            return W->sender->Heartbeat(W->heartbeat_topic, std::string(x[0]->data, x[0]->len),
                                        std::string(x[1]->data, x[1]->len));
        },
        kv);
    pfree(key.data);
    pfree(value.data);
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
    struct Event {
        const char *topic, *k, *v, *table, *toast;
        size_t klen, vlen;
        char op;
    } e{topic, k, v, table, toast, klen, vlen, op};
    SendUntilQueued(
        [](void *arg) {
            auto *x = static_cast<Event *>(arg);
            return W->sender->Send(x->topic, x->k, x->klen, x->v, x->vlen, x->op, x->table, x->toast);
        },
        &e);
}

void SendUntilQueued(Sender::SendResult (*produce)(void *arg), void *arg) {
    for (;;) {
        Sender::SendResult r = Sender::SendResult::QueueFull;
        KFDW_ENTRY(r = produce(arg););
        if (r == Sender::SendResult::Queued) return;
        if (r == Sender::SendResult::CommitFirst) {
            CommitKafka(true);  // the commit under way first (a full hold buffer, the snapshot)
            continue;
        }
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
    return dbz::Source{W->txn_commit_unix_us, W->txn_xid, W->txn_final_lsn, W->change_lsn, false, W->txn};
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

// The next item of the decoded transaction (kafka/eos.hpp): a split of a
// large transaction is cut here (Sender::Item), a commit under way is
// driven, and once a commit is done a pause, change or drop of the pipeline
// ends the worker here (what is committed is a valid position) instead of
// after the whole transaction.
void NextItem() {
    // a commit under way goes on in the middle of a source transaction too
    // (every 32 items)
    if (W->exactly_once && W->sender->commit_pending() && (++W->items_driven & 31) == 0) CommitKafka(false);
    // a Kafka transaction was committed (a split, or between source
    // transactions): what is committed is a valid position to end at when
    // the pipeline was paused, changed or dropped (no CHECK_FOR_INTERRUPTS
    // of its own here: the decoding's own calls end a shutdown anyway)
    if (W->sender->kafka_txns_committed != W->txns_at_item) {
        W->txns_at_item = W->sender->kafka_txns_committed;
        if (W->entry->reload) proc_exit(0);
    }
    for (;;) {
        Sender::SendResult r = Sender::SendResult::Queued;
        KFDW_ENTRY(r = W->sender->Item(););
        if (r != Sender::SendResult::CommitFirst) return;
        CommitKafka(true);
        ExitIfReloaded();
    }
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
        NextItem();  // item 0: the BEGIN
        TxnMetaBegin();
        break;
    case 'C':
        NextItem();  // the END
        TxnMetaEnd();
        KFDW_ENTRY(W->sender->Commit(););
        CommitKafka(false);
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
        NextItem();
        OnChange(data, len);
        break;
    case 'T': {
        NextItem();
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
    case 'M': {  // logical messages: kafka.produce_on_commit's (outbox.cpp)
        bool item = false;
        KFDW_ENTRY(item = pgo::ParseMessage(msg).transactional && W->sender->in_txn(););
        if (item) NextItem();
        OnOutboxMessage(data, len);
        break;
    }
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
    // Long filtered transactions: keep serving delivery reports, and commit
    // (cut when due, or drive the commit under way) what earlier source
    // transactions sent: they must not wait for the end of this one.
    KFDW_ENTRY({
        W->sender->producer().Poll(0);
        (void)W->sender->CutIfOld();  // (a source transaction whose BEGIN was sent)
    });
    CommitKafka(false);
}

// ---- confirming progress ----------------------------------------------------

void Housekeeping(bool force) {
    // a commit under way: EndTxn as soon as everything is delivered, then
    // the events held meanwhile (every 64 records, not every 20 ms)
    if (!force && W->exactly_once && W->sender && W->sender->commit_pending()) CommitKafka(false);
    TimestampTz now = GetCurrentTimestamp();
    if (!force && now - W->last_housekeeping < 20 * 1000) return;  // 20 ms
    W->last_housekeeping = now;
    if (W->heartbeat_ms > 0 && W->ctx && !StopRequested() &&
        now - W->last_heartbeat >= (int64)W->heartbeat_ms * 1000) {
        W->last_heartbeat = now;
        SendHeartbeat(now);
    }
    CommitKafka(false);  // a Kafka transaction open for commit_interval_ms
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
    if (!ProcDiePending && W->sender) {
        // exactly-once: the open Kafka transaction is committed (between
        // source transactions here); what is not, the next worker aborts and
        // sends again
        if (W->exactly_once) {
            KFDW_ENTRY({
                // (the commit under way, then the held events' transaction)
                kafka::Deadline deadline(Min(pg::g_timeout_ms, 5000));
                while ((W->sender->kafka_txn_open() || W->sender->commit_pending()) && !deadline.Expired())
                    W->sender->CommitTransaction(true, deadline.SliceMs());
            });
        }
        KFDW_ENTRY(W->sender->Drain(Min(pg::g_timeout_ms, 5000)););
    }
    if (W->ctx) {
        Housekeeping(true);
        ReplicationSlotMarkDirty();
        ReplicationSlotSave();
    }
    CHECK_FOR_INTERRUPTS();  // a shutdown ends here
    proc_exit(0);
}

}  // namespace kafka_fdw::cdc::pipeline
