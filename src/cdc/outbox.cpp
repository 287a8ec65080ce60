// The outbox (kafka.produce_on_commit; see outbox.hpp), Postgres zone: the
// secret, the tag, the option "outbox_topics", and the pipeline worker's
// side: a logical message with the prefix "kafka_fdw.outbox" becomes a
// Kafka message of the transaction being decoded (in the same ledger as its
// row events, in WAL order with them), when its tag verifies; one that
// does not is dropped and counted (kafka.outbox_status), with a LOG at most
// once a minute.  Logical messages of other prefixes are ignored.
#include "format/outbox.hpp"
#include "kafka/producer.hpp"

#include "cdc/outbox.hpp"
#include "cdc/worker.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/security.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "storage/lwlock.h"
#include "utils/snapmgr.h"
}

namespace kafka_fdw::cdc::outbox {

namespace ob = format::outbox;

void ScanTable(const char *name, bool (*f)(HeapTuple t, TupleDesc td, void *arg), void *arg) {
    if (!pg::ExtensionInstalled()) return;
    Oid relid = get_relname_relid(name, pg::ExtensionSchema());
    if (!OidIsValid(relid)) return;
    if (getExtensionOfObject(RelationRelationId, relid) != get_extension_oid("kafka_fdw", true)) return;
    Relation rel = table_open(relid, AccessShareLock);
    Snapshot snap = RegisterSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
    TableScanDesc scan = table_beginscan(rel, snap, 0, nullptr);
    HeapTuple t;
    while ((t = heap_getnext(scan, ForwardScanDirection)) != nullptr)
        if (!f(t, RelationGetDescr(rel), arg)) break;
    table_endscan(scan);
    UnregisterSnapshot(snap);
    table_close(rel, AccessShareLock);
}

size_t ReadSecret(char *buf) {
    struct Out {
        char *buf;
        size_t len;
    } out{buf, 0};
    ScanTable(
        "outbox_secret",
        [](HeapTuple t, TupleDesc td, void *arg) {
            auto *o = static_cast<Out *>(arg);
            for (int i = 0; i < td->natts; i++) {
                Form_pg_attribute a = TupleDescAttr(td, i);
                if (a->attisdropped || strcmp(NameStr(a->attname), "secret") != 0) continue;
                bool isnull;
                Datum d = heap_getattr(t, a->attnum, td, &isnull);
                if (isnull) return false;
                bytea *b = DatumGetByteaPP(d);
                size_t n = VARSIZE_ANY_EXHDR(b);
                if (n > kSecretMax) n = kSecretMax;
                memcpy(o->buf, VARDATA_ANY(b), n);
                o->len = n;
            }
            return false;  // one row
        },
        &out);
    return out.len;
}

// What the tag covers besides the payload: the purpose and version, the
// database (the same secret serves every pipeline of the database; a
// message is decoded only by the slots of its database anyway) and the
// top-level transaction (a message copied into another transaction does
// not verify there).
constexpr char kTagDomain[] = "kafka_fdw.outbox.v1";

bool ComputeTag(const char *secret, size_t secret_len, Oid dboid, uint32 xid, const char *data, size_t len,
                uint8 *tag) {
    pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
    if (!ctx) return false;
    uint8 ids[8];
    for (int i = 0; i < 4; i++) {
        ids[i] = (uint8)((uint32)dboid >> (24 - 8 * i));
        ids[4 + i] = (uint8)(xid >> (24 - 8 * i));
    }
    bool ok = pg_hmac_init(ctx, (const uint8 *)secret, secret_len) == 0 &&
              pg_hmac_update(ctx, (const uint8 *)kTagDomain, sizeof kTagDomain) == 0 &&
              pg_hmac_update(ctx, ids, sizeof ids) == 0 && pg_hmac_update(ctx, (const uint8 *)data, len) == 0 &&
              pg_hmac_final(ctx, tag, ob::kTagLen) == 0;
    pg_hmac_free(ctx);
    return ok;
}

List *Topics(Jsonb *options) {
    List *topics = NIL;
    bool present = false;
    pg::ForEachJsonbMember(options, [&](char *key, JsonbValue *v) {
        if (strcmp(key, "outbox_topics") != 0 || v->type != jbvBinary) return;
        present = true;
        JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
        JsonbValue e;
        JsonbIteratorToken tok;
        while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
            if (tok == WJB_ELEM && e.type == jbvString)
                topics = lappend(topics, pnstrdup(e.val.string.val, e.val.string.len));
    });
    return present ? topics : NIL;
}

bool TopicAllowed(List *topics, const char *topic, size_t len) {
    ListCell *lc;
    foreach (lc, topics) {
        const char *t = (const char *)lfirst(lc);
        if (strlen(t) == len && memcmp(t, topic, len) == 0) return true;
    }
    return false;
}

void CheckTopicsOption(const JsonbValue *v) {
    auto fail = [](const char *detail) {
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("pipeline option \"outbox_topics\" must be a non-empty array of Kafka topic names"),
                        errdetail("%s", detail)));
    };
    if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
        JsonContainerSize(v->val.binary.data) == 0)
        fail("For example: [\"orders.events\"].");
    JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
    JsonbValue e;
    JsonbIteratorToken tok;
    while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE) {
        if (tok != WJB_ELEM) continue;
        bool ok = e.type == jbvString && e.val.string.len > 0 && e.val.string.len <= 249;
        for (int i = 0; ok && i < e.val.string.len; i++) {
            char c = e.val.string.val[i];
            if (!isalnum((unsigned char)c) && c != '.' && c != '_' && c != '-') ok = false;
        }
        if (ok && e.val.string.len <= 2 && strspn(e.val.string.val, ".") == (size_t)e.val.string.len) ok = false;
        if (ok && e.val.string.len >= 2 && strncmp(e.val.string.val, "__", 2) == 0) ok = false;  // Kafka's internal
        if (!ok)
            fail("A topic name is 1 to 249 characters A-Z, a-z, 0-9, '.', '_' and '-' (not \".\" or \"..\", not "
                 "beginning with \"__\").");
    }
}

}  // namespace kafka_fdw::cdc::outbox

// ---- the pipeline worker's side (see worker.hpp) -------------------------------

namespace kafka_fdw::cdc::pipeline {

namespace ob = format::outbox;

namespace {

// The decoded payload, reused (owned by the worker's context).
ob::Payload *g_payload = nullptr;

constexpr long kRejectLogIntervalMs = 60 * 1000;

// A message with our prefix that kafka.produce_on_commit did not write for
// this pipeline's transaction: dropped, counted, logged at most once a
// minute (a role that floods them must not flood the log).
void Reject(const char *why) {
    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    W->entry->outbox_rejected++;
    W->entry->outbox_rejected_at = now;
    uint64 total = W->entry->outbox_rejected;
    LWLockRelease(Shared()->lock);
    if (W->outbox_logged_at == 0 || now - W->outbox_logged_at >= kRejectLogIntervalMs * 1000) {
        W->outbox_logged_at = now;
        ereport(LOG, (errmsg("pipeline \"%s\": dropped a logical message with prefix \"%s\" that "
                             "kafka.produce_on_commit did not write: %s",
                             W->name, ob::kPrefix, why),
                      errdetail("%llu such messages dropped since the server started (kafka.outbox_status); "
                                "this line is written at most once a minute.",
                                (unsigned long long)total)));
    }
}

// Constant time: the comparison takes as long whatever the tag.
bool TagsEqual(const uint8 *a, const char *b) {
    uint8 diff = 0;
    for (size_t i = 0; i < ob::kTagLen; i++) diff |= a[i] ^ (uint8)b[i];
    return diff == 0;
}

}  // namespace

void LoadOutboxSecret() {
    W->outbox_secret_len = 0;
    // (also the key of an exactly-once pipeline's progress records)
    if (W->outbox_topics == NIL && !W->exactly_once) return;
    W->outbox_secret_len = outbox::ReadSecret(W->outbox_secret);
}

void OnOutboxMessage(const char *data, int len) {
    bool ours = false, transactional = false, decoded = false;
    KFDW_ENTRY({
        pgo::Message m = pgo::ParseMessage(std::string_view(data, len));
        if (m.prefix != ob::kPrefix) return;  // another extension's message
        ours = true;
        transactional = m.transactional;
        if (!g_payload) g_payload = pg::OwnBy(W->cxt, new ob::Payload());
        decoded = ob::Decode(m.content, g_payload);
    });
    // (without "outbox_topics" the worker does not ask for messages at all)
    if (!ours || W->outbox_topics == NIL) return;
    if (!transactional) return Reject("not a transactional message");
    if (!decoded) return Reject("not a valid outbox payload");
    const ob::Payload &p = *g_payload;
    // Every pipeline of the database decodes every message: the ones for
    // other pipelines are theirs (and counted there when forged).
    if (p.pipeline != W->name) return;
    uint8 tag[ob::kTagLen];
    if (W->outbox_secret_len == 0 ||
        !outbox::ComputeTag(W->outbox_secret, W->outbox_secret_len, MyDatabaseId, W->txn_xid, p.signed_part.data(),
                            p.signed_part.size(), tag) ||
        !TagsEqual(tag, p.tag.data()))
        return Reject("its authentication tag does not verify");
    if (!outbox::TopicAllowed(W->outbox_topics, p.topic.data(), p.topic.size()))
        return Reject("its topic is not in the pipeline's option \"outbox_topics\"");

    char *topic = pnstrdup(p.topic.data(), p.topic.size());
    int nh = (int)p.headers.size();
    auto *headers = (kafka::HeaderRef *)palloc0(sizeof(kafka::HeaderRef) * Max(1, nh));
    for (int i = 0; i < nh; i++) {
        const ob::Header &h = p.headers[i];
        headers[i].name = pnstrdup(h.name.data(), h.name.size());  // NUL-terminated for librdkafka
        headers[i].value = h.has_value ? h.value.data() : nullptr;
        headers[i].value_len = h.value.size();
    }
    EnsureTopic(topic);
    struct Message {
        const char *topic;
        const format::outbox::Payload *payload;
        const kafka::HeaderRef *headers;
        size_t nh;
    } m{topic, &p, headers, (size_t)nh};
    SendUntilQueued(
        [](void *arg) {
            auto *x = static_cast<Message *>(arg);
            const auto &q = *x->payload;
            return W->sender->SendOutbox(x->topic, q.has_key ? q.key.data() : nullptr, q.key.size(),
                                         q.has_value ? q.value.data() : nullptr, q.value.size(), x->headers, x->nh);
        },
        &m);
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    W->entry->outbox_sent++;
    LWLockRelease(Shared()->lock);
}

}  // namespace kafka_fdw::cdc::pipeline
