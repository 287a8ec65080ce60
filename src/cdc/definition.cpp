// A pipeline's definition and what its owner needs (Postgres zone).
//
// kafka.pipelines is read here with a heap scan of the table that belongs to
// the extension (found through its schema OID): no SQL, so neither a
// caller's nor an owner's settings (search_path, operators on text, role or
// database settings applied at connection) take part.  The privilege checks
// are those of the role that owns the work, the way PostgreSQL checks a
// replication connection and its table copy: REPLICATION, SELECT on the
// published tables; plus what kafka_fdw adds (USAGE on the server, owning
// the publication, LOGIN for the worker's connection).
#include "pg/security.hpp"

#include "cdc/cdc.hpp"

extern "C" {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/partition.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_publication.h"
#include "commands/extension.h"
#include "storage/lwlock.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#pragma GCC diagnostic pop
}

namespace kafka_fdw::cdc {
namespace {

// kafka.pipelines of this database, if kafka_fdw is installed here and the
// table is the extension's own.
Oid PipelinesTable() {
    if (!pg::ExtensionInstalled()) return InvalidOid;
    Oid relid = get_relname_relid("pipelines", pg::ExtensionSchema());
    if (!OidIsValid(relid)) return InvalidOid;
    if (getExtensionOfObject(RelationRelationId, relid) != get_extension_oid("kafka_fdw", true)) return InvalidOid;
    return relid;
}

AttrNumber Column(Relation rel, const char *name) {
    TupleDesc td = RelationGetDescr(rel);
    for (int i = 0; i < td->natts; i++) {
        Form_pg_attribute a = TupleDescAttr(td, i);
        if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0) return a->attnum;
    }
    elog(ERROR, "kafka_fdw: table %s has no column \"%s\"", RelationGetRelationName(rel), name);
}

struct Columns {
    AttrNumber name, server, publication, options, slot_name, owner, paused, snapshot;
};

Columns FindColumns(Relation rel) {
    return Columns{Column(rel, "name"),      Column(rel, "server"), Column(rel, "publication"),
                   Column(rel, "options"),   Column(rel, "slot_name"), Column(rel, "owner"),
                   Column(rel, "paused"),    Column(rel, "snapshot")};
}

char *TextAttr(HeapTuple t, TupleDesc td, AttrNumber att) {
    bool isnull;
    Datum d = heap_getattr(t, att, td, &isnull);
    return isnull ? pstrdup("") : TextDatumGetCString(d);
}

// Calls f(tuple, desc, columns) for each row; f returns false to stop.
template <typename F>
void ScanPipelines(bool latest, F &&f) {
    Oid relid = PipelinesTable();
    if (!OidIsValid(relid)) return;
    Relation rel = table_open(relid, AccessShareLock);
    Columns cols = FindColumns(rel);
    Snapshot snap = RegisterSnapshot(latest               ? GetLatestSnapshot()
                                     : ActiveSnapshotSet() ? GetActiveSnapshot()
                                                           : GetTransactionSnapshot());
    TableScanDesc scan = table_beginscan(rel, snap, 0, nullptr);
    HeapTuple t;
    while ((t = heap_getnext(scan, ForwardScanDirection)) != nullptr)
        if (!f(t, RelationGetDescr(rel), cols)) break;
    table_endscan(scan);
    UnregisterSnapshot(snap);
    table_close(rel, AccessShareLock);
}

// The relations a publication publishes, as pg_get_publication_tables lists
// them (the leaves of partitioned tables unless publish_via_partition_root).
List *PublishedRelations(Publication *pub) {
    PublicationPartOpt part = pub->pubviaroot ? PUBLICATION_PART_ROOT : PUBLICATION_PART_LEAF;
    if (pub->alltables) return GetAllTablesPublicationRelations(pub->pubviaroot);
    List *rels = GetPublicationRelations(pub->oid, part);
    return list_concat_unique_oid(rels, GetAllSchemaPublicationRelations(pub->oid, part));
}

char *RelationSqlName(Oid relid) {
    char *rel = get_rel_name(relid);
    char *nsp = get_namespace_name(get_rel_namespace(relid));
    if (!rel || !nsp) return psprintf("with OID %u", relid);
    return quote_qualified_identifier(nsp, rel);
}

constexpr const char *kOwnerNeeds =
    "A pipeline's worker runs as the pipeline's owner, which needs the REPLICATION attribute (or superuser), "
    "LOGIN, USAGE on the server, ownership of the publication, and SELECT on each of its tables.";

}  // namespace

bool ReadPipeline(const char *name, const char *slot_name, bool latest, PipelineDef *out) {
    bool found = false;
    ScanPipelines(latest, [&](HeapTuple t, TupleDesc td, const Columns &c) {
        bool isnull;
        if (name) {
            char *n = TextAttr(t, td, c.name);
            bool match = strcmp(n, name) == 0;
            pfree(n);
            if (!match) return true;
        } else {
            Datum d = heap_getattr(t, c.slot_name, td, &isnull);
            if (isnull || strcmp(NameStr(*DatumGetName(d)), slot_name) != 0) return true;
        }
        out->name = TextAttr(t, td, c.name);
        out->server = TextAttr(t, td, c.server);
        out->publication = TextAttr(t, td, c.publication);
        Datum d = heap_getattr(t, c.slot_name, td, &isnull);
        out->slot_name = pstrdup(isnull ? "" : NameStr(*DatumGetName(d)));
        d = heap_getattr(t, c.owner, td, &isnull);
        out->owner = isnull ? InvalidOid : DatumGetObjectId(d);
        d = heap_getattr(t, c.paused, td, &isnull);
        out->paused = !isnull && DatumGetBool(d);
        out->snapshot = TextAttr(t, td, c.snapshot);
        d = heap_getattr(t, c.options, td, &isnull);
        out->options = isnull ? DatumGetJsonbPCopy(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
                              : DatumGetJsonbPCopy(d);
        found = true;
        return false;
    });
    return found;
}

int CountPipelinesOf(Oid role) {
    int n = 0;
    ScanPipelines(true, [&](HeapTuple t, TupleDesc td, const Columns &c) {
        bool isnull;
        Datum d = heap_getattr(t, c.owner, td, &isnull);
        if (!isnull && DatumGetObjectId(d) == role) n++;
        return true;
    });
    if (Shared()) {
        LWLockAcquire(Shared()->lock, LW_SHARED);
        for (int i = 0; i < Shared()->max_pipelines; i++) {
            const PipelineEntry *e = &Shared()->entries[i];
            if (e->in_use && e->dboid != MyDatabaseId && e->owner == role) n++;
        }
        LWLockRelease(Shared()->lock);
    }
    return n;
}

void CheckRelationReadable(const char *pipeline, Oid owner, Oid relid) {
    if (superuser_arg(owner)) return;
    // SELECT on the table, or on a partitioned table it belongs to (which
    // reads its rows too).
    List *tables = list_make1_oid(relid);
    if (get_rel_relispartition(relid)) tables = list_concat(tables, get_partition_ancestors(relid));
    bool readable = false;
    ListCell *lc;
    foreach (lc, tables)
        if (pg_class_aclcheck(lfirst_oid(lc), owner, ACL_SELECT) == ACLCHECK_OK) readable = true;
    char *role = GetUserNameFromId(owner, true);
    if (!role) role = psprintf("with OID %u", owner);
    if (!readable)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("pipeline \"%s\": role \"%s\" has no SELECT privilege on table %s", pipeline, role,
                               RelationSqlName(relid)),
                        errdetail("%s", kOwnerNeeds)));
    // The stream carries every row: a role that row security would limit
    // must not get them this way (PostgreSQL's replication has no row
    // security either; it needs a role that bypasses it).
    foreach (lc, tables)
        if (check_enable_rls(lfirst_oid(lc), owner, true) == RLS_ENABLED)
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("pipeline \"%s\": row-level security applies to role \"%s\" on table %s", pipeline,
                                   role, RelationSqlName(lfirst_oid(lc))),
                            errdetail("A pipeline sends every row of its tables."),
                            errhint("The pipeline's owner must own the table (without FORCE ROW LEVEL SECURITY), "
                                    "have BYPASSRLS, or be a superuser.")));
    list_free(tables);
}

List *CheckOwnerPrivileges(const char *pipeline, Oid owner, const char *server, const char *publication) {
    HeapTuple tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(owner));
    if (!HeapTupleIsValid(tup))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("pipeline \"%s\": its owner (role with OID %u) does not exist", pipeline, owner),
                        errhint("Drop the pipeline; a role with the privileges it needs can create it again.")));
    auto *form = (Form_pg_authid)GETSTRUCT(tup);
    char *role = pstrdup(NameStr(form->rolname));
    bool canlogin = form->rolcanlogin;
    ReleaseSysCache(tup);
    if (!has_rolreplication(owner))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("pipeline \"%s\": role \"%s\" has neither the REPLICATION attribute nor superuser",
                               pipeline, role),
                        errdetail("%s", kOwnerNeeds)));
    // PostgreSQL 15 starts no background worker as a role without LOGIN.
    if (!canlogin)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("pipeline \"%s\": role \"%s\" cannot log in", pipeline, role),
                        errdetail("%s", kOwnerNeeds)));
    ForeignServer *srv = GetForeignServerByName(server, true);
    if (!srv)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("pipeline \"%s\": server \"%s\" does not exist", pipeline, server)));
    if (pg_foreign_server_aclcheck(srv->serverid, owner, ACL_USAGE) != ACLCHECK_OK)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("pipeline \"%s\": role \"%s\" has no USAGE privilege on server \"%s\"", pipeline, role,
                               server),
                        errdetail("%s", kOwnerNeeds)));
    Publication *pub = GetPublicationByName(publication, true);
    if (!pub)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("pipeline \"%s\": publication \"%s\" does not exist", pipeline, publication)));
    if (!pg_publication_ownercheck(pub->oid, owner))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("pipeline \"%s\": role \"%s\" does not own publication \"%s\"", pipeline, role,
                               publication),
                        errdetail("%s", kOwnerNeeds)));
    List *rels = PublishedRelations(pub);
    ListCell *lc;
    foreach (lc, rels) CheckRelationReadable(pipeline, owner, lfirst_oid(lc));
    return rels;
}

}  // namespace kafka_fdw::cdc
