// The FDW handler: which callback does what.  Scans live in scan*.cpp (the
// table of callbacks in scan.cpp, one file per phase), modifications in
// modify.cpp and modify_encode.cpp, IMPORT FOREIGN SCHEMA in import.cpp.
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
