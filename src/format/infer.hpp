// Schema inference for IMPORT FOREIGN SCHEMA: from a sample of message values
// and keys, the table's format and, for JSON, one column per top-level member
// (first-seen order) with the narrowest PostgreSQL type that fits every
// sampled value.
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace kafka_fdw::format {

enum class InferredType { Unknown, Bool, BigInt, Numeric, Timestamptz, Uuid, Text, Jsonb };

const char *PgTypeName(InferredType t);

// The narrowest type that holds values of both types.
InferredType Widen(InferredType a, InferredType b);

struct InferredColumn {
    std::string member;  // the JSON member name
    InferredType type;
};

class SchemaInferrer {
public:
    enum class Format { Empty, Json, Text, Bytea };

    void AddMessage(const char *value, size_t value_len, bool value_null, const char *key, size_t key_len,
                    bool key_null);

    // Format `auto`: json if every non-null value is a JSON object, else text
    // if every one is valid UTF-8 without NUL, else bytea; Empty if there
    // was no non-null value.
    Format format() const;
    const std::vector<InferredColumn> &columns() const { return columns_; }
    bool key_is_binary() const { return key_binary_; }
    size_t messages() const { return messages_; }
    size_t not_objects() const { return not_objects_; }

private:
    void AddObject(const char *value, size_t len);

    std::vector<InferredColumn> columns_;
    size_t messages_ = 0;
    size_t non_null_ = 0;
    size_t not_objects_ = 0;
    bool all_utf8_ = true;
    bool key_binary_ = false;
};

// The type of a JSON string's content: Timestamptz (ISO 8601), Uuid or Text.
InferredType ClassifyString(const std::string &s);

// A column name for a member: the member itself when it is a plain
// lower-case identifier, else a sanitized one (the caller then keeps the
// member name in the column's `json` option).
std::string ColumnNameFor(const std::string &member);

}  // namespace kafka_fdw::format
