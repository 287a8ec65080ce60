// Debezium-compatible change events (see debezium.hpp): a relation's
// description, i.e. each column's encoding and the Kafka Connect schemas of
// the key and the envelope, built once per relation.  Postgres zone.
#include "cdc/debezium_column.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "access/table.h"
#include "access/transam.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/catcache.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include <cstring>

namespace kafka_fdw::cdc::dbz {

namespace pgo = format::pgoutput;

namespace {

// Avro-style names, as Debezium's schema name adjuster: [A-Za-z0-9_] and
// dots, never a leading digit in a segment.
char *AvroName(const char *s) {
    char *n = pstrdup(s);
    bool seg_start = true;
    for (char *p = n; *p; p++) {
        if (*p == '.') {
            seg_start = true;
            continue;
        }
        if (!(isalnum((unsigned char)*p) || *p == '_') || (seg_start && isdigit((unsigned char)*p))) *p = '_';
        seg_start = false;
    }
    return n;
}

Kind KindOf(Oid base, int32 typmod) {
    switch (base) {
    case BOOLOID: return Kind::Bool;
    case INT2OID: return Kind::Int16;
    case INT4OID: return Kind::Int32;
    case INT8OID:
    case OIDOID: return Kind::Int64;
    case FLOAT4OID: return Kind::Float32;
    case FLOAT8OID: return Kind::Float64;
    case NUMERICOID: return typmod >= (int32)VARHDRSZ ? Kind::Decimal : Kind::VarDecimal;
    case DATEOID: return Kind::Date;
    case TIMEOID: return typmod >= 0 && typmod <= 3 ? Kind::TimeMs : Kind::TimeUs;
    case TIMESTAMPOID: return typmod >= 0 && typmod <= 3 ? Kind::TimestampMs : Kind::TimestampUs;
    case TIMESTAMPTZOID: return Kind::ZonedTimestamp;
    case TIMETZOID: return Kind::ZonedTime;
    case INTERVALOID: return Kind::Interval;
    case UUIDOID: return Kind::Uuid;
    case JSONOID:
    case JSONBOID: return Kind::Json;
    case XMLOID: return Kind::Xml;
    case BYTEAOID: return Kind::Bytes;
    default: break;
    }
    if (type_is_enum(base)) return Kind::Enum;
    return Kind::String;
}

// The enum's labels in their order, comma-separated (Enum's "allowed").
struct EnumLabel {
    float4 order;
    const char *label;
};
int CompareLabels(const void *a, const void *b) {
    float4 x = static_cast<const EnumLabel *>(a)->order, y = static_cast<const EnumLabel *>(b)->order;
    return x < y ? -1 : x > y ? 1 : 0;
}
char *EnumLabels(Oid typid) {
    CatCList *list = SearchSysCacheList1(ENUMTYPOIDNAME, ObjectIdGetDatum(typid));
    auto *labels = static_cast<EnumLabel *>(palloc(sizeof(EnumLabel) * Max(1, list->n_members)));
    for (int i = 0; i < list->n_members; i++) {
        auto *e = (Form_pg_enum)GETSTRUCT(&list->members[i]->tuple);
        labels[i] = {e->enumsortorder, pstrdup(NameStr(e->enumlabel))};
    }
    qsort(labels, list->n_members, sizeof(EnumLabel), CompareLabels);
    StringInfoData s;
    initStringInfo(&s);
    for (int i = 0; i < list->n_members; i++) {
        if (i > 0) appendStringInfoChar(&s, ',');
        appendStringInfoString(&s, labels[i].label);
    }
    ReleaseSysCacheList(list);
    return s.data;
}

// The field schema of a column (JsonConverter's key order: type, fields or
// items, optional, name, version, doc, parameters).
void AppendSchema(StringInfo s, const Column *c, Oid base, int32 typmod, bool optional) {
    const char *opt = optional ? "true" : "false";
    auto semantic = [&](const char *type, const char *name) {
        appendStringInfo(s, "{\"type\":\"%s\",\"optional\":%s,\"name\":\"%s\",\"version\":1", type, opt, name);
    };
    switch (c->kind) {
    case Kind::Bool: appendStringInfo(s, "{\"type\":\"boolean\",\"optional\":%s", opt); break;
    case Kind::Int16: appendStringInfo(s, "{\"type\":\"int16\",\"optional\":%s", opt); break;
    case Kind::Int32: appendStringInfo(s, "{\"type\":\"int32\",\"optional\":%s", opt); break;
    case Kind::Int64: appendStringInfo(s, "{\"type\":\"int64\",\"optional\":%s", opt); break;
    case Kind::Float32: appendStringInfo(s, "{\"type\":\"float\",\"optional\":%s", opt); break;
    case Kind::Float64: appendStringInfo(s, "{\"type\":\"double\",\"optional\":%s", opt); break;
    case Kind::String: appendStringInfo(s, "{\"type\":\"string\",\"optional\":%s", opt); break;
    case Kind::Decimal: {
        int32 t = typmod - VARHDRSZ;
        semantic("bytes", "org.apache.kafka.connect.data.Decimal");
        appendStringInfo(s, ",\"parameters\":{\"scale\":\"%d\",\"connect.decimal.precision\":\"%d\"}",
                         (int)(t & 0xffff), (int)((t >> 16) & 0xffff));
        break;
    }
    case Kind::VarDecimal:
        appendStringInfo(s,
                         "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":"
                         "\"scale\"},{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\"optional\":%s,"
                         "\"name\":\"io.debezium.data.VariableScaleDecimal\",\"version\":1,\"doc\":\"Variable "
                         "scaled decimal\"",
                         opt);
        break;
    case Kind::Date: semantic("int32", "io.debezium.time.Date"); break;
    case Kind::TimeMs: semantic("int32", "io.debezium.time.Time"); break;
    case Kind::TimeUs: semantic("int64", "io.debezium.time.MicroTime"); break;
    case Kind::TimestampMs: semantic("int64", "io.debezium.time.Timestamp"); break;
    case Kind::TimestampUs: semantic("int64", "io.debezium.time.MicroTimestamp"); break;
    case Kind::ZonedTimestamp: semantic("string", "io.debezium.time.ZonedTimestamp"); break;
    case Kind::ZonedTime: semantic("string", "io.debezium.time.ZonedTime"); break;
    case Kind::Interval: semantic("int64", "io.debezium.time.MicroDuration"); break;
    case Kind::Uuid: semantic("string", "io.debezium.data.Uuid"); break;
    case Kind::Json: semantic("string", "io.debezium.data.Json"); break;
    case Kind::Xml: semantic("string", "io.debezium.data.Xml"); break;
    case Kind::Enum: {
        semantic("string", "io.debezium.data.Enum");
        StringInfoData allowed;
        initStringInfo(&allowed);
        escape_json(&allowed, EnumLabels(base));
        appendStringInfo(s, ",\"parameters\":{\"allowed\":%s}", allowed.data);
        break;
    }
    case Kind::Bytes: appendStringInfo(s, "{\"type\":\"bytes\",\"optional\":%s", opt); break;
    case Kind::Array:
        appendStringInfo(s, "{\"type\":\"array\",\"items\":%s,\"optional\":%s", c->elem->schema, opt);
        break;
    }
}

void Init(Column *c, Oid typid, int32 typmod, bool optional, MemoryContext cxt);

// An array is read from its text (array_out's, as pgoutput sends it), one
// element's text after the other, never through array_in: that would call
// the element type's input function, which for a domain evaluates its CHECK
// constraints (user code, which must not run while the WAL is decoded) and
// for a composite reads every attribute the same way.
void InitArray(Column *c, Oid base, MemoryContext cxt) {
    Oid elem = get_element_type(base);
    c->elem = static_cast<Column *>(MemoryContextAllocZero(cxt, sizeof(Column)));
    Init(c->elem, elem, -1, true, cxt);
    if (c->elem->kind == Kind::Array) c->elem->kind = Kind::String;  // no nested arrays here
    int16 typlen;
    bool typbyval;
    char typalign;
    Oid ioparam, func;
    get_type_io_data(elem, IOFunc_output, &typlen, &typbyval, &typalign, &c->delim, &ioparam, &func);
}

void Init(Column *c, Oid typid, int32 typmod, bool optional, MemoryContext cxt) {
    int32 basetypmod = typmod;
    Oid base = getBaseTypeAndTypmod(typid, &basetypmod);
    c->typmod = basetypmod;
    bool is_array = OidIsValid(get_element_type(base)) && base != INT2VECTOROID && base != OIDVECTOROID;
    c->kind = is_array ? Kind::Array : KindOf(base, basetypmod);
    switch (c->kind) {
    case Kind::Date: case Kind::TimeMs: case Kind::TimeUs: case Kind::TimestampMs: case Kind::TimestampUs:
    case Kind::ZonedTimestamp: case Kind::ZonedTime: case Kind::Interval: case Kind::Bytes: {
        // built-in base types (KindOf): their built-in input functions
        Oid infn;
        getTypeInputInfo(base, &infn, &c->ioparam);
        fmgr_info_cxt(infn, &c->infunc, cxt);
        break;
    }
    default:
        break;
    }
    if (c->kind == Kind::Array) InitArray(c, base, cxt);
    StringInfoData s;
    initStringInfo(&s);
    AppendSchema(&s, c, base, basetypmod, optional);
    appendStringInfoChar(&s, '}');
    c->schema = s.data;
}

// Whether a function is not one of PostgreSQL's own internal (C) functions
// (those initdb makes from the catalog's data files): an extension's or a
// user's, or one of PostgreSQL's own in SQL (round(numeric), lpad(text,int),
// log(numeric), ...): fmgr_sql needs an active snapshot, and logical
// decoding has none (a SIGSEGV in GetActiveSnapshot, the whole server
// restarted, again at every start of the worker).
bool NotBuiltIn(Oid funcid, void *) {
    if (funcid >= FirstGenbkiObjectId) return true;
    HeapTuple tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
    if (!HeapTupleIsValid(tup)) return true;
    bool internal = reinterpret_cast<Form_pg_proc>(GETSTRUCT(tup))->prolang == INTERNALlanguageId;
    ReleaseSysCache(tup);
    return !internal;
}

// Whether evaluating an expression could run anything but PostgreSQL's own
// functions: a function, operator or type input/output of an extension or a
// user, or a domain's constraints.
bool RunsUserCode(Node *node, void *ctx) {
    if (node == nullptr) return false;
    if (IsA(node, CoerceToDomain)) return true;
    if (check_functions_in_node(node, NotBuiltIn, ctx)) return true;
    return pg::WalkExpression(node, RunsUserCode, ctx);
}

// The largest default text put in a schema: the schema is in every event
// (twice in the value), so a large default would make every event large.
constexpr size_t kMaxDefaultText = 4096;

// Whether an expression is a literal, or casts of one: what Debezium
// exports as a default (it reads the literal of the column's default).
// Function calls other than casts (repeat('x', 1000000000), round(2.5)) are
// left out: evaluating them could take any time and memory in the worker.
bool LiteralOrCast(Node *node) {
    if (IsA(node, Const)) return true;
    if (IsA(node, RelabelType)) return LiteralOrCast(reinterpret_cast<Node *>(castNode(RelabelType, node)->arg));
    if (IsA(node, CoerceViaIO)) return LiteralOrCast(reinterpret_cast<Node *>(castNode(CoerceViaIO, node)->arg));
    if (IsA(node, FuncExpr)) {
        FuncExpr *f = castNode(FuncExpr, node);
        if (f->funcformat != COERCE_IMPLICIT_CAST && f->funcformat != COERCE_EXPLICIT_CAST) return false;
        if (f->args == NIL || !LiteralOrCast(static_cast<Node *>(linitial(f->args)))) return false;
        // a length coercion's typmod and explicit flag
        for (int i = 1; i < list_length(f->args); i++)
            if (!IsA(list_nth(f->args, i), Const)) return false;
        // char(n) and bit(n) pad to their length: none that would build
        // more text than a default may have (evaluated, it would be built
        // only to be dropped)
        if ((f->funcresulttype == BPCHAROID || f->funcresulttype == BITOID || f->funcresulttype == VARBITOID) &&
            list_length(f->args) >= 2) {
            Const *typmod = castNode(Const, list_nth(f->args, 1));
            if (!typmod->constisnull && DatumGetInt32(typmod->constvalue) > (int32)kMaxDefaultText + VARHDRSZ)
                return false;
        }
        return true;
    }
    return false;
}

// The text of a column's default when it is a constant, as Debezium exports
// defaults: a literal or a cast of one (numeric(5,2) DEFAULT 7 is 7.00),
// evaluated here once per relation with PostgreSQL's own internal functions.
// nullptr for anything else: now(), nextval(), other functions and
// operators, anything of an extension or a user (no user code runs while the
// WAL is decoded), a default that fails (a cast that overflows: every INSERT
// using it fails too), or one longer than kMaxDefaultText.  A domain's
// constraints are not evaluated, as for values (the default was checked when
// a row used it).  From the catalog as of the change (the historic
// snapshot).
char *ConstantDefaultText(::Relation r, AttrNumber attnum) {
    TupleConstr *constr = RelationGetDescr(r)->constr;
    if (constr == nullptr) return nullptr;
    const char *adbin = nullptr;
    for (int i = 0; i < constr->num_defval; i++)
        if (constr->defval[i].adnum == attnum) adbin = constr->defval[i].adbin;
    if (adbin == nullptr) return nullptr;
    Node *expr = static_cast<Node *>(stringToNode(adbin));
    for (;;) {
        if (IsA(expr, RelabelType)) expr = reinterpret_cast<Node *>(castNode(RelabelType, expr)->arg);
        else if (IsA(expr, CoerceToDomain)) expr = reinterpret_cast<Node *>(castNode(CoerceToDomain, expr)->arg);
        else break;
    }
    if (!LiteralOrCast(expr) || RunsUserCode(expr, nullptr) || contain_mutable_functions(expr)) return nullptr;
    // Evaluated in a subtransaction (a cast can fail with any SQLSTATE:
    // 'NaN'::numeric::int with 0A000, a jsonpath literal with 42601; every
    // failure but a cancel or a shutdown is "no default") and a scratch
    // memory context (what it built goes with it; only the text is kept).
    MemoryContext cxt = CurrentMemoryContext;
    MemoryContext scratch = AllocSetContextCreate(cxt, "kafka_fdw default", ALLOCSET_DEFAULT_SIZES);
    char *text = nullptr;
    ErrorData *error = pg::InSubxact(
        [expr, cxt, scratch, &text] {
            MemoryContextSwitchTo(scratch);
            Node *folded = eval_const_expressions(nullptr, expr);
            while (IsA(folded, RelabelType)) folded = reinterpret_cast<Node *>(castNode(RelabelType, folded)->arg);
            if (IsA(folded, Const) && !castNode(Const, folded)->constisnull) {
                Const *k = castNode(Const, folded);
                Oid out;
                bool varlena;
                getTypeOutputInfo(k->consttype, &out, &varlena);
                if (!NotBuiltIn(out, nullptr)) {
                    char *t = OidOutputFunctionCall(out, k->constvalue);
                    if (strlen(t) <= kMaxDefaultText) text = MemoryContextStrdup(cxt, t);
                }
            }
        },
        [](const ErrorData *e) {
            return e->sqlerrcode == ERRCODE_QUERY_CANCELED || e->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
                   e->sqlerrcode == ERRCODE_OUT_OF_MEMORY;
        });
    if (error) FreeErrorData(error);  // no default (text was not set)
    MemoryContextDelete(scratch);
    return text;
}

}  // namespace

Relation *Describe(Oid relid, const pgo::Relation &msg, const bool *key, const Options &o, MemoryContext cxt) {
    MemoryContext old = MemoryContextSwitchTo(cxt);
    auto *rel = static_cast<Relation *>(palloc0(sizeof(Relation)));
    rel->natts = (int)msg.attrs.size();
    rel->cols = static_cast<Column *>(palloc0(sizeof(Column) * Max(1, rel->natts)));

    // NOT NULL and constant defaults, from the catalog as of the change
    // (historic snapshot).
    bool *notnull = static_cast<bool *>(palloc0(sizeof(bool) * Max(1, rel->natts)));
    char **defaults = static_cast<char **>(palloc0(sizeof(char *) * Max(1, rel->natts)));
    ::Relation pgrel = RelationIdGetRelation(relid);
    if (RelationIsValid(pgrel)) {
        TupleDesc td = RelationGetDescr(pgrel);
        for (int i = 0; i < rel->natts; i++)
            for (int a = 0; a < td->natts; a++) {
                Form_pg_attribute att = TupleDescAttr(td, a);
                if (!att->attisdropped && strcmp(NameStr(att->attname), msg.attrs[i].name.c_str()) == 0) {
                    notnull[i] = att->attnotnull;
                    if (att->atthasdef && !att->attgenerated) defaults[i] = ConstantDefaultText(pgrel, att->attnum);
                }
            }
        RelationClose(pgrel);
    }

    StringInfoData fields, keyfields;
    initStringInfo(&fields);
    initStringInfo(&keyfields);
    for (int i = 0; i < rel->natts; i++) {
        Column *c = &rel->cols[i];
        const pgo::Attribute &a = msg.attrs[i];
        StringInfoData jn;
        initStringInfo(&jn);
        escape_json(&jn, a.name.c_str());
        appendStringInfoChar(&jn, ':');
        c->json_name = jn.data;
        c->key = key[i];
        c->notnull = notnull[i] || key[i];
        Init(c, a.type_oid, a.typmod, !c->notnull, cxt);
        if (defaults[i]) {
            // Connect's JsonConverter writes "default" last in a field's schema
            StringInfoData d;
            initStringInfo(&d);
            AppendColumnValue(&d, c, defaults[i], (int)strlen(defaults[i]));
            if (strcmp(d.data, "null") != 0) {
                c->default_json = d.data;
                c->schema[strlen(c->schema) - 1] = '\0';
                c->schema = psprintf("%s,\"default\":%s}", c->schema, d.data);
            }
        }
        // "...}" + ',"field":"name"}'
        StringInfo dst[2] = {&fields, c->key ? &keyfields : nullptr};
        for (StringInfo d : dst) {
            if (!d) continue;
            if (d->len > 0) appendStringInfoChar(d, ',');
            appendBinaryStringInfo(d, c->schema, (int)strlen(c->schema) - 1);
            appendStringInfoString(d, ",\"field\":");
            escape_json(d, a.name.c_str());
            appendStringInfoChar(d, '}');
        }
        if (c->key) rel->has_key = true;
    }

    char *base = AvroName(psprintf("%s.%s.%s", o.prefix, msg.nspname.c_str(), msg.relname.c_str()));
    if (o.schemas) {
        rel->key_head = psprintf("{\"schema\":{\"type\":\"struct\",\"fields\":[%s],\"optional\":false,\"name\":\"%s.Key\"},"
                                 "\"payload\":",
                                 keyfields.data, base);
        StringInfoData v;
        initStringInfo(&v);
        appendStringInfoString(&v, "{\"schema\":{\"type\":\"struct\",\"fields\":[");
        for (const char *f : {"before", "after"})
            appendStringInfo(&v, "{\"type\":\"struct\",\"fields\":[%s],\"optional\":true,\"name\":\"%s.Value\",\"field\":\"%s\"},",
                             fields.data, base, f);
        appendStringInfoString(
            &v,
            "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
            "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},{\"type\":\"string\",\"optional\":false,"
            "\"field\":\"name\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},{\"type\":\"string\","
            "\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":{\"allowed\":"
            "\"true,last,false,incremental\"},\"default\":\"false\",\"field\":\"snapshot\"},{\"type\":\"string\","
            "\"optional\":false,\"field\":\"db\"},{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
            "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},{\"type\":\"int64\",\"optional\":true,"
            "\"field\":\"ts_ns\"},{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},{\"type\":\"string\","
            "\"optional\":false,\"field\":\"table\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"
            "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},{\"type\":\"int64\",\"optional\":true,\"field\":"
            "\"xmin\"}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"field\":\"source\"},"
            "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},{\"type\":"
            "\"int64\",\"optional\":false,\"field\":\"total_order\"},{\"type\":\"int64\",\"optional\":false,\"field\":"
            "\"data_collection_order\"}],\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":"
            "\"transaction\"},{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},{\"type\":\"int64\","
            "\"optional\":true,\"field\":\"ts_ms\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
            "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}],\"optional\":false,");
        appendStringInfo(&v, "\"name\":\"%s.Envelope\",\"version\":2},\"payload\":", base);
        rel->value_head = v.data;
    } else {
        rel->key_head = pstrdup("");
        rel->value_head = pstrdup("");
    }
    StringInfoData s;
    initStringInfo(&s);
    appendStringInfoString(&s, ",\"source\":{\"version\":\"kafka_fdw-0.1.0\",\"connector\":\"postgresql\",\"name\":");
    escape_json(&s, o.prefix);
    appendStringInfoString(&s, ",\"ts_ms\":");
    rel->source_head = s.data;
    initStringInfo(&s);
    appendStringInfoString(&s, ",\"db\":");
    escape_json(&s, o.dbname);
    appendStringInfoString(&s, ",\"sequence\":");
    rel->source_db = s.data;
    initStringInfo(&s);
    appendStringInfoString(&s, ",\"schema\":");
    escape_json(&s, msg.nspname.c_str());
    appendStringInfoString(&s, ",\"table\":");
    escape_json(&s, msg.relname.c_str());
    appendStringInfoString(&s, ",\"txId\":");
    rel->source_table = s.data;
    rel->collection = psprintf("%s.%s", msg.nspname.c_str(), msg.relname.c_str());
    MemoryContextSwitchTo(old);
    return rel;
}

}  // namespace kafka_fdw::cdc::dbz
