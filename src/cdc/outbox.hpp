// The outbox (kafka.produce_on_commit), Postgres zone: what the SQL
// functions (outbox_functions.cpp) and the pipeline's worker (outbox.cpp)
// share.
//
// A call of kafka.produce_on_commit writes a transactional logical message
// (prefix "kafka_fdw.outbox") whose payload (format/outbox.hpp) names the
// pipeline, the topic, key, value and headers, and ends with a tag:
// HMAC-SHA-256 under the extension's secret (kafka.outbox_secret, one row
// made by the install script, readable by nobody but its owner; read here
// without SQL) over a domain string, the database's OID, the top-level
// transaction id and the payload.  Anyone may write a logical message with
// that prefix (pg_logical_emit_message is PUBLIC), but without the secret
// nobody but the function can tag one, and a tag fits only the transaction
// that wrote it: the worker, which knows the transaction id from pgoutput's
// Begin, drops and counts every message whose tag does not verify.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/jsonb.h"
}

namespace kafka_fdw::cdc::outbox {

constexpr size_t kSecretMax = 64;

// Calls f(tuple, desc, arg) for each row of the extension's own table
// `name` (found through the extension's schema OID and checked to be a
// member of the extension), with the active or transaction snapshot; f
// returns false to stop.  Without SQL, without privilege checks: only for
// the extension's code.  Nothing happens when there is no such table.
void ScanTable(const char *name, bool (*f)(HeapTuple t, TupleDesc td, void *arg), void *arg);

// The extension's secret (kafka.outbox_secret) into buf (kSecretMax
// bytes); its length, or 0 when there is none.  Without SQL.  Needs a
// transaction.
size_t ReadSecret(char *buf);

// The tag of a payload's signed part; false when the HMAC could not be
// computed.  `tag` has room for format::outbox::kTagLen bytes.
bool ComputeTag(const char *secret, size_t secret_len, Oid dboid, uint32 xid, const char *data, size_t len,
                uint8 *tag);

// The pipeline option "outbox_topics" (palloc'd strings; NIL when the
// option is absent, i.e. the pipeline has no outbox).
List *Topics(Jsonb *options);
bool TopicAllowed(List *topics, const char *topic, size_t len);

// create_pipeline's check of the option's value: a non-empty array of
// valid Kafka topic names.  ERROR otherwise.
void CheckTopicsOption(const JsonbValue *v);

}  // namespace kafka_fdw::cdc::outbox
