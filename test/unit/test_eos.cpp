// The exactly-once position record and the skip rule (src/kafka/eos.hpp).
#include "kafka/eos.hpp"

#include "framework.hpp"

namespace k = kafka_fdw::kafka;

namespace {
const std::string kId = "kafka_fdw-1-kafka_fdw_5_orders";
const std::string kKey(32, 'k');
}  // namespace

TEST(eos_position_round_trips) {
    k::EosPosition p;
    p.valid = true;
    p.lsn = (uint64_t)0x1A << 32 | 0x16B3748;
    p.complete = true;
    std::string j = k::EosPositionJson(p, kId, 1700000000000, kKey);
    CHECK(j.find("\"lsn\":\"1A/16B3748\"") != std::string::npos);
    CHECK(j.find("\"changes\":null") != std::string::npos);
    CHECK(j.find("\"mac\":\"") != std::string::npos);
    k::EosPosition q;
    CHECK(k::ParseEosPosition(j, kId, kKey, &q) == k::ParsedPosition::Ok);
    CHECK(q.valid && q.complete && q.lsn == p.lsn);
    p.complete = false;
    p.changes = 12345;
    CHECK(k::ParseEosPosition(k::EosPositionJson(p, kId, 0, kKey), kId, kKey, &q) == k::ParsedPosition::Ok);
    CHECK(!q.complete && q.changes == 12345 && q.lsn == p.lsn);
}

TEST(eos_position_needs_the_key) {
    k::EosPosition p;
    p.valid = true;
    p.lsn = 100;
    std::string j = k::EosPositionJson(p, kId, 0, kKey);
    k::EosPosition q;
    q.lsn = 7;
    // another key, another id, a changed count: not ours
    CHECK(k::ParseEosPosition(j, kId, std::string(32, 'x'), &q) == k::ParsedPosition::BadMac);
    CHECK(k::ParseEosPosition(j, "kafka_fdw-1-other", kKey, &q) == k::ParsedPosition::NotOne);
    std::string forged = j;
    size_t at = forged.find("\"changes\":null");
    forged.replace(at, 14, "\"changes\":5");
    CHECK(k::ParseEosPosition(forged, kId, kKey, &q) == k::ParsedPosition::BadMac);
    std::string lsn = j;
    lsn.replace(lsn.find("\"lsn\":\"0/64\""), 12, "\"lsn\":\"1/64\"");
    CHECK(k::ParseEosPosition(lsn, kId, kKey, &q) == k::ParsedPosition::BadMac);
    // without a mac, or with an empty key: never accepted
    CHECK(k::ParseEosPosition("{\"lsn\":\"0/64\",\"changes\":null,\"transactional_id\":\"" + kId + "\"}", kId, kKey,
                              &q) == k::ParsedPosition::BadMac);
    CHECK(k::ParseEosPosition(k::EosPositionJson(p, kId, 0, ""), kId, "", &q) == k::ParsedPosition::BadMac);
    CHECK_EQ(q.lsn, (uint64_t)7);  // untouched
}

TEST(eos_position_rejects_what_it_did_not_write) {
    k::EosPosition q;
    q.lsn = 7;
    auto parse = [&q](const std::string &s) { return k::ParseEosPosition(s, kId, kKey, &q); };
    CHECK(parse("") == k::ParsedPosition::NotOne);
    CHECK(parse("[]") == k::ParsedPosition::NotOne);
    CHECK(parse("{\"lsn\":\"0/1\"}") == k::ParsedPosition::NotOne);
    CHECK(parse("{\"lsn\":\"01\",\"changes\":null,\"transactional_id\":\"" + kId + "\"}") == k::ParsedPosition::NotOne);
    CHECK(parse("{\"lsn\":\"0/1\",\"changes\":-1,\"transactional_id\":\"" + kId + "\"}") == k::ParsedPosition::NotOne);
    CHECK(parse("{\"lsn\":\"0/1G\",\"changes\":null,\"transactional_id\":\"" + kId + "\"}") ==
          k::ParsedPosition::NotOne);
    CHECK_EQ(q.lsn, (uint64_t)7);  // untouched
    uint64_t l = 0;
    CHECK(k::ParseLsn("FFFFFFFF/FFFFFFFF", &l) && l == UINT64_MAX);
    CHECK(k::ParseLsn("0/0", &l) && l == 0);
    CHECK(!k::ParseLsn("123456789/1", &l));
}

TEST(eos_skip_rule) {
    k::EosPosition none;
    CHECK_EQ(k::ItemsToSkip(none, 100), (uint64_t)0);
    k::EosPosition done;
    done.valid = true;
    done.lsn = 100;
    done.complete = true;
    CHECK_EQ(k::ItemsToSkip(done, 99), k::kSkipAll);
    CHECK_EQ(k::ItemsToSkip(done, 100), k::kSkipAll);
    CHECK_EQ(k::ItemsToSkip(done, 101), (uint64_t)0);
    k::EosPosition part = done;
    part.complete = false;
    part.changes = 40;
    CHECK_EQ(k::ItemsToSkip(part, 99), k::kSkipAll);
    CHECK_EQ(k::ItemsToSkip(part, 100), (uint64_t)40);
    CHECK_EQ(k::ItemsToSkip(part, 101), (uint64_t)0);
}

TEST(eos_covers_orders_positions) {
    k::EosPosition none, a, b, part;
    a.valid = b.valid = part.valid = true;
    a.lsn = 100;
    b.lsn = 200;
    part.lsn = 200;
    part.complete = false;
    part.changes = 5;
    CHECK(k::Covers(a, none));
    CHECK(!k::Covers(none, a));
    CHECK(k::Covers(b, a) && !k::Covers(a, b));
    CHECK(k::Covers(b, part) && !k::Covers(part, b));  // complete beats partial at the same lsn
    CHECK(k::Covers(part, a));
    k::EosPosition more = part;
    more.changes = 6;
    CHECK(k::Covers(more, part) && !k::Covers(part, more));
}
