// IMPORT FOREIGN SCHEMA: one foreign table per topic, with metadata columns
// and payload columns inferred from a bounded sample of messages.
#include "format/infer.hpp"
#include "kafka/consumer.hpp"
#include "kafka/metadata.hpp"

#include "fdw/connection.hpp"
#include "fdw/handler.hpp"
#include "fdw/options.hpp"
#include "pg/bridge.hpp"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace kafka_fdw::fdw {

namespace {

struct ImportedColumn {
    char *name;
    const char *type;
    char *json_name;  // nullptr when the column is named like the member
};

struct ImportedTopic {
    char *topic;
    int format;  // SchemaInferrer::Format
    bool key_binary;
    int ncols;
    ImportedColumn *cols;
    int64 sampled;
    int64 skipped;
};

struct ImportRequest {
    const char *format;  // auto, json, text, bytea
    int sample_size;
    bool latest;
    int nfilter;
    const char **filter;
    bool limit_to;  // else EXCEPT (when nfilter > 0)
};

bool Selected(const ImportRequest *req, const std::string &topic) {
    if (topic.compare(0, 2, "__") == 0) return false;  // Kafka's internal topics
    if (req->nfilter == 0) return true;
    bool listed = false;
    for (int i = 0; i < req->nfilter; i++)
        if (topic == req->filter[i]) listed = true;
    return req->limit_to ? listed : !listed;
}

// C++ zone: sample one topic and infer its table.
void SampleTopicCpp(const ClientSpec *spec, const ImportRequest *req, const std::string &topic,
                    ImportedTopic *out) {
    kafka::Client &meta = MetadataClient(spec);
    std::vector<kafka::Watermarks> wm = kafka::TopicWatermarks(meta, topic, pg::g_timeout_ms);
    int nonempty = 0;
    for (const auto &w : wm)
        if (w.high > w.low) nonempty++;
    std::vector<kafka::PartitionRange> ranges;
    int64_t per = nonempty ? (req->sample_size + nonempty - 1) / nonempty : 0;
    for (const auto &w : wm) {
        if (w.high <= w.low) continue;
        int64_t start = req->latest ? std::max(w.low, w.high - per) : w.low;
        int64_t end = req->latest ? w.high : std::min(w.high, w.low + per);
        ranges.push_back({w.partition, start, end});
    }
    format::SchemaInferrer inf;
    if (!ranges.empty()) {
        kafka::Config conf = MakeConfig(spec, ReaderDefaults());
        kafka::RangeConsumer consumer(std::move(conf), topic, pg::g_timeout_ms);
        consumer.Start(ranges);
        while (const rd_kafka_message_t *m = consumer.Next()) {
            inf.AddMessage(static_cast<const char *>(m->payload), m->len, m->payload == nullptr,
                           static_cast<const char *>(m->key), m->key_len, m->key == nullptr);
        }
    }
    std::string fmt = req->format;
    format::SchemaInferrer::Format f = inf.format();
    if (fmt == "json") f = inf.messages() ? format::SchemaInferrer::Format::Json : format::SchemaInferrer::Format::Empty;
    else if (fmt == "text") f = format::SchemaInferrer::Format::Text;
    else if (fmt == "bytea") f = format::SchemaInferrer::Format::Bytea;

    out->topic = pg::PStrDup(topic.data(), topic.size());
    out->format = static_cast<int>(f);
    out->key_binary = inf.key_is_binary();
    out->sampled = static_cast<int64>(inf.messages());
    out->skipped = f == format::SchemaInferrer::Format::Json ? static_cast<int64>(inf.not_objects()) : 0;
    out->ncols = 0;
    if (f != format::SchemaInferrer::Format::Json) return;
    const auto &cols = inf.columns();
    out->cols = static_cast<ImportedColumn *>(pg::AllocOrThrow(sizeof(ImportedColumn) * (cols.size() + 1)));
    std::set<std::string> used = {"_partition", "_offset", "_timestamp", "_key", "_headers"};
    for (const auto &c : cols) {
        std::string name = format::ColumnNameFor(c.member);
        std::string base = name;
        for (int k = 2; used.count(name); k++) name = base + "_" + std::to_string(k);
        used.insert(name);
        ImportedColumn &ic = out->cols[out->ncols++];
        ic.name = pg::PStrDup(name.data(), name.size());
        ic.type = format::PgTypeName(c.type);
        ic.json_name = name == c.member ? nullptr : pg::PStrDup(c.member.data(), c.member.size());
    }
}

}  // namespace

static List *kafkaImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid) {
    ForeignServer *server = GetForeignServer(serverOid);
    ClientSpec *spec = GetClientSpec(serverOid, GetUserId(), true);
    ImportRequest req = {"auto", 1000, true, 0, nullptr, false};
    List *passthrough = NIL;
    ListCell *lc;
    foreach (lc, stmt->options) {
        DefElem *d = (DefElem *)lfirst(lc);
        if (strcmp(d->defname, "format") == 0) {
            req.format = defGetString(d);
            if (strcmp(req.format, "auto") && strcmp(req.format, "json") && strcmp(req.format, "text") &&
                strcmp(req.format, "bytea"))
                ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
                                errmsg("invalid value for option \"format\": \"%s\"", req.format),
                                errhint("Valid values: auto, json, text, bytea.")));
        } else if (strcmp(d->defname, "sample_size") == 0) {
            req.sample_size = pg_strtoint32(defGetString(d));
            if (req.sample_size < 1 || req.sample_size > 1000000)
                ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
                                errmsg("option \"sample_size\" must be between 1 and 1000000")));
        } else if (strcmp(d->defname, "sample") == 0) {
            const char *v = defGetString(d);
            if (strcmp(v, "latest") == 0) req.latest = true;
            else if (strcmp(v, "earliest") == 0) req.latest = false;
            else
                ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
                                errmsg("invalid value for option \"sample\": \"%s\"", v),
                                errhint("Valid values: latest, earliest.")));
        } else {
            passthrough = lappend(passthrough, d);  // a table option: checked by the validator
        }
    }
    if (stmt->list_type != FDW_IMPORT_SCHEMA_ALL) {
        req.limit_to = stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO;
        req.nfilter = list_length(stmt->table_list);
        req.filter = (const char **)palloc0(sizeof(char *) * (req.nfilter + 1));
        int i = 0;
        foreach (lc, stmt->table_list) req.filter[i++] = ((RangeVar *)lfirst(lc))->relname;
    }

    int ntopics = 0;
    ImportedTopic *topics = nullptr;
    KFDW_ENTRY({
        kafka::Client &meta = MetadataClient(spec);
        auto all = kafka::ListTopics(meta, pg::g_timeout_ms);
        topics = static_cast<ImportedTopic *>(pg::AllocOrThrow(sizeof(ImportedTopic) * (all.size() + 1)));
        for (const auto &t : all) {
            if (!Selected(&req, t.name)) continue;
            SampleTopicCpp(spec, &req, t.name, &topics[ntopics++]);
        }
    });

    List *commands = NIL;
    for (int i = 0; i < ntopics; i++) {
        ImportedTopic *t = &topics[i];
        StringInfoData buf;
        initStringInfo(&buf);
        appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (\n", quote_identifier(t->topic));
        appendStringInfoString(&buf,
                               "  _partition integer OPTIONS (partition 'true'),\n"
                               "  _offset bigint OPTIONS (offset 'true'),\n"
                               "  _timestamp timestamp with time zone OPTIONS (timestamp 'true'),\n");
        appendStringInfo(&buf, "  _key %s OPTIONS (key 'true'),\n", t->key_binary ? "bytea" : "text");
        appendStringInfoString(&buf, "  _headers jsonb OPTIONS (headers 'true')");
        const char *fmt = "json";
        switch (static_cast<format::SchemaInferrer::Format>(t->format)) {
        case format::SchemaInferrer::Format::Empty:
            ereport(NOTICE, (errmsg("topic \"%s\" has no messages to sample: importing it with one \"value\" column",
                                    t->topic)));
            appendStringInfoString(&buf, ",\n  value text OPTIONS (value 'true')");
            fmt = "text";
            break;
        case format::SchemaInferrer::Format::Text:
            appendStringInfoString(&buf, ",\n  value text");
            fmt = "text";
            break;
        case format::SchemaInferrer::Format::Bytea:
            appendStringInfoString(&buf, ",\n  value bytea");
            fmt = "bytea";
            break;
        case format::SchemaInferrer::Format::Json:
            for (int c = 0; c < t->ncols; c++) {
                ImportedColumn *col = &t->cols[c];
                appendStringInfo(&buf, ",\n  %s %s", quote_identifier(col->name), col->type);
                if (col->json_name) appendStringInfo(&buf, " OPTIONS (json %s)", quote_literal_cstr(col->json_name));
            }
            if (t->skipped > 0)
                ereport(NOTICE, (errmsg("topic \"%s\": " INT64_FORMAT " of " INT64_FORMAT
                                        " sampled messages are not JSON objects and were skipped",
                                        t->topic, t->skipped, t->sampled)));
            break;
        }
        appendStringInfo(&buf, "\n) SERVER %s OPTIONS (topic %s, format '%s'", quote_identifier(server->servername),
                         quote_literal_cstr(t->topic), fmt);
        foreach (lc, passthrough) {
            DefElem *d = (DefElem *)lfirst(lc);
            appendStringInfo(&buf, ", %s %s", quote_identifier(d->defname), quote_literal_cstr(defGetString(d)));
        }
        appendStringInfoString(&buf, ")");
        commands = lappend(commands, buf.data);
    }
    return commands;
}

void FillImportRoutine(FdwRoutine *r) { r->ImportForeignSchema = kafkaImportForeignSchema; }

}  // namespace kafka_fdw::fdw
