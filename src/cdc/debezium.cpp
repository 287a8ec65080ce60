// Debezium-compatible change events (see debezium.hpp): the key and the
// envelope of each event, with the column values in Debezium's encodings,
// read from pgoutput's text.  The relation's description is
// debezium_schema.cpp's.  Postgres zone.
#include "cdc/debezium_column.hpp"

#include "pg/datum.hpp"

extern "C" {
#include "common/base64.h"
#include "common/jsonapi.h"
#include "utils/array.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/timestamp.h"
}

#include <cstring>

namespace kafka_fdw::cdc::dbz {

namespace pgo = format::pgoutput;

namespace {

constexpr const char *kUnavailable = "__debezium_unavailable_value";
constexpr int64 kUnixEpochDays = POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE;  // 10957
// Debezium's values for +-infinity timestamps (postgresql.adoc).
constexpr int64 kPlusInfinity = 9223372036825200000LL;
constexpr int64 kMinusInfinity = -9223372036832400000LL;

void AppendJsonString(StringInfo out, const char *s, int len) {
    char *c = pnstrdup(s, len);
    escape_json(out, c);
    pfree(c);
}

void AppendBase64(StringInfo out, const unsigned char *data, int len) {
    int size = pg_b64_enc_len(len);
    enlargeStringInfo(out, size + 3);
    appendStringInfoChar(out, '"');
    int n = kafka_fdw::pg::B64Encode(data, len, out->data + out->len, size);
    if (n < 0) elog(ERROR, "could not encode %d bytes as base64", len);
    out->len += n;
    out->data[out->len] = '\0';
    appendStringInfoChar(out, '"');
}

// numeric text -> base64 of the unscaled value as Java's
// BigInteger.toByteArray() (minimal two's complement, big-endian); *scale
// gets the digits after the point.  False for NaN and infinities.  (Plain
// arrays from palloc: this is Postgres-zone code, ERRORs may pass through.)
bool AppendUnscaled(StringInfo out, const char *text, int len, int *scale) {
    bool neg = len > 0 && text[0] == '-';
    int *digits = static_cast<int *>(palloc(sizeof(int) * Max(1, len)));
    int nd = 0, sc = 0;
    bool point = false;
    for (int i = neg ? 1 : 0; i < len; i++) {
        char c = text[i];
        if (c == '.') {
            point = true;
        } else if (c >= '0' && c <= '9') {
            digits[nd++] = c - '0';
            if (point) sc++;
        } else {
            return false;  // NaN, Infinity
        }
    }
    // base 10 -> base 256 by repeated division; bytes come out least
    // significant first, written from the end of b (one spare byte in front
    // for the sign)
    int cap = nd / 2 + 2;
    unsigned char *b = static_cast<unsigned char *>(palloc0(cap));
    int pos = cap;
    int start = 0;
    while (start < nd && digits[start] == 0) start++;
    while (start < nd) {
        int rem = 0;
        for (int i = start; i < nd; i++) {
            int cur = rem * 10 + digits[i];
            digits[i] = cur / 256;
            rem = cur % 256;
        }
        b[--pos] = (unsigned char)rem;
        while (start < nd && digits[start] == 0) start++;
    }
    int n = cap - pos;  // magnitude bytes in b[pos..cap)
    if (n == 0) neg = false;  // -0
    if (!neg) {
        if (n == 0 || (b[pos] & 0x80)) {
            b[--pos] = 0;
            n++;
        }
    } else {
        for (int i = pos; i < cap; i++) b[i] = (unsigned char)~b[i];
        for (int i = cap; i-- > pos;)
            if (++b[i] != 0) break;
        if (!(b[pos] & 0x80)) {
            b[--pos] = 0xff;
            n++;
        }
        while (n > 1 && b[pos] == 0xff && (b[pos + 1] & 0x80)) {
            pos++;
            n--;
        }
    }
    *scale = sc;
    AppendBase64(out, b + pos, n);
    return true;
}

// "HH:MM:SS[.ffffff]" of a time of day in microseconds; `digits` fraction
// digits, or -1: as many as needed (none when whole).
void AppendClock(StringInfo out, int64 us, int digits) {
    int64 secs = us / USECS_PER_SEC;
    int64 frac = us % USECS_PER_SEC;
    appendStringInfo(out, "%02d:%02d:%02d", (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    char f[8];
    snprintf(f, sizeof f, "%06d", (int)frac);
    int n = digits;
    if (n < 0) {
        n = 6;
        while (n > 0 && f[n - 1] == '0') n--;
    }
    if (n > 0) appendStringInfo(out, ".%.*s", n, f);
}

Datum Read(const Column *c, const char *text, int len) {
    char *s = pnstrdup(text, len);
    return InputFunctionCall(const_cast<FmgrInfo *>(&c->infunc), s, c->ioparam, c->typmod);
}

// The fallback Debezium writes for a NOT NULL column missing from an old
// key-only row (JdbcValueConverters: the type's zero).
void AppendFallback(StringInfo out, const Column *c) {
    switch (c->kind) {
    case Kind::Bool: appendStringInfoString(out, "false"); break;
    case Kind::Int16: case Kind::Int32: case Kind::Int64: case Kind::Float32: case Kind::Float64:
    case Kind::Date: case Kind::TimeMs: case Kind::TimeUs: case Kind::TimestampMs: case Kind::TimestampUs:
    case Kind::Interval: appendStringInfoString(out, "0"); break;
    case Kind::Decimal: appendStringInfoString(out, "\"AA==\""); break;
    case Kind::VarDecimal: appendStringInfoString(out, "{\"scale\":0,\"value\":\"AA==\"}"); break;
    case Kind::Array: appendStringInfoString(out, "[]"); break;
    default: appendStringInfoString(out, "\"\""); break;  // strings, bytes (empty base64)
    }
}

// Unchanged TOASTed value that the WAL does not carry (Debezium's
// unavailable.value.placeholder, by type; null where it has no form).
void AppendUnavailable(StringInfo out, const Column *c) {
    switch (c->kind) {
    case Kind::String: case Kind::Json: case Kind::Xml: case Kind::Enum: case Kind::Uuid:
        escape_json(out, kUnavailable);
        break;
    case Kind::Bytes:
        AppendBase64(out, reinterpret_cast<const unsigned char *>(kUnavailable), (int)strlen(kUnavailable));
        break;
    case Kind::Array:
        if (c->elem->kind == Kind::String) {
            appendStringInfoChar(out, '[');
            escape_json(out, kUnavailable);
            appendStringInfoChar(out, ']');
            break;
        }
        appendStringInfoString(out, "null");
        break;
    default: appendStringInfoString(out, "null"); break;
    }
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
    switch (c->kind) {
    case Kind::Bool:
        appendStringInfoString(out, len > 0 && text[0] == 't' ? "true" : "false");
        return;
    case Kind::Int16: case Kind::Int32: case Kind::Int64:
        appendBinaryStringInfo(out, text, len);
        return;
    case Kind::Float32: case Kind::Float64:
        if (IsValidJsonNumber(text, len)) appendBinaryStringInfo(out, text, len);
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
        DateADT d = DatumGetDateADT(Read(c, text, len));
        if (DATE_NOT_FINITE(d)) appendStringInfoString(out, "null");
        else appendStringInfo(out, "%d", (int)(d + kUnixEpochDays));
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
        int64 v;
        if (TIMESTAMP_IS_NOBEGIN(ts)) v = kMinusInfinity;
        else if (TIMESTAMP_IS_NOEND(ts)) v = kPlusInfinity;
        else if (ts > PG_INT64_MAX - pg::kEpochShiftUs) v = PG_INT64_MAX;  // saturated, as Debezium
        else {
            v = ts + pg::kEpochShiftUs;
            if (c->kind == Kind::TimestampMs) v = v >= 0 ? v / 1000 : -((-v + 999) / 1000);
        }
        appendStringInfo(out, INT64_FORMAT, v);
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
        // ISO 8601 extended years, as Java writes them: +10000, 0000 (1 BC),
        // -0001 (2 BC); tm_year counts astronomically
        if (tm.tm_year > 9999) appendStringInfo(out, "\"+%d", tm.tm_year);
        else if (tm.tm_year < 0) appendStringInfo(out, "\"-%04d", -tm.tm_year);
        else appendStringInfo(out, "\"%04d", tm.tm_year);
        appendStringInfo(out, "-%02d-%02dT", tm.tm_mon, tm.tm_mday);
        AppendClock(out, ((int64)(tm.tm_hour * 60 + tm.tm_min) * 60 + tm.tm_sec) * USECS_PER_SEC + fsec, digits);
        appendStringInfoString(out, "Z\"");
        return;
    }
    case Kind::ZonedTime: {
        TimeTzADT *t = DatumGetTimeTzADTP(Read(c, text, len));
        int64 utc = (t->time + (int64)t->zone * USECS_PER_SEC) % USECS_PER_DAY;
        if (utc < 0) utc += USECS_PER_DAY;
        appendStringInfoChar(out, '"');
        AppendClock(out, utc, -1);
        appendStringInfoString(out, "Z\"");
        return;
    }
    case Kind::Interval: {
        Interval *iv = DatumGetIntervalP(Read(c, text, len));
        double days = iv->month * (365.25 / 12.0) + iv->day;
        // saturated, as Debezium's MicroDuration (a cast out of range is undefined)
        double day_us = days * (double)USECS_PER_DAY;
        int64 v;
        if (day_us >= 9.2233720368547758e18) v = PG_INT64_MAX;
        else if (day_us <= -9.2233720368547758e18) v = PG_INT64_MIN;
        else if (__builtin_add_overflow((int64)day_us, iv->time, &v)) v = iv->time > 0 ? PG_INT64_MAX : PG_INT64_MIN;
        appendStringInfo(out, INT64_FORMAT, v);
        return;
    }
    case Kind::Bytes: {
        bytea *b = DatumGetByteaPP(Read(c, text, len));
        AppendBase64(out, reinterpret_cast<const unsigned char *>(VARDATA_ANY(b)), (int)VARSIZE_ANY_EXHDR(b));
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
        else if (v->kind == 'u') AppendUnavailable(out, c);
        else if (key_only && !c->key && c->notnull) AppendFallback(out, c);
        else appendStringInfoString(out, "null");
    }
    appendStringInfoChar(out, '}');
}

}  // namespace

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
    appendStringInfo(out, ",\"transaction\":null,\"op\":\"%c\",\"ts_ms\":" INT64_FORMAT ",\"ts_us\":" INT64_FORMAT
                          ",\"ts_ns\":" INT64_FORMAT "}",
                     op, now_us / 1000, now_us, now_us * 1000);
    if (rel->value_head[0]) appendStringInfoChar(out, '}');
}

}  // namespace kafka_fdw::cdc::dbz
