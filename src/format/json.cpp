#include "format/json.hpp"

#include <cstring>

namespace kafka_fdw::format {

namespace {

constexpr int kMaxDepth = 512;

struct Cursor {
    const char *p;
    const char *end;
};

inline void SkipWs(Cursor &c) {
    while (c.p < c.end && (*c.p == ' ' || *c.p == '\t' || *c.p == '\n' || *c.p == '\r')) c.p++;
}

int HexVal(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

void AppendUtf8(std::string &out, unsigned cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Scans a string starting at the opening quote.  When `out` is given, the
// unescaped content is appended to it.  Returns nullptr on success, else why.
const char *ScanString(Cursor &c, std::string *out) {
    c.p++;  // opening quote
    const char *run = c.p;
    while (c.p < c.end) {
        unsigned char ch = static_cast<unsigned char>(*c.p);
        if (ch == '"') {
            if (out) out->append(run, c.p - run);
            c.p++;
            return nullptr;
        }
        if (ch < 0x20) return "control character in string";
        if (ch != '\\') {
            c.p++;
            continue;
        }
        if (out) out->append(run, c.p - run);
        c.p++;
        if (c.p >= c.end) return "unterminated string";
        char e = *c.p++;
        switch (e) {
        case '"': case '\\': case '/':
            if (out) out->push_back(e);
            break;
        case 'b': if (out) out->push_back('\b'); break;
        case 'f': if (out) out->push_back('\f'); break;
        case 'n': if (out) out->push_back('\n'); break;
        case 'r': if (out) out->push_back('\r'); break;
        case 't': if (out) out->push_back('\t'); break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 0; i < 4; i++) {
                if (c.p >= c.end) return "unterminated \\u escape";
                int h = HexVal(*c.p++);
                if (h < 0) return "invalid \\u escape";
                cp = cp * 16 + static_cast<unsigned>(h);
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                // a high surrogate must be followed by a low one
                if (c.end - c.p < 6 || c.p[0] != '\\' || c.p[1] != 'u') return "unpaired surrogate in \\u escape";
                unsigned lo = 0;
                for (int i = 2; i < 6; i++) {
                    int h = HexVal(c.p[i]);
                    if (h < 0) return "invalid \\u escape";
                    lo = lo * 16 + static_cast<unsigned>(h);
                }
                if (lo < 0xDC00 || lo > 0xDFFF) return "unpaired surrogate in \\u escape";
                c.p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return "unpaired surrogate in \\u escape";
            }
            if (out) AppendUtf8(*out, cp);
            break;
        }
        default:
            return "invalid escape in string";
        }
        run = c.p;
    }
    return "unterminated string";
}

const char *ScanNumber(Cursor &c) {
    const char *p = c.p;
    if (p < c.end && *p == '-') p++;
    if (p >= c.end) return "invalid number";
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < c.end && *p >= '0' && *p <= '9') p++;
    } else {
        return "invalid number";
    }
    if (p < c.end && *p == '.') {
        p++;
        if (p >= c.end || *p < '0' || *p > '9') return "invalid number";
        while (p < c.end && *p >= '0' && *p <= '9') p++;
    }
    if (p < c.end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < c.end && (*p == '+' || *p == '-')) p++;
        if (p >= c.end || *p < '0' || *p > '9') return "invalid number";
        while (p < c.end && *p >= '0' && *p <= '9') p++;
    }
    c.p = p;
    return nullptr;
}

const char *ScanLiteral(Cursor &c, const char *lit) {
    size_t n = strlen(lit);
    if (static_cast<size_t>(c.end - c.p) < n || memcmp(c.p, lit, n) != 0) return "invalid literal";
    c.p += n;
    return nullptr;
}

// Skips (validates) any value.
const char *SkipValue(Cursor &c, int depth, JsonType *type) {
    if (depth > kMaxDepth) return "nesting too deep";
    SkipWs(c);
    if (c.p >= c.end) return "unexpected end of input";
    switch (*c.p) {
    case '"':
        *type = JsonType::String;
        return ScanString(c, nullptr);
    case '{': {
        *type = JsonType::Object;
        c.p++;
        SkipWs(c);
        if (c.p < c.end && *c.p == '}') {
            c.p++;
            return nullptr;
        }
        for (;;) {
            SkipWs(c);
            if (c.p >= c.end || *c.p != '"') return "expected member name";
            if (const char *e = ScanString(c, nullptr)) return e;
            SkipWs(c);
            if (c.p >= c.end || *c.p != ':') return "expected ':'";
            c.p++;
            JsonType t;
            if (const char *e = SkipValue(c, depth + 1, &t)) return e;
            SkipWs(c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                continue;
            }
            if (c.p < c.end && *c.p == '}') {
                c.p++;
                return nullptr;
            }
            return "expected ',' or '}'";
        }
    }
    case '[': {
        *type = JsonType::Array;
        c.p++;
        SkipWs(c);
        if (c.p < c.end && *c.p == ']') {
            c.p++;
            return nullptr;
        }
        for (;;) {
            JsonType t;
            if (const char *e = SkipValue(c, depth + 1, &t)) return e;
            SkipWs(c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                continue;
            }
            if (c.p < c.end && *c.p == ']') {
                c.p++;
                return nullptr;
            }
            return "expected ',' or ']'";
        }
    }
    case 't':
        *type = JsonType::Bool;
        return ScanLiteral(c, "true");
    case 'f':
        *type = JsonType::Bool;
        return ScanLiteral(c, "false");
    case 'n':
        *type = JsonType::Null;
        return ScanLiteral(c, "null");
    default:
        *type = JsonType::Number;
        return ScanNumber(c);
    }
}

}  // namespace

JsonObjectReader::JsonObjectReader(std::vector<std::string> wanted)
    : wanted_(std::move(wanted)), found_(wanted_.size()), values_(wanted_.size()),
      string_offsets_(wanted_.size()) {
    arena_.reserve(256);
}

bool JsonObjectReader::Fail(const char *what, const char *at) noexcept {
    try {
        error_ = what;
        if (at) error_ += " at byte " + std::to_string(at - begin_);
    } catch (...) {
    }
    return false;
}

bool JsonObjectReader::Parse(const char *data, size_t len) noexcept {
    try {
        std::fill(found_.begin(), found_.end(), false);
        arena_.clear();
        begin_ = data;
        Cursor c{data, data + len};
        SkipWs(c);
        if (c.p >= c.end) return Fail("empty value", nullptr);
        if (*c.p != '{') {
            JsonType t;
            Cursor probe = c;
            const char *e = SkipValue(probe, 0, &t);
            if (e) return Fail("value is not valid JSON", probe.p);  // where it went wrong
            SkipWs(probe);
            if (probe.p < probe.end) return Fail("unexpected data after the value", probe.p);
            return Fail(t == JsonType::Array    ? "value is a JSON array, not an object"
                        : t == JsonType::String ? "value is a JSON string, not an object"
                                                : "value is a JSON scalar, not an object",
                        nullptr);
        }
        c.p++;
        SkipWs(c);
        bool empty = c.p < c.end && *c.p == '}';
        if (empty) c.p++;
        while (!empty) {
            SkipWs(c);
            if (c.p >= c.end || *c.p != '"') return Fail("expected member name", c.p);
            // Member name: compare raw when it has no escapes (the usual case).
            const char *name_start = c.p + 1;
            if (const char *e = ScanString(c, nullptr)) return Fail(e, c.p);
            const char *name_end = c.p - 1;
            size_t name_len = static_cast<size_t>(name_end - name_start);
            bool escaped = memchr(name_start, '\\', name_len) != nullptr;
            std::string unescaped;
            if (escaped) {
                Cursor nc{name_start - 1, name_end + 1};
                ScanString(nc, &unescaped);
                name_start = unescaped.data();
                name_len = unescaped.size();
            }
            SkipWs(c);
            if (c.p >= c.end || *c.p != ':') return Fail("expected ':'", c.p);
            c.p++;
            SkipWs(c);
            const char *vstart = c.p;
            JsonType t;
            if (const char *e = SkipValue(c, 1, &t)) return Fail(e, c.p);
            for (size_t i = 0; i < wanted_.size(); i++) {
                if (wanted_[i].size() != name_len || memcmp(wanted_[i].data(), name_start, name_len) != 0)
                    continue;
                found_[i] = true;
                if (t == JsonType::String) {
                    Cursor sc{vstart, c.p};
                    size_t off = arena_.size();
                    ScanString(sc, &arena_);
                    string_offsets_[i] = off;
                    values_[i] = {t, nullptr, arena_.size() - off, vstart, static_cast<size_t>(c.p - vstart)};
                } else {
                    values_[i] = {t, vstart, static_cast<size_t>(c.p - vstart), vstart,
                                  static_cast<size_t>(c.p - vstart)};
                }
            }
            SkipWs(c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                continue;
            }
            if (c.p < c.end && *c.p == '}') {
                c.p++;
                break;
            }
            return Fail("expected ',' or '}'", c.p);
        }
        SkipWs(c);
        if (c.p != c.end) return Fail("trailing characters after the object", c.p);
        // The arena may have moved while growing: fix string pointers now.
        for (size_t i = 0; i < wanted_.size(); i++)
            if (found_[i] && values_[i].type == JsonType::String)
                values_[i].data = arena_.data() + string_offsets_[i];
        error_.clear();
        return true;
    } catch (...) {
        return Fail("out of memory", nullptr);
    }
}

namespace {

void AppendPgQuoted(std::string &out, const char *s, size_t len) {
    out.push_back('"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') out.push_back('\\');
        out.push_back(s[i]);
    }
    out.push_back('"');
}

const char *ArrayToPg(Cursor &c, std::string &out, int depth) {
    if (depth > kMaxDepth) return "nesting too deep";
    c.p++;  // '['
    out.push_back('{');
    SkipWs(c);
    if (c.p < c.end && *c.p == ']') {
        c.p++;
        out.push_back('}');
        return nullptr;
    }
    for (bool first = true;; first = false) {
        if (!first) out.push_back(',');
        SkipWs(c);
        if (c.p >= c.end) return "unexpected end of input";
        const char *start = c.p;
        if (*c.p == '[') {
            if (const char *e = ArrayToPg(c, out, depth + 1)) return e;
        } else if (*c.p == '"') {
            std::string tmp;
            if (const char *e = ScanString(c, &tmp)) return e;
            AppendPgQuoted(out, tmp.data(), tmp.size());
        } else {
            JsonType t;
            if (const char *e = SkipValue(c, depth + 1, &t)) return e;
            if (t == JsonType::Null) out += "NULL";
            else if (t == JsonType::Object) AppendPgQuoted(out, start, static_cast<size_t>(c.p - start));
            else out.append(start, static_cast<size_t>(c.p - start));
        }
        SkipWs(c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end && *c.p == ']') {
            c.p++;
            out.push_back('}');
            return nullptr;
        }
        return "expected ',' or ']'";
    }
}

}  // namespace

bool JsonArrayToPgArray(const char *data, size_t len, std::string &out) {
    out.clear();
    Cursor c{data, data + len};
    SkipWs(c);
    if (c.p >= c.end || *c.p != '[') return false;
    if (ArrayToPg(c, out, 0)) return false;
    SkipWs(c);
    return c.p == c.end;
}

bool JsonNeedsEscape(const char *s, size_t len) noexcept {
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s);
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\') return true;
    return false;
}

namespace {

// The escape of one byte in a JSON string literal (escape_json's), written
// to dst; 0 when the byte stands for itself.
size_t EscapeByte(unsigned char ch, char *dst) noexcept {
    static const char hex[] = "0123456789abcdef";
    char c;
    switch (ch) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '\n': c = 'n'; break;
    case '\r': c = 'r'; break;
    case '\t': c = 't'; break;
    case '\b': c = 'b'; break;
    case '\f': c = 'f'; break;
    default:
        if (ch >= 0x20) return 0;
        memcpy(dst, "\\u00", 4);
        dst[4] = hex[ch >> 4];
        dst[5] = hex[ch & 15];
        return 6;
    }
    dst[0] = '\\';
    dst[1] = c;
    return 2;
}

}  // namespace

size_t JsonStringLength(const char *s, size_t len) noexcept {
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s);
    size_t n = len + 2;
    char esc[6];
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\') n += EscapeByte(p[i], esc) - 1;
    return n;
}

size_t WriteJsonString(char *dst, const char *s, size_t len) noexcept {
    char *d = dst;
    *d++ = '"';
    for (size_t i = 0; i < len; i++) {
        size_t n = EscapeByte(static_cast<unsigned char>(s[i]), d);
        if (n == 0) *d++ = s[i];
        else d += n;
    }
    *d++ = '"';
    return static_cast<size_t>(d - dst);
}

void AppendJsonString(std::string &out, const char *s, size_t len) {
    if (!JsonNeedsEscape(s, len)) {
        out.push_back('"');
        out.append(s, len);
        out.push_back('"');
        return;
    }
    size_t at = out.size();
    out.resize(at + JsonStringLength(s, len));
    WriteJsonString(&out[at], s, len);
}

bool IsValidUtf8(const char *s, size_t len) noexcept {
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s);
    const unsigned char *end = p + len;
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        unsigned cp;
        if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
        else return false;
        if (static_cast<size_t>(end - p) < n) return false;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n;
    }
    return true;
}

}  // namespace kafka_fdw::format
