// SQL functions of CDC pipelines: kafka.create_pipeline, drop_pipeline,
// pause_pipeline, resume_pipeline, restore_pipeline (a restored pipeline's
// slot), and the live status behind the view kafka.pipeline_status.
// Postgres zone.
//
// A pipeline = a row of kafka.pipelines + a logical replication slot named
// kafka_fdw_<database oid>_<name> with plugin pgoutput.  The launcher starts
// a worker for every such slot; the worker reads its row.  Slot creation is
// not transactional: a create_pipeline whose transaction aborts drops the
// slot it made (abort callback); drop_pipeline stops the worker, deletes
// the row, and drops the slot as its transaction commits (pre-commit
// callback: a failure there aborts the transaction, a rollback keeps both).
//
// Rights first, then elevation: each function checks the caller's rights
// against the row read without SQL (definition.cpp), and only then writes
// kafka.pipelines as the extension's owner, with search_path pinned and
// every operator qualified (pg/security.hpp).  The caller's settings never
// reach SQL that runs with more rights than the caller's.
#include "fdw/connection.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/security.hpp"

#include "cdc/cdc.hpp"
#include "cdc/outbox.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "catalog/pg_publication.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "replication/slot.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "utils/jsonb.h"
#include "utils/pg_lsn.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(kafka_create_pipeline);
PG_FUNCTION_INFO_V1(kafka_drop_pipeline);
PG_FUNCTION_INFO_V1(kafka_pause_pipeline);
PG_FUNCTION_INFO_V1(kafka_alter_pipeline);
PG_FUNCTION_INFO_V1(kafka_resume_pipeline);
PG_FUNCTION_INFO_V1(kafka_restore_pipeline);
}

namespace kafka_fdw::cdc {
namespace {

// Work to do when the current transaction ends, by the subtransaction that
// asked for it (a ROLLBACK TO SAVEPOINT forgets it).  In TopMemoryContext.
enum class Pending { Created, Reload, Dropping };
struct PendingSlot {
    Pending what;  // Created: drop on abort, start the worker on commit; Reload: wake the worker on commit;
                   // Dropping: drop before commit, clear the dropping flag on abort
    SubTransactionId subid;
    char slot[NAMEDATALEN];
    Oid owner;  // Created: the pipeline's owner
};
List *g_pending = NIL;
bool g_callback_registered = false;

// Is there a slot of that name made in this database?  (A pipeline's row
// restored from another database's dump may name a slot of that database.)
bool SlotOfThisDatabase(const char *slot) {
    LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
    ReplicationSlot *s = SearchNamedReplicationSlot(slot, false);
    bool ours = s && s->data.database == MyDatabaseId;  // set once, when the slot is made
    LWLockRelease(ReplicationSlotControlLock);
    return ours;
}

// The shared-memory entry of this database's slot of that name (under
// Shared()->lock): never another database's pipeline, whatever a row says.
PipelineEntry *FindOurEntry(const char *slot) {
    PipelineEntry *e = FindEntry(slot);
    return e && e->dboid == MyDatabaseId ? e : nullptr;
}

bool AnyPending(Pending what) {
    ListCell *lc;
    foreach (lc, g_pending)
        if (static_cast<PendingSlot *>(lfirst(lc))->what == what) return true;
    return false;
}

// Undoes what an aborted (sub)transaction asked for.  Nothing may fail here.
void Undo(const PendingSlot *p) {
    if (p->what == Pending::Dropping && Shared()) {
        LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
        if (PipelineEntry *e = FindOurEntry(p->slot)) e->dropping = false;
        LWLockRelease(Shared()->lock);
        WakeLauncher();
    } else if (p->what == Pending::Created) {
        // Best effort: a slot left behind has no pipeline row; its worker
        // finds none and stays stopped; pg_drop_replication_slot removes it.
        PG_TRY();
        { ReplicationSlotDrop(p->slot, true); }
        PG_CATCH();
        { FlushErrorState(); }
        PG_END_TRY();
    }
}

void XactCallback(XactEvent event, void *) {
    if (event == XACT_EVENT_PRE_PREPARE && (AnyPending(Pending::Created) || AnyPending(Pending::Dropping)))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("cannot PREPARE a transaction that created or dropped a pipeline")));
    ListCell *lc;
    if (event == XACT_EVENT_PRE_COMMIT) {
        // May fail: then the transaction aborts and the row stays too.  A
        // worker that took the slot after drop_pipeline saw it free (one the
        // launcher had just started) sees the dropping flag and lets go:
        // wait for it (interruptibly) instead of failing.
        foreach (lc, g_pending) {
            const PendingSlot *p = static_cast<PendingSlot *>(lfirst(lc));
            if (p->what == Pending::Dropping && SlotOfThisDatabase(p->slot)) ReplicationSlotDrop(p->slot, false);
        }
        return;
    }
    if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_COMMIT &&
        event != XACT_EVENT_PARALLEL_ABORT)
        return;
    bool commit = event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT;
    if (commit && Shared()) {
        // Nothing here may fail: plain shared-memory writes and latches.
        LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
        foreach (lc, g_pending) {
            const PendingSlot *p = static_cast<PendingSlot *>(lfirst(lc));
            PipelineEntry *e = FindOurEntry(p->slot);
            if (!e && p->what == Pending::Created) e = NewEntry(p->slot, MyDatabaseId);
            if (!e) continue;
            if (p->what == Pending::Reload) {
                e->reload = true;
                WakeWorker(e->pid);
                // A worker waiting out its backoff (e.g. after its owner
                // lost a privilege) starts again at once on resume.
                if (e->pid == 0) e->restart_at = 0;
            } else if (p->what == Pending::Created) {
                // A worker that looked before this commit found no row:
                // start the next one at once, as the new pipeline's owner
                // (an entry left by a dropped pipeline of the same name may
                // still name the old one).
                e->created_gen++;
                e->restart_at = 0;
                e->owner = p->owner;
            } else if (p->what == Pending::Dropping) {
                // Its slot is gone: the entry no longer counts against its
                // owner's quota, even before the launcher frees it.
                e->owner = InvalidOid;
            }
        }
        LWLockRelease(Shared()->lock);
        WakeLauncher();
    }
    if (!commit)
        foreach (lc, g_pending) Undo(static_cast<PendingSlot *>(lfirst(lc)));
    list_free_deep(g_pending);
    g_pending = NIL;
}

void SubXactCallback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *) {
    if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB) return;
    ListCell *lc;
    foreach (lc, g_pending) {
        PendingSlot *p = static_cast<PendingSlot *>(lfirst(lc));
        if (p->subid != mySubid) continue;
        if (event == SUBXACT_EVENT_COMMIT_SUB) {
            p->subid = parentSubid;
        } else {
            Undo(p);
            g_pending = foreach_delete_current(g_pending, lc);
            pfree(p);
        }
    }
}

void Remember(Pending what, const char *slot, Oid owner = InvalidOid) {
    if (!g_callback_registered) {
        RegisterXactCallback(XactCallback, nullptr);
        RegisterSubXactCallback(SubXactCallback, nullptr);
        g_callback_registered = true;
    }
    auto *p = static_cast<PendingSlot *>(MemoryContextAllocZero(TopMemoryContext, sizeof(PendingSlot)));
    p->what = what;
    p->subid = GetCurrentSubTransactionId();
    strlcpy(p->slot, slot, sizeof p->slot);
    p->owner = owner;
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    g_pending = lappend(g_pending, p);
    MemoryContextSwitchTo(old);
}

void RequirePreloaded() {
    if (!Preloaded() || !Shared())
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("CDC pipelines need kafka_fdw in shared_preload_libraries"),
                        errhint("Add kafka_fdw to shared_preload_libraries in postgresql.conf, set wal_level = "
                                "logical, and restart PostgreSQL.")));
}

void CheckName(const char *name) {
    size_t n = strlen(name);
    bool ok = n > 0 && n <= 40;
    for (const char *p = name; ok && *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) ok = false;
    if (!ok)
        ereport(ERROR, (errcode(ERRCODE_INVALID_NAME), errmsg("invalid pipeline name \"%s\"", name),
                        errdetail("Pipeline names are 1 to 40 characters a-z, 0-9 and _.")));
}

char *SlotName(const char *name) { return psprintf("%s%u_%s", kSlotPrefix, MyDatabaseId, name); }

// The caller may manage (pause, resume, drop) a pipeline: a superuser, or a
// role with REPLICATION that has the privileges of the pipeline's owner.
void CheckManage(const char *name, Oid owner) {
    if (superuser()) return;
    if (!has_privs_of_role(GetUserId(), owner) || !has_rolreplication(GetUserId()))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to manage pipeline \"%s\"", name),
                        errdetail("Only superusers and the pipeline's owner with the REPLICATION attribute may.")));
}

// For drop/pause/resume: the library is preloaded, the pipeline exists and
// the caller may manage it.  Read without SQL, checked before anything runs
// with more rights than the caller's.
PipelineDef OpenManagedPipeline(const char *name) {
    RequirePreloaded();
    PipelineDef def;
    if (!ReadPipeline(name, nullptr, false, &def))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("pipeline \"%s\" does not exist", name)));
    CheckManage(name, def.owner);
    return def;
}

// SQL on kafka.pipelines, as the extension's owner (the owner of the table),
// under a pinned search_path, restricted; the text names the table by the
// extension's schema and qualifies every operator.  The caller's rights were
// checked.
void BeginOwnSql(pg::OwnerSpi *own) { pg::BeginOwnerSpi(own, pg::kOwnerSpiConnect | pg::kOwnerSpiRestricted); }
void Exec(const char *sql, int nargs, Oid *types, Datum *values, int expect) {
    int rc = SPI_execute_with_args(sql, nargs, types, values, nullptr, false, 0);
    if (rc != expect) elog(ERROR, "kafka_fdw: SPI failed (%d): %s", rc, sql);
}

// Locks the pipeline's row (as the extension's owner: see BeginOwnSql) and
// returns its paused flag; ERROR when it was dropped, or dropped and made
// again by another owner, since the caller's rights were checked.
bool LockPipeline(const pg::OwnerSpi &own, const PipelineDef &def) {
    Oid types[2] = {TEXTOID, OIDOID};
    Datum values[2] = {CStringGetTextDatum(def.name), ObjectIdGetDatum(def.owner)};
    Exec(psprintf("SELECT paused FROM %s.pipelines WHERE name OPERATOR(pg_catalog.=) $1 "
                  "AND owner::pg_catalog.oid OPERATOR(pg_catalog.=) $2 FOR UPDATE",
                  own.schema),
         2, types, values, SPI_OK_SELECT);
    if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("pipeline \"%s\" does not exist", def.name)));
    bool isnull;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    return !isnull && DatumGetBool(d);
}

// Validates the options object (raises on a bad key/value); returns its
// "snapshot" flag, and its "failover" flag in *FAILOVER.
bool CheckOptions(Jsonb *opts, bool *failover) {
    if (!JB_ROOT_IS_OBJECT(opts))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("pipeline options must be a JSON object")));
    bool debezium_format = false, schemas_given = false, txn_topic_given = false, snapshot = false;
    bool *debezium = &debezium_format, *schemas = &schemas_given, *txn_topic = &txn_topic_given,
         *take_snapshot = &snapshot;
    *failover = false;
    int64 commit_max_events = kDefaultCommitMaxEvents, split_max_events = kDefaultSplitMaxEvents;
    int64 *commit_max = &commit_max_events, *split_max = &split_max_events;
    pg::ForEachJsonbMember(opts, [debezium, schemas, txn_topic, take_snapshot, failover, commit_max,
                                  split_max](char *key, JsonbValue *jv) {
        const JsonbValue &v = *jv;
        if (strcmp(key, "topic_prefix") == 0) {
            bool ok = v.type == jbvString && v.val.string.len > 0;
            for (int i = 0; ok && i < v.val.string.len; i++) {
                char c = v.val.string.val[i];
                if (!isalnum((unsigned char)c) && c != '.' && c != '_' && c != '-') ok = false;
            }
            if (!ok)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"topic_prefix\" must be a non-empty string of "
                                       "A-Z, a-z, 0-9, '.', '_' and '-'")));
        } else if (strcmp(key, "partitions") == 0 || strcmp(key, "replication_factor") == 0) {
            if (v.type != jbvNumeric)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"%s\" must be a number", key)));
            int n = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v.val.numeric)));
            if (n == 0 || n < -1)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"%s\" must be positive (or -1, the broker's default)",
                                       key)));
        } else if (strcmp(key, "format") == 0) {
            auto is = [&](const char *f) {
                return v.type == jbvString && v.val.string.len == (int)strlen(f) &&
                       strncmp(v.val.string.val, f, v.val.string.len) == 0;
            };
            if (!is("row") && !is("debezium"))
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"format\" must be \"row\" or \"debezium\"")));
            *debezium = is("debezium");
        } else if (strcmp(key, "snapshot") == 0) {
            if (v.type != jbvBool)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"snapshot\" must be true or false")));
            *take_snapshot = v.val.boolean;
        } else if (strcmp(key, "schemas") == 0) {
            if (v.type != jbvBool)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"schemas\" must be true or false")));
            *schemas = true;
        } else if (strcmp(key, "transaction_topic") == 0) {
            if (v.type != jbvBool)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"transaction_topic\" must be true or false")));
            *txn_topic = true;
        } else if (strcmp(key, "failover") == 0) {
            if (v.type != jbvBool)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"failover\" must be true or false")));
            if (v.val.boolean && !pg::kFailoverSlots)
                ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                                errmsg("pipeline option \"failover\" needs PostgreSQL 17 or later"),
                                errdetail("Failover slots (synchronized to standbys) came with PostgreSQL 17.")));
            *failover = v.val.boolean;
        } else if (strcmp(key, "exactly_once") == 0) {
            if (v.type != jbvBool)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"exactly_once\" must be true or false")));
        } else if (strcmp(key, "heartbeat_interval_ms") == 0) {
            int64 n = -1;
            if (v.type == jbvNumeric)
                n = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v.val.numeric)));
            if (n < 0 || n > PG_INT32_MAX)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"heartbeat_interval_ms\" must be a whole number from 0 (no "
                                       "heartbeats) to %d",
                                       PG_INT32_MAX)));
        } else if (strcmp(key, "progress_topic") == 0 || strcmp(key, "heartbeat_topic") == 0) {
            // (not Kafka's internal topics, __consumer_offsets, ...: names
            // beginning with "__" are refused but the extension's own)
            bool ok = v.type == jbvString && v.val.string.len > 0 && v.val.string.len <= 249 &&
                      (v.val.string.len < 2 || strncmp(v.val.string.val, "__", 2) != 0 ||
                       (v.val.string.len > 11 && strncmp(v.val.string.val, "__kafka_fdw", 11) == 0));
            for (int i = 0; ok && i < v.val.string.len; i++) {
                char c = v.val.string.val[i];
                if (!isalnum((unsigned char)c) && c != '.' && c != '_' && c != '-') ok = false;
            }
            if (!ok)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"%s\" must be a topic name (1 to 249 of "
                                       "A-Z, a-z, 0-9, '.', '_' and '-'; not beginning with \"__\" but "
                                       "\"__kafka_fdw\")",
                                       key)));
        } else if (strcmp(key, "commit_interval_ms") == 0 || strcmp(key, "commit_max_events") == 0 ||
                   strcmp(key, "split_max_events") == 0) {
            bool ok = v.type == jbvNumeric;
            int64 n = 0;
            // commit_interval_ms: at most kMaxCommitIntervalMs (a Kafka
            // transaction open longer than the producer's
            // transaction.timeout.ms, 60 s, is aborted by the coordinator)
            int64 max = strcmp(key, "commit_interval_ms") == 0 ? kMaxCommitIntervalMs : PG_INT32_MAX;
            if (ok) {
                // (a fraction is rounded, as for "partitions"; past bigint: 22003)
                n = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v.val.numeric)));
                ok = n >= 1 && n <= max;
            }
            if (!ok)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pipeline option \"%s\" must be a whole number, 1 to %lld", key,
                                       (long long)max)));
            if (strcmp(key, "commit_max_events") == 0) *commit_max = n;
            if (strcmp(key, "split_max_events") == 0) *split_max = n;
        } else if (strcmp(key, "outbox_topics") == 0) {
            outbox::CheckTopicsOption(&v);
        } else {
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown pipeline option \"%s\"", key),
                            errhint("Valid options: topic_prefix, partitions, replication_factor, format, schemas, "
                                    "transaction_topic, snapshot, failover, exactly_once, progress_topic, "
                                    "commit_interval_ms, commit_max_events, split_max_events, "
                                    "heartbeat_interval_ms, heartbeat_topic, outbox_topics.")));
        }
    });
    if (commit_max_events > split_max_events)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("pipeline option \"commit_max_events\" (%lld) must not exceed \"split_max_events\" "
                               "(%lld)",
                               (long long)commit_max_events, (long long)split_max_events)));
    if (schemas_given && !debezium_format)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("pipeline option \"schemas\" applies to \"format\": \"debezium\" only")));
    if (txn_topic_given && !debezium_format)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("pipeline option \"transaction_topic\" applies to \"format\": \"debezium\" only")));
    return snapshot;
}

// A pipeline's worker needs a shared-memory entry: refuse the pipeline that
// would find none (its worker would never start).
void CheckPipelineLimit() {
    int ours = 0;
    LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
    for (int i = 0; i < max_replication_slots; i++)
        if (IsPipelineSlot(&ReplicationSlotCtl->replication_slots[i])) ours++;
    LWLockRelease(ReplicationSlotControlLock);
    if (ours >= Shared()->max_pipelines)
        ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                        errmsg("too many pipelines: kafka_fdw.max_pipelines is %d", Shared()->max_pipelines),
                        errdetail("The cluster has %d pipelines (in all its databases).", ours),
                        errhint("Drop a pipeline, or raise kafka_fdw.max_pipelines (and max_worker_processes) "
                                "and restart the server.")));
}

// Is the slot held by a process?
pid_t SlotActivePid(const char *slot) {
    pid_t pid = 0;
    LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
    ReplicationSlot *s = SearchNamedReplicationSlot(slot, false);
    if (s) {
        SpinLockAcquire(&s->mutex);
        pid = s->active_pid;
        SpinLockRelease(&s->mutex);
    }
    LWLockRelease(ReplicationSlotControlLock);
    return pid;
}

// The pipeline's slot, as the caller (a REPLICATION role or a superuser),
// before anything writes: a slot cannot be made by a transaction with an
// xid.  Dropped again if the transaction aborts.
void CreatePipelineSlot(const char *slot, bool failover, Oid owner) {
    SPI_connect();
    int nest = pg::PinSearchPath();
    NameData slot_name;
    namestrcpy(&slot_name, slot);
    Oid types[1] = {NAMEOID};
    Datum values[1] = {NameGetDatum(&slot_name)};
    // (failover: an argument of PostgreSQL 17+; CheckOptions refused it before)
    Exec(failover ? "SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput', false, false, true)"
                  : "SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')",
         1, types, values, SPI_OK_SELECT);
    pg::UnpinSearchPath(nest);
    SPI_finish();
    Remember(Pending::Created, slot, owner);
}

}  // namespace
}  // namespace kafka_fdw::cdc

using namespace kafka_fdw::cdc;
namespace pg = kafka_fdw::pg;

extern "C" Datum kafka_create_pipeline(PG_FUNCTION_ARGS) {
    for (int i = 0; i < 3; i++)
        if (PG_ARGISNULL(i))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("pipeline name, server and publication must not be NULL")));
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char *server = text_to_cstring(PG_GETARG_TEXT_PP(1));
    char *publication = text_to_cstring(PG_GETARG_TEXT_PP(2));
    Jsonb *opts = PG_ARGISNULL(3) ? nullptr : PG_GETARG_JSONB_P(3);
    Oid owner = GetUserId();

    // The caller's rights, all of them, before anything else.
    RequirePreloaded();
    CheckName(name);
    if (!superuser() && !has_rolreplication(owner))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("permission denied to create a pipeline"),
                        errdetail("Only superusers and roles with the REPLICATION attribute may create pipelines.")));
    (void)kafka_fdw::fdw::GetClientSpecByName(server);  // exists, is ours, USAGE
    (void)GetPublicationByName(publication, false);
    // What the worker will check at each start, as the owner: REPLICATION,
    // LOGIN, USAGE on the server, owning the publication, SELECT on its
    // tables.
    (void)CheckOwnerPrivileges(name, owner, server, publication);
    bool failover = false;
    bool snapshot = opts ? CheckOptions(opts, &failover) : false;
    if (!superuser()) {
        // One create at a time per role (and no DROP ROLE meanwhile), so
        // that concurrent ones count each other.
        LockSharedObject(AuthIdRelationId, owner, 0, ShareUpdateExclusiveLock);
        int n = CountPipelinesOf(owner);
        if (n >= pg::g_max_pipelines_per_role)
            ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                            errmsg("too many pipelines for role \"%s\": kafka_fdw.max_pipelines_per_role is %d",
                                   GetUserNameFromId(owner, false), pg::g_max_pipelines_per_role),
                            errdetail("The role owns %d pipelines (in all databases).", n),
                            errhint("Drop a pipeline, or ask a superuser to raise kafka_fdw.max_pipelines_per_role "
                                    "(for this role: ALTER ROLE ... SET).")));
    }
    CheckPipelineLimit();
    PipelineDef existing;
    if (ReadPipeline(name, nullptr, true, &existing))
        ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT), errmsg("pipeline \"%s\" already exists", name)));
    char *slot = SlotName(name);

    CreatePipelineSlot(slot, failover, owner);
    // The row, as the extension's owner.
    {
        pg::OwnerSpi own;
        BeginOwnSql(&own);
        Oid types[7] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, NAMEOID, REGROLEOID, TEXTOID};
        Datum values[7] = {CStringGetTextDatum(name),
                           CStringGetTextDatum(server),
                           CStringGetTextDatum(publication),
                           opts ? JsonbPGetDatum(opts) : DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")),
                           CStringGetDatum(slot),
                           ObjectIdGetDatum(owner),
                           CStringGetTextDatum(snapshot ? "pending" : "none")};
        Exec(psprintf("INSERT INTO %s.pipelines (name, server, publication, options, slot_name, owner, snapshot) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      own.schema),
             7, types, values, SPI_OK_INSERT);
        pg::EndOwnerSpi(&own);
    }
    // On commit the launcher starts the worker (it scans every second).
    Remember(Pending::Reload, slot);
    PG_RETURN_VOID();
}

extern "C" Datum kafka_drop_pipeline(PG_FUNCTION_ARGS) {
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    PipelineDef row = OpenManagedPipeline(name);
    pg::OwnerSpi own;
    BeginOwnSql(&own);
    (void)LockPipeline(own, row);
    pg::EndOwnerSpi(&own);

    // Stop the worker and keep the launcher from starting another.
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    PipelineEntry *e = FindOurEntry(row.slot_name);
    if (e) {
        e->dropping = true;
        e->reload = true;
        WakeWorker(e->pid);
    }
    LWLockRelease(Shared()->lock);
    Remember(Pending::Dropping, row.slot_name);

    // Wait for the slot to be released (interruptibly, up to the timeout).
    TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Max(kafka_fdw::pg::g_timeout_ms, 5000));
    for (;;) {
        pid_t pid = SlotOfThisDatabase(row.slot_name) ? SlotActivePid(row.slot_name) : 0;
        if (pid == 0) break;
        if (GetCurrentTimestamp() > deadline)
            ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                            errmsg("replication slot \"%s\" of pipeline \"%s\" is still in use by process %d",
                                   row.slot_name, name, (int)pid)));
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 50L, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }

    BeginOwnSql(&own);
    {
        Oid types[1] = {TEXTOID};
        Datum values[1] = {CStringGetTextDatum(name)};
        Exec(psprintf("DELETE FROM %s.pipelines WHERE name OPERATOR(pg_catalog.=) $1", own.schema), 1, types, values,
             SPI_OK_DELETE);
    }
    pg::EndOwnerSpi(&own);
    WakeLauncher();
    PG_RETURN_VOID();
}

static Datum SetPaused(FunctionCallInfo fcinfo, bool paused) {
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    PipelineDef row = OpenManagedPipeline(name);
    // Without its slot (a pipeline restored from a dump) a pipeline has no
    // worker: resuming it would change nothing.
    if (!paused && !SlotOfThisDatabase(row.slot_name))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("replication slot \"%s\" of pipeline \"%s\" does not exist", row.slot_name, name),
                        errdetail("A pipeline restored from a dump comes without its slot."),
                        errhint("Run kafka.restore_pipeline('%s'): it makes the slot and resumes the pipeline "
                                "(with snapshot => true, after an initial snapshot).",
                                name)));
    pg::OwnerSpi own;
    BeginOwnSql(&own);
    if (LockPipeline(own, row) != paused) {
        Oid types[2] = {TEXTOID, BOOLOID};
        Datum values[2] = {CStringGetTextDatum(name), BoolGetDatum(paused)};
        Exec(psprintf("UPDATE %s.pipelines SET paused = $2 WHERE name OPERATOR(pg_catalog.=) $1", own.schema), 2,
             types, values, SPI_OK_UPDATE);
        Remember(Pending::Reload, row.slot_name);
    }
    pg::EndOwnerSpi(&own);
    PG_RETURN_VOID();
}

extern "C" Datum kafka_pause_pipeline(PG_FUNCTION_ARGS) { return SetPaused(fcinfo, true); }

// kafka.alter_pipeline(name, options): the options merged into the
// pipeline's (a member whose value is JSON null is removed), checked as
// create_pipeline checks them; the worker starts again with them.  Not
// "snapshot" (an initial snapshot is made by create_pipeline or
// restore_pipeline) nor a change of "failover" (the slot's own flag).
extern "C" Datum kafka_alter_pipeline(PG_FUNCTION_ARGS) {
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    Jsonb *change = PG_GETARG_JSONB_P(1);
    if (!JB_ROOT_IS_OBJECT(change))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("pipeline options must be a JSON object")));
    pg::ForEachJsonbMember(change, [](char *key, JsonbValue *) {
        if (strcmp(key, "snapshot") == 0)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("pipeline option \"snapshot\" cannot be altered"),
                            errhint("An initial snapshot is taken by create_pipeline or restore_pipeline.")));
    });
    PipelineDef row = OpenManagedPipeline(name);
    bool old_failover = false;
    (void)CheckOptions(row.options, &old_failover);
    pg::OwnerSpi own;
    BeginOwnSql(&own);
    (void)LockPipeline(own, row);
    Oid types[2] = {TEXTOID, JSONBOID};
    Datum values[2] = {CStringGetTextDatum(name), JsonbPGetDatum(change)};
    Exec(psprintf("UPDATE %s.pipelines SET options = pg_catalog.jsonb_strip_nulls(options OPERATOR(pg_catalog.||) $2) "
                  "WHERE name OPERATOR(pg_catalog.=) $1 RETURNING options",
                  own.schema),
         2, types, values, SPI_OK_UPDATE_RETURNING);
    bool isnull;
    Jsonb *merged = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    bool new_failover = false;
    (void)CheckOptions(merged, &new_failover);
    if (new_failover != old_failover)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("pipeline option \"failover\" cannot be altered"),
                        errdetail("It is a property of the pipeline's replication slot, made by create_pipeline.")));
    Remember(Pending::Reload, row.slot_name);
    pg::EndOwnerSpi(&own);
    PG_RETURN_VOID();
}
extern "C" Datum kafka_resume_pipeline(PG_FUNCTION_ARGS) { return SetPaused(fcinfo, false); }

// kafka.restore_pipeline(name, snapshot): a pipeline whose replication slot
// is missing (restored from a dump into this database or cluster) gets this
// database's slot, a pending initial snapshot if asked for, and runs again.
// The caller: as for resume_pipeline (CheckManage), and, as create_pipeline
// checks, the owner still has what the worker needs.
extern "C" Datum kafka_restore_pipeline(PG_FUNCTION_ARGS) {
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    bool snapshot = PG_GETARG_BOOL(1);
    PipelineDef row = OpenManagedPipeline(name);
    char *slot = SlotName(name);
    if (SlotOfThisDatabase(slot))
        ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                        errmsg("pipeline \"%s\" has its replication slot \"%s\"", name, slot),
                        errhint("kafka.resume_pipeline resumes a paused pipeline; kafka.restore_pipeline is for a "
                                "pipeline restored from a dump, whose slot is missing.")));
    (void)kafka_fdw::fdw::GetClientSpecByName(row.server);  // exists, is ours, USAGE
    (void)CheckOwnerPrivileges(name, row.owner, row.server, row.publication);
    bool failover = false;
    (void)CheckOptions(row.options, &failover);
    CheckPipelineLimit();
    CreatePipelineSlot(slot, failover, row.owner);

    pg::OwnerSpi own;
    BeginOwnSql(&own);
    (void)LockPipeline(own, row);
    NameData slot_name;
    namestrcpy(&slot_name, slot);
    Oid types[2] = {TEXTOID, NAMEOID};
    Datum values[2] = {CStringGetTextDatum(name), NameGetDatum(&slot_name)};
    Exec(psprintf("UPDATE %s.pipelines SET slot_name = $2, paused = false%s WHERE name OPERATOR(pg_catalog.=) $1",
                  own.schema, snapshot ? ", snapshot = 'pending'" : ""),
         2, types, values, SPI_OK_UPDATE);
    pg::EndOwnerSpi(&own);
    Remember(Pending::Reload, slot);
    PG_RETURN_VOID();
}
