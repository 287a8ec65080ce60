// The exactly-once position record (see eos.hpp).
#include "kafka/eos.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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

std::string HmacSha256Hex(const std::string &key, const std::string &data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), (int)key.size(), reinterpret_cast<const unsigned char *>(data.data()),
              data.size(), mac, &len))
        return std::string();
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; i++) {
        out.push_back(hex[mac[i] >> 4]);
        out.push_back(hex[mac[i] & 15]);
    }
    return out;
}

namespace {
// What the MAC covers: a domain, the id, the lsn, the count (or "complete").
std::string Signed(const std::string &transactional_id, const std::string &lsn, const EosPosition &p) {
    std::string s = "kafka_fdw.progress.v1";
    s.push_back('\0');
    s += transactional_id;
    s.push_back('\0');
    s += lsn;
    s.push_back('\0');
    s += p.complete ? std::string("complete") : std::to_string(p.changes);
    return s;
}
}  // namespace

std::string EosPositionJson(const EosPosition &p, const std::string &transactional_id, int64_t at_ms,
                            const std::string &key) {
    nlohmann::json j;
    std::string lsn = Lsn(p.lsn);
    j["lsn"] = lsn;
    if (p.complete) j["changes"] = nullptr;
    else j["changes"] = p.changes;
    j["transactional_id"] = transactional_id;
    j["committed_at_ms"] = at_ms;
    j["mac"] = HmacSha256Hex(key, Signed(transactional_id, lsn, p));
    return j.dump();
}

ParsedPosition ParseEosPosition(std::string_view json, const std::string &transactional_id, const std::string &key,
                                EosPosition *out) {
    nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return ParsedPosition::NotOne;
    auto lsn = j.find("lsn");
    auto changes = j.find("changes");
    auto id = j.find("transactional_id");
    auto mac = j.find("mac");
    if (lsn == j.end() || !lsn->is_string() || changes == j.end() || id == j.end() || !id->is_string() ||
        id->get<std::string>() != transactional_id)
        return ParsedPosition::NotOne;
    EosPosition p;
    if (!ParseLsn(lsn->get<std::string>(), &p.lsn)) return ParsedPosition::NotOne;
    if (changes->is_null()) {
        p.complete = true;
    } else if (changes->is_number_unsigned()) {
        p.complete = false;
        p.changes = changes->get<uint64_t>();
    } else {
        return ParsedPosition::NotOne;
    }
    if (mac == j.end() || !mac->is_string()) return ParsedPosition::BadMac;
    std::string want = HmacSha256Hex(key, Signed(transactional_id, lsn->get<std::string>(), p));
    const std::string &got = mac->get_ref<const std::string &>();
    if (key.empty() || want.empty() || got.size() != want.size() ||
        CRYPTO_memcmp(got.data(), want.data(), want.size()) != 0)
        return ParsedPosition::BadMac;
    p.valid = true;
    *out = p;
    return ParsedPosition::Ok;
}

}  // namespace kafka_fdw::kafka
