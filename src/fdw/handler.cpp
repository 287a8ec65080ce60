// The FDW handler: which callback does what.  Scans live in scan.cpp,
// modifications in modify.cpp.
#include "fdw/connection.hpp"
#include "fdw/handler.hpp"
#include "pg/bridge.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(kafka_fdw_handler);
Datum kafka_fdw_handler(PG_FUNCTION_ARGS);
}

Datum kafka_fdw_handler(PG_FUNCTION_ARGS) {
    (void)fcinfo;
    FdwRoutine *routine = makeNode(FdwRoutine);
    kafka_fdw::fdw::FillScanRoutine(routine);
    kafka_fdw::fdw::FillModifyRoutine(routine);
    kafka_fdw::fdw::FillImportRoutine(routine);
    PG_RETURN_POINTER(routine);
}
