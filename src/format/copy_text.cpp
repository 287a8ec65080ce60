#include "format/copy_text.hpp"

#include <cstring>

namespace kafka_fdw::format {

void AppendCopyText(std::string &out, const char *s, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        char esc;
        if (c >= 0x20 && c != '\\') continue;
        switch (c) {
        case '\\': esc = '\\'; break;
        case '\t': esc = 't'; break;
        case '\n': esc = 'n'; break;
        case '\r': esc = 'r'; break;
        case '\b': esc = 'b'; break;
        case '\f': esc = 'f'; break;
        case '\v': esc = 'v'; break;
        default: continue;  // other control characters are data, as in COPY TO
        }
        out.append(s + start, i - start);
        out.push_back('\\');
        out.push_back(esc);
        start = i + 1;
    }
    out.append(s + start, len - start);
}

size_t CopyTextLineEnd(const char *data, size_t len) noexcept {
    size_t from = 0;
    while (from < len) {
        const char *nl = static_cast<const char *>(memchr(data + from, '\n', len - from));
        if (!nl) return 0;
        size_t pos = static_cast<size_t>(nl - data);
        size_t bs = 0;
        while (pos - bs > 0 && data[pos - bs - 1] == '\\') bs++;
        if (bs % 2 == 0) return pos + 1;
        from = pos + 1;  // an escaped newline: data
    }
    return 0;
}

namespace {
int HexVal(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

bool CopyTextParser::Parse(const char *line, size_t len) {
    fields_.clear();
    buf_.clear();
    error_.clear();
    if (len > 0 && line[len - 1] == '\r') len--;  // CRLF input
    size_t i = 0;
    for (;;) {
        size_t field_start = i;
        size_t offset = buf_.size();
        while (i < len && line[i] != delimiter_) {
            char c = line[i++];
            if (c != '\\') {
                buf_.push_back(c);
                continue;
            }
            if (i >= len) {  // a lone backslash at the end of the line
                buf_.push_back('\\');
                break;
            }
            c = line[i++];
            switch (c) {
            case 'b': buf_.push_back('\b'); break;
            case 'f': buf_.push_back('\f'); break;
            case 'n': buf_.push_back('\n'); break;
            case 'r': buf_.push_back('\r'); break;
            case 't': buf_.push_back('\t'); break;
            case 'v': buf_.push_back('\v'); break;
            case 'x':
                if (i < len && HexVal(line[i]) >= 0) {
                    int v = HexVal(line[i++]);
                    if (i < len && HexVal(line[i]) >= 0) v = v * 16 + HexVal(line[i++]);
                    buf_.push_back(static_cast<char>(v));
                } else {
                    buf_.push_back('x');
                }
                break;
            default:
                if (c >= '0' && c <= '7') {
                    int v = c - '0';
                    for (int k = 0; k < 2 && i < len && line[i] >= '0' && line[i] <= '7'; k++)
                        v = v * 8 + (line[i++] - '0');
                    buf_.push_back(static_cast<char>(v & 0xff));
                } else {
                    buf_.push_back(c);  // \\, \<delimiter>, \. and any other
                }
            }
        }
        bool is_null = i - field_start == 2 && line[field_start] == '\\' && line[field_start + 1] == 'N';
        if (is_null) buf_.resize(offset);
        fields_.push_back({is_null, offset, buf_.size() - offset});
        if (i >= len) break;
        i++;  // the delimiter
    }
    return true;
}

size_t CsvRecordEnd(const char *data, size_t len, char quote, char escape, bool at_eof) noexcept {
    bool in_quotes = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_quotes) {
            if (c == escape && escape != quote && i + 1 < len &&
                (data[i + 1] == quote || data[i + 1] == escape)) {
                i++;
            } else if (c == quote) {
                in_quotes = false;  // a doubled quote re-enters at once
            }
        } else if (c == quote) {
            in_quotes = true;
        } else if (c == '\n') {
            return i + 1;
        }
    }
    return at_eof ? len : 0;
}

void AppendCopyCsvField(std::string &out, const char *s, size_t len, char delimiter, char quote) {
    bool need = len == 0 || (len == 2 && s[0] == '\\' && s[1] == '.');
    for (size_t i = 0; i < len && !need; i++) {
        char c = s[i];
        if (c == delimiter || c == quote || c == '\n' || c == '\r') need = true;
    }
    if (!need) {
        out.append(s, len);
        return;
    }
    out.push_back(quote);
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == quote) {
            out.append(s + start, i + 1 - start);
            out.push_back(quote);
            start = i + 1;
        }
    }
    out.append(s + start, len - start);
    out.push_back(quote);
}

}  // namespace kafka_fdw::format
