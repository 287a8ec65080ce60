// Sinks: topics applied into tables continuously (Postgres zone).  A
// sink's batches run in a background worker connected as its owner, one per
// database and owner, started by the CDC launcher (src/cdc/launcher.cpp)
// from the sink worker entries of the shared memory (src/cdc/shmem.hpp).
//   worker.cpp     the sink workers: the lookup of the owners, the batches
//   functions.cpp  kafka._sink_wake, kafka._sink_worker_pid
#pragma once

#include "pg/postgres.hpp"

extern "C" {
PGDLLEXPORT void kafka_fdw_sink_worker_main(Datum arg);
}
