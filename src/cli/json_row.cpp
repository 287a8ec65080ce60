#include "cli/json_row.hpp"

#include "format/json.hpp"

#include <cctype>
#include <cstring>
#include <strings.h>

namespace kafka_fdw::cli {

ColumnType ParseTypeName(const std::string &raw) {
    // lower case, typmods removed, spaces collapsed
    std::string n;
    int depth = 0;
    for (char c : raw) {
        if (c == '(') depth++;
        else if (c == ')') depth = depth > 0 ? depth - 1 : 0;
        else if (depth == 0) {
            if (isspace(static_cast<unsigned char>(c))) {
                if (!n.empty() && n.back() != ' ') n.push_back(' ');
            } else {
                n.push_back(static_cast<char>(tolower(static_cast<unsigned char>(c))));
            }
        }
    }
    while (!n.empty() && n.back() == ' ') n.pop_back();
    ColumnType t;
    while (n.size() >= 2 && n.compare(n.size() - 2, 2, "[]") == 0) {
        t.array = true;
        n.resize(n.size() - 2);
        while (!n.empty() && n.back() == ' ') n.pop_back();
    }
    if (n.size() > 6 && n.compare(n.size() - 6, 6, " array") == 0) {
        t.array = true;
        n.resize(n.size() - 6);
    }
    if (n.compare(0, 11, "pg_catalog.") == 0) n.erase(0, 11);
    if (!t.array && n.size() > 1 && n[0] == '_') {  // internal array type names
        t.array = true;
        n.erase(0, 1);
    }
    static const char *const numbers[] = {
        "smallint", "int2",    "integer", "int",     "int4",    "bigint",  "int8",
        "real",     "float4",  "double precision", "float8", "float", "numeric",
        "decimal",  "oid",     "smallserial", "serial", "serial2", "serial4", "bigserial",
        "serial8"};
    for (const char *x : numbers)
        if (n == x) {
            t.kind = JsonKind::Number;
            return t;
        }
    if (n == "bool" || n == "boolean") t.kind = JsonKind::Bool;
    else if (n == "json" || n == "jsonb") t.kind = JsonKind::Json;
    else if (n == "date") t.kind = JsonKind::Date;
    else if (n == "timestamp" || n == "timestamp without time zone") t.kind = JsonKind::Timestamp;
    else if (n == "timestamptz" || n == "timestamp with time zone") t.kind = JsonKind::TimestampTz;
    return t;
}

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

namespace {

bool Is(const char *s, size_t len, const char *word) {
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

// "2024-01-02 03:04:05.5+01" -> "2024-01-02T03:04:05.5+01:00" (XSD style, as
// row_to_json writes date/time values); " BC" and infinities kept.
void AppendIsoDateTime(std::string &out, const char *s, size_t len, bool with_tz) {
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
    // the time, up to the zone (with_tz) or to the end / " BC"
    size_t t0 = i;
    while (i < len && s[i] != ' ' && !(with_tz && i > t0 && (s[i] == '+' || s[i] == '-'))) i++;
    out.append(s + t0, i - t0);
    if (with_tz && i < len && (s[i] == '+' || s[i] == '-')) {
        size_t z0 = i;
        i++;
        while (i < len && s[i] != ' ') i++;
        out.append(s + z0, i - z0);
        if (i - z0 == 3) out.append(":00");  // +HH -> +HH:00
    }
    out.append(s + i, len - i);
    out.push_back('"');
}

bool AppendScalar(std::string &out, JsonKind kind, const char *s, size_t len, std::string &error) {
    switch (kind) {
    case JsonKind::Number:
        if (IsJsonNumber(s, len)) {
            out.append(s, len);
        } else if (Is(s, len, "NaN") || Is(s, len, "Infinity") || Is(s, len, "-Infinity")) {
            format::AppendJsonString(out, s, len);  // as row_to_json does
        } else {
            error = "invalid number \"" + std::string(s, len) + "\"";
            return false;
        }
        return true;
    case JsonKind::Bool:
        if (Is(s, len, "t") || Is(s, len, "true") || Is(s, len, "y") || Is(s, len, "yes") ||
            Is(s, len, "on") || Is(s, len, "1")) {
            out.append("true");
        } else if (Is(s, len, "f") || Is(s, len, "false") || Is(s, len, "n") || Is(s, len, "no") ||
                   Is(s, len, "off") || Is(s, len, "0")) {
            out.append("false");
        } else {
            error = "invalid boolean \"" + std::string(s, len) + "\"";
            return false;
        }
        return true;
    case JsonKind::Json:
        out.append(s, len);  // the text of a json/jsonb value is JSON
        return true;
    case JsonKind::Timestamp:
        AppendIsoDateTime(out, s, len, false);
        return true;
    case JsonKind::TimestampTz:
        AppendIsoDateTime(out, s, len, true);
        return true;
    case JsonKind::Date:
    case JsonKind::String:
        format::AppendJsonString(out, s, len);
        return true;
    }
    return true;
}

// A Postgres array literal -> a JSON array, recursively.
bool AppendArray(std::string &out, JsonKind kind, const char *s, size_t len, size_t &i,
                 std::string &error) {
    if (i >= len || s[i] != '{') {
        error = "malformed array literal";
        return false;
    }
    i++;
    out.push_back('[');
    bool first = true;
    std::string elem;
    for (;;) {
        while (i < len && isspace(static_cast<unsigned char>(s[i]))) i++;
        if (i >= len) {
            error = "malformed array literal";
            return false;
        }
        if (s[i] == '}' && first) {
            i++;
            break;
        }
        if (!first) out.push_back(',');
        first = false;
        if (s[i] == '{') {
            if (!AppendArray(out, kind, s, len, i, error)) return false;
        } else {
            bool quoted = s[i] == '"';
            elem.clear();
            if (quoted) {
                i++;
                while (i < len && s[i] != '"') {
                    if (s[i] == '\\' && i + 1 < len) i++;
                    elem.push_back(s[i++]);
                }
                if (i >= len) {
                    error = "malformed array literal";
                    return false;
                }
                i++;
            } else {
                while (i < len && s[i] != ',' && s[i] != '}') {
                    if (s[i] == '\\' && i + 1 < len) i++;
                    elem.push_back(s[i++]);
                }
                while (!elem.empty() && isspace(static_cast<unsigned char>(elem.back()))) elem.pop_back();
            }
            if (!quoted && Is(elem.data(), elem.size(), "NULL")) out.append("null");
            else if (!AppendScalar(out, kind, elem.data(), elem.size(), error)) return false;
        }
        while (i < len && isspace(static_cast<unsigned char>(s[i]))) i++;
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == '}') {
            i++;
            break;
        }
        error = "malformed array literal";
        return false;
    }
    out.push_back(']');
    return true;
}

}  // namespace

bool AppendJsonValue(std::string &out, const ColumnType &type, const char *s, size_t len,
                     std::string &error) {
    if (!type.array) return AppendScalar(out, type.kind, s, len, error);
    size_t i = 0;
    if (i < len && s[i] == '[') {  // dimension decoration: [0:1]={...}
        const char *eq = static_cast<const char *>(memchr(s, '=', len));
        if (!eq) {
            error = "malformed array literal";
            return false;
        }
        i = static_cast<size_t>(eq - s) + 1;
    }
    size_t mark = out.size();
    if (!AppendArray(out, type.kind, s, len, i, error) || i != len) {
        out.resize(mark);
        if (error.empty()) error = "malformed array literal";
        return false;
    }
    return true;
}

}  // namespace kafka_fdw::cli
