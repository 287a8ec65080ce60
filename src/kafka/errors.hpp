// Errors of the pure core.  One exception type carries what the Postgres glue
// needs to raise a precise ERROR: a kind (mapped to a SQLSTATE by the glue),
// librdkafka's own text and code, and the topic/partition/offset concerned.
#pragma once
#include "cpp_only.hpp"

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace kafka_fdw::kafka {

enum class ErrorKind {
    Connection,       // brokers unreachable, transport failure
    Timeout,          // an operation did not finish within its deadline
    UnknownTopic,     // topic does not exist (and is not auto-created)
    UnknownPartition, // partition out of range
    InvalidConfig,    // a librdkafka property was rejected
    Auth,             // authentication or authorization failed
    AlreadyExists,    // e.g. create_topic on an existing topic
    MessageTooLarge,  // a message exceeds a size limit
    Delivery,         // messages were not acknowledged by the broker
    Data,             // a message could not be decoded/encoded
    Fenced,           // a transactional producer was fenced by a newer one
    Internal,         // anything else reported by librdkafka
};

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string &message, std::string detail = {},
          rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR)
        : std::runtime_error(message), kind(kind), detail(std::move(detail)), code(code) {}

    Error &At(std::string t, int32_t p = -1, int64_t o = -1) {
        topic = std::move(t);
        partition = p;
        offset = o;
        return *this;
    }
    Error &Hint(std::string h) {
        hint = std::move(h);
        return *this;
    }

    ErrorKind kind;
    std::string detail;  // librdkafka's text, or other detail
    std::string hint;
    rd_kafka_resp_err_t code;
    std::string topic;
    int32_t partition = -1;
    int64_t offset = -1;
};

// Thrown when the host asked us to stop waiting (query cancel, backend
// termination, SIGINT in kafka_copy).  The host decides how to report it.
class Interrupted : public std::exception {
public:
    const char *what() const noexcept override { return "interrupted"; }
};

// Classify a librdkafka error code.
ErrorKind KindOf(rd_kafka_resp_err_t err);

// Throw an Error for a librdkafka error code with a message of ours.
[[noreturn]] void Throw(rd_kafka_resp_err_t err, const std::string &message);

}  // namespace kafka_fdw::kafka
