// libFuzzer harness: the decoding of a message's headers into the headers
// column's JSON text (kafka::HeadersToJson, src/kafka/consumer.cpp).  Kafka
// header names and values are arbitrary bytes on the wire (a value may also
// be absent); the input is turned into such a list with librdkafka's own
// rd_kafka_headers_new/rd_kafka_header_add, as a consumed message carries it.
//
// Input: a sequence of headers, each
//   [1 byte name length] name  [1 byte: 0xff = no value, else value length] value
// (lengths cut to what is left).
//
// Invariants beyond "no crash, no sanitizer report": the text is valid UTF-8
// and a JSON object that the JSON decoder accepts, with one member per
// header in order (repeated names included).
#include "kafka/consumer.hpp"

#include "format/json.hpp"

#include "fuzz_check.hpp"

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = reinterpret_cast<const char *>(data);
    size_t pos = 0;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    size_t count = 0;
    auto take = [&](size_t want) {
        size_t n = want < size - pos ? want : size - pos;
        const char *p = s + pos;
        pos += n;
        return std::string(p, n);
    };
    while (pos < size) {
        size_t name_len = static_cast<unsigned char>(s[pos++]);
        std::string name = take(name_len);
        bool null = true;
        std::string value;
        if (pos < size) {
            unsigned char v = static_cast<unsigned char>(s[pos++]);
            if (v != 0xff) {
                null = false;
                value = take(v);
            }
        }
        rd_kafka_header_add(h, name.data(), static_cast<ssize_t>(name.size()), null ? nullptr : value.data(),
                            null ? 0 : static_cast<ssize_t>(value.size()));
        count++;
    }
    static std::string out;
    kafka_fdw::kafka::HeadersToJson(count ? h : nullptr, out);
    rd_kafka_headers_destroy(h);

    FUZZ_CHECK(kafka_fdw::format::IsValidUtf8(out.data(), out.size()));
    FUZZ_CHECK(out.front() == '{' && out.back() == '}');
    static kafka_fdw::format::JsonObjectReader reader({});
    FUZZ_CHECK(reader.Parse(out.data(), out.size()));
    // One member per header, in order: names and values are JSON strings
    // (or null), so the ':' outside strings separate the members.
    size_t members = 0;
    bool in_str = false;
    for (size_t i = 1; i + 1 < out.size(); i++) {
        char c = out[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == ':') {
            members++;
        }
    }
    FUZZ_CHECK(members == count);
    return 0;
}
