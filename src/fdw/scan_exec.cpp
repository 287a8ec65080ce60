// Executing a scan: Begin (decoders, the user the scan reads as),
// Iterate (ranges computed at the first row, read by one RangeConsumer owned
// by the scan's memory context: a serial scan in rounds of segments, a
// parallel one by claims, restarting it on new ranges each time), ReScan
// (the consumer stops and is kept for the next start) and End.
//
// Zones: functions named *Cpp run C++ code and are called only inside
// KFDW_ENTRY; everything else here is Postgres zone and keeps no C++ object
// with a destructor on its stack frames.
#include "kafka/consumer.hpp"

#include "fdw/scan_internal.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "executor/executor.h"
}

#include <memory>
#include <vector>

namespace kafka_fdw::fdw {

namespace {

void ScanErrorContext(void *arg) {
    ScanState *s = (ScanState *)arg;
    if (s->cur_offset < 0) return;
    if (s->cur_column)
        errcontext("topic \"%s\", partition %d, offset " INT64_FORMAT ", column \"%s\"", s->table->topic,
                   s->cur_partition, s->cur_offset, s->cur_column);
    else
        errcontext("topic \"%s\", partition %d, offset " INT64_FORMAT, s->table->topic, s->cur_partition,
                   s->cur_offset);
}

}  // namespace

// C++ zone: the scan's consumer reads the given ranges.  One client per scan
// (per process of a parallel scan): its rounds, rescans and claims restart
// it on new ranges (RangeConsumer::Start), which costs a few queue
// operations and at most the wait of a fetch still in flight
// (fetch.wait.max.ms, ReaderDefaults), where a new client costs its threads,
// a bootstrap and a metadata round trip.  A new one only if
// kafka_fdw.timeout changed.
void StartConsumerCpp(ScanState *s, const std::vector<kafka::PartitionRange> &ranges) {
    kafka::RangeConsumer *c = s->rt->consumer.get();
    if (!c || c->stall_timeout_ms() != pg::g_timeout_ms) {
        s->rt->consumer.reset();
        kafka::Config conf = MakeConfig(s->spec, ReaderDefaults());
        conf.Set("isolation.level", s->table->isolation_level);
        s->rt->consumer = std::make_unique<kafka::RangeConsumer>(std::move(conf), s->table->topic, pg::g_timeout_ms);
        c = s->rt->consumer.get();
    }
    c->Start(ranges);
}

// One consumer reads the ranges of a partition in offset order and drops
// the messages between them; a gap larger than this many offsets is cheaper
// to skip by starting the consumer again at the next range, in a later
// round (measured with a new consumer per round: bench/README.md,
// Measurements behind the code).  A segment: ranges of one partition, consecutive in
// the sorted list, with no larger gap.
constexpr int64 kMaxGapRead = 100000;

bool SameSegment(const kafka::PartitionRange &prev, const kafka::PartitionRange &next) {
    return next.partition == prev.partition && next.start - prev.end <= kMaxGapRead;
}

namespace {

// C++ zone: the rounds of a serial scan; round k holds the k-th segment of
// every partition.
void PlanRoundsCpp(ScanRuntime *rt) {
    rt->rounds.clear();
    rt->next_round = 0;
    const auto &r = rt->ranges;
    size_t seg = 0;
    for (size_t i = 0; i < r.size(); i++) {
        if (i == 0 || r[i].partition != r[i - 1].partition) seg = 0;
        else if (!SameSegment(r[i - 1], r[i])) seg++;
        if (rt->rounds.size() <= seg) rt->rounds.resize(seg + 1);
        rt->rounds[seg].push_back(r[i]);
    }
}

}  // namespace

void kafkaBeginForeignScan(ForeignScanState *node, int eflags) {
    ForeignScan *plan = (ForeignScan *)node->ss.ps.plan;
    ScanState *s = (ScanState *)palloc0(sizeof(ScanState));
    node->fdw_state = s;
    Oid relid = RelationGetRelid(node->ss.ss_currentRelation);
    s->table = GetTableDef(relid);
    s->conds = (List *)list_nth(plan->fdw_private, kPrivConds);
    List *needed = (List *)list_nth(plan->fdw_private, kPrivNeeded);
    s->limit = intVal(list_nth(plan->fdw_private, kPrivLimit));
    s->marks_ticket = intVal(list_nth(plan->fdw_private, kPrivMarks));
    s->cur_offset = -1;
    s->cxt = CurrentMemoryContext;
    if (eflags & EXEC_FLAG_EXPLAIN_ONLY) return;

    // The checkAsUser of the plan (views) or the current user.
    Oid userid = kafka_fdw::pg::ScanUserId(plan, node->ss.ps.state);
    s->spec = GetClientSpec(s->table->serverid, userid, false);
    s->cond_states = ExecInitExprList(plan->fdw_exprs, (::PlanState *)node);

    InitDecoding(s, needed);
}

// Evaluates the pushed conditions and computes the ranges from the
// watermarks taken now: the scan reads exactly these.
void ComputeRanges(ForeignScanState *node) {
    ScanState *s = (ScanState *)node->fdw_state;
    CondValues *cv = EvalConditions(s, node->ss.ps.ps_ExprContext);
    kafka::Client *meta = nullptr;
    // Iterate runs in the per-tuple context: keep the text for EXPLAIN longer.
    MemoryContext old = MemoryContextSwitchTo(s->cxt);
    KFDW_ENTRY({
        meta = &MetadataClient(s->spec);
        ComputeRangesCpp(s, cv);
    });
    MemoryContextSwitchTo(old);
    if (s->table->group) ApplyGroupPositions(s);
    old = MemoryContextSwitchTo(s->cxt);
    KFDW_ENTRY({ s->ranges_text = RangesText(s->rt->ranges); });
    MemoryContextSwitchTo(old);
    pg::ReportClientEvents(*meta);
}

namespace {

void StartScan(ForeignScanState *node) {
    ScanState *s = (ScanState *)node->fdw_state;
    s->started = true;
    if (s->shared) return;  // parallel: ranges are claimed one by one
    ComputeRanges(node);
    KFDW_ENTRY({
        PlanRoundsCpp(s->rt);
        StartConsumerCpp(s, s->rt->rounds.empty() ? std::vector<kafka::PartitionRange>() : s->rt->rounds[0]);
        s->rt->next_round = 1;
    });
}

// Next message: from the consumer, claiming new ranges in parallel mode.
const rd_kafka_message_t *NextMessage(ScanState *s) {
    for (;;) {
        const rd_kafka_message_t *m = nullptr;
        if (s->rt->consumer) {
            KFDW_ENTRY({ m = s->rt->consumer->Next(); });
            if (m) return m;
        }
        if (!s->shared) {
            bool more = false;
            KFDW_ENTRY({
                more = s->rt->next_round < s->rt->rounds.size();
                if (more) StartConsumerCpp(s, s->rt->rounds[s->rt->next_round++]);
            });
            if (!more) return nullptr;
            continue;
        }
        const kafka::PartitionRange *base = SharedRanges(s);
        int64 first = 0, count = 0;
        if (!base || !ClaimRanges(s, base, &first, &count)) return nullptr;
        KFDW_ENTRY({ StartConsumerCpp(s, std::vector<kafka::PartitionRange>(base + first, base + first + count)); });
    }
}

}  // namespace

TupleTableSlot *kafkaIterateForeignScan(ForeignScanState *node) {
    ScanState *s = (ScanState *)node->fdw_state;
    TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
    ExecClearTuple(slot);
    if (s->finished) return slot;
    if (!s->started) StartScan(node);
    if (s->limit >= 0 && s->returned >= s->limit) {
        s->finished = true;
        // nothing more is read: the consumer stops fetching (an open cursor
        // would keep it polling the brokers)
        if (s->rt && s->rt->consumer) KFDW_ENTRY({ s->rt->consumer->Stop(); });
        return slot;
    }
    ErrorContextCallback errcb;
    errcb.callback = ScanErrorContext;
    errcb.arg = s;
    errcb.previous = error_context_stack;
    error_context_stack = &errcb;

    for (;;) {
        const rd_kafka_message_t *m = NextMessage(s);
        if (!m) {
            s->finished = true;
            // The group's positions are final: store them now, so that a
            // later scan of the same group in this statement (UNION ALL, a
            // second CTE) continues after them.
            FlushGroupPositions(s);
            EndGroupScan(s);
            break;
        }
        FillTuple(s, m, slot->tts_values, slot->tts_isnull);
        if (s->bad_reason && s->table->ignore_junk && !s->junk_needed) {
            // ignore_junk without junk columns: skip undecodable messages
            // (a group consumes them all the same).  What decoding the
            // skipped message allocated goes now: a long run of junk must
            // not grow the per-tuple memory.
            if (s->group_next && m->partition < s->group_nparts) s->group_next[m->partition] = m->offset + 1;
            MemoryContext per_tuple = node->ss.ps.ps_ExprContext->ecxt_per_tuple_memory;
            if (CurrentMemoryContext == per_tuple) MemoryContextReset(per_tuple);
            continue;
        }
        ExecStoreVirtualTuple(slot);
        s->returned++;
        if (s->group_next && m->partition < s->group_nparts) s->group_next[m->partition] = m->offset + 1;
        break;
    }
    error_context_stack = errcb.previous;
    if (s->finished && s->rt && s->rt->consumer) pg::ReportClientEvents(*s->rt->consumer);
    return slot;
}

void kafkaReScanForeignScan(ForeignScanState *node) {
    ScanState *s = (ScanState *)node->fdw_state;
    // Start over: parameters may have changed, and the topic is read again up
    // to its current high watermark (a group continues where it stopped).
    FlushGroupPositions(s);
    EndGroupScan(s);
    s->group_next = nullptr;
    s->started = false;
    s->finished = false;
    s->returned = 0;
    // The consumer stops fetching and is kept: the next start reads the new
    // ranges with it.
    if (s->rt && s->rt->consumer) KFDW_ENTRY({ s->rt->consumer->Stop(); });
}

void kafkaEndForeignScan(ForeignScanState *node) {
    ScanState *s = (ScanState *)node->fdw_state;
    if (s) FlushGroupPositions(s);
    if (s) EndGroupScan(s);
    if (s && s->rt) {
        if (s->rt->consumer) pg::ReportClientEvents(*s->rt->consumer);
        // Destroy the consumer now rather than at context reset.
        KFDW_ENTRY({ s->rt->consumer.reset(); });
    }
}

}  // namespace kafka_fdw::fdw
