// Consumer groups from SQL: kafka.group_lag, kafka.reset_group,
// kafka.set_group_offset, kafka.alter_group_owner and
// kafka._claim_table_group.  The positions themselves are kept by
// src/fdw/groups.cpp (kafka.group_offsets, Postgres zone).
#include "kafka/metadata.hpp"

#include "fdw/connection.hpp"
#include "fdw/groups.hpp"
#include "fdw/options.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/security.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/datetime.h"
}

#include <algorithm>
#include <vector>

using namespace kafka_fdw;

extern "C" {
PG_FUNCTION_INFO_V1(kafka_group_lag);
PG_FUNCTION_INFO_V1(kafka_reset_group);
PG_FUNCTION_INFO_V1(kafka_set_group_offset);
PG_FUNCTION_INFO_V1(kafka_alter_group_owner);
Datum kafka_alter_group_owner(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(kafka_claim_table_group);
Datum kafka_claim_table_group(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(kafka_group_lags);
Datum kafka_group_lags(PG_FUNCTION_ARGS);
Datum kafka_group_lag(PG_FUNCTION_ARGS);
Datum kafka_reset_group(PG_FUNCTION_ARGS);
Datum kafka_set_group_offset(PG_FUNCTION_ARGS);
}

namespace {

// Queues the broker-side commit of a position set by a function.
void QueueGroupCommit(fdw::ClientSpec *spec, const char *group, const char *topic, int32 partition, int64 next) {
    SubTransactionId subid = GetCurrentSubTransactionId();
    KFDW_ENTRY({
        fdw::GroupCommit c;
        c.client = &fdw::GroupClient(spec, group);
        c.topic = topic;
        c.partition = partition;
        c.next_offset = next;
        c.subid = subid;
        fdw::AddGroupCommit(std::move(c));
    });
}

// Topics of the group: those with stored positions, and those of foreign
// tables of this server that read through the group.
List *GroupTopics(fdw::ClientSpec *spec, const char *group) {
    List *topics = fdw::GroupStoredTopics(spec->server_name, group);
    // Foreign tables of this server with OPTIONS (group '<group>').
    Relation rel = table_open(ForeignTableRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
    HeapTuple tup;
    while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL) {
        Form_pg_foreign_table ft = (Form_pg_foreign_table)GETSTRUCT(tup);
        if (ft->ftserver != spec->serverid) continue;
        fdw::TableDef *t = fdw::GetTableDef(ft->ftrelid);
        if (!t->group || strcmp(t->group, group) != 0) continue;
        bool seen = false;
        ListCell *lc;
        foreach (lc, topics)
            if (strcmp((char *)lfirst(lc), t->topic) == 0) seen = true;
        if (!seen) topics = lappend(topics, pstrdup(t->topic));
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    return topics;
}

}  // namespace

Datum kafka_group_lag(PG_FUNCTION_ARGS) {
    fdw::ClientSpec *spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    char *group = text_to_cstring(PG_GETARG_TEXT_PP(1));
    fdw::GroupAuthorize(spec->server_name, group, false, GetUserId());
    List *topics = GroupTopics(spec, group);
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    ListCell *lc;
    foreach (lc, topics) {
        char *topic = (char *)lfirst(lc);
        int n = 0;
        int64 *lows = nullptr, *highs = nullptr;
        KFDW_ENTRY({
            n = fdw::WatermarksCpp(spec, topic, &lows, &highs);
        });
        for (int p = 0; p < n; p++) {
            int64 next = fdw::GroupReadPosition(spec->server_name, group, topic, p);
            if (next < 0) next = lows[p];  // nothing consumed yet: the whole partition
            Datum values[5] = {CStringGetTextDatum(topic), Int32GetDatum(p), Int64GetDatum(next),
                               Int64GetDatum(highs[p]), Int64GetDatum(Max(0, highs[p] - Max(next, lows[p])))};
            bool nulls[5] = {false, false, false, false, false};
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        }
    }
    return (Datum)0;
}

Datum kafka_reset_group(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("arguments must not be NULL")));
    fdw::ClientSpec *spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    char *group = text_to_cstring(PG_GETARG_TEXT_PP(1));
    char *topic = text_to_cstring(PG_GETARG_TEXT_PP(2));
    char *position = text_to_cstring(PG_GETARG_TEXT_PP(3));
    fdw::GroupAuthorize(spec->server_name, group, true, GetUserId());
    int mode = 0;  // 0 earliest, 1 latest, 2 timestamp
    int64 ts_ms = 0;
    if (pg_strcasecmp(position, "earliest") == 0) mode = 0;
    else if (pg_strcasecmp(position, "latest") == 0) mode = 1;
    else {
        mode = 2;
        TimestampTz ts = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(position),
                                                                 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
        ts_ms = pg::TimestamptzToKafkaMs(ts, true);
    }
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    int n = 0;
    int64 *next = nullptr;
    KFDW_ENTRY({
        kafka::Client &c = fdw::MetadataClient(spec);
        std::vector<kafka::Watermarks> wm = kafka::TopicWatermarks(c, topic, pg::g_timeout_ms);
        n = static_cast<int>(wm.size());
        next = static_cast<int64 *>(pg::AllocOrThrow(sizeof(int64) * n));
        std::vector<int32_t> parts;
        for (int p = 0; p < n; p++) parts.push_back(p);
        std::vector<int64_t> by_time;
        if (mode == 2) by_time = kafka::OffsetsForTime(c, topic, parts, ts_ms, pg::g_timeout_ms, &wm);
        for (int p = 0; p < n; p++) {
            const kafka::Watermarks &w = wm[p];
            next[p] = mode == 0 ? w.low : mode == 1 ? w.high : std::max<int64_t>(w.low, by_time[p]);
        }
    });
    for (int p = 0; p < n; p++) {
        fdw::GroupStorePosition(spec->server_name, group, topic, p, next[p]);
        QueueGroupCommit(spec, group, topic, p, next[p]);
        Datum values[2] = {Int32GetDatum(p), Int64GetDatum(next[p])};
        bool nulls[2] = {false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}

Datum kafka_set_group_offset(PG_FUNCTION_ARGS) {
    for (int i = 0; i < 5; i++)
        if (PG_ARGISNULL(i))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("arguments must not be NULL")));
    fdw::ClientSpec *spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    char *group = text_to_cstring(PG_GETARG_TEXT_PP(1));
    char *topic = text_to_cstring(PG_GETARG_TEXT_PP(2));
    int32 partition = PG_GETARG_INT32(3);
    int64 next = PG_GETARG_INT64(4);
    fdw::GroupAuthorize(spec->server_name, group, true, GetUserId());
    if (next < 0) ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("next_offset must not be negative")));
    int n = 0;
    int64 *lows = nullptr, *highs = nullptr;
    KFDW_ENTRY({ n = fdw::WatermarksCpp(spec, topic, &lows, &highs); });
    if (partition < 0 || partition >= n)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("partition %d of topic \"%s\" does not exist", partition, topic)));
    if (next > highs[partition]) {
        // As Kafka's --reset-offsets: past the log end means the log end.
        ereport(NOTICE, (errmsg("offset " INT64_FORMAT " is past the end of partition %d of topic \"%s\": using " INT64_FORMAT,
                                next, partition, topic, highs[partition])));
        next = highs[partition];
    }
    fdw::GroupStorePosition(spec->server_name, group, topic, partition, next);
    QueueGroupCommit(spec, group, topic, partition, next);
    PG_RETURN_VOID();
}

// kafka.alter_group_owner(server, group_name, new_owner): hands a group over.
// As ALTER ... OWNER: superusers, or a member of both the current owner and
// the new one.  A group no role has used yet is given to new_owner.
Datum kafka_alter_group_owner(PG_FUNCTION_ARGS) {
    fdw::ClientSpec *spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));  // USAGE
    char *group = text_to_cstring(PG_GETARG_TEXT_PP(1));
    Oid new_owner = PG_GETARG_OID(2);
    Oid caller = GetUserId();
    if (!OidIsValid(new_owner) || !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(new_owner)))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("role with OID %u does not exist", new_owner)));
    if (!has_privs_of_role(caller, new_owner))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to give consumer group \"%s\" to role \"%s\"", group,
                               GetUserNameFromId(new_owner, false)),
                        errdetail("Only superusers and members of the new owner role may.")));
    fdw::GroupAuthorize(spec->server_name, group, false, caller);  // a member of the current owner, if any
    pg::OwnerSpi own;
    pg::BeginOwnerSpi(&own);
    const char *schema = own.schema;
    Datum values[3] = {DirectFunctionCall1(namein, CStringGetDatum(spec->server_name)), CStringGetTextDatum(group),
                       ObjectIdGetDatum(new_owner)};
    Oid types[3] = {NAMEOID, TEXTOID, OIDOID};
    int rc = SPI_execute_with_args(
        psprintf("INSERT INTO %s.groups AS g (server, group_name, owner) VALUES ($1, $2, $3::pg_catalog.regrole) "
                 "ON CONFLICT (server, group_name) DO UPDATE SET owner = EXCLUDED.owner",
                 schema),
        3, types, values, NULL, false, 0);
    if (rc != SPI_OK_INSERT) elog(ERROR, "SPI_execute_with_args failed: %d", rc);
    pg::EndOwnerSpi(&own);
    PG_RETURN_VOID();
}

// kafka._claim_table_group(rel regclass): the caller's right to the consumer
// group of a group table, claimed for it if no role has used the group yet
// (create_sink: a sink reads through its source's group as its owner).
Datum kafka_claim_table_group(PG_FUNCTION_ARGS) {
    Oid relid = PG_GETARG_OID(0);
    if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied for table %s", get_rel_name(relid))));
    fdw::TableDef *t = fdw::GetTableDef(relid);
    if (!t->group) PG_RETURN_VOID();
    fdw::GroupAuthorize(GetForeignServer(t->serverid)->servername, t->group, true, GetUserId());
    PG_RETURN_VOID();
}

namespace {

// The messages behind of one group (see kafka_group_lags), in a
// subtransaction: true and *lag, or false and *why (*unreachable for a
// connection error).  Cancels, shutdowns and resource errors are raised.
// (cancels, shutdowns, resource, system and internal errors)
bool MustRaise(const ErrorData *e) {
    int cls = ERRCODE_TO_CATEGORY(e->sqlerrcode);
    return cls == ERRCODE_OPERATOR_INTERVENTION || cls == ERRCODE_INSUFFICIENT_RESOURCES ||
           cls == ERRCODE_SYSTEM_ERROR || cls == ERRCODE_INTERNAL_ERROR;
}

bool GroupLagSafely(const char *server, const char *group, int64 *lag, char **why, bool *unreachable) {
    ErrorData *error = pg::InSubxact(
        [server, group, lag] {
            fdw::ClientSpec *spec = fdw::GetClientSpecByName(server);  // kafka_fdw's, USAGE, a user mapping
            List *topics = GroupTopics(spec, group);
            int64 sum = 0;
            ListCell *lc;
            foreach (lc, topics) {
                char *topic = (char *)lfirst(lc);
                int n = 0;
                int64 *lows = nullptr, *highs = nullptr;
                KFDW_ENTRY({ n = fdw::WatermarksCpp(spec, topic, &lows, &highs); });
                for (int p = 0; p < n; p++) {
                    int64 next = fdw::GroupReadPosition(spec->server_name, group, topic, p);
                    if (next < 0) next = lows[p];  // nothing consumed yet: the whole partition
                    sum += Max(0, highs[p] - Max(next, lows[p]));
                }
            }
            *lag = sum;
        },
        MustRaise);
    if (!error) return true;
    *why = pg::ErrorSummary(error);
    *unreachable = ERRCODE_TO_CATEGORY(error->sqlerrcode) == ERRCODE_CONNECTION_EXCEPTION;
    return false;
}

}  // namespace

// kafka._group_lags(servers text[], groups text[]): for kafka.lag, each
// group's messages behind (high watermark minus the stored position, summed
// over its topics' partitions), or why that is not known.  A scrape must not
// fail because one server is down: each group is asked in a subtransaction,
// and its error becomes lag_error; after a connection error (08xxx) the
// server's other groups get the same error without waiting again (each wait
// is at most kafka_fdw.timeout, interruptible).  A cancel, a shutdown or a
// resource error is raised, not caught.  Groups the caller may not read (not
// their owner's member, not in pg_read_all_stats) get NULLs and no request.
Datum kafka_group_lags(PG_FUNCTION_ARGS) {
    ArrayType *servers_a = PG_GETARG_ARRAYTYPE_P(0);
    ArrayType *groups_a = PG_GETARG_ARRAYTYPE_P(1);
    Datum *servers, *groups;
    bool *snulls, *gnulls;
    int ns, ng;
    deconstruct_array(servers_a, TEXTOID, -1, false, TYPALIGN_INT, &servers, &snulls, &ns);
    deconstruct_array(groups_a, TEXTOID, -1, false, TYPALIGN_INT, &groups, &gnulls, &ng);
    if (ns != ng)
        ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("servers and groups must have as many elements")));
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    // servers found unreachable in this call, with their error
    List *dead_servers = NIL, *dead_errors = NIL;
    for (int i = 0; i < ns; i++) {
        if (snulls[i] || gnulls[i]) continue;
        char *server = TextDatumGetCString(servers[i]);
        char *group = TextDatumGetCString(groups[i]);
        Datum values[4] = {CStringGetTextDatum(server), CStringGetTextDatum(group), (Datum)0, (Datum)0};
        bool nulls[4] = {false, false, true, true};
        char *error = nullptr;
        ListCell *ls, *le;
        forboth (ls, dead_servers, le, dead_errors)
            if (strcmp((char *)lfirst(ls), server) == 0) error = (char *)lfirst(le);
        ForeignServer *fs = error ? nullptr : GetForeignServerByName(server, true);
        if (!error && !fs) error = psprintf("server \"%s\" does not exist", server);
        if (!error && fdw::GroupLagReadable(fs->servername, group, GetUserId())) {
            int64 lag = 0;
            bool unreachable = false;
            if (GroupLagSafely(server, group, &lag, &error, &unreachable)) {
                values[2] = Int64GetDatum(lag);
                nulls[2] = false;
            } else if (unreachable) {
                dead_servers = lappend(dead_servers, server);
                dead_errors = lappend(dead_errors, error);
            }
        }
        if (error) {
            values[3] = CStringGetTextDatum(error);
            nulls[3] = false;
        }
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
