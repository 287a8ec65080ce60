// Reader of pgoutput protocol version 1 (see pgoutput.hpp).  Layout, as
// PostgreSQL 15's replication/logical/proto.c writes it: big-endian integers,
// NUL-terminated strings, no transaction id in the messages when streaming is
// off (it is, for the CDC worker).
#include "format/pgoutput.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace kafka_fdw::format::pgoutput {
namespace {

class Reader {
public:
    explicit Reader(std::string_view msg) : p_(msg.data()), end_(msg.data() + msg.size()) {}

    void Need(size_t n) const {
        if (static_cast<size_t>(end_ - p_) < n) throw ProtocolError("pgoutput message truncated");
    }
    uint8_t U8() {
        Need(1);
        return static_cast<uint8_t>(*p_++);
    }
    uint16_t U16() { return static_cast<uint16_t>(Uint(2)); }
    uint32_t U32() { return static_cast<uint32_t>(Uint(4)); }
    uint64_t U64() { return Uint(8); }
    std::string_view Str() {
        const char *s = p_;
        while (p_ < end_ && *p_ != '\0') ++p_;
        if (p_ == end_) throw ProtocolError("pgoutput string not terminated");
        std::string_view v(s, static_cast<size_t>(p_ - s));
        ++p_;
        return v;
    }
    std::string_view Bytes(size_t n) {
        Need(n);
        std::string_view v(p_, n);
        p_ += n;
        return v;
    }
    bool AtEnd() const { return p_ == end_; }
    size_t Remaining() const { return static_cast<size_t>(end_ - p_); }

private:
    uint64_t Uint(int n) {
        Need(static_cast<size_t>(n));
        uint64_t v = 0;
        for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(*p_++);
        return v;
    }
    const char *p_;
    const char *end_;
};

void Expect(Reader &r, char type) {
    if (static_cast<char>(r.U8()) != type)
        throw ProtocolError(std::string("expected pgoutput message '") + type + "'");
}

// Counts come from the message: room is made for what the message can hold
// at most (a column takes at least 1 byte, an attribute 10), so a malformed
// count claiming 65,535 entries does not allocate megabytes before the
// message is found truncated.
void ReadTuple(Reader &r, Tuple *out) {
    uint16_t n = r.U16();
    out->clear();  // keeps its capacity: the worker reuses its Change
    out->reserve(std::min<size_t>(n, r.Remaining()));
    for (uint16_t i = 0; i < n; ++i) {
        Column &c = out->emplace_back();
        c.kind = static_cast<char>(r.U8());
        c.data = {};
        switch (c.kind) {
        case 'n':
        case 'u':
            break;
        case 't':
        case 'b':
            c.data = r.Bytes(r.U32());
            break;
        default:
            throw ProtocolError(std::string("unknown pgoutput column kind '") + c.kind + "'");
        }
    }
}

}  // namespace

Begin ParseBegin(std::string_view msg) {
    Reader r(msg);
    Expect(r, 'B');
    Begin b;
    b.final_lsn = r.U64();
    b.commit_time = static_cast<int64_t>(r.U64());
    b.xid = r.U32();
    return b;
}

Commit ParseCommit(std::string_view msg) {
    Reader r(msg);
    Expect(r, 'C');
    r.U8();  // flags, unused
    Commit c;
    c.commit_lsn = r.U64();
    c.end_lsn = r.U64();
    c.commit_time = static_cast<int64_t>(r.U64());
    return c;
}

Relation ParseRelation(std::string_view msg) {
    Reader r(msg);
    Expect(r, 'R');
    Relation rel;
    rel.relid = r.U32();
    rel.nspname = std::string(r.Str());
    if (rel.nspname.empty()) rel.nspname = "pg_catalog";
    rel.relname = std::string(r.Str());
    rel.replident = static_cast<char>(r.U8());
    uint16_t n = r.U16();
    rel.attrs.reserve(std::min<size_t>(n, r.Remaining() / 10));
    for (uint16_t i = 0; i < n; ++i) {
        Attribute &a = rel.attrs.emplace_back();
        a.key = (r.U8() & 1) != 0;
        a.name = std::string(r.Str());
        a.type_oid = r.U32();
        a.typmod = static_cast<int32_t>(r.U32());
    }
    return rel;
}

void ParseChange(std::string_view msg, Change *out) {
    Reader r(msg);
    out->action = static_cast<char>(r.U8());
    out->old_kind = 0;
    out->old_tuple.clear();
    out->new_tuple.clear();
    if (out->action != 'I' && out->action != 'U' && out->action != 'D')
        throw ProtocolError("not a pgoutput change message");
    out->relid = r.U32();
    char marker = static_cast<char>(r.U8());
    if (out->action != 'I' && (marker == 'K' || marker == 'O')) {
        out->old_kind = marker;
        ReadTuple(r, &out->old_tuple);
        if (out->action == 'D') return;
        marker = static_cast<char>(r.U8());
    }
    if (out->action == 'D') throw ProtocolError("pgoutput delete without an old tuple");
    if (marker != 'N') throw ProtocolError("pgoutput change without a new tuple");
    ReadTuple(r, &out->new_tuple);
}

void FillUnchangedFromOld(Change *ch) {
    if (ch->action != 'U' || !ch->old_kind) return;
    size_t n = std::min(ch->new_tuple.size(), ch->old_tuple.size());
    for (size_t i = 0; i < n; i++) {
        Column &c = ch->new_tuple[i];
        const Column &o = ch->old_tuple[i];
        if (c.kind == 'u' && (o.kind == 't' || o.kind == 'b')) c = o;
    }
}

Truncate ParseTruncate(std::string_view msg) {
    Reader r(msg);
    Expect(r, 'T');
    Truncate t;
    uint32_t n = r.U32();
    t.flags = r.U8();
    // The count comes from the message: check that its relids are there
    // before reserving room for them (up to 16 GB for a malformed one).
    r.Need(static_cast<size_t>(n) * 4);
    t.relids.reserve(n);
    for (uint32_t i = 0; i < n; ++i) t.relids.push_back(r.U32());
    return t;
}

Message ParseMessage(std::string_view msg) {
    Reader r(msg);
    Expect(r, 'M');
    // (no transaction id: the worker does not stream in-progress transactions)
    Message m;
    m.transactional = (r.U8() & 1) != 0;
    m.lsn = r.U64();
    m.prefix = r.Str();
    m.content = r.Bytes(r.U32());
    if (!r.AtEnd()) throw ProtocolError("pgoutput message longer than its content");
    return m;
}

// 2000-01-01 00:00:00 UTC in Unix seconds.
constexpr int64_t kPgEpochUnixSec = 946684800;

// Divides before shifting the epoch: pg_us + the epoch in microseconds
// overflows int64 for the last ~30 years PostgreSQL can store, after
// ~294,247 AD (found by test/fuzz/fuzz_pgoutput).

int64_t PgTimeToUnixMs(int64_t pg_us) {
    // floor division, so times before 1970 round down like Kafka expects
    int64_t ms = pg_us / 1000;
    if (pg_us % 1000 < 0) ms--;
    return ms + kPgEpochUnixSec * 1000;
}

std::string PgTimeToIso8601(int64_t pg_us) {
    int64_t sec = pg_us / 1000000;
    int64_t frac = pg_us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        sec -= 1;
    }
    time_t t = static_cast<time_t>(sec + kPgEpochUnixSec);
    struct tm tm {};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return buf;
}

std::string LsnToString(uint64_t lsn) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                  static_cast<unsigned>(lsn & 0xffffffffu));
    return buf;
}

}  // namespace kafka_fdw::format::pgoutput
