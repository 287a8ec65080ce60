// Helpers shared by the tests of the Kafka client (test_client.cpp,
// test_mock.cpp).
#pragma once

#include "kafka/config.hpp"
#include "kafka/errors.hpp"
#include "kafka/wait.hpp"

#include "framework.hpp"

#include <chrono>
#include <string>
#include <utility>

namespace unit {

// Milliseconds since construction.
class Stopwatch {
public:
    Stopwatch() : t0_(std::chrono::steady_clock::now()) {}
    long long Ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0_)
            .count();
    }

private:
    std::chrono::steady_clock::time_point t0_;
};

// A configuration from name/value pairs.  librdkafka's mock cluster
// (test.mock.*) is hidden, so Set refuses it: tests set it unlisted.
inline kafka_fdw::kafka::Config MakeConfig(const kafka_fdw::kafka::Properties &props) {
    kafka_fdw::kafka::Config c;
    for (const auto &[k, v] : props) {
        if (k.compare(0, 10, "test.mock.") == 0) c.SetUnlisted(k, v);
        else c.Set(k, v);
    }
    return c;
}

// Nothing listens on port 1: connections are refused at once.
constexpr const char *kNoBroker = "127.0.0.1:1";

// Installs an interrupt check for the scope of a test and always removes it.
class InterruptHook {
public:
    explicit InterruptHook(kafka_fdw::kafka::InterruptCheck check) {
        kafka_fdw::kafka::SetInterruptCheck(check);
    }
    ~InterruptHook() { kafka_fdw::kafka::SetInterruptCheck(nullptr); }
    InterruptHook(const InterruptHook &) = delete;
    InterruptHook &operator=(const InterruptHook &) = delete;
};

inline const char *KindName(kafka_fdw::kafka::ErrorKind k) {
    using K = kafka_fdw::kafka::ErrorKind;
    switch (k) {
    case K::Connection: return "Connection";
    case K::Timeout: return "Timeout";
    case K::UnknownTopic: return "UnknownTopic";
    case K::UnknownPartition: return "UnknownPartition";
    case K::InvalidConfig: return "InvalidConfig";
    case K::Auth: return "Auth";
    case K::AlreadyExists: return "AlreadyExists";
    case K::MessageTooLarge: return "MessageTooLarge";
    case K::Delivery: return "Delivery";
    case K::Data: return "Data";
    case K::Internal: return "Internal";
    }
    return "?";
}

inline std::string Describe(const kafka_fdw::kafka::Error &e) {
    return std::string(KindName(e.kind)) + ": " + e.what() + (e.detail.empty() ? "" : " [" + e.detail + "]");
}

}  // namespace unit
