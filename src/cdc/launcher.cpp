// The CDC launcher (its shared memory: shmem.cpp).  The launcher is a
// static background worker (registered only when the library is preloaded).
// Every second, or when woken, it lists the logical replication slots named
// kafka_fdw_* that use pgoutput (each is a pipeline of some database), and
// starts a pipeline worker for each that has none, with a backoff after
// failed runs.  Slots are cluster-wide; the launcher connects to no database
// but reads pg_database once at start: every database that allows
// connections gets a sink worker that looks for sinks (and ends if it finds
// none); kafka.create_sink marks its database again.  Each scan also
// watches every pipeline's slot: one that has not advanced for
// kafka_fdw.stall_warning_after while WAL waits for it gets a WARNING, and a
// LOG when it advances again (whatever its worker is doing: running,
// retrying, paused, or not running at all).
#include "pg/bridge.hpp"

#include "cdc/cdc.hpp"
#include "pg/worker.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"
}

namespace kafka_fdw::cdc {

void InitAtPreload() {
    InitSharedMemory();

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

bool IsPipelineSlot(const ReplicationSlot *s) {
    return s->in_use && SlotIsLogical(s) && strncmp(NameStr(s->data.name), kSlotPrefix, strlen(kSlotPrefix)) == 0 &&
           strcmp(NameStr(s->data.plugin), "pgoutput") == 0;
}

namespace {

struct SlotRef {
    char name[NAMEDATALEN];
    Oid dboid;
    XLogRecPtr confirmed;
};

// A stall (or its end) seen under the lock, reported after it.
struct StallReport {
    StallEvent event;
    char slot[NAMEDATALEN];
    Oid dboid;
    int64 seconds;
    uint64 behind;  // WAL bytes
    char state[16];
    char last_error[512];
};

// The launcher's own handles of the workers it started, by entry index.
BackgroundWorkerHandle **g_handles = nullptr;
BackgroundWorkerHandle *g_sink_handles[kMaxSinkWorkers];
// Databases whose sinks were not looked up yet (the table was full).
List *g_unmarked = NIL;

void LauncherExit(int, Datum) {
    if (!Shared()) return;
    LWLockReleaseAll();  // an ERROR may have left the lock held
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    Shared()->launcher_procno = -1;
    Shared()->launcher_pid = 0;
    LWLockRelease(Shared()->lock);
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
    PipelineEntry *e = &Shared()->entries[idx];
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
// for each, once; those that find no free entry are tried again later.  In
// a transaction.
void MarkAllDatabases() {
    (void)GetTransactionSnapshot();
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tup;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
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
    LWLockRelease(Shared()->lock);
    table_endscan(scan);
    table_close(rel, AccessShareLock);
}

void StartSinkWorker(int idx) {
    SinkWorkerEntry *e = &Shared()->sinkworkers[idx];
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
        SinkWorkerEntry *e = &Shared()->sinkworkers[i];
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
        SinkWorkerEntry *e = &Shared()->sinkworkers[i];
        if (g_sink_handles[i]) continue;
        if (e->dboid == InvalidOid || !e->wanted || now < e->restart_at) continue;
        if (e->pid != 0 && BackendPidGetProc(e->pid) != nullptr) continue;
        StartSinkWorker(i);
    }
}

// The server log's lines about stalled pipelines: the pipeline's name is its
// slot's without the prefix kafka_fdw_<database oid>_.
void ReportStalls(const StallReport *reports, int n) {
    kafka_fdw::pg::InWorkerXact(0, [reports, n] {
        for (int i = 0; i < n; i++) {
            const StallReport *r = &reports[i];
            const char *name = r->slot;
            char prefix[NAMEDATALEN];
            snprintf(prefix, sizeof prefix, "%s%u_", kSlotPrefix, r->dboid);
            if (strncmp(name, prefix, strlen(prefix)) == 0) name += strlen(prefix);
            char *db = get_database_name(r->dboid);
            if (!db) db = psprintf("%u", r->dboid);
            if (r->event == StallEvent::Stalled)
                ereport(WARNING,
                        (errmsg("kafka_fdw: pipeline \"%s\" in database \"%s\" has not advanced for " INT64_FORMAT
                                " s with " UINT64_FORMAT " bytes of WAL behind",
                                name, db, r->seconds, r->behind),
                         errdetail("Its state: %s; last error: %s", r->state,
                                   r->last_error[0] ? r->last_error : "none"),
                         errhint("See the view kafka.lag; its slot holds back WAL until it advances "
                                 "(kafka_fdw.stall_warning_after sets when this is said).")));
            else
                ereport(LOG, (errmsg("kafka_fdw: pipeline \"%s\" in database \"%s\" advances again after a stall "
                                     "of " INT64_FORMAT " s",
                                     name, db, r->seconds)));
        }
    });
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
        SpinLockAcquire(&s->mutex);
        slots[nslots].confirmed = s->data.confirmed_flush;
        SpinLockRelease(&s->mutex);
        nslots++;
    }
    LWLockRelease(ReplicationSlotControlLock);

    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    // Forget the workers that ended.
    for (int i = 0; i < Shared()->max_pipelines; i++) {
        if (!g_handles[i]) continue;
        pid_t pid;
        BgwHandleStatus st = GetBackgroundWorkerPid(g_handles[i], &pid);
        if (st != BGWH_STOPPED) {
            const PipelineEntry *e = &Shared()->entries[i];
            if (st == BGWH_STARTED && e->pid == 0 && e->state != WorkerState::Starting) exiting = true;
        } else {
            pfree(g_handles[i]);
            g_handles[i] = nullptr;
            PipelineEntry *e = &Shared()->entries[i];
            e->pid = 0;
            if (e->state == WorkerState::Starting || e->state == WorkerState::Running ||
                e->state == WorkerState::Paused)
                e->state = WorkerState::Stopped;
        }
    }
    // Entries for new slots; entries of slots that are gone are freed.
    for (int i = 0; i < Shared()->max_pipelines; i++) {
        PipelineEntry *e = &Shared()->entries[i];
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
    // Stalls: WAL flushed beyond a slot's confirmed position is work waiting
    // for its pipeline.
    TimeLineID tli;
    XLogRecPtr flush = GetFlushRecPtr(&tli);
    int64 after_us = (int64)kafka_fdw::pg::g_stall_warning_after_s * USECS_PER_SEC;
    StallReport *reports = static_cast<StallReport *>(palloc0(sizeof(StallReport) * Shared()->max_pipelines));
    int nreports = 0;
    for (int j = 0; j < nslots; j++) {
        PipelineEntry *e = FindEntry(slots[j].name);
        if (!e || e->dropping) continue;
        int64 for_us = 0;
        XLogRecPtr confirmed = slots[j].confirmed;
        StallEvent ev = StallStep(&e->stall, confirmed, confirmed != InvalidXLogRecPtr && flush > confirmed, now,
                                  after_us, &for_us);
        if (ev == StallEvent::None) continue;
        StallReport *r = &reports[nreports++];
        r->event = ev;
        strlcpy(r->slot, e->slot_name, sizeof r->slot);
        r->dboid = e->dboid;
        r->seconds = for_us / USECS_PER_SEC;
        r->behind = flush > confirmed ? flush - confirmed : 0;
        strlcpy(r->state, WorkerStateName(e->state), sizeof r->state);
        strlcpy(r->last_error, e->last_error, sizeof r->last_error);
    }
    // Start what should run.
    for (int i = 0; i < Shared()->max_pipelines; i++) {
        PipelineEntry *e = &Shared()->entries[i];
        if (!e->in_use || g_handles[i] || e->dropping) continue;
        if (now < e->restart_at) continue;
        // A worker started by an earlier launcher may still run.
        if (e->pid != 0 && BackendPidGetProc(e->pid) != nullptr) continue;
        StartWorker(i);
    }
    LWLockRelease(Shared()->lock);
    pfree(slots);
    if (nreports > 0) ReportStalls(reports, nreports);
    return exiting;
}

}  // namespace

int RunSecondWorkerForTest(const char *slot_name) {
    int idx = -1;
    if (!Shared()) return -1;  // not preloaded
    LWLockAcquire(Shared()->lock, LW_SHARED);
    for (int i = 0; i < Shared()->max_pipelines; i++)
        if (Shared()->entries[i].in_use && Shared()->entries[i].dboid == MyDatabaseId &&
            strcmp(Shared()->entries[i].slot_name, slot_name) == 0)
            idx = i;
    LWLockRelease(Shared()->lock);
    if (idx < 0) return -1;
    BackgroundWorkerHandle *h = StartDynamicWorker("kafka_fdw_cdc_worker_main", "kafka_fdw pipeline (second, test)",
                                                   "kafka_fdw pipeline", idx | kSecondWorkerBit);
    if (!h) return -1;
    BgwHandleStatus st = WaitForBackgroundWorkerShutdown(h);
    pfree(h);
    return st == BGWH_STOPPED ? 0 : -1;
}

}  // namespace kafka_fdw::cdc

using namespace kafka_fdw::cdc;

void kafka_fdw_cdc_launcher_main(Datum) {
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    g_handles = static_cast<BackgroundWorkerHandle **>(
        MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle *) * Shared()->max_pipelines));
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    Shared()->launcher_pid = MyProcPid;
    Shared()->launcher_procno = kafka_fdw::pg::MyProcNo();
    // A launcher that starts after a crash-free restart of itself finds
    // entries of workers that are still running: keep their status but
    // forget them (their exit no longer notifies us; they end on their own).
    LWLockRelease(Shared()->lock);
    before_shmem_exit(LauncherExit, 0);
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);  // shared catalogs only
    kafka_fdw::pg::InWorkerXact(0, [] { MarkAllDatabases(); });

    MemoryContext scan_cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw launcher", ALLOCSET_DEFAULT_SIZES);
    for (;;) {
        // Reset before the scan: a wake-up during it (a worker that ended,
        // the postmaster's notice that it is gone) makes the wait return at
        // once instead of being lost.
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        kafka_fdw::pg::ReloadConfigIfPending();
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
