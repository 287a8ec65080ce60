// What the pipeline and sink workers report through shared memory (Postgres
// zone): kafka._pipeline_workers() (kafka.pipeline_status: state, counts,
// the last error for the owner's members), kafka._snapshot_progress()
// (kafka.snapshot_progress: the initial snapshot under way) and
// kafka._lag_stats() (kafka.lag: per pipeline, by slot name, and per sink,
// by name, events per second over the last minute and, for pipelines, when
// the slot's confirmed position last moved, the launcher's watch: counts
// only, nothing that quotes data).  This database's pipelines and sinks
// only.
#include "cdc/cdc.hpp"

extern "C" {
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(kafka_pipeline_workers);
PG_FUNCTION_INFO_V1(kafka_pipeline_kafka);
PG_FUNCTION_INFO_V1(kafka_snapshot_progress);
PG_FUNCTION_INFO_V1(kafka_lag_stats);
}

using namespace kafka_fdw::cdc;

namespace {

// A copy of the pipelines' entries (*n of them; none without the shared
// memory, when kafka_fdw was not preloaded).
PipelineEntry *CopyEntries(int *n) {
    *n = Shared() ? Shared()->max_pipelines : 0;
    PipelineEntry *copy = (PipelineEntry *)palloc(sizeof(PipelineEntry) * Max(1, *n));
    if (*n == 0) return copy;
    LWLockAcquire(Shared()->lock, LW_SHARED);
    memcpy(copy, Shared()->entries, sizeof(PipelineEntry) * *n);
    LWLockRelease(Shared()->lock);
    return copy;
}

}  // namespace

// Live status of this database's pipeline workers (shared memory).
extern "C" Datum kafka_pipeline_workers(PG_FUNCTION_ARGS) {
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    InitMaterializedSRF(fcinfo, 0);
    int n = 0;
    PipelineEntry *copy = CopyEntries(&n);
    for (int i = 0; i < n; i++) {
        PipelineEntry *e = &copy[i];
        if (!e->in_use || e->dboid != MyDatabaseId) continue;
        // last_error may quote the data a worker sent: only for roles with
        // the privileges of the pipeline's owner (superusers have all).
        if (e->last_error[0] && !superuser()) {
            PipelineDef def;
            if (!ReadPipeline(nullptr, e->slot_name, false, &def) || !has_privs_of_role(GetUserId(), def.owner)) {
                e->last_error[0] = '\0';
                e->last_error_at = 0;
            }
        }
        Datum values[8];
        bool nulls[8] = {false};
        values[0] = CStringGetTextDatum(e->slot_name);
        values[1] = CStringGetTextDatum(WorkerStateName(e->state));
        values[2] = Int32GetDatum(e->pid);
        nulls[2] = e->pid == 0;
        values[3] = Int64GetDatum((int64)e->events_sent);
        values[4] = TimestampTzGetDatum(e->last_event_at);
        nulls[4] = e->last_event_at == 0;
        values[5] = CStringGetTextDatum(e->last_error);
        nulls[5] = e->last_error[0] == '\0';
        values[6] = TimestampTzGetDatum(e->last_error_at);
        nulls[6] = e->last_error_at == 0;
        values[7] = LSNGetDatum(e->confirmed_lsn);
        nulls[7] = e->confirmed_lsn == InvalidXLogRecPtr;
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}

// The Kafka side of this database's pipeline workers (exactly-once):
// counts and positions only.
extern "C" Datum kafka_pipeline_kafka(PG_FUNCTION_ARGS) {
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    InitMaterializedSRF(fcinfo, 0);
    int n = 0;
    PipelineEntry *copy = CopyEntries(&n);
    for (int i = 0; i < n; i++) {
        PipelineEntry *e = &copy[i];
        if (!e->in_use || e->dboid != MyDatabaseId) continue;
        Datum values[4];
        bool nulls[4] = {false};
        values[0] = CStringGetTextDatum(e->slot_name);
        values[1] = LSNGetDatum(e->kafka_committed_lsn);
        nulls[1] = e->kafka_committed_lsn == InvalidXLogRecPtr;
        values[2] = Int64GetDatum((int64)e->kafka_transactions);
        values[3] = Int64GetDatum((int64)e->kafka_aborted);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}

// The initial snapshots under way: per pipeline the table being read, the
// tables done and in all, the rows handed to the producer so far, the
// planner's estimate of the rows in all (pg_class.reltuples; -1: unknown)
// and when the snapshot began.  Counts and names only.
extern "C" Datum kafka_snapshot_progress(PG_FUNCTION_ARGS) {
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    InitMaterializedSRF(fcinfo, 0);
    int n = 0;
    PipelineEntry *copy = CopyEntries(&n);
    for (int i = 0; i < n; i++) {
        const SnapshotProgress &p = copy[i].snapshot;
        if (!copy[i].in_use || copy[i].dboid != MyDatabaseId || p.started_at == 0) continue;
        Datum values[7];
        bool nulls[7] = {false};
        values[0] = CStringGetTextDatum(copy[i].slot_name);
        values[1] = CStringGetTextDatum(p.table);
        nulls[1] = p.table[0] == '\0';
        values[2] = Int32GetDatum(p.tables_done);
        values[3] = Int32GetDatum(p.tables_total);
        values[4] = Int64GetDatum((int64)p.rows_sent);
        values[5] = Int64GetDatum(p.rows_estimate);
        nulls[5] = p.rows_estimate < 0;
        values[6] = TimestampTzGetDatum(p.started_at);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}

extern "C" Datum kafka_lag_stats(PG_FUNCTION_ARGS) {
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    InitMaterializedSRF(fcinfo, 0);
    if (!Shared()) return (Datum)0;
    int n = 0;
    PipelineEntry *pipes = CopyEntries(&n);
    SinkStat *sinks = (SinkStat *)palloc(sizeof(SinkStat) * kMaxSinkStats);
    LWLockAcquire(Shared()->lock, LW_SHARED);
    memcpy(sinks, Shared()->sinkstats, sizeof(SinkStat) * kMaxSinkStats);
    LWLockRelease(Shared()->lock);
    TimestampTz now = GetCurrentTimestamp();
    for (int i = 0; i < n; i++) {
        const PipelineEntry *e = &pipes[i];
        if (!e->in_use || e->dboid != MyDatabaseId) continue;
        Datum values[4] = {CStringGetTextDatum("pipeline"), CStringGetTextDatum(e->slot_name),
                           TimestampTzGetDatum(e->stall.moved_at),
                           Float8GetDatum(RatePerSecond(e->rate, now, e->rate_since))};
        bool nulls[4] = {false, false, e->stall.moved_at == 0, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    for (int i = 0; i < kMaxSinkStats; i++) {
        const SinkStat *s = &sinks[i];
        if (s->dboid != MyDatabaseId) continue;
        Datum values[4] = {CStringGetTextDatum("sink"), CStringGetTextDatum(s->name), (Datum)0,
                           Float8GetDatum(RatePerSecond(s->rate, now, s->since))};
        bool nulls[4] = {false, false, true, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
