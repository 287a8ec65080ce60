// Encoding helpers shared by INSERT and the produce functions (Postgres zone).
#pragma once

#include "kafka/producer.hpp"

#include "pg/postgres.hpp"

#include <vector>

namespace kafka_fdw::fdw {

// One message to produce, as plain data pointing into palloc'd memory.
struct MessageData {
    int32 partition;       // RD_KAFKA_PARTITION_UA: chosen by the partitioner
    const char *key;       // nullptr: no key
    size_t key_len;
    const char *value;     // nullptr: a tombstone
    size_t value_len;
    int64 ts;              // milliseconds; 0: now
    int nheaders;
    const char **hnames;
    const char **hvalues;  // nullptr entries: null header value
    size_t *hlens;
};

// C++ zone: the core's view of a message (headers copied into `headers`).
kafka::OutMessage ToOutMessage(const MessageData &m, std::vector<kafka::Header> &headers);

// A jsonb object of headers: names, values (nullptr for JSON null; strings
// as is; other values as their JSON text).  ERROR if not an object.
void ParseHeaders(Jsonb *jb, const char *what, int *n, const char ***names, const char ***values, size_t **lens);

}  // namespace kafka_fdw::fdw
