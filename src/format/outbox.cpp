// The outbox message payload (see outbox.hpp).  Pure C++.
#include "format/outbox.hpp"

#include <algorithm>
#include <stdexcept>

namespace kafka_fdw::format::outbox {
namespace {

void Put(std::string *out, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutBytes(std::string *out, std::string_view s, int n) {
    uint64_t max = n == 2 ? 0xffffu : 0xffffffffu;
    if (s.size() > max) throw std::length_error("outbox message part too long");
    Put(out, s.size(), n);
    out->append(s);
}

void PutOptional(std::string *out, bool has, std::string_view s) {
    out->push_back(has ? 1 : 0);
    if (has) PutBytes(out, s, 4);
}

class Reader {
public:
    explicit Reader(std::string_view s) : s_(s) {}
    bool Uint(int n, uint64_t *v) {
        if (s_.size() - pos_ < static_cast<size_t>(n)) return false;
        *v = 0;
        for (int i = 0; i < n; ++i) *v = (*v << 8) | static_cast<uint8_t>(s_[pos_++]);
        return true;
    }
    bool Bytes(int n, std::string_view *out) {
        uint64_t len;
        if (!Uint(n, &len) || s_.size() - pos_ < len) return false;
        *out = s_.substr(pos_, len);
        pos_ += len;
        return true;
    }
    bool Optional(bool *has, std::string_view *out) {
        uint64_t flag;
        if (!Uint(1, &flag) || flag > 1) return false;
        *has = flag == 1;
        *out = {};
        return !*has || Bytes(4, out);
    }
    size_t pos() const { return pos_; }

private:
    std::string_view s_;
    size_t pos_ = 0;
};

}  // namespace

void Encode(const Payload &p, std::string *out) {
    out->push_back(static_cast<char>(kVersion));
    PutBytes(out, p.pipeline, 2);
    PutBytes(out, p.topic, 2);
    PutOptional(out, p.has_key, p.key);
    PutOptional(out, p.has_value, p.value);
    if (p.headers.size() > 0xffff) throw std::length_error("too many outbox message headers");
    Put(out, p.headers.size(), 2);
    for (const Header &h : p.headers) {
        PutBytes(out, h.name, 2);
        PutOptional(out, h.has_value, h.value);
    }
}

bool Decode(std::string_view content, Payload *out) {
    if (content.size() < kTagLen + 1) return false;
    std::string_view body = content.substr(0, content.size() - kTagLen);
    Reader r(body);
    uint64_t version, n;
    if (!r.Uint(1, &version) || version != kVersion) return false;
    if (!r.Bytes(2, &out->pipeline) || !r.Bytes(2, &out->topic)) return false;
    if (!r.Optional(&out->has_key, &out->key) || !r.Optional(&out->has_value, &out->value)) return false;
    if (!r.Uint(2, &n)) return false;
    out->headers.clear();
    // each header takes at least 3 bytes: no reserve beyond what is there
    out->headers.reserve(std::min<size_t>(n, (body.size() - r.pos()) / 3));
    for (uint64_t i = 0; i < n; ++i) {
        Header &h = out->headers.emplace_back();
        if (!r.Bytes(2, &h.name) || !r.Optional(&h.has_value, &h.value)) return false;
    }
    if (r.pos() != body.size()) return false;
    out->signed_part = body;
    out->tag = content.substr(body.size());
    return true;
}

}  // namespace kafka_fdw::format::outbox
