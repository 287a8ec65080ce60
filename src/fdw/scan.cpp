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
#include "kafka/wait.hpp"

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
#include "utils/dsa.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"
#pragma GCC diagnostic pop
}

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kafka_fdw::fdw {

namespace {

// ---------------------------------------------------------------------------
// Pushdown descriptors.  fdw_private of the ForeignScan is a List:
enum ScanPrivateIndex {
    kPrivConds = 0,   // List of condition trees (below), all of which must hold
    kPrivNeeded,      // IntList of attnums the query reads
    kPrivLimit,       // Integer: rows to fetch at most (-1: no limit)
    kPrivCondText,    // String: the pushed conditions, for EXPLAIN
};

enum CondTarget { kTargetPartition = 0, kTargetOffset = 1, kTargetTimestamp = 2 };
enum CondOp { kOpEq, kOpNe, kOpLt, kOpLe, kOpGt, kOpGe, kOpIn, kOpNotIn };
// A condition tree is a List whose first element is an Integer kind:
//   (kNodeAtom, target, op, index of its right-hand side in fdw_exprs)
//   (kNodeAnd | kNodeOr, subtree, subtree, ...)
// Each tree stands for a set of (partition, offset) pairs; the scan reads the
// intersection of the trees' sets.  A tree is a superset of what its clause
// matches (an AND keeps only the arms it understands, an OR only when it
// understands every arm), and every clause stays a filter: pushdown only
// narrows what is fetched.
enum CondNodeKind { kNodeAtom = 0, kNodeAnd = 1, kNodeOr = 2 };

struct KafkaPlanInfo {
    TableDef *table;
    List *conds;  // condition trees
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
// an expression free of this rel's columns and of volatile functions, an
// atom (its expression appended to ps->exprs), else NIL.
List *AtomOf(KafkaPlanInfo *ps, RelOptInfo *baserel, Expr *clause) {
    Var *var = nullptr;
    Expr *other = nullptr;
    int op = -1;
    if (IsA(clause, OpExpr)) {
        OpExpr *oe = (OpExpr *)clause;
        if (list_length(oe->args) != 2) return NIL;
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
            return NIL;
        }
        char *opname = get_opname(oe->opno);
        if (!opname) return NIL;
        op = OpFromName(opname, commuted);
    } else if (IsA(clause, ScalarArrayOpExpr)) {
        ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *)clause;
        Expr *l = (Expr *)linitial(sa->args);
        while (IsA(l, RelabelType)) l = ((RelabelType *)l)->arg;
        if (!IsA(l, Var) || ((Var *)l)->varno != (int)baserel->relid) return NIL;
        var = (Var *)l;
        other = (Expr *)lsecond(sa->args);
        char *opname = get_opname(sa->opno);
        if (!opname) return NIL;
        if (sa->useOr && strcmp(opname, "=") == 0) op = kOpIn;
        else if (!sa->useOr && strcmp(opname, "<>") == 0) op = kOpNotIn;
        else return NIL;
    } else {
        return NIL;
    }
    if (op < 0 || var->varlevelsup != 0) return NIL;
    const ColumnDef *col = ColumnByAttnum(ps->table, var->varattno);
    if (!col) return NIL;
    int target;
    if (col->role == ColumnRole::Partition && IsIntType(col->type)) target = kTargetPartition;
    else if (ps->table->group) return NIL;  // group tables read from the group's position: partitions only
    else if (col->role == ColumnRole::Offset && IsIntType(col->type)) target = kTargetOffset;
    else if (col->role == ColumnRole::Timestamp && IsTimestampType(col->type)) target = kTargetTimestamp;
    else return NIL;
    if (contain_var_clause((Node *)other) || contain_volatile_functions((Node *)other)) return NIL;
    Oid otype = exprType((Node *)other);
    if (op == kOpIn || op == kOpNotIn) otype = get_element_type(otype);
    if (target == kTargetTimestamp) {
        if (otype != TIMESTAMPTZOID) return NIL;  // timestamp/date need a time zone: not pushed
        if (op != kOpGe && op != kOpGt && op != kOpEq) return NIL;  // only lower bounds are exact
    } else if (!IsIntType(otype)) {
        return NIL;
    }
    List *atom = list_make4(makeInteger(kNodeAtom), makeInteger(target), makeInteger(op),
                            makeInteger(list_length(ps->exprs)));
    ps->exprs = lappend(ps->exprs, other);
    return atom;
}

// The condition tree of a clause (AND/OR of atoms), or NIL if it narrows
// nothing.  Expressions of a failed OR are taken back out of ps->exprs.
List *CondTreeOf(KafkaPlanInfo *ps, RelOptInfo *baserel, Expr *clause) {
    if (is_andclause(clause) || is_orclause(clause)) {
        bool is_or = is_orclause(clause);
        int nexprs = list_length(ps->exprs);
        List *kids = NIL;
        ListCell *lc;
        foreach (lc, ((BoolExpr *)clause)->args) {
            List *kid = CondTreeOf(ps, baserel, (Expr *)lfirst(lc));
            if (kid) {
                kids = lappend(kids, kid);
            } else if (is_or) {
                // an arm that narrows nothing: neither does the OR
                ps->exprs = list_truncate(ps->exprs, nexprs);
                return NIL;
            }
        }
        if (kids == NIL) return NIL;
        if (list_length(kids) == 1) return (List *)linitial(kids);
        return lcons(makeInteger(is_or ? kNodeOr : kNodeAnd), kids);
    }
    return AtomOf(ps, baserel, clause);
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
        List *tree = CondTreeOf(ps, baserel, ri->clause);
        if (!tree) continue;
        ps->conds = lappend(ps->conds, tree);
        ps->cond_clauses = lappend(ps->cond_clauses, ri->clause);
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
        (Path *)kafka_fdw::pg::CreateForeignScanPath(root, baserel, NULL, rows, startup, total, NIL, required_outer, NULL, NIL);
    add_path(baserel, path);
    if (baserel->consider_parallel && max_parallel_workers_per_gather > 0 && bms_is_empty(required_outer)) {
        // Partitions are spread over the workers: each reads a share.
        int workers = Max(1, Min(max_parallel_workers_per_gather, 4));
        double share = workers + (parallel_leader_participation ? 1.0 : 0.0);
        Path *ppath = (Path *)kafka_fdw::pg::CreateForeignScanPath(root, baserel, NULL, clamp_row_est(rows / share), startup,
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
        cond_text = kafka_fdw::pg::DeparseForExplain((Node *)e, ctx);
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

// Shared state of a parallel scan: the ranges, handed out one partition (all
// its ranges) at a time.  Their number is known only once the leader has
// computed them, after the DSM was sized: they live in the query's DSA area.
struct ParallelShared {
    slock_t mutex;
    int64 nranges;  // computed by the leader before workers start
    int64 next;
    dsa_pointer ranges;  // kafka::PartitionRange[nranges]; invalid without a DSA area (no workers)
};

// C++ state of one scan, owned by the scan's memory context.
struct ScanRuntime {
    std::unique_ptr<kafka::RangeConsumer> consumer;
    std::unique_ptr<format::JsonObjectReader> json;
    std::unique_ptr<format::CsvReader> csv;
    std::vector<kafka::PartitionRange> ranges;
    std::vector<kafka::Watermarks> watermarks;  // parallel to ranges
    // A serial scan's consumers, one after the other: each reads at most
    // one segment (below) of every partition.
    std::vector<std::vector<kafka::PartitionRange>> rounds;
    size_t next_round = 0;
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
    dsa_area *area;  // the query's DSA area (NULL: no workers, the leader alone)
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

// C++ zone: turns the conditions and the watermarks into ranges, sorted by
// partition and offset (a partition may have several).  A group scan has
// one range per partition it reads (the group's position moves its start).
void ComputeRangesCpp(ScanState *s, const CondValues *cv) {
    kafka::Client &meta = MetadataClient(s->spec);
    const char *topic = s->table->topic;
    int nparts = kafka::PartitionCount(meta, topic, pg::g_timeout_ms);
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
            std::vector<int64_t> offs = kafka::OffsetsForTime(meta, topic, parts, ms, pg::g_timeout_ms);
            for (size_t i = 0; i < parts.size(); i++) starts[{ms, parts[i]}] = offs[i];
        }
        sets = EvalNode(cv, 0, nparts, &starts);
    }
    s->rt->ranges.clear();
    s->rt->watermarks.clear();
    for (int32_t p : parts) {
        if (sets[p].empty()) continue;
        kafka::Watermarks w = kafka::QueryWatermarks(meta, topic, p, pg::g_timeout_ms);
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

// The ranges of a parallel scan: in the DSA area, or (leader without
// workers) the leader's own.
const kafka::PartitionRange *SharedRanges(ScanState *s) {
    if (s->area && DsaPointerIsValid(s->shared->ranges))
        return (const kafka::PartitionRange *)dsa_get_address(s->area, s->shared->ranges);
    return s->parallel_worker ? nullptr : s->rt->ranges.data();
}

// One consumer reads the ranges of a partition in offset order and drops
// the messages between them; a gap larger than this many offsets is cheaper
// to skip with a new consumer (its set-up costs about as much as reading
// ~100k small messages).  A segment: ranges of one partition, consecutive in
// the sorted list, with no larger gap.
constexpr int64 kMaxGapRead = 100000;

bool SameSegment(const kafka::PartitionRange &prev, const kafka::PartitionRange &next) {
    return next.partition == prev.partition && next.start - prev.end <= kMaxGapRead;
}

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

// Claims the next segment of a parallel scan: ranges [*first, *first + *count)
// (Postgres zone).  The segment's end is found outside the spinlock (the
// ranges do not change once published); the claim holds if no other
// process moved `next` meanwhile.
bool ClaimRanges(ScanState *s, const kafka::PartitionRange *base, int64 *first, int64 *count) {
    ParallelShared *sh = s->shared;
    for (;;) {
        SpinLockAcquire(&sh->mutex);
        int64 i = sh->next, n = sh->nranges;
        SpinLockRelease(&sh->mutex);
        if (i >= n) return false;
        int64 j = i + 1;
        while (j < n && SameSegment(base[j - 1], base[j])) j++;
        SpinLockAcquire(&sh->mutex);
        bool won = sh->next == i;
        if (won) sh->next = j;
        SpinLockRelease(&sh->mutex);
        if (won) {
            *first = i;
            *count = j - i;
            return true;
        }
    }
}

}  // namespace

namespace {
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
            wanted[nwanted++] = pg::ServerToUtf8(c->json_name);  // as in messages
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
            wanted[nwanted++] = pg::ServerToUtf8(c->json_name);  // as in messages
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
    Oid userid = kafka_fdw::pg::ScanUserId(plan, node->ss.ps.state);
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
        bool live = o.scan && o.lxid == kafka_fdw::pg::MyLxid();
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
    free_slot->lxid = kafka_fdw::pg::MyLxid();
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
    KFDW_ENTRY({
        PlanRoundsCpp(s->rt);
        StartConsumerCpp(s, s->rt->rounds.empty() ? std::vector<kafka::PartitionRange>() : s->rt->rounds[0]);
        s->rt->next_round = 1;
    });
}

// Publishes the leader's ranges for a parallel scan, all of them (the DSA
// area grows as needed).
void PublishRanges(ForeignScanState *node, ParallelShared *sh) {
    ScanState *s = (ScanState *)node->fdw_state;
    ComputeRanges(node);
    int64 n = (int64)s->rt->ranges.size();
    if (s->area) {
        if (DsaPointerIsValid(sh->ranges)) dsa_free(s->area, sh->ranges);
        Size bytes = sizeof(kafka::PartitionRange) * (Size)Max(n, 1);
        sh->ranges = dsa_allocate_extended(s->area, bytes, DSA_ALLOC_HUGE);
        if (n > 0) memcpy(dsa_get_address(s->area, sh->ranges), s->rt->ranges.data(), sizeof(kafka::PartitionRange) * n);
    } else {
        sh->ranges = InvalidDsaPointer;
    }
    SpinLockAcquire(&sh->mutex);
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

// The conversion itself: errors are raised, except that with SOFT_ERROR
// set an input function's soft error (PostgreSQL 16+: bad text, a domain's
// CHECK) returns with its message there.
Datum ConvertUnprotected(ScanState *s, int col, const char *str, size_t len, int how, bool *isnull,
                         const char **soft_error = nullptr) {
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
    if (soft_error == nullptr) return InputFunctionCall(&s->in_funcs[col], (char *)str, s->ioparams[col], c->typmod);
    Datum d = (Datum)0;
    if (!pg::InputValueSoft(&s->in_funcs[col], (char *)str, s->ioparams[col], c->typmod, &d, soft_error)) {
        *isnull = true;
        return (Datum)0;
    }
    return d;
}

// Errors that make a value bad in non-strict mode.  Code that is not
// PostgreSQL's own (a domain's CHECK function, an extension's type): data
// exceptions (class 22) and a domain's constraints only; anything else
// from it is the statement's error.  Built-in input functions reject bad
// text with other classes too (array_in: 54000, jsonpath: 42601, regclass:
// 42P01, ...), so for them every error is the value's, except a cancel or
// shutdown (57), lack of resources (53), stack depth (54001), system (58)
// and internal (XX) errors.
bool IsDataError(int sqlerrcode, bool user_code) {
    int cat = ERRCODE_TO_CATEGORY(sqlerrcode);
    if (user_code)
        return cat == ERRCODE_DATA_EXCEPTION || sqlerrcode == ERRCODE_CHECK_VIOLATION ||
               sqlerrcode == ERRCODE_NOT_NULL_VIOLATION;
    return cat != ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION) &&
           cat != ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES) && sqlerrcode != ERRCODE_STATEMENT_TOO_COMPLEX &&
           cat != ERRCODE_TO_CATEGORY(ERRCODE_SYSTEM_ERROR) && cat != ERRCODE_TO_CATEGORY(ERRCODE_INTERNAL_ERROR);
}

// Converts text to a column value.  In non-strict mode a data error becomes
// NULL and is recorded for junk_error.  Conversions that can run code other
// than built-in input functions (domains, composites, extensions' types)
// run in a subtransaction then, so that whatever that code did is undone
// (its SPI calls, references, locks); outside parallel mode only (the
// planner keeps such statements out of it, see NeedsSubtransactions).
// On PostgreSQL 16+ an input function's soft errors (pg::InputValueSoft)
// are bad values without an exception, also inside a parallel worker.
Datum InputValue(ScanState *s, int col, const char *str, bool *isnull, size_t len = 0, int how = kConvertInput) {
    ColumnDef *c = &s->table->columns[col];
    *isnull = false;
    s->cur_column = c->name;
    const char *soft_error = nullptr;
    if (s->table->strict || (s->user_code[col] && IsInParallelMode())) {
        Datum d = ConvertUnprotected(s, col, str, len, how, isnull, s->table->strict ? nullptr : &soft_error);
        s->cur_column = nullptr;
        if (soft_error != nullptr) MarkBad(s, psprintf("column \"%s\": %s", c->name, soft_error));
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
        result = ConvertUnprotected(s, col, str, len, how, &null_result, &soft_error);
        if (subxact) {
            // a rejected value (a domain's CHECK, 16+): what its code did is
            // undone, as for an error (the message lives in CXT)
            if (soft_error != nullptr) RollbackAndReleaseCurrentSubTransaction();
            else ReleaseCurrentSubTransaction();
            MemoryContextSwitchTo(cxt);
            CurrentResourceOwner = owner;
        }
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        ErrorData *ed = CopyErrorData();
        if (!subxact && !IsDataError(ed->sqlerrcode, false)) PG_RE_THROW();
        FlushErrorState();
        if (subxact) {
            RollbackAndReleaseCurrentSubTransaction();
            MemoryContextSwitchTo(cxt);
            CurrentResourceOwner = owner;
            if (!IsDataError(ed->sqlerrcode, true)) ReThrowError(ed);
        }
        MarkBad(s, psprintf("column \"%s\": %s", c->name, ed->message));
        failed = true;
    }
    PG_END_TRY();
    s->cur_column = nullptr;
    if (!failed && soft_error != nullptr) {
        MarkBad(s, psprintf("column \"%s\": %s", c->name, soft_error));
        failed = true;
    }
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
                if (isnull && c->type == BYTEAOID) {
                    values[idx] = BytesValue(s, i, payload, plen, &isnull);
                    nulls[idx] = isnull;
                } else if (isnull) {
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

static Size kafkaEstimateDSMForeignScan(ForeignScanState *, ParallelContext *) { return sizeof(ParallelShared); }

static void kafkaInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *, void *coordinate) {
    ScanState *s = (ScanState *)node->fdw_state;
    ParallelShared *sh = (ParallelShared *)coordinate;
    SpinLockInit(&sh->mutex);
    sh->ranges = InvalidDsaPointer;
    s->shared = sh;
    // Set while the executor initializes parallel nodes; the area itself
    // lives until the Gather ends.
    s->area = node->ss.ps.state->es_query_dsa;
    PublishRanges(node, sh);
}

static void kafkaReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *, void *coordinate) {
    ScanState *s = (ScanState *)node->fdw_state;
    ParallelShared *sh = (ParallelShared *)coordinate;
    s->started = false;
    s->finished = false;
    s->returned = 0;
    KFDW_ENTRY({ s->rt->consumer.reset(); });
    s->area = node->ss.ps.state->es_query_dsa;
    PublishRanges(node, sh);
}

static void kafkaInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *, void *coordinate) {
    ScanState *s = (ScanState *)node->fdw_state;
    s->shared = (ParallelShared *)coordinate;
    s->area = node->ss.ps.state->es_query_dsa;
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
