// Sinks: topics applied into tables continuously.  Postgres zone.
//
// A sink (kafka.create_sink, a row of kafka.sinks) names a kafka_fdw foreign
// table with a consumer group (the source) and a table (the target).  One
// sink worker per database applies every sink of its database in turn: one
// transaction per batch runs the sink's statement -- INSERT INTO target
// SELECT ... FROM source LIMIT n, or its upsert form -- as the sink's owner.
// The group's positions move in the same transaction as the rows, so each
// message is applied exactly once, across crashes and restarts (see
// "Consumer groups" in the README).  A failing batch rolls back (the
// positions with it), its error is recorded in kafka.sinks, and the sink is
// tried again with a backoff while the other sinks go on.
#include "pg/bridge.hpp"

#include "cdc/cdc.hpp"

extern "C" {
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(kafka_sink_wake);
PG_FUNCTION_INFO_V1(kafka_sink_worker_pid);
}

namespace kafka_fdw::cdc {
namespace {

// ---- SQL side: wake the database's sink worker when a change commits ------

bool g_wake_at_commit = false;
bool g_sink_callback = false;

void SinkXactCallback(XactEvent event, void *) {
    if (event == XACT_EVENT_COMMIT && g_wake_at_commit && Shared()) {
        LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
        SinkDbEntry *e = FindSinkDb(MyDatabaseId, true);
        pid_t pid = 0;
        if (e) {
            e->wanted = true;
            e->wake_pending = true;
            e->restart_at = 0;
            pid = e->pid;
        }
        LWLockRelease(Shared()->lock);
        WakeWorker(pid);
        WakeLauncher();
    }
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT) g_wake_at_commit = false;
}

// ---- the sink worker ----------------------------------------------------------

struct Sink {
    char *name;
    Oid owner;
    char *sql;  // the statement of one batch, made at its first batch (NULL until then)
    TimestampTz next_try;
    int failures;
};

int g_idx = -1;
Sink *g_sinks = nullptr;
int g_nsinks = 0;
MemoryContext g_list_cxt = nullptr;

SinkDbEntry *Entry() { return &Shared()->sinkdbs[g_idx]; }

void SinkWorkerExit(int code, Datum) {
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    SinkDbEntry *e = Entry();
    e->pid = 0;
    if (code != 0) {
        e->failures = Min(e->failures + 1, 10);
        e->restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Min(10000, 1000 << Min(e->failures - 1, 4)));
    }
    LWLockRelease(Shared()->lock);
    WakeLauncher();
}

// The database's sinks that are not paused, with their statements.  Returns
// false when the extension or its sinks table is absent.
bool LoadSinks() {
    Sink *old_sinks = g_sinks;
    int old_n = g_nsinks;
    MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw sinks", ALLOCSET_SMALL_SIZES);
    SetCurrentStatementStartTimestamp();  // now() of this transaction
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    SPI_connect();
    bool ok = SPI_execute("SELECT to_regclass('kafka.sinks') IS NOT NULL", true, 1) == SPI_OK_SELECT &&
              strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0;
    g_nsinks = 0;
    if (ok &&
        SPI_execute("SELECT name, owner::oid::text FROM kafka.sinks WHERE NOT paused ORDER BY name", true, 0) ==
            SPI_OK_SELECT) {
        g_sinks = static_cast<Sink *>(MemoryContextAllocZero(cxt, sizeof(Sink) * Max(1, (int)SPI_processed)));
        for (uint64 i = 0; i < SPI_processed; i++) {
            HeapTuple t = SPI_tuptable->vals[i];
            TupleDesc d = SPI_tuptable->tupdesc;
            Sink &s = g_sinks[g_nsinks++];
            s.name = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 1));
            s.owner = (Oid)strtoul(SPI_getvalue(t, d, 2), nullptr, 10);
            s.sql = nullptr;
            for (int j = 0; j < old_n; j++)  // keep the backoff of a failing sink
                if (strcmp(old_sinks[j].name, s.name) == 0) {
                    s.next_try = old_sinks[j].next_try;
                    s.failures = old_sinks[j].failures;
                }
        }
    }
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    if (g_list_cxt) MemoryContextDelete(g_list_cxt);
    g_list_cxt = cxt;
    return ok;
}

void RecordError(const char *name, const char *error) {
    SetCurrentStatementStartTimestamp();  // now() of this transaction
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    SPI_connect();
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(name), CStringGetTextDatum(error)};
    SPI_execute_with_args("UPDATE kafka.sinks SET last_error = $2, last_error_at = now() WHERE name = $1", 2, types,
                          values, nullptr, false, 0);
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
}

// One batch of one sink, in its own transaction; the rows applied.
uint64 ApplyBatch(Sink *s) {
    volatile uint64 n = 0;  // set in PG_TRY, read after it
    MemoryContext cxt = CurrentMemoryContext;
    PG_TRY();
    {
        SetCurrentStatementStartTimestamp();  // now() of this transaction
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
        SPI_connect();
        // The sink's row, locked for the batch (as strongly as the
        // rows_applied update below takes it, so no lock is upgraded): a
        // pause_sink or drop_sink that committed first is seen here and the
        // batch applies nothing; one that comes during the batch waits for
        // it, so nothing is applied once it returned.  A row locked by a
        // transaction still open (a pause, resume or drop not yet committed)
        // skips this round instead of stalling the database's other sinks.
        Oid name_type[1] = {TEXTOID};
        Datum name_value[1] = {CStringGetTextDatum(s->name)};
        if (SPI_execute_with_args("SELECT 1 FROM kafka.sinks WHERE name = $1 AND NOT paused "
                                  "FOR NO KEY UPDATE SKIP LOCKED",
                                  1, name_type, name_value, nullptr, false, 1) != SPI_OK_SELECT)
            elog(ERROR, "could not lock sink \"%s\"", s->name);
        if (SPI_processed == 1) {
            if (!s->sql) {
                // Made here, not when listing, so that a sink whose target or
                // source is gone fails alone (and says so), not the worker.
                if (SPI_execute_with_args("SELECT kafka._sink_statement($1)", 1, name_type, name_value, nullptr, true,
                                          1) != SPI_OK_SELECT ||
                    SPI_processed != 1)
                    elog(ERROR, "sink \"%s\" is gone", s->name);
                char *sql = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
                if (!sql) elog(ERROR, "sink \"%s\" has no statement", s->name);
                s->sql = MemoryContextStrdup(g_list_cxt, sql);
            }
            Oid save_uid;
            int save_sec;
            GetUserIdAndSecContext(&save_uid, &save_sec);
            SetUserIdAndSecContext(s->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
            int rc = SPI_execute(s->sql, false, 0);
            SetUserIdAndSecContext(save_uid, save_sec);
            if (rc == SPI_OK_INSERT) {
                n = SPI_processed;
            } else if (rc == SPI_OK_SELECT && SPI_processed == 1) {  // upsert with deletes: rows written
                bool isnull;
                Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
                n = isnull ? 0 : (uint64)DatumGetInt64(d);
            } else {
                elog(ERROR, "unexpected result %d of sink \"%s\"", rc, s->name);
            }
        }
        if (n > 0) {
            Oid types[2] = {TEXTOID, INT8OID};
            Datum values[2] = {CStringGetTextDatum(s->name), Int64GetDatum((int64)n)};
            SPI_execute_with_args("UPDATE kafka.sinks SET rows_applied = rows_applied + $2, last_applied_at = now() "
                                  "WHERE name = $1",
                                  2, types, values, nullptr, false, 0);
        }
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
        s->failures = 0;
        s->next_try = 0;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        AbortCurrentTransaction();
        // The innermost context line names the message the source could
        // not decode.
        const char *why = pg::ErrorSummary(edata);
        ereport(LOG, (errmsg("kafka_fdw sink \"%s\": %s", s->name, why)));
        s->failures = Min(s->failures + 1, 6);
        s->next_try = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Min(30000, 1000 << (s->failures - 1)));
        RecordError(s->name, why);
        n = 0;
    }
    PG_END_TRY();
    return n;
}

}  // namespace
}  // namespace kafka_fdw::cdc

using namespace kafka_fdw::cdc;

// kafka._sink_wake(): the sinks of this database changed; at COMMIT the sink
// worker rereads them (and is started if none runs).
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

// kafka._sink_worker_pid(): this database's sink worker, or NULL.
extern "C" Datum kafka_sink_worker_pid(PG_FUNCTION_ARGS) {
    (void)fcinfo;
    if (!Shared()) PG_RETURN_NULL();
    pid_t pid = 0;
    LWLockAcquire(Shared()->lock, LW_SHARED);
    if (SinkDbEntry *e = FindSinkDb(MyDatabaseId, false)) pid = e->pid;
    LWLockRelease(Shared()->lock);
    if (pid == 0) PG_RETURN_NULL();
    PG_RETURN_INT32(pid);
}

void kafka_fdw_sink_worker_main(Datum arg) {
    g_idx = DatumGetInt32(arg);
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    Oid dboid;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    SinkDbEntry *e = Entry();
    dboid = e->dboid;
    e->pid = MyProcPid;
    e->wake_pending = false;
    LWLockRelease(Shared()->lock);
    before_shmem_exit(SinkWorkerExit, 0);
    BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

    MemoryContext loop_cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw sink loop", ALLOCSET_DEFAULT_SIZES);
    TimestampTz listed_at = 0;
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        TimestampTz now = GetCurrentTimestamp();
        bool reread;
        LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
        reread = Entry()->wake_pending || now - listed_at >= 2 * USECS_PER_SEC;
        Entry()->wake_pending = false;
        LWLockRelease(Shared()->lock);
        if (reread) {
            bool has_table = LoadSinks();
            listed_at = now;
            if (!has_table || g_nsinks == 0) {
                // Nothing to apply here (no sinks, or all paused): end,
                // unless sinks changed meanwhile.  A change wakes us again.
                bool exit_now = false;
                LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
                if (!Entry()->wake_pending) {
                    Entry()->wanted = false;
                    exit_now = true;
                }
                LWLockRelease(Shared()->lock);
                if (exit_now) proc_exit(0);
            }
        }
        uint64 applied = 0;
        MemoryContext old = MemoryContextSwitchTo(loop_cxt);
        for (int i = 0; i < g_nsinks; i++) {
            Sink *s = &g_sinks[i];
            if (s->next_try && GetCurrentTimestamp() < s->next_try) continue;
            applied += ApplyBatch(s);
            CHECK_FOR_INTERRUPTS();
        }
        MemoryContextSwitchTo(old);
        MemoryContextReset(loop_cxt);
        pgstat_report_stat(false);
        if (applied == 0) {
            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 200L, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
        }
    }
}
