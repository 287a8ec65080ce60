// See progress.hpp.  One slot per PGPROC, written only by its process, read
// by others without a lock, as PostgreSQL's own backend status: the writer
// makes a change count odd while it writes and even again after (with write
// barriers); a reader copies the slot until it sees the same even count
// before and after (read barriers), so it never takes a half-written slot.
#include "fdw/progress.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "access/xact.h"
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
    uint32 changecount;  // odd while the owner writes
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
// this backend's statement that owns the slot (the first to begin: a
// trigger's INSERT into another topic table, or another partition of the
// same statement, does not take it over), and its subtransaction
const void *g_owner = nullptr;
SubTransactionId g_subid = InvalidSubTransactionId;
bool g_exit_hook = false;
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

// The writer's side of the change count around F.
template <typename F>
void Write(ProduceSlot *s, F &&f) {
    s->changecount++;
    pg_write_barrier();
    f();
    pg_write_barrier();
    s->changecount++;
}

void Clear() {
    ProduceSlot *s = MySlot();
    if (s && g_owner) Write(s, [s] { s->pid = 0; });
    g_owner = nullptr;
    g_subid = InvalidSubTransactionId;
}

void ClearAtExit(int, Datum) { Clear(); }

}  // namespace

void RequestProduceProgress() {
    prev_request = shmem_request_hook;
    shmem_request_hook = Request;
    prev_startup = shmem_startup_hook;
    shmem_startup_hook = Startup;
}

void ProduceProgressBegin(const void *statement, Oid relid) {
    ProduceSlot *s = MySlot();
    if (!s || g_owner) return;
    if (!g_exit_hook) {
        before_shmem_exit(ClearAtExit, 0);
        g_exit_hook = true;
    }
    g_owner = statement;
    g_subid = GetCurrentSubTransactionId();
    Oid dboid = MyDatabaseId, userid = GetSessionUserId();
    TimestampTz now = GetCurrentTimestamp();
    Write(s, [&] {
        s->pid = MyProcPid;
        s->dboid = dboid;
        s->userid = userid;
        s->relid = relid;
        s->started_at = now;
        s->queued = 0;
        s->acked = 0;
    });
}

void ProduceProgressUpdate(const void *statement, uint64 queued, uint64 acked) {
    ProduceSlot *s = MySlot();
    if (!s || g_owner != statement) return;
    Write(s, [&] {
        s->queued = queued;
        s->acked = acked;
    });
}

void ProduceProgressEnd(const void *statement) {
    if (g_owner == statement) Clear();
}

void ProduceProgressAbort(SubTransactionId subid) {
    if (g_owner && (subid == InvalidSubTransactionId || g_subid >= subid)) Clear();
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
        for (;;) {
            volatile ProduceSlot *v = &g_slots[i];
            uint32 before = v->changecount;
            pg_read_barrier();
            memcpy(&s, const_cast<ProduceSlot *>(&g_slots[i]), sizeof s);
            pg_read_barrier();
            if (before == v->changecount && (before & 1) == 0) break;
            CHECK_FOR_INTERRUPTS();
        }
        if (s.pid == 0 || s.dboid != MyDatabaseId) continue;
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
