// Conversions between Kafka's representations and Datums (Postgres zone).
#pragma once

#include "pg/postgres.hpp"

#include <cstring>

namespace kafka_fdw::pg {

// Microseconds between 1970-01-01 (Kafka's epoch) and 2000-01-01 (Postgres').
constexpr int64 kEpochShiftUs = (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

// Kafka milliseconds since 1970 -> timestamptz.
inline TimestampTz KafkaMsToTimestamptz(int64 ms) { return (TimestampTz)(ms * 1000 - kEpochShiftUs); }

// timestamptz (or timestamp taken as UTC) -> Kafka milliseconds since 1970,
// truncated; with round_up, the first millisecond not before ts.
inline int64 TimestamptzToKafkaMs(TimestampTz ts, bool round_up = false) {
    int64 us = ts + kEpochShiftUs;
    int64 ms = us / 1000;
    if (round_up && us % 1000 > 0) ms++;
    return ms;
}

// Messages are UTF-8 on the wire; the database's text may not be.  Text of
// the database's encoding as UTF-8 (palloc'd when converted; SQL_ASCII
// databases' bytes are passed as they are, having no known encoding).
inline void ServerToUtf8(const char **data, size_t *len) {
    int enc = GetDatabaseEncoding();
    if (enc == PG_UTF8 || enc == PG_SQL_ASCII) return;
    char *conv = pg_server_to_any(*data, (int)*len, PG_UTF8);
    if (conv != *data) {
        *data = conv;
        *len = strlen(conv);
    }
}

// The same for a NUL-terminated text (a name).
inline const char *ServerToUtf8(const char *str) {
    size_t len = strlen(str);
    ServerToUtf8(&str, &len);
    return str;
}

// A NUL-terminated UTF-8 text as the database's encoding (the same pointer
// when nothing is to be converted).
inline const char *Utf8ToServer(const char *str) {
    if (GetDatabaseEncoding() == PG_UTF8) return str;
    return pg_any_to_server(str, (int)strlen(str), PG_UTF8);
}

// Bytes -> a palloc'd bytea.
inline bytea *BytesToBytea(const void *data, size_t len) {
    bytea *b = (bytea *)palloc(len + VARHDRSZ);
    SET_VARSIZE(b, len + VARHDRSZ);
    memcpy(VARDATA(b), data, len);
    return b;
}

// Calls f(key, value) for each member of the jsonb object `jb` (the caller
// checks that it is one).  `key` is palloc'd and NUL-terminated; nested
// objects and arrays come as jbvBinary values.  f may ereport: nothing here
// needs destroying.
template <typename F>
void ForEachJsonbMember(Jsonb *jb, F &&f) {
    JsonbIterator *it = JsonbIteratorInit(&jb->root);
    JsonbValue v;
    JsonbIteratorToken tok;
    char *key = nullptr;
    while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE) {
        if (tok == WJB_KEY) {
            key = pnstrdup(v.val.string.val, v.val.string.len);
        } else if (tok == WJB_VALUE && key) {
            f(key, &v);
            key = nullptr;
        }
    }
}

// A non-string jsonb value as JSON text (numbers, booleans, nested values).
inline char *JsonbScalarText(JsonbValue *v) {
    switch (v->type) {
    case jbvNumeric:
        return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
    case jbvBool:
        return pstrdup(v->val.boolean ? "true" : "false");
    case jbvBinary:
        return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
    default:
        return pstrdup("null");
    }
}

}  // namespace kafka_fdw::pg
