// The CDC worker's Kafka side (see sender.hpp).  C++ zone only.
#include "cdc/sender.hpp"

#include "kafka/consumer.hpp"
#include "kafka/errors.hpp"
#include "kafka/metadata.hpp"
#include "kafka/wait.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>

namespace kafka_fdw::cdc {

namespace pgo = format::pgoutput;

// A full local queue is retried by the caller after each slice, so that it
// can report the stall and notice a stop request.
constexpr int kQueueFullSliceMs = 1000;

// The progress topic's records are read from this far before its end first
// (the last record of the pipeline is normally the last one).
constexpr int64_t kPositionTail = 1000;

// A millisecond clock cheap enough to read at every item (the kernel's
// coarse clock: a few ms of resolution are enough for kSplitAfterMs).
static int64_t CoarseMs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Sender::Sender(kafka::Config &&conf, const std::string &partitioner, const ExactlyOnce *eos,
               std::unique_ptr<kafka::Config> reader)
    : producer_(std::move(conf), partitioner, kQueueFullSliceMs), queue_(producer_),
      reader_conf_(std::move(reader)) {
    if (eos) {
        eos_ = *eos;
        progress_ledger_ = producer_.OpenLedger();
    }
    heartbeat_ledger_ = producer_.OpenLedger();
}

void Sender::EnsureTopic(const std::string &topic, int partitions, int replication, int timeout_ms,
                         const kafka::Properties &config) {
    if (topics_.count(topic)) return;
    try {
        kafka::PartitionCount(producer_, topic, timeout_ms);
    } catch (const kafka::Error &e) {
        if (e.kind != kafka::ErrorKind::UnknownTopic) throw;
        try {
            kafka::CreateTopic(producer_, topic, partitions, replication, config, timeout_ms);
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
    final_lsn_ = b.final_lsn;
    lsn_ = pgo::LsnToString(b.final_lsn);
    xid_ = std::to_string(b.xid);
    commit_ts_ = pgo::PgTimeToIso8601(b.commit_time);
    ts_ms_ = pgo::PgTimeToUnixMs(b.commit_time);
    src_events_ = 0;
    part_ = 1;
    skip_ = exactly_once() ? kafka::ItemsToSkip(resume_, b.final_lsn) : 0;
    item_mode_ = false;
    item_skipped_ = false;
    next_item_ = 0;
}

void Sender::Commit() {
    if (!in_txn_) return;
    queue_.Close(ledger_);
    in_txn_ = false;
    kafka::EosPosition done;
    done.valid = true;
    done.lsn = final_lsn_;
    if (kafka::Covers(done, boundary_)) boundary_ = done;
    skip_ = 0;
    producer_.Poll(0);
}

Sender::SendResult Sender::Item() {
    if (!in_txn_) throw kafka::Error(kafka::ErrorKind::Internal, "change outside a decoded transaction");
    item_mode_ = true;
    if (skip_ == kafka::kSkipAll || next_item_ < skip_) {
        item_skipped_ = true;  // in Kafka already: the progress record covers it
        next_item_++;
        return SendResult::Queued;
    }
    item_skipped_ = false;
    // The events held during a commit (or the pause after it) fill the next
    // Kafka transaction: at split_max_events, wait for the commit (that one
    // is then cut here).
    if (exactly_once() && commit_pending() && held_.size() >= eos_.split_max_events) return SendResult::CommitFirst;
    if (exactly_once() && txn_open_) {
        bool old = CoarseMs() - txn_began_ms_ >= kSplitAfterMs;
        if (commit_pending()) {
            // the transaction being committed is kSplitAfterMs old (the
            // broker is slow): wait, it must not reach transaction.timeout.ms
            if (committing_ && old) return SendResult::CommitFirst;
        } else if (txn_events_ > 0 && (txn_events_ >= eos_.split_max_events || old)) {
            // a split: the items before this one go in the Kafka transaction cut here
            if (!Cut()) return SendResult::CommitFirst;  // the local queue is full: wait for the commit
        }
    }
    next_item_++;
    return SendResult::Queued;
}

Sender::Gate Sender::Admit() {
    if (!in_txn_) throw kafka::Error(kafka::ErrorKind::Internal, "change outside a decoded transaction");
    if (item_mode_) {
        if (item_skipped_) {
            events_skipped++;
            return Gate::Skip;
        }
        if (exactly_once()) {
            if (commit_pending()) return Gate::Hold;  // a commit is under way
            OpenKafkaTransaction();
        }
        return Gate::Go;
    }
    // without items (the initial snapshot): skips and splits per event
    if (skip_ > 0) {
        // in Kafka already: the progress record covers it
        if (skip_ != kafka::kSkipAll) skip_--;
        src_events_++;
        events_skipped++;
        return Gate::Skip;
    }
    if (exactly_once()) {
        if (commit_pending()) return Gate::CommitFirst;
        if (txn_open_ && txn_events_ > 0 &&
            (txn_events_ >= eos_.split_max_events || CoarseMs() - txn_began_ms_ >= kSplitAfterMs))
            return Gate::CommitFirst;
        OpenKafkaTransaction();
    }
    return Gate::Go;
}

void Sender::BeginKafkaTransaction(uint64_t first_uncommitted) {
    producer_.BeginTransaction();
    txn_open_ = true;
    txn_began_ = Clock::now();
    txn_began_ms_ = CoarseMs();
    txn_events_ = 0;
    first_uncommitted_ = first_uncommitted;
}

void Sender::OpenKafkaTransaction() {
    if (!txn_open_) {
        BeginKafkaTransaction(final_lsn_);
        // The progress topic's partition joins the Kafka transaction with
        // the first events' partitions (one AddPartitionsToTxn round trip,
        // not a second one at the cut): a record of the position committed
        // already, which the cut's record follows (the last one counts).
        kafka::EosPosition p = committed_;
        p.valid = true;
        (void)ProducePosition(p);  // (a full queue: the cut registers it)
    } else if (first_uncommitted_ == 0) {
        first_uncommitted_ = final_lsn_;  // opened by a heartbeat
    }
}

void Sender::Queued() {
    events_sent++;
    src_events_++;
    txn_events_++;
}

Sender::SendResult Sender::Send(const char *topic, const char *key, size_t key_len, const char *value,
                                size_t value_len, char op, const char *table, const char *unchanged_toast) {
    Gate gate = Admit();
    if (gate == Gate::Skip) return SendResult::Queued;
    if (gate == Gate::CommitFirst) return SendResult::CommitFirst;
    if (topic_ != topic) topic_ = topic;
    kafka::HeaderRef headers[7] = {
        {"op", &op, 1},
        {"lsn", lsn_.data(), lsn_.size()},
        {"xid", xid_.data(), xid_.size()},
        {"table", table, strlen(table)},
        {"commit_ts", commit_ts_.data(), commit_ts_.size()},
    };
    size_t n = 5;
    if (unchanged_toast) headers[n++] = {"unchanged_toast", unchanged_toast, strlen(unchanged_toast)};
    if (part_ > 1) headers[n++] = {"txn_part", part_text_.data(), part_text_.size()};
    if (gate == Gate::Hold) return Hold(topic_, key, key_len, value, value_len, headers, n);
    return ProduceEvent(topic_, key, key_len, value, value_len, headers, n);
}

// An event of the current source transaction into its ledger, at its
// commit time (the gate said Go).
Sender::SendResult Sender::ProduceEvent(const std::string &topic, const char *key, size_t key_len, const char *value,
                                        size_t value_len, const kafka::HeaderRef *headers, size_t n_headers) {
    kafka::OutMessage m;
    m.key = key;
    m.key_len = key_len;
    m.value = value;
    m.value_len = value_len;
    m.timestamp_ms = ts_ms_;
    m.header_refs = headers;
    m.n_header_refs = n_headers;
    try {
        producer_.Produce(ledger_, topic, m);
    } catch (const kafka::Error &e) {
        if (e.kind == kafka::ErrorKind::Timeout) return SendResult::QueueFull;
        throw;
    }
    Queued();
    return SendResult::Queued;
}

Sender::SendResult Sender::SendOutbox(const char *topic, const char *key, size_t key_len, const char *value,
                                      size_t value_len, const kafka::HeaderRef *headers, size_t n_headers) {
    Gate gate = Admit();
    if (gate == Gate::Skip) return SendResult::Queued;
    if (gate == Gate::CommitFirst) return SendResult::CommitFirst;
    outbox_headers_.assign(headers, headers + n_headers);
    outbox_headers_.push_back({"lsn", lsn_.data(), lsn_.size()});
    outbox_headers_.push_back({"xid", xid_.data(), xid_.size()});
    outbox_headers_.push_back({"commit_ts", commit_ts_.data(), commit_ts_.size()});
    outbox_topic_ = topic;
    if (gate == Gate::Hold)
        return Hold(outbox_topic_, key, key_len, value, value_len, outbox_headers_.data(), outbox_headers_.size());
    return ProduceEvent(outbox_topic_, key, key_len, value, value_len, outbox_headers_.data(), outbox_headers_.size());
}

// ---- events held during a commit ------------------------------------------

size_t Sender::HoldBytes(const char *p, size_t n) {
    size_t at = held_bytes_.size();
    held_bytes_.append(p, n);
    return at;
}

Sender::SendResult Sender::Hold(const std::string &topic, const char *key, size_t key_len, const char *value,
                                size_t value_len, const kafka::HeaderRef *headers, size_t n_headers) {
    size_t held_memory = held_bytes_.size() + held_.size() * sizeof(HeldEvent) +
                         held_headers_.size() * sizeof(HeldHeader);
    if (held_memory >= kHoldMaxBytes || held_.size() >= kHoldMaxEvents) return SendResult::CommitFirst;
    if (held_.empty()) held_first_lsn_ = final_lsn_;
    if (held_topics_.empty() || held_topics_[held_topic_] != topic) {
        auto it = held_topic_index_.find(topic);
        if (it == held_topic_index_.end()) {
            it = held_topic_index_.emplace(topic, static_cast<uint32_t>(held_topics_.size())).first;
            held_topics_.push_back(topic);
        }
        held_topic_ = it->second;
    }
    HeldEvent e;
    e.ledger = ledger_;
    e.topic = held_topic_;
    e.key_len = key ? key_len : kNone;
    e.key = key ? HoldBytes(key, key_len) : 0;
    e.value_len = value ? value_len : kNone;
    e.value = value ? HoldBytes(value, value_len) : 0;
    e.headers = held_headers_.size();
    e.n_headers = n_headers;
    e.timestamp_ms = ts_ms_;
    for (size_t i = 0; i < n_headers; i++) {
        HeldHeader h;
        h.name_len = strlen(headers[i].name);
        h.name = HoldBytes(headers[i].name, h.name_len + 1);  // with its NUL
        h.value_len = headers[i].value ? headers[i].value_len : kNone;
        h.value = headers[i].value ? HoldBytes(headers[i].value, headers[i].value_len) : 0;
        held_headers_.push_back(h);
    }
    held_.push_back(e);
    queue_.MarkHeld(ledger_);
    events_held++;
    return SendResult::Queued;
}

bool Sender::Replay() {
    if (held_next_ == 0) {
        OpenKafkaTransaction();
        first_uncommitted_ = held_first_lsn_;
    }
    const char *bytes = held_bytes_.data();
    for (; held_next_ < held_.size(); held_next_++) {
        const HeldEvent &e = held_[held_next_];
        replay_headers_.clear();
        for (size_t i = 0; i < e.n_headers; i++) {
            const HeldHeader &h = held_headers_[e.headers + i];
            replay_headers_.push_back({bytes + h.name, h.value_len == kNone ? nullptr : bytes + h.value,
                                       h.value_len == kNone ? 0 : h.value_len});
        }
        kafka::OutMessage m;
        m.key = e.key_len == kNone ? nullptr : bytes + e.key;
        m.key_len = e.key_len == kNone ? 0 : e.key_len;
        m.value = e.value_len == kNone ? nullptr : bytes + e.value;
        m.value_len = e.value_len == kNone ? 0 : e.value_len;
        m.timestamp_ms = e.timestamp_ms;
        m.header_refs = replay_headers_.data();
        m.n_header_refs = replay_headers_.size();
        try {
            producer_.Produce(e.ledger, held_topics_[e.topic], m);
        } catch (const kafka::Error &err) {
            if (err.kind == kafka::ErrorKind::Timeout) return false;  // the queue stayed full: call again
            throw;
        }
        Queued();
    }
    // (what a burst grew is given back)
    if (held_.capacity() > 16384) std::vector<HeldEvent>().swap(held_);
    else held_.clear();
    if (held_headers_.capacity() > 65536) std::vector<HeldHeader>().swap(held_headers_);
    else held_headers_.clear();
    if (held_bytes_.capacity() > (4u << 20)) std::string().swap(held_bytes_);
    else held_bytes_.clear();
    held_topics_.clear();
    held_topic_index_.clear();
    held_topic_ = 0;
    held_next_ = 0;
    held_first_lsn_ = 0;
    queue_.ReleaseHeld();
    return true;
}

uint64_t Sender::Progress(uint64_t read_end) {
    producer_.Poll(0);
    uint64_t target = queue_.ConfirmTarget(read_end);
    if (exactly_once() && txn_open_ && first_uncommitted_ != 0 && target > first_uncommitted_)
        target = first_uncommitted_;
    return target;
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

// ---- exactly-once ----------------------------------------------------------

bool Sender::InitTransactionsSlice(int slice_ms) { return producer_.InitTransactionsSlice(slice_ms); }

void Sender::LoadPosition(int timeout_ms) {
    if (position_loaded_) return;
    if (!reader_) {
        // (made once: a retry after a timeout reuses it)
        kafka::Config conf(std::move(*reader_conf_));
        reader_conf_.reset();
        conf.Set("isolation.level", "read_committed");
        reader_ = std::make_unique<kafka::RangeConsumer>(std::move(conf), eos_.progress_topic, timeout_ms);
    }
    // read_committed: the high watermark is the last stable offset
    kafka::Watermarks wm = kafka::QueryWatermarks(*reader_, eos_.progress_topic, 0, timeout_ms);
    kafka::EosPosition found;
    int64_t from = std::max(wm.low, wm.high - kPositionTail);
    for (;;) {
        reader_->Start({{0, from, wm.high}});
        while (const rd_kafka_message_t *msg = reader_->Next()) {
            if (msg->key_len != eos_.transactional_id.size() || !msg->payload ||
                memcmp(msg->key, eos_.transactional_id.data(), msg->key_len) != 0)
                continue;
            kafka::EosPosition p;
            kafka::ParsedPosition r = kafka::ParseEosPosition(
                std::string_view(static_cast<const char *>(msg->payload), msg->len), eos_.transactional_id,
                eos_.mac_key, &p);
            if (r == kafka::ParsedPosition::Ok) found = p;
            else if (r == kafka::ParsedPosition::BadMac) positions_rejected++;
        }
        if (found.valid || from == wm.low) break;
        from = wm.low;  // not in the tail: the whole topic
    }
    resume_ = found;
    committed_ = found;
    boundary_ = found;
    position_loaded_ = true;
    reader_.reset();
}

Sender::SendResult Sender::Heartbeat(const std::string &topic, const std::string &key, const std::string &value) {
    if (in_txn_) throw kafka::Error(kafka::ErrorKind::Internal, "heartbeat inside a decoded transaction");
    if (exactly_once()) {
        if (commit_pending()) return SendResult::CommitFirst;
        if (!txn_open_) BeginKafkaTransaction(0);  // no source transaction in it (yet)
    }
    kafka::OutMessage m;
    m.key = key.data();
    m.key_len = key.size();
    m.value = value.data();
    m.value_len = value.size();
    try {
        producer_.Produce(heartbeat_ledger_, topic, m);
    } catch (const kafka::Error &e) {
        if (e.kind == kafka::ErrorKind::Timeout) return SendResult::QueueFull;
        throw;
    }
    heartbeats_sent++;
    return SendResult::Queued;
}

bool Sender::commit_due(bool behind) const {
    if (!txn_open_ || in_txn_) return false;
    if (committing_ || txn_events_ >= eos_.commit_max_events) return true;
    int64_t interval = (int64_t)eos_.commit_interval_ms * (behind ? kBehindFactor : 1);
    if (interval > kSplitAfterMs) interval = kSplitAfterMs;  // well below transaction.timeout.ms
    return Clock::now() - txn_began_ >= std::chrono::milliseconds(interval);
}

bool Sender::ProducePosition(const kafka::EosPosition &p) {
    int64_t at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    std::string value = kafka::EosPositionJson(p, eos_.transactional_id, at_ms, eos_.mac_key);
    kafka::OutMessage m;
    m.partition = 0;
    m.key = eos_.transactional_id.data();
    m.key_len = eos_.transactional_id.size();
    m.value = value.data();
    m.value_len = value.size();
    try {
        producer_.Produce(progress_ledger_, eos_.progress_topic, m);
    } catch (const kafka::Error &e) {
        if (e.kind == kafka::ErrorKind::Timeout) return false;
        throw;
    }
    return true;
}

bool Sender::CutIfOld() {
    if (!exactly_once() || !in_txn_ || !item_mode_ || commit_pending() || !txn_open_ || txn_events_ == 0) return false;
    if (CoarseMs() - txn_began_ms_ < kSplitAfterMs) return false;
    return Cut();
}

bool Sender::Cut() {
    kafka::EosPosition p;
    p.valid = true;
    if (in_txn_) {
        p.lsn = final_lsn_;
        p.changes = item_mode_ ? next_item_ : src_events_;
        p.complete = false;
    } else {
        p = boundary_;  // (invalid: nothing decoded or read yet: lsn 0, complete, skips nothing)
        p.valid = true;
    }
    if (!ProducePosition(p)) return false;
    pending_position_ = p;
    committing_ = true;
    // the current source transaction's later events are its next part
    if (in_txn_) {
        part_++;
        part_text_ = std::to_string(part_);
    }
    return true;
}

bool Sender::CommitTransaction(bool now, int slice_ms, bool behind) {
    if (!exactly_once()) return true;
    if (!committing_) {
        if (settling_) {
            if (!now && Clock::now() < settle_until_) return true;
            settling_ = false;
        }
        if (!held_.empty()) return Replay();  // after the pause, or one a full queue stopped
        if (!txn_open_) return true;
        if (!now && !commit_due(behind)) return true;
        if (!Cut()) return false;
    }
    if (!now) {
        // EndTxn once librdkafka has delivered everything (its flush then
        // returns at once); until then the worker goes on decoding
        producer_.Poll(0);
        if (rd_kafka_outq_len(producer_.handle()) > 0) return true;
    }
    if (!producer_.CommitTransactionSlice(slice_ms)) return false;
    committing_ = false;
    txn_open_ = false;
    committed_ = pending_position_;
    kafka_txns_committed++;
    first_uncommitted_ = 0;
    txn_events_ = 0;
    if (now) return held_.empty() || Replay();
    settling_ = true;  // (see kSettleUs)
    settle_until_ = Clock::now() + std::chrono::microseconds(kSettleUs);
    return true;
}

}  // namespace kafka_fdw::cdc
