// See progress.hpp.  One slot per PGPROC, written only by its process (no
// lock: 8-byte aligned stores are atomic on the platforms PostgreSQL runs
// on; a reader may see counts of two moments, never a torn number).  The
// slot names its owner last on begin and first on end (pid 0: free), with
// write barriers in between, so a reader never takes a half-made slot.
#include "fdw/progress.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(kafka_produce_progress);
Datum kafka_produce_progress(PG_FUNCTION_ARGS);
}

namespace kafka_fdw::fdw {
namespace {

struct ProduceSlot {
    pid_t pid;  // 0: no INSERT or COPY into a topic table under way
    Oid dboid;
    Oid userid;
    Oid relid;
    TimestampTz started_at;
    uint64 queued;
    uint64 acked;
};

ProduceSlot *g_slots = nullptr;
int g_nslots = 0;
bool g_active = false;  // this backend's slot is in use
shmem_request_hook_type prev_request = nullptr;
shmem_startup_hook_type prev_startup = nullptr;

int SlotCount() { return MaxBackends + NUM_AUXILIARY_PROCS; }

void Request() {
    if (prev_request) prev_request();
    RequestAddinShmemSpace(mul_size(sizeof(ProduceSlot), SlotCount()));
}

void Startup() {
    if (prev_startup) prev_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    Size size = mul_size(sizeof(ProduceSlot), SlotCount());
    g_slots = static_cast<ProduceSlot *>(ShmemInitStruct("kafka_fdw_produce_progress", size, &found));
    if (!found) memset(g_slots, 0, size);
    g_nslots = SlotCount();
    LWLockRelease(AddinShmemInitLock);
}

ProduceSlot *MySlot() {
    int i = pg::MyProcNo();
    return g_slots && i >= 0 && i < g_nslots ? &g_slots[i] : nullptr;
}

}  // namespace

void RequestProduceProgress() {
    prev_request = shmem_request_hook;
    shmem_request_hook = Request;
    prev_startup = shmem_startup_hook;
    shmem_startup_hook = Startup;
}

void ProduceProgressBegin(Oid relid) {
    ProduceSlot *s = MySlot();
    if (!s || g_active) return;  // (a statement writing to two topic tables reports the first)
    s->pid = 0;
    pg_write_barrier();
    s->dboid = MyDatabaseId;
    s->userid = GetUserId();
    s->relid = relid;
    s->started_at = GetCurrentTimestamp();
    s->queued = 0;
    s->acked = 0;
    pg_write_barrier();
    s->pid = MyProcPid;
    g_active = true;
}

void ProduceProgressUpdate(uint64 queued, uint64 acked) {
    ProduceSlot *s = MySlot();
    if (!s || !g_active) return;
    s->queued = queued;
    s->acked = acked;
}

void ProduceProgressEnd() {
    ProduceSlot *s = MySlot();
    if (!s || !g_active) return;
    s->pid = 0;
    pg_write_barrier();
    g_active = false;
}

}  // namespace kafka_fdw::fdw

// kafka._produce_progress(): the INSERTs and COPYs into topic tables under way
// in this database; a backend's row only for roles with the privileges of its
// user and members of pg_read_all_stats (as pg_stat_progress_copy).
Datum kafka_produce_progress(PG_FUNCTION_ARGS) {
    using namespace kafka_fdw::fdw;
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    InitMaterializedSRF(fcinfo, 0);
    bool all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
    for (int i = 0; i < g_nslots; i++) {
        ProduceSlot s;
        s.pid = g_slots[i].pid;
        pg_read_barrier();
        if (s.pid == 0) continue;
        s = g_slots[i];
        pg_read_barrier();
        if (g_slots[i].pid != s.pid || s.dboid != MyDatabaseId) continue;  // ended or begun again meanwhile
        if (!all && !has_privs_of_role(GetUserId(), s.userid)) continue;
        Datum values[5];
        bool nulls[5] = {false};
        values[0] = Int32GetDatum(s.pid);
        values[1] = ObjectIdGetDatum(s.relid);
        values[2] = TimestampTzGetDatum(s.started_at);
        values[3] = Int64GetDatum((int64)s.queued);
        values[4] = Int64GetDatum((int64)s.acked);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
