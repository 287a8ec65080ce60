// What the extension's background workers share (Postgres zone): a
// transaction around a piece of their work, the backoff after failed runs,
// and reloading the configuration after a SIGHUP.  Used by the CDC launcher
// and pipeline workers (src/cdc) and the sink workers (src/sink).
#pragma once

#include "pg/postgres.hpp"

namespace kafka_fdw::pg {

// The server's configuration read again after a SIGHUP (pg_reload_conf), in
// the loops of the launcher, the pipeline workers and the sink workers (each
// installs SignalHandlerForConfigReload).
void ReloadConfigIfPending();

// One more consecutive failure (counted up to max_failures): the delay
// before the next try, 1 s doubled with each failure, at most cap_ms.
int Backoff(int *failures, int max_failures, int cap_ms);

// What a worker's transaction gives its body besides the transaction.
enum WorkerXactFlags : int {
    kXactSnapshot = 1 << 0,  // the transaction's snapshot, pushed as the active one
    kXactSpi = 1 << 1,       // SPI connected (with kXactSnapshot's snapshot)
};

// A transaction of a background worker: its start time is now (now(),
// pg_stat_activity), then what `flags` ask for; EndWorkerXact undoes those
// and commits.  An ERROR in between is not caught: it reaches the worker's
// own PG_TRY or ends the worker, and the abort cleans up (SPI, snapshot,
// transaction).
void BeginWorkerXact(int flags);
void EndWorkerXact(int flags);

// body() in such a transaction.  No PG_TRY of its own, and no C++ object
// with a destructor on its frames: an ERROR in body() passes through them as
// through plain Postgres code (see bridge.hpp), to the caller's PG_TRY.
template <typename F>
void InWorkerXact(int flags, F &&body) {
    BeginWorkerXact(flags);
    body();
    EndWorkerXact(flags);
}

// The version of the extension's SQL objects this library was built for
// (the control file's default_version).
extern const char *const kLibraryVersion;

// Outside a transaction, in a worker connected to a database: returns once
// kafka_fdw in this database is at kLibraryVersion, or not installed.  An
// upgrade installs the new library and restarts the server first, then runs
// ALTER EXTENSION kafka_fdw UPDATE: in between, the new library would meet
// the old version's tables and functions.  Meanwhile the worker waits: a
// WARNING once naming the command to run (`who` says which worker), then
// every second waiting(why) (`why`: a one-line reason, e.g. for a status
// view; it may end the worker) and a look at pg_extension again; a LOG when
// it goes on.
void WaitForExtensionVersion(const char *who, void (*waiting)(const char *why));

}  // namespace kafka_fdw::pg
