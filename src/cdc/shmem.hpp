// The shared memory of the launcher and its workers (Postgres zone): one
// entry per pipeline (the live status behind kafka.pipeline_status) and one
// per sink worker, under one LWLock.  Present only when the library is in
// shared_preload_libraries.
#pragma once

#include "cdc/progress.hpp"

#include "pg/postgres.hpp"

extern "C" {
#include "access/xlogdefs.h"
}

namespace kafka_fdw::cdc {

enum class WorkerState : int { Stopped = 0, Starting, Running, Paused, Retrying };
const char *WorkerStateName(WorkerState s);

// The initial snapshot under way (kafka.snapshot_progress); started_at 0
// when none.  Written by the pipeline's worker under the shared lock.
struct SnapshotProgress {
    TimestampTz started_at;
    int tables_total;
    int tables_done;
    char table[2 * NAMEDATALEN + 1];  // schema.table being read ('' between tables)
    uint64 rows_sent;                 // rows read and handed to the producer
    int64 rows_estimate;              // pg_class.reltuples of the tables, summed; -1: unknown
};

struct PipelineEntry {
    bool in_use;
    Oid dboid;
    char slot_name[NAMEDATALEN];
    pid_t pid;                  // the worker's, 0 when none
    WorkerState state;
    bool reload;                // definition changed: stop cleanly, start again
    bool dropping;              // drop_pipeline in progress: do not start
    TimestampTz restart_at;     // the launcher starts no worker before this
    uint32 created_gen;         // bumped when a create_pipeline of this slot commits
    // The pipeline's owner: the role its worker connects as.  InvalidOid
    // while unknown: the next start is then a short lookup (see
    // worker_main.cpp) that reads it from kafka.pipelines and exits for an
    // immediate restart.  Set by create_pipeline too; cleared when a start
    // as the owner fails to connect or finds another owner in the row.
    Oid owner;
    int failures;               // consecutive failed runs (backoff)
    uint64 events_sent;
    TimestampTz last_event_at;
    XLogRecPtr confirmed_lsn;
    char last_error[512];
    TimestampTz last_error_at;
    // kafka.lag: events per second (the worker counts what it sends), and
    // the launcher's watch over the slot's confirmed position (seconds since
    // it moved, the stall warning).  Both since the entry was made.
    TimestampTz rate_since;
    RateRing rate;
    StallWatch stall;
    SnapshotProgress snapshot;
    // exactly-once (pipeline_status): the mode of the last worker, the
    // position its last Kafka commit recorded, Kafka transactions committed
    // and left open by workers that ended (aborted by the next one), since
    // the server started
    bool exactly_once;
    XLogRecPtr kafka_committed_lsn;
    uint64 kafka_transactions;
    uint64 kafka_aborted;
    // kafka.outbox_status: kafka.produce_on_commit's messages sent, and
    // messages with its prefix dropped (forged, see cdc/outbox.hpp)
    uint64 outbox_sent;
    uint64 outbox_rejected;
    TimestampTz outbox_rejected_at;
};

// Sinks (see src/sink/): one worker per database and sink owner, and a short
// lookup worker per database (owner InvalidOid) that finds the owners.  An
// entry is free when dboid is InvalidOid; the launcher frees the entries
// that want no worker and have none.
constexpr int kMaxSinkWorkers = 128;
struct SinkWorkerEntry {
    Oid dboid;                  // InvalidOid: free
    Oid owner;                  // the role the worker connects as; InvalidOid: the lookup worker
    bool wanted;                // keep a worker running (the owner may have sinks; a lookup is due)
    bool wake_pending;          // sinks changed since the worker last read them
    pid_t pid;                  // the worker's, 0 when none
    TimestampTz restart_at;
    int failures;
    char batch_sink[NAMEDATALEN];  // the sink whose batch runs now ('' between batches)
    char killed_sink[NAMEDATALEN]; // the sink whose batch ignored its cancel and was terminated
};

// kafka.lag: rows per second of each sink, counted by its worker after each
// batch, by database and sink name.  When the table is full the entry
// updated least recently is taken over.
constexpr int kMaxSinkStats = 256;
struct SinkStat {
    Oid dboid;  // InvalidOid: free
    char name[NAMEDATALEN];
    TimestampTz since;    // counting began
    TimestampTz used_at;  // last counted
    RateRing rate;
};

struct CdcShared {
    LWLock *lock;
    pid_t launcher_pid;
    int launcher_procno;        // -1 when no launcher
    int max_pipelines;
    SinkWorkerEntry sinkworkers[kMaxSinkWorkers];
    SinkStat sinkstats[kMaxSinkStats];
    PipelineEntry entries[FLEXIBLE_ARRAY_MEMBER];
};

// While preloading (InitAtPreload): kafka_fdw.max_pipelines, and the hooks
// that request and create the shared memory.
void InitSharedMemory();
// Whether the library was preloaded (pipelines need the launcher and memory).
bool Preloaded();
CdcShared *Shared();
void WakeLauncher();
// Under the lock (shared or exclusive): the entry of a slot, or NULL.
PipelineEntry *FindEntry(const char *slot_name);
// Under the exclusive lock: a new entry for a slot (its owner unknown, to
// start now); NULL when every entry is taken.
PipelineEntry *NewEntry(const char *slot_name, Oid dboid);
// Sets a worker's latch, if it runs.
void WakeWorker(pid_t pid);

// Under the lock (exclusive when `create`): the sink worker entry of a
// database and owner (InvalidOid: the database's lookup worker), made when
// `create` and none exists; NULL when the table is full or not found.
SinkWorkerEntry *FindSinkWorker(Oid dboid, Oid owner, bool create);

// Counts n rows applied by a sink of this database (takes the lock).
void CountSinkRows(const char *sink, uint64 n);

}  // namespace kafka_fdw::cdc
