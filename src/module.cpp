// The module: library load (_PG_init) wires the rooms together: GUCs, the
// core's interrupt hook, cache invalidation and transaction callbacks, the
// executor hooks of the executor epoch (fdw/xact.hpp), and, when preloaded,
// CDC shared memory and the launcher.  It sits above the rooms (src/pg,
// src/fdw, src/cdc, ...) so that no room includes another that includes it
// back (test/lint/rooms.py).
#include "kafka/wait.hpp"

#include "fdw/connection.hpp"
#include "fdw/progress.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"
#include "pg/security.hpp"

#include "cdc/cdc.hpp"

extern "C" {
PG_MODULE_MAGIC;
void _PG_init(void);
}

namespace kafka_fdw::pg {
void DefineGucs();
void DefinePreloadGucs();
void ReserveGucPrefix();
void BackendInterruptCheck();
}  // namespace kafka_fdw::pg

void _PG_init(void) {
    kafka_fdw::kafka::SetInterruptCheck(&kafka_fdw::pg::BackendInterruptCheck);
    kafka_fdw::pg::DefineGucs();
    kafka_fdw::fdw::RegisterConnectionCallbacks();
    kafka_fdw::fdw::RegisterXactCallbacks();
    kafka_fdw::fdw::RegisterExecutorHooks();
    kafka_fdw::pg::RegisterRoleGuard();
    // CDC pipelines and sinks need shared memory and the launcher, and
    // kafka.produce_progress its slots: only when preloaded.
    if (process_shared_preload_libraries_in_progress) {
        kafka_fdw::cdc::InitAtPreload();
        kafka_fdw::fdw::RequestProduceProgress();
        kafka_fdw::pg::DefinePreloadGucs();
    }
    kafka_fdw::pg::ReserveGucPrefix();
}
