// The pipeline worker's rows as row_to_json renders them (format "row"): the
// spec of each column's type from the catalog (DescribeType, once per
// relation), the values by format/row_json.hpp from the columns' text as
// pgoutput sends it.  Postgres zone.
#include "format/json.hpp"
#include "format/row_json.hpp"

#include "cdc/worker.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "utils/typcache.h"
}

#include <string>
#include <vector>

namespace kafka_fdw::cdc::pipeline {

// The C++ side of rendering, reused for every row (the worker's lifetime).
struct RenderBuffers {
    format::RowJsonWriter writer;
    std::string out;
    std::vector<format::JsonField> fields;
};

namespace {

// A composite spec's catalog side (JsonSpec::owner): its fields are the
// non-dropped attributes of rowtype's tuple descriptor with this identifier,
// described again when the type changed.
struct CompositeInfo {
    Oid rowtype;
    uint64 tupdesc_id;
    MemoryContext cxt;  // where the fields are (re)built
};

const format::JsonSpec kToastSpec{format::JsonKind::String};

// '"name":', palloc'd.
char *JsonName(const char *name) {
    size_t len = strlen(name);
    size_t qlen = format::JsonStringLength(name, len);
    char *s = static_cast<char *>(palloc(qlen + 2));
    format::WriteJsonString(s, name, len);
    s[qlen] = ':';
    s[qlen + 1] = '\0';
    return s;
}

void DescribeFields(format::JsonSpec *t) {
    auto *info = static_cast<CompositeInfo *>(t->owner);
    TypeCacheEntry *tc = lookup_type_cache(info->rowtype, TYPECACHE_TUPDESC);
    uint64 id = tc->tupDesc_identifier;
    MemoryContext old = MemoryContextSwitchTo(info->cxt);
    TupleDesc td = lookup_rowtype_tupdesc_copy(info->rowtype, -1);
    info->tupdesc_id = id;
    auto **names = static_cast<char **>(palloc0(sizeof(char *) * Max(1, td->natts)));
    auto *fields = static_cast<format::JsonSpec *>(palloc0(sizeof(format::JsonSpec) * Max(1, td->natts)));
    int n = 0;
    for (int i = 0; i < td->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(td, i);
        if (att->attisdropped) continue;  // record_out and row_to_json skip them
        names[n] = JsonName(NameStr(att->attname));
        DescribeType(&fields[n], att->atttypid, att->atttypmod, info->cxt);
        n++;
    }
    t->nfields = n;
    t->field_names = names;
    t->fields = fields;
    MemoryContextSwitchTo(old);
}

// Describes again the fields of the composite types in t that changed since
// they were described: record_out wrote the value with the type's current
// attributes.  Before a value of t is rendered (the catalog is Postgres'
// side; the rendering, which needs the fields, is the encoder's).
void Refresh(format::JsonSpec *t) {
    switch (t->kind) {
    case format::JsonKind::Array:
    case format::JsonKind::Vector:
        Refresh(const_cast<format::JsonSpec *>(t->elem));  // described here, in our memory
        return;
    case format::JsonKind::Composite: {
        check_stack_depth();
        auto *info = static_cast<CompositeInfo *>(t->owner);
        if (lookup_type_cache(info->rowtype, TYPECACHE_TUPDESC)->tupDesc_identifier != info->tupdesc_id)
            DescribeFields(t);
        for (int i = 0; i < t->nfields; i++) Refresh(const_cast<format::JsonSpec *>(&t->fields[i]));
        return;
    }
    default:
        return;
    }
}

RenderBuffers *Buffers() {
    if (!W->render) {
        MemoryContext cxt = W->cxt;
        KFDW_ENTRY(W->render = pg::OwnBy(cxt, new RenderBuffers()););
    }
    return W->render;
}

// The column whose value row i shows: an unchanged TOASTed value from the
// complete old row when there is one.
const pgo::Column *ValueOf(const pgo::Tuple &tup, int i, const pgo::Tuple *full_old) {
    const pgo::Column *c = &tup[i];
    if (c->kind == 'u' && full_old && i < (int)full_old->size() && (*full_old)[i].kind != 'u') c = &(*full_old)[i];
    return c;
}

}  // namespace

// How values of type typid render; catalog lookups only (under the decoding's
// historic snapshot), no function of the type.  Dates and times are read
// from their ISO text (the worker runs with DateStyle ISO).
void DescribeType(format::JsonSpec *t, Oid typid, int32 typmod, MemoryContext cxt) {
    check_stack_depth();
    int32 basetypmod = typmod;
    Oid base = getBaseTypeAndTypmod(typid, &basetypmod);
    memset(t, 0, sizeof *t);
    switch (base) {
    case BOOLOID:
        t->kind = format::JsonKind::Bool;
        return;
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case FLOAT4OID:
    case FLOAT8OID:
    case NUMERICOID:
        t->kind = format::JsonKind::Number;
        return;
    case DATEOID:
        t->kind = format::JsonKind::Date;
        return;
    case TIMESTAMPOID:
        t->kind = format::JsonKind::Timestamp;
        return;
    case TIMESTAMPTZOID:
        t->kind = format::JsonKind::TimestampTz;
        return;
    case JSONOID:
    case JSONBOID:
        t->kind = format::JsonKind::Json;
        return;
    case INT2VECTOROID:
    case OIDVECTOROID: {
        // arrays for json_categorize_type, but written "1 2 3"
        t->kind = format::JsonKind::Vector;
        auto *elem = static_cast<format::JsonSpec *>(MemoryContextAlloc(cxt, sizeof(format::JsonSpec)));
        DescribeType(elem, base == INT2VECTOROID ? INT2OID : OIDOID, -1, cxt);
        t->elem = elem;
        return;
    }
    default:
        break;
    }
    Oid elemtype = get_element_type(base);
    if (OidIsValid(elemtype)) {
        t->kind = format::JsonKind::Array;
        auto *elem = static_cast<format::JsonSpec *>(MemoryContextAlloc(cxt, sizeof(format::JsonSpec)));
        DescribeType(elem, elemtype, basetypmod, cxt);
        t->elem = elem;
        int16 typlen;
        bool typbyval;
        char typalign;
        Oid ioparam, func;
        get_type_io_data(elemtype, IOFunc_output, &typlen, &typbyval, &typalign, &t->delim, &ioparam, &func);
    } else if (base != RECORDOID && type_is_rowtype(base)) {
        t->kind = format::JsonKind::Composite;
        auto *info = static_cast<CompositeInfo *>(MemoryContextAllocZero(cxt, sizeof(CompositeInfo)));
        info->rowtype = base;
        info->cxt = cxt;
        t->owner = info;
        DescribeFields(t);
    } else {
        // Everything else, built-in or not (enums, ranges, user base types
        // and, unlike row_to_json, types with a cast to json): their text.
        t->kind = format::JsonKind::String;
    }
}

// The row as a JSON object.  Unchanged TOASTed values: from the old row when
// it is complete (REPLICA IDENTITY FULL), else the placeholder, and the
// column is listed in W->toast_cols.
void RenderRow(StringInfo out, RelInfo *rel, const pgo::Tuple &tup, const pgo::Tuple *full_old) {
    W->toast_cols[0] = '\0';
    int n = Min(rel->natts, (int)tup.size());
    for (int i = 0; i < n; i++)
        if (ValueOf(tup, i, full_old)->kind == 't') Refresh(&rel->attrs[i].type);
    RenderBuffers *r = Buffers();
    KFDW_ENTRY({
        r->fields.resize((size_t)n);
        for (int i = 0; i < n; i++) {
            AttrInfo *a = &rel->attrs[i];
            format::JsonField &f = r->fields[i];
            const pgo::Column *c = ValueOf(tup, i, full_old);
            f.name = a->json_name;
            f.name_len = strlen(a->json_name);
            f.null = c->kind == 'n';
            if (c->kind == 'u') {
                f.spec = &kToastSpec;
                f.data = kUnchangedToast;
                f.len = strlen(kUnchangedToast);
                if (W->toast_cols[0]) strlcat(W->toast_cols, ",", sizeof W->toast_cols);
                strlcat(W->toast_cols, a->name, sizeof W->toast_cols);
            } else {
                f.spec = &a->type;
                f.data = c->data.data();
                f.len = c->data.size();
            }
        }
        r->out.clear();
        r->writer.AppendObject(r->out, r->fields.data(), r->fields.size());
    });
    appendBinaryStringInfo(out, r->out.data(), (int)r->out.size());
}

// The key: the key columns as a JSON object; false when the table has none.
bool RenderKey(StringInfo out, RelInfo *rel, const pgo::Tuple &tup) {
    int n = Min(rel->natts, (int)tup.size());
    for (int i = 0; i < n; i++)
        if (rel->attrs[i].key && tup[i].kind == 't') Refresh(&rel->attrs[i].type);
    RenderBuffers *r = Buffers();
    bool any = false;
    KFDW_ENTRY({
        r->fields.clear();
        for (int i = 0; i < n; i++) {
            AttrInfo *a = &rel->attrs[i];
            if (!a->key) continue;
            const pgo::Column &c = tup[i];
            r->fields.push_back({a->json_name, strlen(a->json_name), &a->type, c.kind != 't', c.data.data(),
                                 c.data.size()});
        }
        any = !r->fields.empty();
        r->out.clear();
        if (any) r->writer.AppendObject(r->out, r->fields.data(), r->fields.size());
    });
    if (any) appendBinaryStringInfo(out, r->out.data(), (int)r->out.size());
    return any;
}

}  // namespace kafka_fdw::cdc::pipeline
