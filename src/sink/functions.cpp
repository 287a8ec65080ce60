// The SQL functions of sinks (Postgres zone): kafka._sink_wake, called by
// every change of kafka.sinks (create, drop, pause, resume), wakes the
// database's lookup worker when the change commits; kafka._sink_worker_pid
// names the worker of an owner's sinks.  See worker.cpp.
#include "cdc/shmem.hpp"
#include "sink/sink.hpp"

extern "C" {
#include "storage/lwlock.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(kafka_sink_wake);
PG_FUNCTION_INFO_V1(kafka_sink_worker_pid);
}

namespace kafka_fdw::sink {

using cdc::FindSinkWorker;
using cdc::Preloaded;
using cdc::Shared;
using cdc::SinkWorkerEntry;
using cdc::WakeLauncher;

namespace {

bool g_wake_at_commit = false;
bool g_sink_callback = false;

void SinkXactCallback(XactEvent event, void *) {
    if (event == XACT_EVENT_COMMIT && g_wake_at_commit && Shared()) {
        LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
        SinkWorkerEntry *e = FindSinkWorker(MyDatabaseId, InvalidOid, true);
        if (e) {
            e->wanted = true;
            e->wake_pending = true;  // also when a lookup runs now: it runs again
            e->restart_at = 0;
        }
        LWLockRelease(Shared()->lock);
        WakeLauncher();
    }
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT) g_wake_at_commit = false;
}

}  // namespace
}  // namespace kafka_fdw::sink

using namespace kafka_fdw::sink;

// kafka._sink_wake(): the sinks of this database changed; at COMMIT the
// database's workers reread them (and are started where needed).  Anyone may
// call it: it only makes the workers look again.
extern "C" Datum kafka_sink_wake(PG_FUNCTION_ARGS) {
    (void)fcinfo;
    if (!Preloaded() || !Shared())
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("sinks need kafka_fdw in shared_preload_libraries"),
                        errhint("Add kafka_fdw to shared_preload_libraries in postgresql.conf and restart the "
                                "server.")));
    if (!g_sink_callback) {
        RegisterXactCallback(SinkXactCallback, nullptr);
        g_sink_callback = true;
    }
    g_wake_at_commit = true;
    PG_RETURN_VOID();
}

// kafka._sink_worker_pid(owner): the worker of this database's sinks of that
// owner, or NULL.  0.1.0 declared it without the argument (its view
// sink_status calls it so until ALTER EXTENSION UPDATE): NULL then.
extern "C" Datum kafka_sink_worker_pid(PG_FUNCTION_ARGS) {
    if (PG_NARGS() < 1 || PG_ARGISNULL(0)) PG_RETURN_NULL();
    Oid owner = PG_GETARG_OID(0);
    if (!Shared()) PG_RETURN_NULL();
    pid_t pid = 0;
    LWLockAcquire(Shared()->lock, LW_SHARED);
    if (SinkWorkerEntry *e = FindSinkWorker(MyDatabaseId, owner, false)) pid = e->pid;
    LWLockRelease(Shared()->lock);
    if (pid == 0) PG_RETURN_NULL();
    PG_RETURN_INT32(pid);
}
