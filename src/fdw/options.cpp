// Option validation (the FDW validator) and parsing.
//
// SERVER: `brokers` (required), kafka_fdw's own options, and any public
// librdkafka property by its own name, checked against librdkafka so a typo
// fails at CREATE/ALTER time.  USER MAPPING: `user`, `password` and public
// sasl.* / ssl.* properties.  FOREIGN TABLE and column: kafka_fdw's own
// options only.  Hidden librdkafka properties are refused for everyone
// (kafka::Config::IsPublic); properties that load code, run commands or touch
// server files are accepted only from superusers (kafka::Config::SuperuserOnly).
#include "kafka/config.hpp"

#include "fdw/options.hpp"
#include "pg/bridge.hpp"

#include <cstring>

using kafka_fdw::kafka::Config;

namespace kafka_fdw::fdw {

namespace {

enum OptKind { kBool, kInt, kString, kChar, kEnum };

struct FdwOption {
    const char *name;
    Oid context;
    OptKind kind;
    const char *values;  // for kEnum: '|'-separated
    const char *note;    // shown in docs/foreign-tables.md; "accepted for compatibility" etc.
};

// kafka_fdw's own options.  Table-level options marked with the server's
// context too can be set on the server as a default for its tables.
const FdwOption kOptions[] = {
    {"brokers", ForeignServerRelationId, kString, nullptr, nullptr},
    {"partitioner", ForeignServerRelationId, kEnum,
     "murmur2_random|murmur2|consistent_random|consistent|fnv1a_random|fnv1a|random", nullptr},
    {"isolation_level", ForeignServerRelationId, kEnum, "read_committed|read_uncommitted", nullptr},
    {"transactional", ForeignServerRelationId, kBool, nullptr, nullptr},

    {"topic", ForeignTableRelationId, kString, nullptr, nullptr},
    {"format", ForeignTableRelationId, kEnum, "json|csv|text|bytea", nullptr},
    {"strict", ForeignTableRelationId, kBool, nullptr, nullptr},
    {"ignore_junk", ForeignTableRelationId, kBool, nullptr, nullptr},
    {"batch_size", ForeignTableRelationId, kInt, nullptr, nullptr},
    {"buffer_delay", ForeignTableRelationId, kInt, nullptr, nullptr},
    // the older kafka_fdw's planning hint: accepted, not needed (the
    // partitions are read from the broker's metadata)
    {"num_partitions", ForeignTableRelationId, kInt, nullptr, nullptr},
    {"delimiter", ForeignTableRelationId, kChar, nullptr, nullptr},
    {"quote", ForeignTableRelationId, kChar, nullptr, nullptr},
    {"escape", ForeignTableRelationId, kChar, nullptr, nullptr},
    {"null", ForeignTableRelationId, kString, nullptr, nullptr},
    {"partitioner", ForeignTableRelationId, kEnum,
     "murmur2_random|murmur2|consistent_random|consistent|fnv1a_random|fnv1a|random", nullptr},
    {"isolation_level", ForeignTableRelationId, kEnum, "read_committed|read_uncommitted", nullptr},
    {"readonly", ForeignTableRelationId, kBool, nullptr, nullptr},
    {"tombstone_on_null", ForeignTableRelationId, kBool, nullptr, nullptr},
    {"transactional", ForeignTableRelationId, kBool, nullptr, nullptr},
    {"group", ForeignTableRelationId, kString, nullptr, nullptr},
    {"group_start", ForeignTableRelationId, kEnum, "earliest|latest", nullptr},
    {"skip_locked", ForeignTableRelationId, kBool, nullptr, nullptr},
    {"on_gap", ForeignTableRelationId, kEnum, "warning|error", nullptr},

    {"partition", AttributeRelationId, kBool, nullptr, nullptr},
    {"offset", AttributeRelationId, kBool, nullptr, nullptr},
    {"key", AttributeRelationId, kBool, nullptr, nullptr},
    {"timestamp", AttributeRelationId, kBool, nullptr, nullptr},
    {"headers", AttributeRelationId, kBool, nullptr, nullptr},
    {"value", AttributeRelationId, kBool, nullptr, nullptr},
    {"junk", AttributeRelationId, kBool, nullptr, nullptr},
    {"junk_error", AttributeRelationId, kBool, nullptr, nullptr},
    {"json", AttributeRelationId, kString, nullptr, nullptr},

    {"user", UserMappingRelationId, kString, nullptr, nullptr},
    {"password", UserMappingRelationId, kString, nullptr, nullptr},
};

const FdwOption *FindOption(const char *name, Oid context) {
    for (const auto &o : kOptions)
        if (o.context == context && strcmp(o.name, name) == 0) return &o;
    return nullptr;
}

const char *ContextName(Oid context) {
    switch (context) {
    case ForeignServerRelationId:
        return "server";
    case ForeignTableRelationId:
        return "foreign table";
    case AttributeRelationId:
        return "column";
    case UserMappingRelationId:
        return "user mapping";
    default:
        return "foreign-data wrapper";
    }
}

// The errhint that lists what is valid in a context.
char *ValidOptionsHint(Oid context) {
    StringInfoData buf;
    initStringInfo(&buf);
    for (const auto &o : kOptions) {
        if (o.context != context) continue;
        appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", o.name);
    }
    if (context == ForeignServerRelationId)
        appendStringInfoString(&buf, ", and any public librdkafka property by its own name (e.g. 'compression.type')");
    if (context == UserMappingRelationId)
        appendStringInfoString(&buf, ", and public sasl.* or ssl.* librdkafka properties");
    if (buf.len == 0) return psprintf("There are no valid options in this context.");
    return psprintf("Valid options in this context: %s.", buf.data);
}

void CheckValue(const FdwOption *o, DefElem *def) {
    const char *val = defGetString(def);
    switch (o->kind) {
    case kBool: {
        bool b;
        if (!parse_bool(val, &b))
            ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
                            errmsg("option \"%s\" requires a Boolean value", o->name),
                            errhint("Use 'true' or 'false'.")));
        break;
    }
    case kInt: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || *end || end == val || v <= 0 || v > INT_MAX)
            ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
                            errmsg("option \"%s\" requires a positive integer, got \"%s\"", o->name, val)));
        break;
    }
    case kChar:
        if (strlen(val) != 1)
            ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
                            errmsg("option \"%s\" must be a single one-byte character", o->name)));
        break;
    case kEnum: {
        bool ok = false;
        const char *p = o->values;
        size_t n = strlen(val);
        while (p && *p) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == n && strncmp(p, val, n) == 0) ok = true;
            p = bar ? bar + 1 : nullptr;
        }
        if (!ok) {
            char *list = pstrdup(o->values);
            for (char *c = list; *c; c++)
                if (*c == '|') *c = ',';
            ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
                            errmsg("invalid value for option \"%s\": \"%s\"", o->name, val),
                            errhint("Valid values: %s.", list)));
        }
        break;
    }
    case kString:
        if (strcmp(o->name, "brokers") == 0 && val[0] == '\0')
            ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
                            errmsg("option \"brokers\" must not be empty")));
        break;
    }
}

// Checks a librdkafka property given as an option, in this order:
//  1. the name: only public properties (kafka::Config::IsPublic, what
//     rd_kafka_conf_properties_show prints) that kafka_fdw does not set
//     itself.  Hidden properties are refused for everyone, superusers too:
//     ut_handle_ProduceResponse takes the address of its value string as a
//     function pointer and crashed the backend (and so the cluster).
//  2. the privilege: properties that load code, run commands, read server
//     files or fetch URLs are for superusers only.
//  3. the value, by librdkafka on a scratch configuration.
// 1 and 2 come before anything reaches librdkafka: it acts on some
// properties while merely setting them (plugin.library.paths dlopen()s).
void CheckLibrdkafkaProperty(DefElem *def, Oid context) {
    char reason[600];
    bool superuser_only = false;
    reason[0] = '\0';
    KFDW_ENTRY({
        std::string r = Config::Refusal(def->defname);
        snprintf(reason, sizeof reason, "%s", r.c_str());
        superuser_only = Config::IsSuperuserOnly(def->defname);
    });
    if (reason[0])
        ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
                        errmsg("invalid %s option \"%s\"", ContextName(context), def->defname),
                        errdetail("%s.", reason), errhint("%s", ValidOptionsHint(context))));
    if (superuser_only && !superuser())
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("only superusers may set librdkafka property \"%s\"", def->defname),
                        errdetail("This property can load code, run commands or access files on the database server.")));
    const char *val = defGetString(def);
    KFDW_ENTRY({
        std::string r = Config::Check(def->defname, val);
        snprintf(reason, sizeof reason, "%s", r.c_str());
    });
    if (reason[0])
        ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
                        errmsg("invalid %s option \"%s\"", ContextName(context), def->defname),
                        errdetail("librdkafka: %s", reason), errhint("%s", ValidOptionsHint(context))));
}

bool IsCredentialProperty(const char *name) {
    return strncmp(name, "sasl.", 5) == 0 || strncmp(name, "ssl.", 4) == 0 ||
           strncmp(name, "ssl_", 4) == 0;
}

}  // namespace

// Booleans as the validator accepts them (parse_bool: true/false/yes/no/on/off/1/0).
bool OptBool(DefElem *def) {
    bool b = false;
    (void)parse_bool(defGetString(def), &b);
    return b;
}

bool IsServerFdwOption(const char *name) { return FindOption(name, ForeignServerRelationId) != nullptr; }

const char *FormatName(Format f) {
    switch (f) {
    case Format::Json:
        return "json";
    case Format::Csv:
        return "csv";
    case Format::Text:
        return "text";
    case Format::Bytea:
        return "bytea";
    }
    return "?";
}

}  // namespace kafka_fdw::fdw

using namespace kafka_fdw::fdw;

extern "C" {
PG_FUNCTION_INFO_V1(kafka_fdw_validator);
Datum kafka_fdw_validator(PG_FUNCTION_ARGS);
}

Datum kafka_fdw_validator(PG_FUNCTION_ARGS) {
    List *options = untransformRelOptions(PG_GETARG_DATUM(0));
    Oid context = PG_GETARG_OID(1);
    bool has_brokers = false;
    int roles = 0;
    ListCell *lc;

    foreach (lc, options) {
        DefElem *def = (DefElem *)lfirst(lc);
        const FdwOption *o = FindOption(def->defname, context);
        if (o) {
            CheckValue(o, def);
            if (strcmp(def->defname, "brokers") == 0) has_brokers = true;
            if (context == AttributeRelationId && o->kind == kBool && OptBool(def)) roles++;
            continue;
        }
        if (context == ForeignServerRelationId) {
            CheckLibrdkafkaProperty(def, context);
            continue;
        }
        if (context == UserMappingRelationId && IsCredentialProperty(def->defname)) {
            CheckLibrdkafkaProperty(def, context);
            continue;
        }
        ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
                        errmsg("invalid %s option \"%s\"", ContextName(context), def->defname),
                        errhint("%s", ValidOptionsHint(context))));
    }
    if (context == ForeignServerRelationId && !has_brokers)
        ereport(ERROR, (errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
                        errmsg("option \"brokers\" is required for a kafka_fdw server"),
                        errhint("Add OPTIONS (brokers 'host:9092[,host2:9092...]').")));
    if (context == AttributeRelationId && roles > 1)
        ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
                        errmsg("a column can have only one of the options partition, offset, key, "
                               "timestamp, headers, value, junk, junk_error")));
    PG_RETURN_VOID();
}

namespace kafka_fdw::fdw {


TableDef *GetTableDef(Oid relid) {
    ForeignTable *ft = GetForeignTable(relid);
    ForeignServer *server = GetForeignServer(ft->serverid);
    TableDef *t = (TableDef *)palloc0(sizeof(TableDef));
    t->relid = relid;
    t->serverid = ft->serverid;
    t->format = Format::Json;
    t->batch_size = 1;
    t->csv_delimiter = ',';
    t->csv_quote = '"';
    t->csv_escape = '"';
    t->csv_null = "";
    t->isolation_level = "read_committed";
    t->partitioner = "murmur2_random";
    bool escape_set = false;

    // Server-level defaults first, then the table's own options.
    List *all = list_concat(list_copy(server->options), ft->options);
    ListCell *lc;
    foreach (lc, all) {
        DefElem *d = (DefElem *)lfirst(lc);
        const char *n = d->defname;
        if (strcmp(n, "topic") == 0) t->topic = defGetString(d);
        else if (strcmp(n, "format") == 0) {
            const char *f = defGetString(d);
            t->format = strcmp(f, "csv") == 0    ? Format::Csv
                        : strcmp(f, "text") == 0 ? Format::Text
                        : strcmp(f, "bytea") == 0 ? Format::Bytea
                                                  : Format::Json;
        } else if (strcmp(n, "strict") == 0) t->strict = OptBool(d);
        else if (strcmp(n, "ignore_junk") == 0) t->ignore_junk = OptBool(d);
        else if (strcmp(n, "batch_size") == 0) t->batch_size = atoi(defGetString(d));
        else if (strcmp(n, "delimiter") == 0) t->csv_delimiter = defGetString(d)[0];
        else if (strcmp(n, "quote") == 0) t->csv_quote = defGetString(d)[0];
        else if (strcmp(n, "escape") == 0) {
            t->csv_escape = defGetString(d)[0];
            escape_set = true;
        } else if (strcmp(n, "null") == 0) t->csv_null = defGetString(d);
        else if (strcmp(n, "isolation_level") == 0) t->isolation_level = defGetString(d);
        else if (strcmp(n, "partitioner") == 0) {
            t->partitioner = defGetString(d);
            t->partitioner_set = true;
        }
        else if (strcmp(n, "readonly") == 0) t->readonly = OptBool(d);
        else if (strcmp(n, "tombstone_on_null") == 0) t->tombstone_on_null = OptBool(d);
        else if (strcmp(n, "transactional") == 0) t->transactional = OptBool(d);
        else if (strcmp(n, "group") == 0) t->group = defGetString(d);
        else if (strcmp(n, "group_start") == 0) t->group_latest = strcmp(defGetString(d), "latest") == 0;
        else if (strcmp(n, "skip_locked") == 0) t->skip_locked = OptBool(d);
        else if (strcmp(n, "on_gap") == 0) t->gap_error = strcmp(defGetString(d), "error") == 0;
    }
    if (!escape_set) t->csv_escape = t->csv_quote;
    if (!t->topic) t->topic = get_rel_name(relid);

    Relation rel = table_open(relid, AccessShareLock);
    TupleDesc desc = RelationGetDescr(rel);
    t->columns = (ColumnDef *)palloc0(sizeof(ColumnDef) * desc->natts);
    for (int i = 0; i < desc->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped) continue;
        ColumnDef *c = &t->columns[t->ncolumns++];
        c->attnum = att->attnum;
        c->name = pstrdup(NameStr(att->attname));
        c->json_name = c->name;
        c->type = att->atttypid;
        c->typmod = att->atttypmod;
        c->role = ColumnRole::Payload;
        c->payload_index = -1;
        List *copts = GetForeignColumnOptions(relid, att->attnum);
        ListCell *lc2;
        foreach (lc2, copts) {
            DefElem *d = (DefElem *)lfirst(lc2);
            const char *n = d->defname;
            if (strcmp(n, "json") == 0) {
                c->json_name = defGetString(d);
                continue;
            }
            if (!OptBool(d)) continue;
            if (strcmp(n, "partition") == 0) c->role = ColumnRole::Partition;
            else if (strcmp(n, "offset") == 0) c->role = ColumnRole::Offset;
            else if (strcmp(n, "key") == 0) c->role = ColumnRole::Key;
            else if (strcmp(n, "timestamp") == 0) c->role = ColumnRole::Timestamp;
            else if (strcmp(n, "headers") == 0) c->role = ColumnRole::Headers;
            else if (strcmp(n, "value") == 0) c->role = ColumnRole::Value;
            else if (strcmp(n, "junk") == 0) c->role = ColumnRole::Junk;
            else if (strcmp(n, "junk_error") == 0) c->role = ColumnRole::JunkError;
        }
        if (c->role == ColumnRole::Payload) c->payload_index = t->npayload++;
    }
    table_close(rel, AccessShareLock);
    return t;
}

}  // namespace kafka_fdw::fdw
