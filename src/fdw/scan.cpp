// SELECT from a topic: planning (pushdown of partition/offset/timestamp
// conditions and LIMIT, estimates from the watermarks), execution (exact
// ranges read by a RangeConsumer owned by the scan's memory context), tuple
// building (metadata columns and the value decoded by the table's format),
// EXPLAIN, and parallel scans (partitions handed out to workers).
//
// Zones: functions named *Cpp run C++ code and are called only inside
// KFDW_ENTRY; everything else here is Postgres zone and keeps no C++ object
// with a destructor on its stack frames.
#include "format/csv.hpp"
#include "format/json.hpp"
#include "kafka/consumer.hpp"
#include "kafka/metadata.hpp"

#include "fdw/connection.hpp"
#include "fdw/handler.hpp"
#include "fdw/groups.hpp"
#include "fdw/options.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"

extern "C" {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "access/parallel.h"
#include "access/xact.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "catalog/pg_operator.h"
#include "commands/explain.h"
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "rewrite/rewriteManip.h"
#include "storage/proc.h"
#include "port/atomics.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/datetime.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"
#pragma GCC diagnostic pop
}

#include <memory>
#include <string>
#include <vector>

namespace kafka_fdw::fdw {

namespace {

// ---------------------------------------------------------------------------
// Pushdown descriptors.  fdw_private of the ForeignScan is a List:
enum ScanPrivateIndex {
    kPrivConds = 0,   // List of IntList (target, op), one per fdw_exprs entry
    kPrivNeeded,      // IntList of attnums the query reads
    kPrivLimit,       // Integer: rows to fetch at most (-1: no limit)
    kPrivCondText,    // String: the pushed conditions, for EXPLAIN
};

enum CondTarget { kTargetPartition = 0, kTargetOffset = 1, kTargetTimestamp = 2 };
enum CondOp { kOpEq, kOpNe, kOpLt, kOpLe, kOpGt, kOpGe, kOpIn, kOpNotIn };

struct KafkaPlanInfo {
    TableDef *table;
    List *conds;  // IntLists
    List *exprs;  // right-hand expressions
    List *cond_clauses;  // the original clauses (for EXPLAIN text)
    int64 limit;
};

const ColumnDef *ColumnByAttnum(const TableDef *t, AttrNumber attnum) {
    for (int i = 0; i < t->ncolumns; i++)
        if (t->columns[i].attnum == attnum) return &t->columns[i];
    return nullptr;
}

bool IsIntType(Oid t) { return t == INT2OID || t == INT4OID || t == INT8OID; }
bool IsTimestampType(Oid t) { return t == TIMESTAMPTZOID || t == TIMESTAMPOID || t == DATEOID; }

int OpFromName(const char *name, bool commuted) {
    if (strcmp(name, "=") == 0) return kOpEq;
    if (strcmp(name, "<>") == 0) return kOpNe;
    if (strcmp(name, "<") == 0) return commuted ? kOpGt : kOpLt;
    if (strcmp(name, "<=") == 0) return commuted ? kOpGe : kOpLe;
    if (strcmp(name, ">") == 0) return commuted ? kOpLt : kOpGt;
    if (strcmp(name, ">=") == 0) return commuted ? kOpLe : kOpGe;
    return -1;
}

// If `clause` compares a partition/offset/timestamp column of this rel with
// an expression free of this rel's columns and of volatile functions,
// append a condition.  The clause stays a local filter as well: pushdown only
// narrows what is fetched.
void TryPushdown(KafkaPlanInfo *ps, RelOptInfo *baserel, Expr *clause) {
    Var *var = nullptr;
    Expr *other = nullptr;
    int op = -1;
    if (IsA(clause, OpExpr)) {
        OpExpr *oe = (OpExpr *)clause;
        if (list_length(oe->args) != 2) return;
        Expr *l = (Expr *)linitial(oe->args), *r = (Expr *)lsecond(oe->args);
        while (IsA(l, RelabelType)) l = ((RelabelType *)l)->arg;
        while (IsA(r, RelabelType)) r = ((RelabelType *)r)->arg;
        bool commuted = false;
        if (IsA(l, Var) && ((Var *)l)->varno == (int)baserel->relid) {
            var = (Var *)l;
            other = r;
        } else if (IsA(r, Var) && ((Var *)r)->varno == (int)baserel->relid) {
            var = (Var *)r;
            other = l;
            commuted = true;
        } else {
            return;
        }
        char *opname = get_opname(oe->opno);
        if (!opname) return;
        op = OpFromName(opname, commuted);
    } else if (IsA(clause, ScalarArrayOpExpr)) {
        ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *)clause;
        Expr *l = (Expr *)linitial(sa->args);
        while (IsA(l, RelabelType)) l = ((RelabelType *)l)->arg;
        if (!IsA(l, Var) || ((Var *)l)->varno != (int)baserel->relid) return;
        var = (Var *)l;
        other = (Expr *)lsecond(sa->args);
        char *opname = get_opname(sa->opno);
        if (!opname) return;
        if (sa->useOr && strcmp(opname, "=") == 0) op = kOpIn;
        else if (!sa->useOr && strcmp(opname, "<>") == 0) op = kOpNotIn;
        else return;
    } else {
        return;
    }
    if (op < 0 || var->varlevelsup != 0) return;
    const ColumnDef *col = ColumnByAttnum(ps->table, var->varattno);
    if (!col) return;
    int target;
    if (col->role == ColumnRole::Partition && IsIntType(col->type)) target = kTargetPartition;
    else if (ps->table->group) return;  // group tables read from the group's position: partitions only
    else if (col->role == ColumnRole::Offset && IsIntType(col->type)) target = kTargetOffset;
    else if (col->role == ColumnRole::Timestamp && IsTimestampType(col->type)) target = kTargetTimestamp;
    else return;
    if (contain_var_clause((Node *)other) || contain_volatile_functions((Node *)other)) return;
    Oid otype = exprType((Node *)other);
    if (op == kOpIn || op == kOpNotIn) otype = get_element_type(otype);
    if (target == kTargetTimestamp) {
        if (otype != TIMESTAMPTZOID) return;  // timestamp/date need a time zone: not pushed
        if (op != kOpGe && op != kOpGt && op != kOpEq) return;  // only lower bounds are exact
    } else if (!IsIntType(otype)) {
        return;
    }
    ps->conds = lappend(ps->conds, list_make2_int(target, op));
    ps->exprs = lappend(ps->exprs, other);
    ps->cond_clauses = lappend(ps->cond_clauses, clause);
}

// ---------------------------------------------------------------------------
// Estimates from the watermarks (C++ zone).  Planning must not fail because
// the broker is slow: on any error the estimate falls back to a default.
double EstimateRowsCpp(const ClientSpec *spec, const char *topic, int timeout_ms) {
    try {
        kafka::Client &c = MetadataClient(spec);
        int n = kafka::PartitionCount(c, topic, timeout_ms);
        double rows = 0;
        for (int p = 0; p < n; p++) {
            kafka::Watermarks w = kafka::QueryWatermarks(c, topic, p, timeout_ms);
            rows += static_cast<double>(w.high - w.low);
        }
        return rows;
    } catch (const kafka::Interrupted &) {
        throw;
    } catch (...) {
        return -1;
    }
}

// Whether making a value of this type from text can run code other than
// built-in C input functions: a domain's CHECK (which may call any
// function), a composite's columns, an extension's or a user's type.
// Enums and arrays of safe types are safe.
bool InputRunsUserCode(Oid type) {
    Oid elem = get_element_type(type);
    if (OidIsValid(elem)) return InputRunsUserCode(elem);
    char tt = get_typtype(type);
    if (tt == TYPTYPE_DOMAIN || tt == TYPTYPE_COMPOSITE) return true;
    if (tt == TYPTYPE_ENUM) return false;
    Oid infunc, ioparam;
    getTypeInputInfo(type, &infunc, &ioparam);
    return type >= FirstNormalObjectId || infunc >= FirstNormalObjectId;
}

// Whether a non-strict scan of the table converts values in
// subtransactions (see InputValue), which cannot be started in parallel
// mode.
bool NeedsSubtransactions(const TableDef *t) {
    if (t->strict) return false;
    for (int i = 0; i < t->ncolumns; i++) {
        const ColumnDef *c = &t->columns[i];
        if (c->role == ColumnRole::Junk || c->role == ColumnRole::JunkError) continue;
        if (InputRunsUserCode(c->type)) return true;
    }
    return false;
}

}  // namespace

// ---------------------------------------------------------------------------
// Planning callbacks.

static void kafkaGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid) {
    KafkaPlanInfo *ps = (KafkaPlanInfo *)palloc0(sizeof(KafkaPlanInfo));
    ps->table = GetTableDef(foreigntableid);
    ps->limit = -1;
    baserel->fdw_private = ps;

    ListCell *lc;
    foreach (lc, baserel->baserestrictinfo) {
        RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
        TryPushdown(ps, baserel, ri->clause);
    }

    // A group scan writes (its positions): the statement must not run in
    // parallel mode, where no transaction id can be assigned.  Rels planned
    // before this one may already consider parallel paths: no longer.
    // Non-strict conversions in subtransactions: the same.
    if (ps->table->group || NeedsSubtransactions(ps->table)) {
        root->glob->parallelModeOK = false;
        root->glob->parallelModeNeeded = false;
        for (int i = 1; i < root->simple_rel_array_size; i++)
            if (root->simple_rel_array[i]) root->simple_rel_array[i]->consider_parallel = false;
    }

    ClientSpec *spec = GetClientSpec(ps->table->serverid, GetUserId(), false);
    double rows = -1;
    // Bounded well below kafka_fdw.timeout: with the broker down, planning
    // must not double the wait the scan itself then has.
    int timeout = Max(100, Min(pg::g_timeout_ms / 4, 1000));
    KFDW_ENTRY({ rows = EstimateRowsCpp(spec, ps->table->topic, timeout); });
    if (rows < 0) rows = 1000;
    double sel = clauselist_selectivity(root, baserel->baserestrictinfo, 0, JOIN_INNER, NULL);
    baserel->tuples = rows;
    baserel->rows = clamp_row_est(rows * sel);

    // LIMIT without ORDER BY on a scan with no filter: stop fetching early.
    Query *parse = root->parse;
    if (root->limit_tuples > 0 && parse->sortClause == NIL && baserel->baserestrictinfo == NIL &&
        bms_num_members(root->all_baserels) == 1 && parse->commandType == CMD_SELECT &&
        parse->rowMarks == NIL)
        ps->limit = (int64)root->limit_tuples;
}

static void kafkaGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid) {
    KafkaPlanInfo *ps = (KafkaPlanInfo *)baserel->fdw_private;
    double rows = baserel->rows;
    double fetched = ps->limit > 0 ? Min(baserel->tuples, (double)ps->limit) : baserel->tuples;
    Cost startup = 10;  // a broker round trip
    Cost total = startup + fetched * (cpu_tuple_cost * 4) + rows * cpu_tuple_cost;
    // A rel inside LATERAL references rels outside it: its path needs them
    // (as postgres_fdw's paths do), else the planner may put it below them.
    Relids required_outer = baserel->lateral_relids;
    Path *path =
        (Path *)create_foreignscan_path(root, baserel, NULL, rows, startup, total, NIL, required_outer, NULL, NIL);
    add_path(baserel, path);
    if (baserel->consider_parallel && max_parallel_workers_per_gather > 0 && bms_is_empty(required_outer)) {
        // Partitions are spread over the workers: each reads a share.
        int workers = Max(1, Min(max_parallel_workers_per_gather, 4));
        double share = workers + (parallel_leader_participation ? 1.0 : 0.0);
        Path *ppath = (Path *)create_foreignscan_path(root, baserel, NULL, clamp_row_est(rows / share), startup,
                                                      startup + (total - startup) / share, NIL, NULL, NULL, NIL);
        ppath->parallel_aware = true;
        ppath->parallel_safe = true;
        ppath->parallel_workers = workers;
        add_partial_path(baserel, ppath);
    }
}

static ForeignScan *kafkaGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid, ForeignPath *best_path,
                                        List *tlist, List *scan_clauses, Plan *outer_plan) {
    KafkaPlanInfo *ps = (KafkaPlanInfo *)baserel->fdw_private;
    scan_clauses = extract_actual_clauses(scan_clauses, false);

    // Columns the query reads (target list and local filters).
    Bitmapset *attrs = NULL;
    pull_varattnos((Node *)baserel->reltarget->exprs, baserel->relid, &attrs);
    ListCell *lc;
    foreach (lc, baserel->baserestrictinfo)
        pull_varattnos((Node *)lfirst_node(RestrictInfo, lc)->clause, baserel->relid, &attrs);
    List *needed = NIL;
    bool whole_row = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs);
    for (int i = 0; i < ps->table->ncolumns; i++) {
        AttrNumber a = ps->table->columns[i].attnum;
        if (whole_row || bms_is_member(a - FirstLowInvalidHeapAttributeNumber, attrs))
            needed = lappend_int(needed, a);
    }

    // Text of the pushed conditions for EXPLAIN.
    char *cond_text = pstrdup("");
    if (ps->cond_clauses) {
        // A one-entry context names this rel as range-table entry 1: the
        // clauses' Vars are renumbered to match, on a copy (the table can be
        // any entry of the query's range table: joins, views, subqueries).
        List *ctx = deparse_context_for(get_rel_name(ps->table->relid), ps->table->relid);
        Expr *e = ps->cond_clauses->length == 1 ? (Expr *)linitial(ps->cond_clauses)
                                                : make_ands_explicit(ps->cond_clauses);
        e = (Expr *)copyObjectImpl(e);
        ChangeVarNodes((Node *)e, baserel->relid, 1, 0);
        cond_text = deparse_expression((Node *)e, ctx, false, false);
    }
    (void)root;
    (void)best_path;
    List *priv = list_make4(ps->conds, needed, makeInteger((int)Min(ps->limit, (int64)INT_MAX)),
                            makeString(cond_text));
    return make_foreignscan(tlist, scan_clauses, baserel->relid, ps->exprs, priv, NIL, NIL, outer_plan);
}

// ---------------------------------------------------------------------------
// Execution.

namespace {

// Shared state of a parallel scan: the ranges, handed out one partition at a time.
struct ParallelShared {
    slock_t mutex;
    int nranges;    // computed by the leader before workers start
    int next;
    kafka::PartitionRange ranges[FLEXIBLE_ARRAY_MEMBER];
};
constexpr int kMaxParallelRanges = 4096;

// C++ state of one scan, owned by the scan's memory context.
struct ScanRuntime {
    std::unique_ptr<kafka::RangeConsumer> consumer;
    std::unique_ptr<format::JsonObjectReader> json;
    std::unique_ptr<format::CsvReader> csv;
    std::vector<kafka::PartitionRange> ranges;
    std::vector<kafka::Watermarks> watermarks;  // parallel to ranges
    std::string scratch;
    std::string headers;
};

struct ScanState {
    TableDef *table;
    ClientSpec *spec;
    ScanRuntime *rt;
    List *conds;
    List *cond_states;  // ExprState per condition
    bool *needed;       // per table->columns index
    bool any_payload_needed;
    bool junk_needed;
    FmgrInfo *in_funcs;
    Oid *ioparams;
    int *payload_map;   // table column index -> json/csv field index
    bool *is_array;     // column type is an array
    bool *user_code;    // the conversion may run code other than built-in input functions
    FmgrInfo **populate;  // json_populate_record for composite columns of JSON tables
    void **domain_extra;  // domain_check's cache, per column
    int64 limit;
    int64 returned;
    bool started;
    bool finished;
    // parallel
    ParallelShared *shared;
    bool parallel_worker;
    // current message, for errcontext
    int32 cur_partition;
    int64 cur_offset;
    const char *cur_column;
    // per-message decode errors (non-strict)
    const char *bad_reason;
    // consumer group: next offset to store per partition (-1: nothing read)
    int64 *group_next;
    int group_nparts;
    // EXPLAIN ANALYZE
    char *ranges_text;
    MemoryContext cxt;  // the scan's (query-lifetime) context
};

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

// Runtime values of the pushed conditions (Postgres zone), flattened.
struct CondValues {
    int n;
    int *target;
    int *op;
    int *nvalues;
    int64 **values;   // NULL entries: the condition can match nothing
};

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

CondValues *EvalConditions(ScanState *s, ExprContext *econtext) {
    CondValues *cv = (CondValues *)palloc0(sizeof(CondValues));
    int n = list_length(s->conds);
    cv->n = n;
    cv->target = (int *)palloc0(sizeof(int) * (n + 1));
    cv->op = (int *)palloc0(sizeof(int) * (n + 1));
    cv->nvalues = (int *)palloc0(sizeof(int) * (n + 1));
    cv->values = (int64 **)palloc0(sizeof(int64 *) * (n + 1));
    ListCell *lc1, *lc2;
    int i = 0;
    forboth(lc1, s->conds, lc2, s->cond_states) {
        List *desc = (List *)lfirst(lc1);
        ExprState *es = (ExprState *)lfirst(lc2);
        cv->target[i] = linitial_int(desc);
        cv->op[i] = lsecond_int(desc);
        bool isnull;
        Datum d = ExecEvalExpr(es, econtext, &isnull);
        Oid type = exprType((Node *)es->expr);
        if (isnull) {
            cv->values[i] = nullptr;
        } else if (cv->op[i] == kOpIn || cv->op[i] == kOpNotIn) {
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
            cv->values[i][0] = cv->target[i] == kTargetTimestamp ? pg::TimestamptzToKafkaMs(DatumGetTimestampTz(d), true)
                                                                 : DatumToInt64(d, type);
            cv->nvalues[i] = 1;
        }
        i++;
    }
    return cv;
}

// C++ zone: turns the conditions and the watermarks into ranges.
void ComputeRangesCpp(ScanState *s, const CondValues *cv) {
    kafka::Client &meta = MetadataClient(s->spec);
    const char *topic = s->table->topic;
    int nparts = kafka::PartitionCount(meta, topic, pg::g_timeout_ms);
    std::vector<int32_t> parts;
    int64 off_lo = 0, off_hi = INT64_MAX;  // inclusive bounds
    int64 ts_lo = -1;
    bool none = false;
    for (int p = 0; p < nparts; p++) parts.push_back(p);
    for (int i = 0; i < cv->n; i++) {
        if (!cv->values[i]) {
            none = true;  // comparison with NULL matches nothing
            continue;
        }
        const int64 *v = cv->values[i];
        int nv = cv->nvalues[i];
        if (cv->target[i] == kTargetPartition) {
            std::vector<int32_t> keep;
            for (int32_t p : parts) {
                bool ok = true;
                switch (cv->op[i]) {
                case kOpEq: ok = p == v[0]; break;
                case kOpNe: ok = p != v[0]; break;
                case kOpLt: ok = p < v[0]; break;
                case kOpLe: ok = p <= v[0]; break;
                case kOpGt: ok = p > v[0]; break;
                case kOpGe: ok = p >= v[0]; break;
                case kOpIn:
                    ok = false;
                    for (int k = 0; k < nv; k++) ok = ok || p == v[k];
                    break;
                case kOpNotIn:
                    for (int k = 0; k < nv; k++) ok = ok && p != v[k];
                    break;
                }
                if (ok) keep.push_back(p);
            }
            parts.swap(keep);
        } else if (cv->target[i] == kTargetOffset) {
            switch (cv->op[i]) {
            case kOpEq: off_lo = std::max(off_lo, v[0]); off_hi = std::min(off_hi, v[0]); break;
            case kOpLt: off_hi = std::min(off_hi, v[0] - 1); break;
            case kOpLe: off_hi = std::min(off_hi, v[0]); break;
            case kOpGt: off_lo = std::max(off_lo, v[0] == INT64_MAX ? v[0] : v[0] + 1); break;
            case kOpGe: off_lo = std::max(off_lo, v[0]); break;
            case kOpIn: {
                if (nv == 0) { none = true; break; }
                int64 mn = v[0], mx = v[0];
                for (int k = 1; k < nv; k++) { mn = std::min(mn, v[k]); mx = std::max(mx, v[k]); }
                off_lo = std::max(off_lo, mn);
                off_hi = std::min(off_hi, mx);
                break;
            }
            default: break;  // <> and NOT IN: no narrowing
            }
        } else if (cv->target[i] == kTargetTimestamp) {
            // v is rounded up to a millisecond: ts >= v, ts > v and ts = v
            // all start at the first offset whose timestamp is >= v.
            ts_lo = std::max(ts_lo, v[0]);
        }
    }
    s->rt->ranges.clear();
    s->rt->watermarks.clear();
    if (none || off_lo > off_hi) parts.clear();
    std::vector<int64_t> ts_start;
    if (ts_lo >= 0 && !parts.empty())
        ts_start = kafka::OffsetsForTime(meta, topic, parts, ts_lo, pg::g_timeout_ms);
    for (size_t i = 0; i < parts.size(); i++) {
        kafka::Watermarks w = kafka::QueryWatermarks(meta, topic, parts[i], pg::g_timeout_ms);
        int64 start = std::max<int64>(w.low, off_lo);
        if (!ts_start.empty()) start = std::max<int64>(start, ts_start[i]);
        int64 end = off_hi == INT64_MAX ? w.high : std::min<int64>(w.high, off_hi + 1);
        s->rt->ranges.push_back({parts[i], start, std::max(start, end)});
        s->rt->watermarks.push_back(w);
    }
}

// C++ zone: a consumer for the given ranges.
void StartConsumerCpp(ScanState *s, const std::vector<kafka::PartitionRange> &ranges) {
    s->rt->consumer.reset();
    kafka::Config conf = MakeConfig(s->spec, ReaderDefaults());
    conf.Set("isolation.level", s->table->isolation_level);
    auto consumer = std::make_unique<kafka::RangeConsumer>(std::move(conf), s->table->topic, pg::g_timeout_ms);
    consumer->Start(ranges);
    s->rt->consumer = std::move(consumer);
}

char *RangesText(const std::vector<kafka::PartitionRange> &ranges) {
    std::string out;
    for (const auto &r : ranges) {
        if (!out.empty()) out += ", ";
        out += std::to_string(r.partition) + ":[" + std::to_string(r.start) + "," + std::to_string(r.end) + ")";
    }
    if (out.empty()) out = "none";
    return pg::PStrDup(out.data(), out.size());
}

// Claims the next range of a parallel scan (Postgres zone, spinlock only).
bool ClaimRange(ParallelShared *sh, kafka::PartitionRange *out) {
    bool ok = false;
    SpinLockAcquire(&sh->mutex);
    if (sh->next < sh->nranges) {
        *out = sh->ranges[sh->next++];
        ok = true;
    }
    SpinLockRelease(&sh->mutex);
    return ok;
}

}  // namespace

namespace {
// A JSON member name as it appears in messages (UTF-8).
const char *ColumnNameUtf8(const char *name) {
    const char *data = name;
    size_t len = strlen(name);
    pg::ServerToUtf8(&data, &len);
    return data;
}

// Input functions and decoders for the columns in `needed` (attnums), or for
// every column.  The C++ state is owned by the current memory context.
void InitDecoding(ScanState *s, List *needed, bool all_columns = false) {
    TableDef *t = s->table;
    s->needed = (bool *)palloc0(sizeof(bool) * (t->ncolumns + 1));
    s->in_funcs = (FmgrInfo *)palloc0(sizeof(FmgrInfo) * (t->ncolumns + 1));
    s->ioparams = (Oid *)palloc0(sizeof(Oid) * (t->ncolumns + 1));
    s->payload_map = (int *)palloc0(sizeof(int) * (t->ncolumns + 1));
    s->is_array = (bool *)palloc0(sizeof(bool) * (t->ncolumns + 1));
    s->user_code = (bool *)palloc0(sizeof(bool) * (t->ncolumns + 1));
    s->populate = (FmgrInfo **)palloc0(sizeof(FmgrInfo *) * (t->ncolumns + 1));
    s->domain_extra = (void **)palloc0(sizeof(void *) * (t->ncolumns + 1));
    int nwanted = 0;
    const char **wanted = (const char **)palloc0(sizeof(char *) * (t->ncolumns + 1));
    for (int i = 0; i < t->ncolumns; i++) {
        ColumnDef *c = &t->columns[i];
        s->needed[i] = all_columns || list_member_int(needed, c->attnum);
        Oid infunc;
        getTypeInputInfo(c->type, &infunc, &s->ioparams[i]);
        fmgr_info(infunc, &s->in_funcs[i]);
        s->payload_map[i] = -1;
        s->is_array[i] = OidIsValid(get_element_type(c->type)) || OidIsValid(get_element_type(getBaseType(c->type)));
        s->user_code[i] = InputRunsUserCode(c->type);
        if (t->format == Format::Json && c->role == ColumnRole::Payload && type_is_rowtype(getBaseType(c->type))) {
            // row_to_json writes a composite as an object: read it back as
            // json_populate_record(NULL::type, member) does
            Oid base = getBaseType(c->type);
            s->populate[i] = (FmgrInfo *)palloc0(sizeof(FmgrInfo));
            fmgr_info(F_JSON_POPULATE_RECORD, s->populate[i]);
            List *args = list_make3(makeNullConst(base, -1, InvalidOid), makeNullConst(JSONOID, -1, InvalidOid),
                                    makeBoolConst(false, false));
            fmgr_info_set_expr((Node *)makeFuncExpr(F_JSON_POPULATE_RECORD, base, args, InvalidOid, InvalidOid,
                                                    COERCE_EXPLICIT_CALL),
                               s->populate[i]);
        }
        if (c->role == ColumnRole::Payload && s->needed[i]) {
            s->any_payload_needed = true;
            s->payload_map[i] = t->format == Format::Csv ? c->payload_index : nwanted;
            wanted[nwanted++] = ColumnNameUtf8(c->json_name);
        }
        if ((c->role == ColumnRole::Junk || c->role == ColumnRole::JunkError) && s->needed[i]) s->junk_needed = true;
    }
    if (s->junk_needed && t->format != Format::Text && t->format != Format::Bytea) {
        // Junk columns report on the whole message: decode every payload column.
        nwanted = 0;
        for (int i = 0; i < t->ncolumns; i++) {
            ColumnDef *c = &t->columns[i];
            if (c->role != ColumnRole::Payload) continue;
            s->needed[i] = true;
            s->any_payload_needed = true;
            s->payload_map[i] = t->format == Format::Csv ? c->payload_index : nwanted;
            wanted[nwanted++] = ColumnNameUtf8(c->json_name);
        }
    }

    MemoryContext cxt = CurrentMemoryContext;
    KFDW_ENTRY({
        auto rt = std::make_unique<ScanRuntime>();
        if (t->format == Format::Json) {
            std::vector<std::string> names;
            for (int i = 0; i < nwanted; i++) names.emplace_back(wanted[i]);
            rt->json = std::make_unique<format::JsonObjectReader>(std::move(names));
        } else if (t->format == Format::Csv) {
            format::CsvOptions o;
            o.delimiter = t->csv_delimiter;
            o.quote = t->csv_quote;
            o.escape = t->csv_escape;
            o.null_string = t->csv_null;
            rt->csv = std::make_unique<format::CsvReader>(o);
        }
        s->rt = pg::OwnBy(cxt, rt.release());
    });
}
}  // namespace

static void kafkaBeginForeignScan(ForeignScanState *node, int eflags) {
    ForeignScan *plan = (ForeignScan *)node->ss.ps.plan;
    ScanState *s = (ScanState *)palloc0(sizeof(ScanState));
    node->fdw_state = s;
    Oid relid = RelationGetRelid(node->ss.ss_currentRelation);
    s->table = GetTableDef(relid);
    s->conds = (List *)list_nth(plan->fdw_private, kPrivConds);
    List *needed = (List *)list_nth(plan->fdw_private, kPrivNeeded);
    s->limit = intVal(list_nth(plan->fdw_private, kPrivLimit));
    s->cur_offset = -1;
    s->cxt = CurrentMemoryContext;
    if (eflags & EXEC_FLAG_EXPLAIN_ONLY) return;

    // The checkAsUser of the plan (views) or the current user.
    RangeTblEntry *rte = exec_rt_fetch(plan->scan.scanrelid, node->ss.ps.state);
    Oid userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
    s->spec = GetClientSpec(s->table->serverid, userid, false);
    s->cond_states = ExecInitExprList(plan->fdw_exprs, (::PlanState *)node);

    InitDecoding(s, needed);
}

namespace {

// Group scans open in this transaction (a scan is open from its start to its
// end or the flush at EOF).  Two open scans of one group and topic would read
// the same positions and return every message twice: the second is refused.
struct OpenGroupScan {
    LocalTransactionId lxid;
    const void *scan;
    Oid serverid;
    char group[NAMEDATALEN * 2];
    char topic[NAMEDATALEN * 4];
};
constexpr int kMaxOpenGroupScans = 64;
OpenGroupScan g_open_groups[kMaxOpenGroupScans];

void BeginGroupScan(ScanState *s) {
    TableDef *t = s->table;
    OpenGroupScan *free_slot = nullptr;
    for (auto &o : g_open_groups) {
        bool live = o.scan && o.lxid == MyProc->lxid;
        if (!live) {
            if (!free_slot) free_slot = &o;
            continue;
        }
        if (o.scan != s && o.serverid == s->spec->serverid && strcmp(o.group, t->group) == 0 &&
            strcmp(o.topic, t->topic) == 0)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("consumer group \"%s\" is read twice at once in one statement", t->group),
                            errdetail("Both reads of topic \"%s\" would start at the same positions and return "
                                      "the same messages.",
                                      t->topic),
                            errhint("Read the group table once, e.g. in a MATERIALIZED CTE, and use that.")));
    }
    if (!free_slot) return;  // too many at once to track: not refused
    free_slot->lxid = MyProc->lxid;
    free_slot->scan = s;
    free_slot->serverid = s->spec->serverid;
    strlcpy(free_slot->group, t->group, sizeof free_slot->group);
    strlcpy(free_slot->topic, t->topic, sizeof free_slot->topic);
}

void EndGroupScan(ScanState *s) {
    for (auto &o : g_open_groups)
        if (o.scan == s) o.scan = nullptr;
}

// Group tables: each partition starts at the group's stored position
// (created from the broker's committed offset or group_start), locked in
// partition order (no deadlocks); with skip_locked, partitions another
// transaction holds are left out.
void ApplyGroupPositions(ScanState *s) {
    TableDef *t = s->table;
    const char *server = s->spec->server_name;
    kafka::PartitionRange *rs = s->rt->ranges.data();
    const kafka::Watermarks *wm = s->rt->watermarks.data();
    int n = (int)s->rt->ranges.size();
    int maxp = 0;
    for (int i = 0; i < n; i++) maxp = Max(maxp, rs[i].partition + 1);
    s->group_nparts = maxp;
    s->group_next = (int64 *)MemoryContextAlloc(s->cxt, sizeof(int64) * (maxp + 1));
    for (int p = 0; p <= maxp; p++) s->group_next[p] = -1;

    GroupAuthorize(server, t->group, true, s->spec->userid);  // the user mapping's role
    BeginGroupScan(s);
    int32 *missing = (int32 *)palloc0(sizeof(int32) * (n + 1));
    int *missing_idx = (int *)palloc0(sizeof(int) * (n + 1));
    int nmissing = 0;
    for (int i = 0; i < n; i++)
        if (GroupReadPosition(server, t->group, t->topic, rs[i].partition) < 0) {
            missing_idx[nmissing] = i;
            missing[nmissing++] = rs[i].partition;
        }
    if (nmissing > 0) {
        int64 *committed = (int64 *)palloc0(sizeof(int64) * nmissing);
        KFDW_ENTRY({
            std::vector<int32_t> parts(missing, missing + nmissing);
            auto c = kafka::CommittedOffsets(GroupClient(s->spec, t->group), t->topic, parts, pg::g_timeout_ms);
            for (int k = 0; k < nmissing; k++) committed[k] = c[k];
        });
        // group_start 'latest' is for a group new to this topic: a partition
        // added to a topic the group already reads here is read in full.
        bool group_exists = nmissing < n;
        for (int k = 0; k < nmissing; k++) {
            const kafka::Watermarks &w = wm[missing_idx[k]];
            int64 init = committed[k] >= 0 ? committed[k] : (t->group_latest && !group_exists ? w.high : w.low);
            GroupInitPosition(server, t->group, t->topic, missing[k], init);
        }
    }
    for (int i = 0; i < n; i++) {
        bool skipped = false;
        int64 next = GroupLockPosition(server, t->group, t->topic, rs[i].partition, t->skip_locked, &skipped);
        if (skipped) {
            rs[i].end = rs[i].start;  // another transaction consumes this partition now
            continue;
        }
        if (next < wm[i].low) {
            if (t->gap_error)
                ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                                errmsg("consumer group \"%s\" lost " INT64_FORMAT " messages of topic \"%s\" partition %d",
                                       t->group, wm[i].low - next, t->topic, rs[i].partition),
                                errdetail("Its position is offset " INT64_FORMAT ", but retention deleted the messages before offset " INT64_FORMAT ".",
                                          next, wm[i].low),
                                errhint("Set on_gap 'warning' to continue from the oldest message, or move the group with kafka.reset_group().")));
            ereport(WARNING, (errmsg("consumer group \"%s\" skips " INT64_FORMAT " messages of topic \"%s\" partition %d deleted by retention (offsets " INT64_FORMAT " to " INT64_FORMAT ")",
                                     t->group, wm[i].low - next, t->topic, rs[i].partition, next, wm[i].low - 1)));
            next = wm[i].low;
            s->group_next[rs[i].partition] = next;  // the position moves past the gap
        }
        int64 fresh_high = wm[i].high;
        if (next > fresh_high) {
            // Another transaction may have moved the position past our
            // snapshot while we waited for its lock: compare with the log's
            // end now.
            int32 part = rs[i].partition;
            KFDW_ENTRY({
                fresh_high = kafka::QueryWatermarks(MetadataClient(s->spec), t->topic, part, pg::g_timeout_ms).high;
            });
        }
        if (next > fresh_high) {
            // The log is shorter than the position: the topic was deleted and
            // created again (or truncated).  As a Kafka consumer's offset
            // reset: start again from group_start, loudly.
            int64 restart = t->group_latest ? wm[i].high : wm[i].low;
            ereport(WARNING,
                    (errmsg("consumer group \"%s\" is at offset " INT64_FORMAT " of topic \"%s\" partition %d, past its end (" INT64_FORMAT ")",
                            t->group, next, t->topic, rs[i].partition, wm[i].high),
                     errdetail("The topic was created again or truncated; the group starts again from offset " INT64_FORMAT " (group_start).",
                               restart)));
            next = restart;
            s->group_next[rs[i].partition] = next;
        }
        rs[i].start = Min(Max(rs[i].start, next), wm[i].high);
        rs[i].end = Max(rs[i].start, rs[i].end);
        // Every partition the scan holds is stored and committed to the
        // broker at the end, even if it returns nothing: Kafka's tools then
        // show the group's position on every partition.
        if (s->group_next[rs[i].partition] < 0) s->group_next[rs[i].partition] = next;
    }
}

// Stores the positions the scan reached (Postgres zone), in the current
// transaction, and queues their commit to the group coordinator.
void FlushGroupPositions(ScanState *s) {
    if (!s->group_next) return;
    TableDef *t = s->table;
    // ExecutorEnd of a portal (LIMIT, cursors) runs without an active snapshot.
    bool pushed = false;
    if (!ActiveSnapshotSet()) {
        PushActiveSnapshot(GetTransactionSnapshot());
        pushed = true;
    }
    for (int p = 0; p < s->group_nparts; p++) {
        int64 next = s->group_next[p];
        if (next < 0) continue;
        GroupStorePosition(s->spec->server_name, t->group, t->topic, p, next);
        SubTransactionId subid = GetCurrentSubTransactionId();
        KFDW_ENTRY({
            GroupCommit c;
            c.client = &GroupClient(s->spec, t->group);
            c.topic = t->topic;
            c.partition = p;
            c.next_offset = next;
            c.subid = subid;
            AddGroupCommit(std::move(c));
        });
        s->group_next[p] = -1;
    }
    if (pushed) PopActiveSnapshot();
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

void StartScan(ForeignScanState *node) {
    ScanState *s = (ScanState *)node->fdw_state;
    s->started = true;
    if (s->shared) return;  // parallel: ranges are claimed one by one
    ComputeRanges(node);
    KFDW_ENTRY({ StartConsumerCpp(s, s->rt->ranges); });
}

// Publishes the leader's ranges for a parallel scan.
void PublishRanges(ForeignScanState *node, ParallelShared *sh) {
    ScanState *s = (ScanState *)node->fdw_state;
    ComputeRanges(node);
    int n = 0;
    KFDW_ENTRY({ n = static_cast<int>(std::min<size_t>(s->rt->ranges.size(), kMaxParallelRanges)); });
    SpinLockAcquire(&sh->mutex);
    for (int i = 0; i < n; i++) sh->ranges[i] = s->rt->ranges[i];
    sh->nranges = n;
    sh->next = 0;
    SpinLockRelease(&sh->mutex);
}

// Next message: from the consumer, claiming new ranges in parallel mode.
const rd_kafka_message_t *NextMessage(ScanState *s) {
    for (;;) {
        const rd_kafka_message_t *m = nullptr;
        if (s->rt->consumer) {
            KFDW_ENTRY({ m = s->rt->consumer->Next(); });
            if (m) return m;
        }
        if (!s->shared) return nullptr;
        kafka::PartitionRange r;
        if (!ClaimRange(s->shared, &r)) return nullptr;
        KFDW_ENTRY({ StartConsumerCpp(s, {r}); });
    }
}

// --- building values (Postgres zone) -----------------------------------

void MarkBad(ScanState *s, const char *reason) {
    if (!s->bad_reason) s->bad_reason = reason;
}

// How a column value is made from text.
enum ConvertHow : int {
    kConvertInput = 0,     // the type's input function
    kConvertFromUtf8 = 1,  // the text is UTF-8 (a message's bytes): to the database encoding first
    kConvertPopulate = 2,  // a JSON object into a composite column, as json_populate_record
};

// The conversion itself: errors are raised.
Datum ConvertUnprotected(ScanState *s, int col, const char *str, size_t len, int how, bool *isnull) {
    ColumnDef *c = &s->table->columns[col];
    if (how & kConvertFromUtf8) {
        char *conv = pg_any_to_server(str, (int)len, PG_UTF8);
        str = conv == str ? pnstrdup(str, len) : conv;
        len = strlen(str);
    }
    if (how & kConvertPopulate) {
        LOCAL_FCINFO(fcinfo, 3);
        InitFunctionCallInfoData(*fcinfo, s->populate[col], 3, InvalidOid, NULL, NULL);
        fcinfo->args[0].value = (Datum)0;
        fcinfo->args[0].isnull = true;
        fcinfo->args[1].value = PointerGetDatum(cstring_to_text_with_len(str, (int)len));
        fcinfo->args[1].isnull = false;
        fcinfo->args[2].value = BoolGetDatum(false);
        fcinfo->args[2].isnull = false;
        Datum d = FunctionCallInvoke(fcinfo);
        *isnull = fcinfo->isnull;
        if (c->type != getBaseType(c->type))
            domain_check(d, *isnull, c->type, &s->domain_extra[col], s->cxt);
        return d;
    }
    return InputFunctionCall(&s->in_funcs[col], (char *)str, s->ioparams[col], c->typmod);
}

// Errors that make a value bad in non-strict mode: data exceptions (class
// 22) and a domain's constraints.  Anything else (a cancel, out of memory,
// an error in a function a CHECK calls that is not about the data) is
// raised as it is.
bool IsDataError(int sqlerrcode) {
    return ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_DATA_EXCEPTION || sqlerrcode == ERRCODE_CHECK_VIOLATION ||
           sqlerrcode == ERRCODE_NOT_NULL_VIOLATION;
}

// Converts text to a column value.  In non-strict mode a data error becomes
// NULL and is recorded for junk_error.  Conversions that can run code other
// than built-in input functions (domains, composites, extensions' types)
// run in a subtransaction then, so that whatever that code did is undone
// (its SPI calls, references, locks); outside parallel mode only (the
// planner keeps such statements out of it, see NeedsSubtransactions).
Datum InputValue(ScanState *s, int col, const char *str, bool *isnull, size_t len = 0, int how = kConvertInput) {
    ColumnDef *c = &s->table->columns[col];
    *isnull = false;
    s->cur_column = c->name;
    if (s->table->strict || (s->user_code[col] && IsInParallelMode())) {
        Datum d = ConvertUnprotected(s, col, str, len, how, isnull);
        s->cur_column = nullptr;
        return d;
    }
    MemoryContext cxt = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    volatile Datum result = (Datum)0;
    volatile bool failed = false;
    bool null_result = false;
    bool subxact = s->user_code[col];
    if (subxact) {
        BeginInternalSubTransaction(NULL);
        MemoryContextSwitchTo(cxt);
    }
    PG_TRY();
    {
        result = ConvertUnprotected(s, col, str, len, how, &null_result);
        if (subxact) {
            ReleaseCurrentSubTransaction();
            MemoryContextSwitchTo(cxt);
            CurrentResourceOwner = owner;
        }
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        ErrorData *ed = CopyErrorData();
        if (!subxact && !IsDataError(ed->sqlerrcode)) PG_RE_THROW();
        FlushErrorState();
        if (subxact) {
            RollbackAndReleaseCurrentSubTransaction();
            MemoryContextSwitchTo(cxt);
            CurrentResourceOwner = owner;
            if (!IsDataError(ed->sqlerrcode)) ReThrowError(ed);
        }
        MarkBad(s, psprintf("column \"%s\": %s", c->name, ed->message));
        failed = true;
    }
    PG_END_TRY();
    s->cur_column = nullptr;
    if (failed || null_result) {
        *isnull = true;
        return (Datum)0;
    }
    return result;
}

// What the bytes given to BytesValue are.
enum BytesKind {
    kBytesRaw,         // the value (key and value columns, text and bytea formats)
    kBytesText,        // the value's text (a JSON member, a CSV field), also for bytea, as COPY and row_to_json write it
    kBytesJsonObject,  // a JSON object for a composite column
};

// Bytes of a message into a column of any type: raw bytea as is, anything
// else after UTF-8 and NUL checks, text directly, others through their
// input function (or json_populate_record).
Datum BytesValue(ScanState *s, int col, const char *data, size_t len, bool *isnull, BytesKind kind = kBytesRaw) {
    ColumnDef *c = &s->table->columns[col];
    *isnull = false;
    if (kind == kBytesRaw && c->type == BYTEAOID) return PointerGetDatum(pg::BytesToBytea(data, len));
    const char *problem = nullptr;
    if (memchr(data, '\0', len)) problem = "contains a NUL byte";
    else if (!format::IsValidUtf8(data, len)) problem = "is not valid UTF-8";
    if (problem) {
        char *msg = psprintf("column \"%s\": value %s", c->name, problem);
        if (s->table->strict) {
            s->cur_column = c->name;
            ereport(ERROR, (errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE), errmsg("%s", msg),
                            errhint("Use a bytea column for binary data.")));
        }
        MarkBad(s, msg);
        *isnull = true;
        return (Datum)0;
    }
    int how = (kind == kBytesJsonObject ? kConvertPopulate : kConvertInput) |
              (GetDatabaseEncoding() != PG_UTF8 ? kConvertFromUtf8 : kConvertInput);
    if (how != kConvertInput) return InputValue(s, col, data, isnull, len, how);
    if (c->type == TEXTOID) return PointerGetDatum(cstring_to_text_with_len(data, (int)len));
    return InputValue(s, col, pnstrdup(data, len), isnull);
}

Datum TimestampValue(ScanState *s, int col, int64 ms, bool *isnull) {
    ColumnDef *c = &s->table->columns[col];
    *isnull = false;
    if (ms < 0) {
        *isnull = true;
        return (Datum)0;
    }
    TimestampTz ts = pg::KafkaMsToTimestamptz(ms);
    if (c->type == TIMESTAMPTZOID) return TimestampTzGetDatum(ts);
    // timestamp (without time zone) and date: in UTC, as INSERT takes them,
    // whatever the session's time zone
    if (c->type == TIMESTAMPOID) return TimestampGetDatum((Timestamp)ts);
    if (c->type == DATEOID) return DirectFunctionCall1(timestamp_date, TimestampGetDatum((Timestamp)ts));
    if (c->type == INT8OID) return Int64GetDatum(ms);
    // other types (timestamp, text, ...): via text
    const char *str = timestamptz_to_str(ts);
    return InputValue(s, col, str, isnull);
}

Datum IntValue(ScanState *s, int col, int64 v, bool *isnull) {
    ColumnDef *c = &s->table->columns[col];
    *isnull = false;
    if (c->type == INT8OID) return Int64GetDatum(v);
    if ((c->type == INT4OID && v > PG_INT32_MAX) || (c->type == INT2OID && v > PG_INT16_MAX))
        ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                        errmsg("column \"%s\": " INT64_FORMAT " is out of range for type %s", c->name, v,
                               format_type_be(c->type)),
                        errhint("Use a bigint column for offsets.")));
    if (c->type == INT4OID) return Int32GetDatum((int32)v);
    if (c->type == INT2OID) return Int16GetDatum((int16)v);
    return InputValue(s, col, psprintf(INT64_FORMAT, v), isnull);
}

// C++ zone: headers as a JSON object text.
const char *HeadersJsonCpp(ScanState *s, const rd_kafka_message_t *m) {
    kafka::HeadersToJson(m, s->rt->headers);
    return s->rt->headers.c_str();
}

void FillTuple(ScanState *s, const rd_kafka_message_t *m, Datum *values, bool *nulls) {
    TableDef *t = s->table;
    s->bad_reason = nullptr;
    s->cur_partition = m->partition;
    s->cur_offset = m->offset;
    const char *payload = static_cast<const char *>(m->payload);
    size_t plen = m->len;
    bool tombstone = payload == nullptr;

    // Decode the value once for all payload columns.
    bool decoded = false;
    bool decode_failed = false;
    const char *decode_error = nullptr;
    if (s->any_payload_needed && !tombstone) {
        if (t->format == Format::Json) {
            bool ok = false;
            KFDW_ENTRY({
                ok = s->rt->json->Parse(payload, plen);
                if (!ok) decode_error = pg::PStrDup(s->rt->json->error().data(), s->rt->json->error().size());
            });
            decoded = ok;
            decode_failed = !ok;
        } else if (t->format == Format::Csv) {
            bool ok = false;
            KFDW_ENTRY({
                ok = s->rt->csv->Parse(payload, plen);
                if (!ok) decode_error = pg::PStrDup(s->rt->csv->error().data(), s->rt->csv->error().size());
            });
            // As COPY: more fields than the table has columns is a bad line.
            if (ok && s->rt->csv->size() > (size_t)t->npayload) {
                ok = false;
                decode_error = pstrdup("extra data after last expected column");
            }
            decoded = ok;
            decode_failed = !ok;
        }
        if (decode_failed) {
            if (t->strict)
                ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                                errmsg("could not decode %s message: %s", FormatName(t->format), decode_error),
                                errhint("Set strict 'false' to get NULLs and the junk/junk_error columns instead.")));
            MarkBad(s, psprintf("invalid %s: %s", FormatName(t->format), decode_error));
        }
    }

    for (int i = 0; i < t->ncolumns; i++) {
        ColumnDef *c = &t->columns[i];
        int idx = c->attnum - 1;
        nulls[idx] = true;
        values[idx] = (Datum)0;
        if (!s->needed[i]) continue;
        bool isnull = false;
        switch (c->role) {
        case ColumnRole::Partition:
            values[idx] = IntValue(s, i, m->partition, &isnull);
            break;
        case ColumnRole::Offset:
            values[idx] = IntValue(s, i, m->offset, &isnull);
            break;
        case ColumnRole::Timestamp: {
            rd_kafka_timestamp_type_t tstype;
            int64 ms = rd_kafka_message_timestamp(m, &tstype);
            values[idx] = TimestampValue(s, i, ms, &isnull);
            break;
        }
        case ColumnRole::Key:
            if (!m->key) isnull = true;
            else values[idx] = BytesValue(s, i, static_cast<const char *>(m->key), m->key_len, &isnull);
            break;
        case ColumnRole::Value:
            if (tombstone) isnull = true;
            else values[idx] = BytesValue(s, i, payload, plen, &isnull);
            break;
        case ColumnRole::Headers: {
            const char *json = nullptr;
            KFDW_ENTRY({ json = HeadersJsonCpp(s, m); });
            values[idx] = GetDatabaseEncoding() == PG_UTF8
                              ? InputValue(s, i, json, &isnull)
                              : InputValue(s, i, json, &isnull, strlen(json), kConvertFromUtf8);
            break;
        }
        case ColumnRole::Junk:
        case ColumnRole::JunkError:
            continue;  // filled after the payload
        case ColumnRole::Payload:
            if (tombstone || decode_failed) {
                isnull = true;
            } else if (t->format == Format::Text || t->format == Format::Bytea) {
                // the one payload column holds the whole value
                values[idx] = BytesValue(s, i, payload, plen, &isnull);
            } else if (t->format == Format::Json && decoded) {
                int k = s->payload_map[i];
                if (!s->rt->json->Found(k) || s->rt->json->Value(k).type == format::JsonType::Null) {
                    isnull = true;
                } else {
                    size_t len = s->rt->json->Value(k).len;
                    const char *txt = s->rt->json->Value(k).data;
                    if (c->type == JSONOID || c->type == JSONBOID) {
                        // json columns take the member as JSON (strings keep their quotes)
                        txt = s->rt->json->Value(k).raw;
                        len = s->rt->json->Value(k).raw_len;
                    }
                    if (s->rt->json->Value(k).type == format::JsonType::Array && s->is_array[i]) {
                        // JSON array into a Postgres array column
                        bool ok = false;
                        KFDW_ENTRY({
                            ok = format::JsonArrayToPgArray(txt, len, s->rt->scratch);
                            if (ok) txt = pg::PStrDup(s->rt->scratch.data(), s->rt->scratch.size());
                            len = s->rt->scratch.size();
                        });
                    }
                    if (s->populate[i] && s->rt->json->Value(k).type == format::JsonType::Object)
                        values[idx] = BytesValue(s, i, s->rt->json->Value(k).raw, s->rt->json->Value(k).raw_len,
                                                 &isnull, kBytesJsonObject);
                    else
                        values[idx] = BytesValue(s, i, txt, len, &isnull, kBytesText);
                }
            } else if (t->format == Format::Csv && decoded) {
                int k = s->payload_map[i];
                if (k < 0 || (size_t)k >= s->rt->csv->size() || s->rt->csv->IsNull(k)) {
                    isnull = true;
                    if (k >= 0 && (size_t)k >= s->rt->csv->size()) {
                        if (t->strict)
                            ereport(ERROR, (errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
                                            errmsg("missing data for column \"%s\"", c->name)));
                        MarkBad(s, psprintf("missing data for column \"%s\"", c->name));
                    }
                } else {
                    values[idx] = BytesValue(s, i, s->rt->csv->Data(k), s->rt->csv->Len(k), &isnull, kBytesText);
                }
            } else {
                isnull = true;
            }
            break;
        }
        nulls[idx] = isnull;
    }

    // Junk columns: the raw value and the reason, only for bad messages.
    if (s->junk_needed && s->bad_reason) {
        for (int i = 0; i < t->ncolumns; i++) {
            ColumnDef *c = &t->columns[i];
            int idx = c->attnum - 1;
            if (c->role == ColumnRole::JunkError) {
                values[idx] = PointerGetDatum(cstring_to_text(s->bad_reason));
                nulls[idx] = false;
            } else if (c->role == ColumnRole::Junk && payload) {
                // the raw message, made printable when it is not valid text
                bool isnull = true;
                if (!memchr(payload, '\0', plen) && format::IsValidUtf8(payload, plen) && c->type == TEXTOID) {
                    // in the database's encoding if it has every character
                    values[idx] = BytesValue(s, i, payload, plen, &isnull);
                    nulls[idx] = isnull;
                }
                if (!isnull) {
                } else if (c->type == BYTEAOID) {
                    bool isnull;
                    values[idx] = BytesValue(s, i, payload, plen, &isnull);
                    nulls[idx] = isnull;
                } else {
                    bytea *b = pg::BytesToBytea(payload, plen);
                    char *hex = DatumGetCString(DirectFunctionCall1(byteaout, PointerGetDatum(b)));
                    values[idx] = PointerGetDatum(cstring_to_text(hex));
                    nulls[idx] = false;
                }
            }
        }
    }
    s->cur_offset = -1;
}

}  // namespace

static TupleTableSlot *kafkaIterateForeignScan(ForeignScanState *node) {
    ScanState *s = (ScanState *)node->fdw_state;
    TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
    ExecClearTuple(slot);
    if (s->finished) return slot;
    if (!s->started) StartScan(node);
    if (s->limit >= 0 && s->returned >= s->limit) {
        s->finished = true;
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

static void kafkaReScanForeignScan(ForeignScanState *node) {
    ScanState *s = (ScanState *)node->fdw_state;
    // Start over: parameters may have changed, and the topic is read again up
    // to its current high watermark (a group continues where it stopped).
    FlushGroupPositions(s);
    EndGroupScan(s);
    s->group_next = nullptr;
    s->started = false;
    s->finished = false;
    s->returned = 0;
    if (s->rt) KFDW_ENTRY({ s->rt->consumer.reset(); });
}

static void kafkaEndForeignScan(ForeignScanState *node) {
    ScanState *s = (ScanState *)node->fdw_state;
    if (s) FlushGroupPositions(s);
    if (s) EndGroupScan(s);
    if (s && s->rt) {
        if (s->rt->consumer) pg::ReportClientEvents(*s->rt->consumer);
        // Destroy the consumer now rather than at context reset.
        KFDW_ENTRY({ s->rt->consumer.reset(); });
    }
}

static void kafkaExplainForeignScan(ForeignScanState *node, ExplainState *es) {
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
    int n = kafka::PartitionCount(meta, topic, pg::g_timeout_ms);
    std::vector<kafka::Watermarks> wm;
    plan->total = 0;
    for (int p = 0; p < n; p++) {
        wm.push_back(kafka::QueryWatermarks(meta, topic, p, pg::g_timeout_ms));
        plan->total += static_cast<double>(wm.back().high - wm.back().low);
    }
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
            vacuum_delay_point();
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
        KFDW_ENTRY({ s->rt->consumer.reset(); });
    }
    *totalrows = plan->total;
    *totaldeadrows = 0;
    ereport(elevel, (errmsg("\"%s\": sampled %d messages of topic \"%s\" (%.0f in all), skipped %d that could not be decoded",
                            RelationGetRelationName(relation), nrows, s->table->topic, plan->total, skipped)));
    return nrows;
}

}  // namespace

static bool kafkaAnalyzeForeignTable(Relation, AcquireSampleRowsFunc *func, BlockNumber *totalpages) {
    *func = AcquireSampleRows;
    *totalpages = 1;
    return true;
}

// --- parallel scans ---------------------------------------------------------

// Group scans run in the leader only: their positions live in its transaction.
static bool kafkaIsForeignScanParallelSafe(PlannerInfo *, RelOptInfo *, RangeTblEntry *rte) {
    const TableDef *t = GetTableDef(rte->relid);
    return t->group == nullptr && !NeedsSubtransactions(t);
}

static Size kafkaEstimateDSMForeignScan(ForeignScanState *, ParallelContext *) {
    return offsetof(ParallelShared, ranges) + sizeof(kafka::PartitionRange) * kMaxParallelRanges;
}

static void kafkaInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *, void *coordinate) {
    ScanState *s = (ScanState *)node->fdw_state;
    ParallelShared *sh = (ParallelShared *)coordinate;
    SpinLockInit(&sh->mutex);
    s->shared = sh;
    PublishRanges(node, sh);
}

static void kafkaReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *, void *coordinate) {
    ScanState *s = (ScanState *)node->fdw_state;
    ParallelShared *sh = (ParallelShared *)coordinate;
    s->started = false;
    s->finished = false;
    s->returned = 0;
    KFDW_ENTRY({ s->rt->consumer.reset(); });
    PublishRanges(node, sh);
}

static void kafkaInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *, void *coordinate) {
    ScanState *s = (ScanState *)node->fdw_state;
    s->shared = (ParallelShared *)coordinate;
    s->parallel_worker = true;
}

void FillScanRoutine(FdwRoutine *r) {
    r->GetForeignRelSize = kafkaGetForeignRelSize;
    r->GetForeignPaths = kafkaGetForeignPaths;
    r->GetForeignPlan = kafkaGetForeignPlan;
    r->BeginForeignScan = kafkaBeginForeignScan;
    r->IterateForeignScan = kafkaIterateForeignScan;
    r->ReScanForeignScan = kafkaReScanForeignScan;
    r->EndForeignScan = kafkaEndForeignScan;
    r->ExplainForeignScan = kafkaExplainForeignScan;
    r->IsForeignScanParallelSafe = kafkaIsForeignScanParallelSafe;
    r->AnalyzeForeignTable = kafkaAnalyzeForeignTable;
    r->EstimateDSMForeignScan = kafkaEstimateDSMForeignScan;
    r->InitializeDSMForeignScan = kafkaInitializeDSMForeignScan;
    r->ReInitializeDSMForeignScan = kafkaReInitializeDSMForeignScan;
    r->InitializeWorkerForeignScan = kafkaInitializeWorkerForeignScan;
}

}  // namespace kafka_fdw::fdw
