// Exactly-once delivery of a CDC pipeline: the position recorded in its
// progress topic, in the same Kafka transaction as the events it covers.
// Pure C++ (unit-tested in test/unit/test_eos.cpp).
//
// A position names the source transaction (by the LSN of its commit record,
// pgoutput's final_lsn) up to which the events are in committed Kafka
// transactions: every source transaction committed before it entirely, and
// of that transaction itself all of it (complete) or its first `changes`
// items (a transaction split across several Kafka transactions).  Items are
// counted as decoded, whatever the pipeline's options make of them: item 0
// is the transaction's BEGIN, then one per pgoutput change message (insert,
// update, delete, truncate, logical message); a split happens only between
// items.  Decoding is deterministic: after a restart the same source
// transactions are decoded again in the same order with the same items, so
// skipping what the position covers sends each item's events once, also
// when the pipeline's format or options changed in between.
//
// A record carries an HMAC-SHA-256 (key: a secret of the database that only
// the extension reads) over the transactional id, the lsn and the count: a
// record that anyone else wrote to the progress topic does not verify and
// is ignored.
#pragma once
#include "cpp_only.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace kafka_fdw::kafka {

struct EosPosition {
    bool valid = false;     // false: nothing recorded (a new pipeline)
    uint64_t lsn = 0;       // the source transaction's commit LSN
    uint64_t changes = 0;   // when !complete: its first `changes` items are committed
    bool complete = true;
};

constexpr uint64_t kSkipAll = UINT64_MAX;

// How many items of the source transaction committed at `final_lsn` are
// already in Kafka (kSkipAll: all of them).
inline uint64_t ItemsToSkip(const EosPosition &p, uint64_t final_lsn) {
    if (!p.valid || final_lsn > p.lsn) return 0;
    if (final_lsn < p.lsn || p.complete) return kSkipAll;
    return p.changes;
}

// Whether position a covers at least what b covers (a is not behind b).
inline bool Covers(const EosPosition &a, const EosPosition &b) {
    if (!b.valid) return true;
    if (!a.valid) return false;
    if (a.lsn != b.lsn) return a.lsn > b.lsn;
    if (a.complete != b.complete) return a.complete;
    return a.complete || a.changes >= b.changes;
}

// The progress record's value: {"changes":null|n,"committed_at_ms":n,
// "lsn":"0/16B3748","mac":"<hex>","transactional_id":"..."}; changes null:
// complete.
std::string EosPositionJson(const EosPosition &p, const std::string &transactional_id, int64_t at_ms,
                            const std::string &key);
enum class ParsedPosition { Ok, NotOne, BadMac };
// Parses and verifies a record value of `transactional_id`; *out is set
// only on Ok.  NotOne: not such a record (or another id's); BadMac: the
// shape of one, but not written with `key`.
ParsedPosition ParseEosPosition(std::string_view json, const std::string &transactional_id, const std::string &key,
                                EosPosition *out);
// HMAC-SHA-256 of data under key, as 64 lowercase hex digits.
std::string HmacSha256Hex(const std::string &key, const std::string &data);

// "X/Y" as PostgreSQL prints an LSN; false when malformed.
bool ParseLsn(std::string_view text, uint64_t *lsn);

}  // namespace kafka_fdw::kafka
