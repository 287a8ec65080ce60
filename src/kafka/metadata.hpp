// Cluster metadata: topics, partitions, watermarks, offsets for timestamps, and
// topic administration.  Every call waits in slices (see wait.hpp) and throws
// Error on failure or when timeout_ms passes.
#pragma once
#include "cpp_only.hpp"

#include "kafka/client.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kafka_fdw::kafka {

struct TopicInfo {
    std::string name;
    int partitions;
};

struct Watermarks {
    int32_t partition;
    int64_t low;
    int64_t high;
};

// All topics the brokers know of (internal ones included), sorted by name.
std::vector<TopicInfo> ListTopics(Client &client, int timeout_ms);

// Number of partitions of a topic; throws Error(UnknownTopic) if it does not exist.
int PartitionCount(Client &client, const std::string &topic, int timeout_ms);

// Low and high watermark of one partition (high: the last stable offset for a
// read_committed client).
Watermarks QueryWatermarks(Client &client, const std::string &topic, int32_t partition,
                           int timeout_ms);

// Low and high watermarks of every partition of a topic (partitions 0..n-1 in
// order, n from the metadata): one ListOffsets request per leader broker for
// the high watermarks and one for the log starts, whatever the number of
// partitions.  Throws Error(UnknownTopic) if the topic does not exist.
std::vector<Watermarks> TopicWatermarks(Client &client, const std::string &topic, int timeout_ms);
// How many times this process has called TopicWatermarks (for the tests: a
// statement's planning and scan share one call).
uint64_t TopicWatermarksCalls() noexcept;

// For each partition, the first offset whose timestamp is >= ts_ms (the high
// watermark when there is none: from `known`, indexed by partition, when
// given, else queried).
std::vector<int64_t> OffsetsForTime(Client &client, const std::string &topic,
                                    const std::vector<int32_t> &partitions, int64_t ts_ms,
                                    int timeout_ms, const std::vector<Watermarks> *known = nullptr);

// Consumer groups, on a client whose configuration has group.id (it never
// subscribes nor assigns): the offsets the group coordinator has committed
// (-1 where none), and committing explicit offsets.
std::vector<int64_t> CommittedOffsets(Client &group_client, const std::string &topic,
                                      const std::vector<int32_t> &partitions, int timeout_ms);
// Committing sends the request and returns at once; the results come with
// TakeCommitResults, which waits up to wait_ms (0: only what has arrived)
// while commits are in flight and returns the failures' texts.
void CommitOffsetsAsync(Client &group_client, const std::string &topic,
                        const std::vector<std::pair<int32_t, int64_t>> &offsets);
std::vector<std::string> TakeCommitResults(Client &group_client, int wait_ms);

// Topic administration (Admin API on the client's handle).
void CreateTopic(Client &client, const std::string &topic, int partitions, int replication,
                 const Properties &config, int timeout_ms);
void DeleteTopic(Client &client, const std::string &topic, int timeout_ms);

}  // namespace kafka_fdw::kafka
