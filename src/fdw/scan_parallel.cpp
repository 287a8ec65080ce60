// Parallel scans: the leader computes every range once and publishes them
// in the query's DSA area; each process claims one segment (ranges of a
// partition without a large gap) at a time, and reads it with its one
// consumer, restarted on each claim.  Group scans and scans that convert
// values in subtransactions are not parallel safe.
#include "kafka/consumer.hpp"

#include "fdw/scan_internal.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "access/parallel.h"
#include "port/atomics.h"
#include "storage/spin.h"
#include "utils/dsa.h"
}

namespace kafka_fdw::fdw {

// Shared state of a parallel scan: the ranges, handed out one partition (all
// its ranges) at a time.  Their number is known only once the leader has
// computed them, after the DSM was sized: they live in the query's DSA area.
struct ParallelShared {
    slock_t mutex;
    int64 nranges;  // computed by the leader before workers start
    int64 next;
    dsa_pointer ranges;  // kafka::PartitionRange[nranges]; invalid without a DSA area (no workers)
};

// The ranges of a parallel scan: in the DSA area, or (leader without
// workers) the leader's own.
const kafka::PartitionRange *SharedRanges(ScanState *s) {
    if (s->area && DsaPointerIsValid(s->shared->ranges))
        return (const kafka::PartitionRange *)dsa_get_address(s->area, s->shared->ranges);
    return s->parallel_worker ? nullptr : s->rt->ranges.data();
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

namespace {

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

}  // namespace

// --- parallel scans ---------------------------------------------------------

// Group scans run in the leader only: their positions live in its transaction.
bool kafkaIsForeignScanParallelSafe(PlannerInfo *, RelOptInfo *, RangeTblEntry *rte) {
    const TableDef *t = GetTableDef(rte->relid);
    return t->group == nullptr && !NeedsSubtransactions(t);
}

Size kafkaEstimateDSMForeignScan(ForeignScanState *, ParallelContext *) { return sizeof(ParallelShared); }

void kafkaInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *, void *coordinate) {
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

void kafkaReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *, void *coordinate) {
    ScanState *s = (ScanState *)node->fdw_state;
    ParallelShared *sh = (ParallelShared *)coordinate;
    s->started = false;
    s->finished = false;
    s->returned = 0;
    // kept for the claims of the new round (StartConsumerCpp)
    if (s->rt->consumer) KFDW_ENTRY({ s->rt->consumer->Stop(); });
    s->area = node->ss.ps.state->es_query_dsa;
    PublishRanges(node, sh);
}

void kafkaInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *, void *coordinate) {
    ScanState *s = (ScanState *)node->fdw_state;
    s->shared = (ParallelShared *)coordinate;
    s->area = node->ss.ps.state->es_query_dsa;
    s->parallel_worker = true;
}

}  // namespace kafka_fdw::fdw
