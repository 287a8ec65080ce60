#include "format/infer.hpp"

#include "format/json.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstring>
#include <limits>

namespace kafka_fdw::format {

const char *PgTypeName(InferredType t) {
    switch (t) {
    case InferredType::Bool: return "boolean";
    case InferredType::BigInt: return "bigint";
    case InferredType::Numeric: return "numeric";
    case InferredType::Timestamptz: return "timestamp with time zone";
    case InferredType::Uuid: return "uuid";
    case InferredType::Jsonb: return "jsonb";
    case InferredType::Unknown:
    case InferredType::Text: return "text";
    }
    return "text";
}

InferredType Widen(InferredType a, InferredType b) {
    if (a == InferredType::Unknown) return b;
    if (b == InferredType::Unknown || a == b) return a;
    auto is_num = [](InferredType t) { return t == InferredType::BigInt || t == InferredType::Numeric; };
    auto is_str = [](InferredType t) {
        return t == InferredType::Timestamptz || t == InferredType::Uuid || t == InferredType::Text;
    };
    if (is_num(a) && is_num(b)) return InferredType::Numeric;
    if (is_str(a) && is_str(b)) return InferredType::Text;
    return InferredType::Jsonb;
}

namespace {

bool Digits(const std::string &s, size_t pos, size_t n) {
    if (pos + n > s.size()) return false;
    for (size_t i = pos; i < pos + n; i++)
        if (!isdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
}

// YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|(+|-)HH[:]MM]
bool IsIso8601(const std::string &s) {
    if (!Digits(s, 0, 4) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2) || s[7] != '-' || !Digits(s, 8, 2))
        return false;
    size_t i = 10;
    if (i == s.size()) return true;
    if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return false;
    i++;
    if (!Digits(s, i, 2) || i + 2 >= s.size() || s[i + 2] != ':' || !Digits(s, i + 3, 2)) return false;
    i += 5;
    if (i < s.size() && s[i] == ':') {
        if (!Digits(s, i + 1, 2)) return false;
        i += 3;
        if (i < s.size() && s[i] == '.') {
            i++;
            size_t start = i;
            while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) i++;
            if (i == start) return false;
        }
    }
    if (i == s.size()) return true;
    if (s[i] == 'Z' || s[i] == 'z') return i + 1 == s.size();
    if (s[i] != '+' && s[i] != '-') return false;
    i++;
    if (!Digits(s, i, 2)) return false;
    i += 2;
    if (i == s.size()) return true;
    if (s[i] == ':') i++;
    return Digits(s, i, 2) && i + 2 == s.size();
}

bool IsUuid(const std::string &s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

InferredType TypeOf(const nlohmann::ordered_json &v) {
    switch (v.type()) {
    case nlohmann::ordered_json::value_t::null: return InferredType::Unknown;
    case nlohmann::ordered_json::value_t::boolean: return InferredType::Bool;
    case nlohmann::ordered_json::value_t::number_integer: return InferredType::BigInt;
    case nlohmann::ordered_json::value_t::number_unsigned:
        return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? InferredType::BigInt
                                                                                             : InferredType::Numeric;
    case nlohmann::ordered_json::value_t::number_float: return InferredType::Numeric;
    case nlohmann::ordered_json::value_t::string: return ClassifyString(v.get_ref<const std::string &>());
    default: return InferredType::Jsonb;
    }
}

}  // namespace

InferredType ClassifyString(const std::string &s) {
    if (IsIso8601(s)) return InferredType::Timestamptz;
    if (IsUuid(s)) return InferredType::Uuid;
    return InferredType::Text;
}

void SchemaInferrer::AddObject(const char *value, size_t len) {
    auto doc = nlohmann::ordered_json::parse(value, value + len, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        not_objects_++;
        return;
    }
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        InferredType t = TypeOf(it.value());
        bool found = false;
        for (auto &c : columns_)
            if (c.member == it.key()) {
                c.type = Widen(c.type, t);
                found = true;
                break;
            }
        if (!found) columns_.push_back({it.key(), t});
    }
}

void SchemaInferrer::AddMessage(const char *value, size_t value_len, bool value_null, const char *key,
                                size_t key_len, bool key_null) {
    messages_++;
    if (!key_null && (!IsValidUtf8(key, key_len) || memchr(key, '\0', key_len))) key_binary_ = true;
    if (value_null) return;
    non_null_++;
    if (!IsValidUtf8(value, value_len) || memchr(value, '\0', value_len)) {
        all_utf8_ = false;
        not_objects_++;
        return;
    }
    AddObject(value, value_len);
}

SchemaInferrer::Format SchemaInferrer::format() const {
    if (non_null_ == 0) return Format::Empty;
    if (not_objects_ == 0) return Format::Json;
    return all_utf8_ ? Format::Text : Format::Bytea;
}

std::string ColumnNameFor(const std::string &member) {
    bool plain = !member.empty() && member.size() < 64 &&
                 (islower(static_cast<unsigned char>(member[0])) || member[0] == '_');
    for (char ch : member)
        if (!(islower(static_cast<unsigned char>(ch)) || isdigit(static_cast<unsigned char>(ch)) || ch == '_'))
            plain = false;
    if (plain) return member;
    std::string out;
    for (char ch : member) {
        unsigned char u = static_cast<unsigned char>(ch);
        if (isalnum(u)) out.push_back(static_cast<char>(tolower(u)));
        else if (!out.empty() && out.back() != '_') out.push_back('_');
    }
    while (!out.empty() && out.back() == '_') out.pop_back();
    if (out.empty() || isdigit(static_cast<unsigned char>(out[0]))) out = "c_" + out;
    if (out.size() > 60) out.resize(60);
    return out;
}

}  // namespace kafka_fdw::format
