// The ranges a scan reads: the pushed condition trees, evaluated with their
// runtime values, as sets of offsets per partition, intersected with the
// watermarks taken at the scan's start, or by the planner when nothing ran
// in between (timestamp bounds through the broker's offsets-for-times).
//
// Zones: functions named *Cpp run C++ code and are called only inside
// KFDW_ENTRY; everything else here is Postgres zone and keeps no C++ object
// with a destructor on its stack frames.
#include "kafka/metadata.hpp"
#include "kafka/wait.hpp"

#include "fdw/scan_internal.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
}

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

namespace kafka_fdw::fdw {

// The pushed condition trees, flattened into plain arrays (Postgres zone),
// with the runtime values of their right-hand sides, for the C++ zone.
struct CondNode {
    int kind;    // CondNodeKind
    int target;  // atoms: CondTarget
    int op;      // atoms: CondOp
    int expr;    // atoms: index into the values
    int nkids;   // AND/OR: children are kids[first_kid .. first_kid + nkids)
    int first_kid;
};

struct CondValues {
    int nnodes;
    CondNode *nodes;  // nodes[0] is the root: the AND of all trees
    int *kids;
    int nexprs;
    int *nvalues;
    int64 **values;   // NULL entries: the value is NULL and the atom matches nothing
};

namespace {

int64 DatumToInt64(Datum d, Oid type) {
    switch (type) {
    case INT2OID:
        return DatumGetInt16(d);
    case INT4OID:
        return DatumGetInt32(d);
    default:
        return DatumGetInt64(d);
    }
}

int CountNodes(List *tree) {
    int n = 1;
    if (intVal(linitial(tree)) != kNodeAtom)
        for (int i = 1; i < list_length(tree); i++) n += CountNodes((List *)list_nth(tree, i));
    return n;
}

// Stores `tree` at nodes[at] and its subtrees after *used; returns nothing.
void FlattenTree(CondValues *cv, List *tree, int at, int *used, int *kids_used, int *expr_target, int *expr_op) {
    CondNode *n = &cv->nodes[at];
    n->kind = intVal(linitial(tree));
    if (n->kind == kNodeAtom) {
        n->target = intVal(lsecond(tree));
        n->op = intVal(lthird(tree));
        n->expr = intVal(lfourth(tree));
        expr_target[n->expr] = n->target;
        expr_op[n->expr] = n->op;
        return;
    }
    n->nkids = list_length(tree) - 1;
    n->first_kid = *kids_used;
    *kids_used += n->nkids;
    for (int i = 0; i < n->nkids; i++) {
        int k = (*used)++;
        cv->kids[n->first_kid + i] = k;
        FlattenTree(cv, (List *)list_nth(tree, i + 1), k, used, kids_used, expr_target, expr_op);
    }
}

}  // namespace

CondValues *EvalConditions(ScanState *s, ExprContext *econtext) {
    CondValues *cv = (CondValues *)palloc0(sizeof(CondValues));
    int nnodes = 1;
    ListCell *lc;
    foreach (lc, s->conds) nnodes += CountNodes((List *)lfirst(lc));
    cv->nnodes = nnodes;
    cv->nodes = (CondNode *)palloc0(sizeof(CondNode) * nnodes);
    cv->kids = (int *)palloc0(sizeof(int) * nnodes);
    int nexprs = list_length(s->cond_states);
    cv->nexprs = nexprs;
    cv->nvalues = (int *)palloc0(sizeof(int) * (nexprs + 1));
    cv->values = (int64 **)palloc0(sizeof(int64 *) * (nexprs + 1));
    int *expr_target = (int *)palloc0(sizeof(int) * (nexprs + 1));
    int *expr_op = (int *)palloc0(sizeof(int) * (nexprs + 1));

    // the root: AND of the trees
    int used = 1, kids_used = 0;
    cv->nodes[0].kind = kNodeAnd;
    cv->nodes[0].nkids = list_length(s->conds);
    cv->nodes[0].first_kid = 0;
    kids_used = cv->nodes[0].nkids;
    int i = 0;
    foreach (lc, s->conds) {
        int k = used++;
        cv->kids[i++] = k;
        FlattenTree(cv, (List *)lfirst(lc), k, &used, &kids_used, expr_target, expr_op);
    }

    i = 0;
    foreach (lc, s->cond_states) {
        ExprState *es = (ExprState *)lfirst(lc);
        bool isnull;
        Datum d = ExecEvalExpr(es, econtext, &isnull);
        Oid type = exprType((Node *)es->expr);
        int op = expr_op[i];
        if (isnull) {
            cv->values[i] = nullptr;
        } else if (op == kOpIn || op == kOpNotIn) {
            ArrayType *arr = DatumGetArrayTypeP(d);
            Oid et = ARR_ELEMTYPE(arr);
            int16 typlen;
            bool typbyval;
            char typalign;
            get_typlenbyvalalign(et, &typlen, &typbyval, &typalign);
            Datum *elems;
            bool *nulls;
            int nelems;
            deconstruct_array(arr, et, typlen, typbyval, typalign, &elems, &nulls, &nelems);
            cv->values[i] = (int64 *)palloc0(sizeof(int64) * (nelems + 1));
            int k = 0;
            for (int j = 0; j < nelems; j++)
                if (!nulls[j]) cv->values[i][k++] = DatumToInt64(elems[j], et);
            cv->nvalues[i] = k;
        } else {
            cv->values[i] = (int64 *)palloc(sizeof(int64));
            cv->values[i][0] = expr_target[i] == kTargetTimestamp ? pg::TimestamptzToKafkaMs(DatumGetTimestampTz(d), true)
                                                                   : DatumToInt64(d, type);
            cv->nvalues[i] = 1;
        }
        i++;
    }
    return cv;
}

namespace {

// --- sets of offsets (C++ zone) ---------------------------------------------
// Offsets as sorted, disjoint, non-adjacent inclusive intervals.
using Intervals = std::vector<std::pair<int64_t, int64_t>>;
constexpr int64_t kMaxOffset = INT64_MAX;

Intervals Normalize(Intervals v) {
    std::sort(v.begin(), v.end());
    Intervals out;
    for (const auto &iv : v) {
        if (iv.first > iv.second) continue;
        if (!out.empty() && (out.back().second == kMaxOffset || iv.first <= out.back().second + 1))
            out.back().second = std::max(out.back().second, iv.second);
        else
            out.push_back(iv);
    }
    return out;
}

Intervals Intersect(const Intervals &a, const Intervals &b) {
    Intervals out;
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        int64_t lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
        if (lo <= hi) out.push_back({lo, hi});
        if (a[i].second < b[j].second) i++;
        else j++;
    }
    return out;
}

// A set of more intervals than this reads their span instead: still every
// offset they hold (the conditions stay filters), without a memory and time
// cost that a long IN list or OR of offsets would multiply by partitions.
constexpr size_t kMaxIntervals = 10000;

Intervals Capped(Intervals v) {
    if (v.size() > kMaxIntervals) return Intervals{{v.front().first, v.back().second}};
    return v;
}

// The offsets an offset atom admits (the same in every partition).
Intervals OffsetIntervals(int op, const int64 *v, int nv) {
    const Intervals all = {{0, kMaxOffset}};
    switch (op) {
    case kOpEq: return v[0] >= 0 ? Intervals{{v[0], v[0]}} : Intervals{};
    case kOpLt: return v[0] > 0 ? Intervals{{0, v[0] - 1}} : Intervals{};
    case kOpLe: return v[0] >= 0 ? Intervals{{0, v[0]}} : Intervals{};
    case kOpGt: return v[0] < kMaxOffset ? Intervals{{std::max<int64_t>(0, v[0] + 1), kMaxOffset}} : Intervals{};
    case kOpGe: return Intervals{{std::max<int64_t>(0, v[0]), kMaxOffset}};
    case kOpIn: {
        Intervals pts;
        for (int k = 0; k < nv; k++)
            if (v[k] >= 0) pts.push_back({v[k], v[k]});
        return Capped(Normalize(std::move(pts)));
    }
    case kOpNe:
    case kOpNotIn: {
        // the complement of the points
        Intervals pts;
        for (int k = 0; k < nv; k++)
            if (v[k] >= 0) pts.push_back({v[k], v[k]});
        pts = Normalize(std::move(pts));
        Intervals out;
        int64_t lo = 0;
        for (const auto &p : pts) {
            if (p.first > lo) out.push_back({lo, p.first - 1});
            if (p.second == kMaxOffset) return out;
            lo = p.second + 1;
        }
        out.push_back({lo, kMaxOffset});
        return Capped(std::move(out));
    }
    }
    return all;
}

bool PartitionMatches(int op, int32_t p, const int64 *v, int nv) {
    switch (op) {
    case kOpEq: return p == v[0];
    case kOpNe: return p != v[0];
    case kOpLt: return p < v[0];
    case kOpLe: return p <= v[0];
    case kOpGt: return p > v[0];
    case kOpGe: return p >= v[0];
    case kOpIn:
        for (int k = 0; k < nv; k++)
            if (p == v[k]) return true;
        return false;
    case kOpNotIn:
        for (int k = 0; k < nv; k++)
            if (p == v[k]) return false;
        return true;
    }
    return true;
}

// Start offsets of timestamp lower bounds: (ms, partition) -> first offset
// whose timestamp is >= ms.  Empty in the first pass: then timestamp atoms
// admit every offset.
using TimestampStarts = std::map<std::pair<int64_t, int32_t>, int64_t>;

// The offsets of each partition (0 .. nparts-1) that node `at` admits.
std::vector<Intervals> EvalNode(const CondValues *cv, int at, int nparts, const TimestampStarts *ts_starts) {
    const CondNode &n = cv->nodes[at];
    const Intervals all = {{0, kMaxOffset}};
    if (n.kind != kNodeAtom) {
        // An OR gathers its arms' intervals and normalizes once (uniting arm
        // by arm was quadratic in the number of arms).
        std::vector<Intervals> acc;
        for (int i = 0; i < n.nkids; i++) {
            kafka::CheckInterrupts();
            std::vector<Intervals> kid = EvalNode(cv, cv->kids[n.first_kid + i], nparts, ts_starts);
            if (i == 0) {
                acc = std::move(kid);
                continue;
            }
            for (int p = 0; p < nparts; p++) {
                if (n.kind == kNodeAnd) acc[p] = Intersect(acc[p], kid[p]);
                else {
                    acc[p].insert(acc[p].end(), kid[p].begin(), kid[p].end());
                    if (acc[p].size() > 4 * kMaxIntervals) acc[p] = Capped(Normalize(std::move(acc[p])));
                }
            }
        }
        if (n.kind != kNodeAnd)
            for (int p = 0; p < nparts; p++) {
                kafka::CheckInterrupts();
                acc[p] = Capped(Normalize(std::move(acc[p])));
            }
        if (n.nkids == 0) acc.assign(nparts, all);  // an empty AND: everything
        return acc;
    }
    const int64 *v = cv->values[n.expr];
    int nv = cv->nvalues[n.expr];
    if (!v) return std::vector<Intervals>(nparts);  // compared with NULL: nothing
    switch (n.target) {
    case kTargetPartition: {
        std::vector<Intervals> out(nparts);
        for (int p = 0; p < nparts; p++)
            if (PartitionMatches(n.op, p, v, nv)) out[p] = all;
        return out;
    }
    case kTargetOffset:
        return std::vector<Intervals>(nparts, OffsetIntervals(n.op, v, nv));
    default: {
        // v is rounded up to a millisecond: ts >= v, ts > v and ts = v all
        // start at the first offset whose timestamp is >= v.
        std::vector<Intervals> out(nparts, all);
        if (!ts_starts || v[0] < 0) return out;
        for (int p = 0; p < nparts; p++) {
            auto it = ts_starts->find({v[0], p});
            if (it != ts_starts->end()) out[p] = {{std::max<int64_t>(0, it->second), kMaxOffset}};
        }
        return out;
    }
    }
}

}  // namespace

// C++ zone: turns the conditions and the watermarks into ranges, sorted by
// partition and offset (a partition may have several).  A group scan has
// one range per partition it reads (the group's position moves its start).
void ComputeRangesCpp(ScanState *s, const CondValues *cv) {
    kafka::Client &meta = MetadataClient(s->spec);
    const char *topic = s->table->topic;
    // the planner's, if nothing ran since the statement was planned
    // (scan_plan.cpp; one start only: a rescan takes its own), else taken
    // now: one ListOffsets round for all partitions either way
    std::vector<kafka::Watermarks> wm;
    int ticket = s->marks_ticket;
    s->marks_ticket = 0;
    if (!TakePlannedWatermarks(ticket, s->spec, topic, s->table->isolation_level, &wm))
        wm = kafka::TopicWatermarks(meta, topic, pg::g_timeout_ms);
    int nparts = static_cast<int>(wm.size());
    // First pass without the timestamps: which partitions can match at all.
    std::vector<Intervals> sets = EvalNode(cv, 0, nparts, nullptr);
    std::vector<int64_t> ts_values;
    for (int i = 0; i < cv->nnodes; i++) {
        const CondNode &n = cv->nodes[i];
        if (n.kind == kNodeAtom && n.target == kTargetTimestamp && cv->values[n.expr] && cv->values[n.expr][0] >= 0)
            ts_values.push_back(cv->values[n.expr][0]);
    }
    std::vector<int32_t> parts;
    for (int p = 0; p < nparts; p++)
        if (!sets[p].empty()) parts.push_back(p);
    if (!ts_values.empty() && !parts.empty()) {
        // Second pass with the start offset of every timestamp bound.
        TimestampStarts starts;
        std::sort(ts_values.begin(), ts_values.end());
        ts_values.erase(std::unique(ts_values.begin(), ts_values.end()), ts_values.end());
        for (int64_t ms : ts_values) {
            std::vector<int64_t> offs = kafka::OffsetsForTime(meta, topic, parts, ms, pg::g_timeout_ms, &wm);
            for (size_t i = 0; i < parts.size(); i++) starts[{ms, parts[i]}] = offs[i];
        }
        sets = EvalNode(cv, 0, nparts, &starts);
    }
    s->rt->ranges.clear();
    s->rt->watermarks.clear();
    for (int32_t p : parts) {
        if (sets[p].empty()) continue;
        const kafka::Watermarks &w = wm[static_cast<size_t>(p)];
        if (s->table->group) {
            s->rt->ranges.push_back({p, w.low, std::max(w.low, w.high)});
            s->rt->watermarks.push_back(w);
            continue;
        }
        size_t before = s->rt->ranges.size();
        for (const auto &iv : sets[p]) {
            int64_t start = std::max<int64_t>(w.low, iv.first);
            int64_t end = iv.second == kMaxOffset ? w.high : std::min<int64_t>(w.high, iv.second + 1);
            if (start >= end) continue;
            s->rt->ranges.push_back({p, start, end});
            s->rt->watermarks.push_back(w);
        }
        if (s->rt->ranges.size() == before) {
            // nothing to read here: an empty range shows where it would start
            int64_t start = std::max<int64_t>(w.low, sets[p].front().first);
            s->rt->ranges.push_back({p, start, start});
            s->rt->watermarks.push_back(w);
        }
    }
}

}  // namespace kafka_fdw::fdw
