// Progress of INSERT and COPY into topic tables (kafka.produce_progress):
// each backend publishes, in a slot of shared memory of its own, the topic
// table it writes to, when the statement began and how many messages it
// handed to the producer and Kafka acknowledged so far.  Only when kafka_fdw
// is preloaded (the shared memory is made at server start); otherwise these
// do nothing.  Postgres zone.
#pragma once
#include "pg/postgres.hpp"

namespace kafka_fdw::fdw {

// From _PG_init when preloaded: asks for the shared memory.
void RequestProduceProgress();

// The statement writing to RELID begins (BeginForeignModify/Insert); its
// counts so far; it ends (EndForeignModify/Insert, or the transaction
// aborts: then from the abort callback).
void ProduceProgressBegin(Oid relid);
void ProduceProgressUpdate(uint64 queued, uint64 acked);
void ProduceProgressEnd();

}  // namespace kafka_fdw::fdw
