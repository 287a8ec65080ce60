// A tiny self-registering test framework for the pure C++ core.
//
//   TEST(name) { ... }            defines and registers a test
//   DISABLED_TEST(name) { ... }   compiled and registered, but run only when
//                                 UNIT_RUN_DISABLED=1 (used for known bugs)
//   CHECK(cond)                   records a failure (file:line) and goes on
//   CHECK_EQ(a, b)                same, printing both values when they differ
//   CHECK_THROWS(expr, Type)      expr must throw Type (or a subclass)
//   CHECK_NOTHROW(expr)           expr must not throw
//   REQUIRE(cond)                 records a failure and ends the test
//
// An exception escaping a test is a failure.  main.cpp runs the tests.
#pragma once

#include <cstdint>
#include <exception>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace unit {

using TestFn = void (*)();

struct TestCase {
    const char *name;
    TestFn fn;
    const char *file;
    int line;
    bool disabled;  // DISABLED_TEST: run only with UNIT_RUN_DISABLED=1
};

// All registered tests, in registration order.
std::vector<TestCase> &Registry();

struct Registrar {
    Registrar(const char *name, TestFn fn, const char *file, int line, bool disabled = false) {
        Registry().push_back({name, fn, file, line, disabled});
    }
};

// Records one failure of the running test.
void RecordFailure(const char *file, int line, const std::string &message);

// Thrown by REQUIRE after it recorded its failure: ends the test quietly.
struct AbortTest {};

namespace detail {

template <typename T, typename = void>
struct Streamable : std::false_type {};
template <typename T>
struct Streamable<T, std::void_t<decltype(std::declval<std::ostream &>() << std::declval<const T &>())>>
    : std::true_type {};

inline std::string Quote(const std::string &s) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20 || c >= 0x7f) {
                out += "\\x";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 15]);
            } else {
                out.push_back(static_cast<char>(c));
            }
        }
    }
    return out + "\"";
}

}  // namespace detail

template <typename T>
std::string Show(const T &v) {
    using D = std::decay_t<T>;
    if constexpr (std::is_same_v<D, std::string>) {
        return detail::Quote(v);
    } else if constexpr (std::is_array_v<T> && std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>) {
        return detail::Quote(std::string(v));
    } else if constexpr (std::is_same_v<D, const char *> || std::is_same_v<D, char *>) {
        return v ? detail::Quote(v) : std::string("(null)");
    } else if constexpr (std::is_same_v<D, bool>) {
        return v ? "true" : "false";
    } else if constexpr (std::is_same_v<D, char> || std::is_same_v<D, signed char> ||
                         std::is_same_v<D, unsigned char>) {
        return detail::Quote(std::string(1, static_cast<char>(v)));
    } else if constexpr (std::is_enum_v<D>) {
        return std::to_string(static_cast<long long>(v));
    } else if constexpr (std::is_pointer_v<D> || std::is_null_pointer_v<D>) {
        std::ostringstream os;
        os << static_cast<const void *>(v);
        return os.str();
    } else if constexpr (detail::Streamable<D>::value) {
        std::ostringstream os;
        os << v;
        return os.str();
    } else {
        return "(value)";
    }
}

// Equality without sign-compare surprises (and without warnings).
template <typename A, typename B>
bool Equal(const A &a, const B &b) {
    using DA = std::decay_t<A>;
    using DB = std::decay_t<B>;
    if constexpr (std::is_integral_v<DA> && std::is_integral_v<DB> && !std::is_same_v<DA, bool> &&
                  !std::is_same_v<DB, bool>) {
        if constexpr (std::is_signed_v<DA> == std::is_signed_v<DB>) {
            return a == b;
        } else if constexpr (std::is_signed_v<DA>) {
            return a >= 0 && static_cast<std::make_unsigned_t<DA>>(a) == b;
        } else {
            return b >= 0 && a == static_cast<std::make_unsigned_t<DB>>(b);
        }
    } else if constexpr ((std::is_same_v<DA, const char *> || std::is_same_v<DA, char *>) &&
                         (std::is_same_v<DB, const char *> || std::is_same_v<DB, char *>)) {
        // two C strings: compare the text, not the pointers
        if (!a || !b) return a == b;
        return std::string(a) == std::string(b);
    } else {
        return a == b;
    }
}

template <typename A, typename B>
void CheckEq(const A &a, const B &b, const char *ea, const char *eb, const char *file, int line) {
    if (Equal(a, b)) return;
    RecordFailure(file, line,
                  std::string("CHECK_EQ(") + ea + ", " + eb + ") failed: " + Show(a) + " != " + Show(b));
}

}  // namespace unit

#define UNIT_CAT2(a, b) a##b
#define UNIT_CAT(a, b) UNIT_CAT2(a, b)

#define TEST(name)                                                                           \
    static void unit_test_##name();                                                          \
    static const ::unit::Registrar unit_registrar_##name(#name, &unit_test_##name, __FILE__, \
                                                         __LINE__);                          \
    static void unit_test_##name()

#define DISABLED_TEST(name)                                                                  \
    static void unit_test_##name();                                                          \
    static const ::unit::Registrar unit_registrar_##name(#name, &unit_test_##name, __FILE__, \
                                                         __LINE__, true);                    \
    static void unit_test_##name()

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) ::unit::RecordFailure(__FILE__, __LINE__, "CHECK(" #cond ") failed"); \
    } while (0)

#define CHECK_EQ(a, b) ::unit::CheckEq((a), (b), #a, #b, __FILE__, __LINE__)

#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            ::unit::RecordFailure(__FILE__, __LINE__, "REQUIRE(" #cond ") failed");   \
            throw ::unit::AbortTest{};                                                 \
        }                                                                              \
    } while (0)

#define CHECK_THROWS(expr, Type)                                                             \
    do {                                                                                     \
        bool unit_threw_ = false;                                                            \
        try {                                                                                \
            (void)(expr);                                                                    \
        } catch (const Type &) {                                                             \
            unit_threw_ = true;                                                              \
        } catch (...) {                                                                      \
            ::unit::RecordFailure(__FILE__, __LINE__,                                        \
                                  "CHECK_THROWS(" #expr ", " #Type ") threw another exception"); \
            unit_threw_ = true;                                                              \
        }                                                                                    \
        if (!unit_threw_)                                                                    \
            ::unit::RecordFailure(__FILE__, __LINE__,                                        \
                                  "CHECK_THROWS(" #expr ", " #Type ") did not throw");       \
    } while (0)

#define CHECK_NOTHROW(expr)                                                                  \
    do {                                                                                     \
        try {                                                                                \
            (void)(expr);                                                                    \
        } catch (const std::exception &unit_e_) {                                            \
            ::unit::RecordFailure(__FILE__, __LINE__,                                        \
                                  std::string("CHECK_NOTHROW(" #expr ") threw: ") + unit_e_.what()); \
        } catch (...) {                                                                      \
            ::unit::RecordFailure(__FILE__, __LINE__, "CHECK_NOTHROW(" #expr ") threw");     \
        }                                                                                    \
    } while (0)
