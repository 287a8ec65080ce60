// See row_json.hpp.
#include "format/row_json.hpp"

#include "format/json.hpp"
#include "format/pg_text.hpp"

#include <cctype>
#include <cstring>
#include <strings.h>

namespace kafka_fdw::format {

namespace {

bool Is(const char *s, size_t len, const char *word) {
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

// bool_in's spellings (case-insensitive); 1: true, 0: false, -1: neither.
int BoolOf(const char *s, size_t len) {
    if (len == 1 && s[0] == 't') return 1;  // bool_out's
    if (len == 1 && s[0] == 'f') return 0;
    if (Is(s, len, "t") || Is(s, len, "true") || Is(s, len, "y") || Is(s, len, "yes") || Is(s, len, "on") ||
        Is(s, len, "1"))
        return 1;
    if (Is(s, len, "f") || Is(s, len, "false") || Is(s, len, "n") || Is(s, len, "no") || Is(s, len, "off") ||
        Is(s, len, "0"))
        return 0;
    return -1;
}

// Restores the nesting level when a call returns (or throws).
struct Level {
    explicit Level(size_t &d) : depth(d) { depth++; }
    ~Level() { depth--; }
    size_t &depth;
};

}  // namespace

bool IsJsonNumber(const char *s, size_t len) noexcept {
    size_t i = 0;
    if (i < len && s[i] == '-') i++;
    if (i >= len) return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && isdigit(static_cast<unsigned char>(s[i]))) i++;
    } else {
        return false;
    }
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !isdigit(static_cast<unsigned char>(s[i]))) return false;
        while (i < len && isdigit(static_cast<unsigned char>(s[i]))) i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= len || !isdigit(static_cast<unsigned char>(s[i]))) return false;
        while (i < len && isdigit(static_cast<unsigned char>(s[i]))) i++;
    }
    return i == len;
}

void AppendIsoDateTime(std::string &out, const char *s, size_t len, bool with_zone) {
    if (JsonNeedsEscape(s, len)) {  // not a date/time's text (kafka_copy's input): still one JSON string
        AppendJsonString(out, s, len);
        return;
    }
    out.push_back('"');
    const char *sp = static_cast<const char *>(memchr(s, ' ', len));
    if (!sp || Is(s, len, "infinity") || Is(s, len, "-infinity")) {
        out.append(s, len);
        out.push_back('"');
        return;
    }
    size_t i = static_cast<size_t>(sp - s);
    out.append(s, i);
    out.push_back('T');
    i++;
    // the time, up to the zone (with_zone) or to the end / " BC"
    size_t t0 = i;
    while (i < len && s[i] != ' ' && !(with_zone && i > t0 && (s[i] == '+' || s[i] == '-'))) i++;
    out.append(s + t0, i - t0);
    if (with_zone && i < len && (s[i] == '+' || s[i] == '-')) {
        size_t z0 = i;
        i++;
        while (i < len && s[i] != ' ') i++;
        out.append(s + z0, i - z0);
        if (i - z0 == 3) out.append(":00");  // +HH -> +HH:00
    }
    out.append(s + i, len - i);
    out.push_back('"');
}

char *RowJsonWriter::Scratch(size_t len) {
    if (depth_ >= scratch_.size()) scratch_.emplace_back();
    std::string &b = scratch_[depth_];
    if (b.size() < len + 1) b.resize(len + 1);
    return &b[0];
}

bool RowJsonWriter::AppendValue(std::string &out, const JsonSpec &spec, const char *s, size_t len,
                                std::string *error) {
    switch (spec.kind) {
    case JsonKind::Json:
        out.append(s, len);
        return true;
    case JsonKind::Number:
        if (IsJsonNumber(s, len)) {
            out.append(s, len);
            return true;
        }
        if (error && !Is(s, len, "NaN") && !Is(s, len, "Infinity") && !Is(s, len, "-Infinity")) {
            *error = "invalid number \"" + std::string(s, len) + "\"";
            return false;
        }
        AppendJsonString(out, s, len);  // NaN, Infinity: strings, as row_to_json writes them
        return true;
    case JsonKind::Bool: {
        int v = BoolOf(s, len);
        if (v < 0) {
            if (error) {
                *error = "invalid boolean \"" + std::string(s, len) + "\"";
                return false;
            }
            v = len > 0 && s[0] == 't';
        }
        out.append(v ? "true" : "false");
        return true;
    }
    case JsonKind::Timestamp:
    case JsonKind::TimestampTz:
        AppendIsoDateTime(out, s, len, spec.kind == JsonKind::TimestampTz);
        return true;
    case JsonKind::Array:
        return AppendArray(out, spec, s, len, error);
    case JsonKind::Vector:
        return AppendVector(out, spec, s, len, error);
    case JsonKind::Composite:
        return AppendComposite(out, spec, s, len, error);
    case JsonKind::String:
    case JsonKind::Date:
        break;
    }
    AppendJsonString(out, s, len);
    return true;
}

// The dimensions of array_out's text ("{1,2}", "{{1,2},{3,4}}", "[0:1]={7,8}")
// as nested JSON arrays, array_to_json's layout.
bool RowJsonWriter::AppendArray(std::string &out, const JsonSpec &spec, const char *s, size_t len,
                                std::string *error) {
    size_t start = out.size();
    char *buf = Scratch(len);
    Level level(depth_);
    pgtext::ArrayLexer lex(s, len, spec.delim ? spec.delim : ',');
    bool first = true;
    for (;;) {
        size_t n = 0;
        switch (lex.Next(buf, &n)) {
        case pgtext::Token::Open:
            if (!first) out.push_back(',');
            out.push_back('[');
            first = true;
            continue;
        case pgtext::Token::Close:
            out.push_back(']');
            first = false;
            continue;
        case pgtext::Token::Null:
            if (!first) out.push_back(',');
            out.append("null");
            first = false;
            continue;
        case pgtext::Token::Item:
            if (!first) out.push_back(',');
            if (!AppendValue(out, *spec.elem, buf, n, error)) {
                out.resize(start);
                return false;
            }
            first = false;
            continue;
        case pgtext::Token::End:
            return true;
        case pgtext::Token::Error:
            break;
        }
        break;
    }
    out.resize(start);
    if (error) {
        *error = "malformed array literal";
        return false;
    }
    AppendJsonString(out, s, len);
    return true;
}

// int2vector, oidvector ("1 2 3") as array_to_json writes them.
bool RowJsonWriter::AppendVector(std::string &out, const JsonSpec &spec, const char *s, size_t len,
                                 std::string *error) {
    size_t start = out.size();
    pgtext::VectorLexer lex(s, len);
    out.push_back('[');
    const char *item;
    size_t n;
    for (bool first = true; lex.Next(&item, &n) == pgtext::Token::Item; first = false) {
        if (!first) out.push_back(',');
        if (!AppendValue(out, *spec.elem, item, n, error)) {
            out.resize(start);
            return false;
        }
    }
    out.push_back(']');
    return true;
}

// A composite's text ((...), record_out) as row_to_json writes it, with the
// fields of the spec (the type's attributes when record_out wrote it).
bool RowJsonWriter::AppendComposite(std::string &out, const JsonSpec &spec, const char *s, size_t len,
                                    std::string *error) {
    size_t start = out.size();
    char *buf = Scratch(len);
    Level level(depth_);
    pgtext::RecordLexer lex(s, len);
    out.push_back('{');
    bool ok = true;
    for (int i = 0; i < spec.nfields && ok; i++) {
        size_t n = 0;
        pgtext::Token tok = lex.Next(buf, &n);
        if (i > 0) out.push_back(',');
        out.append(spec.field_names[i]);
        if (tok == pgtext::Token::Item) {
            if (!AppendValue(out, spec.fields[i], buf, n, error)) {
                out.resize(start);
                return false;
            }
        } else if (tok == pgtext::Token::Null) {
            out.append("null");
        } else {
            ok = false;
        }
    }
    out.push_back('}');
    size_t n = 0;
    // record_out writes "()" for a type without attributes
    if (ok && spec.nfields == 0 && lex.Next(buf, &n) != pgtext::Token::Null) ok = false;
    if (ok && lex.Next(buf, &n) != pgtext::Token::End) ok = false;
    if (ok) return true;
    out.resize(start);
    if (error) {
        *error = "malformed record literal";
        return false;
    }
    AppendJsonString(out, s, len);
    return true;
}

bool RowJsonWriter::AppendObject(std::string &out, const JsonField *fields, size_t n, std::string *error,
                                 size_t *failed) {
    size_t start = out.size();
    out.push_back('{');
    for (size_t i = 0; i < n; i++) {
        const JsonField &f = fields[i];
        if (i) out.push_back(',');
        out.append(f.name, f.name_len);
        if (f.null) {
            out.append("null");
        } else if (!AppendValue(out, *f.spec, f.data, f.len, error)) {
            out.resize(start);
            if (failed) *failed = i;
            return false;
        }
    }
    out.push_back('}');
    return true;
}

}  // namespace kafka_fdw::format
