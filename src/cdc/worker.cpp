// A pipeline worker: decodes the WAL in-process and produces one Kafka
// message per row change of its publication.
//
// Shape (as the walsender's logical replication): one long-lived decoding
// context on the pipeline's slot, created outside any transaction; a loop of
// XLogReadRecord + LogicalDecodingProcessRecord; our page_read callback waits
// for new WAL on the latch and meanwhile serves Kafka's delivery reports and
// confirms progress.  The slot's plugin is the built-in pgoutput, so which
// changes and columns are sent is decided exactly as for Postgres' own
// logical replication (membership, publish actions, row filters, column
// lists, publish_via_partition_root); our writer callback reads pgoutput's
// messages and renders each row as row_to_json would, from the columns' text
// and with built-in code only: no user function (cast, domain constraint,
// PL function) ever runs in the worker while it decodes or snapshots.  The
// extension's own tables are never sent.
//
// Delivery: each decoded transaction gets a producer ledger (CommitQueue).
// The slot is confirmed only up to the commit of the oldest transaction with
// an unacknowledged message, or to the reader's position when nothing is
// pending, and saved to disk every second.  A restart therefore re-sends
// whole transactions and never skips one.
//
// Errors: any ERROR ends the worker (exit 1) after its text was put in
// shared memory; the launcher starts it again with a backoff.  No decoding
// context is ever reused after an error.
//
// Identity: the worker runs as the pipeline's owner, connected as that role
// (as pg_cron runs a job as its user), so the initial snapshot reads what
// the owner may read and nothing more.  The launcher knows slots, not
// owners: a start for an entry whose owner is unknown is a short lookup,
// connected as the bootstrap superuser, that only reads kafka.pipelines
// without SQL (no user code, no settings involved), records the owner in
// shared memory and exits for an immediate restart as the owner.  Every
// start as the owner checks the owner's privileges again (REPLICATION,
// LOGIN, USAGE on the server, owning the publication, SELECT on its tables),
// and so does every table's first appearance in the stream: a pipeline whose
// owner lost one stops with last_error and retries with the backoff.  The
// worker's own writes to kafka.pipelines run as the extension's owner.
#include "cdc/debezium.hpp"
#include "cdc/sender.hpp"
#include "format/json.hpp"
#include "format/pg_text.hpp"
#include "kafka/errors.hpp"

#include "fdw/connection.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/security.hpp"

#include "cdc/cdc.hpp"

extern "C" {
#include "access/xlog.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/snapbuild.h"
#include "utils/array.h"
#include "utils/relcache.h"
#include "utils/ruleutils.h"
#include "access/sysattr.h"
#include "catalog/pg_class.h"
#include "utils/datetime.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"
}

#include <malloc.h>

namespace kafka_fdw::cdc {
namespace {

namespace pgo = format::pgoutput;

// How a column's text (as pgoutput sends it) becomes JSON: as row_to_json
// renders it (PostgreSQL 15's json_categorize_type / datum_to_json), except
// that nothing but built-in code runs.  A type's cast to json is never looked
// for, and arrays and composites are read from their text here, element by
// element, never through array_in/record_in and array_to_json/row_to_json
// (which call the input functions of the element and attribute types, among
// them domain CHECK constraints, and the casts to json of user types).  Every
// type that is not one of the built-in categories below renders as a JSON
// string of its text (its output function's, as pgoutput sends it).
enum class Cat { Bool, Number, DateTime, Json, Array, Vector, Composite, String };

struct JsonType {
    Cat cat;
    Oid basetype;     // DateTime: DATEOID, TIMESTAMPOID or TIMESTAMPTZOID
    int32 typmod;
    FmgrInfo infunc;  // DateTime: the built-in input function of basetype
    Oid ioparam;
    JsonType *elem;   // Array, Vector: the element type
    char delim;       // Array: the element type's typdelim
    // Composite: the fields (non-dropped attributes) of rowtype's tuple
    // descriptor with this identifier; built again when the type changed
    Oid rowtype;
    uint64 tupdesc_id;
    int nfields;
    char **field_names;  // as JSON strings and ':' ('"a":')
    JsonType *fields;
    MemoryContext cxt;   // where fields are (re)built
};

struct AttrInfo {
    char *name;
    char *json_name;  // the name as a JSON string and ':' ('"id":')
    bool key;
    JsonType type;
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
    uint64 records;
    char toast_cols[1024];
    bool snapshot_pending;  // the initial snapshot is still to be (re)done
    bool no_definition;     // no pipeline row for the slot (yet)
    bool connecting;        // connecting as the owner (a FATAL there: look the owner up again)
    Oid connected_owner;    // the role this process connected as (InvalidOid: a lookup start)
    List *verified;         // tables checked at this start, not yet described (see RelationAllowed)
    uint32 created_gen;     // the entry's created_gen before the row was looked for
    bool debezium;      // format "debezium" (else "row")
    bool dbz_schemas;   // its option "schemas"
    bool failover;      // option "failover": the slot is synchronized to standbys (17+)
    char *dbname;
    // the transaction being decoded, and the position of the current change
    uint64 txn_final_lsn;
    uint32 txn_xid;
    int64 txn_commit_unix_us;
    XLogRecPtr change_lsn;
};

Worker *W = nullptr;
constexpr const char *kUnchangedToast = "__kafka_fdw_unchanged_toast__";
// A topic's metadata is asked for in slices of this length while the brokers
// do not answer (each failed slice is reported in pipeline_status).
constexpr int kTopicSliceMs = 2000;
// A slot without a pipeline row (a create_pipeline not committed yet, or a
// slot left by a dropped extension) is looked at again after this long, not
// as fast as workers can be started; a create_pipeline that commits starts
// its worker at once.
constexpr int kNoDefinitionRetryMs = 5000;

// ---- shared-memory status ---------------------------------------------------

void SetState(WorkerState s, const char *error) {
    PipelineEntry *e = W->entry;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    e->state = s;
    if (error) {
        strlcpy(e->last_error, error, sizeof e->last_error);
        e->last_error_at = GetCurrentTimestamp();
    }
    LWLockRelease(Shared()->lock);
}

// Serves interrupts, and ends the worker when its pipeline was paused,
// changed or dropped: for the waits in which nothing has to be drained
// first (the streaming path stops through StopCleanly instead).
void ExitIfReloaded() {
    CHECK_FOR_INTERRUPTS();
    if (W->entry->reload) proc_exit(0);
}

// The worker waits for Kafka inside a decoded transaction: say why in
// pipeline_status, serve interrupts, and end (cleanly, nothing of this
// transaction was confirmed) when the pipeline was paused, changed or dropped.
void StalledOnKafka(const char *why) {
    SetState(WorkerState::Retrying, why);
    ExitIfReloaded();
}

void PublishProgress() {
    PipelineEntry *e = W->entry;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    if (W->sender && e->events_sent != W->sender->events_sent) {
        e->events_sent = W->sender->events_sent;
        e->last_event_at = GetCurrentTimestamp();
    }
    e->confirmed_lsn = W->confirmed;
    LWLockRelease(Shared()->lock);
}

void WorkerExit(int code, Datum) {
    if (!W) return;
    PipelineEntry *e = W->entry;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    e->pid = 0;
    TimestampTz now = GetCurrentTimestamp();
    if (W->connecting) {
        // The connection as the owner failed (FATAL: the role was dropped,
        // lost LOGIN, ...): the next start looks the owner up again and says
        // what is wrong.
        if (e->owner == W->connected_owner) e->owner = InvalidOid;
        snprintf(e->last_error, sizeof e->last_error,
                 "could not connect as the pipeline's owner (role with OID %u): see the server log",
                 W->connected_owner);
        e->last_error_at = now;
    }
    if (code != 0) {
        // Back off: 1, 2, 4, 8 s, at most 10 s.
        e->failures = Min(e->failures + 1, 10);
        int delay = Min(10000, 1000 << Min(e->failures - 1, 4));
        e->restart_at = TimestampTzPlusMilliseconds(now, delay);
        e->state = WorkerState::Retrying;
    } else {
        bool later = W->no_definition && e->created_gen == W->created_gen;
        e->restart_at = later ? TimestampTzPlusMilliseconds(now, kNoDefinitionRetryMs) : now;
        if (e->state != WorkerState::Paused) e->state = WorkerState::Stopped;
    }
    LWLockRelease(Shared()->lock);
    WakeLauncher();
}

bool StopRequested() { return ProcDiePending || W->entry->reload; }

// ---- the pipeline's definition ---------------------------------------------

// Reads the pipeline's row (kafka.pipelines, without SQL: definition.cpp) in
// a short transaction.  False when this slot has no pipeline in this
// database (yet: a create_pipeline not committed).
bool LoadDefinition() {
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    MemoryContext old = MemoryContextSwitchTo(W->cxt);
    PipelineDef def;
    bool found = ReadPipeline(nullptr, W->slot_name, false, &def);
    if (found) {
        W->name = def.name;
        W->server = def.server;
        W->publication = def.publication;
        W->owner = def.owner;
        W->paused = def.paused;
        W->snapshot_pending = strcmp(def.snapshot, "pending") == 0;
        // create_pipeline validated the options.
        W->topic_prefix = def.name;
        W->partitions = -1;
        W->replication = -1;
        W->debezium = false;
        W->dbz_schemas = true;
        W->failover = false;
        pg::ForEachJsonbMember(def.options, [](char *key, JsonbValue *v) {
            auto number = [v]() {
                return v->type == jbvNumeric
                           ? DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)))
                           : -1;
            };
            auto string = [v]() {
                return v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : pstrdup("");
            };
            if (strcmp(key, "topic_prefix") == 0) W->topic_prefix = string();
            else if (strcmp(key, "partitions") == 0) W->partitions = number();
            else if (strcmp(key, "replication_factor") == 0) W->replication = number();
            else if (strcmp(key, "format") == 0) W->debezium = strcmp(string(), "debezium") == 0;
            else if (strcmp(key, "schemas") == 0) W->dbz_schemas = !(v->type == jbvBool && !v->val.boolean);
            else if (strcmp(key, "failover") == 0) W->failover = v->type == jbvBool && v->val.boolean;
        });
        W->dbname = get_database_name(MyDatabaseId);
    }
    MemoryContextSwitchTo(old);
    PopActiveSnapshot();
    CommitTransactionCommand();
    return found;
}

// The owner's privileges, at every start as the owner (against the catalog
// as it is now).
void CheckPrivileges() {
    StartTransactionCommand();
    List *tables = CheckOwnerPrivileges(W->name, W->owner, W->server, W->publication);
    MemoryContext old = MemoryContextSwitchTo(W->cxt);
    W->verified = list_copy(tables);
    MemoryContextSwitchTo(old);
    CommitTransactionCommand();
}

// Where a table is described (pgoutput's Relation message, or the initial
// snapshot): may the owner read it?  Its first description after this start
// is covered by CheckPrivileges when the table was in the publication then:
// checked against the catalog as it is now, so that changes made while the
// owner lacked SELECT are sent once it has it again (a check against the
// catalog of that time would stop the pipeline there for good).  Any other
// description is checked against the catalog as of the change being decoded
// (pgoutput describes a table again after its privileges changed): a REVOKE
// stops the pipeline at the table's next change, before anything of it is
// sent.
void RelationAllowed(Oid relid) {
    if (list_member_oid(W->verified, relid)) {
        W->verified = list_delete_oid(W->verified, relid);
        return;
    }
    CheckRelationReadable(W->name, W->owner, relid);
}

// A start for an entry whose owner is unknown, connected as the bootstrap
// superuser: reads the owner from the pipeline's row (no SQL, no user code),
// checks that the worker can connect as it, records it and exits; the
// launcher starts the worker again at once, as the owner.
[[noreturn]] void LookupOwner() {
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    PipelineDef def;
    bool found = ReadPipeline(nullptr, W->slot_name, false, &def);
    if (found) {
        HeapTuple tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(def.owner));
        if (!HeapTupleIsValid(tup))
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                            errmsg("pipeline \"%s\": its owner (role with OID %u) does not exist", def.name,
                                   def.owner),
                            errhint("Drop the pipeline; a role with the privileges it needs can create it again.")));
        auto *role = (Form_pg_authid)GETSTRUCT(tup);
        if (!role->rolcanlogin)
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("pipeline \"%s\": role \"%s\" cannot log in", def.name, NameStr(role->rolname)),
                            errdetail("A pipeline's worker connects as the pipeline's owner.")));
        if (pg_database_aclcheck(MyDatabaseId, def.owner, ACL_CONNECT) != ACLCHECK_OK)
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("pipeline \"%s\": role \"%s\" has no CONNECT privilege on database \"%s\"",
                                   def.name, NameStr(role->rolname), get_database_name(MyDatabaseId)),
                            errdetail("A pipeline's worker connects as the pipeline's owner.")));
        ReleaseSysCache(tup);
    }
    PopActiveSnapshot();
    CommitTransactionCommand();
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    if (found) W->entry->owner = def.owner;
    else W->no_definition = true;  // look again later, or at once when a create commits
    W->entry->state = found ? WorkerState::Starting : WorkerState::Stopped;
    LWLockRelease(Shared()->lock);
    proc_exit(0);
}

void CreateSender() {
    StartTransactionCommand();
    ForeignServer *server = GetForeignServerByName(W->server, false);
    fdw::ClientSpec *spec = fdw::GetClientSpec(server->serverid, W->owner, false);
    MemoryContext old = MemoryContextSwitchTo(W->cxt);
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
            // Compressed batches: the broker (on the same 2 cores in the
            // benchmark) has less to store and move.  Row events: +17-20%
            // events/s in interleaved pairs (bench/README.md); Debezium
            // events with schemas, which repeat a few kB of schema in every
            // message: 3x.  The server's compression.type wins.
            {"compression.type", "lz4"},
        };
        kafka::Config conf = fdw::MakeConfig(spec, defaults);
        W->sender = pg::OwnBy(W->cxt, new Sender(std::move(conf), spec->partitioner));
    });
    MemoryContextSwitchTo(old);
    CommitTransactionCommand();
}

// ---- rendering rows as row_to_json does ------------------------------------

void DescribeFields(JsonType *t);

// How values of type typid render; catalog lookups only (under the decoding's
// historic snapshot).  No function of the type is looked up but the built-in
// input functions of the date and time categories.
void DescribeType(JsonType *t, Oid typid, int32 typmod, MemoryContext cxt) {
    check_stack_depth();
    int32 basetypmod = typmod;
    Oid base = getBaseTypeAndTypmod(typid, &basetypmod);
    memset(t, 0, sizeof *t);
    t->basetype = base;
    t->typmod = basetypmod;
    t->cxt = cxt;
    switch (base) {
    case BOOLOID:
        t->cat = Cat::Bool;
        return;
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case FLOAT4OID:
    case FLOAT8OID:
    case NUMERICOID:
        t->cat = Cat::Number;
        return;
    case DATEOID:
    case TIMESTAMPOID:
    case TIMESTAMPTZOID: {
        t->cat = Cat::DateTime;
        Oid infn;
        getTypeInputInfo(base, &infn, &t->ioparam);
        fmgr_info_cxt(infn, &t->infunc, cxt);
        return;
    }
    case JSONOID:
    case JSONBOID:
        t->cat = Cat::Json;
        return;
    case INT2VECTOROID:
    case OIDVECTOROID:
        // arrays for json_categorize_type, but written "1 2 3"
        t->cat = Cat::Vector;
        t->elem = static_cast<JsonType *>(MemoryContextAlloc(cxt, sizeof(JsonType)));
        DescribeType(t->elem, base == INT2VECTOROID ? INT2OID : OIDOID, -1, cxt);
        return;
    default:
        break;
    }
    Oid elem = get_element_type(base);
    if (OidIsValid(elem)) {
        t->cat = Cat::Array;
        t->elem = static_cast<JsonType *>(MemoryContextAlloc(cxt, sizeof(JsonType)));
        DescribeType(t->elem, elem, basetypmod, cxt);
        int16 typlen;
        bool typbyval;
        char typalign;
        Oid ioparam, func;
        get_type_io_data(elem, IOFunc_output, &typlen, &typbyval, &typalign, &t->delim, &ioparam, &func);
    } else if (base != RECORDOID && type_is_rowtype(base)) {
        t->cat = Cat::Composite;
        t->rowtype = base;
        DescribeFields(t);
    } else {
        // Everything else, built-in or not (enums, ranges, user base types
        // and, unlike row_to_json, types with a cast to json): their text.
        t->cat = Cat::String;
    }
}

void DescribeFields(JsonType *t) {
    TypeCacheEntry *tc = lookup_type_cache(t->rowtype, TYPECACHE_TUPDESC);
    uint64 id = tc->tupDesc_identifier;
    MemoryContext old = MemoryContextSwitchTo(t->cxt);
    TupleDesc td = lookup_rowtype_tupdesc_copy(t->rowtype, -1);
    t->tupdesc_id = id;
    t->nfields = 0;
    t->field_names = static_cast<char **>(palloc0(sizeof(char *) * Max(1, td->natts)));
    t->fields = static_cast<JsonType *>(palloc0(sizeof(JsonType) * Max(1, td->natts)));
    for (int i = 0; i < td->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(td, i);
        if (att->attisdropped) continue;  // record_out and row_to_json skip them
        StringInfoData jn;
        initStringInfo(&jn);
        escape_json(&jn, NameStr(att->attname));
        appendStringInfoChar(&jn, ':');
        t->field_names[t->nfields] = jn.data;
        DescribeType(&t->fields[t->nfields], att->atttypid, att->atttypmod, t->cxt);
        t->nfields++;
    }
    MemoryContextSwitchTo(old);
}

void RenderText(StringInfo out, JsonType *t, const char *data, int len);

// An array's text ({...}, array_out) as array_to_json renders it; on text
// that is not array_out's (never seen), the JSON string of the text.
void RenderArray(StringInfo out, JsonType *t, const char *data, int len) {
    int start = out->len;
    char *buf = static_cast<char *>(palloc(len + 1));
    format::pgtext::ArrayLexer lex(data, (size_t)len, t->delim);
    bool first = true;
    for (;;) {
        size_t n = 0;
        switch (lex.Next(buf, &n)) {
        case format::pgtext::Token::Open:
            if (!first) appendStringInfoChar(out, ',');
            appendStringInfoChar(out, '[');
            first = true;
            continue;
        case format::pgtext::Token::Close:
            appendStringInfoChar(out, ']');
            first = false;
            continue;
        case format::pgtext::Token::Null:
            if (!first) appendStringInfoChar(out, ',');
            appendStringInfoString(out, "null");
            first = false;
            continue;
        case format::pgtext::Token::Item:
            if (!first) appendStringInfoChar(out, ',');
            RenderText(out, t->elem, buf, (int)n);
            first = false;
            continue;
        case format::pgtext::Token::End:
            break;
        case format::pgtext::Token::Error:
            out->len = start;
            out->data[start] = '\0';
            char *s = pnstrdup(data, len);
            escape_json(out, s);
            break;
        }
        break;
    }
    pfree(buf);
}

// int2vector, oidvector ("1 2 3") as array_to_json renders them.
void RenderVector(StringInfo out, JsonType *t, const char *data, int len) {
    format::pgtext::VectorLexer lex(data, (size_t)len);
    appendStringInfoChar(out, '[');
    const char *item;
    size_t n;
    for (bool first = true; lex.Next(&item, &n) == format::pgtext::Token::Item; first = false) {
        if (!first) appendStringInfoChar(out, ',');
        RenderText(out, t->elem, item, (int)n);
    }
    appendStringInfoChar(out, ']');
}

// A composite's text ((...), record_out) as row_to_json renders it, with the
// type's current attributes (as record_out wrote it); on text that is not
// record_out's, the JSON string of the text.
void RenderComposite(StringInfo out, JsonType *t, const char *data, int len) {
    if (lookup_type_cache(t->rowtype, TYPECACHE_TUPDESC)->tupDesc_identifier != t->tupdesc_id) DescribeFields(t);
    int start = out->len;
    char *buf = static_cast<char *>(palloc(len + 1));
    format::pgtext::RecordLexer lex(data, (size_t)len);
    appendStringInfoChar(out, '{');
    bool ok = true;
    for (int i = 0; i < t->nfields && ok; i++) {
        size_t n = 0;
        format::pgtext::Token tok = lex.Next(buf, &n);
        if (i > 0) appendStringInfoChar(out, ',');
        appendStringInfoString(out, t->field_names[i]);
        if (tok == format::pgtext::Token::Item) RenderText(out, &t->fields[i], buf, (int)n);
        else if (tok == format::pgtext::Token::Null) appendStringInfoString(out, "null");
        else ok = false;
    }
    appendStringInfoChar(out, '}');
    size_t n = 0;
    // record_out writes "()" for a type without attributes
    if (ok && t->nfields == 0 && lex.Next(buf, &n) != format::pgtext::Token::Null) ok = false;
    if (ok && lex.Next(buf, &n) != format::pgtext::Token::End) ok = false;
    if (!ok) {
        out->len = start;
        out->data[start] = '\0';
        char *s = pnstrdup(data, len);
        escape_json(out, s);
    }
    pfree(buf);
}

// One value from its text, as datum_to_json renders it.
void RenderText(StringInfo out, JsonType *t, const char *data, int len) {
    // The simple categories straight from the text, no copy.
    switch (t->cat) {
    case Cat::Bool:
        appendStringInfoString(out, len > 0 && data[0] == 't' ? "true" : "false");
        return;
    case Cat::Number:
        if (IsValidJsonNumber(data, len)) {
            appendBinaryStringInfo(out, data, len);
            return;
        }
        break;  // NaN, Infinity: strings, below
    case Cat::Json:
        appendBinaryStringInfo(out, data, len);
        return;
    case Cat::String:
        if (!format::JsonNeedsEscape(data, (size_t)len)) {
            appendStringInfoChar(out, '"');
            appendBinaryStringInfo(out, data, len);
            appendStringInfoChar(out, '"');
            return;
        }
        break;
    case Cat::Array:
        RenderArray(out, t, data, len);
        return;
    case Cat::Vector:
        RenderVector(out, t, data, len);
        return;
    case Cat::Composite:
        RenderComposite(out, t, data, len);
        return;
    case Cat::DateTime:
        break;
    }
    char *s = pnstrdup(data, len);
    if (t->cat == Cat::DateTime) {
        Datum d = InputFunctionCall(&t->infunc, s, t->ioparam, t->typmod);
        char buf[MAXDATELEN + 1];
        JsonEncodeDateTime(buf, d, t->basetype, nullptr);
        appendStringInfo(out, "\"%s\"", buf);
    } else {
        escape_json(out, s);  // Number (NaN, Infinity), String
    }
    pfree(s);
}

void RenderValue(StringInfo out, AttrInfo *a, const pgo::Column &c) {
    RenderText(out, &a->type, c.data.data(), (int)c.data.size());
}

// The row as a JSON object.  Unchanged TOASTed values: from the old row when
// it is complete (REPLICA IDENTITY FULL), else the placeholder, and the
// column is listed in W->toast_cols.
void RenderRow(StringInfo out, RelInfo *rel, const pgo::Tuple &tup, const pgo::Tuple *full_old) {
    W->toast_cols[0] = '\0';
    appendStringInfoChar(out, '{');
    int n = Min(rel->natts, (int)tup.size());
    for (int i = 0; i < n; i++) {
        AttrInfo *a = &rel->attrs[i];
        if (i > 0) appendStringInfoChar(out, ',');
        appendStringInfoString(out, a->json_name);
        const pgo::Column *c = &tup[i];
        if (c->kind == 'u' && full_old && i < (int)full_old->size() && (*full_old)[i].kind != 'u') c = &(*full_old)[i];
        if (c->kind == 'n') {
            appendStringInfoString(out, "null");
        } else if (c->kind == 'u') {
            escape_json(out, kUnchangedToast);
            if (W->toast_cols[0]) strlcat(W->toast_cols, ",", sizeof W->toast_cols);
            strlcat(W->toast_cols, a->name, sizeof W->toast_cols);
        } else {
            RenderValue(out, a, *c);
        }
    }
    appendStringInfoChar(out, '}');
}

// The key: the key columns as a JSON object; false when the table has none.
bool RenderKey(StringInfo out, RelInfo *rel, const pgo::Tuple &tup) {
    bool any = false;
    int n = Min(rel->natts, (int)tup.size());
    for (int i = 0; i < n; i++) {
        AttrInfo *a = &rel->attrs[i];
        if (!a->key) continue;
        appendStringInfoChar(out, any ? ',' : '{');
        any = true;
        appendStringInfoString(out, a->json_name);
        const pgo::Column &c = tup[i];
        if (c.kind == 't') RenderValue(out, a, c);
        else appendStringInfoString(out, "null");
    }
    if (any) appendStringInfoChar(out, '}');
    return any;
}

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
Oid g_extension_schema = InvalidOid;

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
    default:  // 'Y' types, 'O' origins, 'M' messages: nothing to send
        break;
    }
}

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

// WAL is read up to what is flushed and, for a failover slot (17+), what
// the standbys of synchronized_standby_slots have confirmed: no event leaves
// for Kafka that a promoted standby would not have.
int PageRead(XLogReaderState *state, XLogRecPtr page, int req_len, XLogRecPtr, char *cur_page) {
    XLogRecPtr flush;
    TimeLineID tli;
    long sleep_ms = 1;
    for (;;) {
        flush = GetFlushRecPtr(&tli);
        if (page + req_len <= flush) {
            if (kafka_fdw::pg::StandbysConfirmed(flush)) break;
            if (kafka_fdw::pg::StandbysConfirmed(page + req_len)) {
                flush = page + req_len;
                break;
            }
        }
        if (StopRequested()) return -1;
        // as a walsender reloads it while it waits for WAL (kafka_fdw.timeout,
        // synchronized_standby_slots, ...)
        ReloadConfigIfPending();
        Housekeeping(true);
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        if (!ProcDiePending) CHECK_FOR_INTERRUPTS();
        sleep_ms = Min(sleep_ms * 2, 20);
    }
    XLogReadDetermineTimeline(state, page, req_len, tli);
    int count = page + XLOG_BLCKSZ <= flush ? XLOG_BLCKSZ : (int)(flush - page);
    WALReadError errinfo;
    if (!WALRead(state, cur_page, page, count, tli, &errinfo)) WALReadRaiseError(&errinfo);
    return count;
}

XLogReaderRoutine g_routine = {PageRead, wal_segment_open, wal_segment_close};

void WaitWhilePaused() {
    SetState(WorkerState::Paused, nullptr);
    for (;;) {
        ExitIfReloaded();
        ReloadConfigIfPending();
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    }
}

// ---- the initial snapshot ---------------------------------------------------
//
// The rows that exist when the pipeline starts, as events with op 'r', read
// in a snapshot that matches the slot's start exactly: as the walsender's
// CREATE_REPLICATION_SLOT ... (SNAPSHOT 'use'), in-process.  The slot that
// create_pipeline made is replaced by one made here, and this transaction
// reads the tables as of the new slot's consistent point; streaming then
// starts at that point, so no change is missed or sent twice.  The
// pipeline's snapshot state becomes 'done' only once every event was
// acknowledged: a worker that stops before does it all again (the events of
// the unfinished attempt are then duplicates, never gaps).

struct SnapTable {
    Oid relid;
    char *nsp;
    char *rel;
    char relkind;
    char replident;
    Datum attnames;  // name[] of the column list, or 0: every column
    bool has_attnames;
    char *rowfilter;  // or nullptr
};

// pgoutput's description of a table (the columns it publishes, the key
// columns of its replica identity), made from the catalog.
pgo::Relation *DescribeForSnapshot(const SnapTable &t) {
    pgo::Relation *msg = nullptr;
    KFDW_ENTRY({
        msg = new pgo::Relation();
        msg->relid = t.relid;
        msg->nspname = t.nsp;
        msg->relname = t.rel;
        msg->replident = t.replident;
    });
    ::Relation r = RelationIdGetRelation(t.relid);
    if (!RelationIsValid(r)) elog(ERROR, "could not open relation %u", t.relid);
    Bitmapset *ident = t.replident == 'f' ? nullptr : RelationGetIndexAttrBitmap(r, INDEX_ATTR_BITMAP_IDENTITY_KEY);
    TupleDesc td = RelationGetDescr(r);
    ArrayType *names = t.has_attnames ? DatumGetArrayTypeP(t.attnames) : nullptr;
    Datum *nv = nullptr;
    int nn = 0;
    if (names) deconstruct_array(names, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &nv, nullptr, &nn);
    for (int i = 0; i < td->natts; i++) {
        Form_pg_attribute a = TupleDescAttr(td, i);
        if (a->attisdropped || a->attgenerated) continue;
        bool listed = !names;
        for (int j = 0; j < nn && !listed; j++)
            if (strcmp(NameStr(*DatumGetName(nv[j])), NameStr(a->attname)) == 0) listed = true;
        if (!listed) continue;
        bool key = t.replident == 'f' ||
                   bms_is_member(a->attnum - FirstLowInvalidHeapAttributeNumber, ident);
        const char *name = NameStr(a->attname);
        Oid type = a->atttypid;
        int32 typmod = a->atttypmod;
        KFDW_ENTRY({
            pgo::Attribute at;
            at.key = key;
            at.name = name;
            at.type_oid = type;
            at.typmod = typmod;
            msg->attrs.push_back(std::move(at));
        });
    }
    RelationClose(r);
    return msg;
}

// The rows of a cursor, 1,000 at a time, as events with op 'r'.  A pause or
// drop is honoured before each batch, so that nothing is sent once
// pause_pipeline committed (the worker may have waited meanwhile, for Kafka
// in EnsureTopic or for a lock on the table); the snapshot is done again, or
// never.
void SnapshotRows(Portal portal, RelInfo *rel, pgo::Tuple *tup, MemoryContext batch_cxt) {
    for (;;) {
        ExitIfReloaded();
        SPI_cursor_fetch(portal, true, 1000);
        if (SPI_processed == 0) break;
        MemoryContext old = MemoryContextSwitchTo(batch_cxt);
        for (uint64 r = 0; r < SPI_processed; r++) {
            HeapTuple ht = SPI_tuptable->vals[r];
            for (int i = 0; i < rel->natts; i++) {
                char *v = SPI_getvalue(ht, SPI_tuptable->tupdesc, i + 1);
                (*tup)[i].kind = v ? 't' : 'n';
                (*tup)[i].data = v ? std::string_view(v, strlen(v)) : std::string_view();
            }
            StringInfoData key, value;
            initStringInfo(&key);
            initStringInfo(&value);
            bool has_key;
            if (rel->dbz) {
                has_key = dbz::RenderKey(&key, rel->dbz, *tup);
                dbz::RenderEnvelope(&value, rel->dbz, 'r', nullptr, false, tup, nullptr, CurrentSource(true));
            } else {
                has_key = RenderKey(&key, rel, *tup);
                RenderRow(&value, rel, *tup, nullptr);
            }
            Send(rel, has_key ? &key : nullptr, &value, 'r', nullptr);
        }
        MemoryContextSwitchTo(old);
        MemoryContextReset(batch_cxt);
        SPI_freetuptable(SPI_tuptable);
        PublishProgress();
    }
}

// The table's RelInfo, as if pgoutput had described it.
RelInfo *DescribeSnapshotTable(const SnapTable &t) {
    pgo::Relation *msg = DescribeForSnapshot(t);
    PG_TRY();
    { OnRelation(*msg); }
    PG_FINALLY();
    { delete msg; }
    PG_END_TRY();
    // A snapshotted table's topic exists even when the table is empty (and
    // is made before its rows are read: a pause while Kafka is waited for
    // sends nothing).
    RelInfo *rel = LookupRel(t.relid);
    if (!rel->excluded) {
        EnsureTopic(rel->topic);
        rel->topic_ready = true;
    }
    return rel;
}

void ScanSnapshotTable(Portal portal, RelInfo *rel, MemoryContext batch_cxt) {
    pgo::Tuple *tup = nullptr;
    KFDW_ENTRY(tup = new pgo::Tuple(rel->natts););
    PG_TRY();
    { SnapshotRows(portal, rel, tup, batch_cxt); }
    PG_FINALLY();
    { delete tup; }
    PG_END_TRY();
}

void SnapshotTable(const SnapTable &t, MemoryContext batch_cxt) {
    if (InExtensionSchema(t.relid)) return;  // the extension's own tables: never sent
    RelInfo *rel = DescribeSnapshotTable(t);

    StringInfoData q;
    initStringInfo(&q);
    appendStringInfoString(&q, "SELECT ");
    for (int i = 0; i < rel->natts; i++)
        appendStringInfo(&q, "%s%s", i ? ", " : "", quote_identifier(rel->attrs[i].name));
    if (rel->natts == 0) appendStringInfoString(&q, "1");
    appendStringInfo(&q, " FROM %s%s", t.relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
                     quote_qualified_identifier(t.nsp, t.rel));
    if (t.rowfilter) appendStringInfo(&q, " WHERE (%s)", t.rowfilter);

    Portal portal = SPI_cursor_open_with_args(nullptr, q.data, 0, nullptr, nullptr, nullptr, true, 0);
    ScanSnapshotTable(portal, rel, batch_cxt);
    SPI_cursor_close(portal);
}

void TakeSnapshot() {
    // A new slot, and a snapshot at its consistent point.
    if (SearchNamedReplicationSlot(W->slot_name, true)) ReplicationSlotDrop(W->slot_name, true);
    CheckLogicalDecodingRequirements();
    StartTransactionCommand();
    XactIsoLevel = XACT_REPEATABLE_READ;
    XactReadOnly = true;
    kafka_fdw::pg::CreateReplicationSlot(W->slot_name, true, RS_EPHEMERAL, false, W->failover);
    XLogReaderRoutine routine = {read_local_xlog_page, wal_segment_open, wal_segment_close};
    LogicalDecodingContext *ctx =
        CreateInitDecodingContext("pgoutput", NIL, true, InvalidXLogRecPtr, &routine, nullptr, nullptr, nullptr);
    DecodingContextFindStartpoint(ctx);
    XLogRecPtr start = MyReplicationSlot->data.confirmed_flush;
    InvalidateCatalogSnapshot();
    Snapshot snap = SnapBuildInitialSnapshot(ctx->snapshot_builder);
    RestoreTransactionSnapshot(snap, MyProc);
    FreeDecodingContext(ctx);
    ReplicationSlotPersist();
    ReplicationSlotRelease();
    W->confirmed = start;

    // The tables and columns the publication publishes, and its row filters.
    // The extension's own SQL, run as the owner: search_path pinned (the
    // owner's settings apply to this connection), operators qualified; the
    // row filters are deparsed and parsed again under the same path.
    PushActiveSnapshot(GetTransactionSnapshot());
    int nest = pg::PinSearchPath();
    SPI_connect();
    Oid argtypes[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(W->publication)};
    int rc = SPI_execute_with_args(
        "SELECT c.oid, p.schemaname::pg_catalog.text, p.tablename::pg_catalog.text, c.relkind::pg_catalog.text, "
        "c.relreplident::pg_catalog.text, p.attnames, p.rowfilter FROM pg_catalog.pg_publication_tables p "
        "JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) p.schemaname "
        "JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid "
        "AND c.relname OPERATOR(pg_catalog.=) p.tablename "
        "WHERE p.pubname OPERATOR(pg_catalog.=) $1 ORDER BY 2, 3",
        1, argtypes, args, nullptr, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "could not list the tables of publication \"%s\"", W->publication);
    MemoryContext snap_cxt = AllocSetContextCreate(W->cxt, "kafka_fdw snapshot", ALLOCSET_DEFAULT_SIZES);
    int ntables = (int)SPI_processed;
    SnapTable *tables = static_cast<SnapTable *>(MemoryContextAllocZero(snap_cxt, sizeof(SnapTable) * Max(1, ntables)));
    for (int i = 0; i < ntables; i++) {
        HeapTuple ht = SPI_tuptable->vals[i];
        TupleDesc td = SPI_tuptable->tupdesc;
        SnapTable &t = tables[i];
        bool isnull;
        MemoryContext old = MemoryContextSwitchTo(snap_cxt);
        t.relid = DatumGetObjectId(SPI_getbinval(ht, td, 1, &isnull));
        t.nsp = SPI_getvalue(ht, td, 2);
        t.rel = SPI_getvalue(ht, td, 3);
        t.relkind = SPI_getvalue(ht, td, 4)[0];
        t.replident = SPI_getvalue(ht, td, 5)[0];
        Datum names = SPI_getbinval(ht, td, 6, &isnull);
        t.has_attnames = !isnull;
        if (!isnull) t.attnames = PointerGetDatum(PG_DETOAST_DATUM_COPY(names));
        t.rowfilter = SPI_getvalue(ht, td, 7);
        MemoryContextSwitchTo(old);
    }
    SPI_freetuptable(SPI_tuptable);

    // One "transaction" of events for the ack ledger, at the slot's start.
    W->txn_final_lsn = start;
    W->txn_xid = 0;
    W->txn_commit_unix_us = GetCurrentTimestamp() + pg::kEpochShiftUs;
    KFDW_ENTRY({
        pgo::Begin b;
        b.final_lsn = start;
        b.xid = 0;
        b.commit_time = GetCurrentTimestamp();
        W->sender->Begin(b);
    });
    MemoryContext batch_cxt = AllocSetContextCreate(snap_cxt, "kafka_fdw snapshot batch", ALLOCSET_DEFAULT_SIZES);
    for (int i = 0; i < ntables; i++) SnapshotTable(tables[i], batch_cxt);
    KFDW_ENTRY(W->sender->Commit(););
    SPI_finish();
    pg::UnpinSearchPath(nest);
    PopActiveSnapshot();
    CommitTransactionCommand();

    // Every event acknowledged, then the snapshot is done.
    for (;;) {
        bool drained = false;
        KFDW_ENTRY(drained = W->sender->Drain(1000););
        if (drained) break;
        char msg[512];
        DescribeKafkaWait(msg, sizeof msg, "waiting for Kafka to acknowledge the initial snapshot");
        StalledOnKafka(msg);
    }
    SetState(WorkerState::Running, nullptr);
    PublishProgress();
    // The pipeline's row belongs to the extension: written as its owner.
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    SPI_connect();
    pg::RoleScope scope;
    pg::EnterRole(&scope, pg::ExtensionOwner(), true);
    Oid types[1] = {NAMEOID};
    Datum values[1] = {CStringGetDatum(W->slot_name)};
    char *sql = psprintf("UPDATE %s.pipelines SET snapshot = 'done' WHERE slot_name OPERATOR(pg_catalog.=) $1",
                         pg::ExtensionSchemaSql());
    if (SPI_execute_with_args(sql, 1, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
        elog(ERROR, "could not record the end of the initial snapshot");
    pg::LeaveRole(&scope);
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    MemoryContextDelete(snap_cxt);
    W->snapshot_pending = false;
}

// Ends a worker that has no pipeline row to run.
void ExitWithoutDefinition() {
    W->no_definition = true;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    W->entry->state = WorkerState::Stopped;
    LWLockRelease(Shared()->lock);
    proc_exit(0);
}

void Run() {
    // No pipeline row (yet): a create_pipeline still in progress, or a slot
    // of another database's kafka_fdw without the extension.
    if (!LoadDefinition()) ExitWithoutDefinition();
    if (W->owner != W->connected_owner) {
        // The row names another owner than the one this process connected
        // as (the pipeline was dropped and made again by another role):
        // nothing runs as the wrong role; look the owner up and start again.
        LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
        if (W->entry->owner == W->connected_owner) W->entry->owner = InvalidOid;
        LWLockRelease(Shared()->lock);
        proc_exit(0);
    }
    if (W->paused) WaitWhilePaused();
    CheckPrivileges();
    CreateSender();
    if (W->snapshot_pending) {
        SetState(WorkerState::Running, nullptr);
        TakeSnapshot();
    }

    // A drop_pipeline right after create_pipeline may have dropped the slot
    // and the row since they were read: end quietly, not with an ERROR.
    if (!SearchNamedReplicationSlot(W->slot_name, true) && !LoadDefinition()) ExitWithoutDefinition();
    kafka_fdw::pg::AcquireReplicationSlot(W->slot_name, true);
    if (XLogRecPtrIsInvalid(MyReplicationSlot->data.restart_lsn))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("replication slot \"%s\" of pipeline \"%s\" was invalidated", W->slot_name, W->name),
                        errdetail("The WAL it needed was removed (max_slot_wal_keep_size)."),
                        errhint("Drop the pipeline and create it again.")));
    W->confirmed = MyReplicationSlot->data.confirmed_flush;

    MemoryContext old = MemoryContextSwitchTo(W->cxt);
    List *options = list_make2(makeDefElem(pstrdup("proto_version"), (Node *)makeString(pstrdup("1")), -1),
                               makeDefElem(pstrdup("publication_names"),
                                           (Node *)makeString(pstrdup(quote_identifier(W->publication))), -1));
    W->ctx = CreateDecodingContext(InvalidXLogRecPtr, options, false, &g_routine, PrepareWrite, Write, UpdateProgress);
    W->ctx->output_writer_private = W;
    MemoryContextSwitchTo(old);
    XLogBeginRead(W->ctx->reader, MyReplicationSlot->data.restart_lsn);
    InvalidateSystemCaches();
    SetState(WorkerState::Running, nullptr);

    for (;;) {
        if (StopRequested()) StopCleanly();
        char *errm = nullptr;
        XLogRecord *record = XLogReadRecord(W->ctx->reader, &errm);
        if (errm) elog(ERROR, "could not read WAL at %X/%X: %s", (uint32)(W->ctx->reader->EndRecPtr >> 32),
                             (uint32)W->ctx->reader->EndRecPtr, errm);
        if (record) {
            LogicalDecodingProcessRecord(W->ctx, W->ctx->reader);
            W->records++;
        }
        // Cheap enough per record, but the clock need not be read for each.
        if (!record || (W->records & 63) == 0) Housekeeping(false);
        if (!ProcDiePending) CHECK_FOR_INTERRUPTS();
    }
}

}  // namespace
}  // namespace kafka_fdw::cdc

using namespace kafka_fdw::cdc;

void kafka_fdw_cdc_worker_main(Datum arg) {
    int idx = DatumGetInt32(arg);
    // This process is ours: no fastbins.  librdkafka allocates a message and
    // seven small blocks for its five headers per event and frees them in
    // delivery-report batches; with fastbins, each freed message that merges
    // into a large free block makes glibc consolidate every fastbin (seen as
    // malloc_consolidate/unlink_chunk in profiles).  Measured with the core's
    // Producer, 1M messages with these headers, 4 interleaved pairs: 1046-1413
    // ms of CPU on the producing thread with fastbins, 685-816 ms without.
    mallopt(M_MXFAST, 0);
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw pipeline", ALLOCSET_DEFAULT_SIZES);
    W = static_cast<Worker *>(MemoryContextAllocZero(cxt, sizeof(Worker)));
    W->idx = idx;
    W->cxt = cxt;
    W->scratch = AllocSetContextCreate(cxt, "kafka_fdw pipeline scratch", ALLOCSET_DEFAULT_SIZES);
    W->entry = &Shared()->entries[idx];
    HASHCTL hctl;
    memset(&hctl, 0, sizeof hctl);
    hctl.keysize = sizeof(uint32);
    hctl.entrysize = sizeof(RelInfo);
    hctl.hcxt = cxt;
    W->rels = hash_create("kafka_fdw pipeline relations", 64, &hctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

    Oid dboid, owner;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    dboid = W->entry->dboid;
    owner = W->entry->owner;
    strlcpy(W->slot_name, W->entry->slot_name, NAMEDATALEN);
    W->entry->pid = MyProcPid;
    W->entry->reload = false;
    W->created_gen = W->entry->created_gen;  // before LoadDefinition looks for the row
    LWLockRelease(Shared()->lock);
    before_shmem_exit(WorkerExit, 0);

    if (OidIsValid(owner)) {
        // As the owner.  The database's and the role's settings apply (as
        // for any session of the owner's); "role" is reset so that the
        // worker acts as the owner itself, and the extension's own SQL pins
        // its search_path.
        W->connected_owner = owner;
        W->connecting = true;
        BackgroundWorkerInitializeConnectionByOid(dboid, owner, 0);
        W->connecting = false;
        SetConfigOption("role", "none", PGC_SUSET, PGC_S_OVERRIDE);
    } else {
        // A lookup start (see LookupOwner): no user code runs in it.
        BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
    }

    // Any ERROR: record it for pipeline_status, then exit(1) (restart with
    // a backoff).  The context is never reused after an error.
    PG_TRY();
    {
        if (OidIsValid(owner)) Run();
        else LookupOwner();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(W->cxt);
        ErrorData *edata = CopyErrorData();
        SetState(WorkerState::Retrying, kafka_fdw::pg::ErrorSummary(edata));
        PG_RE_THROW();
    }
    PG_END_TRY();
    proc_exit(0);
}
