// See debezium_value.hpp.
#include "format/debezium_value.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace kafka_fdw::format::dbz {

namespace {

constexpr int64_t kUsPerSec = 1000000;
constexpr int64_t kUsPerDay = 86400 * kUsPerSec;
// Debezium's values for +-infinity timestamps (postgresql.adoc).
constexpr int64_t kPlusInfinity = 9223372036825200000LL;
constexpr int64_t kMinusInfinity = -9223372036832400000LL;

}  // namespace

const char *FallbackJson(Kind kind) noexcept {
    switch (kind) {
    case Kind::Bool: return "false";
    case Kind::Int16: case Kind::Int32: case Kind::Int64: case Kind::Float32: case Kind::Float64:
    case Kind::Date: case Kind::TimeMs: case Kind::TimeUs: case Kind::TimestampMs: case Kind::TimestampUs:
    case Kind::Interval: return "0";
    case Kind::Decimal: return "\"AA==\"";
    case Kind::VarDecimal: return "{\"scale\":0,\"value\":\"AA==\"}";
    case Kind::Array: return "[]";
    default: return "\"\"";  // strings, bytes (empty base64)
    }
}

const char *UnavailableJson(Kind kind, Kind elem) noexcept {
    switch (kind) {
    case Kind::String: case Kind::Json: case Kind::Xml: case Kind::Enum: case Kind::Uuid:
        return "\"__debezium_unavailable_value\"";
    case Kind::Bytes:  // the placeholder's bytes in base64
        return "\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"";
    case Kind::Array:
        return elem == Kind::String ? "[\"__debezium_unavailable_value\"]" : "null";
    default:
        return "null";
    }
}

size_t Base64Encode(const unsigned char *src, size_t n, char *dst) noexcept {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *d = dst;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
        *d++ = alphabet[(v >> 6) & 63];
        *d++ = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < n ? (uint32_t)src[i + 1] << 8 : 0);
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
        *d++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        *d++ = '=';
    }
    return static_cast<size_t>(d - dst);
}

bool Unscaled(const char *text, size_t len, unsigned char *scratch, const unsigned char **bytes, size_t *n_out,
              int *scale) noexcept {
    // decimal digits (each < 10 all along: one byte each) in scratch[0, len),
    // the bytes after them
    bool neg = len > 0 && text[0] == '-';
    unsigned char *digits = scratch;
    size_t nd = 0;
    int sc = 0;
    bool point = false;
    for (size_t i = neg ? 1 : 0; i < len; i++) {
        char c = text[i];
        if (c == '.') {
            point = true;
        } else if (c >= '0' && c <= '9') {
            digits[nd++] = static_cast<unsigned char>(c - '0');
            if (point) sc++;
        } else {
            return false;  // NaN, Infinity
        }
    }
    // base 10 -> base 256 by repeated division; bytes come out least
    // significant first, written from the end of b (one spare byte in front
    // for the sign)
    size_t cap = nd / 2 + 2;
    unsigned char *b = scratch + len;
    memset(b, 0, cap);
    size_t pos = cap;
    size_t start = 0;
    while (start < nd && digits[start] == 0) start++;
    while (start < nd) {
        int rem = 0;
        for (size_t i = start; i < nd; i++) {
            int cur = rem * 10 + digits[i];
            digits[i] = static_cast<unsigned char>(cur / 256);
            rem = cur % 256;
        }
        b[--pos] = static_cast<unsigned char>(rem);
        while (start < nd && digits[start] == 0) start++;
    }
    size_t n = cap - pos;  // magnitude bytes in b[pos, cap)
    if (n == 0) neg = false;  // -0
    if (!neg) {
        if (n == 0 || (b[pos] & 0x80)) {
            b[--pos] = 0;
            n++;
        }
    } else {
        for (size_t i = pos; i < cap; i++) b[i] = static_cast<unsigned char>(~b[i]);
        for (size_t i = cap; i-- > pos;)
            if (++b[i] != 0) break;
        if (!(b[pos] & 0x80)) {
            b[--pos] = 0xff;
            n++;
        }
        while (n > 1 && b[pos] == 0xff && (b[pos + 1] & 0x80)) {
            pos++;
            n--;
        }
    }
    *scale = sc;
    *bytes = b + pos;
    *n_out = n;
    return true;
}

size_t FormatClock(char *dst, int64_t us, int digits) noexcept {
    int64_t secs = us / kUsPerSec;
    int64_t frac = us % kUsPerSec;
    int len = snprintf(dst, kTextSize, "%02d:%02d:%02d", (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    char f[16];
    snprintf(f, sizeof f, "%06d", (int)frac);
    int n = digits;
    if (n < 0) {
        n = 6;
        while (n > 0 && f[n - 1] == '0') n--;
    }
    if (n > 0) len += snprintf(dst + len, kTextSize - (size_t)len, ".%.*s", n, f);
    return (size_t)len;
}

size_t FormatZonedTimestamp(char *dst, int year, int mon, int mday, int64_t time_us, int digits) noexcept {
    int len;
    if (year > 9999) len = snprintf(dst, kTextSize, "\"+%d", year);
    else if (year < 0) len = snprintf(dst, kTextSize, "\"-%04d", -year);
    else len = snprintf(dst, kTextSize, "\"%04d", year);
    len += snprintf(dst + len, kTextSize - (size_t)len, "-%02d-%02dT", mon, mday);
    len += (int)FormatClock(dst + len, time_us, digits);
    memcpy(dst + len, "Z\"", 3);
    return (size_t)len + 2;
}

size_t FormatZonedTime(char *dst, int64_t time_us, int32_t zone_west_s) noexcept {
    int64_t utc = (time_us + (int64_t)zone_west_s * kUsPerSec) % kUsPerDay;
    if (utc < 0) utc += kUsPerDay;
    dst[0] = '"';
    size_t len = 1 + FormatClock(dst + 1, utc, -1);
    memcpy(dst + len, "Z\"", 3);
    return len + 2;
}

int64_t TimestampValue(int64_t pg_us, bool millis) noexcept {
    if (pg_us == INT64_MIN) return kMinusInfinity;
    if (pg_us == INT64_MAX) return kPlusInfinity;
    if (pg_us > INT64_MAX - kEpochShiftUs) return INT64_MAX;  // saturated, as Debezium
    int64_t v = pg_us + kEpochShiftUs;
    if (millis) v = v >= 0 ? v / 1000 : -((-v + 999) / 1000);
    return v;
}

bool DateValue(int32_t pg_days, int64_t *days) noexcept {
    if (pg_days == INT32_MIN || pg_days == INT32_MAX) return false;  // -infinity, infinity
    *days = pg_days + kEpochShiftDays;
    return true;
}

int64_t IntervalValue(int32_t months, int32_t days, int64_t time_us) noexcept {
    double d = months * (365.25 / 12.0) + days;
    // saturated, as Debezium's MicroDuration (a cast out of range is undefined)
    double day_us = d * (double)kUsPerDay;
    int64_t v;
    if (day_us >= 9.2233720368547758e18) return INT64_MAX;
    if (day_us <= -9.2233720368547758e18) return INT64_MIN;
    if (__builtin_add_overflow((int64_t)day_us, time_us, &v)) return time_us > 0 ? INT64_MAX : INT64_MIN;
    return v;
}

}  // namespace kafka_fdw::format::dbz
