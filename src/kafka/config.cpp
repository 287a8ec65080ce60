#include "kafka/config.hpp"

#include "kafka/errors.hpp"

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <sstream>
#include <unordered_set>

namespace kafka_fdw::kafka {

namespace {

// librdkafka's public properties, as rd_kafka_conf_properties_show() prints
// them: a markdown table per scope ("## Global configuration properties",
// "## Topic configuration properties"), one row per property
//   name | C/P | range | default | importance | description <br>*Type: T*
// Hidden properties (_RK_HIDDEN: unit-test hooks, the mock cluster, ...) are
// not printed; pointer and internal ones are printed with the type "see
// dedicated API" and are left out here too.  Anything unexpected in a row
// leaves that row out: the list fails closed.
struct PublicTable {
    std::unordered_set<std::string> global, topic;
    std::vector<std::string> sorted;
};

std::string Trim(const std::string &s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

bool IsPropertyName(const std::string &s) {
    if (s.empty()) return false;
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

PublicTable ParsePublicTable(const std::string &text) {
    PublicTable t;
    std::unordered_set<std::string> *scope = nullptr;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, 2, "##") == 0) {
            scope = line.compare(0, 9, "## Global") == 0  ? &t.global
                    : line.compare(0, 8, "## Topic") == 0 ? &t.topic
                                                          : nullptr;
            continue;
        }
        size_t bar = line.find('|');
        if (!scope || bar == std::string::npos) continue;
        std::string name = Trim(line.substr(0, bar));
        if (name == "Property" || !IsPropertyName(name)) continue;  // header, separator
        size_t ty = line.rfind("*Type: ");
        if (ty == std::string::npos) continue;
        size_t end = line.find('*', ty + 7);
        if (end == std::string::npos) continue;
        std::string type = line.substr(ty + 7, end - ty - 7);
        if (type == "see dedicated API") continue;
        scope->insert(name);
    }
    for (const auto *s : {&t.global, &t.topic}) t.sorted.insert(t.sorted.end(), s->begin(), s->end());
    std::sort(t.sorted.begin(), t.sorted.end());
    t.sorted.erase(std::unique(t.sorted.begin(), t.sorted.end()), t.sorted.end());
    return t;
}

PublicTable ReadPublicTable() {
    char *buf = nullptr;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) throw std::bad_alloc();
    rd_kafka_conf_properties_show(fp);
    bool ok = fclose(fp) == 0;  // sets buf and len
    std::string text = ok && buf ? std::string(buf, len) : std::string();
    free(buf);
    return ParsePublicTable(text);
}

// Read once per process (a thread-safe static; if reading throws, the next
// call tries again).
const PublicTable &Table() {
    static const PublicTable table = ReadPublicTable();
    return table;
}

}  // namespace

Config::Config() : conf_(rd_kafka_conf_new()) {
    if (!conf_) throw std::bad_alloc();
    // librdkafka 2.5+ pushes client metrics to brokers that ask for them
    // (KIP-714), and rd_kafka_destroy then waits up to a second for the last
    // push: measured on 2.8.0 against Kafka 3.9, one scan in three took
    // 1,000 ms longer than its reading.  Off unless a server option turns it
    // on (older librdkafka does not know the property: nothing to turn off).
    char errstr[256];
    (void)rd_kafka_conf_set(conf_, "enable.metrics.push", "false", errstr, sizeof errstr);
}

Config::~Config() {
    if (conf_) rd_kafka_conf_destroy(conf_);
}

void Config::Set(const std::string &name, const std::string &value) {
    if (!IsPublic(name))
        throw Error(ErrorKind::InvalidConfig, "invalid librdkafka property \"" + name + "\"",
                    "librdkafka has no public configuration property \"" + name + "\"")
            .Hint("Hidden, internal and callback properties cannot be set; librdkafka's CONFIGURATION.md "
                  "lists the public ones.");
    SetUnlisted(name, value);
}

void Config::SetUnlisted(const std::string &name, const std::string &value) {
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

bool Config::IsPublic(const std::string &name) {
    const PublicTable &t = Table();
    if (t.global.count(name) || t.topic.count(name)) return true;
    // rd_kafka_conf_set() sets "topic.<name>" as the topic-level <name>
    return name.compare(0, 6, "topic.") == 0 && t.topic.count(name.substr(6)) > 0;
}

const std::vector<std::string> &Config::PublicProperties() { return Table().sorted; }

std::string Config::Refusal(const std::string &name) {
    if (Canonical(name) == "internal.termination.signal")
        return "property \"" + name + "\" would replace a signal handler of the whole process";
    if (IsReserved(name)) return "property \"" + name + "\" is set by kafka_fdw itself";
    if (!IsPublic(name))
        return "librdkafka has no public configuration property \"" + name +
               "\" (hidden, internal and callback properties cannot be set)";
    return "";
}

std::string Config::Check(const std::string &name, const std::string &value) {
    std::string refusal = Refusal(name);
    if (!refusal.empty()) return refusal;
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
    // From librdkafka's CONFIGURATION.md (2.0.2, 2.14.2).  Keep docs/security.md in sync.
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
        // read files of the database server (librdkafka 2.4+: OIDC)
        "https.ca.location",
        "sasl.oauthbearer.assertion.file",
        "sasl.oauthbearer.assertion.jwt.template.file",
        "sasl.oauthbearer.assertion.private.key.file",
        // make the server fetch an arbitrary URL, or its cloud metadata
        // service (librdkafka 2.11+: azure_imds)
        "sasl.oauthbearer.token.endpoint.url",
        "sasl.oauthbearer.metadata.authentication.type",
        // fill the server log with client traffic
        "debug",
        // start an in-process mock cluster (hidden in librdkafka 2.0.2, so
        // refused for everyone by IsPublic; listed in case it becomes public)
        "test.mock.num.brokers",
    };
    return list;
}

namespace {
bool EndsWith(const std::string &s, const char *suffix) {
    size_t n = strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}
}  // namespace

bool Config::IsSuperuserOnly(const std::string &name_in) {
    const std::string name = Canonical(name_in);
    const auto &l = SuperuserOnly();
    if (std::find(l.begin(), l.end(), name) != l.end()) return true;
    // A newer librdkafka's property that names a file, a path, a command or
    // a URL: superuser-only before anyone has read what it does.
    for (const char *suffix : {".location", ".file", ".path", ".paths", ".cmd", ".url"})
        if (EndsWith(name, suffix)) return true;
    return false;
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
    // and what a newer librdkafka adds (e.g. 2.11+'s
    // sasl.oauthbearer.assertion.private.key.passphrase / .pem,
    // sasl.oauthbearer.client.credentials.client.secret)
    for (const char *suffix : {"password", "secret", "passphrase", ".key.pem"})
        if (EndsWith(name, suffix)) return true;
    return false;
}

bool Config::IsReserved(const std::string &name_in) {
    const std::string name = Canonical(name_in);
    // Callbacks and pointers cannot be given as text anyway; these would
    // break how kafka_fdw drives the client.
    static const char *const reserved[] = {
        "log.queue", "enable.partition.eof", "opaque", "default_topic_conf",
        "background_event_cb", "interceptors",
        // installs a handler for that signal in the whole process (the
        // backend's, or kafka_copy's SIGINT/SIGTERM handling)
        "internal.termination.signal",
    };
    for (const char *s : reserved)
        if (name == s) return true;
    return name.size() > 3 && name.compare(name.size() - 3, 3, "_cb") == 0;
}

}  // namespace kafka_fdw::kafka
