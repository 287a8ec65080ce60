// EXPLAIN of a scan: topic, format, group, the pushed conditions and LIMIT;
// with ANALYZE the ranges that were read, without it (constant conditions)
// the ranges a scan started now would read; VERBOSE adds the fetch settings.
#include "kafka/consumer.hpp"

#include "fdw/scan_internal.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "commands/explain.h"
#include "executor/executor.h"
}

#include <string>
#include <vector>

namespace kafka_fdw::fdw {

char *RangesText(const std::vector<kafka::PartitionRange> &ranges) {
    std::string out;
    for (const auto &r : ranges) {
        if (!out.empty()) out += ", ";
        out += std::to_string(r.partition) + ":[" + std::to_string(r.start) + "," + std::to_string(r.end) + ")";
    }
    if (out.empty()) out = "none";
    return pg::PStrDup(out.data(), out.size());
}

namespace {

// Plain EXPLAIN of a scan whose pushed values are all constants: the ranges
// a scan started now would read (NULL when the brokers cannot tell).
char *PlannedRangesText(ForeignScanState *node) {
    ForeignScan *plan = (ForeignScan *)node->ss.ps.plan;
    ScanState *s = (ScanState *)node->fdw_state;
    ListCell *lc;
    foreach (lc, plan->fdw_exprs)
        if (!IsA(lfirst(lc), Const)) return nullptr;
    Oid userid = kafka_fdw::pg::ScanUserId(plan, node->ss.ps.state);
    s->spec = GetClientSpec(s->table->serverid, userid, false);
    s->cond_states = ExecInitExprList(plan->fdw_exprs, (::PlanState *)node);
    CondValues *cv = EvalConditions(s, node->ss.ps.ps_ExprContext);
    MemoryContext cxt = CurrentMemoryContext;
    char *text = nullptr;
    KFDW_ENTRY({
        if (!s->rt) s->rt = pg::OwnBy(cxt, new ScanRuntime());
        try {
            ComputeRangesCpp(s, cv);
            text = RangesText(s->rt->ranges);
        } catch (const kafka::Interrupted &) {
            throw;
        } catch (const std::exception &) {
            text = nullptr;  // EXPLAIN does not fail because a broker does not answer
        }
    });
    return text;
}
}  // namespace

void kafkaExplainForeignScan(ForeignScanState *node, ExplainState *es) {
    ForeignScan *plan = (ForeignScan *)node->ss.ps.plan;
    ScanState *s = (ScanState *)node->fdw_state;
    ExplainPropertyText("Kafka Topic", s->table->topic, es);
    ExplainPropertyText("Format", FormatName(s->table->format), es);
    if (s->table->group) ExplainPropertyText("Kafka Group", s->table->group, es);
    char *cond = strVal(list_nth(plan->fdw_private, kPrivCondText));
    if (cond[0]) ExplainPropertyText("Kafka Pushdown", cond, es);
    int limit = intVal(list_nth(plan->fdw_private, kPrivLimit));
    if (limit >= 0) ExplainPropertyInteger("Kafka Limit", NULL, limit, es);
    if (es->analyze && s->ranges_text) ExplainPropertyText("Kafka Ranges", s->ranges_text, es);
    // Only for EXPLAIN without ANALYZE itself (not auto_explain after a run):
    // it asks the brokers.
    if (!es->analyze && (node->ss.ps.state->es_top_eflags & EXEC_FLAG_EXPLAIN_ONLY) && cond[0] && !s->table->group) {
        char *ranges = PlannedRangesText(node);
        if (ranges) ExplainPropertyText("Kafka Ranges", ranges, es);
    }
    if (es->verbose) {
        ExplainPropertyText("Isolation Level", s->table->isolation_level, es);
        StringInfoData fetch;
        initStringInfo(&fetch);
        for (const auto &[name, value] : ReaderDefaults())
            appendStringInfo(&fetch, "%s%s=%s", fetch.len ? ", " : "", name.c_str(), value.c_str());
        appendStringInfoString(&fetch, " (server options override)");
        ExplainPropertyText("Fetch", fetch.data, es);
    }
}

}  // namespace kafka_fdw::fdw
