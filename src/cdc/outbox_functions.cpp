// SQL functions of the outbox (Postgres zone): kafka.produce_on_commit,
// kafka.grant_produce_on_commit / revoke_produce_on_commit, and the counts
// behind the view kafka.outbox_status.  See outbox.hpp for how a message is
// made authentic, outbox.cpp for how the pipeline's worker delivers it.
//
// Who may call produce_on_commit for a pipeline: a role with the
// privileges of the pipeline's owner (superusers have all), or of a role
// the owner granted it to (kafka.outbox_grants).  Which topics: those of
// the pipeline's option "outbox_topics" (no option: no outbox).  Both are
// checked at the call, against rows read without SQL; the message is
// written only after them.
#include "format/outbox.hpp"

#include "cdc/cdc.hpp"
#include "cdc/outbox.hpp"
#include "fdw/modify.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/security.hpp"

#include <string>

extern "C" {
#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "storage/lwlock.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(kafka_produce_on_commit_text);
PG_FUNCTION_INFO_V1(kafka_produce_on_commit_bytea);
PG_FUNCTION_INFO_V1(kafka_produce_on_commit_jsonb);
PG_FUNCTION_INFO_V1(kafka_grant_produce_on_commit);
PG_FUNCTION_INFO_V1(kafka_revoke_produce_on_commit);
PG_FUNCTION_INFO_V1(kafka_outbox_counts);
}

namespace kafka_fdw::cdc::outbox {
namespace {

namespace ob = format::outbox;

// Key, value and headers of one message together: at most what a broker
// takes by default (message.max.bytes, 1 MB with the batch overhead).  A
// message the broker refuses would stop the pipeline at its transaction
// for good: refused at the call instead.
constexpr size_t kMaxMessageBytes = 1000000;

enum class Kind { Text, Bytea, Jsonb };

// A value or key as bytes (text in UTF-8, as kafka.produce sends it; jsonb
// as its text).
void Bytes(Datum d, Kind kind, const char **data, size_t *len) {
    if (kind == Kind::Jsonb) {
        char *s = JsonbToCString(NULL, &DatumGetJsonbP(d)->root, 0);
        *data = s;
        *len = strlen(s);
    } else {
        struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
        *data = VARDATA_ANY(v);
        *len = VARSIZE_ANY_EXHDR(v);
        if (kind != Kind::Text) return;
    }
    pg::ServerToUtf8(data, len);
}

struct GrantScan {
    const char *pipeline;
    Oid user;
    bool granted;
};

// Is there a grant of the pipeline to a role whose privileges `user` has?
bool Granted(const char *pipeline, Oid user) {
    GrantScan s{pipeline, user, false};
    ScanTable(
        "outbox_grants",
        [](HeapTuple t, TupleDesc td, void *arg) {
            auto *g = static_cast<GrantScan *>(arg);
            AttrNumber pipe = InvalidAttrNumber, grantee = InvalidAttrNumber;
            for (int i = 0; i < td->natts; i++) {
                Form_pg_attribute a = TupleDescAttr(td, i);
                if (a->attisdropped) continue;
                if (strcmp(NameStr(a->attname), "pipeline") == 0) pipe = a->attnum;
                if (strcmp(NameStr(a->attname), "grantee") == 0) grantee = a->attnum;
            }
            if (pipe == InvalidAttrNumber || grantee == InvalidAttrNumber) return false;
            bool isnull;
            Datum d = heap_getattr(t, pipe, td, &isnull);
            if (isnull || strcmp(TextDatumGetCString(d), g->pipeline) != 0) return true;
            d = heap_getattr(t, grantee, td, &isnull);
            if (!isnull && pg::ActsAs(g->user, DatumGetObjectId(d))) {
                g->granted = true;
                return false;
            }
            return true;
        },
        &s);
    return s.granted;
}

char *TopicList(List *topics) {
    StringInfoData buf;
    initStringInfo(&buf);
    ListCell *lc;
    foreach (lc, topics) appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", (const char *)lfirst(lc));
    return buf.data;
}

Datum ProduceOnCommit(FunctionCallInfo fcinfo, Kind value_kind, Kind key_kind) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("pipeline and topic must not be NULL")));
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char *topic = text_to_cstring(PG_GETARG_TEXT_PP(1));
    PreventCommandIfReadOnly("kafka.produce_on_commit()");
    PreventCommandDuringRecovery("kafka.produce_on_commit()");

    // The pipeline, the caller's right, the topic: before anything is written.
    PipelineDef def;
    if (!ReadPipeline(name, nullptr, false, &def))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("pipeline \"%s\" does not exist", name)));
    Oid user = GetUserId();
    if (!pg::ActsAs(user, def.owner) && !Granted(name, user))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to produce on commit through pipeline \"%s\"", name),
                        errdetail("Only the pipeline's owner and roles it granted this to may."),
                        errhint("The owner grants it: SELECT kafka.grant_produce_on_commit('%s', '%s');", name,
                                GetUserNameFromId(user, false))));
    List *topics = Topics(def.options);
    if (topics == NIL)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("pipeline \"%s\" has no outbox topics", name),
                        errhint("A pipeline created with the option \"outbox_topics\" (a list of topic names) "
                                "takes messages for those topics.")));
    if (!TopicAllowed(topics, topic, strlen(topic)))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("topic \"%s\" is not an outbox topic of pipeline \"%s\"", topic, name),
                        errdetail("The pipeline's option \"outbox_topics\" lists: %s.", TopicList(topics))));

    const char *value = nullptr, *key = nullptr;
    size_t value_len = 0, key_len = 0;
    if (!PG_ARGISNULL(2)) Bytes(PG_GETARG_DATUM(2), value_kind, &value, &value_len);
    if (!PG_ARGISNULL(3)) Bytes(PG_GETARG_DATUM(3), key_kind, &key, &key_len);
    int nh = 0;
    const char **hnames = nullptr, **hvalues = nullptr;
    size_t *hlens = nullptr;
    if (!PG_ARGISNULL(4))
        fdw::ParseHeaders(PG_GETARG_JSONB_P(4), "kafka.produce_on_commit", &nh, &hnames, &hvalues, &hlens);
    size_t total = value_len + key_len;
    for (int i = 0; i < nh; i++) total += strlen(hnames[i]) + hlens[i];
    if (total > kMaxMessageBytes)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("outbox message too large: %zu bytes", total),
                        errdetail("Key, value and headers of a message take at most %zu bytes together.",
                                  kMaxMessageBytes)));

    char secret[kSecretMax];
    size_t secret_len = ReadSecret(secret);
    if (secret_len == 0)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("kafka_fdw's outbox secret is missing"),
                        errhint("The table %s.outbox_secret must hold its one row (made by the extension's "
                                "install script).",
                                pg::ExtensionSchemaSql())));

    // The payload (C++ zone), then its tag and the message.
    char *payload = nullptr;
    size_t payload_len = 0;
    KFDW_ENTRY({
        ob::Payload p;
        p.pipeline = name;
        p.topic = topic;
        p.has_key = key != nullptr;
        if (key) p.key = std::string_view(key, key_len);
        p.has_value = value != nullptr;
        if (value) p.value = std::string_view(value, value_len);
        for (int i = 0; i < nh; i++) {
            ob::Header h;
            h.name = hnames[i];
            h.has_value = hvalues[i] != nullptr;
            if (hvalues[i]) h.value = std::string_view(hvalues[i], hlens[i]);
            p.headers.push_back(h);
        }
        std::string out;
        ob::Encode(p, &out);
        payload_len = out.size();
        payload = static_cast<char *>(pg::AllocOrThrow(payload_len + ob::kTagLen));
        memcpy(payload, out.data(), payload_len);
    });
    // The tag binds the message to this transaction (pgoutput's Begin
    // carries the top-level transaction id, also for a message written in a
    // subtransaction).
    TransactionId xid = GetTopTransactionId();
    if (!ComputeTag(secret, secret_len, MyDatabaseId, xid, payload, payload_len, (uint8 *)payload + payload_len))
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not compute the outbox message's tag")));
#if PG_VERSION_NUM >= 170000
    (void)LogLogicalMessage(ob::kPrefix, payload, payload_len + ob::kTagLen, true, false);
#else
    (void)LogLogicalMessage(ob::kPrefix, payload, payload_len + ob::kTagLen, true);
#endif
    PG_RETURN_VOID();
}

// grant/revoke: the caller has the privileges of the pipeline's owner
// (checked on the row read without SQL); then the row of
// kafka.outbox_grants is written as the extension's owner.
Datum SetGrant(FunctionCallInfo fcinfo, bool grant) {
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    Oid role = PG_GETARG_OID(1);
    PipelineDef def;
    if (!ReadPipeline(name, nullptr, false, &def))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("pipeline \"%s\" does not exist", name)));
    if (!pg::ActsAs(GetUserId(), def.owner))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to %s produce_on_commit on pipeline \"%s\"",
                               grant ? "grant" : "revoke", name),
                        errdetail("Only the pipeline's owner (and roles with its privileges) may.")));
    if (!GetUserNameFromId(role, true))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("role with OID %u does not exist", role)));
    pg::OwnerSpi own;
    pg::BeginOwnerSpi(&own, pg::kOwnerSpiConnect | pg::kOwnerSpiRestricted);
    Oid types[2] = {TEXTOID, REGROLEOID};
    Datum values[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(role)};
    const char *sql =
        grant ? psprintf("INSERT INTO %s.outbox_grants (pipeline, grantee) VALUES ($1, $2) "
                         "ON CONFLICT (pipeline, grantee) DO NOTHING",
                         own.schema)
              : psprintf("DELETE FROM %s.outbox_grants WHERE pipeline OPERATOR(pg_catalog.=) $1 "
                         "AND grantee::pg_catalog.oid OPERATOR(pg_catalog.=) $2::pg_catalog.oid",
                         own.schema);
    int rc = SPI_execute_with_args(sql, 2, types, values, nullptr, false, 0);
    if (rc != (grant ? SPI_OK_INSERT : SPI_OK_DELETE)) elog(ERROR, "kafka_fdw: SPI failed (%d): %s", rc, sql);
    pg::EndOwnerSpi(&own);
    PG_RETURN_VOID();
}

}  // namespace
}  // namespace kafka_fdw::cdc::outbox

using namespace kafka_fdw::cdc;
using kafka_fdw::cdc::outbox::Kind;

extern "C" Datum kafka_produce_on_commit_text(PG_FUNCTION_ARGS) {
    return outbox::ProduceOnCommit(fcinfo, Kind::Text, Kind::Text);
}
extern "C" Datum kafka_produce_on_commit_bytea(PG_FUNCTION_ARGS) {
    return outbox::ProduceOnCommit(fcinfo, Kind::Bytea, Kind::Bytea);
}
extern "C" Datum kafka_produce_on_commit_jsonb(PG_FUNCTION_ARGS) {
    return outbox::ProduceOnCommit(fcinfo, Kind::Jsonb, Kind::Text);
}
extern "C" Datum kafka_grant_produce_on_commit(PG_FUNCTION_ARGS) { return outbox::SetGrant(fcinfo, true); }
extern "C" Datum kafka_revoke_produce_on_commit(PG_FUNCTION_ARGS) { return outbox::SetGrant(fcinfo, false); }

// Per pipeline of this database (by slot name): outbox messages sent and
// messages with the outbox prefix dropped, since the server started.
extern "C" Datum kafka_outbox_counts(PG_FUNCTION_ARGS) {
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    InitMaterializedSRF(fcinfo, 0);
    if (!Shared()) return (Datum)0;
    int n = Shared()->max_pipelines;
    PipelineEntry *copy = (PipelineEntry *)palloc(sizeof(PipelineEntry) * Max(1, n));
    LWLockAcquire(Shared()->lock, LW_SHARED);
    memcpy(copy, Shared()->entries, sizeof(PipelineEntry) * n);
    LWLockRelease(Shared()->lock);
    for (int i = 0; i < n; i++) {
        const PipelineEntry *e = &copy[i];
        if (!e->in_use || e->dboid != MyDatabaseId) continue;
        Datum values[4];
        bool nulls[4] = {false};
        values[0] = CStringGetTextDatum(e->slot_name);
        values[1] = Int64GetDatum((int64)e->outbox_sent);
        values[2] = Int64GetDatum((int64)e->outbox_rejected);
        values[3] = TimestampTzGetDatum(e->outbox_rejected_at);
        nulls[3] = e->outbox_rejected_at == 0;
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
