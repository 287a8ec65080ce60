// kafka_fdw.* settings.
#include "pg/bridge.hpp"

namespace kafka_fdw::pg {

int g_max_pipelines_per_role = 4;
int g_sink_batch_timeout_ms = 60000;
int g_stall_warning_after_s = 300;

void DefineGucs() {
    DefineCustomIntVariable(
        "kafka_fdw.timeout",
        "Longest wait for a Kafka operation (metadata, delivery, a stalled fetch), in milliseconds.",
        "An unreachable broker gives an ERROR after this long. Waits are also cancellable.",
        &g_timeout_ms, 10000, 100, 3600 * 1000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr,
        nullptr);
    // Superuser-only (per role or database with ALTER ROLE/DATABASE ... SET):
    // a role must not raise its own quota.
    DefineCustomIntVariable(
        "kafka_fdw.max_pipelines_per_role",
        "Maximum number of CDC pipelines a role that is not a superuser may own, in all databases.",
        "Checked by create_pipeline; superusers are exempt. 0: only superusers may create pipelines.",
        &g_max_pipelines_per_role, 4, 0, 1000, PGC_SUSET, 0, nullptr, nullptr, nullptr);
}

// After every kafka_fdw.* setting is defined (also the preload-only ones):
// reserving the prefix removes the placeholders of settings not defined yet,
// with their values from the configuration file.
void ReserveGucPrefix() { MarkGUCPrefixReserved("kafka_fdw"); }

// The settings of what runs only when the library is preloaded (the sink
// workers; kafka_fdw.max_pipelines is src/cdc/shmem.cpp's).
void DefinePreloadGucs() {
    DefineCustomIntVariable("kafka_fdw.sink_batch_timeout",
                            "Longest time one batch of a sink may take, in milliseconds (0: no limit).",
                            "A batch that takes longer is cancelled, recorded as the sink's last_error and tried "
                            "again with a backoff; the owner's other sinks go on meanwhile.",
                            &g_sink_batch_timeout_ms, 60000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("kafka_fdw.stall_warning_after",
                            "A pipeline or sink that has not advanced for this long while it had work to do logs a "
                            "WARNING (0: never).",
                            "Logged once per stall by the CDC launcher (pipelines) or the sink's worker; a LOG "
                            "message follows when it advances again. See the view kafka.lag.",
                            &g_stall_warning_after_s, 300, 0, INT_MAX / 1000, PGC_SIGHUP, GUC_UNIT_S, nullptr,
                            nullptr, nullptr);
}

}  // namespace kafka_fdw::pg
