// kafka._bridge_selftest(kind): exercises the C++/Postgres bridge from SQL,
// for the regression tests.  Each kind raises through a different path:
//   'cpp_exception'  a std::runtime_error thrown in the C++ zone
//   'kafka_error'    a kafka::Error with detail, hint and context
//   'bad_alloc'      std::bad_alloc
//   'pg_error'       an ERROR raised by Postgres inside PgCall, carried
//                    through C++ frames and re-raised unchanged
//   'pg_ok'          PgCall returning a value normally
// and two counters of this backend, for tests that check a client or a
// ListOffsets round is not repeated:
//   'range_consumers'   consumer clients made for scans and ANALYZE
//   'watermark_rounds'  TopicWatermarks calls (planner, scans, ANALYZE, ...)
// and 'second_pipeline_worker:<slot name>': a second worker for a running
// pipeline, started by hand, waited for (the exactly-once fencing test).
#include "fdw/connection.hpp"
#include "kafka/consumer.hpp"
#include "kafka/errors.hpp"
#include "kafka/metadata.hpp"

#include "pg/bridge.hpp"

#include "cdc/cdc.hpp"

#include <new>
#include <stdexcept>
#include <string>

extern "C" {
PG_FUNCTION_INFO_V1(kafka_bridge_selftest);
Datum kafka_bridge_selftest(PG_FUNCTION_ARGS);
}

Datum kafka_bridge_selftest(PG_FUNCTION_ARGS) {
    char *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
    int32 result = 0;
    // A second worker for a pipeline's slot, started by hand (the fencing
    // test): waits until it ended; -1 when it could not be started.
    if (strncmp(kind, "second_pipeline_worker:", 23) == 0)
        PG_RETURN_INT32(kafka_fdw::cdc::RunSecondWorkerForTest(kind + 23));
    KFDW_ENTRY({
        std::string k = kind;  // a C++ object alive while exceptions fly
        if (k == "cpp_exception") throw std::runtime_error("thrown in C++");
        if (k == "kafka_error")
            throw kafka_fdw::kafka::Error(kafka_fdw::kafka::ErrorKind::UnknownTopic, "topic \"t\" does not exist",
                                          "librdkafka said so")
                .At("t", 2, 42)
                .Hint("create it");
        if (k == "bad_alloc") throw std::bad_alloc();
        if (k == "range_consumers")
            result = static_cast<int32>(kafka_fdw::kafka::RangeConsumer::MadeInProcess() & 0x7fffffff);
        if (k == "watermark_rounds")
            result = static_cast<int32>(kafka_fdw::kafka::TopicWatermarksCalls() & 0x7fffffff);
        if (k == "fatal_producers") result = kafka_fdw::fdw::FailCachedProducersForTest();
        if (k == "pg_error" || k == "pg_ok") {
            const char *input = k == "pg_error" ? "not a number" : "42";
            result = kafka_fdw::pg::PgCall([&]() {
                return DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum(input)));
            });
        }
    });
    PG_RETURN_INT32(result);
}
