// A pipeline's definition and what its owner needs (Postgres zone).
//
// kafka.pipelines is read here with a heap scan of the table that belongs to
// the extension (found through its schema OID): no SQL, so neither a
// caller's nor an owner's settings (search_path, operators on text, role or
// database settings applied at connection) take part.  The privilege checks
// are those of the role that owns the work, the way PostgreSQL checks a
// replication connection and its table copy: REPLICATION, SELECT on the
// published tables; plus what kafka_fdw adds (USAGE on the server, owning
// the publication, LOGIN for the worker's connection).  Also the pipeline
// worker's side of it: loading its definition, checking its owner at each
// start and each table's first appearance, and the lookup start that finds
// the owner.
#include "cdc/worker.hpp"
#include "cdc/outbox.hpp"

#include "pg/datum.hpp"
#include "pg/security.hpp"
#include "pg/worker.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/partition.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_publication.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "storage/lwlock.h"
#include "utils/fmgrprotos.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
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

// ---- the pipeline worker's definition and owner (see worker.hpp) ---------------

namespace kafka_fdw::cdc::pipeline {

namespace {

// The worker's settings from its row, in W->cxt.
void ApplyDefinition(const PipelineDef &def) {
    W->name = def.name;
    W->server = def.server;
    W->publication = def.publication;
    W->owner = def.owner;
    W->paused = def.paused;
    W->snapshot_pending = strcmp(def.snapshot, "pending") == 0;
    // create_pipeline validated the options.
    W->topic_prefix = def.name;
    W->partitions = -1;
    W->replication = -1;
    W->debezium = false;
    W->dbz_schemas = true;
    W->failover = false;
    W->exactly_once = true;
    W->progress_topic = nullptr;
    W->commit_interval_ms = kDefaultCommitIntervalMs;
    W->commit_max_events = kDefaultCommitMaxEvents;
    W->split_max_events = kDefaultSplitMaxEvents;
    W->heartbeat_ms = 0;
    W->heartbeat_topic = nullptr;
    W->dbz_txn_topic = false;
    pg::ForEachJsonbMember(def.options, [](char *key, JsonbValue *v) {
        auto number = [v]() {
            return v->type == jbvNumeric
                       ? DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)))
                       : -1;
        };
        auto string = [v]() {
            return v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : pstrdup("");
        };
        if (strcmp(key, "topic_prefix") == 0) W->topic_prefix = string();
        else if (strcmp(key, "partitions") == 0) W->partitions = number();
        else if (strcmp(key, "replication_factor") == 0) W->replication = number();
        else if (strcmp(key, "format") == 0) W->debezium = strcmp(string(), "debezium") == 0;
        else if (strcmp(key, "schemas") == 0) W->dbz_schemas = !(v->type == jbvBool && !v->val.boolean);
        else if (strcmp(key, "failover") == 0) W->failover = v->type == jbvBool && v->val.boolean;
        else if (strcmp(key, "exactly_once") == 0) W->exactly_once = !(v->type == jbvBool && !v->val.boolean);
        else if (strcmp(key, "progress_topic") == 0) W->progress_topic = string();
        else if (strcmp(key, "commit_interval_ms") == 0) W->commit_interval_ms = number();
        else if (strcmp(key, "commit_max_events") == 0) W->commit_max_events = number();
        else if (strcmp(key, "split_max_events") == 0) W->split_max_events = number();
        else if (strcmp(key, "heartbeat_interval_ms") == 0) W->heartbeat_ms = number();
        else if (strcmp(key, "heartbeat_topic") == 0) W->heartbeat_topic = string();
        else if (strcmp(key, "transaction_topic") == 0) W->dbz_txn_topic = v->type == jbvBool && v->val.boolean;
    });
    if (!W->progress_topic) W->progress_topic = psprintf("__kafka_fdw_progress.%s", W->slot_name);
    if (!W->heartbeat_topic) W->heartbeat_topic = psprintf("__kafka_fdw_heartbeat.%s", W->topic_prefix);
    W->outbox_topics = outbox::Topics(def.options);
    W->dbname = get_database_name(MyDatabaseId);
}

// The checks of a lookup start: the worker can connect as the pipeline's
// owner.
void CheckOwnerCanConnect(const PipelineDef &def) {
    HeapTuple tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(def.owner));
    if (!HeapTupleIsValid(tup))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("pipeline \"%s\": its owner (role with OID %u) does not exist", def.name,
                               def.owner),
                        errhint("Drop the pipeline; a role with the privileges it needs can create it again.")));
    auto *role = (Form_pg_authid)GETSTRUCT(tup);
    if (!role->rolcanlogin)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("pipeline \"%s\": role \"%s\" cannot log in", def.name, NameStr(role->rolname)),
                        errdetail("A pipeline's worker connects as the pipeline's owner.")));
    if (pg_database_aclcheck(MyDatabaseId, def.owner, ACL_CONNECT) != ACLCHECK_OK)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("pipeline \"%s\": role \"%s\" has no CONNECT privilege on database \"%s\"",
                               def.name, NameStr(role->rolname), get_database_name(MyDatabaseId)),
                        errdetail("A pipeline's worker connects as the pipeline's owner.")));
    ReleaseSysCache(tup);
}

}  // namespace

// Reads the pipeline's row (kafka.pipelines, without SQL: ReadPipeline) in
// a short transaction.  False when this slot has no pipeline in this
// database (yet: a create_pipeline not committed).
bool LoadDefinition() {
    bool found = false;
    pg::InWorkerXact(pg::kXactSnapshot, [&found] {
        MemoryContext old = MemoryContextSwitchTo(W->cxt);
        PipelineDef def;
        found = ReadPipeline(nullptr, W->slot_name, false, &def);
        if (found) {
            ApplyDefinition(def);
            LoadOutboxSecret();
        }
        MemoryContextSwitchTo(old);
    });
    return found;
}

// The owner's privileges, at every start as the owner (against the catalog
// as it is now).
void CheckPrivileges() {
    pg::InWorkerXact(0, [] {
        List *tables = CheckOwnerPrivileges(W->name, W->owner, W->server, W->publication);
        MemoryContext old = MemoryContextSwitchTo(W->cxt);
        W->verified = list_copy(tables);
        MemoryContextSwitchTo(old);
    });
}

// Where a table is described (pgoutput's Relation message, or the initial
// snapshot): may the owner read it?  Its first description after this start
// is covered by CheckPrivileges when the table was in the publication then:
// checked against the catalog as it is now, so that changes made while the
// owner lacked SELECT are sent once it has it again (a check against the
// catalog of that time would stop the pipeline there for good).  Any other
// description is checked against the catalog as of the change being decoded
// (pgoutput describes a table again after its privileges changed): a REVOKE
// stops the pipeline at the table's next change, before anything of it is
// sent.
void RelationAllowed(Oid relid) {
    if (list_member_oid(W->verified, relid)) {
        W->verified = list_delete_oid(W->verified, relid);
        return;
    }
    CheckRelationReadable(W->name, W->owner, relid);
}

// A start for an entry whose owner is unknown, connected as the bootstrap
// superuser: reads the owner from the pipeline's row (no SQL, no user code),
// checks that the worker can connect as it, records it and exits; the
// launcher starts the worker again at once, as the owner.
[[noreturn]] void LookupOwner() {
    PipelineDef def;
    bool found = false;
    pg::InWorkerXact(pg::kXactSnapshot, [&def, &found] {
        found = ReadPipeline(nullptr, W->slot_name, false, &def);
        if (found) CheckOwnerCanConnect(def);
    });
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    if (found) W->entry->owner = def.owner;
    else W->no_definition = true;  // look again later, or at once when a create commits
    W->entry->state = found ? WorkerState::Starting : WorkerState::Stopped;
    LWLockRelease(Shared()->lock);
    proc_exit(0);
}

}  // namespace kafka_fdw::cdc::pipeline
