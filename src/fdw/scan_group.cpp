// Scans of a group table: each partition starts at the consumer group's
// stored position (kafka.group_offsets, src/fdw/groups.cpp), locked for the
// transaction; the positions the scan reached are stored at its end and
// queued for commit to the group coordinator (src/fdw/xact.cpp).  Two open
// scans of one group and topic in one transaction are refused.
#include "kafka/metadata.hpp"

#include "fdw/scan_internal.hpp"
#include "fdw/groups.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/snapmgr.h"
}

#include <vector>

namespace kafka_fdw::fdw {

namespace {

// Group scans open in this transaction (a scan is open from its start to its
// end or the flush at EOF).  Two open scans of one group and topic would read
// the same positions and return every message twice: the second is refused.
struct OpenGroupScan {
    LocalTransactionId lxid;
    const void *scan;
    Oid serverid;
    char group[NAMEDATALEN * 2];
    char topic[NAMEDATALEN * 4];
};
constexpr int kMaxOpenGroupScans = 64;
OpenGroupScan g_open_groups[kMaxOpenGroupScans];

void BeginGroupScan(ScanState *s) {
    TableDef *t = s->table;
    OpenGroupScan *free_slot = nullptr;
    for (auto &o : g_open_groups) {
        bool live = o.scan && o.lxid == kafka_fdw::pg::MyLxid();
        if (!live) {
            if (!free_slot) free_slot = &o;
            continue;
        }
        if (o.scan != s && o.serverid == s->spec->serverid && strcmp(o.group, t->group) == 0 &&
            strcmp(o.topic, t->topic) == 0)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("consumer group \"%s\" is read twice at once in one statement", t->group),
                            errdetail("Both reads of topic \"%s\" would start at the same positions and return "
                                      "the same messages.",
                                      t->topic),
                            errhint("Read the group table once, e.g. in a MATERIALIZED CTE, and use that.")));
    }
    if (!free_slot) return;  // too many at once to track: not refused
    free_slot->lxid = kafka_fdw::pg::MyLxid();
    free_slot->scan = s;
    free_slot->serverid = s->spec->serverid;
    strlcpy(free_slot->group, t->group, sizeof free_slot->group);
    strlcpy(free_slot->topic, t->topic, sizeof free_slot->topic);
}

}  // namespace

void EndGroupScan(ScanState *s) {
    for (auto &o : g_open_groups)
        if (o.scan == s) o.scan = nullptr;
}

// Group tables: each partition starts at the group's stored position
// (created from the broker's committed offset or group_start), locked in
// partition order (no deadlocks); with skip_locked, partitions another
// transaction holds are left out.
void ApplyGroupPositions(ScanState *s) {
    TableDef *t = s->table;
    const char *server = s->spec->server_name;
    kafka::PartitionRange *rs = s->rt->ranges.data();
    const kafka::Watermarks *wm = s->rt->watermarks.data();
    int n = (int)s->rt->ranges.size();
    int maxp = 0;
    for (int i = 0; i < n; i++) maxp = Max(maxp, rs[i].partition + 1);
    s->group_nparts = maxp;
    s->group_next = (int64 *)MemoryContextAlloc(s->cxt, sizeof(int64) * (maxp + 1));
    for (int p = 0; p <= maxp; p++) s->group_next[p] = -1;

    GroupAuthorize(server, t->group, true, s->spec->userid);  // the user mapping's role
    BeginGroupScan(s);
    int32 *missing = (int32 *)palloc0(sizeof(int32) * (n + 1));
    int *missing_idx = (int *)palloc0(sizeof(int) * (n + 1));
    int nmissing = 0;
    for (int i = 0; i < n; i++)
        if (GroupReadPosition(server, t->group, t->topic, rs[i].partition) < 0) {
            missing_idx[nmissing] = i;
            missing[nmissing++] = rs[i].partition;
        }
    if (nmissing > 0) {
        int64 *committed = (int64 *)palloc0(sizeof(int64) * nmissing);
        KFDW_ENTRY({
            std::vector<int32_t> parts(missing, missing + nmissing);
            auto c = kafka::CommittedOffsets(GroupClient(s->spec, t->group), t->topic, parts, pg::g_timeout_ms);
            for (int k = 0; k < nmissing; k++) committed[k] = c[k];
        });
        // group_start 'latest' is for a group new to this topic: a partition
        // added to a topic the group already reads here is read in full.
        bool group_exists = nmissing < n;
        for (int k = 0; k < nmissing; k++) {
            const kafka::Watermarks &w = wm[missing_idx[k]];
            int64 init = committed[k] >= 0 ? committed[k] : (t->group_latest && !group_exists ? w.high : w.low);
            GroupInitPosition(server, t->group, t->topic, missing[k], init);
        }
    }
    for (int i = 0; i < n; i++) {
        bool skipped = false;
        int64 next = GroupLockPosition(server, t->group, t->topic, rs[i].partition, t->skip_locked, &skipped);
        if (skipped) {
            rs[i].end = rs[i].start;  // another transaction consumes this partition now
            continue;
        }
        if (next < wm[i].low) {
            if (t->gap_error)
                ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                                errmsg("consumer group \"%s\" lost " INT64_FORMAT " messages of topic \"%s\" partition %d",
                                       t->group, wm[i].low - next, t->topic, rs[i].partition),
                                errdetail("Its position is offset " INT64_FORMAT ", but retention deleted the messages before offset " INT64_FORMAT ".",
                                          next, wm[i].low),
                                errhint("Set on_gap 'warning' to continue from the oldest message, or move the group with kafka.reset_group().")));
            ereport(WARNING, (errmsg("consumer group \"%s\" skips " INT64_FORMAT " messages of topic \"%s\" partition %d deleted by retention (offsets " INT64_FORMAT " to " INT64_FORMAT ")",
                                     t->group, wm[i].low - next, t->topic, rs[i].partition, next, wm[i].low - 1)));
            next = wm[i].low;
            s->group_next[rs[i].partition] = next;  // the position moves past the gap
        }
        int64 fresh_high = wm[i].high;
        if (next > fresh_high) {
            // Another transaction may have moved the position past our
            // snapshot while we waited for its lock: compare with the log's
            // end now.
            int32 part = rs[i].partition;
            KFDW_ENTRY({
                fresh_high = kafka::QueryWatermarks(MetadataClient(s->spec), t->topic, part, pg::g_timeout_ms).high;
            });
        }
        if (next > fresh_high) {
            // The log is shorter than the position: the topic was deleted and
            // created again (or truncated).  As a Kafka consumer's offset
            // reset: start again from group_start, loudly.
            int64 restart = t->group_latest ? wm[i].high : wm[i].low;
            ereport(WARNING,
                    (errmsg("consumer group \"%s\" is at offset " INT64_FORMAT " of topic \"%s\" partition %d, past its end (" INT64_FORMAT ")",
                            t->group, next, t->topic, rs[i].partition, wm[i].high),
                     errdetail("The topic was created again or truncated; the group starts again from offset " INT64_FORMAT " (group_start).",
                               restart)));
            next = restart;
            s->group_next[rs[i].partition] = next;
        }
        rs[i].start = Min(Max(rs[i].start, next), wm[i].high);
        rs[i].end = Max(rs[i].start, rs[i].end);
        // Every partition the scan holds is stored and committed to the
        // broker at the end, even if it returns nothing: Kafka's tools then
        // show the group's position on every partition.
        if (s->group_next[rs[i].partition] < 0) s->group_next[rs[i].partition] = next;
    }
}

// Stores the positions the scan reached (Postgres zone), in the current
// transaction, and queues their commit to the group coordinator.
void FlushGroupPositions(ScanState *s) {
    if (!s->group_next) return;
    TableDef *t = s->table;
    // ExecutorEnd of a portal (LIMIT, cursors) runs without an active snapshot.
    bool pushed = false;
    if (!ActiveSnapshotSet()) {
        PushActiveSnapshot(GetTransactionSnapshot());
        pushed = true;
    }
    for (int p = 0; p < s->group_nparts; p++) {
        int64 next = s->group_next[p];
        if (next < 0) continue;
        GroupStorePosition(s->spec->server_name, t->group, t->topic, p, next);
        SubTransactionId subid = GetCurrentSubTransactionId();
        KFDW_ENTRY({
            GroupCommit c;
            c.client = &GroupClient(s->spec, t->group);
            c.topic = t->topic;
            c.partition = p;
            c.next_offset = next;
            c.subid = subid;
            AddGroupCommit(std::move(c));
        });
        s->group_next[p] = -1;
    }
    if (pushed) PopActiveSnapshot();
}

}  // namespace kafka_fdw::fdw
