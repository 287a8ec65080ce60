// Producer with a delivery-report ledger.  Every message is produced under a
// ledger (one per statement, or per transaction for kafka.send); delivery
// reports, served by Poll() on the caller's thread, count it as acknowledged
// or failed.  A ledger can also record each message's partition and offset
// (for RETURNING and kafka.produce).  Flush waits in slices with a deadline.
#pragma once
#include "cpp_only.hpp"

#include "kafka/client.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace kafka_fdw::kafka {

class Deadline;

struct Header {
    std::string name;
    std::string value;
    bool null = false;  // a header without a value (JSON null), not an empty one
};

// A header given by reference (for hot paths: no copies).
struct HeaderRef {
    const char *name;  // NUL-terminated
    const char *value;
    size_t value_len;
};

struct OutMessage {
    int32_t partition = RD_KAFKA_PARTITION_UA;  // UA: chosen by the partitioner
    const char *key = nullptr;                  // nullptr: no key
    size_t key_len = 0;
    const char *value = nullptr;                // nullptr: a tombstone
    size_t value_len = 0;
    int64_t timestamp_ms = 0;                   // 0: now
    const std::vector<Header> *headers = nullptr;
    const HeaderRef *header_refs = nullptr;     // more headers, after `headers`
    size_t n_header_refs = 0;
    const char *partitioner = nullptr;          // nullptr: the producer's default
};

// A message for ProduceBatch: partitioned by its key, no headers,
// timestamped when enqueued.  (2.0.2's produce_batch leaks a message given a
// partition the topic does not have, so explicit partitions go to Produce.)
struct BatchMessage {
    const char *key = nullptr;  // nullptr: no key
    size_t key_len = 0;
    const char *value = nullptr;  // nullptr: a tombstone
    size_t value_len = 0;
};

struct DeliveryResult {
    int32_t partition = -1;
    int64_t offset = -1;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__IN_PROGRESS;
};

class Ledger {
public:
    uint64_t sent = 0;
    uint64_t acked = 0;
    uint64_t failed = 0;
    rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::string first_error_text;
    std::string first_error_topic;
    int32_t first_error_partition = -1;
    bool track = false;                    // record each message's result
    std::vector<DeliveryResult> results;   // by sequence, when track

    uint64_t pending() const { return sent - acked - failed; }
};

class Producer : public Client {
public:
    // `partitioner` is set on every topic handle (default murmur2_random, as
    // Java's producer); the conf's acks/idempotence are the caller's choice.
    Producer(Config &&conf, std::string partitioner, int timeout_ms);
    ~Producer() override;

    // Ledgers are owned by the producer, addressed by id.
    uint32_t OpenLedger(bool track = false);
    Ledger &GetLedger(uint32_t id);
    void CloseLedger(uint32_t id);

    // Enqueue one message.  A full local queue is waited on in slices until
    // the deadline; then Error(Timeout).  Returns the message's sequence in
    // its ledger.
    uint64_t Produce(uint32_t ledger, const std::string &topic, const OutMessage &msg);
    // Enqueue messages in order with rd_kafka_produce_batch (one clock read
    // and topic lock per call instead of per message); the same full-queue
    // waits and errors as Produce.  `partitioner`: as OutMessage's.
    void ProduceBatch(uint32_t ledger, const std::string &topic, const char *partitioner,
                      const BatchMessage *msgs, size_t n);

    // Wait until the ledger has no pending message, or throw on the deadline.
    void Await(uint32_t ledger, int timeout_ms);
    // Wait until nothing is in flight at all (used before destroying).
    bool FlushAll(int timeout_ms);

    // Throws Error(Delivery) if any message of the ledger failed.
    void CheckLedger(uint32_t ledger) const;

    // Transactions (transactional.id must be in the configuration).
    void InitTransactions(int timeout_ms);
    void BeginTransaction();
    void CommitTransaction(int timeout_ms);
    void AbortTransaction(int timeout_ms);
    bool transactions_initialized() const { return txn_init_; }
    // Resumable forms (a CDC worker's waits): one slice of at most slice_ms;
    // false when the slice ran out and the call is to be made again
    // (librdkafka resumes the same operation), true when done.  Errors that
    // are not retriable throw; a fenced producer throws Error(Fenced).
    bool InitTransactionsSlice(int slice_ms);
    bool CommitTransactionSlice(int slice_ms);

    int timeout_ms() const { return timeout_ms_; }
    size_t open_ledgers() const { return ledgers_.size(); }
    rd_kafka_topic_t *Topic(const std::string &name, const char *partitioner = nullptr);

protected:
    void OnDelivery(const rd_kafka_message_t *msg) override;

private:
    [[noreturn]] void ThrowProduceError(rd_kafka_resp_err_t err, const std::string &topic, int32_t partition,
                                        size_t bytes);
    // A full local queue: serve delivery reports for a slice; Error(Timeout)
    // once the deadline (created at the first wait) has passed.
    void WaitForQueue(std::unique_ptr<Deadline> &deadline, const std::string &topic);

    std::string partitioner_;
    int timeout_ms_;
    uint32_t next_ledger_ = 1;
    std::map<uint32_t, Ledger> ledgers_;
    struct TopicHandle {
        rd_kafka_topic_t *rkt;
        std::string partitioner;
    };
    std::unordered_map<std::string, TopicHandle> topics_;  // by topic name: one partitioner per topic
    std::string last_topic_;                  // Topic()'s last answer for the default partitioner
    rd_kafka_topic_t *last_rkt_ = nullptr;
    bool txn_init_ = false;
    uint64_t produced_ = 0;
    std::vector<rd_kafka_message_t> batch_;  // ProduceBatch's scratch
};

}  // namespace kafka_fdw::kafka
