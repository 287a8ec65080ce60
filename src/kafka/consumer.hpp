// Reads fixed offset ranges of a topic's partitions and ends exactly.
//
// The ranges are [start, end) per partition, with `end` normally the high
// watermark taken when the scan started.  A partition is done when a message at
// offset >= end-1 arrives, or when librdkafka reports partition EOF at or past
// `end` (transaction markers and aborted messages at the tail never arrive as
// messages).  A scan never ends because a timeout passed: if no progress is
// made for `stall_timeout_ms`, it fails with Error(Timeout) naming the
// partition and offset it was waiting for.
//
// Bounded prefetch: librdkafka 2.0.2 stops fetching while the local queue
// holds queued.min.messages or queued.max.messages.kbytes, and its broker
// thread looks again only when something wakes it, or after a hard-coded
// second (2.4 added fetch.queue.backoff.ms).  So once the queue was near a
// threshold and has drained to half of it, Next() wakes the broker threads
// with a ListOffsets request it does not wait for (rd_kafka_offsets_for_times
// with timeout 0: nothing queued is purged, no position changes).  Small
// thresholds then cost little throughput and keep memory flat.  librdkafka
// 2.4+ has fetch.queue.backoff.ms instead: its broker threads look at a full
// queue again after that time whatever wakes them, so there are no wake-ups
// (the glue's reader defaults set it to 1 ms).
#pragma once
#include "cpp_only.hpp"

#include "kafka/client.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace kafka_fdw::kafka {

// A message's headers as a JSON object text: {"name": "value", ...}; a null
// value is JSON null, a value that is not valid UTF-8 text (or holds NUL)
// becomes a "\\x..." hex string.
void HeadersToJson(const rd_kafka_message_t *m, std::string &out);
// The same for a header list (nullptr: no headers), e.g. one built with
// rd_kafka_headers_new (the fuzz harness test/fuzz/fuzz_headers.cpp).
void HeadersToJson(const rd_kafka_headers_t *hdrs, std::string &out);

struct PartitionRange {
    int32_t partition;
    int64_t start;  // first offset to read
    int64_t end;    // one past the last offset to read
};

class RangeConsumer : public Client {
public:
    RangeConsumer(Config &&conf, std::string topic, int stall_timeout_ms);
    ~RangeConsumer() override;

    // How many RangeConsumers this process has made (for the tests: a scan,
    // its rescans and an ANALYZE use one client each).
    static uint64_t MadeInProcess() noexcept;

    // Start reading the given ranges (empty ranges are skipped at no cost).
    // A partition may have several ranges: they are read in offset order
    // (overlapping ones once), and the messages between two of them are
    // fetched and dropped here, never delivered.
    //
    // May be called again, at any point (a serial scan's next round, a
    // rescan, a parallel worker's next claim): the same client, its threads,
    // connections and metadata, reads the new ranges.  What the earlier call
    // started is stopped first, and nothing of it is delivered afterwards:
    // the partitions are stopped (rd_kafka_consume_stop waits until their
    // fetcher has let go of the queue), the messages already taken from the
    // queue are released, and the new ranges are read through a new queue,
    // so that whatever the old one still holds is dropped with it.  A
    // partition started again at another offset gets a new op version from
    // librdkafka as well: fetches of the old one that land late are
    // discarded by librdkafka itself (rd_kafka_op_version_outdated).
    void Start(const std::vector<PartitionRange> &ranges);

    // The next message in range, or nullptr when every range is done.  The
    // message stays valid until the next call.
    const rd_kafka_message_t *Next();

    // Stop reading (LIMIT reached, a rescan): the partitions stop fetching,
    // the message handed out last is released, and Next() returns nullptr
    // until the next Start().  Safe to call twice.
    void Stop();

    const std::string &topic() const { return topic_; }
    int stall_timeout_ms() const { return stall_timeout_ms_; }
    // How often Start() was called on this client.
    int64_t starts() const { return starts_; }
    int64_t delivered() const { return delivered_; }
    // How often the broker threads were woken (see above).
    int64_t wake_ups() const { return wake_ups_; }

private:
    struct Part {
        PartitionRange range;              // the range being read
        std::vector<PartitionRange> more;  // the partition's later ranges, in offset order
        size_t more_pos;                   // next entry of `more`
        int64_t next;  // next offset expected
        bool done;
        bool started;
    };
    // The partition has read everything below `offset`: move to its first
    // range that ends past it, or mark it done.
    void Advance(Part *p, int64_t offset);
    Part *Find(int32_t partition);
    // Stops what an earlier Start() began and forgets it (see Start).
    void Reset();
    void ReleaseBatch();
    bool FetchBatch();
    // How many messages are still to be delivered, at most a batch.
    size_t BatchWanted() const;
    // Wakes the leaders' broker threads if the prefetch may have stopped:
    // `queued` messages were in the queue, `taken` were just taken from it.
    void MaybeWakeFetchers(int64_t queued, int64_t taken);

    // Prefetch thresholds (from the configuration), the queue's peak since
    // the last wake-up, the average message size seen, the last wake-up.
    int64_t queue_max_messages_ = 100000;
    int64_t queue_max_bytes_ = 65536 * 1024LL;
    int64_t queue_peak_ = 0;
    double avg_message_bytes_ = 0;
    std::chrono::steady_clock::time_point last_wake_{};
    rd_kafka_topic_partition_list_t *wake_list_ = nullptr;
    // false when the broker threads look again by themselves (librdkafka
    // 2.4+, which has fetch.queue.backoff.ms)
    bool wake_fetchers_ = true;
    int64_t wake_ups_ = 0;

    std::string topic_;
    int stall_timeout_ms_;
    rd_kafka_topic_t *rkt_ = nullptr;
    rd_kafka_queue_t *queue_ = nullptr;
    std::vector<Part> parts_;
    size_t remaining_ = 0;
    std::vector<rd_kafka_message_t *> batch_;
    size_t batch_len_ = 0;
    size_t batch_pos_ = 0;
    int64_t delivered_ = 0;
    int64_t starts_ = 0;
};

}  // namespace kafka_fdw::kafka
