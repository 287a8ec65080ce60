// kafka.produce (synchronous: returns the partition and offset the broker
// assigned) and kafka.send (buffered until the transaction commits).
#include "kafka/producer.hpp"

#include "fdw/connection.hpp"
#include "fdw/modify.hpp"
#include "fdw/xact.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "utils/datetime.h"
}

#include <string>
#include <vector>

using namespace kafka_fdw;

namespace {

enum ValueKind { kBytea, kText, kJsonb };

struct Args {
    fdw::ClientSpec *spec;
    char *topic;
    fdw::MessageData m;
};

void Bytes(Datum d, ValueKind kind, const char **data, size_t *len) {
    if (kind == kJsonb) {
        char *s = JsonbToCString(NULL, &DatumGetJsonbP(d)->root, 0);
        *data = s;
        *len = strlen(s);
    } else {
        struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
        *data = VARDATA_ANY(v);
        *len = VARSIZE_ANY_EXHDR(v);
        if (kind != kText) return;
    }
    pg::ServerToUtf8(data, len);
}

// Postgres zone: (server, topic, value, key, partition, headers, ts).
Args *ReadArgs(FunctionCallInfo fcinfo, ValueKind value_kind, ValueKind key_kind) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("server and topic must not be NULL")));
    Args *a = (Args *)palloc0(sizeof(Args));
    a->spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    a->topic = text_to_cstring(PG_GETARG_TEXT_PP(1));
    fdw::MessageData *m = &a->m;
    if (!PG_ARGISNULL(2)) Bytes(PG_GETARG_DATUM(2), value_kind, &m->value, &m->value_len);
    if (!PG_ARGISNULL(3)) Bytes(PG_GETARG_DATUM(3), key_kind, &m->key, &m->key_len);
    m->partition = RD_KAFKA_PARTITION_UA;
    if (!PG_ARGISNULL(4)) {
        m->partition = PG_GETARG_INT32(4);
        if (m->partition < 0)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("partition must not be negative")));
    }
    if (!PG_ARGISNULL(5))
        fdw::ParseHeaders(PG_GETARG_JSONB_P(5), "headers", &m->nheaders, &m->hnames, &m->hvalues, &m->hlens);
    if (!PG_ARGISNULL(6))
        m->ts = pg::TimestamptzToKafkaMs(PG_GETARG_TIMESTAMPTZ(6));
    return a;
}

Datum Produce(FunctionCallInfo fcinfo, ValueKind vk, ValueKind kk) {
    Args *a = ReadArgs(fcinfo, vk, kk);
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    int32 part = -1;
    int64 off = -1;
    kafka::Producer *producer = nullptr;
    KFDW_ENTRY({
        producer = &fdw::CachedProducer(a->spec, a->spec->transactional);
        if (a->spec->transactional) fdw::JoinKafkaTransaction(*producer, GetCurrentSubTransactionId());
        struct Closer {
            kafka::Producer *p;
            uint32_t id;
            ~Closer() { p->CloseLedger(id); }
        } closer{producer, producer->OpenLedger(true)};
        std::vector<kafka::Header> headers;
        producer->Produce(closer.id, a->topic, fdw::ToOutMessage(a->m, headers));
        producer->Await(closer.id, producer->timeout_ms() + 1000);
        producer->CheckLedger(closer.id);
        const kafka::DeliveryResult &r = producer->GetLedger(closer.id).results.at(0);
        part = r.partition;
        off = r.offset;
    });
    pg::ReportClientEvents(*producer);
    Datum values[2] = {Int32GetDatum(part), Int64GetDatum(off)};
    bool nulls[2] = {false, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    return (Datum)0;
}

Datum Send(FunctionCallInfo fcinfo, ValueKind vk, ValueKind kk) {
    Args *a = ReadArgs(fcinfo, vk, kk);
    SubTransactionId subid = GetCurrentSubTransactionId();
    KFDW_ENTRY({
        fdw::PendingMessage m;
        m.producer = &fdw::CachedProducer(a->spec, a->spec->transactional);
        m.transactional = a->spec->transactional;
        m.topic = a->topic;
        kafka::OutMessage out = fdw::ToOutMessage(a->m, m.headers);
        m.partition = out.partition;
        if (out.key) m.key.emplace(out.key, out.key_len);
        if (out.value) m.value.emplace(out.value, out.value_len);
        m.timestamp_ms = out.timestamp_ms;
        m.subid = subid;
        fdw::BufferSend(std::move(m));
    });
    PG_RETURN_VOID();
}

}  // namespace

extern "C" {
PG_FUNCTION_INFO_V1(kafka_produce_bytea);
PG_FUNCTION_INFO_V1(kafka_produce_text);
PG_FUNCTION_INFO_V1(kafka_produce_jsonb);
PG_FUNCTION_INFO_V1(kafka_send_bytea);
PG_FUNCTION_INFO_V1(kafka_send_text);
PG_FUNCTION_INFO_V1(kafka_send_jsonb);
Datum kafka_produce_bytea(PG_FUNCTION_ARGS);
Datum kafka_produce_text(PG_FUNCTION_ARGS);
Datum kafka_produce_jsonb(PG_FUNCTION_ARGS);
Datum kafka_send_bytea(PG_FUNCTION_ARGS);
Datum kafka_send_text(PG_FUNCTION_ARGS);
Datum kafka_send_jsonb(PG_FUNCTION_ARGS);
}

Datum kafka_produce_bytea(PG_FUNCTION_ARGS) { return Produce(fcinfo, kBytea, kBytea); }
Datum kafka_produce_text(PG_FUNCTION_ARGS) { return Produce(fcinfo, kText, kText); }
Datum kafka_produce_jsonb(PG_FUNCTION_ARGS) { return Produce(fcinfo, kJsonb, kText); }
Datum kafka_send_bytea(PG_FUNCTION_ARGS) { return Send(fcinfo, kBytea, kBytea); }
Datum kafka_send_text(PG_FUNCTION_ARGS) { return Send(fcinfo, kText, kText); }
Datum kafka_send_jsonb(PG_FUNCTION_ARGS) { return Send(fcinfo, kJsonb, kText); }
