// Config (src/kafka/config.hpp), errors (errors.hpp) and waiting (wait.hpp).
#include "kafka/config.hpp"
#include "kafka/errors.hpp"
#include "kafka/wait.hpp"

#include "framework.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

using kafka_fdw::kafka::Config;
using kafka_fdw::kafka::Deadline;
using kafka_fdw::kafka::Error;
using kafka_fdw::kafka::ErrorKind;
using kafka_fdw::kafka::Interrupted;
using kafka_fdw::kafka::KindOf;
using kafka_fdw::kafka::kSliceMs;

namespace {

bool Contains(const std::string &hay, const std::string &needle) {
    return hay.find(needle) != std::string::npos;
}

// Everything an Error carries as text.
std::string AllText(const Error &e) {
    return std::string(e.what()) + "\n" + e.detail + "\n" + e.hint + "\n" + e.topic;
}

}  // namespace

// ---- Config::Check ---------------------------------------------------------

// librdkafka 2.5+ waits up to a second in rd_kafka_destroy for a last
// metrics push: every Config starts with it off, and an option turns it on.
TEST(config_metrics_push_off_unless_set) {
    char buf[32];
    size_t sz = sizeof buf;
    kafka_fdw::kafka::Config conf;
    if (rd_kafka_conf_get(conf.get(), "enable.metrics.push", buf, &sz) != RD_KAFKA_CONF_OK) {
        CHECK(rd_kafka_version() < 0x02050000);  // older librdkafka: no such property
        return;
    }
    CHECK_EQ(std::string(buf), std::string("false"));
    conf.Set("enable.metrics.push", "true");
    sz = sizeof buf;
    REQUIRE(rd_kafka_conf_get(conf.get(), "enable.metrics.push", buf, &sz) == RD_KAFKA_CONF_OK);
    CHECK_EQ(std::string(buf), std::string("true"));
}

TEST(config_check_accepts_real_properties) {
    CHECK_EQ(Config::Check("compression.type", "zstd"), "");
    CHECK_EQ(Config::Check("linger.ms", "5"), "");
    CHECK_EQ(Config::Check("acks", "all"), "");
    CHECK_EQ(Config::Check("enable.idempotence", "true"), "");
    CHECK_EQ(Config::Check("client.id", "kafka_fdw"), "");
    CHECK_EQ(Config::Check("bootstrap.servers", "a:9092,b:9092"), "");
    CHECK_EQ(Config::Check("isolation.level", "read_committed"), "");
    CHECK_EQ(Config::Check("partitioner", "murmur2_random"), "");  // a topic property
}

TEST(config_check_rejects_unknown_names) {
    for (const char *name : {"no.such.property", "compression", "Compression.Type", "linger.ms ", ""}) {
        std::string msg = Config::Check(name, "1");
        CHECK(!msg.empty());
        if (*name) CHECK(Contains(msg, name));
    }
}

TEST(config_check_rejects_bad_values_with_a_message) {
    struct {
        const char *name, *value;
    } bad[] = {
        {"compression.type", "zip"}, {"linger.ms", "abc"}, {"linger.ms", "-1"},
        {"acks", "many"},            {"enable.idempotence", "maybe"}, {"message.max.bytes", "1"},
        {"isolation.level", "dirty"},
    };
    for (const auto &b : bad) {
        std::string msg = Config::Check(b.name, b.value);
        if (msg.empty())
            unit::RecordFailure(__FILE__, __LINE__,
                                std::string("accepted ") + b.name + "=" + b.value);
    }
}

TEST(config_check_refuses_reserved_properties) {
    for (const char *name : {"log.queue", "enable.partition.eof", "opaque", "default_topic_conf",
                             "interceptors", "background_event_cb", "dr_msg_cb", "dr_cb", "error_cb",
                             "log_cb", "stats_cb", "throttle_cb", "rebalance_cb", "offset_commit_cb",
                             "oauthbearer_token_refresh_cb", "ssl.certificate.verify_cb", "socket_cb",
                             "partitioner_cb", "anything_cb"}) {
        std::string msg = Config::Check(name, "true");
        CHECK(!msg.empty());
        CHECK(Contains(msg, name));
        CHECK(Config::IsReserved(name));
    }
    CHECK(!Config::IsReserved("compression.type"));
    CHECK(!Config::IsReserved("bootstrap.servers"));
    CHECK(!Config::IsReserved("linger.ms"));
}

TEST(config_secret_values_never_in_messages) {
    const char *secret = "S3cr3t-Value-42";
    for (const char *name : {"sasl.password", "ssl.key.password", "ssl.keystore.password",
                             "sasl.oauthbearer.client.secret", "ssl.key.pem", "ssl_key",
                             "sasl.oauthbearer.config"}) {
        CHECK(Config::IsSecret(name));
        for (std::string value : {std::string(secret), std::string("x=") + secret + " y",
                                  std::string("\"") + secret}) {
            std::string msg = Config::Check(name, value);
            if (Contains(msg, secret))
                unit::RecordFailure(__FILE__, __LINE__,
                                    std::string("Check(") + name + ") shows the secret: " + msg);
            Config c;
            try {
                c.Set(name, value);
            } catch (const Error &e) {
                CHECK(e.kind == ErrorKind::InvalidConfig);
                if (Contains(AllText(e), secret))
                    unit::RecordFailure(__FILE__, __LINE__,
                                        std::string("Set(") + name + ") shows the secret: " + AllText(e));
            }
        }
    }
    // a secret rejected by librdkafka: a message without the value
    std::string msg = Config::Check("ssl_key", secret);
    CHECK(!msg.empty());
    CHECK(Contains(msg, "ssl_key"));
    CHECK(!Contains(msg, secret));
    Config c;
    try {
        c.Set("ssl_key", secret);  // not public: refused before librdkafka
        unit::RecordFailure(__FILE__, __LINE__, "Set(ssl_key) was accepted");
    } catch (const Error &e) {
        CHECK(e.kind == ErrorKind::InvalidConfig);
        CHECK(Contains(e.what(), "ssl_key"));
        CHECK(!Contains(AllText(e), secret));
    }
    try {
        c.SetUnlisted("ssl_key", secret);  // rejected by librdkafka itself
        unit::RecordFailure(__FILE__, __LINE__, "SetUnlisted(ssl_key) was accepted");
    } catch (const Error &e) {
        CHECK(e.kind == ErrorKind::InvalidConfig);
        CHECK(Contains(e.what(), "ssl_key"));
        CHECK(!Contains(AllText(e), secret));
        CHECK_EQ(e.detail, "the value was rejected");
    }
}

TEST(config_is_secret) {
    CHECK(Config::IsSecret("sasl.password"));
    CHECK(Config::IsSecret("ssl.key.password"));
    CHECK(!Config::IsSecret("sasl.username"));
    CHECK(!Config::IsSecret("compression.type"));
    CHECK(!Config::IsSecret("ssl.certificate.pem"));  // a public key
    // newer librdkafka's (2.11+ OIDC assertions): by their names
    CHECK(Config::IsSecret("sasl.oauthbearer.assertion.private.key.passphrase"));
    CHECK(Config::IsSecret("sasl.oauthbearer.assertion.private.key.pem"));
    CHECK(Config::IsSecret("sasl.oauthbearer.client.credentials.client.secret"));
    CHECK(Config::IsSecret("topic.some.future.password"));
    CHECK(!Config::IsSecret("https.ca.pem"));  // a public certificate
}

TEST(config_superuser_only) {
    for (const char *name : {"plugin.library.paths", "sasl.kerberos.kinit.cmd", "ssl.key.location",
                             "sasl.kerberos.keytab", "ssl.ca.location", "ssl.certificate.location",
                             "ssl.engine.location", "ssl.providers", "ssl.crl.location",
                             "ssl.keystore.location", "sasl.oauthbearer.token.endpoint.url", "debug",
                             "offset.store.path",
                             // librdkafka 2.4+ (18's 2.14): files, the cloud metadata service
                             "https.ca.location", "sasl.oauthbearer.assertion.file",
                             "sasl.oauthbearer.assertion.jwt.template.file",
                             "sasl.oauthbearer.assertion.private.key.file",
                             "sasl.oauthbearer.metadata.authentication.type",
                             // any future property naming a file, path, command or URL
                             "some.future.thing.location", "x.file", "topic.y.cmd", "z.url"}) {
        CHECK(Config::IsSuperuserOnly(name));
    }
    for (const char *name : {"compression.type", "bootstrap.servers", "linger.ms", "sasl.username",
                             "sasl.password", "ssl.key.password", "security.protocol", ""}) {
        CHECK(!Config::IsSuperuserOnly(name));
    }
    // the list and the predicate agree
    for (const auto &name : Config::SuperuserOnly()) CHECK(Config::IsSuperuserOnly(name));
}

// BUG: sasl.kerberos.principal is not superuser-only, but librdkafka renders it
// unquoted into the default sasl.kerberos.kinit.cmd
//   kinit -R -t "%{sasl.kerberos.keytab}" -k %{sasl.kerberos.principal} || ...
// and runs that with system() from rd_kafka_new() when security.protocol is
// SASL_* and the mechanism GSSAPI.  Once sasl.kerberos.keytab is set (by a
// superuser, e.g. on the server), a user who may set the principal (user
// mapping / table options) runs any shell command as the postgres OS user:
// sasl.kerberos.principal = 'x; touch /tmp/owned #'.  Verified against the
// Debian librdkafka 2.0.2 build.  Fix in src/kafka/config.cpp: make
// sasl.kerberos.principal superuser-only (or always force
// sasl.kerberos.kinit.cmd to a fixed, safe value).
TEST(config_bug_kerberos_principal_reaches_kinit_shell_command) {
    CHECK(Config::IsSuperuserOnly("sasl.kerberos.principal"));
}

// BUG (latent): librdkafka's rd_kafka_conf_set() strips a "topic." prefix
// and sets the topic-level property, so "topic.offset.store.path" is
// "offset.store.path" (and "topic.offset.store.method", ...sync.interval.ms):
// Config::Check accepts them and Config::IsSuperuserOnly, an exact-name
// match, says no.  Not exploitable today only because Producer and
// RangeConsumer build their topic handles from rd_kafka_topic_conf_new()
// (see mock_bug_producer_ignores_topic_properties); fixing that would open
// it.  Fix in src/kafka/config.cpp: strip a leading "topic." before the
// superuser-only/reserved/secret checks (or refuse prefixed names).
TEST(config_bug_topic_prefix_bypasses_superuser_only) {
    CHECK_EQ(Config::Check("offset.store.path", "/tmp"), "");  // librdkafka accepts both
    bool refused = !Config::Check("topic.offset.store.path", "/tmp").empty();
    CHECK(refused || Config::IsSuperuserOnly("topic.offset.store.path"));
    refused = !Config::Check("topic.offset.store.method", "file").empty();
    CHECK(refused || Config::IsSuperuserOnly("topic.offset.store.method"));
}

// ---- the allowlist: public properties only ----------------------------------

// Hidden in librdkafka 2.0.2 (_RK_HIDDEN: not printed by
// rd_kafka_conf_properties_show) but accepted by rd_kafka_conf_set.
// ut_handle_ProduceResponse stores the address of the value string as a
// ProduceResponse handler: a produce through such a client jumps into the
// string (SIGSEGV; issue 18, finding 7).
const char *const kHidden[] = {
    "ut_handle_ProduceResponse", "test.mock.num.brokers", "test.mock.broker.rtt",
    "client.software.name",      "client.software.version", "enable_sasl_queue",
    "enable.sparse.connections", "metadata.request.timeout.ms",
};
// Printed, but typed "see dedicated API" (pointers, callbacks, internal).
const char *const kDedicatedApi[] = {
    "error_cb", "throttle_cb", "stats_cb", "log_cb", "background_event_cb", "socket_cb", "connect_cb",
    "closesocket_cb", "open_cb", "resolve_cb", "opaque", "default_topic_conf", "ssl_key",
    "ssl_certificate", "ssl_ca", "ssl_engine_callback_data", "ssl.certificate.verify_cb",
    "oauthbearer_token_refresh_cb", "interceptors", "consume_cb", "rebalance_cb", "offset_commit_cb",
    "dr_cb", "dr_msg_cb", "partitioner_cb", "msg_order_cmp",
};
// What kafka_fdw and kafka_copy set themselves through Config::Set: all must
// stay public, or every client would fail to start.
const char *const kUsedByUs[] = {
    "bootstrap.servers", "client.id", "socket.connection.setup.timeout.ms", "isolation.level",
    "allow.auto.create.topics", "group.id", "enable.auto.commit", "enable.auto.offset.store", "acks",
    "enable.idempotence", "linger.ms", "message.timeout.ms", "topic.metadata.propagation.max.ms",
    "transactional.id", "transaction.timeout.ms", "queued.min.messages", "queued.max.messages.kbytes",
    "max.partition.fetch.bytes", "fetch.wait.max.ms", "fetch.error.backoff.ms",
    "queue.buffering.max.messages", "queue.buffering.max.kbytes", "compression.type", "partitioner",
    "enable.partition.eof", "log.queue", "sasl.username", "sasl.password", "sasl.mechanisms",
    "security.protocol",
};

TEST(config_public_properties_come_from_librdkafka) {
    const auto &pub = Config::PublicProperties();
    CHECK(pub.size() > 100);  // 2.0.2 prints 154 rows, 27 of them "see dedicated API"
    CHECK(std::is_sorted(pub.begin(), pub.end()));
    CHECK(std::adjacent_find(pub.begin(), pub.end()) == pub.end());
    for (const auto &name : pub) CHECK(Config::IsPublic(name));
    for (const char *name : kUsedByUs) {
        if (!Config::IsPublic(name))
            unit::RecordFailure(__FILE__, __LINE__, std::string("not public: ") + name);
    }
    // topic-level properties, also in their "topic." form
    CHECK(Config::IsPublic("partitioner"));
    CHECK(Config::IsPublic("topic.partitioner"));
    CHECK(Config::IsPublic("topic.auto.offset.reset"));
    CHECK(Config::IsPublic("request.required.acks"));
    // global properties whose own name starts with "topic."
    CHECK(Config::IsPublic("topic.metadata.refresh.interval.ms"));
    CHECK(Config::IsPublic("topic.blacklist"));
    // public but superuser-only: the allowlist does not replace that list
    for (const char *name : {"plugin.library.paths", "ssl.key.location", "sasl.kerberos.kinit.cmd", "debug"}) {
        CHECK(Config::IsPublic(name));
        CHECK(Config::IsSuperuserOnly(name));
        CHECK_EQ(Config::Refusal(name), "");
    }
}

TEST(config_hidden_and_pointer_properties_are_not_public) {
    std::vector<std::string> refused(std::begin(kHidden), std::end(kHidden));
    refused.insert(refused.end(), std::begin(kDedicatedApi), std::end(kDedicatedApi));
    for (const char *name : {"topic.ut_handle_ProduceResponse", "topic.opaque", "topic.partitioner_cb",
                             "UT_HANDLE_PRODUCERESPONSE", "Linger.ms", "linger.ms ", " linger.ms", "",
                             "topic.", "topic", "sasl.jaas.config", "ssl.truststore.location",
                             "no.such.property"})
        refused.push_back(name);
    for (const auto &name : refused) {
        if (Config::IsPublic(name)) unit::RecordFailure(__FILE__, __LINE__, "public: \"" + name + "\"");
        std::string why = Config::Refusal(name);
        CHECK(!why.empty());
        if (!name.empty()) CHECK(Contains(why, name));
        CHECK(!Config::Check(name, "1").empty());
        CHECK(std::find(Config::PublicProperties().begin(), Config::PublicProperties().end(), name) ==
              Config::PublicProperties().end());
    }
    // the crash of finding 7 needs the name to reach librdkafka: it does not
    CHECK(Contains(Config::Refusal("ut_handle_ProduceResponse"), "no public configuration property"));
}

TEST(config_set_refuses_hidden_properties) {
    for (const char *name : kHidden) {
        Config c;
        char before[64] = "", after[64] = "";
        size_t sz = sizeof before;
        // (librdkafka does not read back pointers or unset strings)
        rd_kafka_conf_res_t res_before = rd_kafka_conf_get(c.get(), name, before, &sz);
        try {
            c.Set(name, "1");
            unit::RecordFailure(__FILE__, __LINE__, std::string("Set accepted ") + name);
        } catch (const Error &e) {
            CHECK(e.kind == ErrorKind::InvalidConfig);
            CHECK(Contains(e.what(), name));
            CHECK(Contains(e.detail, "no public configuration property"));
            CHECK(!e.hint.empty());
        }
        sz = sizeof after;
        CHECK(rd_kafka_conf_get(c.get(), name, after, &sz) == res_before);
        CHECK_EQ(std::string(before), std::string(after));  // untouched
    }
    Config c;
    CHECK_THROWS(c.SetAll({{"linger.ms", "1"}, {"ut_handle_ProduceResponse", "1"}}), Error);
    CHECK_NOTHROW(c.Set("topic.partitioner", "murmur2"));
    // the mock cluster of the unit tests, explicitly
    CHECK_NOTHROW(c.SetUnlisted("test.mock.num.brokers", "1"));
}

TEST(config_termination_signal_is_refused) {
    // public, but it installs a signal handler in the whole process
    CHECK(Config::IsPublic("internal.termination.signal"));
    CHECK(Config::IsReserved("internal.termination.signal"));
    CHECK(Contains(Config::Refusal("internal.termination.signal"), "signal"));
    CHECK(!Config::Check("internal.termination.signal", "10").empty());
}

// ---- Config::Set -----------------------------------------------------------

TEST(config_set_throws_invalid_config) {
    Config c;
    CHECK_NOTHROW(c.Set("linger.ms", "5"));
    CHECK_NOTHROW(c.SetAll({{"compression.type", "lz4"}, {"acks", "1"}}));
    try {
        c.Set("linger.ms", "abc");
        unit::RecordFailure(__FILE__, __LINE__, "Set(linger.ms=abc) did not throw");
    } catch (const Error &e) {
        CHECK(e.kind == ErrorKind::InvalidConfig);
        CHECK(Contains(e.what(), "linger.ms"));
        CHECK(!e.detail.empty());
    }
    try {
        c.Set("no.such.property", "1");
        unit::RecordFailure(__FILE__, __LINE__, "Set(no.such.property) did not throw");
    } catch (const Error &e) {
        CHECK(e.kind == ErrorKind::InvalidConfig);
        CHECK(Contains(e.what(), "no.such.property"));
    }
    CHECK_THROWS(c.SetAll({{"acks", "1"}, {"compression.type", "zip"}}), Error);
}

TEST(config_move_and_release) {
    Config a;
    a.Set("client.id", "moved");
    rd_kafka_conf_t *raw = a.get();
    REQUIRE(raw != nullptr);
    Config b(std::move(a));
    CHECK(a.get() == nullptr);
    CHECK(b.get() == raw);
    char buf[64];
    size_t sz = sizeof buf;
    REQUIRE(rd_kafka_conf_get(b.get(), "client.id", buf, &sz) == RD_KAFKA_CONF_OK);
    CHECK_EQ(std::string(buf), "moved");
    // Released(): the destructor must not free what librdkafka now owns
    Config c;
    rd_kafka_conf_t *owned = c.get();
    c.Released();
    CHECK(c.get() == nullptr);
    rd_kafka_conf_destroy(owned);
}

// ---- errors ----------------------------------------------------------------

TEST(errors_kind_of) {
    CHECK(KindOf(RD_KAFKA_RESP_ERR__TRANSPORT) == ErrorKind::Connection);
    CHECK(KindOf(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) == ErrorKind::Connection);
    CHECK(KindOf(RD_KAFKA_RESP_ERR__RESOLVE) == ErrorKind::Connection);
    CHECK(KindOf(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) == ErrorKind::Connection);
    CHECK(KindOf(RD_KAFKA_RESP_ERR__TIMED_OUT) == ErrorKind::Timeout);
    CHECK(KindOf(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) == ErrorKind::Timeout);
    CHECK(KindOf(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT) == ErrorKind::Timeout);
    CHECK(KindOf(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) == ErrorKind::UnknownTopic);
    CHECK(KindOf(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) == ErrorKind::UnknownTopic);
    CHECK(KindOf(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) == ErrorKind::UnknownPartition);
    CHECK(KindOf(RD_KAFKA_RESP_ERR__INVALID_ARG) == ErrorKind::InvalidConfig);
    CHECK(KindOf(RD_KAFKA_RESP_ERR__AUTHENTICATION) == ErrorKind::Auth);
    CHECK(KindOf(RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED) == ErrorKind::Auth);
    CHECK(KindOf(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) == ErrorKind::Auth);
    CHECK(KindOf(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) == ErrorKind::AlreadyExists);
    CHECK(KindOf(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) == ErrorKind::MessageTooLarge);
    CHECK(KindOf(RD_KAFKA_RESP_ERR__FAIL) == ErrorKind::Internal);
    CHECK(KindOf(RD_KAFKA_RESP_ERR_UNKNOWN) == ErrorKind::Internal);
}

TEST(errors_throw_and_decorate) {
    try {
        kafka_fdw::kafka::Throw(RD_KAFKA_RESP_ERR__TIMED_OUT, "waited too long");
    } catch (const Error &e) {
        CHECK(e.kind == ErrorKind::Timeout);
        CHECK_EQ(std::string(e.what()), "waited too long");
        CHECK(e.code == RD_KAFKA_RESP_ERR__TIMED_OUT);
        CHECK_EQ(e.detail, std::string(rd_kafka_err2str(RD_KAFKA_RESP_ERR__TIMED_OUT)));
        CHECK_EQ(e.partition, -1);
        CHECK_EQ(e.offset, -1);
    }
    Error e(ErrorKind::Data, "bad message", "why");
    e.At("topic-a", 3, 42).Hint("do this");
    CHECK_EQ(e.topic, "topic-a");
    CHECK_EQ(e.partition, 3);
    CHECK_EQ(e.offset, 42);
    CHECK_EQ(e.hint, "do this");
    CHECK_EQ(e.detail, "why");
    CHECK(e.code == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK_EQ(std::string(Interrupted().what()), "interrupted");
}

// ---- waiting ---------------------------------------------------------------

TEST(deadline_slices_are_bounded) {
    CHECK_EQ(Deadline(1000000).SliceMs(), kSliceMs);
    CHECK_EQ(Deadline(kSliceMs * 3).SliceMs(), kSliceMs);
    int s = Deadline(40).SliceMs();
    CHECK(s >= 1 && s <= 40);
    CHECK_EQ(Deadline(0).SliceMs(), 1);
    CHECK_EQ(Deadline(-500).SliceMs(), 1);
    CHECK_EQ(Deadline(0).RemainingMs(), 0);
    CHECK(Deadline(0).Expired());
    CHECK(Deadline(-1).Expired());
    CHECK(!Deadline(60000).Expired());
    CHECK(Deadline(2147483647).SliceMs() == kSliceMs);
    CHECK(Deadline(2147483647).RemainingMs() > 2147000000);
}

TEST(deadline_expires_after_its_timeout) {
    auto t0 = std::chrono::steady_clock::now();
    Deadline d(250);
    int slices = 0;
    while (!d.Expired()) {
        int s = d.SliceMs();
        CHECK(s >= 1 && s <= kSliceMs);
        CHECK(s <= d.RemainingMs() + 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(s));
        slices++;
        REQUIRE(slices < 1000);
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                  .count();
    CHECK(ms >= 250);
    CHECK(ms < 1000);
    CHECK(slices >= 3);  // 250 ms in slices of at most 100 ms
    CHECK_EQ(d.RemainingMs(), 0);
    CHECK_EQ(d.SliceMs(), 1);
}

namespace {
int g_hook_calls = 0;
void CountingHook() { g_hook_calls++; }
void ThrowingHook() { throw Interrupted(); }
}  // namespace

TEST(interrupt_hook) {
    kafka_fdw::kafka::SetInterruptCheck(nullptr);
    CHECK_NOTHROW(kafka_fdw::kafka::CheckInterrupts());
    g_hook_calls = 0;
    kafka_fdw::kafka::SetInterruptCheck(&CountingHook);
    kafka_fdw::kafka::CheckInterrupts();
    kafka_fdw::kafka::CheckInterrupts();
    CHECK_EQ(g_hook_calls, 2);
    kafka_fdw::kafka::SetInterruptCheck(&ThrowingHook);
    CHECK_THROWS(kafka_fdw::kafka::CheckInterrupts(), Interrupted);
    kafka_fdw::kafka::SetInterruptCheck(nullptr);
    CHECK_NOTHROW(kafka_fdw::kafka::CheckInterrupts());
}
