// libFuzzer harness: the pgoutput message parser (src/format/pgoutput.cpp)
// on arbitrary messages, dispatched on the first byte as the CDC worker does,
// followed by what the worker does with the parsed values (the commit time
// as ISO 8601 and Unix milliseconds, LSNs as text).  Every message is also
// given to ParseChange, whatever its type byte.
//
// Malformed input must end in ProtocolError, never in a crash, a sanitizer
// report or another exception; tuple data must lie inside the message.
#include "format/pgoutput.hpp"

#include "fuzz_check.hpp"

#include <cstdint>
#include <string_view>

namespace pgo = kafka_fdw::format::pgoutput;

namespace {

void CheckTuple(const pgo::Tuple &t, std::string_view msg) {
    for (const pgo::Column &c : t) {
        FUZZ_CHECK(c.kind == 'n' || c.kind == 'u' || c.kind == 't' || c.kind == 'b');
        if (c.kind == 't' || c.kind == 'b')
            FUZZ_CHECK(c.data.data() >= msg.data() && c.data.data() + c.data.size() <= msg.data() + msg.size());
        else
            FUZZ_CHECK(c.data.empty());
    }
}

void Times(int64_t pg_us) {
    std::string iso = pgo::PgTimeToIso8601(pg_us);
    FUZZ_CHECK(!iso.empty());
    (void)pgo::PgTimeToUnixMs(pg_us);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view msg(reinterpret_cast<const char *>(data), size);
    static pgo::Change change;  // reused, as in the worker
    try {
        switch (pgo::MessageType(msg)) {
        case 'B': {
            pgo::Begin b = pgo::ParseBegin(msg);
            (void)pgo::LsnToString(b.final_lsn);
            Times(b.commit_time);
            break;
        }
        case 'C': {
            pgo::Commit c = pgo::ParseCommit(msg);
            (void)pgo::LsnToString(c.commit_lsn);
            (void)pgo::LsnToString(c.end_lsn);
            Times(c.commit_time);
            break;
        }
        case 'R': {
            pgo::Relation r = pgo::ParseRelation(msg);
            FUZZ_CHECK(!r.nspname.empty());
            break;
        }
        case 'T': {
            pgo::Truncate t = pgo::ParseTruncate(msg);
            (void)t;
            break;
        }
        default:
            break;
        }
    } catch (const pgo::ProtocolError &) {
    }
    try {
        pgo::ParseChange(msg, &change);
        FUZZ_CHECK(change.action == 'I' || change.action == 'U' || change.action == 'D');
        CheckTuple(change.old_tuple, msg);
        CheckTuple(change.new_tuple, msg);
        if (change.action == 'D') FUZZ_CHECK(change.new_tuple.empty() && change.old_kind != 0);
        if (change.action == 'I') FUZZ_CHECK(change.old_kind == 0);
    } catch (const pgo::ProtocolError &) {
    }
    return 0;
}
