// kafka.consume: ad hoc reads without DDL, bounded like a scan by the high
// watermarks taken at the start (and by max_messages).
#include "kafka/consumer.hpp"
#include "kafka/metadata.hpp"

#include "fdw/connection.hpp"
#include "pg/bridge.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "utils/datetime.h"
}

#include <memory>
#include <string>
#include <vector>

using namespace kafka_fdw;

namespace {

// C++ state of one call: owned by the call's memory context.
struct ConsumeRuntime {
    std::unique_ptr<kafka::RangeConsumer> consumer;
    std::string headers;
};

void StartCpp(ConsumeRuntime *rt, fdw::ClientSpec *spec, const char *topic, int32 partition, int64 from, int64 max) {
    kafka::Client &meta = fdw::MetadataClient(spec);
    std::vector<kafka::Watermarks> wm = kafka::TopicWatermarks(meta, topic, pg::g_timeout_ms);
    int n = static_cast<int>(wm.size());
    if (partition >= n)
        throw kafka::Error(kafka::ErrorKind::UnknownPartition,
                           "partition " + std::to_string(partition) + " of topic \"" + topic + "\" does not exist")
            .At(topic, partition);
    std::vector<kafka::PartitionRange> ranges;
    for (int p = 0; p < n; p++) {
        if (partition >= 0 && p != partition) continue;
        const kafka::Watermarks &w = wm[p];
        int64 start = from >= 0 ? std::max<int64>(w.low, from) : w.low;
        int64 end = w.high;
        // max_messages per partition bounds the range too (the total is
        // enforced by the caller).
        if (max >= 0 && start + max < end) end = start + max;
        ranges.push_back({p, start, std::max(start, end)});
    }
    kafka::Config conf = fdw::MakeConfig(spec, fdw::ReaderDefaults());
    rt->consumer = std::make_unique<kafka::RangeConsumer>(std::move(conf), topic, pg::g_timeout_ms);
    rt->consumer->Start(ranges);
}

const char *HeadersJson(ConsumeRuntime *rt, const rd_kafka_message_t *m) {
    kafka::HeadersToJson(m, rt->headers);
    return rt->headers.c_str();
}

}  // namespace

extern "C" {
PG_FUNCTION_INFO_V1(kafka_consume);
Datum kafka_consume(PG_FUNCTION_ARGS);
}

Datum kafka_consume(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("server and topic must not be NULL")));
    fdw::ClientSpec *spec = fdw::GetClientSpecByName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    char *topic = text_to_cstring(PG_GETARG_TEXT_PP(1));
    int32 partition = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT32(2);
    int64 from = PG_ARGISNULL(3) ? -1 : PG_GETARG_INT64(3);
    int64 max = PG_ARGISNULL(4) ? -1 : PG_GETARG_INT64(4);
    if (!PG_ARGISNULL(2) && partition < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("partition must not be negative")));
    if (!PG_ARGISNULL(3) && from < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("from_offset must not be negative"),
                        errhint("Leave it NULL to read each partition from its first message.")));
    if (!PG_ARGISNULL(4) && max < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_messages must not be negative")));
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;

    MemoryContext call_cxt = CurrentMemoryContext;
    MemoryContext row_cxt = AllocSetContextCreate(call_cxt, "kafka.consume row", ALLOCSET_DEFAULT_SIZES);
    ConsumeRuntime *rt = nullptr;
    KFDW_ENTRY({
        rt = pg::OwnBy(call_cxt, new ConsumeRuntime());
        StartCpp(rt, spec, topic, partition, from, max);
    });
    int64 count = 0;
    for (;;) {
        if (max >= 0 && count >= max) break;
        const rd_kafka_message_t *m = nullptr;
        KFDW_ENTRY({ m = rt->consumer->Next(); });
        if (!m) break;
        MemoryContext old = MemoryContextSwitchTo(row_cxt);
        Datum values[6];
        bool nulls[6] = {false, false, false, false, false, false};
        values[0] = Int32GetDatum(m->partition);
        values[1] = Int64GetDatum(m->offset);
        if (m->key) values[2] = PointerGetDatum(pg::BytesToBytea(m->key, m->key_len));
        else nulls[2] = true;
        if (m->payload) values[3] = PointerGetDatum(pg::BytesToBytea(m->payload, m->len));
        else nulls[3] = true;
        rd_kafka_timestamp_type_t tstype;
        int64 ms = rd_kafka_message_timestamp(m, &tstype);
        if (ms >= 0)
            values[4] = TimestampTzGetDatum(pg::KafkaMsToTimestamptz(ms));
        else
            nulls[4] = true;
        const char *hj = nullptr;
        KFDW_ENTRY({ hj = HeadersJson(rt, m); });
        values[5] = DirectFunctionCall1(jsonb_in, CStringGetDatum(pg::Utf8ToServer(hj)));
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        MemoryContextSwitchTo(old);
        MemoryContextReset(row_cxt);
        count++;
    }
    pg::ReportClientEvents(*rt->consumer);
    KFDW_ENTRY({ rt->consumer.reset(); });
    return (Datum)0;
}

