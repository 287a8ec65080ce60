#include "kafka/consumer.hpp"

#include "kafka/errors.hpp"
#include "kafka/wait.hpp"

#include "format/json.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace kafka_fdw::kafka {

namespace {
constexpr size_t kBatch = 1024;
}

void HeadersToJson(const rd_kafka_message_t *m, std::string &out) {
    rd_kafka_headers_t *hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) hdrs = nullptr;
    HeadersToJson(hdrs, out);
}

void HeadersToJson(const rd_kafka_headers_t *hdrs, std::string &out) {
    out.assign("{");
    if (!hdrs) {
        out += "}";
        return;
    }
    const char *name;
    const void *val;
    size_t size;
    // Text as a JSON string; bytes that are not valid UTF-8 text as "\\x<hex>".
    auto append_text_or_hex = [&out](const char *v, size_t len) {
        if (format::IsValidUtf8(v, len) && !memchr(v, '\0', len)) {
            format::AppendJsonString(out, v, len);
            return;
        }
        static const char hex[] = "0123456789abcdef";
        std::string h = "\\x";
        for (size_t k = 0; k < len; k++) {
            unsigned char b = static_cast<unsigned char>(v[k]);
            h.push_back(hex[b >> 4]);
            h.push_back(hex[b & 15]);
        }
        format::AppendJsonString(out, h.data(), h.size());
    };
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
        if (i) out += ", ";
        append_text_or_hex(name, strlen(name));
        out += ": ";
        if (!val) out += "null";
        else append_text_or_hex(static_cast<const char *>(val), size);
    }
    out += "}";
}

namespace {
std::atomic<uint64_t> g_range_consumers_made{0};
}  // namespace

uint64_t RangeConsumer::MadeInProcess() noexcept { return g_range_consumers_made.load(std::memory_order_relaxed); }

RangeConsumer::RangeConsumer(Config &&conf, std::string topic, int stall_timeout_ms)
    : Client(Type::Consumer, [&]() -> Config && {
          conf.Set("enable.partition.eof", "true");
          return std::move(conf);
      }()),
      topic_(std::move(topic)), stall_timeout_ms_(stall_timeout_ms), batch_(kBatch, nullptr) {
    rd_kafka_topic_conf_t *tconf = rd_kafka_topic_conf_new();
    char errstr[256];
    rd_kafka_topic_conf_set(tconf, "auto.offset.reset", "error", errstr, sizeof errstr);
    rkt_ = rd_kafka_topic_new(handle(), topic_.c_str(), tconf);
    if (!rkt_) Throw(rd_kafka_last_error(), "could not create topic handle for \"" + topic_ + "\"");
    queue_ = rd_kafka_queue_new(handle());
    g_range_consumers_made.fetch_add(1, std::memory_order_relaxed);
    auto conf_int = [this](const char *name, int64_t fallback) {
        char buf[64];
        size_t sz = sizeof buf;
        if (rd_kafka_conf_get(rd_kafka_conf(handle()), name, buf, &sz) != RD_KAFKA_CONF_OK) return fallback;
        return static_cast<int64_t>(strtoll(buf, nullptr, 10));
    };
    queue_max_messages_ = conf_int("queued.min.messages", queue_max_messages_);
    queue_max_bytes_ = conf_int("queued.max.messages.kbytes", queue_max_bytes_ / 1024) * 1024;
    // (-1: a librdkafka before 2.4, which has no such property)
    int64_t backoff = conf_int("fetch.queue.backoff.ms", -1);
    wake_fetchers_ = backoff < 0;
}

RangeConsumer::~RangeConsumer() {
    Stop();
    if (queue_) rd_kafka_queue_destroy(queue_);
    if (wake_list_) rd_kafka_topic_partition_list_destroy(wake_list_);
    if (rkt_) rd_kafka_topic_destroy(rkt_);
}

void RangeConsumer::Reset() {
    Stop();  // waits until each partition's fetcher no longer feeds queue_
    parts_.clear();
    remaining_ = 0;
    queue_peak_ = 0;
    if (wake_list_) rd_kafka_topic_partition_list_destroy(wake_list_);
    wake_list_ = nullptr;
    // What the old queue still holds (prefetched messages, end-of-partition
    // events) is destroyed with it.
    rd_kafka_queue_t *fresh = rd_kafka_queue_new(handle());
    rd_kafka_queue_destroy(queue_);
    queue_ = fresh;
    // A client error of the earlier ranges (e.g. an unknown partition) is
    // not this reading's.
    ClearLastError();
}

void RangeConsumer::Start(const std::vector<PartitionRange> &ranges) {
    if (starts_++ > 0) Reset();
    // One Part per partition, its non-empty ranges sorted and merged.
    std::vector<PartitionRange> sorted;
    for (const auto &r : ranges)
        if (r.start < r.end) sorted.push_back(r);
    std::stable_sort(sorted.begin(), sorted.end(), [](const PartitionRange &a, const PartitionRange &b) {
        return a.partition != b.partition ? a.partition < b.partition : a.start < b.start;
    });
    for (const auto &r : sorted) {
        Part *p = parts_.empty() ? nullptr : &parts_.back();
        if (p && p->range.partition == r.partition) {
            PartitionRange &last = p->more.empty() ? p->range : p->more.back();
            if (r.start <= last.end) last.end = std::max(last.end, r.end);
            else p->more.push_back(r);
            continue;
        }
        parts_.push_back({r, {}, 0, r.start, false, false});
    }
    for (auto &p : parts_) {
        if (rd_kafka_consume_start_queue(rkt_, p.range.partition, p.range.start, queue_) == -1)
            throw Error(KindOf(rd_kafka_last_error()), "could not start consuming",
                        rd_kafka_err2str(rd_kafka_last_error()), rd_kafka_last_error())
                .At(topic_, p.range.partition, p.range.start);
        p.started = true;
    }
    remaining_ = parts_.size();
    if (!wake_fetchers_) return;
    wake_list_ = rd_kafka_topic_partition_list_new(static_cast<int>(parts_.size()));
    for (auto &p : parts_) rd_kafka_topic_partition_list_add(wake_list_, topic_.c_str(), p.range.partition);
}

void RangeConsumer::Advance(Part *p, int64_t offset) {
    while (p->range.end <= offset) {
        if (p->more_pos >= p->more.size()) {
            p->done = true;
            remaining_--;
            return;
        }
        p->range = p->more[p->more_pos++];
    }
}

void RangeConsumer::MaybeWakeFetchers(int64_t queued, int64_t taken) {
    if (!wake_list_ || wake_list_->cnt == 0 || remaining_ == 0) return;
    int64_t left = std::max<int64_t>(0, queued - taken);
    if (taken > 0) {
        queue_peak_ = std::max(queue_peak_, queued);
        double peak_bytes = static_cast<double>(queue_peak_) * avg_message_bytes_;
        double left_bytes = static_cast<double>(left) * avg_message_bytes_;
        // Near a threshold since the last wake-up (a fetch response lands
        // whole, so "near" is 3/4), and now drained to half: wake.
        bool was_high = 4 * queue_peak_ >= 3 * queue_max_messages_ ||
                        4 * peak_bytes >= 3 * static_cast<double>(queue_max_bytes_);
        bool low = 2 * left <= queue_max_messages_ && 2 * left_bytes <= static_cast<double>(queue_max_bytes_);
        if (!was_high || !low) return;
    }
    auto now = std::chrono::steady_clock::now();  // not read per batch: only here
    if (taken == 0 && now - last_wake_ < std::chrono::milliseconds(5)) return;  // empty: at most every 5 ms
    for (int i = 0; i < wake_list_->cnt; i++) wake_list_->elems[i].offset = RD_KAFKA_OFFSET_END;
    // Timeout 0: the requests are sent (which wakes the broker threads) and
    // the call returns; late replies are dropped by librdkafka.
    rd_kafka_offsets_for_times(handle(), wake_list_, 0);
    last_wake_ = now;
    queue_peak_ = left;
    wake_ups_++;
}

void RangeConsumer::Stop() {
    ReleaseBatch();
    for (auto &p : parts_) {
        if (p.started) rd_kafka_consume_stop(rkt_, p.range.partition);
        p.started = false;
    }
    remaining_ = 0;
}

size_t RangeConsumer::BatchWanted() const {
    int64_t left = 0;
    for (const auto &p : parts_) {
        if (p.done) continue;
        left += p.range.end - std::max(p.next, p.range.start);
        for (size_t i = p.more_pos; i < p.more.size(); i++) left += p.more[i].end - p.more[i].start;
        if (left >= static_cast<int64_t>(kBatch)) return kBatch;
    }
    return static_cast<size_t>(std::max<int64_t>(1, left));
}

RangeConsumer::Part *RangeConsumer::Find(int32_t partition) {
    for (auto &p : parts_)
        if (p.range.partition == partition) return &p;
    return nullptr;
}

void RangeConsumer::ReleaseBatch() {
    // Messages already handed out were set to nullptr when destroyed.
    for (size_t i = 0; i < batch_len_; i++)
        if (batch_[i]) {
            rd_kafka_message_destroy(batch_[i]);
            batch_[i] = nullptr;
        }
    batch_len_ = batch_pos_ = 0;
}

bool RangeConsumer::FetchBatch() {
    auto last_progress = std::chrono::steady_clock::now();
    for (;;) {
        // rd_kafka_consume_batch_queue waits for a FULL batch until its
        // timeout: take what is there without waiting, and only when the
        // queue is empty wait (one slice) for the next message.
        int64_t queued = rd_kafka_queue_length(queue_);
        ssize_t n = rd_kafka_consume_batch_queue(queue_, 0, batch_.data(), kBatch);
        MaybeWakeFetchers(queued, std::max<ssize_t>(n, 0));
        // Queue empty: wait a few ms for a full batch (a fast reader would
        // otherwise wake up for every message), then a slice for anything.
        // A batch is never more than what is left to read: a short read
        // (a LIMIT, a point lookup, a rescan) does not sit out the few ms
        // waiting for messages that will not come.
        if (n == 0) n = rd_kafka_consume_batch_queue(queue_, 5, batch_.data(), BatchWanted());
        if (n == 0) n = rd_kafka_consume_batch_queue(queue_, kSliceMs, batch_.data(), 1);
        Poll(0);
        if (n > 0) {
            batch_len_ = static_cast<size_t>(n);
            batch_pos_ = 0;
            return true;
        }
        if (n < 0)
            throw Error(KindOf(rd_kafka_last_error()), "could not consume from topic \"" + topic_ + "\"",
                        rd_kafka_err2str(rd_kafka_last_error()), rd_kafka_last_error())
                .At(topic_);
        CheckInterrupts();
        if (last_error() == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
            const Part *p = nullptr;
            for (const auto &part : parts_)
                if (!part.done) {
                    p = &part;
                    break;
                }
            throw Error(ErrorKind::UnknownPartition, "partition does not exist in topic \"" + topic_ + "\"",
                        last_error_text(), last_error())
                .At(topic_, p ? p->range.partition : -1);
        }
        auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - last_progress)
                        .count();
        if (idle >= stall_timeout_ms_) {
            const Part *waiting = nullptr;
            for (const auto &p : parts_)
                if (!p.done) {
                    waiting = &p;
                    break;
                }
            std::string detail = last_error_text().empty() ? "no message arrived" : last_error_text();
            throw Error(ErrorKind::Timeout,
                        "no progress reading topic \"" + topic_ + "\" for " +
                            std::to_string(stall_timeout_ms_) + " ms",
                        detail)
                .At(topic_, waiting ? waiting->range.partition : -1, waiting ? waiting->next : -1)
                .Hint("Check that the brokers are reachable, or raise kafka_fdw.timeout.");
        }
    }
}

const rd_kafka_message_t *RangeConsumer::Next() {
    // Release the message handed out by the previous call.
    if (batch_pos_ > 0 && batch_pos_ <= batch_len_ && batch_[batch_pos_ - 1]) {
        rd_kafka_message_destroy(batch_[batch_pos_ - 1]);
        batch_[batch_pos_ - 1] = nullptr;
    }
    while (remaining_ > 0) {
        if (batch_pos_ >= batch_len_) {
            batch_len_ = batch_pos_ = 0;
            FetchBatch();
        }
        rd_kafka_message_t *m = batch_[batch_pos_++];
        Part *p = Find(m->partition);
        bool deliver = false;
        if (!p || p->done) {
            // a partition we are done with: drop
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            // everything below the end of the log has been read
            Advance(p, m->offset);
        } else if (m->err) {
            Error e(KindOf(m->err), "could not consume from topic \"" + topic_ + "\"",
                    rd_kafka_message_errstr(m), m->err);
            e.At(topic_, m->partition, m->offset >= 0 ? m->offset : p->next);
            if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
                e.Hint("The messages were deleted by retention while being read; run the query again.");
            rd_kafka_message_destroy(m);
            batch_[batch_pos_ - 1] = nullptr;
            throw e;
        } else {
            // past the current range: on to the range holding it, if any
            if (m->offset >= p->range.end) Advance(p, m->offset);
            // below the range (between two ranges) or already read: dropped
            if (!p->done && m->offset >= p->range.start && m->offset >= p->next) {
                p->next = m->offset + 1;
                Advance(p, p->next);
                deliver = true;
            }
        }
        if (deliver) {
            delivered_++;
            // running average of the message size (its payload and key)
            avg_message_bytes_ += (static_cast<double>(m->len + m->key_len) - avg_message_bytes_) / 64.0;
            return m;  // destroyed at the next call
        }
        rd_kafka_message_destroy(m);
        batch_[batch_pos_ - 1] = nullptr;
    }
    Stop();
    return nullptr;
}

}  // namespace kafka_fdw::kafka
