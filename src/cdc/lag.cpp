// kafka._lag_stats(): what kafka.lag takes from the workers' shared memory
// (Postgres zone): per pipeline of this database (by slot name) and per sink
// (by name), events per second over the last minute and, for pipelines,
// when the slot's confirmed position last moved (the launcher's watch, see
// launcher.cpp).  Counts only: no last_error here, nothing that quotes data.
#include "cdc/cdc.hpp"

extern "C" {
#include "funcapi.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(kafka_lag_stats);
}

using namespace kafka_fdw::cdc;

extern "C" Datum kafka_lag_stats(PG_FUNCTION_ARGS) {
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    InitMaterializedSRF(fcinfo, 0);
    if (!Shared()) return (Datum)0;
    int n = Shared()->max_pipelines;
    PipelineEntry *pipes = (PipelineEntry *)palloc(sizeof(PipelineEntry) * n);
    SinkStat *sinks = (SinkStat *)palloc(sizeof(SinkStat) * kMaxSinkStats);
    LWLockAcquire(Shared()->lock, LW_SHARED);
    memcpy(pipes, Shared()->entries, sizeof(PipelineEntry) * n);
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
