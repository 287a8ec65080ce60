// One librdkafka handle (producer or consumer), owned.  Logs and client errors
// are never reported from librdkafka's threads: `log.queue` routes logs to the
// main queue, and Poll() serves log, error and delivery callbacks on the
// calling thread, where they are only collected.  The host drains them with
// TakeEvents() and reports them in its own way (elog in the backend).
#pragma once
#include "cpp_only.hpp"

#include "kafka/config.hpp"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace kafka_fdw::kafka {

struct ClientEvent {
    enum Kind { Log, Error } kind;
    int level;  // syslog level for logs
    std::string text;
};

class Client {
public:
    enum class Type { Producer, Consumer };

    // Takes the configuration; sets log.queue and the callbacks itself.
    Client(Type type, Config &&conf);
    virtual ~Client();
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    rd_kafka_t *handle() const { return rk_; }

    // Serve queued callbacks on this thread for at most timeout_ms.
    int Poll(int timeout_ms);

    // Collected logs and client errors since the last call.
    std::vector<ClientEvent> TakeEvents();

    // The last client-level error (error_cb), e.g. all brokers down.
    rd_kafka_resp_err_t last_error() const { return last_error_; }
    const std::string &last_error_text() const { return last_error_text_; }
    bool fatal() const { return fatal_; }

    // Whether the last metadata, watermark, offset or admin call on this
    // client gave up without reaching the brokers.  The backend's client
    // cache drops such a client at the end of the transaction: a new one
    // connects at once, while this one may sit out librdkafka's reconnect
    // backoff (reconnect.backoff.max.ms) after the brokers are back.
    bool unreachable() const { return unreachable_; }
    void SetUnreachable(bool v) { unreachable_ = v; }

    // Offset commits sent without waiting (group clients, see
    // CommitOffsetsAsync): their results arrive on a queue of their own.
    rd_kafka_queue_t *commit_queue();
    int commits_in_flight() const { return commits_in_flight_; }
    // Milliseconds since the oldest commit in flight was sent (0: none).
    int64_t oldest_commit_age_ms() const;
    void CommitSent();
    void CommitDone();

protected:
    virtual void OnDelivery(const rd_kafka_message_t *) {}
    // Forget last_error() (a consumer reading new ranges, kafka/consumer.hpp).
    void ClearLastError() {
        last_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
        last_error_text_.clear();
    }

private:
    // Texts from librdkafka may quote a secret property's value: redact.
    std::string Redact(const char *text) const;

    static void LogCb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
    static void ErrorCb(rd_kafka_t *rk, int err, const char *reason, void *opaque);
    static void DeliveryCb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

    rd_kafka_t *rk_ = nullptr;
    std::vector<std::string> secrets_;
    std::vector<ClientEvent> events_;
    rd_kafka_resp_err_t last_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::string last_error_text_;
    bool fatal_ = false;
    bool unreachable_ = false;
    rd_kafka_queue_t *commit_q_ = nullptr;
    int commits_in_flight_ = 0;
    std::chrono::steady_clock::time_point oldest_commit_;
};

}  // namespace kafka_fdw::kafka
