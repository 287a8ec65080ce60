// See worker.hpp.  Postgres zone.
#include "pg/worker.hpp"

extern "C" {
#include "executor/spi.h"
#include "postmaster/interrupt.h"
#include "utils/snapmgr.h"
}

namespace kafka_fdw::pg {

void ReloadConfigIfPending() {
    if (!ConfigReloadPending) return;
    ConfigReloadPending = false;
    ProcessConfigFile(PGC_SIGHUP);
}

int Backoff(int *failures, int max_failures, int cap_ms) {
    *failures = Min(*failures + 1, max_failures);
    int64 delay = 1000;
    for (int i = 1; i < *failures && delay < cap_ms; i++) delay *= 2;
    return (int)Min(delay, (int64)cap_ms);
}

void BeginWorkerXact(int flags) {
    SetCurrentStatementStartTimestamp();  // now() of this transaction
    StartTransactionCommand();
    if (flags & (kXactSnapshot | kXactSpi)) PushActiveSnapshot(GetTransactionSnapshot());
    if ((flags & kXactSpi) && SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
}

void EndWorkerXact(int flags) {
    if (flags & kXactSpi) SPI_finish();
    if (flags & (kXactSnapshot | kXactSpi)) PopActiveSnapshot();
    CommitTransactionCommand();
}

}  // namespace kafka_fdw::pg
