// Kafka work tied to the Postgres transaction.
//
//  * Transactional producers (option transactional 'true'): a Kafka
//    transaction begins with the first message of a Postgres transaction,
//    commits at PRE_COMMIT, aborts at ABORT.  A savepoint rolled back after
//    it produced messages dooms the Kafka transaction: the commit then fails
//    (Kafka cannot take back part of a transaction).
//  * kafka.send(): messages are buffered in the backend until PRE_COMMIT,
//    then produced and awaited; a failed delivery fails the commit; ROLLBACK
//    (or a rolled-back savepoint) discards them unsent.
//  * PREPARE TRANSACTION is refused once Kafka work is pending.
//  * The executor epoch: what tells a scan that nothing ran in this backend
//    since its statement was planned (scan_plan.cpp, the planner's
//    watermarks).
#pragma once

#include "kafka/producer.hpp"

#include "pg/postgres.hpp"

#include <optional>
#include <string>
#include <vector>

namespace kafka_fdw::fdw {

struct PendingMessage {
    kafka::Producer *producer;
    bool transactional;
    std::string topic;
    int32_t partition;
    std::optional<std::string> key;
    std::optional<std::string> value;  // nullopt: tombstone
    std::vector<kafka::Header> headers;
    int64_t timestamp_ms;
    SubTransactionId subid;
};

// A group position moved by a scan: committed to the broker's group
// coordinator after the Postgres transaction commits.
struct GroupCommit {
    kafka::Client *client;
    std::string topic;
    int32_t partition;
    int64_t next_offset;
    SubTransactionId subid;
};

// C++ zone.
bool HasPendingGroupCommits(const kafka::Client *client);
void AddGroupCommit(GroupCommit &&c);
bool InKafkaTransaction(const kafka::Producer *producer);
bool HasPendingSends(const kafka::Producer *producer);
// Before producing with a transactional producer: begin (or join) this
// Postgres transaction's Kafka transaction.
void JoinKafkaTransaction(kafka::Producer &producer, SubTransactionId subid);
void BufferSend(PendingMessage &&msg);

// The executor epoch: a backend-local counter bumped by every ExecutorStart,
// ExecutorRun and ExecutorEnd of this backend, by every utility statement
// (ProcessUtility: COPY, FETCH, DO, CALL, ...; hooks chained to the previous
// ones) and by every producer handed out (CachedProducer: a write may
// follow).  Equal values mean that nothing was executed or produced in
// between: no statement, no FETCH of a cursor, no function that runs SQL.
// Plain reads and writes of a counter: callable from both zones.
uint64 ExecutorEpoch() noexcept;
void BumpExecutorEpoch() noexcept;

// Postgres zone.
void RegisterXactCallbacks();
// Installs the executor epoch's hooks (from _PG_init).
void RegisterExecutorHooks();

}  // namespace kafka_fdw::fdw
