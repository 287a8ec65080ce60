#include "kafka/metadata.hpp"
#include "kafka/producer.hpp"
#include "framework.hpp"
#include "kafka_helpers.hpp"
#include <librdkafka/rdkafka_mock.h>
#include <cstdio>
using namespace kafka_fdw::kafka;
namespace { int g_n = 0; void Count() { g_n++; } }
TEST(zz_diag) {
    Producer p(unit::MakeConfig({{"test.mock.num.brokers", "1"}}), "murmur2_random", 5000);
    auto *mc = rd_kafka_handle_mock_cluster(p.handle());
    rd_kafka_mock_topic_create(mc, "wm", 2, 1);
    Client c(Client::Type::Consumer, unit::MakeConfig({{"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc)}}));
    QueryWatermarks(c, "wm", 0, 2000);
    std::vector<rd_kafka_resp_err_t> errs(100000, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    rd_kafka_mock_push_request_errors_array(mc, 2 /*ListOffsets*/, errs.size(), errs.data());
    unit::InterruptHook h(&Count);
    g_n = 0; unit::Stopwatch sw;
    try { auto w = QueryWatermarks(c, "wm", 0, 500); std::printf("# wm ok %lld\n", (long long)w.high);} catch (const Error &e) { std::printf("# WM: %d checks in %lld ms: %s\n", g_n, sw.Ms(), unit::Describe(e).c_str()); }
    g_n = 0; unit::Stopwatch sw2;
    try { auto v = OffsetsForTime(c, "wm", {0}, 0, 500); std::printf("# oft ok\n");} catch (const Error &e) { std::printf("# OFT: %d checks in %lld ms: %s\n", g_n, sw2.Ms(), unit::Describe(e).c_str()); }
    rd_kafka_mock_clear_request_errors(mc, 2);
}
