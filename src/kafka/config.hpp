// librdkafka configuration: RAII over rd_kafka_conf_t, checks of user-supplied
// properties, the allowlist of public properties, and the lists of properties
// that only a superuser may set or that hold secrets.
#pragma once
#include "cpp_only.hpp"

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
    // never part of the message.  Only public properties (IsPublic): a hidden
    // one never reaches librdkafka, whoever asks for it.
    void Set(const std::string &name, const std::string &value);
    // Set without the allowlist, for the core's unit tests only (the hidden
    // test.mock.num.brokers starts librdkafka's in-process mock cluster).
    void SetUnlisted(const std::string &name, const std::string &value);
    void SetAll(const Properties &props) {
        for (const auto &[k, v] : props) Set(k, v);
    }

    // Values of secret properties set so far (for redaction of client texts).
    const std::vector<std::string> &secret_values() const { return secret_values_; }

    // Hands the configuration to rd_kafka_new (which takes ownership on success).
    rd_kafka_conf_t *get() { return conf_; }
    void Released() { conf_ = nullptr; }

    // "" when a user may set name=value (Refusal is "" and librdkafka accepts
    // the value on a scratch configuration), else the reason.
    static std::string Check(const std::string &name, const std::string &value);

    // "" when a user may set the property at all (public and not reserved),
    // else why not.  Looks at the name only: nothing reaches librdkafka.
    static std::string Refusal(const std::string &name);

    // The public properties: the names rd_kafka_conf_properties_show()
    // prints (global and topic level, aliases included), less the ones it
    // types "see dedicated API" (pointers and callbacks, which only librdkafka's
    // dedicated setters may set).  Everything else is refused: hidden
    // properties such as ut_handle_ProduceResponse (a unit-test hook that
    // stores the address of the value string as a function pointer, so any
    // value crashes the process) or test.mock.num.brokers, *_cb, opaque, ...
    // A topic-level property may also be named "topic.<name>", as
    // rd_kafka_conf_set() accepts it.  Read from librdkafka once per process.
    static bool IsPublic(const std::string &name);
    // The sorted, distinct names (without "topic." forms).  Empty only if
    // librdkafka's table could not be read, and then nothing is public.
    static const std::vector<std::string> &PublicProperties();

    // Properties that load code, run commands, read or write files on the
    // database server, or make the server fetch arbitrary URLs.
    static bool IsSuperuserOnly(const std::string &name);
    static const std::vector<std::string> &SuperuserOnly();
    // Properties whose value is a secret: never shown in messages.
    static bool IsSecret(const std::string &name);
    // Properties kafka_fdw sets itself (callbacks, queues), or that would
    // change the whole process (internal.termination.signal installs a signal
    // handler): users may not set them.
    static bool IsReserved(const std::string &name);

    // librdkafka accepts "topic.<name>" for topic-level <name>: checks use
    // the name without that prefix.
    static std::string Canonical(const std::string &name);

private:
    rd_kafka_conf_t *conf_;
    std::vector<std::string> secret_values_;
};

}  // namespace kafka_fdw::kafka
