#include "kafka/metadata.hpp"
#include "kafka/producer.hpp"
#include "kafka/wait.hpp"

#include "fdw/connection.hpp"
#include "fdw/options.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "storage/proc.h"
}

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kafka_fdw::fdw {

namespace {

struct CacheEntry {
    std::unique_ptr<kafka::Client> meta;
    std::unique_ptr<kafka::Producer> producer;
    std::unique_ptr<kafka::Producer> txn_producer;  // transactional.id set
    std::map<std::string, std::unique_ptr<kafka::Client>> groups;
    bool valid = true;
    int timeout_ms = 0;
    LocalTransactionId used_in = InvalidLocalTransactionId;  // the last transaction that looked it up
};

using CacheKey = std::pair<Oid, Oid>;
std::map<CacheKey, CacheEntry> *g_cache = nullptr;  // backend lifetime

// Syscache callback (Postgres zone, must not throw): mark every entry stale;
// it is rebuilt at its next use.
void InvalidateAll(Datum, int, uint32) {
    if (!g_cache) return;
    for (auto &[key, entry] : *g_cache) entry.valid = false;
}

// Group clients taken out of the cache while offset commits they sent are
// still in flight, with their group's name.  Destroying such a client waits
// for those commits (librdkafka's consumer close waits for every commit in
// flight, and for an unreachable coordinator up to the group session
// timeout): that must happen neither in a transaction callback nor in a
// statement.  They are kept here, their results taken at each transaction
// end (TakeGroupCommitResults), and destroyed there once none is in flight.
struct Retiring {
    std::string group;
    std::unique_ptr<kafka::Client> client;
};
std::vector<Retiring> *g_retiring = nullptr;  // backend lifetime

void DropGroupClient(const std::string &group, std::unique_ptr<kafka::Client> &&c) {
    if (!c) return;
    if (c->commits_in_flight() > 0) {
        if (!g_retiring) g_retiring = new std::vector<Retiring>();
        g_retiring->push_back({group, std::move(c)});
        return;
    }
    c.reset();
}

// Calls f(group name, client) for every group client, cached or retiring,
// with offset commits in flight.
template <typename F>
void ForEachCommittingGroup(F &&f) {
    auto visit = [&f](const std::string &name, kafka::Client *g) {
        if (g && g->commits_in_flight() > 0) f(name, *g);
    };
    if (g_cache)
        for (auto &[key, e] : *g_cache)
            for (auto &[name, g] : e.groups) visit(name, g.get());
    if (g_retiring)
        for (auto &r : *g_retiring) visit(r.group, r.client.get());
}

// An entry is stale once its server or user mapping changed, or
// kafka_fdw.timeout (which its clients' settings hold) did.
bool Stale(const CacheEntry &e) { return !e.valid || (e.timeout_ms && e.timeout_ms != pg::g_timeout_ms); }

// Drops every client of a stale entry, so that the next use builds new ones,
// unless Kafka work of an open transaction still needs one (then the entry
// stays stale and is tried again later).
void Reap(CacheEntry &e) {
    bool busy = false;
    if (e.producer) {
        // Messages of an open transaction keep the old producer alive
        // until they are settled.
        busy = rd_kafka_outq_len(e.producer->handle()) > 0 || e.producer->open_ledgers() > 0;
    }
    if (e.txn_producer) busy = busy || e.txn_producer->open_ledgers() > 0 || InKafkaTransaction(e.txn_producer.get()) || HasPendingSends(e.txn_producer.get());
    if (e.producer) busy = busy || HasPendingSends(e.producer.get());
    for (auto &[name, g] : e.groups) busy = busy || HasPendingGroupCommits(g.get());
    if (busy) return;
    e.meta.reset();
    e.producer.reset();
    e.txn_producer.reset();
    for (auto &[name, g] : e.groups) DropGroupClient(name, std::move(g));
    e.groups.clear();
    e.valid = true;
    e.timeout_ms = 0;
}

CacheEntry &Lookup(const ClientSpec *spec) {
    if (!g_cache) g_cache = new std::map<CacheKey, CacheEntry>();
    CacheEntry &e = (*g_cache)[{spec->serverid, spec->userid}];
    // Clients this transaction already used stay until it ends (postgres_fdw's
    // rule): a scan may hold a pointer to one while SPI or a catalog access
    // processes the invalidation that marked them stale.  The end of the
    // transaction reaps them (DropUnreachableClients); this is for an entry
    // that became stale between transactions.
    bool used_now = e.used_in == pg::MyLxid();
    e.used_in = pg::MyLxid();
    if (Stale(e) && !used_now) Reap(e);
    return e;
}

void AddProp(ClientSpec *s, const char *name, const char *value) {
    s->names[s->nprops] = name;
    s->values[s->nprops] = value;
    s->nprops++;
}

}  // namespace

void DropUnreachableClients() noexcept {
    try {
        if (g_cache)
            for (auto &[key, e] : *g_cache) {
                // Invalidated (its server or user mapping changed): nothing of
                // the ending transaction points at its clients any more.  (A
                // changed kafka_fdw.timeout waits for the next lookup: it may
                // be a SET LOCAL that ends with this transaction.)
                if (!e.valid) Reap(e);
                if (e.meta && e.meta->unreachable()) e.meta.reset();
                // A producer that hit a fatal error (idempotence, a fenced
                // transactional.id) fails every later send: the next
                // transaction gets a new one.
                auto fatal = [](const kafka::Producer *p) {
                    return p && rd_kafka_fatal_error(p->handle(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR &&
                           p->open_ledgers() == 0 && !HasPendingSends(p);
                };
                if (fatal(e.producer.get())) e.producer.reset();
                if (fatal(e.txn_producer.get()) && !InKafkaTransaction(e.txn_producer.get())) e.txn_producer.reset();
                for (auto it = e.groups.begin(); it != e.groups.end();) {
                    if (it->second && it->second->unreachable() && !HasPendingGroupCommits(it->second.get())) {
                        DropGroupClient(it->first, std::move(it->second));
                        it = e.groups.erase(it);
                    } else {
                        ++it;
                    }
                }
            }
        // Retired group clients whose commits have all reported (their
        // results were just taken by TakeGroupCommitResults) go now.
        if (g_retiring)
            g_retiring->erase(std::remove_if(g_retiring->begin(), g_retiring->end(),
                                             [](const Retiring &r) { return r.client->commits_in_flight() == 0; }),
                              g_retiring->end());
    } catch (...) {
        // erasing from a map does not throw; nothing to report
    }
}

void TakeGroupCommitResults(char *warning, size_t size) noexcept {
    warning[0] = '\0';
    try {
        ForEachCommittingGroup([&](const std::string &name, kafka::Client &g) {
            std::vector<std::string> failures = kafka::TakeCommitResults(g, 0);
            if (!failures.empty() && !warning[0])
                snprintf(warning, size,
                         "could not commit the positions of consumer group \"%s\" to Kafka: %s (the positions "
                         "in PostgreSQL are unchanged; the next commit sends them again)",
                         name.c_str(), failures[0].c_str());
        });
    } catch (...) {
    }
}

namespace {
void FlushGroupCommits(int, Datum) {
    try {
        kafka::Deadline deadline(std::min(pg::g_timeout_ms, 5000));
        ForEachCommittingGroup(
            [&](const std::string &, kafka::Client &g) { kafka::TakeCommitResults(g, deadline.RemainingMs()); });
    } catch (...) {
    }
}
bool g_flush_registered = false;
}  // namespace

void RegisterGroupCommitFlush() {
    if (g_flush_registered) return;
    before_shmem_exit(FlushGroupCommits, (Datum)0);
    g_flush_registered = true;
}

int FailCachedProducersForTest() {
    int n = 0;
    if (!g_cache) return 0;
    for (auto &[key, e] : *g_cache)
        for (kafka::Producer *p : {e.producer.get(), e.txn_producer.get()})
            if (p && rd_kafka_test_fatal_error(p->handle(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                               "kafka_fdw self-test") == RD_KAFKA_RESP_ERR_NO_ERROR)
                n++;
    return n;
}

void RegisterConnectionCallbacks() {
    CacheRegisterSyscacheCallback(FOREIGNSERVEROID, InvalidateAll, (Datum)0);
    CacheRegisterSyscacheCallback(USERMAPPINGOID, InvalidateAll, (Datum)0);
}

ClientSpec *GetClientSpec(Oid serverid, Oid userid, bool check_usage) {
    ForeignServer *server = GetForeignServer(serverid);
    if (check_usage) {
        AclResult aclresult = pg_foreign_server_aclcheck(serverid, GetUserId(), ACL_USAGE);
        if (aclresult != ACLCHECK_OK) aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);
    }
    // The user's own mapping, else PUBLIC's, else none.
    List *um_options = NIL;
    HeapTuple tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid), ObjectIdGetDatum(serverid));
    if (!HeapTupleIsValid(tp))
        tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid), ObjectIdGetDatum(serverid));
    if (HeapTupleIsValid(tp)) {
        bool isnull;
        Datum d = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp, Anum_pg_user_mapping_umoptions, &isnull);
        if (!isnull) um_options = untransformRelOptions(d);
        ReleaseSysCache(tp);
    }

    ClientSpec *s = (ClientSpec *)palloc0(sizeof(ClientSpec));
    s->serverid = serverid;
    s->userid = userid;
    s->server_name = pstrdup(server->servername);
    s->partitioner = "murmur2_random";
    s->isolation_level = "read_committed";
    s->cluster_id = psprintf(UINT64_FORMAT, GetSystemIdentifier());
    s->backend_id = MyBackendId;
    int max = list_length(server->options) + list_length(um_options) + 4;
    s->names = (const char **)palloc0(sizeof(char *) * max);
    s->values = (const char **)palloc0(sizeof(char *) * max);

    ListCell *lc;
    foreach (lc, server->options) {
        DefElem *d = (DefElem *)lfirst(lc);
        if (strcmp(d->defname, "brokers") == 0) AddProp(s, "bootstrap.servers", defGetString(d));
        else if (strcmp(d->defname, "partitioner") == 0) s->partitioner = defGetString(d);
        else if (strcmp(d->defname, "isolation_level") == 0) s->isolation_level = defGetString(d);
        else if (strcmp(d->defname, "transactional") == 0) s->transactional = OptBool(d);
        else if (!IsServerFdwOption(d->defname)) AddProp(s, d->defname, defGetString(d));
    }
    bool has_mechanism = false, has_protocol = false, has_user = false;
    for (int i = 0; i < s->nprops; i++) {
        if (strcmp(s->names[i], "sasl.mechanisms") == 0 || strcmp(s->names[i], "sasl.mechanism") == 0)
            has_mechanism = true;
        if (strcmp(s->names[i], "security.protocol") == 0) has_protocol = true;
    }
    foreach (lc, um_options) {
        DefElem *d = (DefElem *)lfirst(lc);
        if (strcmp(d->defname, "user") == 0) {
            AddProp(s, "sasl.username", defGetString(d));
            has_user = true;
        } else if (strcmp(d->defname, "password") == 0) {
            AddProp(s, "sasl.password", defGetString(d));
        } else {
            if (strcmp(d->defname, "sasl.mechanisms") == 0 || strcmp(d->defname, "sasl.mechanism") == 0)
                has_mechanism = true;
            AddProp(s, d->defname, defGetString(d));
        }
    }
    if (has_user && !has_mechanism) AddProp(s, "sasl.mechanisms", "PLAIN");
    if (has_user && !has_protocol) AddProp(s, "security.protocol", "SASL_PLAINTEXT");
    return s;
}

ClientSpec *GetClientSpecByName(const char *server_name) {
    ForeignServer *server = GetForeignServerByName(server_name, false);
    // Only servers of this wrapper.
    ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
    if (strcmp(fdw->fdwname, "kafka_fdw") != 0)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("server \"%s\" is not a kafka_fdw server", server_name)));
    return GetClientSpec(server->serverid, GetUserId(), true);
}

const kafka::Properties &ReaderDefaults() {
    // A few MB of prefetched messages at most: both thresholds hold for the
    // whole scan (its partitions share one queue), each fetch brings at most
    // 256 kB per partition, and before librdkafka 2.4 the consumer wakes the
    // fetchers when the queue drains (kafka/consumer.hpp), so little
    // throughput is lost.
    // librdkafka 2.4+ looks at a full queue again only after
    // fetch.queue.backoff.ms (default 1 s) and the consumer's wake-ups do not
    // help there: 1 ms (measured: bench/README.md, "Session 22", and
    // bench/scan_prefetch.sh).
    // A fetch that finds nothing new waits fetch.wait.max.ms at the broker.
    // A reader's ranges end at watermarks it knows, so it waits there only
    // for the end-of-partition event after transaction markers, or after it
    // has fetched its last message; but librdkafka sends a broker its next
    // fetch only once the previous one returned, so a scan's consumer
    // started again on new ranges (a rescan, a parallel claim) first sits
    // out that wait: 2 ms.  (An open cursor whose messages are all
    // prefetched polls the broker that often meanwhile.)
    static const kafka::Properties defaults = [] {
        kafka::Properties d = {{"queued.min.messages", "5000"},
                               {"queued.max.messages.kbytes", "2048"},
                               {"max.partition.fetch.bytes", "262144"},
                               {"fetch.wait.max.ms", "2"},
                               {"fetch.error.backoff.ms", "5"}};
        if (rd_kafka_version() >= 0x02040000) d.emplace_back("fetch.queue.backoff.ms", "1");
        return d;
    }();
    return defaults;
}

kafka::Config MakeConfig(const ClientSpec *spec, const kafka::Properties &extra_defaults) {
    kafka::Config conf;
    // Defaults first; the server's and user mapping's settings override them.
    conf.Set("client.id", "kafka_fdw");
    conf.Set("socket.connection.setup.timeout.ms", std::to_string(std::max(1000, pg::g_timeout_ms)));
    conf.Set("isolation.level", spec->isolation_level);
    conf.SetAll(extra_defaults);
    for (int i = 0; i < spec->nprops; i++) conf.Set(spec->names[i], spec->values[i]);
    return conf;
}

int WatermarksCpp(const ClientSpec *spec, const char *topic, int64 **lows, int64 **highs) {
    kafka::Client &c = MetadataClient(spec);
    std::vector<kafka::Watermarks> wm = kafka::TopicWatermarks(c, topic, pg::g_timeout_ms);
    int n = static_cast<int>(wm.size());
    *lows = static_cast<int64 *>(pg::AllocOrThrow(sizeof(int64) * (n + 1)));
    *highs = static_cast<int64 *>(pg::AllocOrThrow(sizeof(int64) * (n + 1)));
    for (int p = 0; p < n; p++) {
        (*lows)[p] = wm[p].low;
        (*highs)[p] = wm[p].high;
    }
    return n;
}

kafka::Client &MetadataClient(const ClientSpec *spec) {
    CacheEntry &e = Lookup(spec);
    if (!e.meta) {
        kafka::Config conf = MakeConfig(spec);
        conf.Set("allow.auto.create.topics", "false");
        e.meta = std::make_unique<kafka::Client>(kafka::Client::Type::Consumer, std::move(conf));
        e.timeout_ms = pg::g_timeout_ms;
    }
    return *e.meta;
}

kafka::Client &GroupClient(const ClientSpec *spec, const char *group) {
    CacheEntry &e = Lookup(spec);
    std::unique_ptr<kafka::Client> &slot = e.groups[group];
    if (!slot) {
        kafka::Config conf = MakeConfig(spec);
        conf.Set("group.id", group);
        conf.Set("enable.auto.commit", "false");
        conf.Set("enable.auto.offset.store", "false");
        slot = std::make_unique<kafka::Client>(kafka::Client::Type::Consumer, std::move(conf));
        e.timeout_ms = pg::g_timeout_ms;
    }
    return *slot;
}

kafka::Producer &CachedProducer(const ClientSpec *spec, bool transactional) {
    // A write may follow: a scan of a statement planned before it takes its
    // own watermarks (scan_plan.cpp).
    BumpExecutorEpoch();
    CacheEntry &e = Lookup(spec);
    std::unique_ptr<kafka::Producer> &slot = transactional ? e.txn_producer : e.producer;
    if (!slot) {
        kafka::Config conf;
        conf.Set("client.id", "kafka_fdw");
        conf.Set("acks", "all");
        conf.Set("enable.idempotence", "true");
        conf.Set("linger.ms", "5");
        conf.Set("message.timeout.ms", std::to_string(pg::g_timeout_ms));
        conf.Set("socket.connection.setup.timeout.ms", std::to_string(std::max(1000, pg::g_timeout_ms)));
        // An unknown topic fails its messages well before the timeout.
        conf.Set("topic.metadata.propagation.max.ms", std::to_string(std::max(100, pg::g_timeout_ms / 3)));
        for (int i = 0; i < spec->nprops; i++) conf.Set(spec->names[i], spec->values[i]);
        if (transactional) {
            // Unique among live backends of this cluster (backend id), per
            // server and user; a crashed backend's successor with the same id
            // fences the dead one's open transaction, which is what we want.
            conf.Set("transactional.id", std::string("kafka_fdw-") + spec->cluster_id + "-" +
                                             std::to_string(spec->serverid) + "-" + std::to_string(spec->userid) +
                                             "-" + std::to_string(spec->backend_id));
            conf.Set("transaction.timeout.ms", std::to_string(std::max(60000, pg::g_timeout_ms * 2)));
        }
        slot = std::make_unique<kafka::Producer>(std::move(conf), spec->partitioner, pg::g_timeout_ms);
        e.timeout_ms = pg::g_timeout_ms;
    }
    return *slot;
}

}  // namespace kafka_fdw::fdw
