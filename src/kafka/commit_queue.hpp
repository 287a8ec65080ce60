// The CDC worker's ack ledger: decoded transactions in commit order, each
// with the producer ledger of its messages.  The replication slot may be
// confirmed up to the commit of the oldest transaction that still has an
// unacknowledged message (that transaction is re-sent after a restart,
// because decoding resumes with every transaction whose commit record starts
// at or after the confirmed position), or up to the reader's position when
// nothing is pending.  A transaction whose messages the caller holds back
// (MarkHeld: exactly-once, during a Kafka commit) counts as pending until
// ReleaseHeld.  Pure C++; LSNs are plain integers here.
#pragma once
#include "cpp_only.hpp"

#include "kafka/producer.hpp"

#include <cstdint>
#include <deque>
#include <string>

namespace kafka_fdw::kafka {

class CommitQueue {
public:
    explicit CommitQueue(Producer &producer) : producer_(producer) {}
    ~CommitQueue();
    CommitQueue(const CommitQueue &) = delete;
    CommitQueue &operator=(const CommitQueue &) = delete;

    // A transaction that will produce messages: returns its producer ledger.
    uint32_t Open(uint64_t final_lsn);
    // The transaction's commit was decoded: no more messages will come.
    void Close(uint32_t ledger);
    // Messages of the transaction are held by the caller, not produced yet
    // (a Kafka commit is under way): it counts as pending until ReleaseHeld.
    void MarkHeld(uint32_t ledger);
    void ReleaseHeld();

    // Drops finished transactions from the head and returns the position
    // the slot may be confirmed to: the head's commit start, or `read_end`
    // when nothing is pending.  Throws Error(Delivery) when a message of a
    // finished transaction failed (the worker then restarts and re-sends).
    uint64_t ConfirmTarget(uint64_t read_end);

    size_t open_transactions() const { return q_.size(); }
    uint64_t pending_messages() const;

private:
    struct Entry {
        uint64_t final_lsn;
        uint32_t ledger;
        bool closed;
        bool held;
    };
    Producer &producer_;
    std::deque<Entry> q_;
};

}  // namespace kafka_fdw::kafka
