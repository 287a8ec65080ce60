// The CDC worker's Kafka side (see sender.hpp).  C++ zone only.
#include "cdc/sender.hpp"

#include "kafka/errors.hpp"
#include "kafka/metadata.hpp"
#include "kafka/wait.hpp"

#include <cstring>

namespace kafka_fdw::cdc {

namespace pgo = format::pgoutput;

// A full local queue is retried by the caller after each slice, so that it
// can report the stall and notice a stop request.
constexpr int kQueueFullSliceMs = 1000;

Sender::Sender(kafka::Config &&conf, const std::string &partitioner)
    : producer_(std::move(conf), partitioner, kQueueFullSliceMs), queue_(producer_) {}

void Sender::EnsureTopic(const std::string &topic, int partitions, int replication, int timeout_ms) {
    if (topics_.count(topic)) return;
    try {
        kafka::PartitionCount(producer_, topic, timeout_ms);
    } catch (const kafka::Error &e) {
        if (e.kind != kafka::ErrorKind::UnknownTopic) throw;
        try {
            kafka::CreateTopic(producer_, topic, partitions, replication, {}, timeout_ms);
        } catch (const kafka::Error &e2) {
            if (e2.kind != kafka::ErrorKind::AlreadyExists) throw;
        }
    }
    topics_.insert(topic);
}

void Sender::Begin(const pgo::Begin &b) {
    if (in_txn_) queue_.Close(ledger_);  // cannot happen with pgoutput; keep the queue sane
    ledger_ = queue_.Open(b.final_lsn);
    in_txn_ = true;
    lsn_ = pgo::LsnToString(b.final_lsn);
    xid_ = std::to_string(b.xid);
    commit_ts_ = pgo::PgTimeToIso8601(b.commit_time);
    ts_ms_ = pgo::PgTimeToUnixMs(b.commit_time);
}

void Sender::Commit() {
    if (!in_txn_) return;
    queue_.Close(ledger_);
    in_txn_ = false;
    producer_.Poll(0);
}

bool Sender::Send(const char *topic, const char *key, size_t key_len, const char *value, size_t value_len,
                  char op, const char *table, const char *unchanged_toast) {
    if (!in_txn_) throw kafka::Error(kafka::ErrorKind::Internal, "change outside a decoded transaction");
    if (topic_ != topic) topic_ = topic;
    const kafka::HeaderRef headers[6] = {
        {"op", &op, 1},
        {"lsn", lsn_.data(), lsn_.size()},
        {"xid", xid_.data(), xid_.size()},
        {"table", table, strlen(table)},
        {"commit_ts", commit_ts_.data(), commit_ts_.size()},
        {"unchanged_toast", unchanged_toast, unchanged_toast ? strlen(unchanged_toast) : 0},
    };
    kafka::OutMessage m;
    m.key = key;
    m.key_len = key_len;
    m.value = value;
    m.value_len = value_len;
    m.timestamp_ms = ts_ms_;
    m.header_refs = headers;
    m.n_header_refs = unchanged_toast ? 6 : 5;
    try {
        producer_.Produce(ledger_, topic_, m);
    } catch (const kafka::Error &e) {
        if (e.kind == kafka::ErrorKind::Timeout) return false;
        throw;
    }
    events_sent++;
    return true;
}

bool Sender::SendOutbox(const char *topic, const char *key, size_t key_len, const char *value, size_t value_len,
                        const kafka::HeaderRef *headers, size_t n_headers) {
    if (!in_txn_) throw kafka::Error(kafka::ErrorKind::Internal, "outbox message outside a decoded transaction");
    outbox_headers_.assign(headers, headers + n_headers);
    outbox_headers_.push_back({"lsn", lsn_.data(), lsn_.size()});
    outbox_headers_.push_back({"xid", xid_.data(), xid_.size()});
    outbox_headers_.push_back({"commit_ts", commit_ts_.data(), commit_ts_.size()});
    kafka::OutMessage m;
    m.key = key;
    m.key_len = key_len;
    m.value = value;
    m.value_len = value_len;
    m.timestamp_ms = ts_ms_;
    m.header_refs = outbox_headers_.data();
    m.n_header_refs = outbox_headers_.size();
    try {
        producer_.Produce(ledger_, topic, m);
    } catch (const kafka::Error &e) {
        if (e.kind == kafka::ErrorKind::Timeout) return false;
        throw;
    }
    events_sent++;
    return true;
}

uint64_t Sender::Progress(uint64_t read_end) {
    producer_.Poll(0);
    return queue_.ConfirmTarget(read_end);
}

bool Sender::Drain(int timeout_ms) {
    kafka::Deadline deadline(timeout_ms);
    while (queue_.pending_messages() > 0) {
        if (deadline.Expired()) return false;
        producer_.Poll(deadline.SliceMs());
        kafka::CheckInterrupts();
    }
    return true;
}

}  // namespace kafka_fdw::cdc
