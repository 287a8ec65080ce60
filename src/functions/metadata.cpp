// kafka.topics, kafka.partitions, kafka.create_topic, kafka.delete_topic, and
// the older kafka_fdw's kafka_get_watermarks(regclass).
#include "kafka/metadata.hpp"

#include "fdw/connection.hpp"
#include "fdw/options.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"

using namespace kafka_fdw;
using kafka_fdw::pg::g_timeout_ms;

extern "C" {
PG_FUNCTION_INFO_V1(kafka_topics);
PG_FUNCTION_INFO_V1(kafka_partitions);
PG_FUNCTION_INFO_V1(kafka_create_topic);
PG_FUNCTION_INFO_V1(kafka_delete_topic);
Datum kafka_topics(PG_FUNCTION_ARGS);
Datum kafka_partitions(PG_FUNCTION_ARGS);
Datum kafka_create_topic(PG_FUNCTION_ARGS);
Datum kafka_delete_topic(PG_FUNCTION_ARGS);
}

Datum kafka_topics(PG_FUNCTION_ARGS) {
    fdw::ClientSpec *spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;

    int n = 0;
    char **names = nullptr;
    int *parts = nullptr;
    kafka::Client *client = nullptr;
    KFDW_ENTRY({
        client = &fdw::MetadataClient(spec);
        auto topics = kafka::ListTopics(*client, g_timeout_ms);
        names = static_cast<char **>(pg::AllocOrThrow(sizeof(char *) * (topics.size() + 1)));
        parts = static_cast<int *>(pg::AllocOrThrow(sizeof(int) * (topics.size() + 1)));
        for (const auto &t : topics) {
            names[n] = pg::PStrDup(t.name.data(), t.name.size());
            parts[n] = t.partitions;
            n++;
        }
    });
    pg::ReportClientEvents(*client);
    for (int i = 0; i < n; i++) {
        Datum values[2] = {CStringGetTextDatum(names[i]), Int32GetDatum(parts[i])};
        bool nulls[2] = {false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}

Datum kafka_partitions(PG_FUNCTION_ARGS) {
    fdw::ClientSpec *spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    char *topic = text_to_cstring(PG_GETARG_TEXT_PP(1));
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;

    int n = 0;
    int64 *lows = nullptr, *highs = nullptr;
    kafka::Client *client = nullptr;
    KFDW_ENTRY({
        client = &fdw::MetadataClient(spec);
        n = fdw::WatermarksCpp(spec, topic, &lows, &highs);
    });
    pg::ReportClientEvents(*client);
    for (int p = 0; p < n; p++) {
        Datum values[3] = {Int32GetDatum(p), Int64GetDatum(lows[p]), Int64GetDatum(highs[p])};
        bool nulls[3] = {false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}

namespace {
// Flattens a jsonb object of scalars into name/value pairs (Postgres zone).
void JsonbToPairs(Jsonb *jb, List **names, List **values) {
    if (!JB_ROOT_IS_OBJECT(jb))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("topic config must be a JSON object")));
    pg::ForEachJsonbMember(jb, [&](char *key, JsonbValue *v) {
        char *val;
        if (v->type == jbvString) val = pnstrdup(v->val.string.val, v->val.string.len);
        else if (v->type == jbvNumeric || v->type == jbvBool) val = pg::JsonbScalarText(v);
        else
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("topic config \"%s\" must be a string, number or boolean", key)));
        *names = lappend(*names, key);
        *values = lappend(*values, val);
    });
}
}  // namespace

Datum kafka_create_topic(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("server and topic must not be NULL")));
    fdw::ClientSpec *spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    char *topic = text_to_cstring(PG_GETARG_TEXT_PP(1));
    int partitions = PG_ARGISNULL(2) ? 1 : PG_GETARG_INT32(2);
    int replication = PG_ARGISNULL(3) ? -1 : PG_GETARG_INT32(3);
    List *names = NIL, *values = NIL;
    if (!PG_ARGISNULL(4)) JsonbToPairs(PG_GETARG_JSONB_P(4), &names, &values);
    if (partitions < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("partitions must be at least 1")));

    kafka::Client *client = nullptr;
    KFDW_ENTRY({
        kafka::Properties config;
        ListCell *a, *b;
        forboth(a, names, b, values) config.emplace_back((char *)lfirst(a), (char *)lfirst(b));
        client = &fdw::MetadataClient(spec);
        kafka::CreateTopic(*client, topic, partitions, replication, config, g_timeout_ms);
    });
    pg::ReportClientEvents(*client);
    PG_RETURN_VOID();
}

Datum kafka_delete_topic(PG_FUNCTION_ARGS) {
    fdw::ClientSpec *spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    char *topic = text_to_cstring(PG_GETARG_TEXT_PP(1));
    kafka::Client *client = nullptr;
    KFDW_ENTRY({
        client = &fdw::MetadataClient(spec);
        kafka::DeleteTopic(*client, topic, g_timeout_ms);
    });
    pg::ReportClientEvents(*client);
    PG_RETURN_VOID();
}

// kafka_get_watermarks(rel regclass): the older kafka_fdw's function.
extern "C" {
PG_FUNCTION_INFO_V1(kafka_get_watermarks);
Datum kafka_get_watermarks(PG_FUNCTION_ARGS);
}

Datum kafka_get_watermarks(PG_FUNCTION_ARGS) {
    using namespace kafka_fdw;
    Oid relid = PG_GETARG_OID(0);
    if (get_rel_relkind(relid) != RELKIND_FOREIGN_TABLE)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("\"%s\" is not a foreign table", get_rel_name(relid))));
    ForeignServer *server = GetForeignServer(GetForeignTable(relid)->serverid);
    if (strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, "kafka_fdw") != 0)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("\"%s\" is not a kafka_fdw foreign table", get_rel_name(relid))));
    fdw::TableDef *t = fdw::GetTableDef(relid);
    fdw::ClientSpec *spec = fdw::GetClientSpec(t->serverid, GetUserId(), true);
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    int n = 0;
    int64 *lows = nullptr, *highs = nullptr;
    KFDW_ENTRY({
        n = fdw::WatermarksCpp(spec, t->topic, &lows, &highs);
    });
    for (int p = 0; p < n; p++) {
        Datum values[3] = {Int32GetDatum(p), Int64GetDatum(lows[p]), Int64GetDatum(highs[p])};
        bool nulls[3] = {false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
