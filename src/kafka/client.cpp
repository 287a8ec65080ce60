#include "kafka/client.hpp"

#include "kafka/errors.hpp"

#include <cstring>

namespace kafka_fdw::kafka {

Client::Client(Type type, Config &&conf) : secrets_(conf.secret_values()) {
    conf.Set("log.queue", "true");
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_log_cb(conf.get(), &Client::LogCb);
    rd_kafka_conf_set_error_cb(conf.get(), &Client::ErrorCb);
    if (type == Type::Producer) rd_kafka_conf_set_dr_msg_cb(conf.get(), &Client::DeliveryCb);

    char errstr[512];
    rk_ = rd_kafka_new(type == Type::Producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER,
                       conf.get(), errstr, sizeof errstr);
    if (!rk_) throw Error(ErrorKind::InvalidConfig, "could not create Kafka client", errstr);
    conf.Released();  // rd_kafka_new owns it now

    // Logs go to the main queue, served by Poll() on our thread.
    rd_kafka_set_log_queue(rk_, nullptr);
}

Client::~Client() {
    if (commit_q_) rd_kafka_queue_destroy(commit_q_);
    if (rk_) rd_kafka_destroy(rk_);
}

rd_kafka_queue_t *Client::commit_queue() {
    if (!commit_q_) commit_q_ = rd_kafka_queue_new(rk_);
    return commit_q_;
}

int64_t Client::oldest_commit_age_ms() const {
    if (commits_in_flight_ == 0) return 0;
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - oldest_commit_)
        .count();
}

void Client::CommitSent() {
    if (commits_in_flight_++ == 0) oldest_commit_ = std::chrono::steady_clock::now();
}

void Client::CommitDone() {
    if (commits_in_flight_ > 0) commits_in_flight_--;
    // the next one's age is not known: count from now
    if (commits_in_flight_ > 0) oldest_commit_ = std::chrono::steady_clock::now();
}

int Client::Poll(int timeout_ms) { return rd_kafka_poll(rk_, timeout_ms); }

std::vector<ClientEvent> Client::TakeEvents() {
    std::vector<ClientEvent> out;
    out.swap(events_);
    return out;
}

std::string Client::Redact(const char *text) const {
    std::string out(text);
    for (const auto &secret : secrets_) {
        for (size_t pos; (pos = out.find(secret)) != std::string::npos;) out.replace(pos, secret.size(), "***");
    }
    // A text about a secret property may quote part of its value: cut it.
    static const char *const names[] = {"sasl.oauthbearer.config", "sasl.password", "ssl.key.password",
                                        "ssl.keystore.password", "sasl.oauthbearer.client.secret", "ssl.key.pem"};
    for (const char *n : names) {
        size_t pos = out.find(n);
        if (pos != std::string::npos) {
            out.resize(pos + strlen(n));
            out += " (details redacted)";
        }
    }
    return out;
}

void Client::LogCb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    auto *self = static_cast<Client *>(rd_kafka_opaque(rk));
    if (!self || self->events_.size() > 1000) return;  // bounded: never grow without limit
    try {
        self->events_.push_back({ClientEvent::Log, level, std::string(fac) + ": " + self->Redact(buf)});
    } catch (...) {
        // a log line is not worth failing for
    }
}

void Client::ErrorCb(rd_kafka_t *rk, int err, const char *reason, void *) {
    auto *self = static_cast<Client *>(rd_kafka_opaque(rk));
    if (!self) return;
    self->last_error_ = static_cast<rd_kafka_resp_err_t>(err);
    if (err == RD_KAFKA_RESP_ERR__FATAL) self->fatal_ = true;
    try {
        self->last_error_text_ = self->Redact(reason);
        if (self->events_.size() <= 1000)
            self->events_.push_back({ClientEvent::Error, 3, self->last_error_text_});
    } catch (...) {
    }
}

void Client::DeliveryCb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *) {
    auto *self = static_cast<Client *>(rd_kafka_opaque(rk));
    if (self) self->OnDelivery(msg);
}

}  // namespace kafka_fdw::kafka
