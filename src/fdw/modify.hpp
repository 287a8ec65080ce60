// Encoding helpers shared by INSERT and the produce functions (Postgres zone).
#pragma once

#include "pg/postgres.hpp"

namespace kafka_fdw::fdw {

// A jsonb object of headers: names, values (nullptr for JSON null; strings
// as is; other values as their JSON text).  ERROR if not an object.
void ParseHeaders(Jsonb *jb, const char *what, int *n, const char ***names, const char ***values, size_t **lens);

// A non-string jsonb value as JSON text.
char *JsonbScalarText(JsonbValue *v);

}  // namespace kafka_fdw::fdw
