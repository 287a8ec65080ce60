// Readers of PostgreSQL's text forms of arrays and composite values, as
// array_out and record_out write them (and pgoutput sends them).
//
// The CDC worker renders a column of an array or composite type from this
// text, element by element, instead of handing it to array_in/record_in and
// array_to_json/row_to_json: those would call the input functions and casts
// to json of the element and attribute types, and some of those are user
// code (a domain's CHECK constraint, a table owner's CREATE CAST ... AS json),
// which must never run while the WAL is decoded.  See docs/pipelines.md, "Events".
//
// Pure C++, no allocation, no exceptions: callable from the Postgres zone.
// The unescaped text of an element goes into a buffer the caller provides,
// at least as long as the whole input (an element never unescapes to more).
#pragma once
#include "cpp_only.hpp"

#include <cstddef>

namespace kafka_fdw::format::pgtext {

enum class Token {
    Open,   // '{' of a dimension (arrays only)
    Close,  // '}' of a dimension (arrays only)
    Item,   // an element or field; its unescaped text is in the buffer
    Null,   // a NULL element (unquoted NULL) or field (nothing between delimiters)
    End,    // after the outermost '}' or ')'
    Error,  // not what array_out/record_out write
};

// "{1,2}", "{{1,2},{3,4}}", "[0:1]={7,8}", "{}"; elements quoted when they
// are empty, "NULL", or hold '"', '\\', '{', '}', the delimiter or white
// space, with '"' and '\\' backslash-escaped inside the quotes.  `delim` is
// the element type's typdelim (',' for all but box, ';').
class ArrayLexer {
public:
    ArrayLexer(const char *text, size_t len, char delim) noexcept;
    // The next token; for Item, *n bytes of unescaped text in buf.
    Token Next(char *buf, size_t *n) noexcept;

private:
    const char *p_;
    const char *end_;
    char delim_;
    int depth_ = 0;
    bool started_ = false;
};

// "(1,,"a b","x""y")": fields separated by ',', an empty unquoted field is
// NULL, a field is quoted when it is empty or holds '"', '\\', '(', ')', ','
// or white space, with '"' and '\\' doubled inside the quotes (a backslash
// also escapes the next character, as record_in reads it).
class RecordLexer {
public:
    RecordLexer(const char *text, size_t len) noexcept;
    // The next field (Item or Null), End after the last one, or Error.
    Token Next(char *buf, size_t *n) noexcept;

private:
    const char *p_;
    const char *end_;
    bool started_ = false;
    bool done_ = false;
};

// int2vector and oidvector: "1 2 3", elements separated by single spaces.
// Item for each element (a view into the text, no buffer), then End.
class VectorLexer {
public:
    VectorLexer(const char *text, size_t len) noexcept : p_(text), end_(text + len) {}
    Token Next(const char **item, size_t *n) noexcept;

private:
    const char *p_;
    const char *end_;
};

}  // namespace kafka_fdw::format::pgtext
