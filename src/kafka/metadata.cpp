#include "kafka/metadata.hpp"

#include "kafka/errors.hpp"
#include "kafka/wait.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <memory>

namespace kafka_fdw::kafka {

namespace {

struct MetadataDeleter {
    void operator()(const rd_kafka_metadata_t *md) const { rd_kafka_metadata_destroy(md); }
};
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

bool Retriable(rd_kafka_resp_err_t err) {
    // (the coordinator errors: newer librdkafka (seen with 2.14) hands a
    // fresh broker's "Not coordinator" to rd_kafka_committed's caller)
    return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
           err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
           err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
           err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
           err == RD_KAFKA_RESP_ERR__WAIT_COORD || err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
           err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
           err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS;
}

// After a quick retriable answer, wait out the rest of the slice so a retry
// loop never floods the broker or spins the CPU.
void RestOfSlice(std::chrono::steady_clock::time_point started, int slice_ms) {
    auto elapsed = std::chrono::steady_clock::now() - started;
    auto rest = std::chrono::milliseconds(slice_ms) - elapsed;
    if (rest > std::chrono::milliseconds(0)) std::this_thread::sleep_for(rest);
}

[[noreturn]] void ThrowTimeout(Client &client, const std::string &what, rd_kafka_resp_err_t err,
                               int timeout_ms) {
    std::string detail = client.last_error_text().empty() ? rd_kafka_err2str(err)
                                                          : client.last_error_text();
    ErrorKind kind = client.last_error() != RD_KAFKA_RESP_ERR_NO_ERROR
                         ? KindOf(client.last_error())
                         : ErrorKind::Timeout;
    if (kind != ErrorKind::Auth) kind = ErrorKind::Connection;
    client.SetUnreachable(true);
    throw Error(kind, "could not " + what + " within " + std::to_string(timeout_ms) + " ms",
                detail, err)
        .Hint("Check that the brokers are reachable, or raise kafka_fdw.timeout.");
}

// Metadata for one topic or all, retried in slices until the deadline.
MetadataPtr FetchMetadata(Client &client, const std::string *topic, int timeout_ms) {
    Deadline deadline(timeout_ms);
    rd_kafka_topic_t *rkt = nullptr;
    if (topic) {
        // A topic handle on a consumer does not auto-create the topic.
        rkt = rd_kafka_topic_new(client.handle(), topic->c_str(), nullptr);
        if (!rkt) Throw(rd_kafka_last_error(), "could not create topic handle");
    }
    struct TopicGuard {
        rd_kafka_topic_t *t;
        ~TopicGuard() {
            if (t) rd_kafka_topic_destroy(t);
        }
    } guard{rkt};

    rd_kafka_resp_err_t err;
    for (;;) {
        const rd_kafka_metadata_t *md = nullptr;
        auto started = std::chrono::steady_clock::now();
        int slice = deadline.SliceMs();
        err = rd_kafka_metadata(client.handle(), topic ? 0 : 1, rkt, &md, slice);
        client.Poll(0);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            MetadataPtr p(md);
            // A topic that is still being created reports LEADER_NOT_AVAILABLE.
            if (topic && p->topic_cnt == 1 && Retriable(p->topics[0].err) && !deadline.Expired()) {
                RestOfSlice(started, slice);
                CheckInterrupts();
                continue;
            }
            client.SetUnreachable(false);
            return p;
        }
        if (!Retriable(err) || deadline.Expired()) break;
        RestOfSlice(started, slice);
        CheckInterrupts();
    }
    ThrowTimeout(client, "fetch metadata", err, timeout_ms);
}

}  // namespace

std::vector<TopicInfo> ListTopics(Client &client, int timeout_ms) {
    MetadataPtr md = FetchMetadata(client, nullptr, timeout_ms);
    std::vector<TopicInfo> out;
    for (int i = 0; i < md->topic_cnt; i++) {
        const auto &t = md->topics[i];
        if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
        out.push_back({t.topic, t.partition_cnt});
    }
    std::sort(out.begin(), out.end(),
              [](const TopicInfo &a, const TopicInfo &b) { return a.name < b.name; });
    return out;
}

int PartitionCount(Client &client, const std::string &topic, int timeout_ms) {
    MetadataPtr md = FetchMetadata(client, &topic, timeout_ms);
    if (md->topic_cnt != 1)
        throw Error(ErrorKind::UnknownTopic, "topic \"" + topic + "\" does not exist").At(topic);
    const auto &t = md->topics[0];
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt == 0))
        throw Error(ErrorKind::UnknownTopic, "topic \"" + topic + "\" does not exist",
                    rd_kafka_err2str(t.err), t.err)
            .At(topic);
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw Error(KindOf(t.err), "could not get metadata of topic \"" + topic + "\"",
                    rd_kafka_err2str(t.err), t.err)
            .At(topic);
    return t.partition_cnt;
}

namespace {

// ListOffsets of every partition in `partitions` at `ts`: a timestamp, or
// RD_KAFKA_OFFSET_BEGINNING / RD_KAFKA_OFFSET_END for the log start offset /
// the high watermark (the last stable offset for a read_committed client).
// Through rd_kafka_offsets_for_times, which ends at its timeout:
// rd_kafka_query_watermark_offsets (librdkafka 2.0.2) waits for its replies
// up to socket.timeout.ms whatever its timeout, i.e. up to 60 s without an
// interrupt check when the partition's leader stopped answering after it was
// looked up.  The slices grow from 100 ms to 1 s so that a slow broker's
// answer still arrives in one of them.  Returns false with the error in *err
// on a failure that is not retriable or when the deadline passed (then the
// client is marked unreachable).
bool ListOffsetsAt(Client &client, const std::string &topic, const std::vector<int32_t> &partitions,
                   int64_t ts, Deadline &deadline, std::vector<int64_t> *out, rd_kafka_resp_err_t *err) {
    for (int attempt = 0;; attempt++) {
        rd_kafka_topic_partition_list_t *list =
            rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
        for (int32_t p : partitions) rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = ts;
        auto started = std::chrono::steady_clock::now();
        int slice = std::max(1, std::min(deadline.RemainingMs(), std::min(1000, kSliceMs << std::min(attempt, 4))));
        *err = rd_kafka_offsets_for_times(client.handle(), list, slice);
        client.Poll(0);
        out->clear();
        for (int i = 0; i < list->cnt && *err == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
            if (list->elems[i].err) *err = list->elems[i].err;
            out->push_back(list->elems[i].offset);
        }
        rd_kafka_topic_partition_list_destroy(list);
        if (*err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            client.SetUnreachable(false);
            return true;
        }
        if (!Retriable(*err)) return false;
        if (deadline.Expired()) {
            client.SetUnreachable(true);
            return false;
        }
        RestOfSlice(started, slice);
        CheckInterrupts();
    }
}

}  // namespace

namespace {

// Low and high watermarks of `partitions` (two ListOffsets rounds, one
// request per leader broker each).  An error names the partition when there
// is one.
std::vector<Watermarks> WatermarksOf(Client &client, const std::string &topic, const std::vector<int32_t> &partitions,
                                     Deadline &deadline, int timeout_ms) {
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::vector<int64_t> hi, lo;
    if (ListOffsetsAt(client, topic, partitions, RD_KAFKA_OFFSET_END, deadline, &hi, &err) &&
        ListOffsetsAt(client, topic, partitions, RD_KAFKA_OFFSET_BEGINNING, deadline, &lo, &err)) {
        std::vector<Watermarks> out;
        out.reserve(partitions.size());
        // The high watermark was taken first: a log start that moved past it
        // since (retention) means the partition is empty now.
        for (size_t i = 0; i < partitions.size(); i++) out.push_back({partitions[i], std::min(lo[i], hi[i]), hi[i]});
        return out;
    }
    bool one = partitions.size() == 1;
    std::string what = "could not query watermarks of topic \"" + topic + "\"" +
                       (one ? " partition " + std::to_string(partitions[0]) : std::string());
    try {
        if (!Retriable(err)) throw Error(KindOf(err), what, rd_kafka_err2str(err), err);
        ThrowTimeout(client, "query watermarks", err, timeout_ms);
    } catch (Error &e) {
        if (one) e.At(topic, partitions[0]);
        else e.At(topic);
        throw;
    }
}

}  // namespace

Watermarks QueryWatermarks(Client &client, const std::string &topic, int32_t partition,
                           int timeout_ms) {
    Deadline deadline(timeout_ms);
    return WatermarksOf(client, topic, {partition}, deadline, timeout_ms)[0];
}

namespace {
std::atomic<uint64_t> g_topic_watermarks_calls{0};
}  // namespace

uint64_t TopicWatermarksCalls() noexcept { return g_topic_watermarks_calls.load(std::memory_order_relaxed); }

std::vector<Watermarks> TopicWatermarks(Client &client, const std::string &topic, int timeout_ms) {
    g_topic_watermarks_calls.fetch_add(1, std::memory_order_relaxed);
    Deadline deadline(timeout_ms);
    int n = PartitionCount(client, topic, timeout_ms);
    std::vector<int32_t> partitions(static_cast<size_t>(n));
    for (int p = 0; p < n; p++) partitions[static_cast<size_t>(p)] = p;
    return WatermarksOf(client, topic, partitions, deadline, timeout_ms);
}

std::vector<int64_t> OffsetsForTime(Client &client, const std::string &topic,
                                    const std::vector<int32_t> &partitions, int64_t ts_ms,
                                    int timeout_ms, const std::vector<Watermarks> *known) {
    Deadline deadline(timeout_ms);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::vector<int64_t> out;
    if (!ListOffsetsAt(client, topic, partitions, ts_ms, deadline, &out, &err))
        throw Error(KindOf(err), "could not look up offsets by timestamp in topic \"" + topic + "\"",
                    rd_kafka_err2str(err), err)
            .At(topic);
    // -1 (no message at or after ts): the end of the partition.
    for (size_t i = 0; i < out.size(); i++) {
        if (out[i] >= 0) continue;
        size_t p = static_cast<size_t>(partitions[i]);
        out[i] = known && p < known->size() ? (*known)[p].high
                                            : QueryWatermarks(client, topic, partitions[i], deadline.RemainingMs() + 1).high;
    }
    return out;
}

std::vector<int64_t> CommittedOffsets(Client &group_client, const std::string &topic,
                                      const std::vector<int32_t> &partitions, int timeout_ms) {
    Deadline deadline(timeout_ms);
    for (;;) {
        rd_kafka_topic_partition_list_t *list =
            rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
        for (int32_t p : partitions) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
        auto started = std::chrono::steady_clock::now();
        int slice = deadline.SliceMs();
        rd_kafka_resp_err_t err = rd_kafka_committed(group_client.handle(), list, slice);
        group_client.Poll(0);
        std::vector<int64_t> out;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            for (int i = 0; i < list->cnt; i++) out.push_back(list->elems[i].offset >= 0 ? list->elems[i].offset : -1);
        rd_kafka_topic_partition_list_destroy(list);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return out;
        if ((!Retriable(err) && err != RD_KAFKA_RESP_ERR__TIMED_OUT) || deadline.Expired()) {
            if (Retriable(err)) group_client.SetUnreachable(true);
            throw Error(KindOf(err), "could not read the committed offsets of the consumer group",
                        rd_kafka_err2str(err), err)
                .At(topic);
        }
        RestOfSlice(started, slice);
        CheckInterrupts();
    }
}

namespace {

struct QueueDeleter {
    void operator()(rd_kafka_queue_t *q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
    void operator()(rd_kafka_event_t *e) const { rd_kafka_event_destroy(e); }
};
struct OptionsDeleter {
    void operator()(rd_kafka_AdminOptions_t *o) const { rd_kafka_AdminOptions_destroy(o); }
};

// Waits for the result event of an admin request in slices.
std::unique_ptr<rd_kafka_event_t, EventDeleter> AwaitAdmin(Client &client, rd_kafka_queue_t *q,
                                                           int timeout_ms, const char *what) {
    Deadline deadline(timeout_ms + 1000);  // the request's own timeout answers first
    for (;;) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, deadline.SliceMs());
        client.Poll(0);
        if (ev) return std::unique_ptr<rd_kafka_event_t, EventDeleter>(ev);
        if (deadline.Expired()) {
            client.SetUnreachable(true);
            throw Error(ErrorKind::Timeout, std::string("could not ") + what + " within " +
                                                std::to_string(timeout_ms) + " ms");
        }
        CheckInterrupts();
    }
}

std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter> AdminOptions(Client &client,
                                                                      rd_kafka_admin_op_t op,
                                                                      int timeout_ms) {
    std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter> opts(
        rd_kafka_AdminOptions_new(client.handle(), op));
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(opts.get(), timeout_ms, errstr, sizeof errstr);
    rd_kafka_AdminOptions_set_operation_timeout(opts.get(), timeout_ms, errstr, sizeof errstr);
    return opts;
}

void CheckTopicResults(const rd_kafka_topic_result_t **res, size_t n, const std::string &topic,
                       const char *what) {
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
        const char *msg = rd_kafka_topic_result_error_string(res[i]);
        ErrorKind kind = KindOf(err);
        std::string message = std::string("could not ") + what + " topic \"" + topic + "\"";
        if (kind == ErrorKind::AlreadyExists) message = "topic \"" + topic + "\" already exists";
        if (kind == ErrorKind::UnknownTopic) message = "topic \"" + topic + "\" does not exist";
        throw Error(kind, message, msg ? msg : rd_kafka_err2str(err), err).At(topic);
    }
}

}  // namespace

void CreateTopic(Client &client, const std::string &topic, int partitions, int replication,
                 const Properties &config, int timeout_ms) {
    char errstr[512];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic.c_str(), partitions, replication, errstr, sizeof errstr);
    if (!nt) throw Error(ErrorKind::InvalidConfig, "invalid topic definition", errstr).At(topic);
    std::unique_ptr<rd_kafka_NewTopic_t, void (*)(rd_kafka_NewTopic_t *)> guard(
        nt, rd_kafka_NewTopic_destroy);
    for (const auto &[k, v] : config) {
        rd_kafka_resp_err_t err = rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
        if (err) Throw(err, "invalid topic configuration \"" + k + "\"");
    }
    std::unique_ptr<rd_kafka_queue_t, QueueDeleter> q(rd_kafka_queue_new(client.handle()));
    auto opts = AdminOptions(client, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
    rd_kafka_CreateTopics(client.handle(), &nt, 1, opts.get(), q.get());
    auto ev = AwaitAdmin(client, q.get(), timeout_ms, "create topic");
    if (rd_kafka_event_error(ev.get()))
        throw Error(KindOf(rd_kafka_event_error(ev.get())), "could not create topic \"" + topic + "\"",
                    rd_kafka_event_error_string(ev.get()), rd_kafka_event_error(ev.get()))
            .At(topic);
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
    CheckTopicResults(res, n, topic, "create");
    // Return once the topic is visible in metadata with its partitions, so
    // the next statement can use it.
    Deadline deadline(timeout_ms);
    for (;;) {
        try {
            if (PartitionCount(client, topic, deadline.SliceMs()) >= partitions) return;
        } catch (const Error &) {
            // not visible yet
        }
        if (deadline.Expired()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CheckInterrupts();
    }
}

void CommitOffsetsAsync(Client &group_client, const std::string &topic,
                        const std::vector<std::pair<int32_t, int64_t>> &offsets) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
    for (const auto &[p, o] : offsets) rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = o;
    rd_kafka_resp_err_t err =
        rd_kafka_commit_queue(group_client.handle(), list, group_client.commit_queue(), nullptr, nullptr);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) Throw(err, "could not commit offsets to the consumer group");
    group_client.CommitSent();
}

std::vector<std::string> TakeCommitResults(Client &group_client, int wait_ms) {
    std::vector<std::string> failures;
    Deadline deadline(wait_ms);
    while (group_client.commits_in_flight() > 0) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(group_client.commit_queue(), wait_ms > 0 ? deadline.SliceMs() : 0);
        group_client.Poll(0);
        if (!ev) {
            if (wait_ms <= 0 || deadline.Expired()) break;
            continue;
        }
        std::unique_ptr<rd_kafka_event_t, EventDeleter> guard(ev);
        if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_OFFSET_COMMIT) continue;
        group_client.CommitDone();
        std::string failure;
        if (rd_kafka_event_error(ev)) failure = rd_kafka_event_error_string(ev);
        if (const rd_kafka_topic_partition_list_t *parts = rd_kafka_event_topic_partition_list(ev))
            for (int i = 0; i < parts->cnt && failure.empty(); i++)
                if (parts->elems[i].err)
                    failure = std::string("topic \"") + parts->elems[i].topic + "\", partition " +
                              std::to_string(parts->elems[i].partition) + ": " + rd_kafka_err2str(parts->elems[i].err);
        if (!failure.empty()) failures.push_back(std::move(failure));
    }
    return failures;
}

void DeleteTopic(Client &client, const std::string &topic, int timeout_ms) {
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic.c_str());
    std::unique_ptr<rd_kafka_DeleteTopic_t, void (*)(rd_kafka_DeleteTopic_t *)> guard(
        dt, rd_kafka_DeleteTopic_destroy);
    std::unique_ptr<rd_kafka_queue_t, QueueDeleter> q(rd_kafka_queue_new(client.handle()));
    auto opts = AdminOptions(client, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms);
    rd_kafka_DeleteTopics(client.handle(), &dt, 1, opts.get(), q.get());
    auto ev = AwaitAdmin(client, q.get(), timeout_ms, "delete topic");
    if (rd_kafka_event_error(ev.get()))
        throw Error(KindOf(rd_kafka_event_error(ev.get())), "could not delete topic \"" + topic + "\"",
                    rd_kafka_event_error_string(ev.get()), rd_kafka_event_error(ev.get()))
            .At(topic);
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()), &n);
    CheckTopicResults(res, n, topic, "delete");
    // Return once metadata no longer lists the topic.
    Deadline deadline(timeout_ms);
    while (!deadline.Expired()) {
        try {
            PartitionCount(client, topic, deadline.SliceMs());
        } catch (const Error &e) {
            if (e.kind == ErrorKind::UnknownTopic) return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CheckInterrupts();
    }
}

}  // namespace kafka_fdw::kafka
