// What the files of a foreign-table scan (src/fdw/scan*.cpp) share: the
// fdw_private layout and the condition trees the planner hands to the
// executor, the state of one scan, and the functions one phase calls in
// another.  Private to those files.
#pragma once

#include "format/row_decoder.hpp"
#include "kafka/consumer.hpp"
#include "kafka/metadata.hpp"

#include "fdw/connection.hpp"
#include "fdw/options.hpp"
#include "pg/postgres.hpp"

extern "C" {
#include "utils/dsa.h"
}

#include <memory>
#include <string>
#include <vector>

// Nothing declared here is part of the library's interface: hidden also
// where PGXS does not compile with -fvisibility=hidden (PostgreSQL 15), so
// that the functions below, which were file-local before the scan was split
// by phase, are not exported.
#pragma GCC visibility push(hidden)

namespace kafka_fdw::fdw {

// ---------------------------------------------------------------------------
// Pushdown descriptors.  fdw_private of the ForeignScan is a List:
enum ScanPrivateIndex {
    kPrivConds = 0,   // List of condition trees (below), all of which must hold
    kPrivNeeded,      // IntList of attnums the query reads
    kPrivLimit,       // Integer: rows to fetch at most (-1: no limit)
    kPrivCondText,    // String: the pushed conditions, for EXPLAIN
    kPrivMarks,       // Integer: ticket of the planner's watermarks (0: none; scan_plan.cpp)
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

// ---------------------------------------------------------------------------
// The state of one scan.

// Shared state of a parallel scan (scan_parallel.cpp).
struct ParallelShared;

// C++ state of one scan, owned by the scan's memory context.
struct ScanRuntime {
    std::unique_ptr<kafka::RangeConsumer> consumer;
    std::unique_ptr<format::RowDecoder> decoder;  // the payload columns the scan reads (scan_decode.cpp)
    std::vector<kafka::PartitionRange> ranges;
    std::vector<kafka::Watermarks> watermarks;  // parallel to ranges
    // A serial scan's rounds, read one after the other by its consumer:
    // each holds at most one segment (below) of every partition.
    std::vector<std::vector<kafka::PartitionRange>> rounds;
    size_t next_round = 0;
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
    int *payload_map;   // table column index -> the decoder's column (-1: not decoded)
    bool *user_code;    // the conversion may run code other than built-in input functions
    FmgrInfo **populate;  // json_populate_record for composite columns of JSON tables
    void **domain_extra;  // domain_check's cache, per column
    int64 limit;
    int64 returned;
    bool started;
    bool finished;
    int marks_ticket;  // kPrivMarks, until the first start claims it (once)
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

// ---------------------------------------------------------------------------
// What one phase calls in another, by the file that defines it.

// scan_plan.cpp: planning.
bool InputRunsUserCode(Oid type);
bool NeedsSubtransactions(const TableDef *t);
void kafkaGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid);
void kafkaGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid);
ForeignScan *kafkaGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid, ForeignPath *best_path, List *tlist,
                                 List *scan_clauses, Plan *outer_plan);

// scan_plan.cpp, C++ zone: the planner's watermarks handed to the start of
// the same statement's scan.  The ticket's watermarks into *out, and the
// ticket is gone; false (and nothing) unless the ticket is this server's,
// user's, topic's and isolation level's, of the same client message, and
// nothing was executed or produced in this backend since it was made but
// the statement's own ExecutorStart and ExecutorRun.
bool TakePlannedWatermarks(int ticket, const ClientSpec *spec, const char *topic, const char *isolation_level,
                           std::vector<kafka::Watermarks> *out);

// scan_ranges.cpp: the pushed conditions and the watermarks into ranges.
struct CondValues;
CondValues *EvalConditions(ScanState *s, ExprContext *econtext);
void ComputeRangesCpp(ScanState *s, const CondValues *cv);

// scan_exec.cpp: execution.
void StartConsumerCpp(ScanState *s, const std::vector<kafka::PartitionRange> &ranges);
bool SameSegment(const kafka::PartitionRange &prev, const kafka::PartitionRange &next);
void ComputeRanges(ForeignScanState *node);
void kafkaBeginForeignScan(ForeignScanState *node, int eflags);
TupleTableSlot *kafkaIterateForeignScan(ForeignScanState *node);
void kafkaReScanForeignScan(ForeignScanState *node);
void kafkaEndForeignScan(ForeignScanState *node);

// scan_decode.cpp: messages into tuples.
void InitDecoding(ScanState *s, List *needed, bool all_columns = false);
void FillTuple(ScanState *s, const rd_kafka_message_t *m, Datum *values, bool *nulls);

// scan_convert.cpp: text into column values.
// How a column value is made from text.
enum ConvertHow : int {
    kConvertInput = 0,     // the type's input function
    kConvertFromUtf8 = 1,  // the text is UTF-8 (a message's bytes): to the database encoding first
    kConvertPopulate = 2,  // a JSON object into a composite column, as json_populate_record
};
void MarkBad(ScanState *s, const char *reason);
Datum InputValue(ScanState *s, int col, const char *str, bool *isnull, size_t len = 0, int how = kConvertInput);

// scan_group.cpp: consumer group positions.
void ApplyGroupPositions(ScanState *s);
void FlushGroupPositions(ScanState *s);
void EndGroupScan(ScanState *s);

// scan_parallel.cpp: parallel coordination.
const kafka::PartitionRange *SharedRanges(ScanState *s);
bool ClaimRanges(ScanState *s, const kafka::PartitionRange *base, int64 *first, int64 *count);
bool kafkaIsForeignScanParallelSafe(PlannerInfo *, RelOptInfo *, RangeTblEntry *rte);
Size kafkaEstimateDSMForeignScan(ForeignScanState *, ParallelContext *);
void kafkaInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *, void *coordinate);
void kafkaReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *, void *coordinate);
void kafkaInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *, void *coordinate);

// scan_explain.cpp: EXPLAIN.
char *RangesText(const std::vector<kafka::PartitionRange> &ranges);
void kafkaExplainForeignScan(ForeignScanState *node, ExplainState *es);

// scan_analyze.cpp: ANALYZE.
bool kafkaAnalyzeForeignTable(Relation, AcquireSampleRowsFunc *func, BlockNumber *totalpages);

}  // namespace kafka_fdw::fdw

#pragma GCC visibility pop
