#include "fdw/handler.hpp"
namespace kafka_fdw::fdw {
void FillScanRoutine(FdwRoutine *) {}
}
