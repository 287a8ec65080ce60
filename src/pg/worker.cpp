// See worker.hpp.  Postgres zone.
#include "pg/worker.hpp"
#include "pg/security.hpp"

extern "C" {
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/snapmgr.h"
}

// The Makefile passes the control file's default_version.
#ifndef KAFKA_FDW_EXTVERSION
#error "KAFKA_FDW_EXTVERSION is not defined (the Makefile passes kafka_fdw.control's default_version)"
#endif

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

const char *const kLibraryVersion = KAFKA_FDW_EXTVERSION;

void WaitForExtensionVersion(const char *who, void (*waiting)(const char *why)) {
    // Plain buffers: the transaction's memory is gone after each look.
    char installed[NAMEDATALEN] = "";
    char database[NAMEDATALEN] = "";
    char why[256];
    bool warned = false;
    for (;;) {
        bool ready;
        BeginWorkerXact(0);
        {
            char *version = InstalledExtensionVersion();
            ready = version == nullptr || strcmp(version, kLibraryVersion) == 0;
            if (version) strlcpy(installed, version, sizeof installed);
            if (!database[0]) {
                char *name = get_database_name(MyDatabaseId);
                strlcpy(database, name ? name : "?", sizeof database);
            }
        }
        EndWorkerXact(0);
        if (ready) break;
        snprintf(why, sizeof why,
                 "waiting for ALTER EXTENSION kafka_fdw UPDATE: the extension is at version %s, the library at %s",
                 installed, kLibraryVersion);
        if (!warned) {
            ereport(WARNING,
                    (errmsg("kafka_fdw %s in database \"%s\" waits: the extension is at version %s, the library at %s",
                            who, database, installed, kLibraryVersion),
                     errhint("Run ALTER EXTENSION kafka_fdw UPDATE in database \"%s\".", database)));
            warned = true;
        }
        if (waiting) waiting(why);
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        ReloadConfigIfPending();
    }
    if (warned)
        ereport(LOG, (errmsg("kafka_fdw %s in database \"%s\": the extension is at version %s now, going on", who,
                             database, kLibraryVersion)));
}

}  // namespace kafka_fdw::pg
