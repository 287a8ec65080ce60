// The payload of an outbox message (kafka.produce_on_commit): what the
// function writes as a transactional logical message and the pipeline's
// worker reads back.  Pure C++: the authenticity tag (an HMAC computed by
// the glue, src/cdc/outbox.cpp) is carried, not computed, here.
//
// Layout, version 1 (big-endian lengths):
//   u8  version (1)
//   u16 length + pipeline name
//   u16 length + topic
//   u8  has key,   [u32 length + key]
//   u8  has value, [u32 length + value]      (no value: a tombstone)
//   u16 header count, each: u16 length + name, u8 has value, [u32 length + value]
//   32 bytes: the tag, over everything before it (see cdc/outbox.cpp for
//            what else it covers)
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kafka_fdw::format::outbox {

// The logical message prefix kafka.produce_on_commit writes under.
constexpr const char *kPrefix = "kafka_fdw.outbox";
constexpr uint8_t kVersion = 1;
constexpr size_t kTagLen = 32;  // HMAC-SHA-256

struct Header {
    std::string_view name;
    bool has_value = false;  // false: a header without a value (JSON null)
    std::string_view value;
};

struct Payload {
    std::string_view pipeline;
    std::string_view topic;
    bool has_key = false;
    std::string_view key;
    bool has_value = false;  // false: a tombstone
    std::string_view value;
    std::vector<Header> headers;
    std::string_view tag;     // kTagLen bytes
    std::string_view signed_part;  // everything before the tag
};

// Appends the payload without its tag to *out (the caller appends the tag
// computed over *out).  Throws std::length_error when a part is too long
// for its length field.
void Encode(const Payload &p, std::string *out);

// Views into `content`.  False when it is not a version-1 payload (wrong
// version, truncated, trailing bytes).
bool Decode(std::string_view content, Payload *out);

}  // namespace kafka_fdw::format::outbox
