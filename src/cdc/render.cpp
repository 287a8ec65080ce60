// The pipeline worker's rows as row_to_json renders them (format "row"),
// from the columns' text as pgoutput sends it, with built-in code only.
// Postgres zone.
#include "format/json.hpp"
#include "format/pg_text.hpp"

#include "cdc/worker.hpp"

extern "C" {
#include "common/jsonapi.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/typcache.h"
}

namespace kafka_fdw::cdc::pipeline {
namespace {
void DescribeFields(JsonType *t);
}  // namespace

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

namespace {

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

}  // namespace

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

}  // namespace kafka_fdw::cdc::pipeline
