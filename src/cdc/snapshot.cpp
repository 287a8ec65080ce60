// The pipeline worker's initial snapshot (Postgres zone).
//
// The rows that exist when the pipeline starts, as events with op 'r', read
// in a snapshot that matches the slot's start exactly: as the walsender's
// CREATE_REPLICATION_SLOT ... (SNAPSHOT 'use'), in-process.  The slot that
// create_pipeline made is started anew here (as if just created: WAL
// reserved from now, a new consistent point; it is never dropped), and this
// transaction reads the tables as of that consistent point; streaming then
// starts at that point, so no change is missed or sent twice.  The
// pipeline's snapshot state becomes 'done' only once every event was
// acknowledged: a worker that stops before does it all again (the events of
// the unfinished attempt are then duplicates, never gaps).
#include "cdc/worker.hpp"

#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/security.hpp"
#include "pg/worker.hpp"

extern "C" {
#include "access/sysattr.h"
#include "access/xlogutils.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "replication/snapbuild.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
}

namespace kafka_fdw::cdc::pipeline {
namespace {

struct SnapTable {
    Oid relid;
    char *nsp;
    char *rel;
    char relkind;
    char replident;
    Datum attnames;  // name[] of the column list, or 0: every column
    bool has_attnames;
    char *rowfilter;  // or nullptr
};

// kafka.snapshot_progress: what this worker's snapshot has done, in its
// shared-memory entry.
void ReportSnapshot(int tables_done, const char *table, uint64 more_rows) {
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    SnapshotProgress &p = W->entry->snapshot;
    if (tables_done >= 0) p.tables_done = tables_done;
    if (table) strlcpy(p.table, table, sizeof p.table);
    p.rows_sent += more_rows;
    LWLockRelease(Shared()->lock);
}

// pgoutput's description of a table (the columns it publishes, the key
// columns of its replica identity), made from the catalog.
pgo::Relation *DescribeForSnapshot(const SnapTable &t) {
    pgo::Relation *msg = nullptr;
    KFDW_ENTRY({
        msg = new pgo::Relation();
        msg->relid = t.relid;
        msg->nspname = t.nsp;
        msg->relname = t.rel;
        msg->replident = t.replident;
    });
    ::Relation r = RelationIdGetRelation(t.relid);
    if (!RelationIsValid(r)) elog(ERROR, "could not open relation %u", t.relid);
    Bitmapset *ident = t.replident == 'f' ? nullptr : RelationGetIndexAttrBitmap(r, INDEX_ATTR_BITMAP_IDENTITY_KEY);
    TupleDesc td = RelationGetDescr(r);
    ArrayType *names = t.has_attnames ? DatumGetArrayTypeP(t.attnames) : nullptr;
    Datum *nv = nullptr;
    int nn = 0;
    if (names) deconstruct_array(names, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &nv, nullptr, &nn);
    for (int i = 0; i < td->natts; i++) {
        Form_pg_attribute a = TupleDescAttr(td, i);
        if (a->attisdropped) continue;
        // the columns pgoutput sends: generated ones only from 18 on, and
        // then those pg_publication_tables lists (stored generated columns
        // of a publication WITH (publish_generated_columns = stored) or
        // named in its column list); before 18 it lists them too, but
        // pgoutput never sends them
        if (a->attgenerated && (!kafka_fdw::pg::kPgoutputSendsGenerated || !names)) continue;
        bool listed = !names;
        for (int j = 0; j < nn && !listed; j++)
            if (strcmp(NameStr(*DatumGetName(nv[j])), NameStr(a->attname)) == 0) listed = true;
        if (!listed) continue;
        bool key = t.replident == 'f' ||
                   bms_is_member(a->attnum - FirstLowInvalidHeapAttributeNumber, ident);
        const char *name = NameStr(a->attname);
        Oid type = a->atttypid;
        int32 typmod = a->atttypmod;
        KFDW_ENTRY({
            pgo::Attribute at;
            at.key = key;
            at.name = name;
            at.type_oid = type;
            at.typmod = typmod;
            msg->attrs.push_back(std::move(at));
        });
    }
    RelationClose(r);
    return msg;
}

// The rows of a cursor, 1,000 at a time, as events with op 'r'.  A pause or
// drop is honoured before each batch, so that nothing is sent once
// pause_pipeline committed (the worker may have waited meanwhile, for Kafka
// in EnsureTopic or for a lock on the table); the snapshot is done again, or
// never.
void SnapshotRows(Portal portal, RelInfo *rel, pgo::Tuple *tup, MemoryContext batch_cxt) {
    for (;;) {
        ExitIfReloaded();
        SPI_cursor_fetch(portal, true, 1000);
        if (SPI_processed == 0) break;
        MemoryContext old = MemoryContextSwitchTo(batch_cxt);
        for (uint64 r = 0; r < SPI_processed; r++) {
            HeapTuple ht = SPI_tuptable->vals[r];
            for (int i = 0; i < rel->natts; i++) {
                char *v = SPI_getvalue(ht, SPI_tuptable->tupdesc, i + 1);
                (*tup)[i].kind = v ? 't' : 'n';
                (*tup)[i].data = v ? std::string_view(v, strlen(v)) : std::string_view();
            }
            StringInfoData key, value;
            initStringInfo(&key);
            initStringInfo(&value);
            bool has_key;
            if (rel->dbz) {
                has_key = dbz::RenderKey(&key, rel->dbz, *tup);
                dbz::RenderEnvelope(&value, rel->dbz, 'r', nullptr, false, tup, nullptr, CurrentSource(true));
            } else {
                has_key = RenderKey(&key, rel, *tup);
                RenderRow(&value, rel, *tup, nullptr);
            }
            Send(rel, has_key ? &key : nullptr, &value, 'r', nullptr);
        }
        MemoryContextSwitchTo(old);
        MemoryContextReset(batch_cxt);
        ReportSnapshot(-1, nullptr, SPI_processed);
        SPI_freetuptable(SPI_tuptable);
        PublishProgress();
    }
}

// The table's RelInfo, as if pgoutput had described it.
RelInfo *DescribeSnapshotTable(const SnapTable &t) {
    pgo::Relation *msg = DescribeForSnapshot(t);
    PG_TRY();
    { OnRelation(*msg); }
    PG_FINALLY();
    { delete msg; }
    PG_END_TRY();
    // A snapshotted table's topic exists even when the table is empty (and
    // is made before its rows are read: a pause while Kafka is waited for
    // sends nothing).
    RelInfo *rel = LookupRel(t.relid);
    if (!rel->excluded) {
        EnsureTopic(rel->topic);
        rel->topic_ready = true;
    }
    return rel;
}

void ScanSnapshotTable(Portal portal, RelInfo *rel, MemoryContext batch_cxt) {
    pgo::Tuple *tup = nullptr;
    KFDW_ENTRY(tup = new pgo::Tuple(rel->natts););
    PG_TRY();
    { SnapshotRows(portal, rel, tup, batch_cxt); }
    PG_FINALLY();
    { delete tup; }
    PG_END_TRY();
}

void SnapshotTable(const SnapTable &t, MemoryContext batch_cxt) {
    if (InExtensionSchema(t.relid)) return;  // the extension's own tables: never sent
    ReportSnapshot(-1, psprintf("%s.%s", t.nsp, t.rel), 0);
    RelInfo *rel = DescribeSnapshotTable(t);

    StringInfoData q;
    initStringInfo(&q);
    appendStringInfoString(&q, "SELECT ");
    for (int i = 0; i < rel->natts; i++)
        appendStringInfo(&q, "%s%s", i ? ", " : "", quote_identifier(rel->attrs[i].name));
    if (rel->natts == 0) appendStringInfoString(&q, "1");
    appendStringInfo(&q, " FROM %s%s", t.relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
                     quote_qualified_identifier(t.nsp, t.rel));
    if (t.rowfilter) appendStringInfo(&q, " WHERE (%s)", t.rowfilter);

    Portal portal = SPI_cursor_open_with_args(nullptr, q.data, 0, nullptr, nullptr, nullptr, true, 0);
    ScanSnapshotTable(portal, rel, batch_cxt);
    SPI_cursor_close(portal);
}

// The pipeline's slot, acquired and made ready for a new start: WAL
// reserved from now and no consistent point yet, as a slot that was just
// created.  The slot is never absent meanwhile: the launcher finds
// pipelines by their slots, and a slot dropped and made again (as before)
// was lost for good to an ERROR, a shutdown or a crash while the new one
// waited for running transactions (it was ephemeral until its consistent
// point), or to another session taking the name in between.  A slot that is
// missing (never made, or dropped by hand) is made persistent at once; one
// that was invalidated cannot decode again and is replaced by a persistent
// one (released, dropped and made again).
void AcquireSlotForSnapshot() {
    if (SearchNamedReplicationSlot(W->slot_name, true)) {
        // an ERROR if another process has it (the slot stays as it is)
        kafka_fdw::pg::AcquireReplicationSlot(W->slot_name, true);
        if (!kafka_fdw::pg::AcquiredSlotInvalidated()) {
            // CreateInitDecodingContext reserves WAL from the current insert
            // position (and logs a running-transactions record there) for a
            // slot without a restart_lsn; the old one's WAL is released then
            // (and nothing of the old start's bookkeeping: candidates for
            // the next xmin/restart_lsn move belong to the old position, as
            // ReplicationSlotCreate clears them for a new slot)
            ReplicationSlot *slot = MyReplicationSlot;
            SpinLockAcquire(&slot->mutex);
            slot->data.restart_lsn = InvalidXLogRecPtr;
            slot->data.confirmed_flush = InvalidXLogRecPtr;
            slot->candidate_catalog_xmin = InvalidTransactionId;
            slot->candidate_xmin_lsn = InvalidXLogRecPtr;
            slot->candidate_restart_valid = InvalidXLogRecPtr;
            slot->candidate_restart_lsn = InvalidXLogRecPtr;
            kafka_fdw::pg::ClearLastSavedRestartLsn(slot);
            SpinLockRelease(&slot->mutex);
            return;
        }
        ReplicationSlotRelease();
        ReplicationSlotDrop(W->slot_name, true);
    }
    // A drop_pipeline under way (its worker read the row before): no slot
    // made for a pipeline that goes; checked again once the slot is made, in
    // case the drop came in between (it sets the flag before it drops).
    auto dropping = [] {
        LWLockAcquire(Shared()->lock, LW_SHARED);
        bool d = W->entry->dropping;
        LWLockRelease(Shared()->lock);
        return d;
    };
    if (dropping()) proc_exit(0);
    kafka_fdw::pg::CreateReplicationSlot(W->slot_name, true, RS_PERSISTENT, false, W->failover);
    if (dropping()) {
        ReplicationSlotRelease();
        ReplicationSlotDrop(W->slot_name, true);
        proc_exit(0);
    }
}

// In the transaction that reads the snapshot (repeatable read, read only):
// the slot started anew, the snapshot of its consistent point, and the rows
// of every table the publication publishes, sent.  snap_cxt: for the list of
// tables and the batches.
void SendSnapshot(MemoryContext snap_cxt) {
    XactIsoLevel = XACT_REPEATABLE_READ;
    XactReadOnly = true;
    CheckLogicalDecodingRequirements();
    // kafka.snapshot_progress from now on: no table yet while the slot waits
    // for its consistent point (running transactions must end)
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    W->entry->snapshot = SnapshotProgress{};
    W->entry->snapshot.started_at = GetCurrentTimestamp();
    W->entry->snapshot.rows_estimate = -1;
    LWLockRelease(Shared()->lock);
    AcquireSlotForSnapshot();
    XLogReaderRoutine routine = {read_local_xlog_page, wal_segment_open, wal_segment_close};
    LogicalDecodingContext *ctx =
        CreateInitDecodingContext("pgoutput", NIL, true, InvalidXLogRecPtr, &routine, nullptr, nullptr, nullptr);
    DecodingContextFindStartpoint(ctx);
    XLogRecPtr start = MyReplicationSlot->data.confirmed_flush;
    InvalidateCatalogSnapshot();
    Snapshot snap = SnapBuildInitialSnapshot(ctx->snapshot_builder);
    RestoreTransactionSnapshot(snap, MyProc);
    FreeDecodingContext(ctx);
    // the consistent point on disk (a crash before this makes the snapshot
    // again anyway: the pipeline's snapshot state is still pending)
    ReplicationSlotMarkDirty();
    ReplicationSlotSave();
    W->confirmed = start;

    // The tables and columns the publication publishes, and its row filters.
    // The extension's own SQL, run as the owner: search_path pinned (the
    // owner's settings apply to this connection), operators qualified; the
    // row filters are deparsed and parsed again under the same path.
    PushActiveSnapshot(GetTransactionSnapshot());
    int nest = pg::PinSearchPath();
    SPI_connect();
    Oid argtypes[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(W->publication)};
    int rc = SPI_execute_with_args(
        "SELECT c.oid, p.schemaname::pg_catalog.text, p.tablename::pg_catalog.text, c.relkind::pg_catalog.text, "
        "c.relreplident::pg_catalog.text, p.attnames, p.rowfilter, c.reltuples "
        "FROM pg_catalog.pg_publication_tables p "
        "JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) p.schemaname "
        "JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid "
        "AND c.relname OPERATOR(pg_catalog.=) p.tablename "
        "WHERE p.pubname OPERATOR(pg_catalog.=) $1 ORDER BY 2, 3",
        1, argtypes, args, nullptr, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "could not list the tables of publication \"%s\"", W->publication);
    int ntables = (int)SPI_processed;
    SnapTable *tables = static_cast<SnapTable *>(MemoryContextAllocZero(snap_cxt, sizeof(SnapTable) * Max(1, ntables)));
    int64 estimate = 0;  // the planner's, from pg_class.reltuples (-1: a table never analyzed)
    for (int i = 0; i < ntables; i++) {
        HeapTuple ht = SPI_tuptable->vals[i];
        TupleDesc td = SPI_tuptable->tupdesc;
        SnapTable &t = tables[i];
        bool isnull;
        MemoryContext old = MemoryContextSwitchTo(snap_cxt);
        t.relid = DatumGetObjectId(SPI_getbinval(ht, td, 1, &isnull));
        t.nsp = SPI_getvalue(ht, td, 2);
        t.rel = SPI_getvalue(ht, td, 3);
        t.relkind = SPI_getvalue(ht, td, 4)[0];
        t.replident = SPI_getvalue(ht, td, 5)[0];
        Datum names = SPI_getbinval(ht, td, 6, &isnull);
        t.has_attnames = !isnull;
        if (!isnull) t.attnames = PointerGetDatum(PG_DETOAST_DATUM_COPY(names));
        t.rowfilter = SPI_getvalue(ht, td, 7);
        float4 reltuples = DatumGetFloat4(SPI_getbinval(ht, td, 8, &isnull));
        if (estimate >= 0) estimate = reltuples < 0 ? -1 : estimate + (int64)reltuples;
        MemoryContextSwitchTo(old);
    }
    SPI_freetuptable(SPI_tuptable);
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    W->entry->snapshot.tables_total = ntables;
    W->entry->snapshot.rows_estimate = estimate;
    LWLockRelease(Shared()->lock);
    // exactly-once: older producers of the pipeline fenced while the slot is
    // still ours, once the tables are listed (the listing opens them from
    // PostgreSQL 16 on: it is not held up behind a wait for the brokers)
    StartExactlyOnce();
    ReplicationSlotRelease();

    // One "transaction" of events for the ack ledger, at the slot's start.
    W->txn_final_lsn = start;
    W->txn_xid = 0;
    W->txn_commit_unix_us = GetCurrentTimestamp() + pg::kEpochShiftUs;
    KFDW_ENTRY({
        pgo::Begin b;
        b.final_lsn = start;
        b.xid = 0;
        b.commit_time = GetCurrentTimestamp();
        W->sender->Begin(b);
    });
    MemoryContext batch_cxt = AllocSetContextCreate(snap_cxt, "kafka_fdw snapshot batch", ALLOCSET_DEFAULT_SIZES);
    for (int i = 0; i < ntables; i++) {
        SnapshotTable(tables[i], batch_cxt);
        ReportSnapshot(i + 1, "", 0);
    }
    KFDW_ENTRY(W->sender->Commit(););
    SPI_finish();
    pg::UnpinSearchPath(nest);
    PopActiveSnapshot();
}

// The pipeline's row belongs to the extension: written as its owner.
void RecordSnapshotDone() {
    pg::OwnerSpi own;
    pg::BeginOwnerSpi(&own, pg::kOwnerSpiConnect | pg::kOwnerSpiRestricted);
    Oid types[1] = {NAMEOID};
    Datum values[1] = {CStringGetDatum(W->slot_name)};
    char *sql =
        psprintf("UPDATE %s.pipelines SET snapshot = 'done' WHERE slot_name OPERATOR(pg_catalog.=) $1", own.schema);
    if (SPI_execute_with_args(sql, 1, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
        elog(ERROR, "could not record the end of the initial snapshot");
    pg::EndOwnerSpi(&own);
}

}  // namespace

void TakeSnapshot() {
    // The slot started anew, and a snapshot at its consistent point.
    MemoryContext snap_cxt = AllocSetContextCreate(W->cxt, "kafka_fdw snapshot", ALLOCSET_DEFAULT_SIZES);
    pg::InWorkerXact(0, [snap_cxt] { SendSnapshot(snap_cxt); });

    // Every event acknowledged (exactly-once: committed), then the snapshot
    // is done.
    CommitKafka(true);
    for (;;) {
        bool drained = false;
        KFDW_ENTRY(drained = W->sender->Drain(1000););
        if (drained) break;
        char msg[512];
        DescribeKafkaWait(msg, sizeof msg, "waiting for Kafka to acknowledge the initial snapshot");
        StalledOnKafka(msg);
    }
    SetState(WorkerState::Running, nullptr);
    PublishProgress();
    pg::InWorkerXact(pg::kXactSnapshot, [] { RecordSnapshotDone(); });
    LWLockAcquire(Shared()->lock, LW_EXCLUSIVE);
    W->entry->snapshot = SnapshotProgress{};
    LWLockRelease(Shared()->lock);
    MemoryContextDelete(snap_cxt);
    W->snapshot_pending = false;
}

}  // namespace kafka_fdw::cdc::pipeline
