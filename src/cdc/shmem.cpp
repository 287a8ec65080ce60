// See shmem.hpp: the shared memory of the CDC launcher, the pipeline workers
// and the sink workers.  Postgres zone.
#include "cdc/shmem.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
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

void InitSharedMemory() {
    g_preloaded = true;
    DefineCustomIntVariable("kafka_fdw.max_pipelines", "Maximum number of CDC pipelines in the cluster.", nullptr,
                            &g_max_pipelines, 8, 1, 1000, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = ShmemRequest;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = ShmemStartup;
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

void CountSinkRows(const char *sink, uint64 n) {
    if (!g_shared) return;
    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(g_shared->lock, LW_EXCLUSIVE);
    SinkStat *found = nullptr, *oldest = nullptr;
    for (int i = 0; i < kMaxSinkStats && !found; i++) {
        SinkStat *s = &g_shared->sinkstats[i];
        if (s->dboid == MyDatabaseId && strcmp(s->name, sink) == 0) found = s;
        else if (!oldest || s->used_at < oldest->used_at) oldest = s;  // a free one has used_at 0
    }
    if (!found) {
        found = oldest;
        memset(found, 0, sizeof *found);
        found->dboid = MyDatabaseId;
        strlcpy(found->name, sink, NAMEDATALEN);
        found->since = now;
    }
    found->used_at = now;
    RateAdd(&found->rate, now, n);
    LWLockRelease(g_shared->lock);
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
        e->rate_since = e->restart_at;
        return e;
    }
    return nullptr;
}

}  // namespace kafka_fdw::cdc
