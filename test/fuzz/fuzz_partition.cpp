// libFuzzer harness: the partitioning paths that take input.  A row's key
// decides its partition through librdkafka's partitioner, chosen by name
// per table (option `partitioner`) on the producer's topic handles
// (kafka::Producer::Topic, src/kafka/producer.cpp); kafka_fdw promises the
// Java producer's placement for murmur2 (README: Java-compatible
// partitioning).  This harness drives Producer::Topic with partitioner
// names (valid ones, and arbitrary bytes that must be refused with
// Error(InvalidConfig)) and runs the partitioner of that name on the key.
//
// Input: [0..1] partition count - 1 (big-endian, so 1..65536), [2] topic
// (mod 4), [3] partitioner (mod 8; 7 = the next up to 16 bytes as the name),
// then the key (a key of 0 bytes when the input ends; none when [2] & 0x80).
//
// Invariants beyond "no crash, no sanitizer report": partitions are in
// [0, count); murmur2 and murmur2_random with a key equal Kafka's Java
// Utils.murmur2 placement, toPositive(murmur2(key)) % count; names that are
// not partitioners are refused.
#include "kafka/config.hpp"
#include "kafka/errors.hpp"
#include "kafka/producer.hpp"

#include "fuzz_check.hpp"

#include <librdkafka/rdkafka.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

using namespace kafka_fdw::kafka;

namespace {

// org.apache.kafka.common.utils.Utils.murmur2, in unsigned arithmetic.
uint32_t JavaMurmur2(const unsigned char *data, size_t length) {
    const uint32_t seed = 0x9747b28c, m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = seed ^ static_cast<uint32_t>(length);
    size_t length4 = length / 4;
    for (size_t i = 0; i < length4; i++) {
        size_t i4 = i * 4;
        uint32_t k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (static_cast<uint32_t>(data[i4 + 3]) << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    size_t tail = length & ~static_cast<size_t>(3);
    switch (length % 4) {
    case 3: h ^= static_cast<uint32_t>(data[tail + 2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<uint32_t>(data[tail + 1]) << 8; [[fallthrough]];
    case 1:
        h ^= data[tail];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

using PartitionerFn = int32_t (*)(const rd_kafka_topic_t *, const void *, size_t, int32_t, void *, void *);

struct Named {
    const char *name;
    PartitionerFn fn;
};
const Named kPartitioners[] = {
    {"murmur2_random", rd_kafka_msg_partitioner_murmur2_random},
    {"murmur2", rd_kafka_msg_partitioner_murmur2},
    {"consistent_random", rd_kafka_msg_partitioner_consistent_random},
    {"consistent", rd_kafka_msg_partitioner_consistent},
    {"fnv1a_random", rd_kafka_msg_partitioner_fnv1a_random},
    {"fnv1a", rd_kafka_msg_partitioner_fnv1a},
    {"random", rd_kafka_msg_partitioner_random},
};

Producer &TheProducer() {
    // No bootstrap.servers: the client never connects.
    static std::unique_ptr<Producer> p = [] {
        Config c;
        c.Set("log_level", "0");
        return std::make_unique<Producer>(std::move(c), "murmur2_random", 1000);
    }();
    return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    int32_t count = ((data[0] << 8) | data[1]) + 1;
    std::string topic = "t" + std::to_string(data[2] & 3);
    bool no_key = data[2] & 0x80;
    size_t which = data[3] % 8;
    const unsigned char *key = data + 4;
    size_t key_len = size - 4;

    std::string name;
    PartitionerFn fn = nullptr;
    if (which < 7) {
        name = kPartitioners[which].name;
        fn = kPartitioners[which].fn;
    } else {
        size_t n = key_len < 16 ? key_len : 16;
        name.assign(reinterpret_cast<const char *>(key), n);
        key += n;
        key_len -= n;
        name.resize(strlen(name.c_str()));  // an option value has no NUL
        // librdkafka skips white space before a value (the table option
        // `partitioner` itself only takes the exact names)
        size_t b = 0;
        while (b < name.size() && isspace(static_cast<unsigned char>(name[b]))) b++;
        for (const Named &p : kPartitioners)
            if (name.compare(b, std::string::npos, p.name) == 0) fn = p.fn;
    }
    bool valid = fn != nullptr;
    FUZZ_CHECK(Config::Check("partitioner", name).empty() == valid);

    rd_kafka_topic_t *rkt = nullptr;
    try {
        rkt = TheProducer().Topic(topic, name.c_str());
    } catch (const Error &e) {
        FUZZ_CHECK(e.kind == ErrorKind::InvalidConfig);
    }
    if (!valid) {
        FUZZ_CHECK(rkt == nullptr);
        return 0;
    }
    if (!rkt) return 0;  // the topic is already written with another partitioner

    const void *k = no_key ? nullptr : key;
    size_t klen = no_key ? 0 : key_len;
    int32_t p = fn(rkt, k, klen, count, nullptr, nullptr);
    FUZZ_CHECK(p >= 0 && p < count);
    if (k && (fn == rd_kafka_msg_partitioner_murmur2 || fn == rd_kafka_msg_partitioner_murmur2_random))
        FUZZ_CHECK(static_cast<uint32_t>(p) == (JavaMurmur2(key, key_len) & 0x7fffffff) % static_cast<uint32_t>(count));
    return 0;
}
