// SELECT from a topic: planning (pushdown of partition/offset/timestamp
// conditions and LIMIT, estimates from the watermarks), execution (exact
// ranges read by a RangeConsumer owned by the scan's memory context), tuple
// building (metadata columns and the value decoded by the table's format),
// EXPLAIN, and parallel scans (partitions handed out to workers).
//
// This file is the table of the scan's callbacks; the code is in one file
// per phase, sharing src/fdw/scan_internal.hpp:
//   scan_plan.cpp      planning: pushdown, estimates, paths, fdw_private
//   scan_ranges.cpp    the pushed conditions and the watermarks into ranges
//   scan_exec.cpp      Begin, Iterate, ReScan, End; consumers and rounds
//   scan_decode.cpp    messages into tuples (metadata columns, formats, junk)
//   scan_convert.cpp   text into column values (strict and non-strict)
//   scan_group.cpp     consumer group positions of group tables
//   scan_parallel.cpp  parallel coordination (DSM, claims of ranges)
//   scan_explain.cpp   EXPLAIN
//   scan_analyze.cpp   ANALYZE
#include "fdw/scan_internal.hpp"
#include "fdw/handler.hpp"

namespace kafka_fdw::fdw {

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
