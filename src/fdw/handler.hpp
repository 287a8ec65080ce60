#pragma once
#include "pg/postgres.hpp"

namespace kafka_fdw::fdw {
void FillScanRoutine(FdwRoutine *routine);
void FillModifyRoutine(FdwRoutine *routine);
void FillImportRoutine(FdwRoutine *routine);
}  // namespace kafka_fdw::fdw
