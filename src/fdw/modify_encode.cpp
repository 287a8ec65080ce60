// A row of INSERT or COPY FROM into a message (Postgres zone): the role
// columns (partition, key, timestamp, value, headers) and the payload
// columns encoded by the table's format (JSON as row_to_json writes it,
// through format/row_json.hpp; CSV as COPY does; text, bytea); and the
// helpers the produce functions share (ToOutMessage, ParseHeaders: modify.hpp).
#include "format/csv.hpp"
#include "format/json.hpp"
#include "format/row_json.hpp"
#include "kafka/producer.hpp"

#include "fdw/modify_internal.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "utils/datetime.h"
#include "utils/fmgroids.h"
}

#include <string>
#include <vector>

namespace kafka_fdw::fdw {

int JsonSourceOf(Oid type) {
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

namespace {

// The room for one int8's digits (pg_lltoa).
constexpr int kIntTextSize = MAXINT8LEN + 1;

// The encoder's spec for the text of each source: ints and booleans are
// written as JSON here, to_json's text is JSON already.
const format::JsonSpec *SpecOf(int source) {
    static const format::JsonSpec json{format::JsonKind::Json};
    static const format::JsonSpec number{format::JsonKind::Number};
    static const format::JsonSpec string{format::JsonKind::String};
    switch (source) {
    case kJsonNumber:
        return &number;
    case kJsonText:
    case kJsonString:
        return &string;
    default:
        return &json;  // kJsonInt, kJsonBool, kJsonRaw, kJsonOther
    }
}

}  // namespace

void BeginJsonEncoding(ModifyState *ms) {
    TableDef *t = ms->table;
    int n = ms->npayload;
    ms->json_sources = (int *)palloc0(sizeof(int) * n);
    ms->json_types = (Oid *)palloc0(sizeof(Oid) * n);
    ms->to_json = (FmgrInfo *)palloc0(sizeof(FmgrInfo) * n);
    ms->json_fields = (format::JsonField *)palloc0(sizeof(format::JsonField) * n);
    ms->json_ints = (char *)palloc(kIntTextSize * n);
    for (int k = 0; k < n; k++) {
        ColumnDef *c = &t->columns[ms->payload_cols[k]];
        // the member name as a JSON string and ':' ('"id":')
        size_t len = strlen(c->json_name);
        size_t qlen = format::JsonStringLength(c->json_name, len);
        char *name = (char *)palloc(qlen + 2);
        format::WriteJsonString(name, c->json_name, len);
        name[qlen] = ':';
        name[qlen + 1] = '\0';
        ms->json_fields[k].name = name;
        ms->json_fields[k].name_len = qlen + 1;
        ms->json_sources[k] = JsonSourceOf(c->type);
        ms->json_fields[k].spec = SpecOf(ms->json_sources[k]);
        ms->json_types[k] = getBaseType(c->type);
        if (ms->json_sources[k] != kJsonOther) continue;
        // to_json(anyelement) learns its argument's type from fn_expr.
        fmgr_info(F_TO_JSON, &ms->to_json[k]);
        ms->to_json[k].fn_expr = (Node *)makeFuncExpr(
            F_TO_JSON, JSONOID, list_make1(makeNullConst(c->type, c->typmod, InvalidOid)), InvalidOid,
            InvalidOid, COERCE_EXPLICIT_CALL);
    }
    MemoryContext cxt = CurrentMemoryContext;
    KFDW_ENTRY(ms->json = pg::OwnBy(cxt, new format::RowJsonWriter()););
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
        // What row_to_json gives, without its per-row tuple and catalog
        // work: each value's text, then the object.
        format::JsonField *f = ms->json_fields;
        for (int k = 0; k < ms->npayload; k++) {
            ColumnDef *c = &t->columns[ms->payload_cols[k]];
            int idx = c->attnum - 1;
            f[k].null = slot->tts_isnull[idx];
            if (f[k].null) continue;
            Datum d = slot->tts_values[idx];
            switch (ms->json_sources[k]) {
            case kJsonInt: {
                // int2/int4/int8 (or a domain over one) as int*out writes them
                char *num = ms->json_ints + (size_t)k * kIntTextSize;
                Oid base = ms->json_types[k];
                int64 v = base == INT2OID ? DatumGetInt16(d) : base == INT4OID ? DatumGetInt32(d) : DatumGetInt64(d);
                f[k].data = num;
                f[k].len = (size_t)pg_lltoa(v, num);
                break;
            }
            case kJsonText: {
                // text/varchar: its bytes are its output
                text *txt = DatumGetTextPP(d);
                f[k].data = VARDATA_ANY(txt);
                f[k].len = VARSIZE_ANY_EXHDR(txt);
                break;
            }
            case kJsonBool:
                f[k].data = DatumGetBool(d) ? "true" : "false";
                f[k].len = strlen(f[k].data);
                break;
            case kJsonNumber:
            case kJsonRaw:
            case kJsonString: {
                char *str = OutputFunctionCall(&ms->out_funcs[ms->payload_cols[k]], d);
                f[k].data = str;
                f[k].len = strlen(str);
                break;
            }
            default: {
                text *j = DatumGetTextPP(FunctionCall1(&ms->to_json[k], d));
                f[k].data = VARDATA_ANY(j);
                f[k].len = VARSIZE_ANY_EXHDR(j);
                break;
            }
            }
        }
        std::string &b = *ms->buf;
        KFDW_ENTRY({
            b.clear();
            ms->json->AppendObject(b, f, (size_t)ms->npayload);
        });
        // the buffer is reused by the next row: the message is handed over
        // (copied) before that
        m->value = b.data();
        m->value_len = b.size();
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

}  // namespace kafka_fdw::fdw
