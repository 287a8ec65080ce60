// kafka_copy consume: reads [start, high watermark at start) of each partition
// with the core's RangeConsumer and writes one COPY row per message, decoding
// the value like a foreign-table scan (same readers, same bad-message policy:
// --strict fails with the topic/partition/offset; otherwise bad fields are
// NULL and --junk appends the raw value and the reason).
#include "cli/cli.hpp"
#include "cli/json_row.hpp"

#include "format/copy_text.hpp"
#include "format/json.hpp"
#include "format/row_decoder.hpp"
#include "kafka/consumer.hpp"
#include "kafka/errors.hpp"
#include "kafka/metadata.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <unistd.h>

namespace kafka_fdw::cli {

namespace {

// Buffered stdout with EPIPE/EINTR handling.
class Output {
public:
    std::string buf;
    void MaybeFlush() {
        if (buf.size() >= (1 << 16)) Flush();
    }
    void Flush() {
        size_t off = 0;
        while (off < buf.size()) {
            ssize_t n = write(1, buf.data() + off, buf.size() - off);
            if (n < 0) {
                if (errno == EINTR) {
                    CheckSignal();
                    continue;
                }
                if (errno == EPIPE) throw PipeClosed();
                throw std::runtime_error(std::string("could not write to stdout: ") + strerror(errno));
            }
            off += static_cast<size_t>(n);
        }
        buf.clear();
    }
};

enum class MetaCol { Partition, Offset, Key, Timestamp, TimestampMs, Headers };

class RowWriter {
public:
    RowWriter(const Options &o, Output &out) : o_(o), out_(out), csv_(o.copy_format == "csv") {}

    void BeginRow() {
        row_start_ = out_.buf.size();
        first_ = true;
    }
    void Null() {
        Sep();
        if (!csv_) format::AppendCopyNull(out_.buf);
    }
    void Field(const char *s, size_t len) {
        Sep();
        if (csv_) format::AppendCopyCsvField(out_.buf, s, len);
        else format::AppendCopyText(out_.buf, s, len);
    }
    void Field(const std::string &s) { Field(s.data(), s.size()); }
    void EndRow() { out_.buf.push_back('\n'); }
    void DropRow() { out_.buf.resize(row_start_); }

private:
    void Sep() {
        if (!first_) out_.buf.push_back(csv_ ? ',' : '\t');
        first_ = false;
    }
    const Options &o_;
    Output &out_;
    bool csv_;
    bool first_ = true;
    size_t row_start_ = 0;
};

std::string Hex(const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    std::string h = "\\x";
    h.reserve(2 + 2 * len);
    for (size_t k = 0; k < len; k++) {
        unsigned char b = static_cast<unsigned char>(s[k]);
        h.push_back(hex[b >> 4]);
        h.push_back(hex[b & 15]);
    }
    return h;
}

void AppendTimestamp(std::string &out, int64_t ms) {
    time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    out = buf;
}

// The row of one message: the metadata columns asked for, the payload
// columns as format::RowDecoder gives them, and the junk columns.
class Decoder {
public:
    Decoder(const Options &o, const std::string &topic) : o_(o), topic_(topic), dec_(DecoderOptions(o)) {
        for (const auto &m : o.meta) {
            if (m == "partition") meta_.push_back(MetaCol::Partition);
            else if (m == "offset") meta_.push_back(MetaCol::Offset);
            else if (m == "key") meta_.push_back(MetaCol::Key);
            else if (m == "timestamp") meta_.push_back(MetaCol::Timestamp);
            else if (m == "timestamp_ms") meta_.push_back(MetaCol::TimestampMs);
            else meta_.push_back(MetaCol::Headers);
        }
        if (o.format == "json")
            for (size_t i = 0; i < o.columns.size(); i++)  // --types json: strings written back as JSON strings
                requote_.push_back(i < o.types.size() && !ParseTypeName(o.types[i]).array &&
                                   ParseTypeName(o.types[i]).kind == JsonKind::Json);
    }

    // Column names, for a CSV header line.
    std::vector<std::string> Names() const {
        std::vector<std::string> n = o_.meta;
        if (o_.have_columns) {
            for (const auto &c : o_.columns) n.push_back(c.name);
        } else {
            n.push_back("value");
        }
        if (o_.junk) {
            n.push_back("junk");
            n.push_back("junk_error");
        }
        return n;
    }

    // Writes the row of one message; false when it was left out (--skip-bad).
    bool Write(const rd_kafka_message_t *m, RowWriter &w) {
        bad_.clear();
        m_ = m;
        w.BeginRow();
        for (MetaCol mc : meta_) {
            switch (mc) {
            case MetaCol::Partition:
                w.Field(std::to_string(m->partition));
                break;
            case MetaCol::Offset:
                w.Field(std::to_string(m->offset));
                break;
            case MetaCol::Key:
                if (!m->key) w.Null();
                else Text(w, "key", static_cast<const char *>(m->key), m->key_len);
                break;
            case MetaCol::Timestamp:
            case MetaCol::TimestampMs: {
                rd_kafka_timestamp_type_t tstype;
                int64_t ms = rd_kafka_message_timestamp(m, &tstype);
                if (ms < 0) {
                    w.Null();
                } else if (mc == MetaCol::TimestampMs) {
                    w.Field(std::to_string(ms));
                } else {
                    AppendTimestamp(scratch_, ms);
                    w.Field(scratch_);
                }
                break;
            }
            case MetaCol::Headers:
                kafka::HeadersToJson(m, scratch_);
                w.Field(scratch_);
                break;
            }
        }
        const char *payload = static_cast<const char *>(m->payload);
        size_t plen = m->len;
        bool tombstone = payload == nullptr;
        if (!dec_.Decode(payload, plen)) MarkBad(dec_.reason());
        for (size_t i = 0; i < dec_.size(); i++) {
            const format::DecodedValue &v = dec_.Value(i);
            if (v.missing) MarkBad("missing data for column \"" + o_.columns[i].name + "\"");
            if (v.is_null) {
                w.Null();
            } else if (o_.format == "bytea") {
                w.Field(Hex(v.data, v.len));
            } else if (i < requote_.size() && requote_[i] && v.json_type == format::JsonType::String) {
                // a json/jsonb column takes the member as JSON: a string stays quoted
                scratch_.clear();
                format::AppendJsonString(scratch_, v.data, v.len);
                Text(w, o_.columns[i].name, scratch_.data(), scratch_.size());
            } else {
                Text(w, ColumnName(i, "value"), v.data, v.len);
            }
        }
        if (!bad_.empty() && o_.skip_bad) {
            w.DropRow();
            return false;
        }
        if (o_.junk) {
            if (bad_.empty() || tombstone) {
                w.Null();
            } else if (!memchr(payload, '\0', plen) && format::IsValidUtf8(payload, plen)) {
                w.Field(payload, plen);
            } else {
                w.Field(Hex(payload, plen));
            }
            if (bad_.empty()) w.Null();
            else w.Field(bad_);
        }
        w.EndRow();
        return true;
    }

    uint64_t bad_messages = 0;

private:
    // The payload columns: --columns, or one "value" column (with --format
    // csv: every field of the record).
    static format::RowDecoderOptions DecoderOptions(const Options &o) {
        format::RowDecoderOptions d;
        d.format = o.format == "json"    ? format::RowFormat::Json
                   : o.format == "text"  ? format::RowFormat::Text
                   : o.format == "bytea" ? format::RowFormat::Bytea
                                         : format::RowFormat::Csv;
        d.csv.delimiter = o.csv_delimiter;
        d.csv.null_string = o.csv_null;
        if (!o.have_columns || d.format == format::RowFormat::Text || d.format == format::RowFormat::Bytea) {
            format::RowColumn whole;
            whole.whole = true;  // json: the whole object, validated
            d.columns.push_back(whole);
            d.csv_all_fields = true;
            return d;
        }
        for (size_t i = 0; i < o.columns.size(); i++) {
            const auto &c = o.columns[i];
            format::RowColumn rc;
            rc.member = c.member;
            rc.field = i;
            if (d.format == format::RowFormat::Json) {
                rc.pg_array = o.pg_arrays && o.pg_array_columns.empty();
                for (const auto &n : o.pg_array_columns) rc.pg_array = rc.pg_array || n == c.name;
                if (i < o.types.size()) rc.pg_array = rc.pg_array || ParseTypeName(o.types[i]).array;  // --types
            }
            d.columns.push_back(std::move(rc));
        }
        return d;
    }

    std::string ColumnName(size_t i, const char *dflt) const {
        return i < o_.columns.size() ? o_.columns[i].name : dflt;
    }

    [[noreturn]] void Fail(const std::string &msg) {
        throw DataError(msg + " (topic \"" + topic_ + "\", partition " + std::to_string(m_->partition) +
                        ", offset " + std::to_string(m_->offset) + ")");
    }

    void MarkBad(const std::string &reason) {
        if (o_.strict) Fail(reason);
        if (bad_.empty()) {
            bad_ = reason;
            bad_messages++;
        }
    }

    // A text field: NUL bytes and invalid UTF-8 make it NULL (or an error with --strict).
    void Text(RowWriter &w, const std::string &column, const char *s, size_t len) {
        const char *problem = nullptr;
        if (memchr(s, '\0', len)) problem = "contains a NUL byte";
        else if (!format::IsValidUtf8(s, len)) problem = "is not valid UTF-8";
        if (problem) {
            MarkBad("column \"" + column + "\": value " + problem);
            w.Null();
            return;
        }
        w.Field(s, len);
    }

    const Options &o_;
    const std::string &topic_;
    std::vector<MetaCol> meta_;
    format::RowDecoder dec_;
    // per column: --types json, a string member is written back as a JSON
    // string (the scan passes the member's text as in the message instead)
    std::vector<bool> requote_;
    const rd_kafka_message_t *m_ = nullptr;
    std::string bad_;
    std::string scratch_;
};

// Ranges from the watermarks taken now, as a scan computes them.
std::vector<kafka::PartitionRange> ComputeRanges(const Options &o, kafka::Client &meta) {
    std::vector<kafka::Watermarks> all = kafka::TopicWatermarks(meta, o.topic, o.timeout_ms);
    int nparts = static_cast<int>(all.size());
    std::vector<int32_t> parts = o.partitions;
    if (parts.empty())
        for (int p = 0; p < nparts; p++) parts.push_back(p);
    std::sort(parts.begin(), parts.end());
    parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
    for (int32_t p : parts)
        if (p >= nparts)
            throw kafka::Error(kafka::ErrorKind::UnknownPartition,
                               "partition " + std::to_string(p) + " of topic \"" + o.topic +
                                   "\" does not exist (it has " + std::to_string(nparts) + ")")
                .At(o.topic, p);
    std::vector<int64_t> ts_start;
    if (o.have_from_time && !parts.empty())
        ts_start = kafka::OffsetsForTime(meta, o.topic, parts, o.from_time_ms, o.timeout_ms);
    std::vector<kafka::PartitionRange> ranges;
    for (size_t i = 0; i < parts.size(); i++) {
        const kafka::Watermarks &wm = all[static_cast<size_t>(parts[i])];
        int64_t start = wm.low;
        if (o.have_from) start = std::max(start, o.from >= 0 ? o.from : wm.high + o.from);
        if (!ts_start.empty()) start = std::max<int64_t>(start, ts_start[i]);
        ranges.push_back({parts[i], start, std::max(start, wm.high)});
    }
    return ranges;
}

}  // namespace

int RunConsume(const Options &o) {
    if (o.format == "json" && o.pg_arrays && !o.have_columns)
        throw UsageError("--pg-arrays needs --columns");
    if ((o.format == "text" || o.format == "bytea") && o.columns.size() > 1)
        throw UsageError("--format " + o.format + " has one payload column");

    kafka::Config mconf = MakeConfig(o, {{"allow.auto.create.topics", "false"}});
    kafka::Client meta(kafka::Client::Type::Consumer, std::move(mconf));
    std::vector<kafka::PartitionRange> ranges = ComputeRanges(o, meta);
    ReportEvents(meta, o);
    if (o.verbose) {
        std::string r;
        for (const auto &x : ranges)
            r += " " + std::to_string(x.partition) + ":[" + std::to_string(x.start) + "," + std::to_string(x.end) + ")";
        fprintf(stderr, "kafka_copy: reading%s\n", r.empty() ? " nothing" : r.c_str());
    }

    Output out;
    RowWriter w(o, out);
    Decoder dec(o, o.topic);
    if (o.copy_format == "csv" && o.header) {
        w.BeginRow();
        for (const auto &n : dec.Names()) w.Field(n);
        w.EndRow();
    }
    Progress progress(o.progress, "consume");

    bool any = false;
    for (const auto &r : ranges) any = any || r.start < r.end;
    if (any) {
        // A larger prefetch than the backend's: this process does nothing else.
        kafka::Config conf = MakeConfig(o, {{"queued.min.messages", "100000"},
                                            {"queued.max.messages.kbytes", "65536"},
                                            {"fetch.wait.max.ms", "20"}});
        kafka::RangeConsumer consumer(std::move(conf), o.topic, o.timeout_ms);
        consumer.Start(ranges);
        while (const rd_kafka_message_t *m = consumer.Next()) {
            dec.Write(m, w);
            progress.Add(1, m->len + m->key_len);
            out.MaybeFlush();
            CheckSignal();
        }
        ReportEvents(consumer, o);
    }
    out.Flush();
    progress.Tick(true);
    if (dec.bad_messages && !o.junk && o.verbose)
        fprintf(stderr, "kafka_copy: %llu messages could not be decoded\n",
                static_cast<unsigned long long>(dec.bad_messages));
    return kExitOk;
}

}  // namespace kafka_fdw::cli
