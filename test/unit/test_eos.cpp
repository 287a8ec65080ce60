// The exactly-once position record and the skip rule (src/kafka/eos.hpp).
#include "kafka/eos.hpp"

#include "framework.hpp"

namespace k = kafka_fdw::kafka;

TEST(eos_position_round_trips) {
    k::EosPosition p;
    p.valid = true;
    p.lsn = (uint64_t)0x1A << 32 | 0x16B3748;
    p.complete = true;
    std::string j = k::EosPositionJson(p, "kafka_fdw-1-kafka_fdw_5_orders", 1700000000000);
    CHECK(j.find("\"lsn\":\"1A/16B3748\"") != std::string::npos);
    CHECK(j.find("\"events\":null") != std::string::npos);
    k::EosPosition q;
    CHECK(k::ParseEosPosition(j, &q));
    CHECK(q.valid && q.complete && q.lsn == p.lsn);
    p.complete = false;
    p.events = 12345;
    CHECK(k::ParseEosPosition(k::EosPositionJson(p, "x", 0), &q));
    CHECK(!q.complete && q.events == 12345 && q.lsn == p.lsn);
}

TEST(eos_position_rejects_what_it_did_not_write) {
    k::EosPosition q;
    q.lsn = 7;
    CHECK(!k::ParseEosPosition("", &q));
    CHECK(!k::ParseEosPosition("[]", &q));
    CHECK(!k::ParseEosPosition("{\"lsn\":\"0/1\"}", &q));            // no events member
    CHECK(!k::ParseEosPosition("{\"lsn\":\"01\",\"events\":null}", &q));  // no slash
    CHECK(!k::ParseEosPosition("{\"lsn\":\"0/1\",\"events\":-1}", &q));
    CHECK(!k::ParseEosPosition("{\"lsn\":\"0/1G\",\"events\":null}", &q));
    CHECK(!k::ParseEosPosition("{\"lsn\":\"123456789/1\",\"events\":null}", &q));
    CHECK_EQ(q.lsn, (uint64_t)7);  // untouched
    uint64_t l = 0;
    CHECK(k::ParseLsn("FFFFFFFF/FFFFFFFF", &l) && l == UINT64_MAX);
    CHECK(k::ParseLsn("0/0", &l) && l == 0);
}

TEST(eos_skip_rule) {
    k::EosPosition none;
    CHECK_EQ(k::EventsToSkip(none, 100), (uint64_t)0);
    k::EosPosition done;
    done.valid = true;
    done.lsn = 100;
    done.complete = true;
    CHECK_EQ(k::EventsToSkip(done, 99), k::kSkipAll);
    CHECK_EQ(k::EventsToSkip(done, 100), k::kSkipAll);
    CHECK_EQ(k::EventsToSkip(done, 101), (uint64_t)0);
    k::EosPosition part = done;
    part.complete = false;
    part.events = 40;
    CHECK_EQ(k::EventsToSkip(part, 99), k::kSkipAll);
    CHECK_EQ(k::EventsToSkip(part, 100), (uint64_t)40);
    CHECK_EQ(k::EventsToSkip(part, 101), (uint64_t)0);
}

TEST(eos_covers_orders_positions) {
    k::EosPosition none, a, b, part;
    a.valid = b.valid = part.valid = true;
    a.lsn = 100;
    b.lsn = 200;
    part.lsn = 200;
    part.complete = false;
    part.events = 5;
    CHECK(k::Covers(a, none));
    CHECK(!k::Covers(none, a));
    CHECK(k::Covers(b, a) && !k::Covers(a, b));
    CHECK(k::Covers(b, part) && !k::Covers(part, b));  // complete beats partial at the same lsn
    CHECK(k::Covers(part, a));
    k::EosPosition more = part;
    more.events = 6;
    CHECK(k::Covers(more, part) && !k::Covers(part, more));
}
