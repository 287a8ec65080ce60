// Kafka clients per backend: the client settings of a (server, user) pair, and
// a cache of long-lived clients (metadata client, producer) keyed by server and
// user, dropped when the server or a user mapping is altered or dropped (at
// the end of the transaction: postgres_fdw's discipline).
// Scans create their own consumer (owned by the scan's memory context).
#pragma once

#include "kafka/config.hpp"
#include "kafka/producer.hpp"

#include "pg/postgres.hpp"

namespace kafka_fdw::fdw {

// Postgres zone: resolved settings (plain palloc'd data).
struct ClientSpec {
    Oid serverid;
    Oid userid;
    const char *server_name;
    int nprops;
    const char **names;   // librdkafka property names
    const char **values;
    const char *partitioner;      // server default
    const char *isolation_level;  // server default
    bool transactional;           // server default
    const char *cluster_id;       // system identifier, for transactional.id
    int backend_id;
};

// Looks up the server and the user mapping of `userid` (or PUBLIC); a user
// mapping is optional.  Checks USAGE on the server when check_usage.
ClientSpec *GetClientSpec(Oid serverid, Oid userid, bool check_usage);
// By server name (for the kafka.* functions): checks USAGE.
ClientSpec *GetClientSpecByName(const char *server_name);

// C++ zone.
// Our defaults first, then `extra_defaults`, then the server's and user
// mapping's properties (which win).
kafka::Config MakeConfig(const ClientSpec *spec, const kafka::Properties &extra_defaults = {});
// The extra defaults of every reading client (scans, kafka.consume, IMPORT's
// sampling): a bounded prefetch (see kafka/consumer.hpp), short fetch waits.
const kafka::Properties &ReaderDefaults();
kafka::Client &MetadataClient(const ClientSpec *spec);
kafka::Producer &CachedProducer(const ClientSpec *spec, bool transactional);
// A client with group.id = group (never subscribes): committed offsets.
kafka::Client &GroupClient(const ClientSpec *spec, const char *group);

// C++ zone: every partition's watermarks of a topic, into palloc'd arrays
// indexed by partition; returns the partition count.
int WatermarksCpp(const ClientSpec *spec, const char *topic, int64 **lows, int64 **highs);

// At the end of each top-level transaction (nothing points at a cached
// client then but pending group commits and open delivery ledgers, which
// keep theirs): drops the clients of servers and user mappings that changed,
// the cached metadata and group clients that last gave up on the brokers, so
// the session's next statement connects afresh, and the producers that hit a
// fatal error.  A group client with offset commits in flight is not
// destroyed (that waits for them) but set apart until they have reported.
// Clients used by a transaction are never dropped before its end.  Called by
// the xact callback; never throws and calls no Postgres function.
void DropUnreachableClients() noexcept;

// Group positions are sent to the broker after COMMIT without waiting
// (xact.cpp).  C++ zone: the first failure among the results that arrived
// since the last call, as a warning text ("" when none).
void TakeGroupCommitResults(char *warning, size_t size) noexcept;
// Postgres zone: once per backend, an exit callback that waits for the
// commits still in flight (up to kafka_fdw.timeout, at most 5 s), so that a
// session that ends right after its COMMIT still moves the broker's group.
void RegisterGroupCommitFlush();

// Tests only (kafka._bridge_selftest('fatal_producers'), superuser): makes
// librdkafka report a fatal error on every cached producer of this
// session, as a fenced or failed idempotent producer does.  Returns how many.
int FailCachedProducersForTest();

void RegisterConnectionCallbacks();

}  // namespace kafka_fdw::fdw
