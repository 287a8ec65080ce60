// The CDC worker's Kafka side (C++ zone): the idempotent producer, the
// commit-ordered ack ledger, the current transaction's header values, the
// topics already known to exist, and the reusable pgoutput parse buffer.
// Owned by the worker's memory context; every call from the Postgres zone
// goes through KFDW_ENTRY.
#pragma once
#include "kafka/commit_queue.hpp"
#include "kafka/producer.hpp"
#include "format/pgoutput.hpp"

#include <string>
#include <unordered_set>
#include <vector>

namespace kafka_fdw::cdc {

class Sender {
public:
    Sender(kafka::Config &&conf, const std::string &partitioner);

    // Creates the topic when it does not exist (partitions/replication -1:
    // the broker's defaults).
    void EnsureTopic(const std::string &topic, int partitions, int replication, int timeout_ms);

    void Begin(const format::pgoutput::Begin &b);
    void Commit();

    // Enqueues one event of the current transaction.  value == nullptr is a
    // tombstone.  Returns false when the local queue stayed full for a
    // slice (the broker is slow or down): the caller reports it and retries.
    bool Send(const char *topic, const char *key, size_t key_len, const char *value, size_t value_len,
              char op, const char *table, const char *unchanged_toast);

    // Enqueues an outbox message of the current transaction
    // (kafka.produce_on_commit): the caller's headers, then lsn, xid and
    // commit_ts as for row events.  As Send.
    bool SendOutbox(const char *topic, const char *key, size_t key_len, const char *value, size_t value_len,
                    const kafka::HeaderRef *headers, size_t n_headers);

    // Serves delivery reports; returns the position the slot may be
    // confirmed to (see CommitQueue).
    uint64_t Progress(uint64_t read_end);
    // Waits up to timeout_ms for every message to be acknowledged.
    bool Drain(int timeout_ms);

    kafka::Producer &producer() { return producer_; }
    uint64_t pending() const { return queue_.pending_messages(); }
    uint64_t events_sent = 0;
    format::pgoutput::Change change;  // parse buffer, reused

private:
    kafka::Producer producer_;
    kafka::CommitQueue queue_;
    std::unordered_set<std::string> topics_;
    std::string topic_;  // the last topic sent to (most events go to the same)
    uint32_t ledger_ = 0;
    bool in_txn_ = false;
    std::string lsn_, xid_, commit_ts_;
    std::vector<kafka::HeaderRef> outbox_headers_;  // reused
    int64_t ts_ms_ = 0;
};

}  // namespace kafka_fdw::cdc
