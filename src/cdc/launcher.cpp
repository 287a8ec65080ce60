// The CDC launcher and the pipelines' shared memory.  The launcher is a
// static background worker (registered only when the library is preloaded).
// Every second, or when woken, it lists the logical replication slots named
// kafka_fdw_* that use pgoutput (each is a pipeline of some database), and
// starts a pipeline worker for each that has none, with a backoff after
// failed runs.  Slots are cluster-wide; the launcher connects to no database
// but reads pg_database once at start: every database that allows
// connections gets a sink worker that looks for sinks (and ends if it finds
// none); kafka.create_sink marks its database again.
#include "cdc/cdc.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_database.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"
}

namespace kafka_fdw::cdc {
namespace {

bool g_preloaded = false;
int g_max_pipelines = 8;
CdcShared *g_shared = nullptr;
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

Size SharedSize() {
    return add_size(offsetof(CdcShared, entries), mul_size(sizeof(PipelineEntry), g_max_pipelines));
}

void ShmemRequest() {
    if (prev_shmem_request_hook) prev_shmem_request_hook();
    RequestAddinShmemSpace(SharedSize());
    RequestNamedLWLockTranche("kafka_fdw_cdc", 1);
}

void ShmemStartup() {
    if (prev_shmem_startup_hook) prev_shmem_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    g_shared = static_cast<CdcShared *>(ShmemInitStruct("kafka_fdw_cdc", SharedSize(), &found));
    if (!found) {
        memset(g_shared, 0, SharedSize());
        g_shared->lock = &(GetNamedLWLockTranche("kafka_fdw_cdc"))->lock;
        g_shared->launcher_procno = -1;
        g_shared->max_pipelines = g_max_pipelines;
    }
    LWLockRelease(AddinShmemInitLock);
}

}  // namespace

void ReloadConfigIfPending() {
    if (!ConfigReloadPending) return;
    ConfigReloadPending = false;
    ProcessConfigFile(PGC_SIGHUP);
}

const char *WorkerStateName(WorkerState s) {
    switch (s) {
    case WorkerState::Starting:
    case WorkerState::Running:
        return "running";
    case WorkerState::Paused:
        return "paused";
    case WorkerState::Retrying:
        return "retrying";
    case WorkerState::Stopped:
        break;
    }
    return "stopped";
}

bool Preloaded() { return g_preloaded; }
CdcShared *Shared() { return g_shared; }

void InitAtPreload() {
    g_preloaded = true;
    DefineCustomIntVariable("kafka_fdw.max_pipelines", "Maximum number of CDC pipelines in the cluster.", nullptr,
                            &g_max_pipelines, 8, 1, 1000, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineSinkGucs();
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = ShmemRequest;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = ShmemStartup;

    BackgroundWorker bgw;
    memset(&bgw, 0, sizeof bgw);
    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
    bgw.bgw_restart_time = 5;
    snprintf(bgw.bgw_library_name, BGW_MAXLEN, "kafka_fdw");
    snprintf(bgw.bgw_function_name, BGW_MAXLEN, "kafka_fdw_cdc_launcher_main");
    snprintf(bgw.bgw_name, BGW_MAXLEN, "kafka_fdw CDC launcher");
    snprintf(bgw.bgw_type, BGW_MAXLEN, "kafka_fdw CDC launcher");
    RegisterBackgroundWorker(&bgw);
}

void WakeLauncher() {
    if (!g_shared) return;
    int procno = g_shared->launcher_procno;
    if (procno >= 0) SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

void WakeWorker(pid_t pid) {
    if (pid == 0) return;
    PGPROC *proc = BackendPidGetProc(pid);
    if (proc) SetLatch(&proc->procLatch);
}

bool IsPipelineSlot(const ReplicationSlot *s) {
    return s->in_use && SlotIsLogical(s) && strncmp(NameStr(s->data.name), kSlotPrefix, strlen(kSlotPrefix)) == 0 &&
           strcmp(NameStr(s->data.plugin), "pgoutput") == 0;
}

SinkWorkerEntry *FindSinkWorker(Oid dboid, Oid owner, bool create) {
    SinkWorkerEntry *free_entry = nullptr;
    for (int i = 0; i < kMaxSinkWorkers; i++) {
        SinkWorkerEntry *e = &g_shared->sinkworkers[i];
        if (e->dboid == dboid && e->owner == owner) return e;
        if (e->dboid == InvalidOid && !free_entry) free_entry = e;
    }
    if (!create || !free_entry) return nullptr;
    memset(free_entry, 0, sizeof *free_entry);
    free_entry->dboid = dboid;
    free_entry->owner = owner;
    return free_entry;
}

PipelineEntry *FindEntry(const char *slot_name) {
    for (int i = 0; i < g_shared->max_pipelines; i++) {
        PipelineEntry *e = &g_shared->entries[i];
        if (e->in_use && strcmp(e->slot_name, slot_name) == 0) return e;
    }
    return nullptr;
}

PipelineEntry *NewEntry(const char *slot_name, Oid dboid) {
    for (int i = 0; i < g_shared->max_pipelines; i++) {
        PipelineEntry *e = &g_shared->entries[i];
        // A free entry never has a worker the launcher knows of (it frees
        // only entries without one); pid: a worker of an earlier launcher.
        if (e->in_use || e->pid != 0) continue;
        memset(e, 0, sizeof *e);
        e->in_use = true;
        e->dboid = dboid;
        strlcpy(e->slot_name, slot_name, NAMEDATALEN);
        e->restart_at = GetCurrentTimestamp();
        return e;
    }
    return nullptr;
}

namespace {

struct SlotRef {
    char name[NAMEDATALEN];
    Oid dboid;
};

// The launcher's own handles of the workers it started, by entry index.
BackgroundWorkerHandle **g_handles = nullptr;
BackgroundWorkerHandle *g_sink_handles[kMaxSinkWorkers];
// Databases whose sinks were not looked up yet (the table was full).
List *g_unmarked = NIL;

void LauncherExit(int, Datum) {
    if (!g_shared) return;
    LWLockReleaseAll();  // an ERROR may have left the lock held
    LWLockAcquire(g_shared->lock, LW_EXCLUSIVE);
    g_shared->launcher_procno = -1;
    g_shared->launcher_pid = 0;
    LWLockRelease(g_shared->lock);
}

// A dynamic worker connected to a database, restarted by us (not the
// postmaster), notifying us when it ends; NULL when no slot is free.
BackgroundWorkerHandle *StartDynamicWorker(const char *function, const char *name, const char *type, int idx) {
    BackgroundWorker bgw;
    memset(&bgw, 0, sizeof bgw);
    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
    bgw.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher restarts it
    snprintf(bgw.bgw_library_name, BGW_MAXLEN, "kafka_fdw");
    snprintf(bgw.bgw_function_name, BGW_MAXLEN, "%s", function);
    snprintf(bgw.bgw_name, BGW_MAXLEN, "%s", name);
    snprintf(bgw.bgw_type, BGW_MAXLEN, "%s", type);
    bgw.bgw_main_arg = Int32GetDatum(idx);
    bgw.bgw_notify_pid = MyProcPid;
    BackgroundWorkerHandle *h = nullptr;
    // The handle outlives this scan (whose memory is reset).
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    bool ok = RegisterDynamicBackgroundWorker(&bgw, &h);
    MemoryContextSwitchTo(old);
    return ok ? h : nullptr;
}

void StartWorker(int idx) {
    PipelineEntry *e = &g_shared->entries[idx];
    char name[BGW_MAXLEN];
    snprintf(name, sizeof name, "kafka_fdw pipeline %s", e->slot_name);
    BackgroundWorkerHandle *h = StartDynamicWorker("kafka_fdw_cdc_worker_main", name, "kafka_fdw pipeline", idx);
    if (h) {
        g_handles[idx] = h;
        e->state = WorkerState::Starting;
    } else {
        // No free background worker slot: say so, try again later.
        snprintf(e->last_error, sizeof e->last_error,
                 "could not start a pipeline worker: no free background worker slot (raise max_worker_processes)");
        e->last_error_at = GetCurrentTimestamp();
        e->restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 5000);
    }
}

// Every database that allows connections may have sinks: a lookup worker
// for each, once; those that find no free entry are tried again later.
void MarkAllDatabases() {
    StartTransactionCommand();
    (void)GetTransactionSnapshot();
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tup;
    LWLockAcquire(g_shared->lock, LW_EXCLUSIVE);
    while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        auto *db = (Form_pg_database)GETSTRUCT(tup);
        if (!db->datallowconn || db->datistemplate) continue;
        SinkWorkerEntry *e = FindSinkWorker(db->oid, InvalidOid, true);
        if (e) {
            e->wanted = true;
        } else {
            MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
            g_unmarked = lappend_oid(g_unmarked, db->oid);
            MemoryContextSwitchTo(old);
        }
    }
    LWLockRelease(g_shared->lock);
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    CommitTransactionCommand();
}

void StartSinkWorker(int idx) {
    SinkWorkerEntry *e = &g_shared->sinkworkers[idx];
    char name[BGW_MAXLEN];
    if (OidIsValid(e->owner))
        snprintf(name, sizeof name, "kafka_fdw sinks of role %u in database %u", e->owner, e->dboid);
    else
        snprintf(name, sizeof name, "kafka_fdw sink lookup in database %u", e->dboid);
    g_sink_handles[idx] = StartDynamicWorker("kafka_fdw_sink_worker_main", name, "kafka_fdw sink", idx);
    if (!g_sink_handles[idx]) e->restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 5000);
}

// Under the exclusive lock: forget sink workers that ended, free the entries
// no worker is wanted for, start the wanted.
void ScanSinks() {
    TimestampTz now = GetCurrentTimestamp();
    for (int i = 0; i < kMaxSinkWorkers; i++) {
        SinkWorkerEntry *e = &g_shared->sinkworkers[i];
        if (g_sink_handles[i]) {
            pid_t pid;
            if (GetBackgroundWorkerPid(g_sink_handles[i], &pid) != BGWH_STOPPED) continue;
            pfree(g_sink_handles[i]);
            g_sink_handles[i] = nullptr;
            e->pid = 0;
        }
        if (e->dboid != InvalidOid && !e->wanted && e->pid == 0) memset(e, 0, sizeof *e);
    }
    // Lookups that found no free entry before.
    ListCell *lc;
    foreach (lc, g_unmarked) {
        SinkWorkerEntry *e = FindSinkWorker(lfirst_oid(lc), InvalidOid, true);
        if (!e) break;
        e->wanted = true;
        g_unmarked = foreach_delete_current(g_unmarked, lc);
    }
    for (int i = 0; i < kMaxSinkWorkers; i++) {
        SinkWorkerEntry *e = &g_shared->sinkworkers[i];
        if (g_sink_handles[i]) continue;
        if (e->dboid == InvalidOid || !e->wanted || now < e->restart_at) continue;
        if (e->pid != 0 && BackendPidGetProc(e->pid) != nullptr) continue;
        StartSinkWorker(i);
    }
}

// Returns true when a worker has said goodbye (its exit callback ran) but
// the postmaster has not reaped it yet: the caller looks again shortly.
bool ScanSlots() {
    bool exiting = false;
    // Our slots, from the cluster's slot array.
    SlotRef *slots = static_cast<SlotRef *>(palloc0(sizeof(SlotRef) * Max(1, max_replication_slots)));
    int nslots = 0;
    LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
    for (int i = 0; i < max_replication_slots; i++) {
        ReplicationSlot *s = &ReplicationSlotCtl->replication_slots[i];
        if (!IsPipelineSlot(s)) continue;
        strlcpy(slots[nslots].name, NameStr(s->data.name), NAMEDATALEN);
        slots[nslots].dboid = s->data.database;
        nslots++;
    }
    LWLockRelease(ReplicationSlotControlLock);

    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(g_shared->lock, LW_EXCLUSIVE);
    // Forget the workers that ended.
    for (int i = 0; i < g_shared->max_pipelines; i++) {
        if (!g_handles[i]) continue;
        pid_t pid;
        BgwHandleStatus st = GetBackgroundWorkerPid(g_handles[i], &pid);
        if (st != BGWH_STOPPED) {
            const PipelineEntry *e = &g_shared->entries[i];
            if (st == BGWH_STARTED && e->pid == 0 && e->state != WorkerState::Starting) exiting = true;
        } else {
            pfree(g_handles[i]);
            g_handles[i] = nullptr;
            PipelineEntry *e = &g_shared->entries[i];
            e->pid = 0;
            if (e->state == WorkerState::Starting || e->state == WorkerState::Running ||
                e->state == WorkerState::Paused)
                e->state = WorkerState::Stopped;
        }
    }
    // Entries for new slots; entries of slots that are gone are freed.
    for (int i = 0; i < g_shared->max_pipelines; i++) {
        PipelineEntry *e = &g_shared->entries[i];
        if (!e->in_use || g_handles[i]) continue;
        bool exists = false;
        for (int j = 0; j < nslots; j++)
            if (strcmp(slots[j].name, e->slot_name) == 0) exists = true;
        if (!exists) memset(e, 0, sizeof *e);
    }
    // (Their owners are unknown: each worker's first start looks it up.)
    for (int j = 0; j < nslots; j++)
        if (!FindEntry(slots[j].name)) (void)NewEntry(slots[j].name, slots[j].dboid);
    ScanSinks();
    // Start what should run.
    for (int i = 0; i < g_shared->max_pipelines; i++) {
        PipelineEntry *e = &g_shared->entries[i];
        if (!e->in_use || g_handles[i] || e->dropping) continue;
        if (now < e->restart_at) continue;
        // A worker started by an earlier launcher may still run.
        if (e->pid != 0 && BackendPidGetProc(e->pid) != nullptr) continue;
        StartWorker(i);
    }
    LWLockRelease(g_shared->lock);
    pfree(slots);
    return exiting;
}

}  // namespace
}  // namespace kafka_fdw::cdc

using namespace kafka_fdw::cdc;

void kafka_fdw_cdc_launcher_main(Datum) {
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    g_handles = static_cast<BackgroundWorkerHandle **>(
        MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle *) * g_shared->max_pipelines));
    LWLockAcquire(g_shared->lock, LW_EXCLUSIVE);
    g_shared->launcher_pid = MyProcPid;
    g_shared->launcher_procno = kafka_fdw::pg::MyProcNo();
    // A launcher that starts after a crash-free restart of itself finds
    // entries of workers that are still running: keep their status but
    // forget them (their exit no longer notifies us; they end on their own).
    LWLockRelease(g_shared->lock);
    before_shmem_exit(LauncherExit, 0);
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);  // shared catalogs only
    MarkAllDatabases();

    MemoryContext scan_cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw launcher", ALLOCSET_DEFAULT_SIZES);
    for (;;) {
        // Reset before the scan: a wake-up during it (a worker that ended,
        // the postmaster's notice that it is gone) makes the wait return at
        // once instead of being lost.
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        ReloadConfigIfPending();
        MemoryContext old = MemoryContextSwitchTo(scan_cxt);
        bool exiting = ScanSlots();
        MemoryContextSwitchTo(old);
        MemoryContextReset(scan_cxt);
        // A worker about to be gone (resume, reload, failure): restart it as
        // soon as the postmaster has reaped it, not at the next scan.
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, exiting ? 10L : 1000L,
                        PG_WAIT_EXTENSION);
    }
}
