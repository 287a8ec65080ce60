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

#include "cdc/shmem.hpp"
#include "pg/postgres.hpp"

extern "C" {
#include "access/xlogdefs.h"
#include "replication/slot.h"
}

namespace kafka_fdw::cdc {

// _PG_init, while shared_preload_libraries is processed: the shared memory
// (shmem.cpp) and the launcher.
void InitAtPreload();

constexpr const char *kSlotPrefix = "kafka_fdw_";
// The worker argument's bit of a second worker started for the fencing test.
constexpr int kSecondWorkerBit = 0x40000000;

// Exactly-once pipelines (docs/pipelines.md, "Exactly-once"): a Kafka
// transaction is committed at the first source commit after this long or
// this many events, and a source transaction is split across Kafka
// transactions after split_max_events.
constexpr int kDefaultCommitIntervalMs = 10;
constexpr int kDefaultCommitMaxEvents = 100000;
constexpr int kDefaultSplitMaxEvents = 1000000;
constexpr int kMaxCommitIntervalMs = 5000;
// Under ReplicationSlotControlLock: whether a slot is a pipeline's (in use,
// logical, named kafka_fdw_*, plugin pgoutput).
bool IsPipelineSlot(const ReplicationSlot *s);

// For the fencing test (kafka._bridge_selftest): starts a second worker for
// the pipeline entry of `slot_name`, which must end without touching the
// entry or the running worker, and waits until it ended.  Returns its exit
// status as the postmaster saw it (0: it ended), -1 when no entry or no
// background worker slot.
int RunSecondWorkerForTest(const char *slot_name);

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

}  // namespace kafka_fdw::cdc

extern "C" {
PGDLLEXPORT void kafka_fdw_cdc_launcher_main(Datum arg);
PGDLLEXPORT void kafka_fdw_cdc_worker_main(Datum arg);
}
