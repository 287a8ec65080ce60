// Debezium-compatible change events (see debezium.hpp): the key and the
// envelope of each event, with the column values in Debezium's encodings,
// read from pgoutput's text (the built-in input functions of dates, times,
// intervals and bytea here; the encodings in format/debezium_value.hpp).
// The relation's description is debezium_schema.cpp's.  Postgres zone.
#include "format/json.hpp"
#include "format/row_json.hpp"

#include "cdc/debezium_column.hpp"

#include "pg/datum.hpp"

extern "C" {
#include "utils/array.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"
}

#include <cstring>

namespace kafka_fdw::cdc::dbz {

namespace pgo = format::pgoutput;
namespace enc = format::dbz;

namespace {

// Makes room for n more bytes (and the terminator), as enlargeStringInfo,
// for a size_t count.
char *Room(StringInfo out, size_t n) {
    enlargeStringInfo(out, (int)Min(n, (size_t)MaxAllocSize));
    return out->data + out->len;
}

void Advance(StringInfo out, size_t n) {
    out->len += (int)n;
    out->data[out->len] = '\0';
}

void AppendJsonString(StringInfo out, const char *s, int len) {
    size_t n = format::JsonStringLength(s, (size_t)len);
    Advance(out, format::WriteJsonString(Room(out, n), s, (size_t)len));
}

void AppendBase64(StringInfo out, const unsigned char *data, size_t len) {
    char *d = Room(out, enc::Base64Length(len) + 2);
    d[0] = '"';
    size_t n = enc::Base64Encode(data, len, d + 1);
    d[n + 1] = '"';
    Advance(out, n + 2);
}

// numeric text -> base64 of the unscaled value; *scale gets the digits after
// the point.  False for NaN and infinities.
bool AppendUnscaled(StringInfo out, const char *text, int len, int *scale) {
    auto *scratch = static_cast<unsigned char *>(palloc(enc::UnscaledScratchSize((size_t)len)));
    const unsigned char *bytes;
    size_t n;
    if (!enc::Unscaled(text, (size_t)len, scratch, &bytes, &n, scale)) return false;
    AppendBase64(out, bytes, n);
    return true;
}

Datum Read(const Column *c, const char *text, int len) {
    char *s = pnstrdup(text, len);
    return InputFunctionCall(const_cast<FmgrInfo *>(&c->infunc), s, c->ioparam, c->typmod);
}

void AppendValue(StringInfo out, const Column *c, const char *text, int len);

// The elements of every dimension in storage order (a multidimensional
// array flattened, as Debezium's connector sends it); text that is not
// array_out's (never seen) is an ERROR.
void AppendArray(StringInfo out, const Column *c, const char *text, int len) {
    char *buf = static_cast<char *>(palloc(len + 1));
    format::pgtext::ArrayLexer lex(text, (size_t)len, c->delim);
    appendStringInfoChar(out, '[');
    bool first = true;
    for (;;) {
        size_t n = 0;
        format::pgtext::Token t = lex.Next(buf, &n);
        if (t == format::pgtext::Token::End) break;
        if (t == format::pgtext::Token::Error)
            ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                            errmsg("malformed array text \"%.*s\"", Min(len, 200), text)));
        if (t == format::pgtext::Token::Open || t == format::pgtext::Token::Close) continue;
        if (!first) appendStringInfoChar(out, ',');
        first = false;
        if (t == format::pgtext::Token::Null) appendStringInfoString(out, "null");
        else AppendValue(out, c->elem, buf, (int)n);
    }
    appendStringInfoChar(out, ']');
    pfree(buf);
}

// One value from pgoutput's text form.
void AppendValue(StringInfo out, const Column *c, const char *text, int len) {
    char buf[enc::kTextSize];
    switch (c->kind) {
    case Kind::Bool:
        appendStringInfoString(out, len > 0 && text[0] == 't' ? "true" : "false");
        return;
    case Kind::Int16: case Kind::Int32: case Kind::Int64:
        appendBinaryStringInfo(out, text, len);
        return;
    case Kind::Float32: case Kind::Float64:
        if (format::IsJsonNumber(text, (size_t)len)) appendBinaryStringInfo(out, text, len);
        else appendStringInfoString(out, "null");  // NaN, Infinity: no JSON number
        return;
    case Kind::Decimal: {
        int scale;
        if (!AppendUnscaled(out, text, len, &scale)) appendStringInfoString(out, "null");
        return;
    }
    case Kind::VarDecimal: {
        StringInfoData v;
        initStringInfo(&v);
        int scale;
        if (!AppendUnscaled(&v, text, len, &scale)) {
            appendStringInfoString(out, "null");
            return;
        }
        appendStringInfo(out, "{\"scale\":%d,\"value\":%s}", scale, v.data);
        return;
    }
    case Kind::Date: {
        int64 days;
        if (enc::DateValue(DatumGetDateADT(Read(c, text, len)), &days)) appendStringInfo(out, INT64_FORMAT, days);
        else appendStringInfoString(out, "null");
        return;
    }
    case Kind::TimeMs:
    case Kind::TimeUs: {
        TimeADT t = DatumGetTimeADT(Read(c, text, len));
        appendStringInfo(out, INT64_FORMAT, (int64)(c->kind == Kind::TimeMs ? t / 1000 : t));
        return;
    }
    case Kind::TimestampMs:
    case Kind::TimestampUs: {
        Timestamp ts = DatumGetTimestamp(Read(c, text, len));
        appendStringInfo(out, INT64_FORMAT, (int64)enc::TimestampValue(ts, c->kind == Kind::TimestampMs));
        return;
    }
    case Kind::ZonedTimestamp: {
        TimestampTz ts = DatumGetTimestampTz(Read(c, text, len));
        struct pg_tm tm;
        fsec_t fsec;
        if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, nullptr, &tm, &fsec, nullptr, nullptr) != 0) {
            appendStringInfoString(out, "null");
            return;
        }
        int digits = c->typmod >= 0 && c->typmod <= 6 ? c->typmod : 6;
        int64 time_us = ((int64)(tm.tm_hour * 60 + tm.tm_min) * 60 + tm.tm_sec) * USECS_PER_SEC + fsec;
        appendBinaryStringInfo(out, buf,
                               (int)enc::FormatZonedTimestamp(buf, tm.tm_year, tm.tm_mon, tm.tm_mday, time_us, digits));
        return;
    }
    case Kind::ZonedTime: {
        TimeTzADT *t = DatumGetTimeTzADTP(Read(c, text, len));
        appendBinaryStringInfo(out, buf, (int)enc::FormatZonedTime(buf, t->time, t->zone));
        return;
    }
    case Kind::Interval: {
        Interval *iv = DatumGetIntervalP(Read(c, text, len));
        appendStringInfo(out, INT64_FORMAT, (int64)enc::IntervalValue(iv->month, iv->day, iv->time));
        return;
    }
    case Kind::Bytes: {
        bytea *b = DatumGetByteaPP(Read(c, text, len));
        AppendBase64(out, reinterpret_cast<const unsigned char *>(VARDATA_ANY(b)), VARSIZE_ANY_EXHDR(b));
        return;
    }
    case Kind::Array:
        AppendArray(out, c, text, len);
        return;
    case Kind::String: case Kind::Uuid: case Kind::Json: case Kind::Xml: case Kind::Enum:
        AppendJsonString(out, text, len);
        return;
    }
}

// A row as Debezium's Value struct.
void AppendRow(StringInfo out, const Relation *rel, const pgo::Tuple &tup, bool key_only, const pgo::Tuple *full_old) {
    appendStringInfoChar(out, '{');
    int n = Min(rel->natts, (int)tup.size());
    for (int i = 0; i < n; i++) {
        const Column *c = &rel->cols[i];
        if (i > 0) appendStringInfoChar(out, ',');
        appendStringInfoString(out, c->json_name);
        const pgo::Column *v = &tup[i];
        if (v->kind == 'u' && full_old && i < (int)full_old->size() && (*full_old)[i].kind != 'u') v = &(*full_old)[i];
        if (v->kind == 't') AppendValue(out, c, v->data.data(), (int)v->data.size());
        else if (v->kind == 'u')
            appendStringInfoString(out, enc::UnavailableJson(c->kind, c->elem ? c->elem->kind : Kind::String));
        else if (key_only && !c->key && c->notnull)
            // as Debezium's converters: the schema's default, else the type's zero
            appendStringInfoString(out, c->default_json ? c->default_json : enc::FallbackJson(c->kind));
        else appendStringInfoString(out, "null");
    }
    appendStringInfoChar(out, '}');
}

}  // namespace

void AppendColumnValue(StringInfo out, const Column *c, const char *text, int len) { AppendValue(out, c, text, len); }

bool RenderKey(StringInfo out, const Relation *rel, const pgo::Tuple &tup) {
    if (!rel->has_key) return false;
    appendStringInfoString(out, rel->key_head);
    appendStringInfoChar(out, '{');
    bool first = true;
    int n = Min(rel->natts, (int)tup.size());
    for (int i = 0; i < n; i++) {
        const Column *c = &rel->cols[i];
        if (!c->key) continue;
        if (!first) appendStringInfoChar(out, ',');
        first = false;
        appendStringInfoString(out, c->json_name);
        if (tup[i].kind == 't') AppendValue(out, c, tup[i].data.data(), (int)tup[i].data.size());
        else appendStringInfoString(out, "null");
    }
    appendStringInfoChar(out, '}');
    if (rel->key_head[0]) appendStringInfoChar(out, '}');
    return true;
}

void RenderEnvelope(StringInfo out, const Relation *rel, char op, const pgo::Tuple *before, bool before_key_only,
                    const pgo::Tuple *after, const pgo::Tuple *full_old, const Source &src) {
    appendStringInfoString(out, rel->value_head);
    appendStringInfoString(out, "{\"before\":");
    if (before) AppendRow(out, rel, *before, before_key_only, nullptr);
    else appendStringInfoString(out, "null");
    appendStringInfoString(out, ",\"after\":");
    if (after) AppendRow(out, rel, *after, false, full_old);
    else appendStringInfoString(out, "null");
    // source: commit time, the transaction, the change's position
    int64 commit_us = src.commit_unix_us;
    appendStringInfoString(out, rel->source_head);
    appendStringInfo(out, INT64_FORMAT ",\"snapshot\":\"%s\"", commit_us / 1000, src.snapshot ? "true" : "false");
    appendStringInfoString(out, rel->source_db);
    appendStringInfo(out, "\"[\\\"" UINT64_FORMAT "\\\",\\\"" UINT64_FORMAT "\\\"]\"", src.commit_lsn, src.change_lsn);
    appendStringInfo(out, ",\"ts_us\":" INT64_FORMAT ",\"ts_ns\":" INT64_FORMAT, commit_us, commit_us * 1000);
    appendStringInfoString(out, rel->source_table);
    appendStringInfo(out, "%u,\"lsn\":" UINT64_FORMAT ",\"xmin\":null}", src.xid, src.change_lsn);
    // the event itself: when it was made
    int64 now_us = GetCurrentTimestamp() + pg::kEpochShiftUs;
    appendStringInfoString(out, ",\"transaction\":");
    if (src.txn) AppendTransactionBlock(out, src.txn, rel->collection, src.change_lsn);
    else appendStringInfoString(out, "null");
    appendStringInfo(out, ",\"op\":\"%c\",\"ts_ms\":" INT64_FORMAT ",\"ts_us\":" INT64_FORMAT ",\"ts_ns\":" INT64_FORMAT "}", op,
                     now_us / 1000, now_us, now_us * 1000);
    if (rel->value_head[0]) appendStringInfoChar(out, '}');
}

}  // namespace kafka_fdw::cdc::dbz
