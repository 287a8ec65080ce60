// The pgoutput protocol reader (src/format/pgoutput.hpp), on hand-built
// messages laid out as PostgreSQL 15's proto.c writes them.
#include "format/pgoutput.hpp"

#include "framework.hpp"

#include <cstdint>
#include <cstdio>
#include <new>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

namespace pgo = kafka_fdw::format::pgoutput;

namespace {

struct Msg {
    std::string b;
    Msg &U8(int v) { b.push_back(static_cast<char>(v)); return *this; }
    Msg &U16(uint32_t v) { return U8((v >> 8) & 0xff).U8(v & 0xff); }
    Msg &U32(uint32_t v) { return U16(v >> 16).U16(v & 0xffff); }
    Msg &U64(uint64_t v) { return U32(static_cast<uint32_t>(v >> 32)).U32(static_cast<uint32_t>(v)); }
    Msg &Str(const std::string &s) { b += s; b.push_back('\0'); return *this; }
    Msg &Text(const std::string &s) { U8('t').U32(static_cast<uint32_t>(s.size())); b += s; return *this; }
};

}  // namespace

TEST(pgoutput_begin_commit) {
    Msg m;
    m.U8('B').U64(0x16B374D848ull).U64(123456789).U32(731);
    pgo::Begin b = pgo::ParseBegin(m.b);
    CHECK_EQ(b.final_lsn, 0x16B374D848ull);
    CHECK_EQ(b.commit_time, 123456789);
    CHECK_EQ(b.xid, 731u);
    Msg c;
    c.U8('C').U8(0).U64(10).U64(20).U64(30);
    pgo::Commit cm = pgo::ParseCommit(c.b);
    CHECK_EQ(cm.commit_lsn, 10u);
    CHECK_EQ(cm.end_lsn, 20u);
    CHECK_EQ(cm.commit_time, 30);
    CHECK_EQ(pgo::LsnToString(0x16B374D848ull), std::string("16/B374D848"));
}

TEST(pgoutput_relation) {
    Msg m;
    m.U8('R').U32(16384).Str("").Str("orders").U8('d').U16(2);
    m.U8(1).Str("id").U32(23).U32(0xffffffff);
    m.U8(0).Str("note").U32(25).U32(0xffffffff);
    pgo::Relation r = pgo::ParseRelation(m.b);
    CHECK_EQ(r.relid, 16384u);
    CHECK_EQ(r.nspname, std::string("pg_catalog"));  // "" on the wire
    CHECK_EQ(r.relname, std::string("orders"));
    REQUIRE(r.attrs.size() == 2u);
    CHECK(r.attrs[0].key);
    CHECK(!r.attrs[1].key);
    CHECK_EQ(r.attrs[1].name, std::string("note"));
    CHECK_EQ(r.attrs[1].type_oid, 25u);
    CHECK_EQ(r.attrs[1].typmod, -1);
}

TEST(pgoutput_changes) {
    pgo::Change ch;
    Msg ins;
    ins.U8('I').U32(7).U8('N').U16(3).Text("42").U8('n').U8('u');
    pgo::ParseChange(ins.b, &ch);
    CHECK_EQ(ch.action, 'I');
    CHECK_EQ(ch.relid, 7u);
    CHECK_EQ(ch.old_kind, 0);
    REQUIRE(ch.new_tuple.size() == 3u);
    CHECK_EQ(std::string(ch.new_tuple[0].data), std::string("42"));
    CHECK_EQ(ch.new_tuple[1].kind, 'n');
    CHECK_EQ(ch.new_tuple[2].kind, 'u');

    Msg upd;  // key changed: old key, then the new row
    upd.U8('U').U32(7).U8('K').U16(1).Text("1").U8('N').U16(1).Text("2");
    pgo::ParseChange(upd.b, &ch);
    CHECK_EQ(ch.action, 'U');
    CHECK_EQ(ch.old_kind, 'K');
    CHECK_EQ(std::string(ch.old_tuple[0].data), std::string("1"));
    CHECK_EQ(std::string(ch.new_tuple[0].data), std::string("2"));

    Msg upd2;  // no old tuple
    upd2.U8('U').U32(7).U8('N').U16(1).Text("");
    pgo::ParseChange(upd2.b, &ch);
    CHECK_EQ(ch.old_kind, 0);
    CHECK_EQ(ch.new_tuple[0].data.size(), 0u);

    Msg del;
    del.U8('D').U32(7).U8('O').U16(2).Text("5").Text("x");
    pgo::ParseChange(del.b, &ch);
    CHECK_EQ(ch.action, 'D');
    CHECK_EQ(ch.old_kind, 'O');
    CHECK_EQ(ch.old_tuple.size(), 2u);
    CHECK(ch.new_tuple.empty());

    Msg trunc;
    trunc.U8('T').U32(2).U8(1).U32(7).U32(8);
    pgo::Truncate t = pgo::ParseTruncate(trunc.b);
    CHECK_EQ(t.flags, 1);
    REQUIRE(t.relids.size() == 2u);
    CHECK_EQ(t.relids[1], 8u);
}

// An UPDATE that keeps a key stored out of line: the key is in the old
// (identity) tuple, 'u' in the new one; the new value is the old one.  Other
// 'u' columns stay unchanged-TOAST when the old tuple does not have them.
TEST(pgoutput_unchanged_toast_key_from_old_tuple) {
    pgo::Change ch;
    Msg upd;
    upd.U8('U').U32(7).U8('K').U16(3).Text("long key").U8('n').U8('n');
    upd.U8('N').U16(3).U8('u').Text("v2").U8('u');
    pgo::ParseChange(upd.b, &ch);
    pgo::FillUnchangedFromOld(&ch);
    CHECK_EQ(ch.new_tuple[0].kind, 't');
    CHECK_EQ(std::string(ch.new_tuple[0].data), std::string("long key"));
    CHECK_EQ(std::string(ch.new_tuple[1].data), std::string("v2"));
    CHECK_EQ(ch.new_tuple[2].kind, 'u');  // not in the identity: unknown still

    Msg full;  // REPLICA IDENTITY FULL: every 'u' comes from the old row
    full.U8('U').U32(7).U8('O').U16(2).Text("k").Text("big");
    full.U8('N').U16(2).Text("k").U8('u');
    pgo::ParseChange(full.b, &ch);
    pgo::FillUnchangedFromOld(&ch);
    CHECK_EQ(std::string(ch.new_tuple[1].data), std::string("big"));

    Msg ins;  // inserts are left alone
    ins.U8('I').U32(7).U8('N').U16(1).U8('u');
    pgo::ParseChange(ins.b, &ch);
    pgo::FillUnchangedFromOld(&ch);
    CHECK_EQ(ch.new_tuple[0].kind, 'u');
}

TEST(pgoutput_malformed) {
    pgo::Change ch;
    Msg cut;
    cut.U8('I').U32(7).U8('N').U16(2).Text("1");  // says 2 columns, has 1
    CHECK_THROWS(pgo::ParseChange(cut.b, &ch), pgo::ProtocolError);
    Msg len;
    len.U8('I').U32(7).U8('N').U16(1).U8('t').U32(100);  // length past the end
    CHECK_THROWS(pgo::ParseChange(len.b, &ch), pgo::ProtocolError);
    Msg kind;
    kind.U8('I').U32(7).U8('N').U16(1).U8('?');
    CHECK_THROWS(pgo::ParseChange(kind.b, &ch), pgo::ProtocolError);
    Msg str;
    str.U8('R').U32(1).b += "no terminator";
    CHECK_THROWS(pgo::ParseRelation(str.b), pgo::ProtocolError);
    CHECK_THROWS(pgo::ParseBegin("B"), pgo::ProtocolError);
}

namespace {

#if defined(__SANITIZE_ADDRESS__)
#define KFDW_UNIT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KFDW_UNIT_ASAN 1
#endif
#endif

// While it lives, the process cannot map more than 1 GB beyond what it has,
// so an allocation of many GB fails (std::bad_alloc) whatever the machine's
// memory and overcommit policy.  Not under ASan, whose allocator needs its
// reservations: make unit-asan caps allocations with ASAN_OPTIONS
// (max_allocation_size_mb, allocator_may_return_null) instead.
class AddressSpaceLimit {
public:
    AddressSpaceLimit() {
#ifndef KFDW_UNIT_ASAN
        unsigned long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f) return;
        bool read = fscanf(f, "%lu", &pages) == 1;
        fclose(f);
        if (!read || getrlimit(RLIMIT_AS, &old_) != 0) return;
        struct rlimit lim = old_;
        lim.rlim_cur = pages * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (1ull << 30);
        set_ = setrlimit(RLIMIT_AS, &lim) == 0;
#endif
    }
    ~AddressSpaceLimit() {
        if (set_) setrlimit(RLIMIT_AS, &old_);
    }

private:
    struct rlimit old_ {};
    bool set_ = false;
};

}  // namespace

// Found by test/fuzz/fuzz_pgoutput: a Truncate message's relation count was
// trusted for reserve() before its relids were read, so 10 bytes claiming
// 0xffffffff relations asked for 16 GB (bad_alloc, or an OOM kill).  The
// message must be refused as truncated without that allocation.
TEST(pgoutput_truncate_count_past_the_end) {
    Msg trunc;
    trunc.U8('T').U32(0xffffffffu).U8(0).U32(7);
    AddressSpaceLimit limit;
    CHECK_THROWS(pgo::ParseTruncate(trunc.b), pgo::ProtocolError);
    Msg zero;  // no relation at all: nothing to read
    zero.U8('T').U32(0).U8(2);
    CHECK_EQ(pgo::ParseTruncate(zero.b).relids.size(), 0u);
}

TEST(pgoutput_times) {
    // 2000-01-01 00:00:00.000001 UTC
    CHECK_EQ(pgo::PgTimeToIso8601(1), std::string("2000-01-01T00:00:00.000001Z"));
    CHECK_EQ(pgo::PgTimeToUnixMs(0), 946684800000LL);
    CHECK_EQ(pgo::PgTimeToIso8601(-1), std::string("1999-12-31T23:59:59.999999Z"));
    // 2026-11-28 07:12:24.404414 UTC
    int64_t t = (1795849944LL - 946684800LL) * 1000000 + 404414;
    CHECK_EQ(pgo::PgTimeToIso8601(t), std::string("2026-11-28T07:12:24.404414Z"));
    CHECK_EQ(pgo::PgTimeToUnixMs(t), 1795849944404LL);
}

// Found by test/fuzz/fuzz_pgoutput: both conversions added the epoch shift in
// microseconds first, a signed overflow (UB; wrong results in practice) for
// times after ~294,247 AD (the epoch shift is 30 years), which PostgreSQL can
// store up to 294276 AD.
TEST(pgoutput_times_at_the_ends) {
    const int64_t last = 9223371331199999999LL;  // END_TIMESTAMP - 1: 294276-12-31 23:59:59.999999
    CHECK_EQ(pgo::PgTimeToIso8601(last), std::string("294276-12-31T23:59:59.999999Z"));
    CHECK_EQ(pgo::PgTimeToUnixMs(last), 9224318015999999LL);
    CHECK_EQ(pgo::PgTimeToUnixMs(INT64_MAX), INT64_MAX / 1000 + 946684800000LL);
    CHECK_EQ(pgo::PgTimeToUnixMs(INT64_MIN), INT64_MIN / 1000 - 1 + 946684800000LL);
    CHECK_EQ(pgo::PgTimeToUnixMs(-1), 946684799999LL);  // floor, as before
    CHECK_EQ(pgo::PgTimeToUnixMs(-1000), 946684799999LL);
    CHECK_EQ(pgo::PgTimeToUnixMs(-1001), 946684799998LL);
    CHECK_EQ(pgo::PgTimeToIso8601(-946684800000001LL), std::string("1969-12-31T23:59:59.999999Z"));
    CHECK(!pgo::PgTimeToIso8601(INT64_MAX).empty());
    CHECK(!pgo::PgTimeToIso8601(INT64_MIN).empty());
}

TEST(pgoutput_logical_message) {
    Msg m;  // transactional, as LogLogicalMessage(..., true) is sent
    m.U8('M').U8(1).U64(0x1A2B3C4Dull).Str("kafka_fdw.outbox").U32(5);
    m.b += std::string("a\0b\xffz", 5);
    pgo::Message msg = pgo::ParseMessage(m.b);
    CHECK(msg.transactional);
    CHECK_EQ(msg.lsn, 0x1A2B3C4Dull);
    CHECK_EQ(std::string(msg.prefix), std::string("kafka_fdw.outbox"));
    CHECK_EQ(std::string(msg.content), std::string("a\0b\xffz", 5));
    CHECK_EQ(pgo::MessageType(m.b), 'M');

    Msg nt;  // non-transactional, empty content
    nt.U8('M').U8(0).U64(1).Str("other").U32(0);
    pgo::Message n = pgo::ParseMessage(nt.b);
    CHECK(!n.transactional);
    CHECK(n.content.empty());

    // truncated content, a prefix without its NUL, trailing bytes, another type
    Msg shortm;
    shortm.U8('M').U8(1).U64(1).Str("p").U32(10);
    shortm.b += "abc";
    CHECK_THROWS(pgo::ParseMessage(shortm.b), pgo::ProtocolError);
    Msg nonul;
    nonul.U8('M').U8(1).U64(1);
    nonul.b += "prefix";
    CHECK_THROWS(pgo::ParseMessage(nonul.b), pgo::ProtocolError);
    Msg extra = nt;
    extra.U8(0);
    CHECK_THROWS(pgo::ParseMessage(extra.b), pgo::ProtocolError);
    Msg begin;
    begin.U8('B').U64(0).U64(0).U32(0);
    CHECK_THROWS(pgo::ParseMessage(begin.b), pgo::ProtocolError);
}
