// Change data capture: pipelines that stream a publication's row changes to
// Kafka.  One launcher (a static background worker, present when the library
// is in shared_preload_libraries) watches the cluster's replication slots and
// keeps one pipeline worker running per slot named kafka_fdw_<dboid>_<name>;
// each worker decodes the WAL in-process through the built-in pgoutput plugin
// (so the publication decides exactly as for Postgres' own logical
// replication) and produces one message per row change.  Shared memory holds
// the live status; the extension table kafka.pipelines holds the definition;
// the replication slot holds the position.  Postgres zone.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "access/xlogdefs.h"
#include "replication/slot.h"
}

namespace kafka_fdw::cdc {

enum class WorkerState : int { Stopped = 0, Starting, Running, Paused, Retrying };
const char *WorkerStateName(WorkerState s);

// The server's configuration read again after a SIGHUP (pg_reload_conf), in
// the loops of the launcher, the pipeline workers and the sink workers (each
// installs SignalHandlerForConfigReload).
void ReloadConfigIfPending();

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
    // while unknown: the next start is then a short lookup (see worker.cpp)
    // that reads it from kafka.pipelines and exits for an immediate restart.
    // Set by create_pipeline too; cleared when a start as the owner fails to
    // connect or finds another owner in the row.
    Oid owner;
    int failures;               // consecutive failed runs (backoff)
    uint64 events_sent;
    TimestampTz last_event_at;
    XLogRecPtr confirmed_lsn;
    char last_error[512];
    TimestampTz last_error_at;
};

// Sinks (see sink.cpp): one worker per database and sink owner, and a short
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

struct CdcShared {
    LWLock *lock;
    pid_t launcher_pid;
    int launcher_procno;        // -1 when no launcher
    int max_pipelines;
    SinkWorkerEntry sinkworkers[kMaxSinkWorkers];
    PipelineEntry entries[FLEXIBLE_ARRAY_MEMBER];
};

// _PG_init, while shared_preload_libraries is processed.
void InitAtPreload();
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

constexpr const char *kSlotPrefix = "kafka_fdw_";
// Under ReplicationSlotControlLock: whether a slot is a pipeline's (in use,
// logical, named kafka_fdw_*, plugin pgoutput).
bool IsPipelineSlot(const ReplicationSlot *s);

// ---- kafka.pipelines, read without SQL (definition.cpp) ---------------------
//
// The extension's own rows are read with a heap scan of the table found
// through the extension's schema OID: no SQL, so nothing the caller or the
// owner set (search_path, operators, role or database settings) is involved.

struct PipelineDef {
    char *name;
    char *server;
    char *publication;
    char *slot_name;
    Oid owner;
    bool paused;
    char *snapshot;  // none, pending or done
    Jsonb *options;  // a copy (never NULL)
};

// The row of a pipeline of this database, by name or (name NULL) by slot
// name; false when there is none or kafka_fdw is not installed here.  With
// `latest`, read with a fresh snapshot (sees rows committed since the
// statement began); else with the active snapshot.  palloc'd in the current
// memory context.  Needs a transaction.
bool ReadPipeline(const char *name, const char *slot_name, bool latest, PipelineDef *out);

// Pipelines of `role` in the cluster: this database's rows (exact, fresh
// snapshot) plus the entries of other databases whose owner is known.
int CountPipelinesOf(Oid role);

// What the owner of a pipeline needs, checked by create_pipeline (for the
// caller) and at every worker start (for the owner): REPLICATION (or
// superuser), LOGIN (the worker connects as the owner), USAGE on the server,
// ownership of the publication, and SELECT on each of its tables with no row
// security applying.  ERROR naming what is missing; else the OIDs of the
// publication's tables (as pgoutput sends them), palloc'd.
List *CheckOwnerPrivileges(const char *pipeline, Oid owner, const char *server, const char *publication);

// May `owner` read relation `relid` as a pipeline sends it: SELECT on it (or
// on a partitioned table above it) and no row security policy applying to
// the owner.  ERROR otherwise (naming the pipeline and the table).
void CheckRelationReadable(const char *pipeline, Oid owner, Oid relid);

// Under the lock (exclusive when `create`): the sink worker entry of a
// database and owner (InvalidOid: the database's lookup worker), made when
// `create` and none exists; NULL when the table is full or not found.
SinkWorkerEntry *FindSinkWorker(Oid dboid, Oid owner, bool create);
// _PG_init, while preloading: kafka_fdw.sink_batch_timeout.
void DefineSinkGucs();

}  // namespace kafka_fdw::cdc

extern "C" {
PGDLLEXPORT void kafka_fdw_cdc_launcher_main(Datum arg);
PGDLLEXPORT void kafka_fdw_cdc_worker_main(Datum arg);
PGDLLEXPORT void kafka_fdw_sink_worker_main(Datum arg);
}
