// Debezium's encodings of column values (the pipeline option "format":
// "debezium"; ../shared/design/INTEROP.md §2.6), the parts that are text in,
// text out: numeric text to the base64 of its unscaled value, base64,
// clock and ISO 8601 texts with extended years, the epoch-based numbers of
// dates, timestamps and intervals with Debezium's infinity values and
// saturation, and the fallback and placeholder values by kind.  The CDC
// worker's debezium.cpp reads the values (pgoutput's text) with Postgres'
// built-in input functions where it must and writes the envelope.
//
// Pure C++, noexcept and without allocation: the caller gives the buffers
// (sizes below), so these are callable from the Postgres zone.
#pragma once
#include "cpp_only.hpp"

#include <cstddef>
#include <cstdint>

namespace kafka_fdw::format::dbz {

// Debezium's encodings, by the column's base type.
enum class Kind {
    Bool, Int16, Int32, Int64, Float32, Float64,
    String,        // text and everything without a closer mapping: the text form
    Decimal,       // numeric(p,s): base64 of the unscaled two's complement
    VarDecimal,    // numeric: {"scale":s,"value":<base64>}
    Date,          // days since 1970-01-01
    TimeMs, TimeUs,            // time(0-3) / time(4-6), time
    TimestampMs, TimestampUs,  // timestamp(0-3) / timestamp(4-6), timestamp
    ZonedTimestamp,  // timestamptz: ISO 8601 in UTC
    ZonedTime,       // timetz: ISO 8601 in UTC
    Interval,        // microseconds, 365.25/12-day months
    Uuid, Json, Xml, Enum,  // strings with a semantic name
    Bytes,           // bytea: base64
    Array,
};

// The JSON Debezium writes for a NOT NULL column missing from an old
// key-only row (JdbcValueConverters: the type's zero).
const char *FallbackJson(Kind kind) noexcept;

// The JSON of an unchanged TOASTed value that the WAL does not carry
// (Debezium's unavailable.value.placeholder, by type; null where it has no
// form).  elem: an array's element kind.
const char *UnavailableJson(Kind kind, Kind elem) noexcept;

// Base64 (RFC 4648, padded, no line breaks), as Kafka Connect writes bytes.
inline size_t Base64Length(size_t n) noexcept { return (n + 2) / 3 * 4; }
size_t Base64Encode(const unsigned char *src, size_t n, char *dst) noexcept;

// numeric text ("-12.340") -> the unscaled value (-12340) as Java's
// BigInteger.toByteArray() (minimal two's complement, big-endian): *bytes,
// *n point into scratch (UnscaledScratchSize(len) bytes); *scale gets the
// digits after the point.  False for NaN and infinities.
inline size_t UnscaledScratchSize(size_t len) noexcept { return len + len / 2 + 3; }
bool Unscaled(const char *text, size_t len, unsigned char *scratch, const unsigned char **bytes, size_t *n,
              int *scale) noexcept;

// Texts written into dst, which has room for kTextSize bytes; they return
// the length.
constexpr size_t kTextSize = 64;
// "HH:MM:SS[.ffffff]" of a time of day in microseconds; `digits` fraction
// digits, or -1: as many as needed (none when whole).
size_t FormatClock(char *dst, int64_t us, int digits) noexcept;
// A timestamptz as the JSON string of its ISO 8601 text in UTC, with
// `digits` fraction digits: "2024-01-02T03:04:05.000000Z"; extended years
// as Java writes them: +10000, 0000 (1 BC), -0001 (2 BC).  year counts
// astronomically (timestamp2tm's tm_year); time_us: the time of day.
size_t FormatZonedTimestamp(char *dst, int year, int mon, int mday, int64_t time_us, int digits) noexcept;
// A timetz (time of day, zone in seconds west of UTC as Postgres keeps it)
// as the JSON string of its time in UTC: "03:04:05Z".
size_t FormatZonedTime(char *dst, int64_t time_us, int32_t zone_west_s) noexcept;

// Numbers.  Postgres' timestamps are microseconds since 2000-01-01, its
// dates days since then; Debezium's since 1970-01-01.
constexpr int64_t kEpochShiftDays = 10957;
constexpr int64_t kEpochShiftUs = kEpochShiftDays * 86400 * 1000000;
// A timestamp in microseconds or milliseconds since 1970 (rounded down);
// -infinity and infinity as Debezium writes them; saturated past the end.
int64_t TimestampValue(int64_t pg_us, bool millis) noexcept;
// A date's days since 1970; false for -infinity and infinity (null).
bool DateValue(int32_t pg_days, int64_t *days) noexcept;
// An interval's microseconds with 365.25/12-day months, saturated as
// Debezium's MicroDuration.
int64_t IntervalValue(int32_t months, int32_t days, int64_t time_us) noexcept;

}  // namespace kafka_fdw::format::dbz
