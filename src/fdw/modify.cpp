// INSERT and COPY FROM into a topic: one message per row, encoded by the
// table's format; the statement succeeds only when the broker acknowledged
// every message (EndForeignModify awaits the statement's ledger).  Batched
// inserts, RETURNING of the assigned partition and offset, and transactional
// producers (see xact.hpp).
#include "format/csv.hpp"
#include "format/json.hpp"
#include "kafka/producer.hpp"

#include "fdw/connection.hpp"
#include "fdw/handler.hpp"
#include "fdw/modify.hpp"
#include "fdw/options.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"

extern "C" {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "commands/explain.h"
#include "common/jsonapi.h"
#include "executor/executor.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/typcache.h"
#pragma GCC diagnostic pop
}

#include <memory>
#include <string>
#include <vector>

namespace kafka_fdw::fdw {

namespace {

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

int JsonKindOf(Oid type) {
    switch (getBaseType(type)) {
    case INT2OID:
    case INT4OID:
    case INT8OID:
        return kJsonInt;
    case FLOAT4OID:
    case FLOAT8OID:
    case NUMERICOID:
        return kJsonNumber;
    case BOOLOID:
        return kJsonBool;
    case JSONOID:
    case JSONBOID:
        return kJsonRaw;
    case TEXTOID:
    case VARCHAROID:
        return kJsonText;
    case BPCHAROID:
    case NAMEOID:
    case UUIDOID:
    case CHAROID:
        return kJsonString;
    default:
        return kJsonOther;
    }
}

}  // namespace

// ----------------------------------------------------------------------------

static List *kafkaPlanForeignModify(PlannerInfo *, ModifyTable *plan, Index, int subplan_index) {
    bool returning = plan->returningLists != NIL && list_nth(plan->returningLists, subplan_index) != NULL;
    return list_make1(makeBoolean(returning));
}

namespace {

// Encodes bytes of a Datum for key/value/raw columns: bytea as is, anything
// else as its text output.
void DatumBytes(ModifyState *ms, int col, Datum d, const char **data, size_t *len) {
    ColumnDef *c = &ms->table->columns[col];
    if (c->type == BYTEAOID) {
        bytea *b = DatumGetByteaPP(d);
        *data = VARDATA_ANY(b);
        *len = VARSIZE_ANY_EXHDR(b);
        return;
    }
    if (c->type == TEXTOID) {
        text *t = DatumGetTextPP(d);
        *data = VARDATA_ANY(t);
        *len = VARSIZE_ANY_EXHDR(t);
    } else {
        char *s = OutputFunctionCall(&ms->out_funcs[col], d);
        *data = s;
        *len = strlen(s);
    }
    pg::ServerToUtf8(data, len);
}

// A CSV field: the value's text, as COPY writes it (bytea too).
void DatumText(ModifyState *ms, int col, Datum d, const char **data, size_t *len) {
    if (ms->table->columns[col].type != BYTEAOID) return DatumBytes(ms, col, d, data, len);
    char *s = OutputFunctionCall(&ms->out_funcs[col], d);
    *data = s;
    *len = strlen(s);
}

// A role column's value as an integer: int2/4/8 as they are, any other type
// through its text (never by reinterpreting the Datum).
int64 DatumAsInt(ModifyState *ms, int col, Datum d) {
    ColumnDef *c = &ms->table->columns[col];
    if (c->type == INT8OID) return DatumGetInt64(d);
    if (c->type == INT4OID) return DatumGetInt32(d);
    if (c->type == INT2OID) return DatumGetInt16(d);
    char *str = OutputFunctionCall(&ms->out_funcs[col], d);
    char *end = nullptr;
    errno = 0;
    long long v = strtoll(str, &end, 10);
    while (end && *end == ' ') end++;
    if (errno != 0 || end == str || *end != '\0')
        ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                        errmsg("column \"%s\": \"%s\" is not a partition number", c->name, str)));
    return (int64)v;
}

// Milliseconds since 1970 that Kafka can store: > 0 (librdkafka takes 0 as
// "now"; Kafka has no negative timestamps).
int64 CheckKafkaMs(const ColumnDef *c, int64 ms) {
    if (ms <= 0)
        ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
                        errmsg("column \"%s\": Kafka cannot store a message timestamp at or before 1970-01-01 "
                               "00:00:00 UTC",
                               c->name),
                        errdetail("Message timestamps are milliseconds after 1970-01-01 00:00:00 UTC (" INT64_FORMAT
                                  " given); 0 means \"now\" to the client.",
                                  ms),
                        errhint("Leave the column NULL for the time of production.")));
    return ms;
}

// The message timestamp of a `timestamp` role column.  timestamptz is an
// instant; timestamp (without time zone) and date are read as UTC, as SELECT
// shows them; int4/int8 are milliseconds; other types through timestamptz's
// input (a text without a zone is in the session's time zone).
int64 TimestampMs(ModifyState *ms, int col, Datum d) {
    ColumnDef *c = &ms->table->columns[col];
    if (c->type == INT8OID) return CheckKafkaMs(c, DatumGetInt64(d));
    if (c->type == INT4OID) return CheckKafkaMs(c, DatumGetInt32(d));
    TimestampTz ts;
    if (c->type == TIMESTAMPTZOID || c->type == TIMESTAMPOID) {
        ts = DatumGetTimestampTz(d);  // the same int64 microseconds, as UTC for timestamp
    } else if (c->type == DATEOID) {
        ts = DatumGetTimestamp(DirectFunctionCall1(date_timestamp, d));
    } else {
        char *str = OutputFunctionCall(&ms->out_funcs[col], d);
        ts = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(str),
                                                     ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
    }
    if (TIMESTAMP_NOT_FINITE(ts))
        ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
                        errmsg("column \"%s\": Kafka cannot store an infinite message timestamp", c->name)));
    return CheckKafkaMs(c, pg::TimestamptzToKafkaMs(ts));
}

// The headers column as jsonb: jsonb as it is, json and other types through
// their text.
Jsonb *DatumAsJsonb(ModifyState *ms, int col, Datum d) {
    ColumnDef *c = &ms->table->columns[col];
    if (c->type == JSONBOID) return DatumGetJsonbP(d);
    char *str = OutputFunctionCall(&ms->out_funcs[col], d);
    return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(str)));
}

}  // namespace

namespace {

}  // namespace

kafka::OutMessage ToOutMessage(const MessageData &m, std::vector<kafka::Header> &headers) {
    headers.clear();
    for (int k = 0; k < m.nheaders; k++) {
        kafka::Header h;
        h.name = m.hnames[k];
        if (m.hvalues[k]) h.value.assign(m.hvalues[k], m.hlens[k]);
        else h.null = true;
        headers.push_back(std::move(h));
    }
    kafka::OutMessage out;
    out.partition = m.partition;
    out.key = m.key;
    out.key_len = m.key_len;
    out.value = m.value;
    out.value_len = m.value_len;
    out.timestamp_ms = m.ts;
    out.headers = &headers;
    return out;
}

void ParseHeaders(Jsonb *jb, const char *what, int *n_out, const char ***names, const char ***values,
                  size_t **lens) {
    if (!JB_ROOT_IS_OBJECT(jb))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s: headers must be a JSON object", what)));
    int n = JB_ROOT_COUNT(jb);
    *names = (const char **)palloc0(sizeof(char *) * (n + 1));
    *values = (const char **)palloc0(sizeof(char *) * (n + 1));
    *lens = (size_t *)palloc0(sizeof(size_t) * (n + 1));
    *n_out = 0;
    pg::ForEachJsonbMember(jb, [&](char *key, JsonbValue *v) {
        int k = (*n_out)++;
        (*names)[k] = pg::ServerToUtf8(key);
        if (v->type == jbvNull) {
            (*values)[k] = nullptr;
        } else if (v->type == jbvString) {
            (*values)[k] = v->val.string.val;
            (*lens)[k] = v->val.string.len;
        } else {
            char *s = pg::JsonbScalarText(v);
            (*values)[k] = s;
            (*lens)[k] = strlen(s);
        }
        if ((*values)[k]) pg::ServerToUtf8(&(*values)[k], &(*lens)[k]);
    });
}

namespace {


// Postgres zone: the message of one row.
void EncodeRow(ModifyState *ms, TupleTableSlot *slot, MessageData *m) {
    TableDef *t = ms->table;
    slot_getallattrs(slot);
    memset(m, 0, sizeof(*m));
    m->partition = RD_KAFKA_PARTITION_UA;
    bool have_value_col = false;
    bool value_null = false;
    for (int i = 0; i < t->ncolumns; i++) {
        ColumnDef *c = &t->columns[i];
        int idx = c->attnum - 1;
        bool isnull = slot->tts_isnull[idx];
        Datum d = slot->tts_values[idx];
        switch (c->role) {
        case ColumnRole::Partition:
            if (!isnull) {
                int64 p = DatumAsInt(ms, i, d);
                if (p < 0 || p > INT32_MAX)
                    ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                                    errmsg("partition " INT64_FORMAT " is out of range", p)));
                m->partition = (int32)p;
            }
            break;
        case ColumnRole::Key:
            if (!isnull) DatumBytes(ms, i, d, &m->key, &m->key_len);
            break;
        case ColumnRole::Timestamp:
            if (!isnull) m->ts = TimestampMs(ms, i, d);
            break;
        case ColumnRole::Value:
            have_value_col = true;
            value_null = isnull;
            if (!isnull) DatumBytes(ms, i, d, &m->value, &m->value_len);
            break;
        case ColumnRole::Headers:
            if (!isnull)
                ParseHeaders(DatumAsJsonb(ms, i, d), c->name, &m->nheaders, &m->hnames, &m->hvalues, &m->hlens);
            break;
        default:
            break;
        }
    }
    if (have_value_col) {
        if (value_null) m->value = nullptr;
        return;
    }
    // The payload columns, by format.
    if (ms->npayload == 0) {
        m->value = nullptr;
        return;
    }
    bool all_null = true;
    for (int k = 0; k < ms->npayload; k++)
        if (!slot->tts_isnull[t->columns[ms->payload_cols[k]].attnum - 1]) all_null = false;
    if (t->format == Format::Text || t->format == Format::Bytea) {
        int col = ms->payload_cols[0];
        int idx = t->columns[col].attnum - 1;
        if (slot->tts_isnull[idx]) m->value = nullptr;
        else DatumBytes(ms, col, slot->tts_values[idx], &m->value, &m->value_len);
        return;
    }
    if (all_null && t->tombstone_on_null) {
        m->value = nullptr;
        return;
    }
    if (t->format == Format::Json) {
        // What row_to_json gives, without its per-row tuple and catalog work.
        StringInfo b = &ms->json_buf;
        resetStringInfo(b);
        appendStringInfoChar(b, '{');
        for (int k = 0; k < ms->npayload; k++) {
            ColumnDef *c = &t->columns[ms->payload_cols[k]];
            int idx = c->attnum - 1;
            if (k) appendStringInfoChar(b, ',');
            appendStringInfoString(b, ms->json_keys[k]);
            if (slot->tts_isnull[idx]) {
                appendStringInfoString(b, "null");
                continue;
            }
            Datum d = slot->tts_values[idx];
            switch (ms->json_kinds[k]) {
            case kJsonInt: {
                // int2/int4/int8 (or a domain over one) as int*out writes them
                char num[MAXINT8LEN + 1];
                Oid base = ms->json_types[k];
                int64 v = base == INT2OID ? DatumGetInt16(d) : base == INT4OID ? DatumGetInt32(d) : DatumGetInt64(d);
                appendBinaryStringInfo(b, num, pg_lltoa(v, num));
                break;
            }
            case kJsonText: {
                // text/varchar: its bytes are its output; most need no escape
                text *txt = DatumGetTextPP(d);
                const char *p = VARDATA_ANY(txt);
                int len = (int)VARSIZE_ANY_EXHDR(txt);
                if (format::JsonNeedsEscape(p, (size_t)len)) {
                    escape_json(b, text_to_cstring(txt));
                } else {
                    appendStringInfoChar(b, '"');
                    appendBinaryStringInfo(b, p, len);
                    appendStringInfoChar(b, '"');
                }
                break;
            }
            case kJsonBool:
                appendStringInfoString(b, DatumGetBool(d) ? "true" : "false");
                break;
            case kJsonNumber: {
                char *num = OutputFunctionCall(&ms->out_funcs[ms->payload_cols[k]], d);
                if (IsValidJsonNumber(num, (int)strlen(num))) appendStringInfoString(b, num);
                else escape_json(b, num);  // NaN, Infinity: strings, as row_to_json
                break;
            }
            case kJsonRaw:
                appendStringInfoString(b, OutputFunctionCall(&ms->out_funcs[ms->payload_cols[k]], d));
                break;
            case kJsonString:
                escape_json(b, OutputFunctionCall(&ms->out_funcs[ms->payload_cols[k]], d));
                break;
            default: {
                text *j = DatumGetTextPP(FunctionCall1(&ms->to_json[k], d));
                appendBinaryStringInfo(b, VARDATA_ANY(j), (int)VARSIZE_ANY_EXHDR(j));
                break;
            }
            }
        }
        appendStringInfoChar(b, '}');
        m->value = b->data;
        m->value_len = (size_t)b->len;
        pg::ServerToUtf8(&m->value, &m->value_len);
        return;
    }
    // CSV: COPY-style quoting, the NULL string for NULLs.
    const char **fields = (const char **)palloc0(sizeof(char *) * ms->npayload);
    size_t *lens = (size_t *)palloc0(sizeof(size_t) * ms->npayload);
    for (int k = 0; k < ms->npayload; k++) {
        int col = ms->payload_cols[k];
        int idx = t->columns[col].attnum - 1;
        if (!slot->tts_isnull[idx]) DatumText(ms, col, slot->tts_values[idx], &fields[k], &lens[k]);
    }
    const char *out = nullptr;
    size_t out_len = 0;
    KFDW_ENTRY({
        format::CsvOptions o;
        o.delimiter = t->csv_delimiter;
        o.quote = t->csv_quote;
        o.escape = t->csv_escape;
        o.null_string = t->csv_null;
        std::string &b = *ms->buf;
        b.clear();
        for (int k = 0; k < ms->npayload; k++) {
            if (k) b.push_back(o.delimiter);
            if (fields[k]) format::AppendCsvField(b, fields[k], lens[k], o);
            else b += o.null_string;
        }
        out = pg::PStrDup(b.data(), b.size());
        out_len = b.size();
    });
    m->value = out;
    m->value_len = out_len;
}

// C++ zone: hands the buffered rows to librdkafka, in order.
void FlushPendingCpp(ModifyState *ms) {
    RowBuffer &b = *ms->pending;
    if (b.entries.empty()) return;
    if (ms->transactional) JoinKafkaTransaction(*ms->producer, GetCurrentSubTransactionId());
    b.msgs.resize(b.entries.size());
    for (size_t i = 0; i < b.entries.size(); i++) {
        const RowBuffer::Entry &e = b.entries[i];
        kafka::BatchMessage &m = b.msgs[i];
        m.key = e.has_key ? b.arena.data() + e.key_off : nullptr;
        m.key_len = e.key_len;
        m.value = e.has_value ? b.arena.data() + e.value_off : nullptr;
        m.value_len = e.value_len;
    }
    ms->producer->ProduceBatch(ms->guard->ledger, ms->table->topic,
                               ms->table->partitioner_set ? ms->table->partitioner : nullptr, b.msgs.data(),
                               b.msgs.size());
    b.entries.clear();
    b.arena.clear();
}

// C++ zone: buffers a row that ProduceBatch can take (partitioned by key, no
// headers or timestamp); false if it must go through ProduceRowCpp.
bool BufferRowCpp(ModifyState *ms, const MessageData *m) {
    if (ms->returning || m->partition != RD_KAFKA_PARTITION_UA || m->nheaders > 0 || m->ts != 0) return false;
    RowBuffer &b = *ms->pending;
    RowBuffer::Entry e{};
    e.has_key = m->key != nullptr;
    e.key_off = b.arena.size();
    e.key_len = m->key_len;
    if (e.has_key) b.arena.append(m->key, m->key_len);
    e.has_value = m->value != nullptr;
    e.value_off = b.arena.size();
    e.value_len = m->value_len;
    if (e.has_value) b.arena.append(m->value, m->value_len);
    b.entries.push_back(e);
    if (b.Full()) FlushPendingCpp(ms);
    return true;
}

// C++ zone: enqueue one row's message.
void ProduceRowCpp(ModifyState *ms, const MessageData *m) {
    FlushPendingCpp(ms);  // keep the rows in order
    if (ms->transactional) JoinKafkaTransaction(*ms->producer, GetCurrentSubTransactionId());
    kafka::OutMessage out = ToOutMessage(*m, *ms->headers);
    out.partitioner = ms->table->partitioner_set ? ms->table->partitioner : nullptr;
    ms->producer->Produce(ms->guard->ledger, ms->table->topic, out);
}

ModifyState *BeginModify(EState *estate, ResultRelInfo *rinfo, bool returning) {
    Relation rel = rinfo->ri_RelationDesc;
    ModifyState *ms = (ModifyState *)palloc0(sizeof(ModifyState));
    ms->table = GetTableDef(RelationGetRelid(rel));
    TableDef *t = ms->table;
    if (t->readonly)
        ereport(ERROR, (errcode(ERRCODE_FDW_ERROR),
                        errmsg("foreign table \"%s\" is read-only", RelationGetRelationName(rel)),
                        errhint("Remove the table option readonly to produce to topic \"%s\".", t->topic)));
    // The user the statement runs as (a view's owner for views).
    Oid userid = kafka_fdw::pg::ResultRelUserId(rinfo, estate);
    ms->spec = GetClientSpec(t->serverid, userid, false);
    ms->transactional = t->transactional || ms->spec->transactional;
    ms->returning = returning;
    ms->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "kafka_fdw row", ALLOCSET_DEFAULT_SIZES);
    ms->out_funcs = (FmgrInfo *)palloc0(sizeof(FmgrInfo) * (t->ncolumns + 1));
    ms->payload_cols = (int *)palloc0(sizeof(int) * (t->ncolumns + 1));
    for (int i = 0; i < t->ncolumns; i++) {
        Oid outfunc;
        bool varlena;
        getTypeOutputInfo(t->columns[i].type, &outfunc, &varlena);
        fmgr_info(outfunc, &ms->out_funcs[i]);
        if (t->columns[i].role == ColumnRole::Payload) ms->payload_cols[ms->npayload++] = i;
    }
    if ((t->format == Format::Text || t->format == Format::Bytea) && ms->npayload > 1)
        ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_COLUMN_NUMBER),
                        errmsg("format '%s' takes one payload column, foreign table \"%s\" has %d",
                               FormatName(t->format), RelationGetRelationName(rel), ms->npayload)));
    if (t->format == Format::Json && ms->npayload > 0) {
        ms->json_kinds = (int *)palloc0(sizeof(int) * ms->npayload);
        ms->json_types = (Oid *)palloc0(sizeof(Oid) * ms->npayload);
        ms->to_json = (FmgrInfo *)palloc0(sizeof(FmgrInfo) * ms->npayload);
        ms->json_keys = (char **)palloc0(sizeof(char *) * ms->npayload);
        for (int k = 0; k < ms->npayload; k++) {
            ColumnDef *c = &t->columns[ms->payload_cols[k]];
            StringInfoData key;
            initStringInfo(&key);
            escape_json(&key, c->json_name);
            appendStringInfoChar(&key, ':');
            ms->json_keys[k] = key.data;
            ms->json_kinds[k] = JsonKindOf(c->type);
            ms->json_types[k] = getBaseType(c->type);
            if (ms->json_kinds[k] != kJsonOther) continue;
            // to_json(anyelement) learns its argument's type from fn_expr.
            fmgr_info(F_TO_JSON, &ms->to_json[k]);
            ms->to_json[k].fn_expr = (Node *)makeFuncExpr(
                F_TO_JSON, JSONOID, list_make1(makeNullConst(c->type, c->typmod, InvalidOid)), InvalidOid,
                InvalidOid, COERCE_EXPLICIT_CALL);
        }
        initStringInfo(&ms->json_buf);
    }
    MemoryContext cxt = CurrentMemoryContext;
    KFDW_ENTRY({
        ms->producer = &CachedProducer(ms->spec, ms->transactional);
        auto guard = std::make_unique<LedgerGuard>();
        guard->producer = ms->producer;
        guard->ledger = ms->producer->OpenLedger(returning);
        ms->guard = pg::OwnBy(cxt, guard.release());
        ms->headers = pg::OwnBy(cxt, new std::vector<kafka::Header>());
        ms->buf = pg::OwnBy(cxt, new std::string());
        ms->pending = pg::OwnBy(cxt, new RowBuffer());
    });
    return ms;
}

// Waits for every message of the statement; ERROR if any was not delivered.
void FinishModify(ModifyState *ms) {
    if (!ms || !ms->guard) return;
    KFDW_ENTRY({
        FlushPendingCpp(ms);
        ms->producer->Await(ms->guard->ledger, ms->producer->timeout_ms() + 1000);
        ms->producer->CheckLedger(ms->guard->ledger);
    });
    pg::ReportClientEvents(*ms->producer);
}

// A partition or offset for a RETURNING (or trigger) slot, as the column's
// type: int2/4/8 as they are, any other type through its input function.
Datum IntAsType(const ColumnDef *c, int64 v) {
    if (c->type == INT8OID) return Int64GetDatum(v);
    if (c->type == INT4OID) {
        if (v > PG_INT32_MAX)
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                            errmsg("column \"%s\": offset " INT64_FORMAT " is out of range for type integer", c->name, v),
                            errhint("Use a bigint column for offsets.")));
        return Int32GetDatum((int32)v);
    }
    if (c->type == INT2OID) {
        if (v > PG_INT16_MAX)
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                            errmsg("column \"%s\": " INT64_FORMAT " is out of range for type smallint", c->name, v)));
        return Int16GetDatum((int16)v);
    }
    Oid input, ioparam;
    getTypeInputInfo(c->type, &input, &ioparam);
    return OidInputFunctionCall(input, psprintf(INT64_FORMAT, v), ioparam, c->typmod);
}

TupleTableSlot *InsertRow(ModifyState *ms, TupleTableSlot *slot) {
    MemoryContext old = MemoryContextSwitchTo(ms->row_cxt);
    MemoryContextReset(ms->row_cxt);
    MessageData m;
    EncodeRow(ms, slot, &m);
    uint64 seq = 0;
    KFDW_ENTRY({
        if (!BufferRowCpp(ms, &m)) {
            ProduceRowCpp(ms, &m);
            seq = ms->producer->GetLedger(ms->guard->ledger).sent - 1;
        }
    });
    MemoryContextSwitchTo(old);
    ms->rows++;
    if (!ms->returning) return slot;

    // RETURNING: wait for this message's delivery report.
    int32 part = -1;
    int64 off = -1;
    KFDW_ENTRY({
        ms->producer->Await(ms->guard->ledger, ms->producer->timeout_ms() + 1000);
        ms->producer->CheckLedger(ms->guard->ledger);
        const kafka::DeliveryResult &r = ms->producer->GetLedger(ms->guard->ledger).results.at(seq);
        part = r.partition;
        off = r.offset;
    });
    // A new tuple in the slot, not only its values: a slot that holds a
    // materialized tuple (a direct INSERT's heap-tuple slot) would give AFTER
    // ROW triggers, which read the tuple, the row without them.
    TableDef *t = ms->table;
    TupleDesc desc = slot->tts_tupleDescriptor;
    slot_getallattrs(slot);
    Datum *values = (Datum *)palloc(sizeof(Datum) * (desc->natts + 1));
    bool *nulls = (bool *)palloc(sizeof(bool) * (desc->natts + 1));
    memcpy(values, slot->tts_values, sizeof(Datum) * desc->natts);
    memcpy(nulls, slot->tts_isnull, sizeof(bool) * desc->natts);
    for (int i = 0; i < t->ncolumns; i++) {
        ColumnDef *c = &t->columns[i];
        int idx = c->attnum - 1;
        if (c->role == ColumnRole::Partition || c->role == ColumnRole::Offset) {
            int64 v = c->role == ColumnRole::Partition ? part : off;
            values[idx] = IntAsType(c, v);
            nulls[idx] = false;
        }
    }
    MemoryContext old_cxt = MemoryContextSwitchTo(slot->tts_mcxt);
    HeapTuple tuple = heap_form_tuple(desc, values, nulls);
    MemoryContextSwitchTo(old_cxt);
    ExecForceStoreHeapTuple(tuple, slot, true);
    return slot;
}

}  // namespace

// AFTER ROW triggers see the row ExecForeignInsert returns: like RETURNING,
// they need the partition and offset the broker assigned.
static bool AfterRowTriggers(ResultRelInfo *rinfo) {
    return rinfo->ri_TrigDesc && rinfo->ri_TrigDesc->trig_insert_after_row;
}

static void kafkaBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private, int, int eflags) {
    if (eflags & EXEC_FLAG_EXPLAIN_ONLY) return;
    bool returning = boolVal(linitial(fdw_private)) || AfterRowTriggers(rinfo);
    rinfo->ri_FdwState = BeginModify(mtstate->ps.state, rinfo, returning);
}

static TupleTableSlot *kafkaExecForeignInsert(EState *, ResultRelInfo *rinfo, TupleTableSlot *slot, TupleTableSlot *) {
    return InsertRow((ModifyState *)rinfo->ri_FdwState, slot);
}

static TupleTableSlot **kafkaExecForeignBatchInsert(EState *, ResultRelInfo *rinfo, TupleTableSlot **slots,
                                                    TupleTableSlot **, int *numSlots) {
    ModifyState *ms = (ModifyState *)rinfo->ri_FdwState;
    for (int i = 0; i < *numSlots; i++) InsertRow(ms, slots[i]);
    return slots;
}

static int kafkaGetForeignModifyBatchSize(ResultRelInfo *rinfo) {
    ModifyState *ms = (ModifyState *)rinfo->ri_FdwState;
    // RETURNING and row triggers need one row at a time (as postgres_fdw).
    if (!ms || ms->returning || rinfo->ri_projectReturning ||
        (rinfo->ri_TrigDesc && (rinfo->ri_TrigDesc->trig_insert_after_row || rinfo->ri_TrigDesc->trig_insert_before_row)))
        return 1;
    return Max(1, ms->table->batch_size > 1 ? ms->table->batch_size : 1000);
}

static void kafkaEndForeignModify(EState *, ResultRelInfo *rinfo) { FinishModify((ModifyState *)rinfo->ri_FdwState); }

// A partition of a partitioned table (INSERT through the parent, or COPY
// FROM): no plan of its own, its RETURNING list is on the ResultRelInfo.
static void kafkaBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo) {
    bool returning = rinfo->ri_returningList != NIL || AfterRowTriggers(rinfo);
    rinfo->ri_FdwState = BeginModify(mtstate->ps.state, rinfo, returning);
}

static void kafkaEndForeignInsert(EState *, ResultRelInfo *rinfo) { FinishModify((ModifyState *)rinfo->ri_FdwState); }

static int kafkaIsForeignRelUpdatable(Relation rel) {
    TableDef *t = GetTableDef(RelationGetRelid(rel));
    return t->readonly ? 0 : (1 << CMD_INSERT);
}

static void kafkaExplainForeignModify(ModifyTableState *, ResultRelInfo *rinfo, List *, int, ExplainState *es) {
    TableDef *t = GetTableDef(RelationGetRelid(rinfo->ri_RelationDesc));
    ExplainPropertyText("Kafka Topic", t->topic, es);
    ExplainPropertyText("Format", FormatName(t->format), es);
}

void FillModifyRoutine(FdwRoutine *r) {
    r->PlanForeignModify = kafkaPlanForeignModify;
    r->BeginForeignModify = kafkaBeginForeignModify;
    r->ExecForeignInsert = kafkaExecForeignInsert;
    r->ExecForeignBatchInsert = kafkaExecForeignBatchInsert;
    r->GetForeignModifyBatchSize = kafkaGetForeignModifyBatchSize;
    r->EndForeignModify = kafkaEndForeignModify;
    r->BeginForeignInsert = kafkaBeginForeignInsert;
    r->EndForeignInsert = kafkaEndForeignInsert;
    r->IsForeignRelUpdatable = kafkaIsForeignRelUpdatable;
    r->ExplainForeignModify = kafkaExplainForeignModify;
}

}  // namespace kafka_fdw::fdw
