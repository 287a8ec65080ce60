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

// The statement (any pointer that names it, e.g. its ModifyState) writing to
// RELID begins (BeginForeignModify/Insert): the first of the backend takes
// the slot, a nested or sibling one (a trigger's INSERT into another topic
// table, another partition) does not; its counts so far; it ends
// (EndForeignModify/Insert).  An abort of the subtransaction the owner began
// in, or of the transaction (InvalidSubTransactionId), frees the slot too;
// so does the backend's exit.
void ProduceProgressBegin(const void *statement, Oid relid);
void ProduceProgressUpdate(const void *statement, uint64 queued, uint64 acked);
void ProduceProgressEnd(const void *statement);
void ProduceProgressAbort(SubTransactionId subid);

}  // namespace kafka_fdw::fdw
