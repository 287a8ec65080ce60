// The outbox message payload (src/format/outbox.hpp): round trip, and every
// malformed payload refused.
#include "format/outbox.hpp"

#include "framework.hpp"

#include <string>

namespace ob = kafka_fdw::format::outbox;

namespace {

std::string Sample(ob::Payload *p) {
    p->pipeline = "orders_cdc";
    p->topic = "orders.events";
    p->has_key = true;
    p->key = std::string_view("k\0y", 3);
    p->has_value = true;
    p->value = "{\"id\": 1}";
    p->headers = {{"type", true, "created"}, {"empty", true, ""}, {"none", false, {}}};
    std::string out;
    ob::Encode(*p, &out);
    out.append(ob::kTagLen, '\x5a');  // a tag (computed by the glue)
    return out;
}

}  // namespace

TEST(outbox_payload_round_trip) {
    ob::Payload in;
    std::string wire = Sample(&in);
    ob::Payload out;
    REQUIRE(ob::Decode(wire, &out));
    CHECK_EQ(std::string(out.pipeline), std::string("orders_cdc"));
    CHECK_EQ(std::string(out.topic), std::string("orders.events"));
    CHECK(out.has_key);
    CHECK_EQ(std::string(out.key), std::string("k\0y", 3));
    CHECK(out.has_value);
    CHECK_EQ(std::string(out.value), std::string("{\"id\": 1}"));
    REQUIRE(out.headers.size() == 3u);
    CHECK_EQ(std::string(out.headers[0].name), std::string("type"));
    CHECK_EQ(std::string(out.headers[0].value), std::string("created"));
    CHECK(out.headers[1].has_value);
    CHECK(out.headers[1].value.empty());
    CHECK(!out.headers[2].has_value);
    CHECK_EQ(out.tag.size(), ob::kTagLen);
    CHECK_EQ(out.signed_part.size() + ob::kTagLen, wire.size());
    CHECK_EQ(std::string(out.tag), std::string(ob::kTagLen, '\x5a'));

    // no key, a tombstone, no headers
    ob::Payload t;
    t.pipeline = "p";
    t.topic = "t";
    std::string w2;
    ob::Encode(t, &w2);
    w2.append(ob::kTagLen, '\0');
    ob::Payload t2;
    REQUIRE(ob::Decode(w2, &t2));
    CHECK(!t2.has_key);
    CHECK(!t2.has_value);
    CHECK(t2.headers.empty());
}

TEST(outbox_payload_malformed) {
    ob::Payload in;
    std::string wire = Sample(&in);
    ob::Payload out;
    // every truncation of the body fails (the tag is taken from the end, so
    // a shorter message shifts it into the body)
    std::string body = wire.substr(0, wire.size() - ob::kTagLen);
    for (size_t n = 0; n < body.size(); n++) {
        std::string cut = body.substr(0, n) + std::string(ob::kTagLen, '\x5a');
        CHECK(!ob::Decode(cut, &out));
    }
    std::string bad_version = wire;
    bad_version[0] = 2;
    CHECK(!ob::Decode(bad_version, &out));
    std::string trailing = body + "x" + std::string(ob::kTagLen, '\x5a');
    CHECK(!ob::Decode(trailing, &out));
    std::string bad_flag = wire;
    // the key's presence flag: after version, pipeline (2+10), topic (2+13)
    bad_flag[1 + 12 + 15] = 7;
    CHECK(!ob::Decode(bad_flag, &out));
    CHECK(!ob::Decode("", &out));
    CHECK(!ob::Decode(std::string(ob::kTagLen, '\1'), &out));
    // a header count far beyond what the payload holds
    ob::Payload h;
    h.pipeline = "p";
    h.topic = "t";
    std::string w;
    ob::Encode(h, &w);
    w[w.size() - 2] = '\xff';
    w[w.size() - 1] = '\xff';
    w.append(ob::kTagLen, '\0');
    CHECK(!ob::Decode(w, &out));
}
