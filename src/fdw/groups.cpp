// Consumer group positions stored in kafka.group_offsets and the groups'
// owners in kafka.groups (Postgres zone; see groups.hpp), for group tables
// and the group functions (src/functions/groups.cpp).
#include "fdw/groups.hpp"
#include "pg/security.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "executor/spi.h"
}

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

bool GroupLagReadable(const char *server, const char *group, Oid user) {
    pg::OwnerSpi scope;
    pg::BeginOwnerSpi(&scope);
    Datum values[2] = {DirectFunctionCall1(namein, CStringGetDatum(server)), CStringGetTextDatum(group)};
    Oid types[2] = {NAMEOID, TEXTOID};
    Oid owner = SelectGroupOwner(scope.schema, values, types);
    pg::EndOwnerSpi(&scope);
    return !OidIsValid(owner) || has_privs_of_role(user, owner) || has_privs_of_role(user, ROLE_PG_READ_ALL_STATS);
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
