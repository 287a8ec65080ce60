#include "kafka/consumer.hpp"

#include "kafka/errors.hpp"
#include "kafka/wait.hpp"

#include "format/json.hpp"

#include <chrono>
#include <cstring>

namespace kafka_fdw::kafka {

namespace {
constexpr size_t kBatch = 1024;
}

void HeadersToJson(const rd_kafka_message_t *m, std::string &out) {
    out.assign("{");
    rd_kafka_headers_t *hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs) {
        out += "}";
        return;
    }
    const char *name;
    const void *val;
    size_t size;
    // Text as a JSON string; bytes that are not valid UTF-8 text as "\\x<hex>".
    auto append_text_or_hex = [&out](const char *v, size_t size) {
        if (format::IsValidUtf8(v, size) && !memchr(v, '\0', size)) {
            format::AppendJsonString(out, v, size);
            return;
        }
        static const char hex[] = "0123456789abcdef";
        std::string h = "\\x";
        for (size_t k = 0; k < size; k++) {
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
}

RangeConsumer::~RangeConsumer() {
    ReleaseBatch();
    Stop();
    if (queue_) rd_kafka_queue_destroy(queue_);
    if (rkt_) rd_kafka_topic_destroy(rkt_);
}

void RangeConsumer::Start(const std::vector<PartitionRange> &ranges) {
    for (const auto &r : ranges) {
        if (r.start >= r.end) continue;
        parts_.push_back({r, r.start, false, false});
    }
    for (auto &p : parts_) {
        if (rd_kafka_consume_start_queue(rkt_, p.range.partition, p.range.start, queue_) == -1)
            throw Error(KindOf(rd_kafka_last_error()), "could not start consuming",
                        rd_kafka_err2str(rd_kafka_last_error()), rd_kafka_last_error())
                .At(topic_, p.range.partition, p.range.start);
        p.started = true;
    }
    remaining_ = parts_.size();
}

void RangeConsumer::Stop() {
    for (auto &p : parts_) {
        if (p.started) rd_kafka_consume_stop(rkt_, p.range.partition);
        p.started = false;
    }
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
        ssize_t n = rd_kafka_consume_batch_queue(queue_, 0, batch_.data(), kBatch);
        // Queue empty: wait a few ms for a full batch (a fast reader would
        // otherwise wake up for every message), then a slice for anything.
        if (n == 0) n = rd_kafka_consume_batch_queue(queue_, 5, batch_.data(), kBatch);
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
            if (m->offset >= p->range.end) {
                p->done = true;
                remaining_--;
            }
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
        } else if (m->offset >= p->range.end) {
            p->done = true;
            remaining_--;
        } else {
            p->next = m->offset + 1;
            if (p->next >= p->range.end) {
                p->done = true;
                remaining_--;
            }
            deliver = true;
        }
        if (deliver) {
            delivered_++;
            return m;  // destroyed at the next call
        }
        rd_kafka_message_destroy(m);
        batch_[batch_pos_ - 1] = nullptr;
    }
    ReleaseBatch();
    Stop();
    return nullptr;
}

}  // namespace kafka_fdw::kafka
