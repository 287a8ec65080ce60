#include "kafka/config.hpp"

#include "kafka/errors.hpp"

#include <algorithm>

namespace kafka_fdw::kafka {

Config::Config() : conf_(rd_kafka_conf_new()) {
    if (!conf_) throw std::bad_alloc();
}

Config::~Config() {
    if (conf_) rd_kafka_conf_destroy(conf_);
}

void Config::Set(const std::string &name, const std::string &value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf_, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        std::string detail = IsSecret(name) ? std::string("the value was rejected") : errstr;
        throw Error(ErrorKind::InvalidConfig,
                    "invalid librdkafka property \"" + name + "\"", detail);
    }
    if (IsSecret(name) && !value.empty()) secret_values_.push_back(value);
}

std::string Config::Canonical(const std::string &name) {
    if (name.compare(0, 6, "topic.") == 0) return name.substr(6);
    return name;
}

std::string Config::Check(const std::string &name, const std::string &value) {
    if (IsReserved(name)) return "property \"" + name + "\" is set by kafka_fdw itself";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    errstr[0] = '\0';
    rd_kafka_conf_res_t res =
        rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr);
    rd_kafka_conf_destroy(conf);
    if (res == RD_KAFKA_CONF_OK) return "";
    if (res == RD_KAFKA_CONF_UNKNOWN) return "No such configuration property: \"" + name + "\"";
    if (IsSecret(name)) return "invalid value for property \"" + name + "\"";
    return errstr;
}

const std::vector<std::string> &Config::SuperuserOnly() {
    // From librdkafka's CONFIGURATION.md (2.0.2).  Keep README.md in sync.
    static const std::vector<std::string> list = {
        // load code into the backend
        "plugin.library.paths",
        "ssl.engine.location",
        "ssl_engine_location",
        "ssl.engine.id",
        "ssl.providers",
        // run a command (the principal is pasted into the default kinit command)
        "sasl.kerberos.kinit.cmd",
        "sasl.kerberos.principal",
        // read files of the database server
        "sasl.kerberos.keytab",
        "ssl.key.location",
        "ssl.certificate.location",
        "ssl.ca.location",
        "ssl.crl.location",
        "ssl.keystore.location",
        "ssl.ca.certificate.stores",
        // write files of the database server (legacy file offset store)
        "offset.store.method",
        "offset.store.path",
        "offset.store.sync.interval.ms",
        // make the server fetch an arbitrary URL
        "sasl.oauthbearer.token.endpoint.url",
        // fill the server log with client traffic
        "debug",
        // start an in-process mock cluster
        "test.mock.num.brokers",
    };
    return list;
}

bool Config::IsSuperuserOnly(const std::string &name_in) {
    const std::string name = Canonical(name_in);
    const auto &l = SuperuserOnly();
    return std::find(l.begin(), l.end(), name) != l.end();
}

bool Config::IsSecret(const std::string &name_in) {
    const std::string name = Canonical(name_in);
    static const char *const secrets[] = {
        "password",           "sasl.password",
        "sasl.oauthbearer.client.secret", "ssl.key.password",
        "ssl.keystore.password", "ssl.key.pem",
        "ssl_key",            "sasl.oauthbearer.config",
    };
    for (const char *s : secrets)
        if (name == s) return true;
    return false;
}

bool Config::IsReserved(const std::string &name_in) {
    const std::string name = Canonical(name_in);
    // Callbacks and pointers cannot be given as text anyway; these would
    // break how kafka_fdw drives the client.
    static const char *const reserved[] = {
        "log.queue", "enable.partition.eof", "opaque", "default_topic_conf",
        "background_event_cb", "interceptors",
    };
    for (const char *s : reserved)
        if (name == s) return true;
    return name.size() > 3 && name.compare(name.size() - 3, 3, "_cb") == 0;
}

}  // namespace kafka_fdw::kafka
