#include "kafka/producer.hpp"

#include "kafka/errors.hpp"
#include "kafka/wait.hpp"

#include <chrono>
#include <memory>
#include <thread>

namespace kafka_fdw::kafka {

namespace {
// msg_opaque packs the ledger id and the message's sequence in it.
void *PackOpaque(uint32_t ledger, uint64_t seq) {
    return reinterpret_cast<void *>((static_cast<uintptr_t>(ledger) << 40) | (seq & ((1ull << 40) - 1)));
}
void UnpackOpaque(void *p, uint32_t *ledger, uint64_t *seq) {
    auto v = reinterpret_cast<uintptr_t>(p);
    *ledger = static_cast<uint32_t>(v >> 40);
    *seq = v & ((1ull << 40) - 1);
}

[[noreturn]] void ThrowTxnError(rd_kafka_error_t *error, const std::string &what) {
    std::string detail = rd_kafka_error_string(error);
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    throw Error(KindOf(code) == ErrorKind::Internal ? ErrorKind::Delivery : KindOf(code),
                "could not " + what + " Kafka transaction", detail, code);
}

const char *const kPartitionerHint =
    "Valid partitioners: murmur2_random, murmur2, consistent_random, consistent, fnv1a_random, fnv1a, random.";

// librdkafka keeps one configuration per topic and client: the first handle
// made for a topic fixes its partitioner, and rd_kafka_topic_new on a topic
// that has a handle already ignores the configuration it is given.  Handles
// that librdkafka makes itself (e.g. for a metadata request on the topic,
// as a CDC worker sends before its first message) start from the client's
// default topic configuration, whose partitioner is consistent_random unless
// set: so the producer's default partitioner goes into the client's
// configuration, not only into the handles Topic() makes.
Config WithPartitioner(Config &&conf, const std::string &partitioner) {
    try {
        conf.Set("partitioner", partitioner);
    } catch (const Error &e) {
        throw Error(ErrorKind::InvalidConfig, "invalid partitioner \"" + partitioner + "\"", e.detail)
            .Hint(kPartitionerHint);
    }
    return std::move(conf);
}
}  // namespace

Producer::Producer(Config &&conf, std::string partitioner, int timeout_ms)
    : Client(Type::Producer, WithPartitioner(std::move(conf), partitioner)), partitioner_(std::move(partitioner)),
      timeout_ms_(timeout_ms) {}

Producer::~Producer() {
    for (auto &[name, t] : topics_) rd_kafka_topic_destroy(t.rkt);
}

rd_kafka_topic_t *Producer::Topic(const std::string &name, const char *partitioner_in) {
    // The common case, one topic with the default partitioner: no lookup.
    bool default_partitioner = !partitioner_in || partitioner_ == partitioner_in;
    if (default_partitioner && last_rkt_ && last_topic_ == name) return last_rkt_;
    const std::string partitioner = partitioner_in ? partitioner_in : partitioner_;
    auto it = topics_.find(name);
    if (it != topics_.end()) {
        // One partitioner per topic and client (see WithPartitioner): a
        // second one would be ignored by librdkafka, i.e. its rows would go
        // where the first one puts them.
        if (it->second.partitioner != partitioner)
            throw Error(ErrorKind::InvalidConfig,
                        "topic \"" + name + "\" is already written with partitioner \"" + it->second.partitioner +
                            "\" on this connection; it cannot also be written with \"" + partitioner + "\"")
                .At(name)
                .Hint("Kafka clients keep one partitioner per topic: give every table that writes to this topic "
                      "through this server the same partitioner option, or use another server for one of them.");
        if (default_partitioner) {
            last_topic_ = name;
            last_rkt_ = it->second.rkt;
        }
        return it->second.rkt;
    }
    // Start from the topic-level settings of the client's configuration
    // (acks, message.timeout.ms, compression, the default partitioner...),
    // then set this handle's partitioner.
    rd_kafka_topic_conf_t *tconf = rd_kafka_default_topic_conf_dup(handle());
    char errstr[256];
    if (rd_kafka_topic_conf_set(tconf, "partitioner", partitioner.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_topic_conf_destroy(tconf);
        throw Error(ErrorKind::InvalidConfig, "invalid partitioner \"" + partitioner + "\"", errstr)
            .Hint(kPartitionerHint);
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(handle(), name.c_str(), tconf);  // takes tconf
    if (!rkt) Throw(rd_kafka_last_error(), "could not create topic handle for \"" + name + "\"");
    topics_.emplace(name, TopicHandle{rkt, partitioner});
    return rkt;
}

uint32_t Producer::OpenLedger(bool track) {
    uint32_t id = next_ledger_++;
    if (next_ledger_ >= (1u << 23)) next_ledger_ = 1;
    Ledger &l = ledgers_[id];
    l.track = track;
    return id;
}

Ledger &Producer::GetLedger(uint32_t id) { return ledgers_.at(id); }

void Producer::CloseLedger(uint32_t id) { ledgers_.erase(id); }

uint64_t Producer::Produce(uint32_t ledger_id, const std::string &topic, const OutMessage &m) {
    Ledger &ledger = GetLedger(ledger_id);
    rd_kafka_topic_t *rkt = Topic(topic, m.partitioner);
    uint64_t seq = ledger.sent;

    rd_kafka_headers_t *hdrs = nullptr;
    std::unique_ptr<Deadline> deadline;  // only once the local queue is full
    for (;;) {
        rd_kafka_resp_err_t err;
        size_t nheaders = (m.headers ? m.headers->size() : 0) + m.n_header_refs;
        if (nheaders > 0) {
            hdrs = rd_kafka_headers_new(nheaders);
            if (m.headers)
                for (const auto &h : *m.headers)
                    rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()),
                                        h.null ? nullptr : h.value.data(),
                                        h.null ? 0 : static_cast<ssize_t>(h.value.size()));
            for (size_t i = 0; i < m.n_header_refs; i++)
                rd_kafka_header_add(hdrs, m.header_refs[i].name, -1, m.header_refs[i].value,
                                    static_cast<ssize_t>(m.header_refs[i].value_len));
            // producev: produceva double-frees headers on some errors in 2.0.2
            err = rd_kafka_producev(handle(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(m.partition),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_VALUE(const_cast<char *>(m.value), m.value_len),
                                    RD_KAFKA_V_KEY(m.key, m.key_len),
                                    RD_KAFKA_V_TIMESTAMP(m.timestamp_ms),
                                    RD_KAFKA_V_HEADERS(hdrs),
                                    RD_KAFKA_V_OPAQUE(PackOpaque(ledger_id, seq)), RD_KAFKA_V_END);
            if (err) rd_kafka_headers_destroy(hdrs);  // not taken over on failure
        } else {
            err = rd_kafka_producev(handle(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(m.partition),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_VALUE(const_cast<char *>(m.value), m.value_len),
                                    RD_KAFKA_V_KEY(m.key, m.key_len),
                                    RD_KAFKA_V_TIMESTAMP(m.timestamp_ms),
                                    RD_KAFKA_V_OPAQUE(PackOpaque(ledger_id, seq)), RD_KAFKA_V_END);
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) ThrowProduceError(err, topic, m.partition, m.value_len + m.key_len);
        WaitForQueue(deadline, topic);
    }
    ledger.sent++;
    if (ledger.track) ledger.results.emplace_back();
    // Serve delivery reports as we go so the ledger and queue stay small
    // (every 64 messages: polling takes librdkafka's locks).
    if ((++produced_ & 63) == 0) Poll(0);
    return seq;
}

void Producer::ProduceBatch(uint32_t ledger_id, const std::string &topic, const char *partitioner,
                            const BatchMessage *msgs, size_t n) {
    Ledger &ledger = GetLedger(ledger_id);
    rd_kafka_topic_t *rkt = Topic(topic, partitioner);
    if (batch_.size() < n) batch_.resize(n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t &r = batch_[i];
        r = rd_kafka_message_t{};
        r.partition = RD_KAFKA_PARTITION_UA;
        r.payload = const_cast<char *>(msgs[i].value);
        r.len = msgs[i].value ? msgs[i].value_len : 0;
        r.key = const_cast<char *>(msgs[i].key);
        r.key_len = msgs[i].key ? msgs[i].key_len : 0;
    }
    std::unique_ptr<Deadline> deadline;  // only once the local queue is full
    size_t done = 0;
    while (done < n) {
        for (size_t i = done; i < n; i++) {
            batch_[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
            batch_[i]._private = PackOpaque(ledger_id, ledger.sent + (i - done));
        }
        rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, &batch_[done],
                               static_cast<int>(n - done));
        // Enqueued messages form a prefix: after the first full-queue error
        // librdkafka fails every later message of the call with it.
        size_t i = done;
        for (; i < n && batch_[i].err == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
            ledger.sent++;
            if (ledger.track) ledger.results.emplace_back();
        }
        produced_ += i - done;
        done = i;
        if (done == n) break;
        if (batch_[done].err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            ThrowProduceError(batch_[done].err, topic, RD_KAFKA_PARTITION_UA,
                              batch_[done].len + batch_[done].key_len);
        WaitForQueue(deadline, topic);
    }
    Poll(0);
}

void Producer::WaitForQueue(std::unique_ptr<Deadline> &deadline, const std::string &topic) {
    if (!deadline) deadline = std::make_unique<Deadline>(timeout_ms_);
    if (deadline->Expired())
        throw Error(ErrorKind::Timeout,
                    "local produce queue stayed full for " + std::to_string(timeout_ms_) + " ms",
                    last_error_text())
            .At(topic)
            .Hint("Check that the brokers are reachable, or raise kafka_fdw.timeout.");
    Poll(deadline->SliceMs());
    CheckInterrupts();
}

void Producer::ThrowProduceError(rd_kafka_resp_err_t err, const std::string &topic, int32_t partition,
                                 size_t bytes) {
    ErrorKind kind = KindOf(err);
    std::string message = "could not produce to topic \"" + topic + "\"";
    if (kind == ErrorKind::MessageTooLarge) {
        char buf[64];
        size_t sz = sizeof buf;
        std::string limit = "message.max.bytes";
        if (rd_kafka_conf_get(rd_kafka_conf(handle()), "message.max.bytes", buf, &sz) == RD_KAFKA_CONF_OK)
            limit = buf;
        message = "message of " + std::to_string(bytes) + " bytes exceeds the producer's limit of " + limit +
                  " bytes";
    } else if (kind == ErrorKind::UnknownTopic) {
        message = "topic \"" + topic + "\" does not exist";
    } else if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
        message = "partition " + std::to_string(partition) + " of topic \"" + topic + "\" does not exist";
    }
    throw Error(kind, message, rd_kafka_err2str(err), err).At(topic, partition);
}

void Producer::OnDelivery(const rd_kafka_message_t *msg) {
    uint32_t ledger_id;
    uint64_t seq;
    UnpackOpaque(msg->_private, &ledger_id, &seq);
    auto it = ledgers_.find(ledger_id);
    if (it == ledgers_.end()) return;  // its statement is gone
    Ledger &l = it->second;
    if (msg->err) {
        l.failed++;
        if (l.first_error == RD_KAFKA_RESP_ERR_NO_ERROR) {
            l.first_error = msg->err;
            try {
                l.first_error_text = rd_kafka_err2str(msg->err);
                l.first_error_topic = rd_kafka_topic_name(msg->rkt);
            } catch (...) {
            }
            l.first_error_partition = msg->partition;
        }
    } else {
        l.acked++;
    }
    if (l.track && seq < l.results.size()) {
        l.results[seq].partition = msg->partition;
        l.results[seq].offset = msg->offset;
        l.results[seq].err = msg->err;
    }
}

void Producer::Await(uint32_t ledger_id, int timeout_ms) {
    Deadline deadline(timeout_ms);
    for (;;) {
        Poll(0);
        const Ledger &l = ledgers_.at(ledger_id);
        if (l.pending() == 0) return;
        if (deadline.Expired())
            throw Error(ErrorKind::Timeout,
                        std::to_string(l.pending()) + " of " + std::to_string(l.sent) +
                            " messages were not acknowledged within " + std::to_string(timeout_ms) +
                            " ms",
                        last_error_text().empty() ? "no delivery report" : last_error_text())
                .Hint("Check that the brokers are reachable, or raise kafka_fdw.timeout.");
        rd_kafka_flush(handle(), deadline.SliceMs());
        CheckInterrupts();
    }
}

bool Producer::FlushAll(int timeout_ms) {
    Deadline deadline(timeout_ms);
    while (rd_kafka_outq_len(handle()) > 0) {
        if (deadline.Expired()) return false;
        rd_kafka_flush(handle(), deadline.SliceMs());
        CheckInterrupts();
    }
    Poll(0);
    return true;
}

void Producer::CheckLedger(uint32_t ledger_id) const {
    const Ledger &l = ledgers_.at(ledger_id);
    if (l.failed == 0) return;
    if (KindOf(l.first_error) == ErrorKind::Timeout)
        throw Error(ErrorKind::Timeout,
                    std::to_string(l.failed) + " of " + std::to_string(l.sent) +
                        " messages were not acknowledged by Kafka in time; they may or may not have been written",
                    "first error: " + l.first_error_text, l.first_error)
            .At(l.first_error_topic, l.first_error_partition)
            .Hint("Check that the brokers are reachable, or raise kafka_fdw.timeout. Use a transactional table "
                  "for all-or-nothing delivery.");
    if (KindOf(l.first_error) == ErrorKind::UnknownTopic)
        throw Error(ErrorKind::UnknownTopic,
                    "topic \"" + l.first_error_topic + "\" does not exist: " + std::to_string(l.failed) + " of " +
                        std::to_string(l.sent) + " messages were not delivered",
                    "first error: " + l.first_error_text, l.first_error)
            .At(l.first_error_topic)
            .Hint("Create the topic first (kafka.create_topic), or enable auto-creation on the broker.");
    throw Error(KindOf(l.first_error) == ErrorKind::MessageTooLarge ? ErrorKind::MessageTooLarge
                                                                    : ErrorKind::Delivery,
                std::to_string(l.failed) + " of " + std::to_string(l.sent) +
                    " messages were not delivered to Kafka",
                "first error: " + l.first_error_text, l.first_error)
        .At(l.first_error_topic, l.first_error_partition);
}

void Producer::InitTransactions(int timeout_ms) {
    if (txn_init_) return;
    // init_transactions blocks: call it in slices.  Right after a broker
    // starts, the transaction coordinator answers "load in progress" or "not
    // coordinator" for a while: those errors are retriable, so retry until
    // the deadline.
    Deadline deadline(timeout_ms);
    for (;;) {
        auto started = std::chrono::steady_clock::now();
        int slice = deadline.SliceMs();
        rd_kafka_error_t *error = rd_kafka_init_transactions(handle(), slice);
        Poll(0);
        if (!error) break;
        bool retry = (rd_kafka_error_is_retriable(error) ||
                      rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__TIMED_OUT) &&
                     !rd_kafka_error_is_fatal(error) && !deadline.Expired();
        if (retry) {
            rd_kafka_error_destroy(error);
            auto rest = std::chrono::milliseconds(slice) - (std::chrono::steady_clock::now() - started);
            if (rest > std::chrono::milliseconds(0)) std::this_thread::sleep_for(rest);
            CheckInterrupts();
            continue;
        }
        ThrowTxnError(error, "initialize");
    }
    txn_init_ = true;
}

void Producer::BeginTransaction() {
    if (rd_kafka_error_t *error = rd_kafka_begin_transaction(handle())) ThrowTxnError(error, "begin");
}

void Producer::CommitTransaction(int timeout_ms) {
    Deadline deadline(timeout_ms);
    for (;;) {
        rd_kafka_error_t *error = rd_kafka_commit_transaction(handle(), deadline.SliceMs());
        Poll(0);
        if (!error) return;
        if (rd_kafka_error_is_retriable(error) && !deadline.Expired()) {
            rd_kafka_error_destroy(error);
            CheckInterrupts();
            continue;
        }
        ThrowTxnError(error, "commit");
    }
}

namespace {
// A slice's outcome: true done, false retry; throws otherwise.
bool SliceResult(rd_kafka_error_t *error, const char *what) {
    if (!error) return true;
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    if (code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
        code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH) {
        std::string detail = rd_kafka_error_string(error);
        rd_kafka_error_destroy(error);
        throw Error(ErrorKind::Fenced, std::string("could not ") + what + " Kafka transaction: the producer was fenced",
                    detail, code)
            .Hint("Another producer with the same transactional.id started (a second worker of the same pipeline, "
                  "or the pipeline on a promoted standby).");
    }
    if ((rd_kafka_error_is_retriable(error) || code == RD_KAFKA_RESP_ERR__TIMED_OUT) && !rd_kafka_error_is_fatal(error) &&
        !rd_kafka_error_txn_requires_abort(error)) {
        rd_kafka_error_destroy(error);
        return false;
    }
    ThrowTxnError(error, what);
}
}  // namespace

bool Producer::InitTransactionsSlice(int slice_ms) {
    if (txn_init_) return true;
    bool done = SliceResult(rd_kafka_init_transactions(handle(), slice_ms), "initialize");
    Poll(0);
    txn_init_ = done;
    return done;
}

bool Producer::CommitTransactionSlice(int slice_ms) {
    bool done = SliceResult(rd_kafka_commit_transaction(handle(), slice_ms), "commit");
    Poll(0);
    return done;
}

void Producer::AbortTransaction(int timeout_ms) {
    Deadline deadline(timeout_ms);
    for (;;) {
        rd_kafka_error_t *error = rd_kafka_abort_transaction(handle(), deadline.SliceMs());
        Poll(0);
        if (!error) return;
        if (rd_kafka_error_is_retriable(error) && !deadline.Expired()) {
            rd_kafka_error_destroy(error);
            continue;  // abort runs at ROLLBACK: no interrupt check
        }
        ThrowTxnError(error, "abort");
    }
}

}  // namespace kafka_fdw::kafka
