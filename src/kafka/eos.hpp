// Exactly-once delivery of a CDC pipeline: the position recorded in its
// progress topic, in the same Kafka transaction as the events it covers.
// Pure C++ (unit-tested in test/unit/test_eos.cpp).
//
// A position names the source transaction (by the LSN of its commit record,
// pgoutput's final_lsn) up to which the events are in committed Kafka
// transactions: every source transaction committed before it entirely, and
// of that transaction itself all events (complete) or the first `events`
// (a transaction split across several Kafka transactions).  Decoding is
// deterministic: after a restart the same source transactions are decoded
// again in the same order with the same events, so skipping what the
// position covers sends each event once.
#pragma once
#include "cpp_only.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace kafka_fdw::kafka {

struct EosPosition {
    bool valid = false;     // false: nothing recorded (a new pipeline)
    uint64_t lsn = 0;       // the source transaction's commit LSN
    uint64_t events = 0;    // when !complete: its first `events` are committed
    bool complete = true;
};

constexpr uint64_t kSkipAll = UINT64_MAX;

// How many events of the source transaction committed at `final_lsn` are
// already in Kafka (kSkipAll: all of them).
inline uint64_t EventsToSkip(const EosPosition &p, uint64_t final_lsn) {
    if (!p.valid || final_lsn > p.lsn) return 0;
    if (final_lsn < p.lsn || p.complete) return kSkipAll;
    return p.events;
}

// Whether position a covers at least what b covers (a is not behind b).
inline bool Covers(const EosPosition &a, const EosPosition &b) {
    if (!b.valid) return true;
    if (!a.valid) return false;
    if (a.lsn != b.lsn) return a.lsn > b.lsn;
    if (a.complete != b.complete) return a.complete;
    return a.complete || a.events >= b.events;
}

// The progress record's value: {"lsn":"0/16B3748","events":null|n,
// "transactional_id":"...","committed_at_ms":n}; events null: complete.
std::string EosPositionJson(const EosPosition &p, const std::string &transactional_id, int64_t at_ms);
// Parses a record value; false (and *out untouched) when it is not one.
bool ParseEosPosition(std::string_view json, EosPosition *out);

// "X/Y" as PostgreSQL prints an LSN; false when malformed.
bool ParseLsn(std::string_view text, uint64_t *lsn);

}  // namespace kafka_fdw::kafka
