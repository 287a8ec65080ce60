#include "kafka/metadata.hpp"

#include "fdw/connection.hpp"
#include "fdw/groups.hpp"
#include "fdw/options.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/security.hpp"

extern "C" {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/datetime.h"
#pragma GCC diagnostic pop
}

#include <string>
#include <vector>

namespace kafka_fdw::fdw {

namespace {

// The extension's own SQL on kafka.group_offsets and kafka.groups runs as the
// extension's owner (callers cannot write these tables), with search_path
// pinned and every operator and function qualified: nothing the caller set
// or created takes part.  The caller's right to the group is checked before
// (GroupAuthorize), as the caller.  (pg::BeginOwnerSpi / EndOwnerSpi)

// $1 server, $2 group, $3 topic, $4 partition, [$5 next_offset]
void KeyArgs(const char *server, const char *group, const char *topic, int32 partition, Datum *values, Oid *types) {
    values[0] = DirectFunctionCall1(namein, CStringGetDatum(server));
    types[0] = NAMEOID;
    values[1] = CStringGetTextDatum(group);
    types[1] = TEXTOID;
    values[2] = CStringGetTextDatum(topic);
    types[2] = TEXTOID;
    values[3] = Int32GetDatum(partition);
    types[3] = INT4OID;
}

int64 SelectNext(const char *sql, const char *server, const char *group, const char *topic, int32 partition,
                 bool *found) {
    Datum values[4];
    Oid types[4];
    KeyArgs(server, group, topic, partition, values, types);
    int rc = SPI_execute_with_args(sql, 4, types, values, NULL, false, 1);
    if (rc != SPI_OK_SELECT) elog(ERROR, "SPI_execute_with_args failed: %d", rc);
    *found = SPI_processed > 0;
    if (!*found) return -1;
    bool isnull;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    return isnull ? -1 : DatumGetInt64(d);
}

const char *kKeyWhere =
    " WHERE server OPERATOR(pg_catalog.=) $1 AND group_name OPERATOR(pg_catalog.=) $2"
    " AND topic OPERATOR(pg_catalog.=) $3 AND partition OPERATOR(pg_catalog.=) $4";

// The owner of the group, or InvalidOid when no role has used it yet (SPI
// connected, as the extension's owner).
Oid SelectGroupOwner(const char *schema, Datum *values, Oid *types) {
    int rc = SPI_execute_with_args(psprintf("SELECT owner::pg_catalog.oid FROM %s.groups WHERE server OPERATOR(pg_catalog.=) $1 "
                                            "AND group_name OPERATOR(pg_catalog.=) $2",
                                            schema),
                                   2, types, values, NULL, false, 1);
    if (rc != SPI_OK_SELECT) elog(ERROR, "SPI_execute_with_args failed: %d", rc);
    if (SPI_processed == 0) return InvalidOid;
    bool isnull;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    return isnull ? InvalidOid : DatumGetObjectId(d);
}

[[noreturn]] void GroupDenied(const char *server, const char *group, Oid owner) {
    const char *owner_name = GetUserNameFromId(owner, true);
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied for consumer group \"%s\" of server \"%s\"", group, server),
                    errdetail("The group belongs to role \"%s\"; only its members and superusers may read or move "
                              "its positions.",
                              owner_name ? owner_name : "?"),
                    errhint("A superuser (or a member of both roles) can hand the group over with "
                            "kafka.alter_group_owner().")));
}

}  // namespace

void GroupAuthorize(const char *server, const char *group, bool claim, Oid caller) {
    pg::OwnerSpi scope;
    pg::BeginOwnerSpi(&scope);
    Datum values[3] = {DirectFunctionCall1(namein, CStringGetDatum(server)), CStringGetTextDatum(group),
                       ObjectIdGetDatum(caller)};
    Oid types[3] = {NAMEOID, TEXTOID, OIDOID};
    Oid owner = SelectGroupOwner(scope.schema, values, types);
    if (!OidIsValid(owner) && claim) {
        // The first role to use the group owns it.  Against a concurrent
        // first use, the conflict returns the winner's row (READ COMMITTED)
        // or fails (a snapshot that cannot see it).
        int rc = SPI_execute_with_args(
            psprintf("INSERT INTO %s.groups AS g (server, group_name, owner) VALUES ($1, $2, $3::pg_catalog.regrole) "
                     "ON CONFLICT (server, group_name) DO UPDATE SET owner = g.owner RETURNING owner::pg_catalog.oid",
                     scope.schema),
            3, types, values, NULL, false, 1);
        if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1) elog(ERROR, "could not record group \"%s\"", group);
        bool isnull;
        owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    }
    pg::EndOwnerSpi(&scope);
    if (OidIsValid(owner) && !has_privs_of_role(caller, owner)) GroupDenied(server, group, owner);
}

int64 GroupReadPosition(const char *server, const char *group, const char *topic, int32 partition) {
    pg::OwnerSpi scope;
    pg::BeginOwnerSpi(&scope);
    bool found;
    int64 next = SelectNext(psprintf("SELECT next_offset FROM %s.group_offsets%s", scope.schema, kKeyWhere), server,
                            group, topic, partition, &found);
    pg::EndOwnerSpi(&scope);
    return found ? next : -1;
}

namespace {
// INSERT of a position; on conflict, nothing or an update.
void UpsertPosition(const char *server, const char *group, const char *topic, int32 partition, int64 next,
                    bool update) {
    pg::OwnerSpi scope;
    pg::BeginOwnerSpi(&scope);
    Datum values[5];
    Oid types[5];
    KeyArgs(server, group, topic, partition, values, types);
    values[4] = Int64GetDatum(next);
    types[4] = INT8OID;
    const char *sql =
        update ? psprintf("INSERT INTO %s.group_offsets VALUES ($1, $2, $3, $4, $5, pg_catalog.now()) "
                          "ON CONFLICT (server, group_name, topic, partition) "
                          "DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = pg_catalog.now()",
                          scope.schema)
               : psprintf("INSERT INTO %s.group_offsets VALUES ($1, $2, $3, $4, $5, pg_catalog.now()) "
                          "ON CONFLICT DO NOTHING",
                          scope.schema);
    int rc = SPI_execute_with_args(sql, 5, types, values, NULL, false, 0);
    if (rc != SPI_OK_INSERT) elog(ERROR, "SPI_execute_with_args failed: %d", rc);
    pg::EndOwnerSpi(&scope);
}
}  // namespace

void GroupInitPosition(const char *server, const char *group, const char *topic, int32 partition, int64 next) {
    UpsertPosition(server, group, topic, partition, next, false);
}

int64 GroupLockPosition(const char *server, const char *group, const char *topic, int32 partition,
                        bool skip_locked, bool *skipped) {
    pg::OwnerSpi scope;
    pg::BeginOwnerSpi(&scope);
    bool found;
    int64 next = SelectNext(psprintf("SELECT next_offset FROM %s.group_offsets%s FOR UPDATE%s", scope.schema,
                                     kKeyWhere, skip_locked ? " SKIP LOCKED" : ""),
                            server, group, topic, partition, &found);
    pg::EndOwnerSpi(&scope);
    *skipped = !found;
    return next;
}

void GroupStorePosition(const char *server, const char *group, const char *topic, int32 partition, int64 next) {
    UpsertPosition(server, group, topic, partition, next, true);
}

List *GroupStoredTopics(const char *server, const char *group) {
    MemoryContext caller = CurrentMemoryContext;
    List *topics = NIL;
    pg::OwnerSpi scope;
    pg::BeginOwnerSpi(&scope);
    Datum values[2] = {DirectFunctionCall1(namein, CStringGetDatum(server)), CStringGetTextDatum(group)};
    Oid types[2] = {NAMEOID, TEXTOID};
    int rc = SPI_execute_with_args(psprintf("SELECT DISTINCT topic FROM %s.group_offsets WHERE server "
                                            "OPERATOR(pg_catalog.=) $1 AND group_name OPERATOR(pg_catalog.=) $2 ORDER BY 1",
                                            scope.schema),
                                   2, types, values, NULL, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "SPI_execute_with_args failed: %d", rc);
    for (uint64 i = 0; i < SPI_processed; i++) {
        char *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
        MemoryContext old = MemoryContextSwitchTo(caller);
        topics = lappend(topics, pstrdup(v));
        MemoryContextSwitchTo(old);
    }
    pg::EndOwnerSpi(&scope);
    return topics;
}

}  // namespace kafka_fdw::fdw

// ---------------------------------------------------------------------------
// kafka.group_lag, kafka.reset_group, kafka.set_group_offset

using namespace kafka_fdw;

extern "C" {
PG_FUNCTION_INFO_V1(kafka_group_lag);
PG_FUNCTION_INFO_V1(kafka_reset_group);
PG_FUNCTION_INFO_V1(kafka_set_group_offset);
PG_FUNCTION_INFO_V1(kafka_alter_group_owner);
Datum kafka_alter_group_owner(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(kafka_claim_table_group);
Datum kafka_claim_table_group(PG_FUNCTION_ARGS);
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
        n = kafka::PartitionCount(c, topic, pg::g_timeout_ms);
        next = static_cast<int64 *>(pg::AllocOrThrow(sizeof(int64) * n));
        std::vector<int32_t> parts;
        for (int p = 0; p < n; p++) parts.push_back(p);
        std::vector<int64_t> by_time;
        if (mode == 2) by_time = kafka::OffsetsForTime(c, topic, parts, ts_ms, pg::g_timeout_ms);
        for (int p = 0; p < n; p++) {
            kafka::Watermarks w = kafka::QueryWatermarks(c, topic, p, pg::g_timeout_ms);
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
