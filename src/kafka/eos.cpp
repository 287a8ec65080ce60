// The exactly-once position record (see eos.hpp).
#include "kafka/eos.hpp"

#include <nlohmann/json.hpp>

#include <cinttypes>
#include <cstdio>

namespace kafka_fdw::kafka {

namespace {
std::string Lsn(uint64_t lsn) {
    char buf[32];
    snprintf(buf, sizeof buf, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
    return buf;
}
}  // namespace

bool ParseLsn(std::string_view text, uint64_t *lsn) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size() || slash > 8 ||
        text.size() - slash - 1 > 8)
        return false;
    uint64_t hi = 0, lo = 0;
    for (size_t i = 0; i < text.size(); i++) {
        if (i == slash) continue;
        char c = text[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return false;
        uint64_t &part = i < slash ? hi : lo;
        part = part * 16 + (uint64_t)d;
    }
    *lsn = hi << 32 | lo;
    return true;
}

std::string EosPositionJson(const EosPosition &p, const std::string &transactional_id, int64_t at_ms) {
    nlohmann::json j;
    j["lsn"] = Lsn(p.lsn);
    if (p.complete) j["events"] = nullptr;
    else j["events"] = p.events;
    j["transactional_id"] = transactional_id;
    j["committed_at_ms"] = at_ms;
    return j.dump();
}

bool ParseEosPosition(std::string_view json, EosPosition *out) {
    nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return false;
    auto lsn = j.find("lsn");
    auto events = j.find("events");
    if (lsn == j.end() || !lsn->is_string() || events == j.end()) return false;
    EosPosition p;
    if (!ParseLsn(lsn->get<std::string>(), &p.lsn)) return false;
    if (events->is_null()) {
        p.complete = true;
    } else if (events->is_number_unsigned()) {
        p.complete = false;
        p.events = events->get<uint64_t>();
    } else {
        return false;
    }
    p.valid = true;
    *out = p;
    return true;
}

}  // namespace kafka_fdw::kafka
