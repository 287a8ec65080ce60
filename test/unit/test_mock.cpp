// Producer, RangeConsumer and metadata against librdkafka's mock cluster.
//
// The producer is created with test.mock.num.brokers=1: librdkafka starts an
// in-process mock cluster and bootstraps the client to it.  Other clients
// (consumers) join that cluster through rd_kafka_mock_cluster_bootstraps()
// of rd_kafka_handle_mock_cluster().
// The producer owns the cluster, so it is created first and destroyed last.
#include "kafka/commit_queue.hpp"
#include "kafka/consumer.hpp"
#include "kafka/metadata.hpp"
#include "kafka/producer.hpp"

#include "format/json.hpp"

#include "framework.hpp"
#include "kafka_helpers.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using kafka_fdw::kafka::BatchMessage;
using kafka_fdw::kafka::Config;
using kafka_fdw::kafka::DeliveryResult;
using kafka_fdw::kafka::Error;
using kafka_fdw::kafka::ErrorKind;
using kafka_fdw::kafka::Header;
using kafka_fdw::kafka::Interrupted;
using kafka_fdw::kafka::Ledger;
using kafka_fdw::kafka::OutMessage;
using kafka_fdw::kafka::PartitionRange;
using kafka_fdw::kafka::Producer;
using kafka_fdw::kafka::Properties;
using kafka_fdw::kafka::RangeConsumer;
using unit::Describe;
using unit::InterruptHook;
using unit::MakeConfig;
using unit::Stopwatch;

namespace {

bool Contains(const std::string &hay, const std::string &needle) {
    return hay.find(needle) != std::string::npos;
}

// A mock cluster of one broker, owned by a producer.
struct Mock {
    std::unique_ptr<Producer> producer;
    rd_kafka_mock_cluster_t *cluster = nullptr;
    std::string bootstraps;

    explicit Mock(Properties extra = {}, int timeout_ms = 10000) {
        Properties props = {{"test.mock.num.brokers", "1"}, {"linger.ms", "0"}};
        for (auto &p : extra) props.push_back(std::move(p));
        producer = std::make_unique<Producer>(MakeConfig(props), "murmur2_random", timeout_ms);
        cluster = rd_kafka_handle_mock_cluster(producer->handle());
        if (!cluster) throw std::runtime_error("no mock cluster");
        bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
    }

    void CreateTopic(const std::string &topic, int partitions) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, 1);
        if (err) throw std::runtime_error(std::string("mock topic: ") + rd_kafka_err2str(err));
    }

    // A consumer of the same cluster.
    std::unique_ptr<RangeConsumer> Consumer(const std::string &topic, int stall_timeout_ms,
                                            Properties extra = {}) {
        Properties props = {{"bootstrap.servers", bootstraps}};
        for (auto &p : extra) props.push_back(std::move(p));
        return std::make_unique<RangeConsumer>(MakeConfig(props), topic, stall_timeout_ms);
    }

    // Produces "m<i>" with key "k<i>" for i in [0, n) into one partition and
    // waits for them.
    void Fill(const std::string &topic, int32_t partition, int n) {
        uint32_t l = producer->OpenLedger();
        for (int i = 0; i < n; i++) {
            std::string k = "k" + std::to_string(i), v = "m" + std::to_string(i);
            OutMessage m;
            m.partition = partition;
            m.key = k.data();
            m.key_len = k.size();
            m.value = v.data();
            m.value_len = v.size();
            producer->Produce(l, topic, m);
        }
        producer->Await(l, 10000);
        producer->CheckLedger(l);
        producer->CloseLedger(l);
    }
};

struct Got {
    int32_t partition;
    int64_t offset;
    std::string key, value;
};

// Reads until Next() returns nullptr.
std::vector<Got> ReadAll(RangeConsumer &c, long long *last_call_ms = nullptr) {
    std::vector<Got> out;
    for (;;) {
        Stopwatch sw;
        const rd_kafka_message_t *m = c.Next();
        if (!m) {
            if (last_call_ms) *last_call_ms = sw.Ms();
            return out;
        }
        out.push_back({m->partition, m->offset,
                       m->key ? std::string(static_cast<const char *>(m->key), m->key_len) : "<null>",
                       m->payload ? std::string(static_cast<const char *>(m->payload), m->len) : "<null>"});
        if (out.size() > 100000) throw std::runtime_error("runaway consumer");
    }
}

std::atomic<int> g_interrupt_calls{0};
void InterruptAfterFiveCalls() {
    if (++g_interrupt_calls > 5) throw Interrupted();
}

}  // namespace

// ---- producer ----------------------------------------------------------------

TEST(mock_produce_with_keys_under_one_ledger) {
    Mock mock;
    mock.CreateTopic("produce", 4);
    Producer &p = *mock.producer;
    const int n = 50;
    uint32_t l = p.OpenLedger(true);
    for (int i = 0; i < n; i++) {
        std::string key = "key-" + std::to_string(i % 5);
        std::string value = "value-" + std::to_string(i);
        OutMessage m;
        m.key = key.data();
        m.key_len = key.size();
        m.value = value.data();
        m.value_len = value.size();
        CHECK_EQ(p.Produce(l, "produce", m), static_cast<uint64_t>(i));
    }
    Stopwatch sw;
    p.Await(l, 10000);
    CHECK(sw.Ms() < 5000);
    const Ledger &led = p.GetLedger(l);
    CHECK_EQ(led.sent, static_cast<uint64_t>(n));
    CHECK_EQ(led.acked, static_cast<uint64_t>(n));
    CHECK_EQ(led.failed, 0u);
    CHECK_EQ(led.pending(), 0u);
    CHECK(led.first_error == RD_KAFKA_RESP_ERR_NO_ERROR);
    REQUIRE(led.results.size() == static_cast<size_t>(n));
    std::set<std::pair<int32_t, int64_t>> seen;
    int32_t partition_of_key[5] = {-1, -1, -1, -1, -1};
    for (int i = 0; i < n; i++) {
        const DeliveryResult &r = led.results[static_cast<size_t>(i)];
        CHECK(r.err == RD_KAFKA_RESP_ERR_NO_ERROR);
        CHECK(r.partition >= 0 && r.partition < 4);
        CHECK(r.offset >= 0);
        CHECK(seen.insert({r.partition, r.offset}).second);  // every message its own place
        // the same key always lands in the same partition
        int32_t &kp = partition_of_key[i % 5];
        if (kp < 0) kp = r.partition;
        CHECK_EQ(r.partition, kp);
    }
    CHECK_NOTHROW(p.CheckLedger(l));
    CHECK(p.FlushAll(5000));
}

TEST(mock_produce_explicit_partition_and_ledgers_apart) {
    Mock mock;
    mock.CreateTopic("ledgers", 3);
    Producer &p = *mock.producer;
    uint32_t a = p.OpenLedger(true);
    uint32_t b = p.OpenLedger(true);
    uint32_t untracked = p.OpenLedger(false);
    std::string v = "v";
    for (int i = 0; i < 7; i++) {
        OutMessage m;
        m.value = v.data();
        m.value_len = v.size();
        m.partition = 2;
        p.Produce(i % 2 ? a : b, "ledgers", m);
        p.Produce(untracked, "ledgers", m);
    }
    p.Await(a, 10000);
    p.Await(b, 10000);
    p.Await(untracked, 10000);
    CHECK_EQ(p.GetLedger(a).sent, 3u);
    CHECK_EQ(p.GetLedger(a).acked, 3u);
    CHECK_EQ(p.GetLedger(b).sent, 4u);
    CHECK_EQ(p.GetLedger(b).acked, 4u);
    CHECK_EQ(p.GetLedger(untracked).acked, 7u);
    CHECK(p.GetLedger(untracked).results.empty());
    for (uint32_t id : {a, b})
        for (const auto &r : p.GetLedger(id).results) {
            CHECK_EQ(r.partition, 2);
            CHECK(r.offset >= 0);
        }
    auto wm = kafka_fdw::kafka::QueryWatermarks(p, "ledgers", 2, 5000);
    CHECK_EQ(wm.high, 14);
    // delivery reports of a closed ledger are dropped quietly
    uint32_t gone = p.OpenLedger(true);
    p.Produce(gone, "ledgers", [&] {
        OutMessage m;
        m.value = v.data();
        m.value_len = v.size();
        return m;
    }());
    p.CloseLedger(gone);
    CHECK(p.FlushAll(5000));
}

TEST(mock_produce_batch_partitions_like_produce_and_keeps_order) {
    // queue.buffering.max.messages=50: the 400-message batch meets a full
    // local queue several times and resumes where librdkafka stopped.
    Mock mock(Properties{{"queue.buffering.max.messages", "50"}});
    mock.CreateTopic("single", 4);
    mock.CreateTopic("batch", 4);
    Producer &p = *mock.producer;
    const int n = 400;
    std::vector<std::string> keys, values;
    for (int i = 0; i < n; i++) {
        keys.push_back("key-" + std::to_string(i % 7));
        values.push_back("value-" + std::to_string(i));
    }
    uint32_t single = p.OpenLedger(true);
    for (int i = 0; i < n; i++) {
        OutMessage m;
        m.key = keys[i].data();
        m.key_len = keys[i].size();
        m.value = values[i].data();
        m.value_len = values[i].size();
        p.Produce(single, "single", m);
    }
    std::vector<BatchMessage> batch(n);
    for (int i = 0; i < n; i++) {
        batch[i].key = keys[i].data();
        batch[i].key_len = keys[i].size();
        batch[i].value = values[i].data();
        batch[i].value_len = values[i].size();
    }
    batch[3].value = nullptr;  // a tombstone
    batch[5].key = "";         // an empty key is a key
    batch[5].key_len = 0;
    batch[8].key = nullptr;    // no key
    uint32_t l = p.OpenLedger(true);
    p.ProduceBatch(l, "batch", nullptr, batch.data(), batch.size());
    p.Await(single, 10000);
    p.Await(l, 10000);
    CHECK_NOTHROW(p.CheckLedger(l));
    const Ledger &led = p.GetLedger(l);
    CHECK_EQ(led.sent, static_cast<uint64_t>(n));
    CHECK_EQ(led.acked, static_cast<uint64_t>(n));
    REQUIRE(led.results.size() == static_cast<size_t>(n));
    // every keyed message in the partition that Produce chose for its key
    for (int i = 0; i < n; i++) {
        if (i == 5 || i == 8) continue;
        CHECK_EQ(led.results[i].partition, p.GetLedger(single).results[i].partition);
    }
    // read back in order per partition: the payloads and keys as given
    std::vector<PartitionRange> ranges;
    for (int32_t part = 0; part < 4; part++) {
        auto wm = kafka_fdw::kafka::QueryWatermarks(p, "batch", part, 5000);
        ranges.push_back({part, wm.low, wm.high});
    }
    auto c = mock.Consumer("batch", 5000);
    c->Start(ranges);
    std::vector<Got> got = ReadAll(*c);
    REQUIRE(got.size() == static_cast<size_t>(n));
    std::map<int32_t, int> last_index;
    int tombstones = 0, empty_keys = 0, no_keys = 0;
    for (const Got &g : got) {
        if (g.value == "<null>") {
            tombstones++;
            CHECK_EQ(g.key, "key-3");
            continue;
        }
        int i = std::stoi(g.value.substr(6));
        CHECK(last_index.count(g.partition) == 0 || last_index[g.partition] < i);  // order kept
        last_index[g.partition] = i;
        if (i == 5) empty_keys += g.key.empty();
        else if (i == 8) no_keys += g.key == "<null>";
        else CHECK_EQ(g.key, keys[i]);
    }
    CHECK_EQ(tombstones, 1);
    CHECK_EQ(empty_keys, 1);
    CHECK_EQ(no_keys, 1);
    CHECK(p.FlushAll(5000));
}

TEST(mock_consumer_reads_several_ranges_of_a_partition_once_each) {
    Mock mock;
    mock.CreateTopic("multi", 2);
    mock.Fill("multi", 0, 50);
    mock.Fill("multi", 1, 10);
    auto c = mock.Consumer("multi", 5000);
    // unsorted, overlapping, adjacent and empty ranges
    c->Start({{0, 30, 33}, {0, 2, 4}, {0, 3, 6}, {1, 4, 5}, {0, 40, 40}, {0, 6, 7}, {0, 48, 50}, {1, 0, 1}});
    std::vector<Got> got = ReadAll(*c);
    std::vector<std::pair<int32_t, int64_t>> offs;
    for (const Got &g : got) offs.push_back({g.partition, g.offset});
    std::sort(offs.begin(), offs.end());
    std::vector<std::pair<int32_t, int64_t>> want = {{0, 2}, {0, 3}, {0, 4}, {0, 5}, {0, 6}, {0, 30},
                                                     {0, 31}, {0, 32}, {0, 48}, {0, 49}, {1, 0}, {1, 4}};
    CHECK(offs == want);
    for (const Got &g : got) CHECK_EQ(g.value, "m" + std::to_string(g.offset));
}

TEST(mock_produce_batch_errors) {
    Mock mock(Properties{{"message.max.bytes", "1000"}}, 300);
    mock.CreateTopic("small", 1);
    Producer &p = *mock.producer;
    std::string big(5000, 'x'), ok = "ok";
    BatchMessage m[2];
    m[0].value = ok.data();
    m[0].value_len = ok.size();
    m[1].value = big.data();
    m[1].value_len = big.size();
    uint32_t l = p.OpenLedger();
    try {
        p.ProduceBatch(l, "small", nullptr, m, 2);
        unit::RecordFailure(__FILE__, __LINE__, "an oversized message did not throw");
    } catch (const Error &e) {
        CHECK(e.kind == ErrorKind::MessageTooLarge);
        CHECK(Contains(e.what(), "5000 bytes"));
        CHECK(Contains(e.what(), "1000"));
    }
    CHECK_EQ(p.GetLedger(l).sent, 1u);  // the first one was enqueued
    p.Await(l, 10000);
    CHECK_EQ(p.GetLedger(l).acked, 1u);
    // an unknown partitioner is the topic handle's error, as for Produce
    try {
        p.ProduceBatch(l, "small", "no-such-partitioner", m, 1);
        unit::RecordFailure(__FILE__, __LINE__, "a bad partitioner did not throw");
    } catch (const Error &e) {
        CHECK(e.kind == ErrorKind::InvalidConfig);
    }
}

TEST(mock_produce_fails_when_the_broker_is_down) {
    // Bounded by the producer's timeout: Await either sees the messages fail
    // (message.timeout.ms) or gives up with Timeout; it never hangs.
    // (Today it is always the Timeout: see mock_bug_producer_ignores_topic_properties.)
    const int timeout_ms = 2000;
    Mock mock({{"message.timeout.ms", "1000"}}, timeout_ms);
    mock.CreateTopic("down", 1);
    Producer &p = *mock.producer;
    REQUIRE(rd_kafka_mock_broker_set_down(mock.cluster, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    uint32_t l = p.OpenLedger(true);
    std::string v = "lost";
    OutMessage m;
    m.value = v.data();
    m.value_len = v.size();
    for (int i = 0; i < 5; i++) p.Produce(l, "down", m);
    Stopwatch sw;
    bool threw = false;
    try {
        p.Await(l, p.timeout_ms());
    } catch (const Error &e) {
        threw = true;
        if (e.kind != ErrorKind::Timeout) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
        CHECK(Contains(e.what(), "of 5 messages were not acknowledged"));
        CHECK(sw.Ms() >= timeout_ms);
    }
    CHECK(sw.Ms() < timeout_ms + 1000);
    const Ledger &led = p.GetLedger(l);
    CHECK_EQ(led.sent, 5u);
    CHECK_EQ(led.acked, 0u);
    if (!threw) {
        CHECK_EQ(led.failed, 5u);
        CHECK(led.first_error == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
        CHECK_EQ(led.first_error_topic, "down");
        for (const auto &r : led.results) CHECK(r.err != RD_KAFKA_RESP_ERR_NO_ERROR);
        try {
            p.CheckLedger(l);
            unit::RecordFailure(__FILE__, __LINE__, "CheckLedger did not throw");
        } catch (const Error &e) {
            if (e.kind != ErrorKind::Delivery && e.kind != ErrorKind::Timeout)
                unit::RecordFailure(__FILE__, __LINE__, Describe(e));
            CHECK(Contains(e.what(), "5 of 5"));
            CHECK_EQ(e.topic, "down");
        }
    } else {
        CHECK_EQ(led.failed + led.pending(), 5u);
        if (led.failed > 0) CHECK_THROWS(p.CheckLedger(l), Error);
    }
}

// BUG: Producer::Topic() (src/kafka/producer.cpp) builds each topic handle
// from rd_kafka_topic_conf_new(), i.e. librdkafka's defaults, instead of
// rd_kafka_default_topic_conf_dup(handle()).  Every topic-level property the
// user put in the configuration is silently ignored by the producer:
// acks/request.required.acks, message.timeout.ms/delivery.timeout.ms,
// request.timeout.ms, compression.level, queuing.strategy.  Here
// message.timeout.ms=1000 with the broker down: the messages should fail
// after ~1 s, but they stay queued for the default 300 s and Await times out
// with failed == 0 (the C API shows the difference: the same produce with a
// NULL topic conf or rd_kafka_default_topic_conf_dup() fails all 5 in ~1 s).
// Fix: rd_kafka_topic_conf_t *tconf = rd_kafka_default_topic_conf_dup(handle());
TEST(mock_bug_producer_ignores_topic_properties) {
    Mock mock({{"message.timeout.ms", "1000"}}, 4000);
    mock.CreateTopic("down", 1);
    Producer &p = *mock.producer;
    REQUIRE(rd_kafka_mock_broker_set_down(mock.cluster, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    uint32_t l = p.OpenLedger();
    std::string v = "lost";
    OutMessage m;
    m.value = v.data();
    m.value_len = v.size();
    for (int i = 0; i < 5; i++) p.Produce(l, "down", m);
    try {
        p.Await(l, p.timeout_ms());
    } catch (const Error &e) {
        unit::RecordFailure(__FILE__, __LINE__, Describe(e));
    }
    CHECK_EQ(p.GetLedger(l).failed, 5u);
    CHECK_THROWS(p.CheckLedger(l), Error);
}

TEST(mock_produce_rejected_by_the_broker) {
    Mock mock;
    mock.CreateTopic("denied", 2);
    mock.CreateTopic("toolarge", 1);
    Producer &p = *mock.producer;
    std::string v = "x";
    OutMessage m;
    m.value = v.data();
    m.value_len = v.size();
    m.partition = 1;

    std::vector<rd_kafka_resp_err_t> denied(3, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    rd_kafka_mock_push_request_errors_array(mock.cluster, 0 /* Produce */, denied.size(), denied.data());
    uint32_t l = p.OpenLedger(true);
    for (int i = 0; i < 3; i++) p.Produce(l, "denied", m);
    CHECK_NOTHROW(p.Await(l, 5000));  // all reported: nothing pending
    const Ledger &led = p.GetLedger(l);
    CHECK_EQ(led.failed, 3u);
    CHECK_EQ(led.acked, 0u);
    CHECK(led.first_error == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    CHECK_EQ(led.first_error_topic, "denied");
    CHECK_EQ(led.first_error_partition, 1);
    for (const auto &r : led.results) CHECK(r.err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    try {
        p.CheckLedger(l);
        unit::RecordFailure(__FILE__, __LINE__, "CheckLedger did not throw");
    } catch (const Error &e) {
        if (e.kind != ErrorKind::Delivery) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
        CHECK(Contains(e.what(), "3 of 3"));
        CHECK(Contains(e.detail, "uthorization"));
        CHECK_EQ(e.topic, "denied");
        CHECK_EQ(e.partition, 1);
        CHECK(e.code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    }

    // the 3 messages may have gone in one request: drop the errors left over
    rd_kafka_mock_clear_request_errors(mock.cluster, 0 /* Produce */);
    std::vector<rd_kafka_resp_err_t> large(5, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    rd_kafka_mock_push_request_errors_array(mock.cluster, 0 /* Produce */, large.size(), large.data());
    uint32_t l2 = p.OpenLedger();
    m.partition = 0;
    p.Produce(l2, "toolarge", m);
    p.Await(l2, 5000);
    try {
        p.CheckLedger(l2);
        unit::RecordFailure(__FILE__, __LINE__, "CheckLedger did not throw");
    } catch (const Error &e) {
        if (e.kind != ErrorKind::MessageTooLarge) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
    }
}

TEST(mock_produce_to_a_missing_topic) {
    // The broker says the topic does not exist; after
    // topic.metadata.propagation.max.ms librdkafka fails the messages.
    Mock mock({{"topic.metadata.propagation.max.ms", "100"}}, 5000);
    rd_kafka_mock_topic_set_error(mock.cluster, "missing", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    Producer &p = *mock.producer;
    uint32_t l = p.OpenLedger();
    std::string v = "x";
    OutMessage m;
    m.value = v.data();
    m.value_len = v.size();
    Stopwatch sw;
    try {
        p.Produce(l, "missing", m);
        p.Await(l, p.timeout_ms());
        p.CheckLedger(l);
        unit::RecordFailure(__FILE__, __LINE__, "no error");
    } catch (const Error &e) {
        if (e.kind != ErrorKind::UnknownTopic) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
        CHECK(Contains(e.what(), "\"missing\" does not exist"));
        CHECK_EQ(e.topic, "missing");
        CHECK(!e.hint.empty());
    }
    CHECK(sw.Ms() < 4000);
}

TEST(mock_headers_tombstones_and_timestamps_round_trip) {
    Mock mock;
    mock.CreateTopic("headers", 1);
    Producer &p = *mock.producer;
    uint32_t l = p.OpenLedger(true);
    std::vector<Header> headers = {{"h1", "one"}, {"h2", std::string("t\0wo", 4)}, {"h1", "again"}};
    std::string key = "key", value = "value";
    OutMessage m;
    m.partition = 0;
    m.key = key.data();
    m.key_len = key.size();
    m.value = value.data();
    m.value_len = value.size();
    m.headers = &headers;
    m.timestamp_ms = 1600000000123;
    p.Produce(l, "headers", m);
    OutMessage tomb;  // no key, no value
    tomb.partition = 0;
    p.Produce(l, "headers", tomb);
    p.Await(l, 10000);
    CHECK_NOTHROW(p.CheckLedger(l));
    CHECK_EQ(p.GetLedger(l).acked, 2u);

    auto c = mock.Consumer("headers", 5000);
    c->Start({{0, 0, 2}});
    const rd_kafka_message_t *got = c->Next();
    REQUIRE(got != nullptr);
    CHECK_EQ(got->offset, 0);
    CHECK_EQ(std::string(static_cast<const char *>(got->payload), got->len), "value");
    rd_kafka_timestamp_type_t tstype;
    CHECK_EQ(rd_kafka_message_timestamp(got, &tstype), 1600000000123);
    rd_kafka_headers_t *hdrs = nullptr;
    REQUIRE(rd_kafka_message_headers(got, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK_EQ(rd_kafka_header_cnt(hdrs), 3u);
    const void *hv;
    size_t hlen;
    REQUIRE(rd_kafka_header_get_last(hdrs, "h2", &hv, &hlen) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK_EQ(std::string(static_cast<const char *>(hv), hlen), std::string("t\0wo", 4));
    REQUIRE(rd_kafka_header_get_last(hdrs, "h1", &hv, &hlen) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK_EQ(std::string(static_cast<const char *>(hv), hlen), "again");
    got = c->Next();
    REQUIRE(got != nullptr);
    CHECK_EQ(got->offset, 1);
    CHECK(got->payload == nullptr);
    CHECK(got->key == nullptr);
    CHECK(c->Next() == nullptr);
    CHECK_EQ(c->delivered(), 2);
}

TEST(mock_header_refs_and_alternating_topics) {
    // HeaderRef headers come after the vector's; the producer's last-topic
    // shortcut must not send a message to the previous topic.
    Mock mock;
    mock.CreateTopic("ta", 1);
    mock.CreateTopic("tb", 1);
    Producer &p = *mock.producer;
    uint32_t l = p.OpenLedger(true);
    std::vector<Header> vec = {{"first", "1"}};
    const char op = 'c';
    const kafka_fdw::kafka::HeaderRef refs[2] = {{"op", &op, 1}, {"empty", "", 0}};
    const char *order[] = {"ta", "tb", "tb", "ta", "tb"};
    for (int i = 0; i < 5; i++) {
        std::string v = "v" + std::to_string(i);
        OutMessage m;
        m.value = v.data();
        m.value_len = v.size();
        m.headers = &vec;
        m.header_refs = refs;
        m.n_header_refs = 2;
        if (order[i][1] == 'a') m.partitioner = "consistent";  // ta's handle: not the default one
        p.Produce(l, order[i], m);
    }
    p.Await(l, 10000);
    CHECK_NOTHROW(p.CheckLedger(l));
    for (const char *topic : {"ta", "tb"}) {
        auto c = mock.Consumer(topic, 5000);
        c->Start({{0, 0, std::string(topic) == "ta" ? 2 : 3}});
        std::vector<std::string> values;
        while (const rd_kafka_message_t *got = c->Next()) {
            values.push_back(std::string(static_cast<const char *>(got->payload), got->len));
            rd_kafka_headers_t *hdrs = nullptr;
            REQUIRE(rd_kafka_message_headers(got, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR);
            REQUIRE(rd_kafka_header_cnt(hdrs) == 3u);
            const char *name;
            const void *val;
            size_t size;
            REQUIRE(rd_kafka_header_get_all(hdrs, 0, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR);
            CHECK_EQ(std::string(name), "first");
            REQUIRE(rd_kafka_header_get_all(hdrs, 1, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR);
            CHECK_EQ(std::string(name) + "=" + std::string(static_cast<const char *>(val), size), "op=c");
            REQUIRE(rd_kafka_header_get_all(hdrs, 2, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR);
            CHECK_EQ(std::string(name), "empty");
            CHECK_EQ(size, 0u);
        }
        if (std::string(topic) == "ta") CHECK(values == std::vector<std::string>({"v0", "v3"}));
        else CHECK(values == std::vector<std::string>({"v1", "v2", "v4"}));
    }
}

// ---- consumer ----------------------------------------------------------------

TEST(mock_bug_metadata_before_produce_loses_the_partitioner) {
    // A metadata request on a topic (a CDC worker checks its topics before
    // the first message) made librdkafka create the topic's handle with the
    // client's default topic configuration, i.e. partitioner
    // consistent_random; the murmur2_random handle the producer asked for
    // afterwards was that same handle: keys went where crc32 puts them, not
    // where Java clients do.  Vectors: Kafka's UtilsTest and librdkafka's
    // murmur2 tests, toPositive(murmur2(key)) % 3 (expected/produce.out).
    Mock mock;
    mock.CreateTopic("m2", 3);
    Producer &p = *mock.producer;
    CHECK_EQ(kafka_fdw::kafka::PartitionCount(p, "m2", 5000), 3);
    const std::vector<std::pair<std::string, int32_t>> vectors = {
        {"21", 0}, {"foobar", 0}, {"a-little-bit-long-string", 2}, {"kafka", 1}, {"giberish123456789", 2},
        {"4", 1},  {"23456", 2},  {"hejsan", 1},                   {"234", 2},   {"1234", 0}};
    uint32_t l = p.OpenLedger(true);
    for (const auto &v : vectors) {
        OutMessage m;
        m.key = v.first.data();
        m.key_len = v.first.size();
        m.value = "v";
        m.value_len = 1;
        p.Produce(l, "m2", m);
    }
    p.Await(l, 10000);
    const Ledger &led = p.GetLedger(l);
    REQUIRE(led.results.size() == vectors.size());
    for (size_t i = 0; i < vectors.size(); i++) {
        CHECK_EQ(led.results[i].partition, vectors[i].second);
    }
    // A second partitioner for a topic that has a handle would be ignored
    // by librdkafka: refused, naming both.
    try {
        OutMessage m;
        m.value = "v";
        m.value_len = 1;
        m.partitioner = "consistent";
        p.Produce(l, "m2", m);
        unit::RecordFailure(__FILE__, __LINE__, "a second partitioner for one topic did not throw");
    } catch (const Error &e) {
        CHECK(e.kind == ErrorKind::InvalidConfig);
        CHECK(Contains(e.what(), "murmur2_random"));
        CHECK(Contains(e.what(), "consistent"));
    }
    CHECK_EQ(p.GetLedger(l).sent, vectors.size());
}

TEST(mock_range_consumer_reads_exact_ranges) {
    Mock mock;
    mock.CreateTopic("ranges", 2);
    mock.Fill("ranges", 0, 10);  // partition 1 stays empty

    auto c = mock.Consumer("ranges", 5000);
    Stopwatch sw;
    c->Start({{0, 0, 10}, {1, 0, 0}});
    long long last_ms = -1;
    std::vector<Got> got = ReadAll(*c, &last_ms);
    CHECK(sw.Ms() < 3000);
    REQUIRE(got.size() == 10u);
    for (size_t i = 0; i < got.size(); i++) {
        CHECK_EQ(got[i].partition, 0);
        CHECK_EQ(got[i].offset, static_cast<int64_t>(i));
        CHECK_EQ(got[i].key, "k" + std::to_string(i));
        CHECK_EQ(got[i].value, "m" + std::to_string(i));
    }
    CHECK(last_ms >= 0 && last_ms < kafka_fdw::kafka::kSliceMs);  // the end is known: no waiting
    CHECK_EQ(c->delivered(), 10);
    Stopwatch again;
    CHECK(c->Next() == nullptr);  // and stays at the end
    CHECK(again.Ms() < 50);
    c->Stop();                    // safe after the end, and twice
    c->Stop();
}

TEST(mock_range_consumer_small_prefetch_wakes_the_fetchers) {
    // A prefetch queue of 300 messages for 3 x 2000: librdkafka stops
    // fetching at the threshold, and Next() wakes it when the queue drained
    // (before 2.4); 2.4+ looks again after fetch.queue.backoff.ms by itself.
    Mock mock;
    mock.CreateTopic("small_prefetch", 3);
    for (int32_t p = 0; p < 3; p++) mock.Fill("small_prefetch", p, 2000);
    bool has_backoff = rd_kafka_version() >= 0x02040000;
    kafka_fdw::kafka::Properties props = {{"queued.min.messages", "300"}, {"max.partition.fetch.bytes", "2048"}};
    if (has_backoff) props.emplace_back("fetch.queue.backoff.ms", "1");
    auto c = mock.Consumer("small_prefetch", 10000, props);
    c->Start({{0, 0, 2000}, {1, 0, 2000}, {2, 0, 2000}});
    std::vector<Got> got = ReadAll(*c);
    REQUIRE(got.size() == 6000u);
    int64_t next[3] = {0, 0, 0};
    for (const Got &g : got) {
        REQUIRE(g.partition >= 0 && g.partition < 3);
        CHECK_EQ(g.offset, next[g.partition]);  // each offset once, in order
        CHECK_EQ(g.value, "m" + std::to_string(g.offset));
        next[g.partition] = g.offset + 1;
    }
    if (has_backoff)
        CHECK_EQ(c->wake_ups(), 0);
    else
        CHECK(c->wake_ups() > 0);
}

TEST(mock_range_consumer_sub_range) {
    Mock mock;
    mock.CreateTopic("sub", 2);
    mock.Fill("sub", 0, 10);
    auto c = mock.Consumer("sub", 5000);
    c->Start({{0, 3, 7}});
    long long last_ms = -1;
    std::vector<Got> got = ReadAll(*c, &last_ms);
    REQUIRE(got.size() == 4u);
    for (size_t i = 0; i < got.size(); i++) {
        CHECK_EQ(got[i].offset, static_cast<int64_t>(3 + i));
        CHECK_EQ(got[i].value, "m" + std::to_string(3 + i));
    }
    CHECK(last_ms >= 0 && last_ms < kafka_fdw::kafka::kSliceMs);

    // a single message, and two partitions at once
    mock.Fill("sub", 1, 3);
    auto d = mock.Consumer("sub", 5000);
    d->Start({{0, 9, 10}, {1, 1, 3}});
    got = ReadAll(*d);
    REQUIRE(got.size() == 3u);
    int from0 = 0, from1 = 0;
    int64_t last1 = -1;
    for (const auto &g : got) {
        if (g.partition == 0) {
            from0++;
            CHECK_EQ(g.offset, 9);
        } else {
            from1++;
            CHECK(g.offset > last1);  // in order within a partition
            last1 = g.offset;
            CHECK(g.offset >= 1 && g.offset < 3);
        }
    }
    CHECK_EQ(from0, 1);
    CHECK_EQ(from1, 2);
}

TEST(mock_range_consumer_nothing_to_read) {
    Mock mock;
    mock.CreateTopic("empty", 2);
    auto c = mock.Consumer("empty", 5000);
    Stopwatch sw;
    c->Start({{0, 0, 0}, {1, 5, 5}, {0, 7, 3}});
    CHECK(c->Next() == nullptr);
    CHECK(sw.Ms() < 50);
    auto d = mock.Consumer("empty", 5000);
    d->Start({});
    CHECK(d->Next() == nullptr);
}

// One client, restarted on new ranges (a serial scan's rounds, a rescan, a
// parallel worker's claims): each Start delivers exactly its own ranges,
// never a message of the earlier ones that was prefetched, queued or in a
// fetch still on its way, whether the new start is above or below them.
namespace {
std::vector<std::pair<int32_t, int64_t>> OffsetsOf(const std::vector<Got> &got) {
    std::vector<std::pair<int32_t, int64_t>> out;
    for (const Got &g : got) out.push_back({g.partition, g.offset});
    return out;
}
std::vector<std::pair<int32_t, int64_t>> Span(int32_t partition, int64_t from, int64_t to) {
    std::vector<std::pair<int32_t, int64_t>> out;
    for (int64_t o = from; o < to; o++) out.push_back({partition, o});
    return out;
}
// Reads n messages, then lets the prefetch fill the queue.
void ReadSome(RangeConsumer &c, int n) {
    for (int i = 0; i < n; i++) REQUIRE(c.Next() != nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
}
}  // namespace

TEST(mock_range_consumer_restarts_on_new_ranges) {
    Mock mock;
    mock.CreateTopic("restart", 2);
    mock.Fill("restart", 0, 3000);
    mock.Fill("restart", 1, 500);
    auto c = mock.Consumer("restart", 5000);

    c->Start({{0, 0, 3000}, {1, 0, 500}});
    ReadSome(*c, 5);
    // higher than everything read or prefetched so far, one partition only
    c->Start({{0, 2500, 2510}});
    std::vector<Got> got = ReadAll(*c);
    CHECK(OffsetsOf(got) == Span(0, 2500, 2510));
    for (const Got &g : got) CHECK_EQ(g.value, "m" + std::to_string(g.offset));

    // lower, while the earlier start's tail may still be on its way
    c->Start({{0, 0, 3000}});
    ReadSome(*c, 3);
    c->Start({{0, 100, 110}, {1, 490, 500}});
    got = ReadAll(*c);
    std::vector<std::pair<int32_t, int64_t>> offs = OffsetsOf(got);
    std::stable_sort(offs.begin(), offs.end());
    std::vector<std::pair<int32_t, int64_t>> want = Span(0, 100, 110);
    for (auto &o : Span(1, 490, 500)) want.push_back(o);
    CHECK(offs == want);
    // in offset order within each partition, as delivered
    int64_t last[2] = {-1, -1};
    for (const Got &g : got) {
        CHECK(g.offset > last[g.partition]);
        last[g.partition] = g.offset;
    }

    // overlapping what the earlier start prefetched: each offset once, in order
    c->Start({{0, 0, 3000}});
    ReadSome(*c, 10);  // 0..9 delivered, more queued
    c->Start({{0, 5, 15}});
    got = ReadAll(*c);
    CHECK(OffsetsOf(got) == Span(0, 5, 15));

    // after an end, after nothing to read, and after a Stop (a rescan)
    c->Start({});
    CHECK(c->Next() == nullptr);
    c->Start({{0, 2999, 3000}});
    got = ReadAll(*c);
    CHECK(OffsetsOf(got) == Span(0, 2999, 3000));
    c->Start({{1, 0, 500}});
    ReadSome(*c, 1);
    c->Stop();
    Stopwatch sw;
    CHECK(c->Next() == nullptr);  // stopped: nothing more, no waiting
    CHECK(sw.Ms() < 50);
    c->Start({{1, 1, 3}});
    got = ReadAll(*c);
    CHECK(OffsetsOf(got) == Span(1, 1, 3));
    CHECK_EQ(c->starts(), 10);
}

// A restart costs queue operations, not a client: far less than a new one.
// A restart keeps the one librdkafka client (no new handle, threads or
// bootstrap per rescan); the time of 10 restarts against 10 new clients is
// printed for information only (bench/README.md has the measured figures:
// timed assertions fail on a loaded machine).
TEST(mock_range_consumer_restart_keeps_one_client) {
    Mock mock;
    mock.CreateTopic("restart_cost", 4);
    for (int32_t p = 0; p < 4; p++) mock.Fill("restart_cost", p, 20);
    // the scans' fetch wait (connection.cpp, ReaderDefaults)
    Properties reader = {{"fetch.wait.max.ms", "2"}};
    auto c = mock.Consumer("restart_cost", 5000, reader);
    rd_kafka_t *rk = c->handle();
    c->Start({{0, 0, 20}, {1, 0, 20}, {2, 0, 20}, {3, 0, 20}});
    REQUIRE(ReadAll(*c).size() == 80u);
    const int rounds = 10;
    Stopwatch restarted;
    for (int i = 0; i < rounds; i++) {
        c->Start({{i % 4, i, i + 5}});
        REQUIRE(ReadAll(*c).size() == 5u);
        CHECK(c->handle() == rk);
    }
    long long restart_ms = restarted.Ms();
    Stopwatch fresh;
    for (int i = 0; i < rounds; i++) {
        auto d = mock.Consumer("restart_cost", 5000, reader);
        d->Start({{i % 4, i, i + 5}});
        REQUIRE(ReadAll(*d).size() == 5u);
    }
    long long fresh_ms = fresh.Ms();
    std::printf("    # 10 rounds: restarted %lld ms, new clients %lld ms (information only)\n", restart_ms, fresh_ms);
}

TEST(mock_watermarks_and_partition_count) {
    Mock mock;
    mock.CreateTopic("marks", 2);
    mock.Fill("marks", 0, 10);
    auto c = mock.Consumer("marks", 5000);
    auto w0 = kafka_fdw::kafka::QueryWatermarks(*c, "marks", 0, 5000);
    CHECK_EQ(w0.partition, 0);
    CHECK_EQ(w0.low, 0);
    CHECK_EQ(w0.high, 10);
    auto w1 = kafka_fdw::kafka::QueryWatermarks(*c, "marks", 1, 5000);
    CHECK_EQ(w1.low, 0);
    CHECK_EQ(w1.high, 0);
    CHECK_EQ(kafka_fdw::kafka::PartitionCount(*c, "marks", 5000), 2);
    bool listed = false;
    for (const auto &t : kafka_fdw::kafka::ListTopics(*c, 5000))
        if (t.name == "marks") listed = t.partitions == 2;
    CHECK(listed);
}

TEST(mock_topic_watermarks_all_partitions_at_once) {
    Mock mock;
    mock.CreateTopic("allmarks", 5);
    mock.Fill("allmarks", 0, 10);
    mock.Fill("allmarks", 3, 4);
    auto c = mock.Consumer("allmarks", 5000);
    auto wm = kafka_fdw::kafka::TopicWatermarks(*c, "allmarks", 5000);
    REQUIRE(wm.size() == 5);
    const int64_t want_high[] = {10, 0, 0, 4, 0};
    for (int p = 0; p < 5; p++) {
        CHECK_EQ(wm[p].partition, p);
        CHECK_EQ(wm[p].low, 0);
        CHECK_EQ(wm[p].high, want_high[p]);
        auto one = kafka_fdw::kafka::QueryWatermarks(*c, "allmarks", p, 5000);
        CHECK_EQ(one.high, wm[p].high);
        CHECK_EQ(one.low, wm[p].low);
    }
    // (a missing topic's answer is injected: see mock_partition_count_of_unknown_topic)
    rd_kafka_mock_topic_set_error(mock.cluster, "no_such_topic_here", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    bool unknown = false;
    try {
        kafka_fdw::kafka::TopicWatermarks(*c, "no_such_topic_here", 2000);
    } catch (const Error &e) {
        unknown = e.kind == ErrorKind::UnknownTopic && e.topic == "no_such_topic_here";
    }
    CHECK(unknown);
}

TEST(mock_client_is_unreachable_after_a_timeout_until_a_call_succeeds) {
    // The backend's client cache drops a client whose last call gave up on
    // the brokers (fdw/connection.cpp DropUnreachableClients).
    Mock mock;
    mock.CreateTopic("reach", 1);
    auto c = mock.Consumer("reach", 5000);
    CHECK(!c->unreachable());
    CHECK_EQ(kafka_fdw::kafka::PartitionCount(*c, "reach", 5000), 1);
    CHECK(!c->unreachable());
    REQUIRE(rd_kafka_mock_broker_set_down(mock.cluster, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    Stopwatch sw;
    bool threw = false;
    try {
        kafka_fdw::kafka::QueryWatermarks(*c, "reach", 0, 500);
    } catch (const Error &e) {
        threw = true;
        if (e.kind != ErrorKind::Connection) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
        CHECK_EQ(e.topic, "reach");
        CHECK_EQ(e.partition, 0);
    }
    CHECK(threw);
    CHECK(sw.Ms() < 1500);
    CHECK(c->unreachable());
    REQUIRE(rd_kafka_mock_broker_set_up(mock.cluster, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK_EQ(kafka_fdw::kafka::QueryWatermarks(*c, "reach", 0, 10000).high, 0);
    CHECK(!c->unreachable());
}

TEST(mock_watermarks_of_a_dead_leader_are_interruptible) {
    // The partition's leader is known from earlier metadata, then it stops
    // answering.  librdkafka 2.0.2's rd_kafka_query_watermark_offsets waits
    // for its ListOffsets replies up to socket.timeout.ms (60 s) whatever its
    // timeout argument: QueryWatermarks must end by its own timeout and on
    // an interrupt like every other wait.
    Mock mock;
    mock.CreateTopic("deadleader", 1);
    mock.Fill("deadleader", 0, 3);
    auto c = mock.Consumer("deadleader", 5000);
    CHECK_EQ(kafka_fdw::kafka::QueryWatermarks(*c, "deadleader", 0, 5000).high, 3);
    REQUIRE(rd_kafka_mock_broker_set_down(mock.cluster, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    g_interrupt_calls = 0;
    InterruptHook hook(InterruptAfterFiveCalls);
    Stopwatch sw;
    bool interrupted = false;
    try {
        kafka_fdw::kafka::QueryWatermarks(*c, "deadleader", 0, 30000);
    } catch (const Interrupted &) {
        interrupted = true;
    } catch (const Error &e) {
        unit::RecordFailure(__FILE__, __LINE__, Describe(e));
    }
    CHECK(interrupted);
    CHECK(sw.Ms() < 5000);
}

TEST(mock_partition_count_of_unknown_topic) {
    // The 2.0.2 mock answers Metadata v2, which has no AllowAutoTopicCreation:
    // it creates any topic asked for.  So the broker's answer for a missing
    // topic is injected.
    Mock mock;
    rd_kafka_mock_topic_set_error(mock.cluster, "no-such-topic", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    auto c = mock.Consumer("whatever", 5000);
    Stopwatch sw;
    try {
        int n = kafka_fdw::kafka::PartitionCount(*c, "no-such-topic", 3000);
        unit::RecordFailure(__FILE__, __LINE__, "PartitionCount returned " + std::to_string(n));
    } catch (const Error &e) {
        if (e.kind != ErrorKind::UnknownTopic) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
        CHECK(Contains(e.what(), "does not exist"));
        CHECK_EQ(e.topic, "no-such-topic");
    }
    CHECK(sw.Ms() < 1000);  // not retried
}

TEST(mock_partition_count_retries_while_the_leader_is_elected) {
    // librdkafka before 2.10 updates partition leaders from a metadata
    // response whose topic has an error, and the mock cluster answers with
    // the topic's partitions: 2.8.0 (Debian 13) crashes in its main thread
    // (librdkafka #4907, fixed in 2.10.0; 2.0.2 does not).  A real broker
    // sends such an error without partitions.  Run on 2.0.x and 2.10+.
    if (rd_kafka_version() >= 0x02010000 && rd_kafka_version() < 0x020a0000) {
        std::printf("    # skipped on librdkafka %s: its mock cluster crashes here (librdkafka #4907)\n",
                    rd_kafka_version_str());
        return;
    }
    Mock mock;
    mock.CreateTopic("electing", 3);
    rd_kafka_mock_topic_set_error(mock.cluster, "electing", RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    auto c = mock.Consumer("electing", 5000);
    rd_kafka_mock_cluster_t *cluster = mock.cluster;
    std::thread elected([cluster] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        rd_kafka_mock_topic_set_error(cluster, "electing", RD_KAFKA_RESP_ERR_NO_ERROR);
    });
    Stopwatch sw;
    int n = -1;
    try {
        n = kafka_fdw::kafka::PartitionCount(*c, "electing", 5000);
    } catch (const Error &e) {
        unit::RecordFailure(__FILE__, __LINE__, Describe(e));
    }
    elected.join();
    CHECK_EQ(n, 3);
    CHECK(sw.Ms() >= 250);
    CHECK(sw.Ms() < 3000);

    // an error that does not clear: the deadline ends the wait
    rd_kafka_mock_topic_set_error(mock.cluster, "electing", RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    Stopwatch sw2;
    try {
        kafka_fdw::kafka::PartitionCount(*c, "electing", 300);
        unit::RecordFailure(__FILE__, __LINE__, "PartitionCount did not throw");
    } catch (const Error &e) {
        if (e.kind != ErrorKind::Connection) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
    }
    CHECK(sw2.Ms() >= 300);
    CHECK(sw2.Ms() < 1500);
}

namespace {
std::atomic<int> g_retry_checks{0};
void CountRetries() { g_retry_checks++; }
}  // namespace

// BUG: the retry loops of src/kafka/metadata.cpp (FetchMetadata,
// QueryWatermarks, OffsetsForTime) never wait between attempts when the
// broker answers at once with a retriable error: a topic still electing its
// leader (LEADER_NOT_AVAILABLE, normal for ~1 s after CREATE) or a partition
// whose leader moved (NOT_LEADER_FOR_PARTITION).  Deadline::SliceMs() bounds
// each librdkafka call, but the answer comes in microseconds, so the loop
// spins: against the mock, 500 ms of waiting issued ~8000 Metadata requests
// (PartitionCount) and ~3000-5000 ListOffsets requests (QueryWatermarks,
// OffsetsForTime), one CPU at 100% and a request flood on the broker for up
// to the whole timeout.  Fix: after a retriable error, wait the rest of the
// slice (e.g. client.Poll(deadline.SliceMs()) or a sleep with backoff)
// before the next attempt.  Expected here: about one attempt per slice.
TEST(mock_bug_metadata_retries_spin_without_waiting) {
    Mock mock;
    mock.CreateTopic("spin", 1);
    auto c = mock.Consumer("spin", 5000);
    kafka_fdw::kafka::QueryWatermarks(*c, "spin", 0, 5000);  // leader known
    InterruptHook hook(&CountRetries);
    const int wait_ms = 500, max_attempts = 2 * wait_ms / kafka_fdw::kafka::kSliceMs + 5;

    rd_kafka_mock_topic_set_error(mock.cluster, "spin", RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    g_retry_checks = 0;
    CHECK_THROWS(kafka_fdw::kafka::PartitionCount(*c, "spin", wait_ms), Error);
    if (g_retry_checks > max_attempts)
        unit::RecordFailure(__FILE__, __LINE__,
                            "PartitionCount retried " + std::to_string(g_retry_checks.load()) +
                                " times in " + std::to_string(wait_ms) + " ms");
    rd_kafka_mock_topic_set_error(mock.cluster, "spin", RD_KAFKA_RESP_ERR_NO_ERROR);

    std::vector<rd_kafka_resp_err_t> errs(100000, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    rd_kafka_mock_push_request_errors_array(mock.cluster, 2 /* ListOffsets */, errs.size(), errs.data());
    g_retry_checks = 0;
    CHECK_THROWS(kafka_fdw::kafka::QueryWatermarks(*c, "spin", 0, wait_ms), Error);
    if (g_retry_checks > max_attempts)
        unit::RecordFailure(__FILE__, __LINE__,
                            "QueryWatermarks retried " + std::to_string(g_retry_checks.load()) +
                                " times in " + std::to_string(wait_ms) + " ms");
    g_retry_checks = 0;
    CHECK_THROWS(kafka_fdw::kafka::OffsetsForTime(*c, "spin", {0}, 0, wait_ms), Error);
    if (g_retry_checks > max_attempts)
        unit::RecordFailure(__FILE__, __LINE__,
                            "OffsetsForTime retried " + std::to_string(g_retry_checks.load()) +
                                " times in " + std::to_string(wait_ms) + " ms");
    rd_kafka_mock_clear_request_errors(mock.cluster, 2);
}

TEST(mock_range_consumer_stall_timeout_names_the_partition) {
    Mock mock;
    mock.CreateTopic("stall", 1);
    mock.Fill("stall", 0, 10);
    auto c = mock.Consumer("stall", 500);
    c->Start({{0, 5, 12}});  // offsets 10 and 11 never come
    int n = 0;
    Stopwatch sw;
    try {
        while (c->Next()) n++;
        unit::RecordFailure(__FILE__, __LINE__, "the scan ended");
    } catch (const Error &e) {
        if (e.kind != ErrorKind::Timeout) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
        CHECK_EQ(e.topic, "stall");
        CHECK_EQ(e.partition, 0);
        CHECK_EQ(e.offset, 10);
        CHECK(Contains(e.what(), "500 ms"));
    }
    CHECK_EQ(n, 5);
    CHECK(sw.Ms() >= 500);
    CHECK(sw.Ms() < 3000);
}

// BUG (minor): reading a partition that does not exist waits for the whole
// stall timeout and then fails with Timeout ("no progress reading topic"),
// although librdkafka reported at once, through error_cb, "desired partition
// is not available (Local: Unknown partition)".  RangeConsumer::FetchBatch
// (src/kafka/consumer.cpp) could fail fast with Error(UnknownPartition) when
// last_error() is RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, or Start() could check
// the partition count.  (Callers that take ranges from metadata never hit it.)
TEST(mock_bug_range_consumer_unknown_partition_waits_for_stall_timeout) {
    Mock mock;
    mock.CreateTopic("two", 2);
    auto c = mock.Consumer("two", 3000);
    Stopwatch sw;
    try {
        c->Start({{5, 0, 10}});
        while (c->Next()) {
        }
        unit::RecordFailure(__FILE__, __LINE__, "the scan ended");
    } catch (const Error &e) {
        if (e.kind != ErrorKind::UnknownPartition) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
        CHECK_EQ(e.partition, 5);
    }
    CHECK(sw.Ms() < 1000);
}

TEST(mock_range_consumer_offset_out_of_range) {
    Mock mock;
    mock.CreateTopic("oor", 1);
    mock.Fill("oor", 0, 10);
    auto c = mock.Consumer("oor", 3000);
    c->Start({{0, 20, 30}});  // past the end: auto.offset.reset=error
    Stopwatch sw;
    try {
        while (c->Next()) {
        }
        unit::RecordFailure(__FILE__, __LINE__, "the scan ended");
    } catch (const Error &e) {
        // an error naming the partition (not a stall)
        if (e.kind == ErrorKind::Timeout) unit::RecordFailure(__FILE__, __LINE__, Describe(e));
        CHECK_EQ(e.topic, "oor");
        CHECK_EQ(e.partition, 0);
        CHECK(!e.hint.empty());
    }
    CHECK(sw.Ms() < 3000);
}

TEST(mock_range_consumer_is_interruptible) {
    Mock mock;
    mock.CreateTopic("interrupt", 1);
    mock.Fill("interrupt", 0, 10);
    auto c = mock.Consumer("interrupt", 30000);
    c->Start({{0, 0, 1000}});  // ends beyond the high watermark: it would wait
    g_interrupt_calls = 0;
    InterruptHook hook(&InterruptAfterFiveCalls);
    Stopwatch sw;
    int n = 0;
    try {
        while (c->Next()) n++;
        unit::RecordFailure(__FILE__, __LINE__, "the scan ended");
    } catch (const Interrupted &) {
    }
    CHECK(sw.Ms() < 1500);
    CHECK(g_interrupt_calls.load() == 6);
    CHECK(n <= 10);
    // the consumer can be stopped and destroyed after an interrupt
    c->Stop();
}

// ---- HeadersToJson ---------------------------------------------------------

namespace {

// Produces one message with these headers through the C API (a null value is
// possible there) and returns HeadersToJson of it as consumed back.
std::string HeadersJsonOf(Mock &mock, const std::string &topic,
                          const std::vector<std::pair<std::string, const std::string *>> &headers) {
    mock.CreateTopic(topic, 1);
    rd_kafka_headers_t *h = nullptr;
    if (!headers.empty()) {
        h = rd_kafka_headers_new(headers.size());
        for (const auto &[name, value] : headers)
            rd_kafka_header_add(h, name.data(), static_cast<ssize_t>(name.size()),
                                value ? value->data() : nullptr, value ? static_cast<ssize_t>(value->size()) : 0);
    }
    rd_kafka_resp_err_t err =
        h ? rd_kafka_producev(mock.producer->handle(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_VALUE(const_cast<char *>("v"), 1), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END)
          : rd_kafka_producev(mock.producer->handle(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_VALUE(const_cast<char *>("v"), 1), RD_KAFKA_V_END);
    if (err) {
        if (h) rd_kafka_headers_destroy(h);
        throw std::runtime_error(std::string("producev: ") + rd_kafka_err2str(err));
    }
    if (!mock.producer->FlushAll(5000)) throw std::runtime_error("not flushed");
    auto c = mock.Consumer(topic, 5000);
    c->Start({{0, 0, 1}});
    const rd_kafka_message_t *m = c->Next();
    if (!m) throw std::runtime_error("no message");
    std::string out = "stale";
    kafka_fdw::kafka::HeadersToJson(m, out);
    return out;
}

}  // namespace

TEST(mock_headers_to_json) {
    Mock mock;
    CHECK_EQ(HeadersJsonOf(mock, "h0", {}), "{}");

    const std::string text = "caf\xC3\xA9 \"q\" \\", empty, binary("\x00\x01\xff", 3), nul("a\0b", 3),
                      utf8_with_escape = "\\x41";
    std::string json = HeadersJsonOf(mock, "h1",
                                     {{"text", &text},
                                      {"null", nullptr},
                                      {"empty", &empty},
                                      {"binary", &binary},
                                      {"nul", &nul},
                                      {"text", &utf8_with_escape},
                                      {"we\"ird\n", &empty}});
    CHECK_EQ(json, "{\"text\": \"caf\xC3\xA9 \\\"q\\\" \\\\\", \"null\": null, \"empty\": \"\", "
                   "\"binary\": \"\\\\x0001ff\", \"nul\": \"\\\\x610062\", "
                   "\"text\": \"\\\\x41\", \"we\\\"ird\\n\": \"\"}");
    // valid JSON, valid UTF-8; a repeated name: the last one wins when read
    CHECK(kafka_fdw::format::IsValidUtf8(json.data(), json.size()));
    kafka_fdw::format::JsonObjectReader r({"text", "null", "binary", "we\"ird\n"});
    REQUIRE(r.Parse(json.data(), json.size()));
    CHECK(r.Found(0) && r.Found(1) && r.Found(2) && r.Found(3));
    CHECK_EQ(std::string(r.Value(0).data, r.Value(0).len), "\\x41");
    CHECK(r.Value(1).type == kafka_fdw::format::JsonType::Null);
    CHECK_EQ(std::string(r.Value(2).data, r.Value(2).len), "\\x0001ff");
}

// BUG (minor): HeadersToJson (src/kafka/consumer.cpp) checks header *values*
// for UTF-8 but copies header *names* as they are.  Kafka header keys are
// arbitrary bytes on the wire; a key such as "\xff\xfe" goes raw into the
// JSON text, which the scan (src/fdw/scan_decode.cpp, ColumnRole::Headers) hands to
// the column's input function without any encoding check: invalid UTF-8
// ends up in a json/jsonb/text value.  Fix: hex-encode (or replace) a name
// that is not valid UTF-8, as is done for values.
TEST(mock_bug_headers_to_json_invalid_utf8_name) {
    Mock mock;
    const std::string v = "v";
    std::string json = HeadersJsonOf(mock, "h2", {{"\xff\xfe", &v}});
    CHECK(kafka_fdw::format::IsValidUtf8(json.data(), json.size()));
}

// ---- CDC ack ledger (CommitQueue) ---------------------------------------------

namespace {
void ProduceN(Producer &p, uint32_t ledger, const char *topic, int n) {
    for (int i = 0; i < n; i++) {
        std::string v = "v" + std::to_string(i);
        OutMessage m;
        m.value = v.data();
        m.value_len = v.size();
        p.Produce(ledger, topic, m);
    }
}
}  // namespace

TEST(commit_queue_confirms_only_acknowledged_commits_in_order) {
    Mock mock;
    mock.CreateTopic("cdc", 3);
    Producer &p = *mock.producer;
    kafka_fdw::kafka::CommitQueue q(p);
    CHECK_EQ(q.ConfirmTarget(50), 50u);  // nothing pending: the read position
    uint32_t a = q.Open(100);
    ProduceN(p, a, "cdc", 3);
    q.Close(a);
    uint32_t b = q.Open(200);
    ProduceN(p, b, "cdc", 2);
    // A has unacknowledged messages (nothing was polled yet): its commit start.
    CHECK_EQ(q.ConfirmTarget(500), 100u);
    CHECK(p.FlushAll(5000));
    // A is done; B still open (its commit not decoded): B's commit start.
    CHECK_EQ(q.ConfirmTarget(500), 200u);
    CHECK_EQ(q.open_transactions(), 1u);
    q.Close(b);
    CHECK_EQ(q.ConfirmTarget(600), 600u);
    CHECK_EQ(q.open_transactions(), 0u);
    CHECK_EQ(p.open_ledgers(), 0u);
}

TEST(commit_queue_holds_while_the_broker_is_down_and_throws_on_failure) {
    Mock mock(Properties{{"message.timeout.ms", "1500"}});
    mock.CreateTopic("cdc", 1);
    Producer &p = *mock.producer;
    kafka_fdw::kafka::CommitQueue q(p);
    rd_kafka_mock_broker_set_down(mock.cluster, 1);
    uint32_t a = q.Open(100);
    ProduceN(p, a, "cdc", 2);
    q.Close(a);
    uint32_t b = q.Open(200);
    ProduceN(p, b, "cdc", 1);
    q.Close(b);
    CHECK_EQ(q.ConfirmTarget(900), 100u);
    CHECK_EQ(q.pending_messages(), 3u);
    // The messages time out (1.5 s here; the CDC worker never times out):
    // the head transaction failed, so ConfirmTarget throws and never
    // confirms past it.
    Stopwatch sw;
    while (q.pending_messages() > 0 && sw.Ms() < 10000) p.Poll(100);
    CHECK_THROWS(q.ConfirmTarget(900), Error);
    CHECK_EQ(q.open_transactions(), 2u);
}

// Group positions are committed without waiting; the result (and a failure)
// comes with TakeCommitResults, and the coordinator then has them.
TEST(mock_group_commit_async_then_results) {
    using kafka_fdw::kafka::Client;
    using kafka_fdw::kafka::CommitOffsetsAsync;
    using kafka_fdw::kafka::CommittedOffsets;
    using kafka_fdw::kafka::TakeCommitResults;
    Mock mock;
    mock.CreateTopic("gc", 2);
    Properties props = {{"bootstrap.servers", mock.bootstraps}, {"group.id", "g1"},
                        {"enable.auto.commit", "false"}};
    Client group(Client::Type::Consumer, MakeConfig(props));
    CommitOffsetsAsync(group, "gc", {{0, 5}, {1, 7}});
    CHECK(group.commits_in_flight() == 1);  // until its result is taken
    std::vector<std::string> failures = TakeCommitResults(group, 10000);
    CHECK(failures.empty());
    CHECK(group.commits_in_flight() == 0);
    std::vector<int64_t> got = CommittedOffsets(group, "gc", {0, 1}, 10000);
    CHECK(got.size() == 2 && got[0] == 5 && got[1] == 7);
    // A coordinator that refuses: the failure is reported, not thrown.
    rd_kafka_mock_push_request_errors(mock.cluster, 8 /* OffsetCommit */, 1,
                                      RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
    CommitOffsetsAsync(group, "gc", {{0, 9}});
    failures = TakeCommitResults(group, 10000);
    CHECK(failures.size() == 1);
    CHECK(group.commits_in_flight() == 0);
}
