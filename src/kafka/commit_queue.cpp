// The CDC ack ledger (see commit_queue.hpp).
#include "kafka/commit_queue.hpp"

#include "kafka/errors.hpp"

namespace kafka_fdw::kafka {

CommitQueue::~CommitQueue() {
    for (const Entry &e : q_) producer_.CloseLedger(e.ledger);
}

uint32_t CommitQueue::Open(uint64_t final_lsn) {
    uint32_t id = producer_.OpenLedger();
    q_.push_back(Entry{final_lsn, id, false, false});
    return id;
}

void CommitQueue::Close(uint32_t ledger) {
    for (auto it = q_.rbegin(); it != q_.rend(); ++it) {
        if (it->ledger == ledger) {
            it->closed = true;
            return;
        }
    }
}

void CommitQueue::MarkHeld(uint32_t ledger) {
    for (auto it = q_.rbegin(); it != q_.rend(); ++it) {
        if (it->ledger == ledger) {
            it->held = true;
            return;
        }
    }
}

void CommitQueue::ReleaseHeld() {
    for (Entry &e : q_) e.held = false;
}

uint64_t CommitQueue::ConfirmTarget(uint64_t read_end) {
    while (!q_.empty()) {
        Entry &head = q_.front();
        if (!head.closed || head.held) return head.final_lsn;
        const Ledger &l = producer_.GetLedger(head.ledger);
        if (l.failed > 0) producer_.CheckLedger(head.ledger);  // throws
        if (l.pending() > 0) return head.final_lsn;
        producer_.CloseLedger(head.ledger);
        q_.pop_front();
    }
    return read_end;
}

uint64_t CommitQueue::pending_messages() const {
    uint64_t n = 0;
    for (const Entry &e : q_) n += producer_.GetLedger(e.ledger).pending();
    return n;
}

}  // namespace kafka_fdw::kafka
