// Messages into tuples: the decoders set up for the columns a query reads,
// then per message the metadata columns (partition, offset, timestamp, key,
// value, headers), the payload decoded once by the table's format (JSON,
// CSV, text, bytea), and the junk columns of a message that could not be
// decoded.  Values are made from text in scan_convert.cpp.
//
// Zones: functions named *Cpp run C++ code and are called only inside
// KFDW_ENTRY; everything else here is Postgres zone and keeps no C++ object
// with a destructor on its stack frames.
#include "format/json.hpp"
#include "format/row_decoder.hpp"
#include "kafka/consumer.hpp"

#include "fdw/scan_internal.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
}

#include <memory>
#include <string>
#include <vector>

namespace kafka_fdw::fdw {

namespace {

// A payload column as the decoder takes it (plain data, Postgres zone).
struct DecodeSpec {
    const char *member;  // json: the member's name in UTF-8
    int field;           // csv: the field's position
    bool raw_json;
    bool pg_array;
    bool record;
};

format::RowFormat RowFormatOf(Format f) {
    switch (f) {
    case Format::Json: return format::RowFormat::Json;
    case Format::Csv: return format::RowFormat::Csv;
    case Format::Text: return format::RowFormat::Text;
    case Format::Bytea: return format::RowFormat::Bytea;
    }
    return format::RowFormat::Text;
}

// C++ zone: the decoder of the payload columns in `specs`.
std::unique_ptr<format::RowDecoder> MakeDecoderCpp(const TableDef *t, const DecodeSpec *specs, int n) {
    format::RowDecoderOptions o;
    o.format = RowFormatOf(t->format);
    for (int k = 0; k < n; k++) {
        format::RowColumn rc;
        if (specs[k].member) rc.member = specs[k].member;
        if (specs[k].field >= 0) rc.field = (size_t)specs[k].field;
        rc.raw_json = specs[k].raw_json;
        rc.pg_array = specs[k].pg_array;
        rc.record = specs[k].record;
        o.columns.push_back(std::move(rc));
    }
    o.csv.delimiter = t->csv_delimiter;
    o.csv.quote = t->csv_quote;
    o.csv.escape = t->csv_escape;
    o.csv.null_string = t->csv_null;
    o.csv_max_fields = (size_t)t->npayload;
    return std::make_unique<format::RowDecoder>(std::move(o));
}

}  // namespace

// Input functions and the decoder for the columns in `needed` (attnums), or
// for every column.  The C++ state is owned by the current memory context.
void InitDecoding(ScanState *s, List *needed, bool all_columns) {
    TableDef *t = s->table;
    s->needed = (bool *)palloc0(sizeof(bool) * (t->ncolumns + 1));
    s->in_funcs = (FmgrInfo *)palloc0(sizeof(FmgrInfo) * (t->ncolumns + 1));
    s->ioparams = (Oid *)palloc0(sizeof(Oid) * (t->ncolumns + 1));
    s->payload_map = (int *)palloc0(sizeof(int) * (t->ncolumns + 1));
    s->user_code = (bool *)palloc0(sizeof(bool) * (t->ncolumns + 1));
    s->populate = (FmgrInfo **)palloc0(sizeof(FmgrInfo *) * (t->ncolumns + 1));
    s->domain_extra = (void **)palloc0(sizeof(void *) * (t->ncolumns + 1));
    for (int i = 0; i < t->ncolumns; i++) {
        ColumnDef *c = &t->columns[i];
        s->needed[i] = all_columns || list_member_int(needed, c->attnum);
        Oid infunc;
        getTypeInputInfo(c->type, &infunc, &s->ioparams[i]);
        fmgr_info(infunc, &s->in_funcs[i]);
        s->payload_map[i] = -1;
        s->user_code[i] = InputRunsUserCode(c->type);
        if (t->format == Format::Json && c->role == ColumnRole::Payload && type_is_rowtype(getBaseType(c->type))) {
            // row_to_json writes a composite as an object: read it back as
            // json_populate_record(NULL::type, member) does
            Oid base = getBaseType(c->type);
            s->populate[i] = (FmgrInfo *)palloc0(sizeof(FmgrInfo));
            fmgr_info(F_JSON_POPULATE_RECORD, s->populate[i]);
            List *args = list_make3(makeNullConst(base, -1, InvalidOid), makeNullConst(JSONOID, -1, InvalidOid),
                                    makeBoolConst(false, false));
            fmgr_info_set_expr((Node *)makeFuncExpr(F_JSON_POPULATE_RECORD, base, args, InvalidOid, InvalidOid,
                                                    COERCE_EXPLICIT_CALL),
                               s->populate[i]);
        }
        if ((c->role == ColumnRole::Junk || c->role == ColumnRole::JunkError) && s->needed[i]) s->junk_needed = true;
    }
    // Junk columns report on the whole message: decode every payload column.
    bool all_payload = s->junk_needed && t->format != Format::Text && t->format != Format::Bytea;

    int ndecoded = 0;
    DecodeSpec *specs = (DecodeSpec *)palloc0(sizeof(DecodeSpec) * (t->ncolumns + 1));
    for (int i = 0; i < t->ncolumns; i++) {
        ColumnDef *c = &t->columns[i];
        if (c->role != ColumnRole::Payload || !(s->needed[i] || all_payload)) continue;
        s->needed[i] = true;
        s->any_payload_needed = true;
        s->payload_map[i] = ndecoded;
        DecodeSpec *d = &specs[ndecoded++];
        d->field = c->payload_index;
        if (t->format == Format::Json) {
            d->member = pg::ServerToUtf8(c->json_name);  // as in messages
            d->raw_json = c->type == JSONOID || c->type == JSONBOID;
            d->pg_array = OidIsValid(get_element_type(c->type)) || OidIsValid(get_element_type(getBaseType(c->type)));
            d->record = s->populate[i] != nullptr;
        }
    }

    MemoryContext cxt = CurrentMemoryContext;
    KFDW_ENTRY({
        auto rt = std::make_unique<ScanRuntime>();
        rt->decoder = MakeDecoderCpp(t, specs, ndecoded);
        s->rt = pg::OwnBy(cxt, rt.release());
    });
}

namespace {

// What the bytes given to BytesValue are.
enum BytesKind {
    kBytesRaw,         // the value (key and value columns, text and bytea formats)
    kBytesText,        // the value's text (a JSON member, a CSV field), also for bytea, as COPY and row_to_json write it
    kBytesJsonObject,  // a JSON object for a composite column
};

// Bytes of a message into a column of any type: raw bytea as is, anything
// else after UTF-8 and NUL checks, text directly, others through their
// input function (or json_populate_record).
Datum BytesValue(ScanState *s, int col, const char *data, size_t len, bool *isnull, BytesKind kind = kBytesRaw) {
    ColumnDef *c = &s->table->columns[col];
    *isnull = false;
    if (kind == kBytesRaw && c->type == BYTEAOID) return PointerGetDatum(pg::BytesToBytea(data, len));
    const char *problem = nullptr;
    if (memchr(data, '\0', len)) problem = "contains a NUL byte";
    else if (!format::IsValidUtf8(data, len)) problem = "is not valid UTF-8";
    if (problem) {
        char *msg = psprintf("column \"%s\": value %s", c->name, problem);
        if (s->table->strict) {
            s->cur_column = c->name;
            ereport(ERROR, (errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE), errmsg("%s", msg),
                            errhint("Use a bytea column for binary data.")));
        }
        MarkBad(s, msg);
        *isnull = true;
        return (Datum)0;
    }
    int how = (kind == kBytesJsonObject ? kConvertPopulate : kConvertInput) |
              (GetDatabaseEncoding() != PG_UTF8 ? kConvertFromUtf8 : kConvertInput);
    if (how != kConvertInput) return InputValue(s, col, data, isnull, len, how);
    if (c->type == TEXTOID) return PointerGetDatum(cstring_to_text_with_len(data, (int)len));
    return InputValue(s, col, pnstrdup(data, len), isnull);
}

Datum TimestampValue(ScanState *s, int col, int64 ms, bool *isnull) {
    ColumnDef *c = &s->table->columns[col];
    *isnull = false;
    if (ms < 0) {
        *isnull = true;
        return (Datum)0;
    }
    TimestampTz ts = pg::KafkaMsToTimestamptz(ms);
    if (c->type == TIMESTAMPTZOID) return TimestampTzGetDatum(ts);
    // timestamp (without time zone) and date: in UTC, as INSERT takes them,
    // whatever the session's time zone
    if (c->type == TIMESTAMPOID) return TimestampGetDatum((Timestamp)ts);
    if (c->type == DATEOID) return DirectFunctionCall1(timestamp_date, TimestampGetDatum((Timestamp)ts));
    if (c->type == INT8OID) return Int64GetDatum(ms);
    // other types (timestamp, text, ...): via text
    const char *str = timestamptz_to_str(ts);
    return InputValue(s, col, str, isnull);
}

Datum IntValue(ScanState *s, int col, int64 v, bool *isnull) {
    ColumnDef *c = &s->table->columns[col];
    *isnull = false;
    if (c->type == INT8OID) return Int64GetDatum(v);
    if ((c->type == INT4OID && v > PG_INT32_MAX) || (c->type == INT2OID && v > PG_INT16_MAX))
        ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                        errmsg("column \"%s\": " INT64_FORMAT " is out of range for type %s", c->name, v,
                               format_type_be(c->type)),
                        errhint("Use a bigint column for offsets.")));
    if (c->type == INT4OID) return Int32GetDatum((int32)v);
    if (c->type == INT2OID) return Int16GetDatum((int16)v);
    return InputValue(s, col, psprintf(INT64_FORMAT, v), isnull);
}

// C++ zone: headers as a JSON object text.
const char *HeadersJsonCpp(ScanState *s, const rd_kafka_message_t *m) {
    kafka::HeadersToJson(m, s->rt->headers);
    return s->rt->headers.c_str();
}

}  // namespace

void FillTuple(ScanState *s, const rd_kafka_message_t *m, Datum *values, bool *nulls) {
    TableDef *t = s->table;
    s->bad_reason = nullptr;
    s->cur_partition = m->partition;
    s->cur_offset = m->offset;
    const char *payload = static_cast<const char *>(m->payload);
    size_t plen = m->len;
    bool tombstone = payload == nullptr;
    // text and bytea: the one payload column holds the whole value
    BytesKind payload_kind = t->format == Format::Text || t->format == Format::Bytea ? kBytesRaw : kBytesText;

    // Decode the value once for all payload columns.
    if (s->any_payload_needed) {
        bool ok = true;
        const char *decode_error = nullptr;
        const char *reason = nullptr;
        KFDW_ENTRY({
            ok = s->rt->decoder->Decode(payload, plen);
            if (!ok) {
                decode_error = pg::PStrDup(s->rt->decoder->error().data(), s->rt->decoder->error().size());
                reason = pg::PStrDup(s->rt->decoder->reason().data(), s->rt->decoder->reason().size());
            }
        });
        if (!ok) {
            if (t->strict)
                ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                                errmsg("could not decode %s message: %s", FormatName(t->format), decode_error),
                                errhint("Set strict 'false' to get NULLs and the junk/junk_error columns instead.")));
            MarkBad(s, reason);
        }
    }

    for (int i = 0; i < t->ncolumns; i++) {
        ColumnDef *c = &t->columns[i];
        int idx = c->attnum - 1;
        nulls[idx] = true;
        values[idx] = (Datum)0;
        if (!s->needed[i]) continue;
        bool isnull = false;
        switch (c->role) {
        case ColumnRole::Partition:
            values[idx] = IntValue(s, i, m->partition, &isnull);
            break;
        case ColumnRole::Offset:
            values[idx] = IntValue(s, i, m->offset, &isnull);
            break;
        case ColumnRole::Timestamp: {
            rd_kafka_timestamp_type_t tstype;
            int64 ms = rd_kafka_message_timestamp(m, &tstype);
            values[idx] = TimestampValue(s, i, ms, &isnull);
            break;
        }
        case ColumnRole::Key:
            if (!m->key) isnull = true;
            else values[idx] = BytesValue(s, i, static_cast<const char *>(m->key), m->key_len, &isnull);
            break;
        case ColumnRole::Value:
            if (tombstone) isnull = true;
            else values[idx] = BytesValue(s, i, payload, plen, &isnull);
            break;
        case ColumnRole::Headers: {
            const char *json = nullptr;
            KFDW_ENTRY({ json = HeadersJsonCpp(s, m); });
            values[idx] = GetDatabaseEncoding() == PG_UTF8
                              ? InputValue(s, i, json, &isnull)
                              : InputValue(s, i, json, &isnull, strlen(json), kConvertFromUtf8);
            break;
        }
        case ColumnRole::Junk:
        case ColumnRole::JunkError:
            continue;  // filled after the payload
        case ColumnRole::Payload: {
            // decoded above: every payload column that is needed
            const format::DecodedValue &v = s->rt->decoder->Value((size_t)s->payload_map[i]);
            if (v.missing) {
                if (t->strict)
                    ereport(ERROR, (errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
                                    errmsg("missing data for column \"%s\"", c->name)));
                MarkBad(s, psprintf("missing data for column \"%s\"", c->name));
            }
            if (v.is_null) isnull = true;
            else values[idx] = BytesValue(s, i, v.data, v.len, &isnull, v.is_record ? kBytesJsonObject : payload_kind);
            break;
        }
        }
        nulls[idx] = isnull;
    }

    // Junk columns: the raw value and the reason, only for bad messages.
    if (s->junk_needed && s->bad_reason) {
        for (int i = 0; i < t->ncolumns; i++) {
            ColumnDef *c = &t->columns[i];
            int idx = c->attnum - 1;
            if (c->role == ColumnRole::JunkError) {
                values[idx] = PointerGetDatum(cstring_to_text(s->bad_reason));
                nulls[idx] = false;
            } else if (c->role == ColumnRole::Junk && payload) {
                // the raw message, made printable when it is not valid text
                bool isnull = true;
                if (!memchr(payload, '\0', plen) && format::IsValidUtf8(payload, plen) && c->type == TEXTOID) {
                    // in the database's encoding if it has every character
                    values[idx] = BytesValue(s, i, payload, plen, &isnull);
                    nulls[idx] = isnull;
                }
                if (isnull && c->type == BYTEAOID) {
                    values[idx] = BytesValue(s, i, payload, plen, &isnull);
                    nulls[idx] = isnull;
                } else if (isnull) {
                    bytea *b = pg::BytesToBytea(payload, plen);
                    char *hex = DatumGetCString(DirectFunctionCall1(byteaout, PointerGetDatum(b)));
                    values[idx] = PointerGetDatum(cstring_to_text(hex));
                    nulls[idx] = false;
                }
            }
        }
    }
    s->cur_offset = -1;
}

}  // namespace kafka_fdw::fdw
