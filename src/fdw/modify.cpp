// INSERT and COPY FROM into a topic: one message per row, encoded by the
// table's format; the statement succeeds only when the broker acknowledged
// every message (EndForeignModify awaits the statement's ledger).  Batched
// inserts, RETURNING of the assigned partition and offset, and transactional
// producers (see xact.hpp).
//
// The row encoding is in modify_encode.cpp; here the statement: planning,
// Begin (the producer, its ledger, the encoders), rows buffered for
// ProduceBatch or produced one by one (RETURNING, headers, timestamps), the
// wait for every delivery at the end.
#include "kafka/producer.hpp"

#include "fdw/connection.hpp"
#include "fdw/handler.hpp"
#include "fdw/modify_internal.hpp"
#include "fdw/options.hpp"
#include "fdw/progress.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "commands/explain.h"
#include "executor/executor.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
}

#include <memory>
#include <string>
#include <vector>

namespace kafka_fdw::fdw {

// ----------------------------------------------------------------------------

static List *kafkaPlanForeignModify(PlannerInfo *, ModifyTable *plan, Index, int subplan_index) {
    bool returning = plan->returningLists != NIL && list_nth(plan->returningLists, subplan_index) != NULL;
    return list_make1(makeBoolean(returning));
}

namespace {

// C++ zone: the statement's counts so far, for kafka.produce_progress
// (fdw/progress.hpp: a few stores, nothing that can fail).
void ReportProgressCpp(ModifyState *ms) {
    const kafka::Ledger &l = ms->producer->GetLedger(ms->guard->ledger);
    ProduceProgressUpdate(ms, l.sent, l.acked);
}

// C++ zone: hands the buffered rows to librdkafka, in order.
void FlushPendingCpp(ModifyState *ms) {
    RowBuffer &b = *ms->pending;
    if (b.entries.empty()) return;
    if (ms->transactional) JoinKafkaTransaction(*ms->producer, GetCurrentSubTransactionId());
    b.msgs.resize(b.entries.size());
    for (size_t i = 0; i < b.entries.size(); i++) {
        const RowBuffer::Entry &e = b.entries[i];
        kafka::BatchMessage &m = b.msgs[i];
        m.key = e.has_key ? b.arena.data() + e.key_off : nullptr;
        m.key_len = e.key_len;
        m.value = e.has_value ? b.arena.data() + e.value_off : nullptr;
        m.value_len = e.value_len;
    }
    ms->producer->ProduceBatch(ms->guard->ledger, ms->table->topic,
                               ms->table->partitioner_set ? ms->table->partitioner : nullptr, b.msgs.data(),
                               b.msgs.size());
    b.entries.clear();
    b.arena.clear();
    ReportProgressCpp(ms);
}

// C++ zone: buffers a row that ProduceBatch can take (partitioned by key, no
// headers or timestamp); false if it must go through ProduceRowCpp.
bool BufferRowCpp(ModifyState *ms, const MessageData *m) {
    if (ms->returning || m->partition != RD_KAFKA_PARTITION_UA || m->nheaders > 0 || m->ts != 0) return false;
    RowBuffer &b = *ms->pending;
    RowBuffer::Entry e{};
    e.has_key = m->key != nullptr;
    e.key_off = b.arena.size();
    e.key_len = m->key_len;
    if (e.has_key) b.arena.append(m->key, m->key_len);
    e.has_value = m->value != nullptr;
    e.value_off = b.arena.size();
    e.value_len = m->value_len;
    if (e.has_value) b.arena.append(m->value, m->value_len);
    b.entries.push_back(e);
    if (b.Full()) FlushPendingCpp(ms);
    return true;
}

// C++ zone: enqueue one row's message.
void ProduceRowCpp(ModifyState *ms, const MessageData *m) {
    FlushPendingCpp(ms);  // keep the rows in order
    if (ms->transactional) JoinKafkaTransaction(*ms->producer, GetCurrentSubTransactionId());
    kafka::OutMessage out = ToOutMessage(*m, *ms->headers);
    out.partitioner = ms->table->partitioner_set ? ms->table->partitioner : nullptr;
    uint64_t seq = ms->producer->Produce(ms->guard->ledger, ms->table->topic, out);
    if ((seq & 1023) == 0) ReportProgressCpp(ms);
}

ModifyState *BeginModify(EState *estate, ResultRelInfo *rinfo, bool returning) {
    Relation rel = rinfo->ri_RelationDesc;
    ModifyState *ms = (ModifyState *)palloc0(sizeof(ModifyState));
    ms->table = GetTableDef(RelationGetRelid(rel));
    TableDef *t = ms->table;
    if (t->readonly)
        ereport(ERROR, (errcode(ERRCODE_FDW_ERROR),
                        errmsg("foreign table \"%s\" is read-only", RelationGetRelationName(rel)),
                        errhint("Remove the table option readonly to produce to topic \"%s\".", t->topic)));
    // The user the statement runs as (a view's owner for views).
    Oid userid = kafka_fdw::pg::ResultRelUserId(rinfo, estate);
    ms->spec = GetClientSpec(t->serverid, userid, false);
    ms->transactional = t->transactional || ms->spec->transactional;
    ms->returning = returning;
    ms->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "kafka_fdw row", ALLOCSET_DEFAULT_SIZES);
    ms->out_funcs = (FmgrInfo *)palloc0(sizeof(FmgrInfo) * (t->ncolumns + 1));
    ms->payload_cols = (int *)palloc0(sizeof(int) * (t->ncolumns + 1));
    for (int i = 0; i < t->ncolumns; i++) {
        Oid outfunc;
        bool varlena;
        getTypeOutputInfo(t->columns[i].type, &outfunc, &varlena);
        fmgr_info(outfunc, &ms->out_funcs[i]);
        if (t->columns[i].role == ColumnRole::Payload) ms->payload_cols[ms->npayload++] = i;
    }
    if ((t->format == Format::Text || t->format == Format::Bytea) && ms->npayload > 1)
        ereport(ERROR, (errcode(ERRCODE_FDW_INVALID_COLUMN_NUMBER),
                        errmsg("format '%s' takes one payload column, foreign table \"%s\" has %d",
                               FormatName(t->format), RelationGetRelationName(rel), ms->npayload)));
    if (t->format == Format::Json && ms->npayload > 0) BeginJsonEncoding(ms);
    MemoryContext cxt = CurrentMemoryContext;
    KFDW_ENTRY({
        ms->producer = &CachedProducer(ms->spec, ms->transactional);
        auto guard = std::make_unique<LedgerGuard>();
        guard->producer = ms->producer;
        guard->ledger = ms->producer->OpenLedger(returning);
        ms->guard = pg::OwnBy(cxt, guard.release());
        ms->headers = pg::OwnBy(cxt, new std::vector<kafka::Header>());
        ms->buf = pg::OwnBy(cxt, new std::string());
        ms->pending = pg::OwnBy(cxt, new RowBuffer());
    });
    ProduceProgressBegin(ms, RelationGetRelid(rel));
    return ms;
}

// Waits for every message of the statement; ERROR if any was not delivered.
void FinishModify(ModifyState *ms) {
    if (!ms || !ms->guard) return;
    KFDW_ENTRY({
        FlushPendingCpp(ms);
        ms->producer->Await(ms->guard->ledger, ms->producer->timeout_ms() + 1000);
        ReportProgressCpp(ms);
        ms->producer->CheckLedger(ms->guard->ledger);
    });
    ProduceProgressEnd(ms);
    pg::ReportClientEvents(*ms->producer);
}

// A partition or offset for a RETURNING (or trigger) slot, as the column's
// type: int2/4/8 as they are, any other type through its input function.
Datum IntAsType(const ColumnDef *c, int64 v) {
    if (c->type == INT8OID) return Int64GetDatum(v);
    if (c->type == INT4OID) {
        if (v > PG_INT32_MAX)
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                            errmsg("column \"%s\": offset " INT64_FORMAT " is out of range for type integer", c->name, v),
                            errhint("Use a bigint column for offsets.")));
        return Int32GetDatum((int32)v);
    }
    if (c->type == INT2OID) {
        if (v > PG_INT16_MAX)
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                            errmsg("column \"%s\": " INT64_FORMAT " is out of range for type smallint", c->name, v)));
        return Int16GetDatum((int16)v);
    }
    Oid input, ioparam;
    getTypeInputInfo(c->type, &input, &ioparam);
    return OidInputFunctionCall(input, psprintf(INT64_FORMAT, v), ioparam, c->typmod);
}

TupleTableSlot *InsertRow(ModifyState *ms, TupleTableSlot *slot) {
    MemoryContext old = MemoryContextSwitchTo(ms->row_cxt);
    MemoryContextReset(ms->row_cxt);
    MessageData m;
    EncodeRow(ms, slot, &m);
    uint64 seq = 0;
    KFDW_ENTRY({
        if (!BufferRowCpp(ms, &m)) {
            ProduceRowCpp(ms, &m);
            seq = ms->producer->GetLedger(ms->guard->ledger).sent - 1;
        }
    });
    MemoryContextSwitchTo(old);
    ms->rows++;
    if (!ms->returning) return slot;

    // RETURNING: wait for this message's delivery report.
    int32 part = -1;
    int64 off = -1;
    KFDW_ENTRY({
        ms->producer->Await(ms->guard->ledger, ms->producer->timeout_ms() + 1000);
        ms->producer->CheckLedger(ms->guard->ledger);
        const kafka::DeliveryResult &r = ms->producer->GetLedger(ms->guard->ledger).results.at(seq);
        part = r.partition;
        off = r.offset;
    });
    // A new tuple in the slot, not only its values: a slot that holds a
    // materialized tuple (a direct INSERT's heap-tuple slot) would give AFTER
    // ROW triggers, which read the tuple, the row without them.
    TableDef *t = ms->table;
    TupleDesc desc = slot->tts_tupleDescriptor;
    slot_getallattrs(slot);
    Datum *values = (Datum *)palloc(sizeof(Datum) * (desc->natts + 1));
    bool *nulls = (bool *)palloc(sizeof(bool) * (desc->natts + 1));
    memcpy(values, slot->tts_values, sizeof(Datum) * desc->natts);
    memcpy(nulls, slot->tts_isnull, sizeof(bool) * desc->natts);
    for (int i = 0; i < t->ncolumns; i++) {
        ColumnDef *c = &t->columns[i];
        int idx = c->attnum - 1;
        if (c->role == ColumnRole::Partition || c->role == ColumnRole::Offset) {
            int64 v = c->role == ColumnRole::Partition ? part : off;
            values[idx] = IntAsType(c, v);
            nulls[idx] = false;
        }
    }
    MemoryContext old_cxt = MemoryContextSwitchTo(slot->tts_mcxt);
    HeapTuple tuple = heap_form_tuple(desc, values, nulls);
    MemoryContextSwitchTo(old_cxt);
    ExecForceStoreHeapTuple(tuple, slot, true);
    return slot;
}

}  // namespace

// AFTER ROW triggers see the row ExecForeignInsert returns: like RETURNING,
// they need the partition and offset the broker assigned.
static bool AfterRowTriggers(ResultRelInfo *rinfo) {
    return rinfo->ri_TrigDesc && rinfo->ri_TrigDesc->trig_insert_after_row;
}

static void kafkaBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private, int, int eflags) {
    if (eflags & EXEC_FLAG_EXPLAIN_ONLY) return;
    bool returning = boolVal(linitial(fdw_private)) || AfterRowTriggers(rinfo);
    rinfo->ri_FdwState = BeginModify(mtstate->ps.state, rinfo, returning);
}

static TupleTableSlot *kafkaExecForeignInsert(EState *, ResultRelInfo *rinfo, TupleTableSlot *slot, TupleTableSlot *) {
    return InsertRow((ModifyState *)rinfo->ri_FdwState, slot);
}

static TupleTableSlot **kafkaExecForeignBatchInsert(EState *, ResultRelInfo *rinfo, TupleTableSlot **slots,
                                                    TupleTableSlot **, int *numSlots) {
    ModifyState *ms = (ModifyState *)rinfo->ri_FdwState;
    for (int i = 0; i < *numSlots; i++) InsertRow(ms, slots[i]);
    return slots;
}

static int kafkaGetForeignModifyBatchSize(ResultRelInfo *rinfo) {
    ModifyState *ms = (ModifyState *)rinfo->ri_FdwState;
    // RETURNING and row triggers need one row at a time (as postgres_fdw).
    if (!ms || ms->returning || rinfo->ri_projectReturning ||
        (rinfo->ri_TrigDesc && (rinfo->ri_TrigDesc->trig_insert_after_row || rinfo->ri_TrigDesc->trig_insert_before_row)))
        return 1;
    return Max(1, ms->table->batch_size > 1 ? ms->table->batch_size : 1000);
}

static void kafkaEndForeignModify(EState *, ResultRelInfo *rinfo) { FinishModify((ModifyState *)rinfo->ri_FdwState); }

// A partition of a partitioned table (INSERT through the parent, or COPY
// FROM): no plan of its own, its RETURNING list is on the ResultRelInfo.
static void kafkaBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo) {
    bool returning = rinfo->ri_returningList != NIL || AfterRowTriggers(rinfo);
    rinfo->ri_FdwState = BeginModify(mtstate->ps.state, rinfo, returning);
}

static void kafkaEndForeignInsert(EState *, ResultRelInfo *rinfo) { FinishModify((ModifyState *)rinfo->ri_FdwState); }

static int kafkaIsForeignRelUpdatable(Relation rel) {
    TableDef *t = GetTableDef(RelationGetRelid(rel));
    return t->readonly ? 0 : (1 << CMD_INSERT);
}

static void kafkaExplainForeignModify(ModifyTableState *, ResultRelInfo *rinfo, List *, int, ExplainState *es) {
    TableDef *t = GetTableDef(RelationGetRelid(rinfo->ri_RelationDesc));
    ExplainPropertyText("Kafka Topic", t->topic, es);
    ExplainPropertyText("Format", FormatName(t->format), es);
}

void FillModifyRoutine(FdwRoutine *r) {
    r->PlanForeignModify = kafkaPlanForeignModify;
    r->BeginForeignModify = kafkaBeginForeignModify;
    r->ExecForeignInsert = kafkaExecForeignInsert;
    r->ExecForeignBatchInsert = kafkaExecForeignBatchInsert;
    r->GetForeignModifyBatchSize = kafkaGetForeignModifyBatchSize;
    r->EndForeignModify = kafkaEndForeignModify;
    r->BeginForeignInsert = kafkaBeginForeignInsert;
    r->EndForeignInsert = kafkaEndForeignInsert;
    r->IsForeignRelUpdatable = kafkaIsForeignRelUpdatable;
    r->ExplainForeignModify = kafkaExplainForeignModify;
}

}  // namespace kafka_fdw::fdw
