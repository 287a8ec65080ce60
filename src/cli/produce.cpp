// kafka_copy produce: reads the rows of COPY ... TO PROGRAM (text or csv
// format) on stdin and produces one message per row under one delivery
// ledger; exits 0 only when the broker acknowledged every message.
#include "cli/cli.hpp"
#include "cli/json_row.hpp"

#include "format/copy_text.hpp"
#include "format/csv.hpp"
#include "format/json.hpp"
#include "kafka/errors.hpp"
#include "kafka/producer.hpp"

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace kafka_fdw::cli {

namespace {

struct InField {
    bool is_null;
    const char *data;
    size_t len;
};

// Records of COPY's output on stdin, one at a time.
class Input {
public:
    explicit Input(bool csv) : csv_(csv), csv_reader_(CsvOpts()) {}

    // False at the end of the input (or at the \. marker).
    bool Next(std::vector<InField> &fields) {
        for (;;) {
            const char *p = buf_.data() + pos_;
            size_t avail = buf_.size() - pos_;
            size_t n = csv_ ? format::CsvRecordEnd(p, avail, '"', '"', eof_) : format::CopyTextLineEnd(p, avail);
            if (n == 0 && eof_ && avail > 0) n = avail;  // last line without a newline
            if (n > 0) {
                pos_ += n;
                line_++;
                size_t len = n;
                if (len > 0 && p[len - 1] == '\n') len--;
                if (format::IsCopyEndMarker(p, len) ||
                    (len == 3 && p[2] == '\r' && format::IsCopyEndMarker(p, 2))) {
                    done_ = true;
                    return false;
                }
                Split(p, len, fields);
                return true;
            }
            if (eof_ || done_) return false;
            Fill();
        }
    }
    uint64_t line() const { return line_; }

private:
    static format::CsvOptions CsvOpts() {
        format::CsvOptions o;  // COPY's defaults: , " " and NULL as an unquoted empty field
        return o;
    }

    void Fill() {
        if (pos_ > 0 && pos_ >= buf_.size() / 2) {
            buf_.erase(0, pos_);
            pos_ = 0;
        }
        size_t old = buf_.size();
        buf_.resize(old + kChunk);
        for (;;) {
            ssize_t n = read(0, &buf_[old], kChunk);
            if (n < 0 && errno == EINTR) {
                CheckSignal();
                continue;
            }
            if (n < 0) {
                buf_.resize(old);
                throw std::runtime_error(std::string("could not read stdin: ") + strerror(errno));
            }
            buf_.resize(old + static_cast<size_t>(n));
            if (n == 0) eof_ = true;
            return;
        }
    }

    void Split(const char *p, size_t len, std::vector<InField> &fields) {
        fields.clear();
        if (csv_) {
            if (len > 0 && p[len - 1] == '\r') len--;
            if (!csv_reader_.Parse(p, len))
                throw DataError("line " + std::to_string(line_) + ": " + csv_reader_.error());
            for (size_t i = 0; i < csv_reader_.size(); i++)
                fields.push_back({csv_reader_.IsNull(i), csv_reader_.Data(i), csv_reader_.Len(i)});
        } else {
            text_.Parse(p, len);
            for (size_t i = 0; i < text_.size(); i++) fields.push_back({text_.IsNull(i), text_.Data(i), text_.Len(i)});
        }
    }

    static constexpr size_t kChunk = 1 << 20;
    bool csv_;
    std::string buf_;
    size_t pos_ = 0;
    bool eof_ = false;
    bool done_ = false;
    uint64_t line_ = 0;
    format::CopyTextParser text_;
    format::CsvReader csv_reader_;
};

int HexVal(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string EffectiveMessageTimeout(const Options &o) {
    std::string t = std::to_string(o.timeout_ms);
    for (const auto *props : {&o.file_props, &o.props})
        for (const auto &[k, v] : *props)
            if (k == "message.timeout.ms" || k == "delivery.timeout.ms") t = v;
    return t;
}

}  // namespace

int RunProduce(const Options &o) {
    bool one_value = o.format == "text" || o.format == "bytea";
    if (o.format == "json" && !o.have_columns && !(o.copy_format == "csv" && o.header))
        throw UsageError("--format json needs the column names: --columns, or --copy-format csv --header");
    if ((!o.key_column.empty() || !o.partition_column.empty()) && !o.have_columns &&
        !(o.copy_format == "csv" && o.header))
        throw UsageError("--key-column and --partition-column need --columns (or a csv header)");
    if (o.header && o.copy_format != "csv") throw UsageError("--header needs --copy-format csv");

    std::string msg_timeout = EffectiveMessageTimeout(o);
    kafka::Config conf = MakeConfig(o, {{"acks", "all"},
                                        {"enable.idempotence", "true"},
                                        {"linger.ms", "20"},
                                        {"message.timeout.ms", std::to_string(o.timeout_ms)},
                                        {"topic.metadata.propagation.max.ms",
                                         std::to_string(std::max(100, o.timeout_ms / 3))}});
    kafka::Producer producer(std::move(conf), o.partitioner, o.timeout_ms);
    uint32_t ledger_id = producer.OpenLedger(false);
    Progress progress(o.progress, "produce");

    Input in(o.copy_format == "csv");
    std::vector<InField> fields;
    std::vector<Column> cols = o.columns;
    std::vector<format::JsonSpec> specs;  // by column; none: every value a string
    for (const auto &t : o.types) specs.push_back(SpecOf(ParseTypeName(t)));
    bool resolved = false;
    int key_idx = -1, part_idx = -1;
    std::vector<size_t> payload;  // indices of the value's columns
    std::string value, err;
    // --format json: the payload's members (names escaped once), the row's
    // values in them, and the encoder
    std::vector<std::string> members;
    std::vector<format::JsonField> json_fields;
    static const format::JsonSpec kText{};
    format::RowJsonWriter json;

    auto resolve = [&](size_t nfields) {
        if (cols.empty())  // no names: positional columns
            for (size_t i = 0; i < nfields; i++) cols.push_back({"f" + std::to_string(i + 1), "f" + std::to_string(i + 1)});
        if (!specs.empty() && specs.size() != cols.size())
            throw UsageError("--types has " + std::to_string(specs.size()) + " types for " +
                             std::to_string(cols.size()) + " columns");
        for (size_t i = 0; i < cols.size(); i++) {
            if (cols[i].name == o.key_column) key_idx = static_cast<int>(i);
            if (cols[i].name == o.partition_column) part_idx = static_cast<int>(i);
        }
        if (!o.key_column.empty() && key_idx < 0) throw UsageError("no column \"" + o.key_column + "\" for --key-column");
        if (!o.partition_column.empty() && part_idx < 0)
            throw UsageError("no column \"" + o.partition_column + "\" for --partition-column");
        for (size_t i = 0; i < cols.size(); i++) {
            if (static_cast<int>(i) == part_idx) continue;
            if (one_value && static_cast<int>(i) == key_idx) continue;
            payload.push_back(i);
        }
        if (one_value && payload.size() != 1)
            throw UsageError("--format " + o.format + " takes one value column besides the key and partition columns, got " +
                             std::to_string(payload.size()));
        for (size_t c : payload) {
            std::string m;
            format::AppendJsonString(m, cols[c].member.data(), cols[c].member.size());
            members.push_back(m + ":");
        }
        json_fields.resize(payload.size());
        for (size_t k = 0; k < payload.size(); k++) {
            json_fields[k].name = members[k].data();
            json_fields[k].name_len = members[k].size();
            json_fields[k].spec = specs.empty() ? &kText : &specs[payload[k]];
        }
        resolved = true;
    };

    try {
        if (o.header) {
            if (in.Next(fields) && !o.have_columns)
                for (const auto &f : fields) cols.push_back({std::string(f.data, f.len), std::string(f.data, f.len)});
        }
        while (in.Next(fields)) {
            if (!resolved) resolve(fields.size());
            if (fields.size() != cols.size())
                throw DataError("line " + std::to_string(in.line()) + ": " + std::to_string(fields.size()) +
                                " fields, expected " + std::to_string(cols.size()));
            kafka::OutMessage m;
            if (key_idx >= 0 && !fields[key_idx].is_null) {
                m.key = fields[key_idx].data;
                m.key_len = fields[key_idx].len;
            }
            if (part_idx >= 0 && !fields[part_idx].is_null) {
                std::string p(fields[part_idx].data, fields[part_idx].len);
                char *end;
                errno = 0;
                long long v = strtoll(p.c_str(), &end, 10);
                if (p.empty() || *end || errno || v < 0 || v > INT32_MAX)
                    throw DataError("line " + std::to_string(in.line()) + ": invalid partition \"" + p + "\"");
                m.partition = static_cast<int32_t>(v);
            }
            value.clear();
            bool tombstone = false;
            if (o.format == "text") {
                const InField &f = fields[payload[0]];
                tombstone = f.is_null;
                value.assign(f.data, f.len);
            } else if (o.format == "bytea") {
                const InField &f = fields[payload[0]];
                tombstone = f.is_null;
                if (!tombstone) {
                    if (f.len < 2 || f.data[0] != '\\' || f.data[1] != 'x' || f.len % 2)
                        throw DataError("line " + std::to_string(in.line()) +
                                        ": bytea value is not in hex format (SET bytea_output = 'hex')");
                    for (size_t k = 2; k < f.len; k += 2) {
                        int hi = HexVal(f.data[k]), lo = HexVal(f.data[k + 1]);
                        if (hi < 0 || lo < 0) throw DataError("line " + std::to_string(in.line()) + ": invalid hex in bytea value");
                        value.push_back(static_cast<char>(hi * 16 + lo));
                    }
                }
            } else if (o.format == "json") {
                for (size_t k = 0; k < payload.size(); k++) {
                    const InField &f = fields[payload[k]];
                    json_fields[k].null = f.is_null;
                    json_fields[k].data = f.data;
                    json_fields[k].len = f.len;
                }
                size_t bad = 0;
                if (!json.AppendObject(value, json_fields.data(), json_fields.size(), &err, &bad))
                    throw DataError("line " + std::to_string(in.line()) + ", column \"" + cols[payload[bad]].name +
                                    "\": " + err);
            } else {  // csv
                format::CsvOptions co;
                co.delimiter = o.csv_delimiter;
                co.null_string = o.csv_null;
                for (size_t k = 0; k < payload.size(); k++) {
                    const InField &f = fields[payload[k]];
                    if (k) value.push_back(co.delimiter);
                    if (f.is_null) value += co.null_string;
                    else format::AppendCsvField(value, f.data, f.len, co);
                }
            }
            if (!tombstone) {
                m.value = value.data();
                m.value_len = value.size();
            }
            producer.Produce(ledger_id, o.topic, m);
            progress.Add(1, value.size() + m.key_len);
            CheckSignal();
        }
        // Every message acknowledged, or the COPY fails.
        int await_ms = std::max(o.timeout_ms, atoi(msg_timeout.c_str())) + 5000;
        producer.Await(ledger_id, await_ms);
        producer.CheckLedger(ledger_id);
    } catch (const kafka::Interrupted &) {
        const kafka::Ledger &l = producer.GetLedger(ledger_id);
        fprintf(stderr, "kafka_copy: interrupted after %llu messages: %llu acknowledged, %llu failed, %llu not confirmed\n",
                static_cast<unsigned long long>(l.sent), static_cast<unsigned long long>(l.acked),
                static_cast<unsigned long long>(l.failed), static_cast<unsigned long long>(l.pending()));
        throw;
    } catch (const kafka::Error &e) {
        ReportEvents(producer, o);
        const kafka::Ledger &l = producer.GetLedger(ledger_id);
        if (e.kind != kafka::ErrorKind::Delivery && e.kind != kafka::ErrorKind::UnknownTopic && l.sent > 0)
            fprintf(stderr, "kafka_copy: %llu of %llu messages were not acknowledged (%llu failed, %llu pending)\n",
                    static_cast<unsigned long long>(l.sent - l.acked), static_cast<unsigned long long>(l.sent),
                    static_cast<unsigned long long>(l.failed), static_cast<unsigned long long>(l.pending()));
        throw;
    } catch (const DataError &) {
        const kafka::Ledger &l = producer.GetLedger(ledger_id);
        if (l.sent > 0)
            fprintf(stderr, "kafka_copy: %llu messages had been sent before this row\n",
                    static_cast<unsigned long long>(l.sent));
        throw;
    }
    ReportEvents(producer, o);
    progress.Tick(true);
    return kExitOk;
}

}  // namespace kafka_fdw::cli
