// ANALYZE of a foreign table: a sample of messages spread over partitions
// and offsets, decoded as a scan decodes them.
//
// Zones: functions named *Cpp run C++ code and are called only inside
// KFDW_ENTRY; everything else here is Postgres zone and keeps no C++ object
// with a destructor on its stack frames.
#include "kafka/consumer.hpp"
#include "kafka/metadata.hpp"

#include "fdw/scan_internal.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "commands/vacuum.h"
}

#include <algorithm>
#include <vector>

namespace kafka_fdw::fdw {

// --- ANALYZE ------------------------------------------------------------------
// Samples messages evenly over partitions and offsets: per partition a quota
// proportional to its size, read as up to kAnalyzeRounds chunks spread over
// its offsets.  Never reads more than targrows messages; reltuples comes from
// the watermarks.

namespace {

constexpr int kAnalyzeRounds = 8;

struct SamplePlan {
    int nrounds;
    std::vector<std::vector<kafka::PartitionRange>> rounds;
    double total;
};

void PlanSampleCpp(ScanState *s, int targrows, SamplePlan *plan) {
    kafka::Client &meta = MetadataClient(s->spec);
    const char *topic = s->table->topic;
    std::vector<kafka::Watermarks> wm = kafka::TopicWatermarks(meta, topic, pg::g_timeout_ms);
    plan->total = 0;
    for (const auto &w : wm) plan->total += static_cast<double>(w.high - w.low);
    plan->rounds.assign(kAnalyzeRounds, {});
    if (plan->total <= 0) return;
    for (const auto &w : wm) {
        int64 size = w.high - w.low;
        if (size <= 0) continue;
        int64 quota = std::max<int64>(1, static_cast<int64>(targrows * (size / plan->total)));
        quota = std::min(quota, size);
        int rounds = static_cast<int>(std::min<int64>(kAnalyzeRounds, quota));
        int64 chunk = (quota + rounds - 1) / rounds;
        for (int r = 0; r < rounds; r++) {
            int64 start = w.low + (size * r) / rounds;
            int64 next_start = w.low + (size * (r + 1)) / rounds;
            int64 end = std::min(next_start, start + chunk);
            plan->rounds[r].push_back({w.partition, start, end});
        }
    }
}

int AcquireSampleRows(Relation relation, int elevel, HeapTuple *rows, int targrows, double *totalrows,
                      double *totaldeadrows) {
    ScanState *s = (ScanState *)palloc0(sizeof(ScanState));
    s->table = GetTableDef(RelationGetRelid(relation));
    s->cur_offset = -1;
    s->cxt = CurrentMemoryContext;
    s->spec = GetClientSpec(s->table->serverid, GetUserId(), true);
    InitDecoding(s, NIL, true);
    TupleDesc desc = RelationGetDescr(relation);
    Datum *values = (Datum *)palloc0(sizeof(Datum) * desc->natts);
    bool *nulls = (bool *)palloc0(sizeof(bool) * desc->natts);
    MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "kafka_fdw analyze", ALLOCSET_DEFAULT_SIZES);
    SamplePlan *plan = nullptr;
    KFDW_ENTRY({
        plan = pg::OwnBy(s->cxt, new SamplePlan());
        PlanSampleCpp(s, targrows, plan);
    });
    int nrows = 0, skipped = 0;
    for (int r = 0; r < kAnalyzeRounds && nrows < targrows; r++) {
        bool empty = true;
        KFDW_ENTRY({
            empty = plan->rounds[r].empty();
            if (!empty) StartConsumerCpp(s, plan->rounds[r]);
        });
        if (empty) continue;
        for (;;) {
            const rd_kafka_message_t *m = nullptr;
            KFDW_ENTRY({ m = s->rt->consumer->Next(); });
            if (!m) break;
            kafka_fdw::pg::AnalyzeDelayPoint();
            MemoryContext old = MemoryContextSwitchTo(row_cxt);
            for (int i = 0; i < desc->natts; i++) nulls[i] = true;
            FillTuple(s, m, values, nulls);
            MemoryContextSwitchTo(old);
            if (s->bad_reason) {
                skipped++;
            } else if (nrows < targrows) {
                rows[nrows++] = heap_form_tuple(desc, values, nulls);
            }
            MemoryContextReset(row_cxt);
            if (nrows >= targrows) break;
        }
    }
    // one client for every round: StartConsumerCpp restarts it on the next
    // round's ranges
    KFDW_ENTRY({ s->rt->consumer.reset(); });
    *totalrows = plan->total;
    *totaldeadrows = 0;
    ereport(elevel, (errmsg("\"%s\": sampled %d messages of topic \"%s\" (%.0f in all), skipped %d that could not be decoded",
                            RelationGetRelationName(relation), nrows, s->table->topic, plan->total, skipped)));
    return nrows;
}

}  // namespace

bool kafkaAnalyzeForeignTable(Relation, AcquireSampleRowsFunc *func, BlockNumber *totalpages) {
    *func = AcquireSampleRows;
    *totalpages = 1;
    return true;
}

}  // namespace kafka_fdw::fdw
