// The one place where PostgreSQL majors differ (15, 16, 17, 18).  Included by
// src/pg/postgres.hpp after the server's headers, so every glue file sees it.
// Each entry keeps the call sites written once, in PostgreSQL 15's terms or as
// a small function of ours; the #if blocks stay here and nowhere else.
//
//   version    what changed                                   what we use
//   16         pg_foreign_server_aclcheck, pg_database_aclcheck
//              -> object_aclcheck                             the old names, as macros
//   16         pg_publication_ownercheck -> object_ownercheck the old name, as a macro
//   16         PGXS compiles with -fvisibility=hidden         PGDLLEXPORT on entry points
//   16         soft input errors (InputFunctionCallSafe)      InputValueSoft
//   16         RangeTblEntry.checkAsUser -> RTEPermissionInfo ScanUserId, ResultRelUserId
//   17         MyBackendId -> MyProcNumber                    MyBackendId, as a macro
//   17         PGPROC.pgprocno -> GetNumberFromPGProc         MyProcNo
//   17         PGPROC.lxid -> PGPROC.vxid.lxid                MyLxid
//   17         PGXS adds -Wshadow=compatible-local;
//              storage/bufmgr.h has an unused parameter        included here, silenced
//   17         ReplicationSlotCreate(failover, synced)        CreateReplicationSlot, kFailoverSlots
//   17         synchronized_standby_slots holds failover slots
//              back (walsender, pg_logical_slot_get_changes)  StandbysConfirmed
//   17         create_foreignscan_path(fdw_restrictinfo)      CreateForeignScanPath
//   17         deparse_expression crashes on a PARAM_EXEC Param
//              without a plan in its context (it looks for the
//              initplan that sets it)                         DeparseForExplain
//   18         create_foreignscan_path(disabled_nodes)        CreateForeignScanPath
//   18         ReplicationSlotAcquire(error_if_invalid)       AcquireReplicationSlot
//   18         vacuum_delay_point(is_analyze)                 AnalyzeDelayPoint
//   18         ExplainState in commands/explain_state.h,
//              ExplainProperty* in commands/explain_format.h  included here
//   18         ExecutorRun_hook loses execute_once            KFDW_EXECUTOR_RUN_PARAMS/_ARGS
#pragma once

#if PG_VERSION_NUM < 150000
#error "kafka_fdw needs PostgreSQL 15 or later"
#endif

extern "C" {
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/pathnode.h"
#include "replication/slot.h"
#include "storage/bufmgr.h"  // (17's has an unused parameter: included here, silenced)
#include "storage/proc.h"
#include "utils/ruleutils.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_database.h"
#include "catalog/pg_publication.h"
#include "nodes/miscnodes.h"
#endif
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
}

#if PG_VERSION_NUM >= 160000
#define pg_foreign_server_aclcheck(server, role, mode) object_aclcheck(ForeignServerRelationId, (server), (role), (mode))
#define pg_database_aclcheck(db, role, mode) object_aclcheck(DatabaseRelationId, (db), (role), (mode))
#define pg_publication_ownercheck(pub, role) object_ownercheck(PublicationRelationId, (pub), (role))
#endif

#if PG_VERSION_NUM >= 170000
// The number that identifies this backend among the running ones.
#define MyBackendId MyProcNumber
#endif

// A hook on ExecutorRun is declared with KFDW_EXECUTOR_RUN_PARAMS and passes
// them on with KFDW_EXECUTOR_RUN_ARGS (18 dropped execute_once).
#if PG_VERSION_NUM >= 180000
#define KFDW_EXECUTOR_RUN_PARAMS QueryDesc *query_desc, ScanDirection direction, uint64 count
#define KFDW_EXECUTOR_RUN_ARGS query_desc, direction, count
#else
#define KFDW_EXECUTOR_RUN_PARAMS QueryDesc *query_desc, ScanDirection direction, uint64 count, bool execute_once
#define KFDW_EXECUTOR_RUN_ARGS query_desc, direction, count, execute_once
#endif

namespace kafka_fdw::pg {

// This backend's local transaction id (17 moved it into PGPROC.vxid).
inline LocalTransactionId MyLxid() {
#if PG_VERSION_NUM >= 170000
    return MyProc->vxid.lxid;
#else
    return MyProc->lxid;
#endif
}

// This process's index in ProcGlobal->allProcs.
inline int MyProcNo() {
#if PG_VERSION_NUM >= 170000
    return MyProcNumber;
#else
    return MyProc->pgprocno;
#endif
}

// Whether pgoutput sends generated columns (18+: stored ones the publication
// publishes).
constexpr bool kPgoutputSendsGenerated = PG_VERSION_NUM >= 180000;

// Whether logical slots can be failover slots, synchronized to standbys (17+).
constexpr bool kFailoverSlots = PG_VERSION_NUM >= 170000;

// A slot that is not a synchronized copy; FAILOVER (17+ only, see
// kFailoverSlots) makes it one that standbys synchronize.
inline void CreateReplicationSlot(const char *name, bool db_specific, ReplicationSlotPersistency persistency,
                                  bool two_phase, bool failover = false) {
#if PG_VERSION_NUM >= 170000
    ReplicationSlotCreate(name, db_specific, persistency, two_phase, failover, false);
#else
    (void)failover;
    ReplicationSlotCreate(name, db_specific, persistency, two_phase);
#endif
}

// Acquire an existing slot; an invalidated one is acquired too (the caller
// reports it in its own words), as before 18.
inline void AcquireReplicationSlot(const char *name, bool nowait) {
#if PG_VERSION_NUM >= 180000
    ReplicationSlotAcquire(name, nowait, false);
#else
    ReplicationSlotAcquire(name, nowait);
#endif
}

// A slot started anew: 18 keeps the restart_lsn last written to disk
// apart (for the WAL it holds until the next save; ReplicationSlotReserveWal
// asserts it is unset).  Under the slot's mutex.
inline void ClearLastSavedRestartLsn(ReplicationSlot *slot) {
#if PG_VERSION_NUM >= 180000
    slot->last_saved_restart_lsn = InvalidXLogRecPtr;
#else
    (void)slot;
#endif
}

// Whether the acquired slot was invalidated (WAL removed, or on 16+ a
// conflict with recovery; 18: idle timeout too): it can no longer decode.
inline bool AcquiredSlotInvalidated() {
#if PG_VERSION_NUM >= 160000
    return MyReplicationSlot->data.invalidated != RS_INVAL_NONE;
#else
    return !XLogRecPtrIsInvalid(MyReplicationSlot->data.invalidated_at) &&
           XLogRecPtrIsInvalid(MyReplicationSlot->data.restart_lsn);
#endif
}

// Whether input functions report bad text as a soft error (16+), which
// InputValueSoft returns instead of raising.
constexpr bool kSoftInputErrors = PG_VERSION_NUM >= 160000;

// A type's input function on STR.  16+: a soft error (bad text; a domain's
// CHECK or NOT NULL) returns false with its message in *MESSAGE (palloc'd in
// the current context), anything else is raised; 15: every error is raised.
inline bool InputValueSoft(FmgrInfo *flinfo, char *str, Oid ioparam, int32 typmod, Datum *result,
                           const char **message) {
#if PG_VERSION_NUM >= 160000
    ErrorSaveContext escontext = {T_ErrorSaveContext, false, true, nullptr};
    if (InputFunctionCallSafe(flinfo, str, ioparam, typmod, reinterpret_cast<Node *>(&escontext), result)) return true;
    *message = escontext.error_data != nullptr && escontext.error_data->message != nullptr
                   ? escontext.error_data->message
                   : "invalid input";
    return false;
#else
    (void)message;
    *result = InputFunctionCall(flinfo, str, ioparam, typmod);
    return true;
#endif
}

// Whether the standbys named by synchronized_standby_slots have confirmed
// WAL up to LSN, for the slot this process holds: 17+ and a failover slot
// only (else true).  A standby that lags or is gone is a WARNING at most
// once a minute (the caller polls).
inline bool StandbysConfirmed(XLogRecPtr lsn) {
#if PG_VERSION_NUM >= 170000
    if (MyReplicationSlot == nullptr || !MyReplicationSlot->data.failover) return true;
    static TimestampTz last_warning = 0;
    TimestampTz now = GetCurrentTimestamp();
    bool warn = TimestampDifferenceExceeds(last_warning, now, 60 * 1000);
    bool ok = StandbySlotsHaveCaughtup(lsn, warn ? WARNING : DEBUG1);
    if (!ok && warn) last_warning = now;
    return ok;
#else
    (void)lsn;
    return true;
#endif
}

// The cost-based delay point of an ANALYZE.
inline void AnalyzeDelayPoint() {
#if PG_VERSION_NUM >= 180000
    vacuum_delay_point(true);
#else
    vacuum_delay_point();
#endif
}

// create_foreignscan_path with PostgreSQL 15's arguments: no restriction
// clauses of our own (17) and no disabled nodes (18).
inline ForeignPath *CreateForeignScanPath(PlannerInfo *root, RelOptInfo *rel, PathTarget *target, double rows,
                                          Cost startup_cost, Cost total_cost, List *pathkeys, Relids required_outer,
                                          Path *fdw_outerpath, List *fdw_private) {
#if PG_VERSION_NUM >= 180000
    return create_foreignscan_path(root, rel, target, rows, 0, startup_cost, total_cost, pathkeys, required_outer,
                                   fdw_outerpath, NIL, fdw_private);
#elif PG_VERSION_NUM >= 170000
    return create_foreignscan_path(root, rel, target, rows, startup_cost, total_cost, pathkeys, required_outer,
                                   fdw_outerpath, NIL, fdw_private);
#else
    return create_foreignscan_path(root, rel, target, rows, startup_cost, total_cost, pathkeys, required_outer,
                                   fdw_outerpath, fdw_private);
#endif
}

// The user a foreign scan runs as: a view's owner for a table read through a
// view, else the current user.  16+ keeps it in the plan (the planner copies
// RelOptInfo.userid into ForeignScan.checkAsUser).
inline Oid ScanUserId(ForeignScan *plan, EState *estate) {
#if PG_VERSION_NUM >= 160000
    (void)estate;
    return OidIsValid(plan->checkAsUser) ? plan->checkAsUser : GetUserId();
#else
    RangeTblEntry *rte = exec_rt_fetch(plan->scan.scanrelid, estate);
    return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

// The user a modification runs as (a view's owner for views).
inline Oid ResultRelUserId(ResultRelInfo *rinfo, EState *estate) {
#if PG_VERSION_NUM >= 160000
    // (a partition that tuple routing opened answers for its root)
    if (rinfo->ri_RangeTableIndex == 0 && rinfo->ri_RootResultRelInfo == nullptr) return GetUserId();
    return ExecGetResultRelCheckAsUser(rinfo, estate);
#else
    if (rinfo->ri_RangeTableIndex == 0) return GetUserId();
    RangeTblEntry *rte = exec_rt_fetch(rinfo->ri_RangeTableIndex, estate);
    return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

// expression_tree_walker with a typed walker (before 16 its walker parameter
// was an unprototyped function pointer).
inline bool WalkExpression(Node *node, bool (*walker)(Node *, void *), void *context) {
#if PG_VERSION_NUM >= 160000
    return expression_tree_walker(node, walker, context);
#else
    // (through void (*)(), the generic function pointer type)
    return expression_tree_walker(node, reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(walker)), context);
#endif
}

#if PG_VERSION_NUM >= 170000
// (a walker: turns PARAM_EXEC Params into PARAM_EXTERN ones, which print the
// same "$n" and send ruleutils looking for no plan)
inline bool ExecParamsToExtern(Node *node, void *context) {
    if (node == nullptr) return false;
    if (IsA(node, Param)) {
        Param *p = reinterpret_cast<Param *>(node);
        if (p->paramkind == PARAM_EXEC) p->paramkind = PARAM_EXTERN;
        return false;
    }
    return expression_tree_walker(node, ExecParamsToExtern, context);
}
#endif

// deparse_expression of a planner-time expression for EXPLAIN's text, with a
// context of deparse_context_for (no plan).  EXPR is changed in place on 17+:
// pass a copy.
inline char *DeparseForExplain(Node *expr, List *context) {
#if PG_VERSION_NUM >= 170000
    ExecParamsToExtern(expr, nullptr);
#endif
    return deparse_expression(expr, context, false, false);
}

}  // namespace kafka_fdw::pg
