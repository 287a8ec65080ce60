// Classification of librdkafka errors and the shared interrupt hook.
#include "kafka/errors.hpp"
#include "kafka/wait.hpp"

namespace kafka_fdw::kafka {

namespace {
InterruptCheck g_interrupt_check = nullptr;
}

void SetInterruptCheck(InterruptCheck check) { g_interrupt_check = check; }

void CheckInterrupts() {
    if (g_interrupt_check) g_interrupt_check();
}

ErrorKind KindOf(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        return ErrorKind::Connection;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return ErrorKind::Timeout;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return ErrorKind::UnknownTopic;
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return ErrorKind::UnknownPartition;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PROTOCOL:
        return ErrorKind::InvalidConfig;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        return ErrorKind::Auth;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        return ErrorKind::AlreadyExists;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return ErrorKind::MessageTooLarge;
    default:
        return ErrorKind::Internal;
    }
}

void Throw(rd_kafka_resp_err_t err, const std::string &message) {
    throw Error(KindOf(err), message, rd_kafka_err2str(err), err);
}

}  // namespace kafka_fdw::kafka
