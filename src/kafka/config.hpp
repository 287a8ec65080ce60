// librdkafka configuration: RAII over rd_kafka_conf_t, checks of user-supplied
// properties, and the lists of properties that only a superuser may set or that
// hold secrets.
#pragma once
#include "kafka/cpp_only.hpp"

#include <librdkafka/rdkafka.h>

#include <string>
#include <utility>
#include <vector>

namespace kafka_fdw::kafka {

using Properties = std::vector<std::pair<std::string, std::string>>;

class Config {
public:
    Config();
    ~Config();
    Config(Config &&other) noexcept
        : conf_(std::exchange(other.conf_, nullptr)), secret_values_(std::move(other.secret_values_)) {}
    Config &operator=(Config &&) = delete;
    Config(const Config &) = delete;

    // Throws Error(InvalidConfig) naming the property; a secret's value is
    // never part of the message.
    void Set(const std::string &name, const std::string &value);
    void SetAll(const Properties &props) {
        for (const auto &[k, v] : props) Set(k, v);
    }

    // Values of secret properties set so far (for redaction of client texts).
    const std::vector<std::string> &secret_values() const { return secret_values_; }

    // Hands the configuration to rd_kafka_new (which takes ownership on success).
    rd_kafka_conf_t *get() { return conf_; }
    void Released() { conf_ = nullptr; }

    // "" when librdkafka accepts name=value, else librdkafka's reason.
    static std::string Check(const std::string &name, const std::string &value);

    // Properties that load code, run commands, read or write files on the
    // database server, or make the server fetch arbitrary URLs.
    static bool IsSuperuserOnly(const std::string &name);
    static const std::vector<std::string> &SuperuserOnly();
    // Properties whose value is a secret: never shown in messages.
    static bool IsSecret(const std::string &name);
    // Properties kafka_fdw sets itself (callbacks, queues): users may not.
    static bool IsReserved(const std::string &name);

    // librdkafka accepts "topic.<name>" for topic-level <name>: checks use
    // the name without that prefix.
    static std::string Canonical(const std::string &name);

private:
    rd_kafka_conf_t *conf_;
    std::vector<std::string> secret_values_;
};

}  // namespace kafka_fdw::kafka
