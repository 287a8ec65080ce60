// See pg_text.hpp.
#include "format/pg_text.hpp"

namespace kafka_fdw::format::pgtext {

namespace {

// array_in's and record_in's white space (array_isspace, isspace in "C").
inline bool IsSpace(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

inline bool IsNullWord(const char *s, size_t n) noexcept {
    if (n != 4) return false;
    const char *w = "NULL";
    for (size_t i = 0; i < 4; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (c != w[i]) return false;
    }
    return true;
}

}  // namespace

ArrayLexer::ArrayLexer(const char *text, size_t len, char delim) noexcept
    : p_(text), end_(text + len), delim_(delim) {}

Token ArrayLexer::Next(char *buf, size_t *n) noexcept {
    while (p_ < end_ && IsSpace(*p_)) p_++;
    if (!started_) {
        started_ = true;
        // Dimension decoration of lower bounds other than 1: "[0:2]={...}".
        if (p_ < end_ && *p_ == '[') {
            while (p_ < end_ && *p_ != '=') p_++;
            if (p_ == end_) return Token::Error;
            p_++;
            while (p_ < end_ && IsSpace(*p_)) p_++;
        }
        if (p_ == end_ || *p_ != '{') return Token::Error;
        p_++;
        depth_ = 1;
        return Token::Open;
    }
    if (depth_ == 0) return p_ == end_ ? Token::End : Token::Error;
    if (p_ < end_ && *p_ == delim_) {
        p_++;
        while (p_ < end_ && IsSpace(*p_)) p_++;
    }
    if (p_ == end_) return Token::Error;
    if (*p_ == '{') {
        p_++;
        depth_++;
        return Token::Open;
    }
    if (*p_ == '}') {
        p_++;
        depth_--;
        return Token::Close;
    }
    size_t k = 0;
    if (*p_ == '"') {
        p_++;
        for (;;) {
            if (p_ == end_) return Token::Error;
            char c = *p_++;
            if (c == '"') break;
            if (c == '\\') {
                if (p_ == end_) return Token::Error;
                c = *p_++;
            }
            buf[k++] = c;
        }
        // nothing but white space before the next delimiter or '}'
        while (p_ < end_ && IsSpace(*p_)) p_++;
        if (p_ == end_ || (*p_ != delim_ && *p_ != '}')) return Token::Error;
        *n = k;
        return Token::Item;
    }
    bool escaped = false;
    while (p_ < end_ && *p_ != delim_ && *p_ != '}') {
        char c = *p_++;
        if (c == '"' || c == '{') return Token::Error;
        if (c == '\\') {
            if (p_ == end_) return Token::Error;
            c = *p_++;
            escaped = true;
        }
        buf[k++] = c;
    }
    if (p_ == end_) return Token::Error;
    if (!escaped)
        while (k > 0 && IsSpace(buf[k - 1])) k--;
    if (k == 0) return Token::Error;  // array_out quotes an empty element
    if (!escaped && IsNullWord(buf, k)) return Token::Null;
    *n = k;
    return Token::Item;
}

RecordLexer::RecordLexer(const char *text, size_t len) noexcept : p_(text), end_(text + len) {}

Token RecordLexer::Next(char *buf, size_t *n) noexcept {
    if (done_) {
        while (p_ < end_ && IsSpace(*p_)) p_++;
        return p_ == end_ ? Token::End : Token::Error;
    }
    if (!started_) {
        while (p_ < end_ && IsSpace(*p_)) p_++;
        if (p_ == end_ || *p_ != '(') return Token::Error;
        p_++;
        started_ = true;
    }
    size_t k = 0;
    bool any = false, quoted = false;
    for (;;) {
        if (p_ == end_) return Token::Error;
        char c = *p_;
        if (!quoted && (c == ',' || c == ')')) break;
        p_++;
        any = true;
        if (c == '\\') {
            if (p_ == end_) return Token::Error;
            buf[k++] = *p_++;
        } else if (c == '"') {
            if (!quoted) {
                quoted = true;
            } else if (p_ < end_ && *p_ == '"') {
                buf[k++] = '"';
                p_++;
            } else {
                quoted = false;
            }
        } else {
            buf[k++] = c;
        }
    }
    if (*p_++ == ')') done_ = true;
    if (!any) return Token::Null;
    *n = k;
    return Token::Item;
}

Token VectorLexer::Next(const char **item, size_t *n) noexcept {
    while (p_ < end_ && *p_ == ' ') p_++;
    if (p_ == end_) return Token::End;
    const char *s = p_;
    while (p_ < end_ && *p_ != ' ') p_++;
    *item = s;
    *n = static_cast<size_t>(p_ - s);
    return Token::Item;
}

}  // namespace kafka_fdw::format::pgtext
