// Sinks: topics applied into tables continuously.  Postgres zone.
//
// A sink (kafka.create_sink, a row of kafka.sinks) names a kafka_fdw foreign
// table with a consumer group (the source) and a table (the target).  Its
// batches run in a background worker connected as the sink's OWNER, one per
// database and owner (pg_cron's model: the work runs with exactly its
// owner's rights).  One transaction per batch runs the sink's statement --
// INSERT INTO target SELECT ... FROM source LIMIT n, or its upsert form --
// under SECURITY_RESTRICTED_OPERATION, its own GUC nest level and
// kafka_fdw.sink_batch_timeout: nothing the owner's code (the target's
// triggers, defaults) sets outlives the batch, and one slow sink cannot stall
// its owner's other sinks for ever; other owners' sinks run in other workers.
// The group's positions move in the same transaction as the rows, so each
// message is applied exactly once, across crashes and restarts (see
// docs/consumer-groups.md).  A failing batch rolls back (the
// positions with it), its error is recorded in kafka.sinks, and the sink is
// tried again with a backoff while the other sinks go on.
//
// Which owners have sinks is found by a short "lookup" worker per database
// (owner InvalidOid in the shared table), connected as the bootstrap
// superuser: it runs nothing but the extension's own qualified SQL under a
// pinned search_path (the database's settings are its owner's input), marks
// each owner that has sinks, and ends.  A committed change of kafka.sinks
// (create, drop, pause, resume: kafka._sink_wake) starts it again.
//
// The workers' own bookkeeping (locking a sink's row, rows_applied,
// last_error) runs as the extension's owner with a pinned search_path and
// qualified SQL (pg/security.hpp): callers and owners cannot write those
// columns.
//
// This file: the workers.  Their SQL functions: functions.cpp.
#include "pg/bridge.hpp"
#include "pg/security.hpp"
#include "pg/worker.hpp"

#include "cdc/cdc.hpp"
#include "cdc/shmem.hpp"
#include "sink/sink.hpp"

extern "C" {
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
}

namespace kafka_fdw::sink {

using cdc::FindSinkWorker;
using cdc::kMaxSinkWorkers;
using cdc::Shared;
using cdc::SinkWorkerEntry;
using cdc::WakeLauncher;
using cdc::WakeWorker;
using pg::g_sink_batch_timeout_ms;  // kafka_fdw.sink_batch_timeout
using pg::ReloadConfigIfPending;

namespace {

// A batch that ignores its cancel (owner code catching query_canceled) is
// terminated this long after it: the worker exits and its successor puts
// the sink aside.
constexpr int kBatchKillGraceMs = 5000;
TimeoutId g_kill_timeout;

struct Sink {
    char *name;
    char *sql;  // the statement of one batch, made at its first batch (NULL until then)
    TimestampTz next_try;
    int failures;
    // kafka_fdw.stall_warning_after: batches that ended well (applied rows
    // or found none to apply) are its progress; a failing batch means work
    // waits (it could not even tell that there is none).
    uint64 batches_ok;
    cdc::StallWatch stall;
    char last_error[256];
};

int g_idx = -1;
Oid g_owner = InvalidOid;
Sink *g_sinks = nullptr;
int g_nsinks = 0;
MemoryContext g_list_cxt = nullptr;

SinkWorkerEntry *Entry() { return &Shared()->sinkworkers[g_idx]; }

void SinkWorkerExit(int code, Datum) {
    LWLockReleaseAll();  // an ERROR may have left the lock held
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    SinkWorkerEntry *e = Entry();
    e->pid = 0;
    if (e->batch_sink[0]) strlcpy(e->killed_sink, e->batch_sink, sizeof e->killed_sink);
    e->batch_sink[0] = '\0';
    if (code != 0)
        e->restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), pg::Backoff(&e->failures, 10, 10000));
    LWLockRelease(Shared()->lock);
    WakeLauncher();
}

// The extension's own SQL: as the extension's owner, search_path pinned,
// within the transaction's SPI connection (pg::kXactSpi).  Only for fully
// qualified statements of this file.
void BeginOwnSql(pg::OwnerSpi *own) { pg::BeginOwnerSpi(own, 0); }

// A sink that failed: its next try after a backoff of 1, 2, 4, 8, 16 s, at
// most 30 s.
constexpr int kSinkMaxFailures = 6;
constexpr int kSinkBackoffCapMs = 30000;

// In a transaction: this owner's sinks that are not paused, in cxt; a sink
// listed before keeps its backoff.
void ListSinks(MemoryContext cxt, const Sink *old_sinks, int old_n) {
    pg::OwnerSpi own;
    BeginOwnSql(&own);
    Oid types[1] = {OIDOID};
    Datum values[1] = {ObjectIdGetDatum(g_owner)};
    if (SPI_execute_with_args(psprintf("SELECT name FROM %s.sinks WHERE owner::pg_catalog.oid OPERATOR(pg_catalog.=) $1 "
                                       "AND NOT paused ORDER BY name",
                                       own.schema),
                              1, types, values, nullptr, true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not list the sinks");
    g_sinks = static_cast<Sink *>(MemoryContextAllocZero(cxt, sizeof(Sink) * Max(1, (int)SPI_processed)));
    for (uint64 i = 0; i < SPI_processed; i++) {
        Sink &s = g_sinks[g_nsinks++];
        s.name = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
        s.sql = nullptr;
        for (int j = 0; j < old_n; j++)  // keep the backoff of a failing sink
            if (strcmp(old_sinks[j].name, s.name) == 0) {
                s.next_try = old_sinks[j].next_try;
                s.failures = old_sinks[j].failures;
                s.batches_ok = old_sinks[j].batches_ok;
                s.stall = old_sinks[j].stall;
                memcpy(s.last_error, old_sinks[j].last_error, sizeof s.last_error);
            }
    }
    pg::EndOwnerSpi(&own);
}

// This owner's sinks that are not paused.  Returns false when the extension
// is not installed in the database.
bool LoadSinks() {
    Sink *old_sinks = g_sinks;
    int old_n = g_nsinks;
    MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw sinks", ALLOCSET_SMALL_SIZES);
    bool ok = false;
    pg::InWorkerXact(pg::kXactSpi, [&] {
        ok = pg::ExtensionInstalled();
        g_nsinks = 0;
        if (ok) ListSinks(cxt, old_sinks, old_n);
    });
    if (g_list_cxt) MemoryContextDelete(g_list_cxt);
    g_list_cxt = cxt;
    return ok;
}

void RecordError(const char *name, const char *error) {
    pg::InWorkerXact(pg::kXactSpi, [name, error] {
        pg::OwnerSpi own;
        BeginOwnSql(&own);
        Oid types[2] = {TEXTOID, TEXTOID};
        Datum values[2] = {CStringGetTextDatum(name), CStringGetTextDatum(error)};
        SPI_execute_with_args(psprintf("UPDATE %s.sinks SET last_error = $2, last_error_at = pg_catalog.now() "
                                       "WHERE name OPERATOR(pg_catalog.=) $1",
                                       own.schema),
                              2, types, values, nullptr, false, 0);
        pg::EndOwnerSpi(&own);
    });
}

// Runs `sql` as the sink's owner: restricted, search_path pinned, its GUC
// changes undone after it, within the batch time budget.  The SPI result
// code.
// The batch ran past its cancel: end the worker (a FATAL no PL/pgSQL handler
// catches).  Signal-handler context: async-signal-safe only.
void KillBatch() { kill(MyProcPid, SIGTERM); }

int RunAsOwner(const char *sql, bool read_only, int nargs, Oid *types, Datum *values) {
    pg::RoleScope role;
    pg::EnterRole(&role, g_owner, true);
    if (g_sink_batch_timeout_ms > 0) {
        enable_timeout_after(STATEMENT_TIMEOUT, g_sink_batch_timeout_ms);
        enable_timeout_after(g_kill_timeout, g_sink_batch_timeout_ms + kBatchKillGraceMs);
    }
    int rc = SPI_execute_with_args(sql, nargs, types, values, nullptr, read_only, 0);
    disable_timeout(STATEMENT_TIMEOUT, false);
    disable_timeout(g_kill_timeout, false);
    pg::LeaveRole(&role);
    return rc;
}

// In the batch's transaction: the batch of one sink; the rows applied.
uint64 ApplyInXact(Sink *s) {
    uint64 n = 0;
    // The sink's row, locked for the batch (as strongly as the
    // rows_applied update below takes it, so no lock is upgraded): a
    // pause_sink or drop_sink that committed first is seen here and the
    // batch applies nothing; one that comes during the batch waits for
    // it, so nothing is applied once it returned.  A row locked by a
    // transaction still open (a pause, resume or drop not yet committed)
    // skips this round instead of stalling the owner's other sinks.
    Oid name_type[2] = {TEXTOID, OIDOID};
    Datum name_value[2] = {CStringGetTextDatum(s->name), ObjectIdGetDatum(g_owner)};
    pg::OwnerSpi own;
    BeginOwnSql(&own);
    if (SPI_execute_with_args(psprintf("SELECT 1 FROM %s.sinks WHERE name OPERATOR(pg_catalog.=) $1 AND "
                                       "owner::pg_catalog.oid OPERATOR(pg_catalog.=) $2 AND NOT paused "
                                       "FOR NO KEY UPDATE SKIP LOCKED",
                                       own.schema),
                              2, name_type, name_value, nullptr, false, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not lock sink \"%s\"", s->name);
    bool locked = SPI_processed == 1;
    pg::EndOwnerSpi(&own);
    if (locked) {
        if (!s->sql) {
            // Made here, not when listing, so that a sink whose target or
            // source is gone fails alone (and says so), not the worker.
            // As the owner: it reads the catalogs the owner may read.
            if (RunAsOwner(psprintf("SELECT %s._sink_statement($1)", own.schema), true, 1, name_type,
                           name_value) != SPI_OK_SELECT ||
                SPI_processed != 1)
                elog(ERROR, "sink \"%s\" is gone", s->name);
            char *sql = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
            if (!sql) elog(ERROR, "sink \"%s\" has no statement", s->name);
            s->sql = MemoryContextStrdup(g_list_cxt, sql);
        }
        int rc = RunAsOwner(s->sql, false, 0, nullptr, nullptr);
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
        BeginOwnSql(&own);
        Oid types[2] = {TEXTOID, INT8OID};
        Datum values[2] = {CStringGetTextDatum(s->name), Int64GetDatum((int64)n)};
        SPI_execute_with_args(psprintf("UPDATE %s.sinks SET rows_applied = rows_applied OPERATOR(pg_catalog.+) $2, "
                                       "last_applied_at = pg_catalog.now() WHERE name OPERATOR(pg_catalog.=) $1",
                                       own.schema),
                              2, types, values, nullptr, false, 0);
        pg::EndOwnerSpi(&own);
    }
    return n;
}

// In a PG_CATCH of the worker's own transaction: the batch's timeouts off,
// the error copied into CXT and the transaction aborted (which restores the
// user and the GUCs).
ErrorData *RecoverFromError(MemoryContext cxt) {
    disable_timeout(STATEMENT_TIMEOUT, false);
    disable_timeout(g_kill_timeout, false);
    MemoryContextSwitchTo(cxt);
    ErrorData *edata = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    return edata;
}

// The sink's row of kafka.lag as its owner sees it: "N messages behind",
// or why that is not known.  Asks the brokers (within the batch time
// budget); only when a stall is reported.
char *SinkLagText(Sink *s) {
    char *volatile text = nullptr;
    MemoryContext cxt = CurrentMemoryContext;
    PG_TRY();
    {
        pg::InWorkerXact(pg::kXactSpi, [s, cxt, &text] {
            Oid types[1] = {TEXTOID};
            Datum values[1] = {CStringGetTextDatum(s->name)};
            if (RunAsOwner(psprintf("SELECT l.lag_messages, l.lag_error FROM %s.lag l WHERE l.kind "
                                    "OPERATOR(pg_catalog.=) 'sink' AND l.name OPERATOR(pg_catalog.=) $1",
                                    pg::ExtensionSchemaSql()),
                           true, 1, types, values) == SPI_OK_SELECT &&
                SPI_processed == 1) {
                char *lag = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
                char *why = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
                text = MemoryContextStrdup(cxt, lag   ? psprintf("%s messages behind", lag)
                                                : why ? psprintf("messages behind unknown (%s)", why)
                                                      : "messages behind unknown");
            }
        });
    }
    PG_CATCH();
    {
        ErrorData *edata = RecoverFromError(cxt);
        text = psprintf("messages behind unknown (%s)", edata->message);
    }
    PG_END_TRY();
    return text ? text : pstrdup("messages behind unknown");
}

// After each batch: a sink that has not advanced for
// kafka_fdw.stall_warning_after while its batches fail gets a WARNING, once,
// and a LOG when a batch succeeds again.
void WatchStall(Sink *s, bool failed) {
    int64 for_us = 0;
    cdc::StallEvent ev = cdc::StallStep(&s->stall, s->batches_ok, failed, GetCurrentTimestamp(),
                                        (int64)pg::g_stall_warning_after_s * USECS_PER_SEC, &for_us);
    if (ev == cdc::StallEvent::Stalled) {
        char *lag = SinkLagText(s);
        ereport(WARNING, (errmsg("kafka_fdw: sink \"%s\" has not advanced for " INT64_FORMAT " s: %s", s->name,
                                 for_us / USECS_PER_SEC, lag),
                          errdetail("Its last error: %s", s->last_error),
                          errhint("See the view kafka.lag (kafka_fdw.stall_warning_after sets when this is said).")));
    } else if (ev == cdc::StallEvent::Recovered) {
        ereport(LOG, (errmsg("kafka_fdw: sink \"%s\" advances again after a stall of " INT64_FORMAT " s", s->name,
                             for_us / USECS_PER_SEC)));
    }
}

// One batch of one sink, in its own transaction; the rows applied.
uint64 ApplyBatch(Sink *s) {
    volatile uint64 n = 0;  // set in PG_TRY, read after it
    volatile bool failed = false;
    MemoryContext cxt = CurrentMemoryContext;
    strlcpy(Entry()->batch_sink, s->name, sizeof Entry()->batch_sink);  // our own entry: no lock
    PG_TRY();
    {
        pg::InWorkerXact(pg::kXactSpi, [s, &n] { n = ApplyInXact(s); });
        s->failures = 0;
        s->next_try = 0;
        s->batches_ok++;
    }
    PG_CATCH();
    {
        ErrorData *edata = RecoverFromError(cxt);  // restores the user and the GUCs
        // The innermost context line names the message the source could
        // not decode.
        const char *why = pg::ErrorSummary(edata);
        ereport(LOG, (errmsg("kafka_fdw sink \"%s\": %s", s->name, why)));
        s->next_try = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
                                                  pg::Backoff(&s->failures, kSinkMaxFailures, kSinkBackoffCapMs));
        RecordError(s->name, why);
        strlcpy(s->last_error, why, sizeof s->last_error);
        n = 0;
        failed = true;
    }
    PG_END_TRY();
    Entry()->batch_sink[0] = '\0';
    if (n > 0) cdc::CountSinkRows(s->name, n);
    WatchStall(s, failed);
    return n;
}

// In a transaction: records why the sinks of owners that are gone or cannot
// log in do not run, and returns the owners whose sinks can run (their
// number in *n), in TopMemoryContext.
Oid *OwnersWithSinks(int *n) {
    pg::OwnerSpi own;
    BeginOwnSql(&own);
    // Owners that are gone or cannot log in get a last_error instead of
    // a worker (a background worker connects like a login).
    const char *gone = "its owner role does not exist any more";
    const char *nologin = "its owner role cannot log in (sinks run in a worker connected as their owner)";
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(gone), CStringGetTextDatum(nologin)};
    if (SPI_execute_with_args(
            psprintf("UPDATE %s.sinks s SET last_error = CASE WHEN r.oid IS NULL THEN $1 ELSE $2 END, "
                     "last_error_at = pg_catalog.now() "
                     "FROM (SELECT DISTINCT owner FROM %s.sinks WHERE NOT paused) o "
                     "LEFT JOIN pg_catalog.pg_authid r ON r.oid OPERATOR(pg_catalog.=) o.owner::pg_catalog.oid "
                     "WHERE s.owner::pg_catalog.oid OPERATOR(pg_catalog.=) o.owner::pg_catalog.oid AND NOT s.paused "
                     "AND (r.oid IS NULL OR NOT r.rolcanlogin) "
                     "AND (s.last_error IS NULL OR s.last_error OPERATOR(pg_catalog.<>) "
                     "CASE WHEN r.oid IS NULL THEN $1 ELSE $2 END)",
                     own.schema, own.schema),
            2, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
        elog(ERROR, "could not check the sinks' owners");
    if (SPI_execute(psprintf("SELECT DISTINCT s.owner::pg_catalog.oid FROM %s.sinks s "
                             "JOIN pg_catalog.pg_authid r ON r.oid OPERATOR(pg_catalog.=) s.owner::pg_catalog.oid "
                             "WHERE NOT s.paused AND r.rolcanlogin",
                             own.schema),
                    true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not list the sinks' owners");
    Oid *owners = static_cast<Oid *>(MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(1, (int)SPI_processed)));
    for (uint64 i = 0; i < SPI_processed; i++) {
        bool isnull;
        owners[(*n)++] =
            DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
    }
    pg::EndOwnerSpi(&own);
    return owners;
}

// The lookup worker: marks the owners of the database's sinks, records why
// an owner's sinks cannot run, and ends.
void LookupOwners(Oid dboid) {
    Oid *owners = nullptr;
    int nowners = 0;
    pg::InWorkerXact(pg::kXactSpi, [&owners, &nowners] {
        if (pg::ExtensionInstalled()) owners = OwnersWithSinks(&nowners);
    });
    pid_t wake[kMaxSinkWorkers];
    int nwake = 0;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    for (int i = 0; i < nowners; i++) {
        SinkWorkerEntry *e = FindSinkWorker(dboid, owners[i], true);
        if (!e) {
            ereport(WARNING, (errmsg("kafka_fdw: no free sink worker entry for role %u in database %u", owners[i], dboid),
                              errhint("Each database and sink owner needs one of %d entries.", kMaxSinkWorkers)));
            continue;
        }
        if (!e->wanted) e->restart_at = 0;
        e->wanted = true;
    }
    // Every running worker of the database rereads its sinks (a pause, a
    // drop, a new sink).
    for (int i = 0; i < kMaxSinkWorkers; i++) {
        SinkWorkerEntry *e = &Shared()->sinkworkers[i];
        if (e->dboid != dboid || !OidIsValid(e->owner)) continue;
        e->wake_pending = true;
        if (e->pid) wake[nwake++] = e->pid;
    }
    Entry()->wanted = Entry()->wake_pending;  // a change committed while it ran: look again
    Entry()->failures = 0;
    LWLockRelease(Shared()->lock);
    for (int i = 0; i < nwake; i++) WakeWorker(wake[i]);
    WakeLauncher();
}

}  // namespace
}  // namespace kafka_fdw::sink

using namespace kafka_fdw::sink;

void kafka_fdw_sink_worker_main(Datum arg) {
    g_idx = DatumGetInt32(arg);
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    Oid dboid;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    SinkWorkerEntry *e = Entry();
    dboid = e->dboid;
    g_owner = e->owner;
    e->pid = MyProcPid;
    e->wake_pending = false;
    LWLockRelease(Shared()->lock);
    before_shmem_exit(SinkWorkerExit, 0);

    if (!OidIsValid(g_owner)) {
        // The lookup worker: the extension's own SQL only, with its own
        // settings (the database's are its owner's to choose: a read-only
        // default or a tiny statement_timeout must not stop the sinks).
        BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
        SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
        SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
        SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
        // The extension's tables as this library knows them, or nothing
        // (an upgrade between its restart and ALTER EXTENSION UPDATE).
        kafka_fdw::pg::WaitForExtensionVersion("sink lookup worker", nullptr);
        LookupOwners(dboid);
        proc_exit(0);
    }
    // A worker of one owner: connected as that role, like its login.
    BackgroundWorkerInitializeConnectionByOid(dboid, g_owner, 0);
    g_kill_timeout = RegisterTimeout(USER_TIMEOUT, KillBatch);
    kafka_fdw::pg::WaitForExtensionVersion("sink worker", nullptr);
    char killed[NAMEDATALEN];
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    strlcpy(killed, Entry()->killed_sink, sizeof killed);
    Entry()->killed_sink[0] = '\0';
    LWLockRelease(Shared()->lock);

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
            if (killed[0]) {
                // The predecessor was terminated in this sink's batch: the
                // sink waits its longest backoff, the others go first.
                for (int i = 0; i < g_nsinks; i++)
                    if (strcmp(g_sinks[i].name, killed) == 0) {
                        g_sinks[i].failures = kSinkMaxFailures;
                        g_sinks[i].next_try = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kSinkBackoffCapMs);
                    }
                RecordError(killed, psprintf("its batch ran past kafka_fdw.sink_batch_timeout (%d ms), ignored the "
                                             "cancel and was terminated with its worker",
                                             g_sink_batch_timeout_ms));
                killed[0] = '\0';
            }
            if (!has_table || g_nsinks == 0) {
                // Nothing to apply (no sinks, or all paused): end, unless
                // sinks changed meanwhile.  A change starts a worker again.
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
        ReloadConfigIfPending();
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
