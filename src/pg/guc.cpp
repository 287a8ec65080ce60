// kafka_fdw.* settings.
#include "pg/bridge.hpp"

namespace kafka_fdw::pg {

void DefineGucs() {
    DefineCustomIntVariable(
        "kafka_fdw.timeout",
        "Longest wait for a Kafka operation (metadata, delivery, a stalled fetch), in milliseconds.",
        "An unreachable broker gives an ERROR after this long. Waits are also cancellable.",
        &g_timeout_ms, 10000, 100, 3600 * 1000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr,
        nullptr);
    MarkGUCPrefixReserved("kafka_fdw");
}

}  // namespace kafka_fdw::pg
