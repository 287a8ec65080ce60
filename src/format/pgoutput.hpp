// Reader of PostgreSQL's logical replication protocol (pgoutput, version 1),
// the messages the built-in `pgoutput` plugin writes for each decoded change.
// The CDC worker drives pgoutput in-process, so publication semantics (which
// tables, actions, row filters, column lists, publish_via_partition_root) are
// exactly those of Postgres' own logical replication; this file only turns
// the bytes into structs.  Pure C++: no server headers; the views point into
// the caller's buffer, which must outlive the parsed message.
#pragma once
#include "cpp_only.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kafka_fdw::format::pgoutput {

class ProtocolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Column {
    char kind = 'n';         // 'n' null, 'u' unchanged TOAST (not in the WAL), 't' text, 'b' binary
    std::string_view data;   // for 't' and 'b'
};
using Tuple = std::vector<Column>;

struct Attribute {
    bool key = false;        // part of the replica identity (all columns with FULL)
    std::string name;
    uint32_t type_oid = 0;
    int32_t typmod = -1;
};

struct Begin {
    uint64_t final_lsn = 0;  // start of the commit record
    int64_t commit_time = 0; // microseconds since 2000-01-01 UTC
    uint32_t xid = 0;
};

struct Commit {
    uint64_t commit_lsn = 0;
    uint64_t end_lsn = 0;
    int64_t commit_time = 0;
};

struct Relation {
    uint32_t relid = 0;
    std::string nspname;     // "pg_catalog" when the protocol sent ""
    std::string relname;
    char replident = 'd';    // d default, n nothing, f full, i index
    std::vector<Attribute> attrs;
};

struct Change {
    char action = 0;         // 'I', 'U', 'D'
    uint32_t relid = 0;
    char old_kind = 0;       // 0: no old tuple, 'K' key columns only, 'O' whole old row
    Tuple old_tuple;
    Tuple new_tuple;         // empty for 'D'
};

// A logical message (pg_logical_emit_message, LogLogicalMessage), sent only
// with the decoding option messages = 'true'.  Transactional messages come
// between their transaction's Begin and Commit, in WAL order with its
// changes; others as they are decoded, outside any transaction.
struct Message {
    bool transactional = false;
    uint64_t lsn = 0;              // the message's own record
    std::string_view prefix;
    std::string_view content;
};

struct Truncate {
    uint8_t flags = 0;       // 1 cascade, 2 restart identity
    std::vector<uint32_t> relids;
};

// Message type, the first byte: 'B', 'C', 'R', 'Y', 'I', 'U', 'D', 'T', 'O'
// (origin), 'M' (logical message).  The Parse* functions take the whole
// message including that byte and throw ProtocolError on malformed input.
inline char MessageType(std::string_view msg) { return msg.empty() ? '\0' : msg[0]; }

Begin ParseBegin(std::string_view msg);
Commit ParseCommit(std::string_view msg);
Relation ParseRelation(std::string_view msg);
// Reuses `out`'s vectors (hot path).
void ParseChange(std::string_view msg, Change *out);

// An UPDATE's new tuple marks TOASTed values it did not change 'u' (the WAL
// does not carry them).  Where the old tuple has such a column ('O': the
// whole row; 'K': the replica identity, which PostgreSQL logs whenever it
// has out-of-line values), the new value is that old one.  Without this a
// key stored out of line became null in the event's key.
void FillUnchangedFromOld(Change *ch);
Truncate ParseTruncate(std::string_view msg);
// Views into `msg`.
Message ParseMessage(std::string_view msg);

// Microseconds since 2000-01-01 UTC -> milliseconds since the Unix epoch.
int64_t PgTimeToUnixMs(int64_t pg_us);
// Microseconds since 2000-01-01 UTC -> "YYYY-MM-DDTHH:MM:SS.ffffffZ".
std::string PgTimeToIso8601(int64_t pg_us);
// An LSN as Postgres prints it: "16/B374D848".
std::string LsnToString(uint64_t lsn);

}  // namespace kafka_fdw::format::pgoutput
