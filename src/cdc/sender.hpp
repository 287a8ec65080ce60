// The CDC worker's Kafka side (C++ zone): the producer, the commit-ordered
// ack ledger, the current transaction's header values, the topics already
// known to exist, the reusable pgoutput parse buffer, and in exactly-once
// mode the Kafka transactions and the progress record (kafka/eos.hpp).
// Owned by the worker's memory context; every call from the Postgres zone
// goes through KFDW_ENTRY.
//
// Exactly-once mode: the producer is transactional (transactional.id from
// the pipeline's identity, so that a newer producer of the same pipeline
// fences an older one).  Events go into an open Kafka transaction (begun at
// the first event after a commit).  It is committed, with a progress record
// naming the last source transaction it completes, at a source commit once
// it is older than commit_interval_ms or holds commit_max_events events, at
// a housekeeping round once it is older than commit_interval_ms, and in the
// middle of a source transaction once it holds split_max_events events or
// is older than kSplitAfterMs (cut there, between items: the source
// transaction then spans several Kafka transactions; its events after the
// first part carry the header txn_part).  The slot is confirmed only up to the first source transaction
// with events in a Kafka transaction that is not committed.
//
// A commit does not stop decoding: at the cut the progress record is
// produced and no event goes to librdkafka until the commit is done (Kafka
// has one transaction per producer at a time); events decoded meanwhile are
// held here (copied, in order, at most kHoldMaxBytes/kHoldMaxEvents, or
// split_max_events: then the caller waits for the commit) and produced into
// the next Kafka transaction kSettleUs after the commit is done.  EndTxn is
// sent once librdkafka has nothing left to deliver, so the worker never
// waits for the flush, only for EndTxn's round trip.  The caller drives a
// commit under way (CommitTransaction(false) while commit_pending()) at
// items, filtered changes and housekeeping rounds, also in the middle of a
// source transaction.
#pragma once
#include "kafka/commit_queue.hpp"
#include "kafka/consumer.hpp"
#include "kafka/eos.hpp"
#include "kafka/producer.hpp"
#include "format/pgoutput.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace kafka_fdw::cdc {

struct ExactlyOnce {
    std::string transactional_id;
    std::string mac_key;  // signs and verifies the progress records (kafka/eos.hpp)
    std::string progress_topic;
    int commit_interval_ms = 0;
    uint64_t commit_max_events = 0;
    uint64_t split_max_events = 0;
};

// A source transaction is split once its Kafka transaction is this old
// (librdkafka's transaction.timeout.ms is 60 s by default: a Kafka
// transaction open longer is aborted by the coordinator).
constexpr int kSplitAfterMs = 20000;
constexpr int kBehindFactor = 10;
// Events held during a commit, at most (then Send says CommitFirst).
constexpr size_t kHoldMaxBytes = 32u << 20;
constexpr size_t kHoldMaxEvents = 100000;
// After a commit, events are held this long before the next Kafka
// transaction begins: Kafka's coordinator (before transactions v2, Kafka
// 4.0) answers an AddPartitionsToTxn that comes before it has written the
// previous transaction's markers with CONCURRENT_TRANSACTIONS, and
// librdkafka waits 20 ms before asking again.  Measured on one broker at
// 20k messages/s and commits every 10 ms: a third of the transactions hit
// it without a pause, 2 of 350 with 2 ms (bench/README.md, "Exactly-once
// CDC").
constexpr int kSettleUs = 3000;

class Sender {
public:
    // eos nullptr: at-least-once (idempotent producer); else the conf must
    // carry eos->transactional_id, and reader is a consumer configuration
    // for the same cluster (the progress topic is read with it).
    Sender(kafka::Config &&conf, const std::string &partitioner, const ExactlyOnce *eos,
           std::unique_ptr<kafka::Config> reader);

    // Creates the topic when it does not exist (partitions/replication -1:
    // the broker's defaults; config: topic settings).
    void EnsureTopic(const std::string &topic, int partitions, int replication, int timeout_ms,
                     const kafka::Properties &config = {});

    void Begin(const format::pgoutput::Begin &b);
    void Commit();

    enum class SendResult { Queued, QueueFull, CommitFirst };
    // Starts the next item of the current source transaction (kafka/eos.hpp:
    // item 0 is its BEGIN, then one per pgoutput change or logical message,
    // the last its END).  Queued: go on (its events are sent, or dropped
    // when the position read at start covers the item: then Send queues
    // nothing); CommitFirst (exactly-once): wait for the commit under way
    // (CommitTransaction(true)), then call again.  Without items (the
    // initial snapshot) Send decides per event.
    SendResult Item();
    // Enqueues one event of the current transaction.  value == nullptr is a
    // tombstone.  QueueFull: the local queue stayed full for a slice (the
    // broker is slow or down): the caller reports it and retries.
    // CommitFirst (exactly-once): the commit under way must be done first
    // (CommitTransaction(true): the hold buffer is full, or the snapshot):
    // then retry.
    SendResult Send(const char *topic, const char *key, size_t key_len, const char *value, size_t value_len,
                    char op, const char *table, const char *unchanged_toast);

    // Enqueues an outbox message of the current transaction
    // (kafka.produce_on_commit): the caller's headers, then lsn, xid and
    // commit_ts as for row events.  As Send (and counted as an event of the
    // source transaction: skipped on a restart as row events are).
    SendResult SendOutbox(const char *topic, const char *key, size_t key_len, const char *value, size_t value_len,
                    const kafka::HeaderRef *headers, size_t n_headers);

    // Serves delivery reports; returns the position the slot may be
    // confirmed to (see CommitQueue; exactly-once: never past the first
    // source transaction of an uncommitted Kafka transaction).
    uint64_t Progress(uint64_t read_end);
    // Waits up to timeout_ms for every message to be acknowledged.
    bool Drain(int timeout_ms);

    // ---- exactly-once ----
    bool exactly_once() const { return eos_.transactional_id.size() > 0; }
    // One slice of init_transactions (fences older producers of the same
    // transactional.id, ends their open transaction): false to call again.
    bool InitTransactionsSlice(int slice_ms);
    // Reads the position from the progress topic (read_committed; after
    // InitTransactions, so that no transaction of ours is open there): what
    // it covers is skipped.  Throws Error(Timeout/Connection) while the
    // brokers do not answer (call again).
    void LoadPosition(int timeout_ms);
    // Nothing read counts (also not as the position later commits write).
    void IgnorePosition() { resume_ = committed_ = boundary_ = kafka::EosPosition{}; }
    const kafka::EosPosition &resume_position() const { return resume_; }
    // Commits the open Kafka transaction.  With `now` (a full hold buffer, a
    // heartbeat, the end of the snapshot, stopping): waits for the commit
    // under way, or when there is none cuts the open Kafka transaction
    // whatever its age and waits for its commit.  Else (at source commits,
    // items, filtered changes and housekeeping rounds) never waits for a flush: cuts the open Kafka
    // transaction when due (see above; between source transactions), sends
    // EndTxn once librdkafka has delivered everything, and produces the
    // events held meanwhile.  One slice: false when it is to be called again
    // (the broker is slow or down).  behind: the worker has WAL waiting to
    // be read (catching up): then a Kafka transaction is due only after
    // kBehindFactor x commit_interval_ms (fewer commits while latency
    // matters less).
    bool CommitTransaction(bool now, int slice_ms, bool behind = false);
    // In the middle of a source transaction whose changes are filtered out
    // (no item comes): a split, cut here, once the open Kafka transaction is
    // kSplitAfterMs old (between items: the position counts the items
    // done).  True when it cut.
    bool CutIfOld();
    // A commit is under way or held events wait to be produced: call
    // CommitTransaction(false) soon (it does not wait).
    bool commit_pending() const { return committing_ || settling_ || !held_.empty(); }
    uint64_t events_held = 0;  // (counted: events decoded during a commit)
    // A heartbeat record (between source transactions): in exactly-once
    // mode part of the open (or a new) Kafka transaction.  QueueFull as Send.
    SendResult Heartbeat(const std::string &topic, const std::string &key, const std::string &value);
    uint64_t heartbeats_sent = 0;
    bool commit_due(bool behind) const;
    bool kafka_txn_open() const { return txn_open_; }
    bool in_txn() const { return in_txn_; }
    const kafka::EosPosition &committed() const { return committed_; }
    uint64_t kafka_txns_committed = 0;
    uint64_t events_skipped = 0;  // covered by the progress record at start
    uint64_t positions_rejected = 0;  // progress records of our id that did not verify (not written by us)

    kafka::Producer &producer() { return producer_; }
    uint64_t pending() const { return queue_.pending_messages(); }
    uint64_t events_sent = 0;
    format::pgoutput::Change change;  // parse buffer, reused

private:
    using Clock = std::chrono::steady_clock;
    kafka::Producer producer_;
    kafka::CommitQueue queue_;
    std::unordered_set<std::string> topics_;
    std::string topic_;  // the last topic sent to (most events go to the same)
    uint32_t ledger_ = 0;
    bool in_txn_ = false;
    std::string lsn_, xid_, commit_ts_;
    std::vector<kafka::HeaderRef> outbox_headers_;  // reused
    // Before an event of the current source transaction: whether it is in
    // Kafka already (skipped), must wait for a commit, or goes (in the open,
    // or a new, Kafka transaction); and the counts after it was queued.
    enum class Gate { Skip, CommitFirst, Go, Hold };
    Gate Admit();
    // Held events (see above): bytes in held_bytes_, by offset.
    struct HeldEvent {
        uint32_t ledger;
        uint32_t topic;  // index in held_topics_
        size_t key, key_len, value, value_len;  // kNone: no key / a tombstone
        size_t headers, n_headers;              // range of held_headers_
        int64_t timestamp_ms;
    };
    struct HeldHeader {
        size_t name, name_len, value, value_len;
    };
    static constexpr size_t kNone = SIZE_MAX;
    std::vector<HeldEvent> held_;
    std::vector<HeldHeader> held_headers_;
    std::string held_bytes_;
    std::vector<std::string> held_topics_;
    std::unordered_map<std::string, uint32_t> held_topic_index_;
    uint32_t held_topic_ = 0;  // the last held event's
    std::vector<kafka::HeaderRef> replay_headers_;  // (reused)
    size_t held_next_ = 0;        // produced so far (a full queue stops a replay)
    bool settling_ = false;       // a commit is done, kSettleUs not over yet
    Clock::time_point settle_until_;
    uint64_t held_first_lsn_ = 0;  // final_lsn of the first held event's source transaction
    SendResult Hold(const std::string &topic, const char *key, size_t key_len, const char *value, size_t value_len,
                    const kafka::HeaderRef *headers, size_t n_headers);
    size_t HoldBytes(const char *p, size_t n);
    // Produces the held events into a new Kafka transaction: false when the
    // local queue stayed full (call again).
    bool Replay();
    // A progress record into the open Kafka transaction: false when the
    // local queue stayed full.
    bool ProducePosition(const kafka::EosPosition &p);
    // Produces the progress record of the open Kafka transaction and marks
    // the commit under way: false when the local queue stayed full.
    bool Cut();
    void OpenKafkaTransaction();
    // Begins a Kafka transaction (first_uncommitted: its first source
    // transaction's final_lsn, 0 for none yet).
    void BeginKafkaTransaction(uint64_t first_uncommitted);
    SendResult ProduceEvent(const std::string &topic, const char *key, size_t key_len, const char *value,
                            size_t value_len, const kafka::HeaderRef *headers, size_t n_headers);
    std::string outbox_topic_;  // (reused)
    void Queued();
    int64_t ts_ms_ = 0;
    uint64_t final_lsn_ = 0;  // of the source transaction being decoded

    ExactlyOnce eos_;
    kafka::EosPosition resume_;     // from the progress topic at start
    kafka::EosPosition committed_;  // what the last commit recorded
    uint64_t skip_ = 0;             // items of the current source transaction covered by the position read (kSkipAll: all)
    bool item_mode_ = false;        // the current source transaction is sent item by item
    bool item_skipped_ = false;     // the current item is covered: its events are dropped
    uint64_t next_item_ = 0;        // the index of the next item
    bool txn_open_ = false;         // a Kafka transaction is open
    bool committing_ = false;       // its progress record is produced, commit under way
    Clock::time_point txn_began_;
    int64_t txn_began_ms_ = 0;      // the same, on the coarse clock (sender.cpp CoarseMs)
    uint64_t txn_events_ = 0;       // events in the open Kafka transaction
    uint64_t first_uncommitted_ = 0;  // final_lsn of its first source transaction (0: none)
    uint64_t src_events_ = 0;       // events of the current source transaction (without items: the snapshot)
    uint32_t part_ = 1;             // the current source transaction's part
    std::string part_text_;
    uint32_t progress_ledger_ = 0;
    kafka::EosPosition pending_position_;  // what the commit under way records
    // The position a commit between source transactions records: the
    // furthest of the position read at start and the last source
    // transaction decoded whole (transactions skipped at start come before
    // the position read, and a heartbeat may come before any transaction).
    kafka::EosPosition boundary_;
    uint32_t heartbeat_ledger_ = 0;
    std::unique_ptr<kafka::Config> reader_conf_;
    std::unique_ptr<kafka::RangeConsumer> reader_;
    bool position_loaded_ = false;
};

}  // namespace kafka_fdw::cdc
