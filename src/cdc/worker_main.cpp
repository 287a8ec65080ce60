// A pipeline worker: decodes the WAL in-process and produces one Kafka
// message per row change of its publication.
//
// Shape (as the walsender's logical replication): one long-lived decoding
// context on the pipeline's slot, created outside any transaction; a loop of
// XLogReadRecord + LogicalDecodingProcessRecord; our page_read callback waits
// for new WAL on the latch and meanwhile serves Kafka's delivery reports and
// confirms progress.  The slot's plugin is the built-in pgoutput, so which
// changes and columns are sent is decided exactly as for Postgres' own
// logical replication (membership, publish actions, row filters, column
// lists, publish_via_partition_root); our writer callback reads pgoutput's
// messages and renders each row as row_to_json would, from the columns' text
// and with built-in code only: no user function (cast, domain constraint,
// PL function) ever runs in the worker while it decodes or snapshots.  The
// extension's own tables are never sent.
//
// Delivery: each decoded transaction gets a producer ledger (CommitQueue).
// The slot is confirmed only up to the commit of the oldest transaction with
// an unacknowledged message, or to the reader's position when nothing is
// pending, and saved to disk every second.  A restart therefore re-sends
// whole transactions and never skips one.
//
// Errors: any ERROR ends the worker (exit 1) after its text was put in
// shared memory; the launcher starts it again with a backoff.  No decoding
// context is ever reused after an error.
//
// Identity: the worker runs as the pipeline's owner, connected as that role
// (as pg_cron runs a job as its user), so the initial snapshot reads what
// the owner may read and nothing more.  The launcher knows slots, not
// owners: a start for an entry whose owner is unknown is a short lookup,
// connected as the bootstrap superuser, that only reads kafka.pipelines
// without SQL (no user code, no settings involved), records the owner in
// shared memory and exits for an immediate restart as the owner.  Every
// start as the owner checks the owner's privileges again (REPLICATION,
// LOGIN, USAGE on the server, owning the publication, SELECT on its tables),
// and so does every table's first appearance in the stream: a pipeline whose
// owner lost one stops with last_error and retries with the backoff.  The
// worker's own writes to kafka.pipelines run as the extension's owner.
//
// This file: the worker's main loop and its status in shared memory; the
// others are listed in worker.hpp.
#include "cdc/worker.hpp"
#include "pg/bridge.hpp"
#include "pg/worker.hpp"

extern "C" {
#include "access/xlog.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/decode.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
}

#include <malloc.h>

namespace kafka_fdw::cdc::pipeline {

Worker *W = nullptr;

namespace {
// A slot without a pipeline row (a create_pipeline not committed yet, or a
// slot left by a dropped extension) is looked at again after this long, not
// as fast as workers can be started; a create_pipeline that commits starts
// its worker at once.
constexpr int kNoDefinitionRetryMs = 5000;
}  // namespace

// ---- shared-memory status ---------------------------------------------------

void SetState(WorkerState s, const char *error) {
    if (W->second) return;  // a second worker (the fencing test) leaves the entry alone
    PipelineEntry *e = W->entry;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    e->state = s;
    if (error) {
        strlcpy(e->last_error, error, sizeof e->last_error);
        e->last_error_at = GetCurrentTimestamp();
    }
    LWLockRelease(Shared()->lock);
}

// Serves interrupts, and ends the worker when its pipeline was paused,
// changed or dropped: for the waits in which nothing has to be drained
// first (the streaming path stops through StopCleanly instead).
void ExitIfReloaded() {
    CHECK_FOR_INTERRUPTS();
    if (W->entry->reload) proc_exit(0);
}

// The worker waits for Kafka inside a decoded transaction: say why in
// pipeline_status, serve interrupts, and end (cleanly, nothing of this
// transaction was confirmed) when the pipeline was paused, changed or dropped.
void StalledOnKafka(const char *why) {
    SetState(WorkerState::Retrying, why);
    ExitIfReloaded();
}

void PublishProgress() {
    if (W->second) return;
    PipelineEntry *e = W->entry;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    if (W->sender && e->events_sent != W->sender->events_sent) {
        e->events_sent = W->sender->events_sent;
        e->last_event_at = GetCurrentTimestamp();
        // (each run's sender counts from 0: the rate counts what it added)
        if (W->sender->events_sent > W->rate_counted) {
            RateAdd(&e->rate, e->last_event_at, W->sender->events_sent - W->rate_counted);
            W->rate_counted = W->sender->events_sent;
        }
    }
    e->confirmed_lsn = W->confirmed;
    e->exactly_once = W->exactly_once;
    if (W->sender && W->exactly_once) {
        // (plain reads of the sender's fields: nothing here throws)
        const kafka::EosPosition &c = W->sender->committed();
        e->kafka_committed_lsn = c.valid ? c.lsn : InvalidXLogRecPtr;
        e->kafka_transactions += W->sender->kafka_txns_committed - W->kafka_txns_counted;
        W->kafka_txns_counted = W->sender->kafka_txns_committed;
    }
    LWLockRelease(Shared()->lock);
}

namespace {

void WorkerExit(int code, Datum) {
    if (!W) return;
    PipelineEntry *e = W->entry;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    e->pid = 0;
    e->snapshot = SnapshotProgress{};
    // an open Kafka transaction is aborted by the next worker's start
    bool open = false;
    if (W->sender) open = W->sender->kafka_txn_open();
    if (open) e->kafka_aborted++;  // an unfinished snapshot starts over with the next worker
    TimestampTz now = GetCurrentTimestamp();
    if (W->connecting) {
        // The connection as the owner failed (FATAL: the role was dropped,
        // lost LOGIN, ...): the next start looks the owner up again and says
        // what is wrong.
        if (e->owner == W->connected_owner) e->owner = InvalidOid;
        snprintf(e->last_error, sizeof e->last_error,
                 "could not connect as the pipeline's owner (role with OID %u): see the server log",
                 W->connected_owner);
        e->last_error_at = now;
    }
    if (code != 0) {
        // Back off: 1, 2, 4, 8 s, at most 10 s.
        e->restart_at = TimestampTzPlusMilliseconds(now, pg::Backoff(&e->failures, 10, 10000));
        e->state = WorkerState::Retrying;
    } else {
        bool later = W->no_definition && e->created_gen == W->created_gen;
        e->restart_at = later ? TimestampTzPlusMilliseconds(now, kNoDefinitionRetryMs) : now;
        if (e->state != WorkerState::Paused) e->state = WorkerState::Stopped;
    }
    LWLockRelease(Shared()->lock);
    WakeLauncher();
}

}  // namespace

bool StopRequested() { return ProcDiePending || W->entry->reload; }

namespace {

// WAL is read up to what is flushed and, for a failover slot (17+), what
// the standbys of synchronized_standby_slots have confirmed: no event leaves
// for Kafka that a promoted standby would not have.  The limit is always a
// position that was flushed (a record's end or a page boundary), never the
// reader's request itself: the reader takes the rest of a page for a record
// that goes on to the next one, so a limit inside that record would hand it
// bytes not read yet (a checksum ERROR).  While the standbys confirm it, the
// limit stays where it was taken.
int PageRead(XLogReaderState *state, XLogRecPtr page, int req_len, XLogRecPtr, char *cur_page) {
    XLogRecPtr want = page + req_len;
    XLogRecPtr upto = InvalidXLogRecPtr;
    TimeLineID tli;
    long sleep_ms = 1;
    for (;;) {
        if (upto < want) upto = GetFlushRecPtr(&tli);
        if (want <= upto && kafka_fdw::pg::StandbysConfirmed(upto)) break;
        if (StopRequested()) return -1;
        // as a walsender reloads it while it waits for WAL (kafka_fdw.timeout,
        // synchronized_standby_slots, ...)
        pg::ReloadConfigIfPending();
        // a commit under way (also one the housekeeping just cut) is driven
        // every millisecond (the rest of the housekeeping every 20 ms,
        // Housekeeping(false))
        Housekeeping(!(W->sender && W->sender->commit_pending()));
        bool committing = W->sender && W->sender->commit_pending();
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, committing ? 1L : sleep_ms,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        if (!ProcDiePending) CHECK_FOR_INTERRUPTS();
        sleep_ms = Min(sleep_ms * 2, 20);
    }
    // After a promotion the slot's WAL may begin on an earlier timeline: its
    // segments carry that timeline's name and end where it does (as
    // read_local_xlog_page reads them).
    XLogReadDetermineTimeline(state, page, req_len, tli);
    if (state->currTLI != tli) {
        tli = state->currTLI;
        upto = state->currTLIValidUntil;
        if (want > upto) return -1;
    }
    int count = page + XLOG_BLCKSZ <= upto ? XLOG_BLCKSZ : (int)(upto - page);
    WALReadError errinfo;
    if (!WALRead(state, cur_page, page, count, tli, &errinfo)) WALReadRaiseError(&errinfo);
    return count;
}

XLogReaderRoutine g_routine = {PageRead, wal_segment_open, wal_segment_close};

void WaitWhilePaused() {
    SetState(WorkerState::Paused, nullptr);
    for (;;) {
        ExitIfReloaded();
        pg::ReloadConfigIfPending();
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    }
}

// Between a restart with a new library and ALTER EXTENSION kafka_fdw UPDATE
// (pg::WaitForExtensionVersion): the pipeline says so in pipeline_status,
// and a pause, change or drop ends the wait.
void WaitingForUpdate(const char *why) {
    SetState(WorkerState::Retrying, why);
    ExitIfReloaded();
}

// Ends a worker that has no pipeline row to run.
void ExitWithoutDefinition() {
    if (W->second) proc_exit(0);
    W->no_definition = true;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    W->entry->state = WorkerState::Stopped;
    LWLockRelease(Shared()->lock);
    proc_exit(0);
}

void Run() {
    // No pipeline row (yet): a create_pipeline still in progress, or a slot
    // of another database's kafka_fdw without the extension.
    if (!LoadDefinition()) ExitWithoutDefinition();
    if (W->owner != W->connected_owner) {
        // The row names another owner than the one this process connected
        // as (the pipeline was dropped and made again by another role):
        // nothing runs as the wrong role; look the owner up and start again.
        if (W->second) proc_exit(0);
        LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
        if (W->entry->owner == W->connected_owner) W->entry->owner = InvalidOid;
        LWLockRelease(Shared()->lock);
        proc_exit(0);
    }
    if (W->paused) WaitWhilePaused();
    CheckPrivileges();
    CreateSender();
    if (W->snapshot_pending && W->second) proc_exit(0);
    if (W->snapshot_pending) {
        SetState(WorkerState::Running, nullptr);
        TakeSnapshot();
    }

    // A drop_pipeline right after create_pipeline may have dropped the slot
    // and the row since they were read: end quietly, not with an ERROR.
    if (!SearchNamedReplicationSlot(W->slot_name, true) && !LoadDefinition()) ExitWithoutDefinition();
    kafka_fdw::pg::AcquireReplicationSlot(W->slot_name, true);
    // drop_pipeline may have found the slot free just before: it drops it
    // at its commit, waiting for this worker to let go
    if (!W->second) {
        LWLockAcquire(Shared()->lock, LW_SHARED);
        bool dropping = W->entry->dropping;
        LWLockRelease(Shared()->lock);
        if (dropping) {
            ReplicationSlotRelease();
            proc_exit(0);
        }
    }
    if (XLogRecPtrIsInvalid(MyReplicationSlot->data.restart_lsn))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("replication slot \"%s\" of pipeline \"%s\" was invalidated", W->slot_name, W->name),
                        errdetail("The WAL it needed was removed (max_slot_wal_keep_size)."),
                        errhint("Drop the pipeline and create it again.")));
    W->confirmed = MyReplicationSlot->data.confirmed_flush;
    StartExactlyOnce();

    MemoryContext old = MemoryContextSwitchTo(W->cxt);
    List *options = list_make2(makeDefElem(pstrdup("proto_version"), (Node *)makeString(pstrdup("1")), -1),
                               makeDefElem(pstrdup("publication_names"),
                                           (Node *)makeString(pstrdup(quote_identifier(W->publication))), -1));
    // Logical messages, always: kafka.produce_on_commit's (outbox.cpp), and
    // the transactional ones of any prefix count as items of their
    // transaction (kafka/eos.hpp) whether the pipeline sends them or not, so
    // that a restart skips the same items whatever its options became.
    options = lappend(options, makeDefElem(pstrdup("messages"), (Node *)makeString(pstrdup("true")), -1));
    W->ctx = CreateDecodingContext(InvalidXLogRecPtr, options, false, &g_routine, PrepareWrite, Write, UpdateProgress);
    W->ctx->output_writer_private = W;
    MemoryContextSwitchTo(old);
    XLogBeginRead(W->ctx->reader, MyReplicationSlot->data.restart_lsn);
    InvalidateSystemCaches();
    SetState(WorkerState::Running, nullptr);

    for (;;) {
        if (StopRequested()) StopCleanly();
        char *errm = nullptr;
        XLogRecord *record = XLogReadRecord(W->ctx->reader, &errm);
        if (errm) elog(ERROR, "could not read WAL at %X/%X: %s", (uint32)(W->ctx->reader->EndRecPtr >> 32),
                             (uint32)W->ctx->reader->EndRecPtr, errm);
        if (record) {
            LogicalDecodingProcessRecord(W->ctx, W->ctx->reader);
            W->records++;
        }
        // Cheap enough per record, but the clock need not be read for each.
        if (!record || (W->records & 63) == 0) Housekeeping(false);
        if (!ProcDiePending) CHECK_FOR_INTERRUPTS();
    }
}

}  // namespace
}  // namespace kafka_fdw::cdc::pipeline

using namespace kafka_fdw::cdc;
using namespace kafka_fdw::cdc::pipeline;

void kafka_fdw_cdc_worker_main(Datum arg) {
    // A second worker started by hand (kafka._bridge_selftest, the fencing
    // test): the same code, but it never writes the pipeline's entry; it
    // must fail to acquire the slot and end, having fenced nobody.
    bool second = (DatumGetInt32(arg) & kSecondWorkerBit) != 0;
    int idx = DatumGetInt32(arg) & ~kSecondWorkerBit;
    // This process is ours: no fastbins.  librdkafka allocates a message and
    // seven small blocks for its five headers per event and frees them in
    // delivery-report batches; with fastbins, each freed message that merges
    // into a large free block makes glibc consolidate every fastbin.  The
    // measurement: bench/README.md, "Measurements behind the code (CDC and
    // sink)".
    mallopt(M_MXFAST, 0);
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw pipeline", ALLOCSET_DEFAULT_SIZES);
    W = static_cast<Worker *>(MemoryContextAllocZero(cxt, sizeof(Worker)));
    W->idx = idx;
    W->cxt = cxt;
    W->scratch = AllocSetContextCreate(cxt, "kafka_fdw pipeline scratch", ALLOCSET_DEFAULT_SIZES);
    W->entry = &Shared()->entries[idx];
    W->second = second;
    HASHCTL hctl;
    memset(&hctl, 0, sizeof hctl);
    hctl.keysize = sizeof(uint32);
    hctl.entrysize = sizeof(RelInfo);
    hctl.hcxt = cxt;
    W->rels = hash_create("kafka_fdw pipeline relations", 64, &hctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

    Oid dboid, owner;
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    dboid = W->entry->dboid;
    owner = W->entry->owner;
    strlcpy(W->slot_name, W->entry->slot_name, NAMEDATALEN);
    if (W->entry->dropping) {
        // drop_pipeline began after the launcher registered this worker:
        // it waits for the slot to be free, so never take it (drop_pipeline's
        // flag reaches no worker whose pid it does not know yet)
        LWLockRelease(Shared()->lock);
        proc_exit(0);
    }
    if (!second) {
        W->entry->pid = MyProcPid;
        W->entry->reload = false;
    }
    W->created_gen = W->entry->created_gen;  // before LoadDefinition looks for the row
    LWLockRelease(Shared()->lock);
    if (!second) before_shmem_exit(WorkerExit, 0);
    if (second && !OidIsValid(owner)) proc_exit(0);

    if (OidIsValid(owner)) {
        // As the owner.  The database's and the role's settings apply (as
        // for any session of the owner's); "role" is reset so that the
        // worker acts as the owner itself, and the extension's own SQL pins
        // its search_path.
        W->connected_owner = owner;
        W->connecting = true;
        BackgroundWorkerInitializeConnectionByOid(dboid, owner, 0);
        W->connecting = false;
        SetConfigOption("role", "none", PGC_SUSET, PGC_S_OVERRIDE);
        // Dates and times as ISO text, whatever the owner's DateStyle: the
        // rows are rendered from the text pgoutput and the snapshot get from
        // output functions (render.cpp), as row_to_json writes them (ISO).
        SetConfigOption("datestyle", "ISO", PGC_SUSET, PGC_S_OVERRIDE);
    } else {
        // A lookup start (see LookupOwner): no user code runs in it.
        BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
    }

    // Any ERROR: record it for pipeline_status, then exit(1) (restart with
    // a backoff).  The context is never reused after an error.
    PG_TRY();
    {
        // Nothing of the extension's tables is read before they are the
        // version this library was built for.
        kafka_fdw::pg::WaitForExtensionVersion(psprintf("pipeline worker (slot %s)", W->slot_name), WaitingForUpdate);
        if (OidIsValid(owner)) Run();
        else LookupOwner();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(W->cxt);
        ErrorData *edata = CopyErrorData();
        SetState(WorkerState::Retrying, kafka_fdw::pg::ErrorSummary(edata));
        PG_RE_THROW();
    }
    PG_END_TRY();
    proc_exit(0);
}
