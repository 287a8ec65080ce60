#include "format/row_decoder.hpp"

namespace kafka_fdw::format {

namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

}  // namespace

const char *RowFormatName(RowFormat f) noexcept {
    switch (f) {
    case RowFormat::Json: return "json";
    case RowFormat::Csv: return "csv";
    case RowFormat::Text: return "text";
    case RowFormat::Bytea: return "bytea";
    }
    return "?";
}

RowDecoder::RowDecoder(RowDecoderOptions opts) : opts_(std::move(opts)) {
    size_t n = opts_.columns.size();
    if (opts_.format == RowFormat::Json) {
        std::vector<std::string> wanted;
        for (const RowColumn &c : opts_.columns) {
            member_of_.push_back(c.whole ? kNone : wanted.size());
            if (!c.whole) wanted.push_back(c.member);
        }
        json_ = std::make_unique<JsonObjectReader>(std::move(wanted));
    } else if (opts_.format == RowFormat::Csv) {
        csv_ = std::make_unique<CsvReader>(opts_.csv);
    }
    values_.reserve(n);
}

void RowDecoder::SetAll(size_t n, bool is_null, const char *data, size_t len) {
    values_.resize(n);
    for (DecodedValue &v : values_) v = {data, len, is_null, false, false, JsonType::Null};
}

bool RowDecoder::Bad(const std::string &why) {
    error_ = why;
    reason_ = "invalid ";
    reason_ += RowFormatName(opts_.format);
    reason_ += ": ";
    reason_ += why;
    SetAll(opts_.columns.size(), true, nullptr, 0);
    return false;
}

bool RowDecoder::Decode(const char *data, size_t len) {
    error_.clear();
    reason_.clear();
    if (data == nullptr) {  // a tombstone: no value, nothing wrong with it
        SetAll(opts_.columns.size(), true, nullptr, 0);
        return true;
    }
    switch (opts_.format) {
    case RowFormat::Json:
        if (!json_->Parse(data, len)) return Bad(json_->error());
        FillJson(data, len);
        return true;
    case RowFormat::Csv:
        if (!csv_->Parse(data, len)) return Bad(csv_->error());
        // As COPY: more fields than the table has columns is a bad line.
        if (opts_.csv_max_fields && csv_->size() > opts_.csv_max_fields)
            return Bad("extra data after last expected column");
        FillCsv();
        return true;
    case RowFormat::Text:
    case RowFormat::Bytea:
        SetAll(opts_.columns.size(), false, data, len);  // every column holds the whole value
        return true;
    }
    return true;
}

void RowDecoder::FillJson(const char *data, size_t len) {
    size_t n = opts_.columns.size();
    values_.resize(n);
    arrays_.clear();
    converted_.clear();
    for (size_t i = 0; i < n; i++) {
        const RowColumn &c = opts_.columns[i];
        DecodedValue &v = values_[i];
        if (c.whole) {
            v = {data, len, false, false, false, JsonType::Object};
            continue;
        }
        size_t k = member_of_[i];
        if (!json_->Found(k) || json_->Value(k).type == JsonType::Null) {
            v = {nullptr, 0, true, false, false, JsonType::Null};
            continue;
        }
        const JsonValue &jv = json_->Value(k);
        if (c.record && jv.type == JsonType::Object) {
            // read back as json_populate_record(NULL::type, member) does
            v = {jv.raw, jv.raw_len, false, false, true, jv.type};
            continue;
        }
        // json columns take the member as JSON (strings keep their quotes)
        v = {c.raw_json ? jv.raw : jv.data, c.raw_json ? jv.raw_len : jv.len, false, false, false, jv.type};
        if (c.pg_array && jv.type == JsonType::Array && JsonArrayToPgArray(v.data, v.len, scratch_)) {
            // pointers into arrays_ are set below: it may move while it grows
            converted_.push_back({i, arrays_.size()});
            arrays_.append(scratch_);
            v.len = scratch_.size();
        }
    }
    for (const auto &[i, offset] : converted_) values_[i].data = arrays_.data() + offset;
}

void RowDecoder::FillCsv() {
    if (opts_.csv_all_fields) {
        values_.resize(csv_->size());
        for (size_t i = 0; i < values_.size(); i++)
            values_[i] = {csv_->Data(i), csv_->Len(i), csv_->IsNull(i), false, false, JsonType::Null};
        return;
    }
    size_t n = opts_.columns.size();
    values_.resize(n);
    for (size_t i = 0; i < n; i++) {
        size_t f = opts_.columns[i].field;
        if (f >= csv_->size()) values_[i] = {nullptr, 0, true, true, false, JsonType::Null};
        else values_[i] = {csv_->Data(f), csv_->Len(f), csv_->IsNull(f), false, false, JsonType::Null};
    }
}

}  // namespace kafka_fdw::format
