#include "kafka/errors.hpp"
#include "kafka/metadata.hpp"

#include "fdw/connection.hpp"
#include "fdw/xact.hpp"
#include "fdw/progress.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "tcop/utility.h"
}

#include <algorithm>
#include <memory>
#include <tuple>

namespace kafka_fdw::fdw {

namespace {

struct OpenTxn {
    kafka::Producer *producer;
    SubTransactionId max_subid;  // highest subtransaction that produced
    bool doomed;
};

struct XactState {
    std::vector<OpenTxn> txns;
    std::vector<PendingMessage> sends;
    std::vector<GroupCommit> group_commits;
};

XactState *g_xact = nullptr;  // backend lifetime

XactState &State() {
    if (!g_xact) g_xact = new XactState();
    return *g_xact;
}

// PRE_COMMIT work (C++ zone): produce buffered sends, await them, commit.
void PreCommitCpp() {
    XactState &st = State();
    std::vector<std::pair<kafka::Producer *, uint32_t>> ledgers;
    auto ledger_of = [&](kafka::Producer *p) {
        for (auto &[prod, id] : ledgers)
            if (prod == p) return id;
        uint32_t id = p->OpenLedger(false);
        ledgers.emplace_back(p, id);
        return id;
    };
    struct LedgerCloser {
        std::vector<std::pair<kafka::Producer *, uint32_t>> &l;
        ~LedgerCloser() {
            for (auto &[p, id] : l) p->CloseLedger(id);
        }
    } closer{ledgers};

    for (auto &m : st.sends) {
        if (m.transactional) JoinKafkaTransaction(*m.producer, m.subid);
        kafka::OutMessage out;
        out.partition = m.partition;
        if (m.key) {
            out.key = m.key->data();
            out.key_len = m.key->size();
        }
        if (m.value) {
            out.value = m.value->data();
            out.value_len = m.value->size();
        }
        out.timestamp_ms = m.timestamp_ms;
        out.headers = &m.headers;
        m.producer->Produce(ledger_of(m.producer), m.topic, out);
    }
    for (auto &[p, id] : ledgers) {
        p->Await(id, p->timeout_ms() + 1000);
        p->CheckLedger(id);
    }
    st.sends.clear();
    for (auto &t : st.txns)
        if (t.doomed)
            throw kafka::Error(kafka::ErrorKind::Delivery,
                               "cannot commit: Kafka messages were produced in a savepoint that was rolled back",
                               "A Kafka transaction cannot drop part of its messages.")
                .Hint("Roll back the whole transaction, or produce after the savepoint.");
    // Commit each Kafka transaction; the one window left: a Kafka commit
    // succeeds and the Postgres commit then fails.
    while (!st.txns.empty()) {
        kafka::Producer *p = st.txns.back().producer;
        p->CommitTransaction(p->timeout_ms());
        st.txns.pop_back();
    }
}

// After COMMIT (C++ zone, never throws): send the positions the transaction
// stored to the broker's group coordinator, without waiting (the COMMIT
// callback cannot be cancelled, and the positions in Postgres are the
// authoritative ones).  Results are taken at the end of a later
// transaction of the session (TakeGroupCommitResults) and at its exit.
void CommitGroupsCpp(char *warning, size_t size) noexcept {
    warning[0] = '\0';
    if (!g_xact || g_xact->group_commits.empty()) return;
    try {
        auto commits = std::move(g_xact->group_commits);
        g_xact->group_commits.clear();
        // Last position per (client, topic, partition) wins; one request per (client, topic).
        std::vector<std::tuple<kafka::Client *, std::string, std::vector<std::pair<int32_t, int64_t>>>> batches;
        for (const auto &c : commits) {
            auto it = std::find_if(batches.begin(), batches.end(), [&](const auto &b) {
                return std::get<0>(b) == c.client && std::get<1>(b) == c.topic;
            });
            if (it == batches.end()) {
                batches.emplace_back(c.client, c.topic, std::vector<std::pair<int32_t, int64_t>>{});
                it = batches.end() - 1;
            }
            auto &offs = std::get<2>(*it);
            auto o = std::find_if(offs.begin(), offs.end(), [&](const auto &x) { return x.first == c.partition; });
            if (o == offs.end()) offs.emplace_back(c.partition, c.next_offset);
            else o->second = c.next_offset;
        }
        for (auto &[client, topic, offs] : batches) {
            try {
                kafka::CommitOffsetsAsync(*client, topic, offs);
            } catch (const std::exception &e) {
                snprintf(warning, size, "could not commit consumer group positions of topic \"%s\" to Kafka: %s",
                         topic.c_str(), e.what());
            }
        }
    } catch (...) {
    }
}

// ABORT work (C++ zone, never throws).
void AbortCpp(char *warning, size_t size) noexcept {
    warning[0] = '\0';
    if (!g_xact) return;
    try {
        g_xact->sends.clear();
        g_xact->group_commits.clear();
        for (auto &t : g_xact->txns) {
            try {
                t.producer->AbortTransaction(t.producer->timeout_ms());
            } catch (const std::exception &e) {
                snprintf(warning, size, "could not abort Kafka transaction: %s", e.what());
            }
        }
        g_xact->txns.clear();
    } catch (...) {
    }
}

void SubAbortCpp(SubTransactionId subid) noexcept {
    if (!g_xact) return;
    auto &sends = g_xact->sends;
    sends.erase(std::remove_if(sends.begin(), sends.end(),
                               [&](const PendingMessage &m) { return m.subid >= subid; }),
                sends.end());
    for (auto &t : g_xact->txns)
        if (t.max_subid >= subid) t.doomed = true;
    auto &gc = g_xact->group_commits;
    gc.erase(std::remove_if(gc.begin(), gc.end(), [&](const GroupCommit &c) { return c.subid >= subid; }), gc.end());
}

void XactCallback(XactEvent event, void *) {
    switch (event) {
    case XACT_EVENT_PRE_COMMIT:
    case XACT_EVENT_PARALLEL_PRE_COMMIT:
        if (!g_xact || (g_xact->sends.empty() && g_xact->txns.empty())) return;
        KFDW_ENTRY({ PreCommitCpp(); });
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT: {
        char warning[700], earlier[700];
        if (g_xact && !g_xact->group_commits.empty()) RegisterGroupCommitFlush();
        TakeGroupCommitResults(earlier, sizeof earlier);
        CommitGroupsCpp(warning, sizeof warning);
        DropUnreachableClients();
        if (earlier[0]) ereport(WARNING, (errmsg("%s", earlier)));
        if (warning[0]) ereport(WARNING, (errmsg("%s", warning)));
        break;
    }
    case XACT_EVENT_PRE_PREPARE:
        if (g_xact && (!g_xact->sends.empty() || !g_xact->txns.empty()))
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("cannot PREPARE a transaction that has produced Kafka messages")));
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT: {
        ProduceProgressAbort(InvalidSubTransactionId);  // a statement that failed before its end
        char warning[600], earlier[700];
        AbortCpp(warning, sizeof warning);
        TakeGroupCommitResults(earlier, sizeof earlier);
        DropUnreachableClients();
        if (earlier[0]) ereport(WARNING, (errmsg("%s", earlier)));
        if (warning[0]) ereport(WARNING, (errmsg("%s", warning)));
        break;
    }
    default:
        break;
    }
}

void SubXactCallback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId, void *) {
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        ProduceProgressAbort(mySubid);
        SubAbortCpp(mySubid);
    }
}

}  // namespace

bool InKafkaTransaction(const kafka::Producer *producer) {
    if (!g_xact) return false;
    for (const auto &t : g_xact->txns)
        if (t.producer == producer) return true;
    return false;
}

bool HasPendingGroupCommits(const kafka::Client *client) {
    // Sent ones are waited for up to twice the timeout: after that the
    // client is no longer kept for them.
    if (client->commits_in_flight() > 0 && client->oldest_commit_age_ms() < 2 * (int64_t)pg::g_timeout_ms)
        return true;
    if (!g_xact) return false;
    for (const auto &c : g_xact->group_commits)
        if (c.client == client) return true;
    return false;
}

void AddGroupCommit(GroupCommit &&c) { State().group_commits.push_back(std::move(c)); }

bool HasPendingSends(const kafka::Producer *producer) {
    if (!g_xact) return false;
    for (const auto &m : g_xact->sends)
        if (m.producer == producer) return true;
    return false;
}

void JoinKafkaTransaction(kafka::Producer &producer, SubTransactionId subid) {
    XactState &st = State();
    for (auto &t : st.txns)
        if (t.producer == &producer) {
            t.max_subid = std::max(t.max_subid, subid);
            return;
        }
    producer.InitTransactions(producer.timeout_ms());
    producer.BeginTransaction();
    st.txns.push_back({&producer, subid, false});
}

void BufferSend(PendingMessage &&msg) { State().sends.push_back(std::move(msg)); }

// --- the executor epoch -----------------------------------------------------

namespace {

uint64 g_executor_epoch = 0;  // backend lifetime
ExecutorStart_hook_type g_prev_executor_start = nullptr;
ExecutorRun_hook_type g_prev_executor_run = nullptr;
ExecutorEnd_hook_type g_prev_executor_end = nullptr;
ProcessUtility_hook_type g_prev_process_utility = nullptr;

// Postgres zone (an ERROR of the standard functions passes through: these
// frames hold nothing to clean up).
void EpochExecutorStart(QueryDesc *query_desc, int eflags) {
    g_executor_epoch++;
    if (g_prev_executor_start) g_prev_executor_start(query_desc, eflags);
    else standard_ExecutorStart(query_desc, eflags);
}

void EpochExecutorRun(KFDW_EXECUTOR_RUN_PARAMS) {
    g_executor_epoch++;
    if (g_prev_executor_run) g_prev_executor_run(KFDW_EXECUTOR_RUN_ARGS);
    else standard_ExecutorRun(KFDW_EXECUTOR_RUN_ARGS);
}

void EpochExecutorEnd(QueryDesc *query_desc) {
    g_executor_epoch++;
    if (g_prev_executor_end) g_prev_executor_end(query_desc);
    else standard_ExecutorEnd(query_desc);
}

void EpochProcessUtility(PlannedStmt *pstmt, const char *query_string, bool read_only_tree,
                         ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *query_env,
                         DestReceiver *dest, QueryCompletion *qc) {
    g_executor_epoch++;
    if (g_prev_process_utility)
        g_prev_process_utility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc);
}

}  // namespace

uint64 ExecutorEpoch() noexcept { return g_executor_epoch; }

void BumpExecutorEpoch() noexcept { g_executor_epoch++; }

void RegisterExecutorHooks() {
    g_prev_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = EpochExecutorStart;
    g_prev_executor_run = ExecutorRun_hook;
    ExecutorRun_hook = EpochExecutorRun;
    g_prev_executor_end = ExecutorEnd_hook;
    ExecutorEnd_hook = EpochExecutorEnd;
    g_prev_process_utility = ProcessUtility_hook;
    ProcessUtility_hook = EpochProcessUtility;
}

void RegisterXactCallbacks() {
    RegisterXactCallback(XactCallback, nullptr);
    RegisterSubXactCallback(SubXactCallback, nullptr);
}

}  // namespace kafka_fdw::fdw
