#include "kafka/consumer.hpp"
#include "kafka/producer.hpp"
#include "format/json.hpp"
#include "framework.hpp"
#include "kafka_helpers.hpp"
#include <librdkafka/rdkafka_mock.h>
#include <cstdio>
using namespace kafka_fdw::kafka;
TEST(zz_diag) {
    Producer p(unit::MakeConfig({{"test.mock.num.brokers", "1"}, {"topic.metadata.propagation.max.ms", "100"}}), "murmur2_random", 5000);
    auto *mc = rd_kafka_handle_mock_cluster(p.handle());
    rd_kafka_mock_topic_set_error(mc, "nosuch", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    uint32_t l = p.OpenLedger();
    std::string v = "x"; OutMessage m; m.value = v.data(); m.value_len = 1;
    unit::Stopwatch sw;
    try { p.Produce(l, "nosuch", m); p.Await(l, 3000); p.CheckLedger(l); std::printf("# no error\n"); } catch (const Error &e) { std::printf("# %lld ms %s hint=%s topic=%s\n", sw.Ms(), unit::Describe(e).c_str(), e.hint.c_str(), e.topic.c_str()); }
    // headers with a null value via the raw API
    rd_kafka_mock_topic_create(mc, "h", 1, 1);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "nullv", -1, NULL, 0);
    rd_kafka_header_add(h, "empty", -1, "", 0);
    rd_kafka_header_add(h, "\xff\xfe", -1, "v", 1);
    rd_kafka_header_add(h, "bin", -1, "\x00\x01\xff", 3);
    rd_kafka_resp_err_t err = rd_kafka_producev(p.handle(), RD_KAFKA_V_TOPIC("h"), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE((void*)"x", 1), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    std::printf("# producev %d\n", err);
    p.FlushAll(3000);
    RangeConsumer c(unit::MakeConfig({{"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc)}}), "h", 3000);
    c.Start({{0, 0, 1}});
    const rd_kafka_message_t *msg = c.Next();
    std::string out; HeadersToJson(msg, out);
    std::printf("# %s valid=%d\n", unit::Show(out).c_str(), kafka_fdw::format::IsValidUtf8(out.data(), out.size()));
    std::string arr;
    for (const char *a : {"[1,\"a\",null,[2]]", "[]", "[[]]", "[{\"a\":\"b\\\\c\"}, true, -1.5e3]", "[\"NULL\",\"\", \" x \", \"q\\\"b\\\\s\"]", "[1,]", "[1] x", "{}", "[\"a\\u0000b\"]"}) {
        bool ok = kafka_fdw::format::JsonArrayToPgArray(a, strlen(a), arr);
        std::printf("# %s -> %d %s\n", a, ok, unit::Show(arr).c_str());
    }
}
