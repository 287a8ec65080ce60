#include "cli/json_row.hpp"

#include <cctype>

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

format::JsonSpec SpecOf(const ColumnType &type) {
    // one element spec per scalar kind, for arrays
    static const format::JsonSpec elems[] = {
        {JsonKind::String, ',', nullptr, 0, nullptr, nullptr, nullptr},
        {JsonKind::Number, ',', nullptr, 0, nullptr, nullptr, nullptr},
        {JsonKind::Bool, ',', nullptr, 0, nullptr, nullptr, nullptr},
        {JsonKind::Json, ',', nullptr, 0, nullptr, nullptr, nullptr},
        {JsonKind::Date, ',', nullptr, 0, nullptr, nullptr, nullptr},
        {JsonKind::Timestamp, ',', nullptr, 0, nullptr, nullptr, nullptr},
        {JsonKind::TimestampTz, ',', nullptr, 0, nullptr, nullptr, nullptr},
    };
    static_assert(static_cast<int>(JsonKind::TimestampTz) == 6, "elems follows JsonKind's order");
    const format::JsonSpec &scalar = elems[static_cast<int>(type.kind)];
    if (!type.array) return scalar;
    return {JsonKind::Array, ',', &scalar, 0, nullptr, nullptr, nullptr};
}

}  // namespace kafka_fdw::cli
