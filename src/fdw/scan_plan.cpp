// Planning a scan of a topic: pushdown of partition/offset/timestamp
// conditions (condition trees in fdw_private, whose layout is in
// scan_internal.hpp) and of a LIMIT, estimates from the watermarks, paths
// (parallel ones too), and whether the statement may run in parallel mode.
//
// Zones: functions named *Cpp run C++ code and are called only inside
// KFDW_ENTRY; everything else here is Postgres zone and keeps no C++ object
// with a destructor on its stack frames.
#include "kafka/metadata.hpp"

#include "fdw/scan_internal.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "rewrite/rewriteManip.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
}

#include <map>
#include <string>
#include <vector>

namespace kafka_fdw::fdw {

namespace {

struct KafkaPlanInfo {
    TableDef *table;
    List *conds;  // condition trees
    List *exprs;  // right-hand expressions
    List *cond_clauses;  // the original clauses (for EXPLAIN text)
    int64 limit;
    int marks_ticket;  // the estimate's watermarks (kPrivMarks)
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
// The planner's watermarks, handed to the start of the same statement's scan,
// so that planning and executing a query cost one ListOffsets round, not two.
//
// A scan reads up to the high watermarks taken when it starts; the planner's
// stand in for them only when no difference can be seen from this backend:
// the same transaction, and nothing executed or produced here between the
// planning and the scan's start but the statement's own ExecutorStart and
// ExecutorRun.  The executor epoch (fdw/xact.hpp) counts exactly that: the
// ticket is made at epoch E and taken only at E + 2.  So a statement planned
// together with earlier ones that run first (an SQL function's body up to
// PostgreSQL 17), a generic plan run in a later call or statement
// (PREPARE/EXECUTE, PL/pgSQL), EXPLAIN EXECUTE then EXECUTE, a cursor
// (DECLARE then FETCH: two utility statements), a scan that starts after a
// write of its own statement (kafka.produce, INSERT into a topic:
// CachedProducer bumps the epoch) or after a function that ran SQL, and
// every rescan take their own.  Messages that other sessions acknowledge
// between the planning and the start of the same statement are not read,
// as if the scan had started when the statement was planned (a statement
// does not see rows other sessions commit after its snapshot either).
// The extended query protocol plans at Bind and runs at Execute, two client
// messages: Bind also starts the executor (PortalStart) and takes the
// portal's snapshot, and anything executed before the Execute (another
// portal's Bind or Execute, a simple query, a fast-path call that runs SQL
// or produces) moves the epoch; so the portal's scan reads up to the
// watermarks of its Bind, as it reads the snapshot of its Bind.  Likewise a
// PL/pgSQL cursor fetched with nothing but PL/pgSQL expressions run since it
// was opened reads up to the watermarks of its opening.  A ticket is named
// in fdw_private (kPrivMarks) and taken once.
struct PlannedMarks {
    LocalTransactionId lxid;
    uint64 epoch;
    Oid serverid;
    Oid userid;
    std::string topic;
    std::string isolation_level;
    std::vector<kafka::Watermarks> wm;
};
// backend lifetime, never destroyed (no destructor runs at exit)
std::map<int, PlannedMarks> *g_planned = nullptr;
int g_next_ticket = 0;
// tickets planned but never started (EXPLAIN, a path not taken, a planning
// that failed) go when the epoch has moved past them; never more than this
// many (a partitioned table of many foreign tables): the oldest go first
constexpr size_t kMaxPlanned = 1024;

void DropDeadTickets() {
    uint64 now = ExecutorEpoch();
    for (auto it = g_planned->begin(); it != g_planned->end();)
        it = it->second.epoch + 2 < now ? g_planned->erase(it) : std::next(it);
}

int StashPlannedWatermarks(const ClientSpec *spec, const TableDef *t, std::vector<kafka::Watermarks> &&wm) {
    if (!g_planned) g_planned = new std::map<int, PlannedMarks>();
    DropDeadTickets();
    while (g_planned->size() >= kMaxPlanned) g_planned->erase(g_planned->begin());
    if (++g_next_ticket <= 0) g_next_ticket = 1;
    // (MyLxid reads a variable: it cannot fail)
    PlannedMarks m{pg::MyLxid(), ExecutorEpoch(), spec->serverid,
                   spec->userid, t->topic, t->isolation_level, std::move(wm)};
    (*g_planned)[g_next_ticket] = std::move(m);
    return g_next_ticket;
}

// Estimates from the watermarks (C++ zone; one ListOffsets round for all
// partitions), which are kept for the scan (*ticket, 0 if none).  Planning
// must not fail because the broker is slow: on any error the estimate falls
// back to a default.
double EstimateRowsCpp(const ClientSpec *spec, const TableDef *t, int timeout_ms, int *ticket) {
    *ticket = 0;
    try {
        kafka::Client &c = MetadataClient(spec);
        std::vector<kafka::Watermarks> wm = kafka::TopicWatermarks(c, t->topic, timeout_ms);
        double rows = 0;
        for (const auto &w : wm) rows += static_cast<double>(w.high - w.low);
        *ticket = StashPlannedWatermarks(spec, t, std::move(wm));
        return rows;
    } catch (const kafka::Interrupted &) {
        throw;
    } catch (...) {
        return -1;
    }
}

}  // namespace


bool TakePlannedWatermarks(int ticket, const ClientSpec *spec, const char *topic, const char *isolation_level,
                           std::vector<kafka::Watermarks> *out) {
    if (ticket <= 0 || !g_planned) return false;
    auto it = g_planned->find(ticket);
    if (it == g_planned->end()) return false;
    PlannedMarks m = std::move(it->second);
    g_planned->erase(it);
    DropDeadTickets();
    if (m.lxid != pg::MyLxid() || m.epoch + 2 != ExecutorEpoch() || m.serverid != spec->serverid ||
        m.userid != spec->userid || m.topic != topic || m.isolation_level != isolation_level)
        return false;
    *out = std::move(m.wm);
    return true;
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

// ---------------------------------------------------------------------------
// Planning callbacks.

void kafkaGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid) {
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
    KFDW_ENTRY({ rows = EstimateRowsCpp(spec, ps->table, timeout, &ps->marks_ticket); });
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

void kafkaGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid) {
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

ForeignScan *kafkaGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid, ForeignPath *best_path,
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
    List *priv = list_make5(ps->conds, needed, makeInteger((int)Min(ps->limit, (int64)INT_MAX)),
                            makeString(cond_text), makeInteger(ps->marks_ticket));
    return make_foreignscan(tlist, scan_clauses, baserel->relid, ps->exprs, priv, NIL, NIL, outer_plan);
}

}  // namespace kafka_fdw::fdw
