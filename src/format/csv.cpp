#include "format/csv.hpp"

#include <cstring>

namespace kafka_fdw::format {

bool CsvReader::Parse(const char *data, size_t len) noexcept {
    try {
        fields_.clear();
        buf_.clear();
        error_.clear();
        if (len > 0 && data[len - 1] == '\n') len--;
        if (len > 0 && data[len - 1] == '\r') len--;
        size_t i = 0;
        for (;;) {
            size_t start = buf_.size();
            bool quoted = false;
            bool any_quote = false;
            size_t raw_start = i;
            while (i < len) {
                char ch = data[i];
                if (quoted) {
                    if (ch == opts_.escape && i + 1 < len &&
                        (data[i + 1] == opts_.quote || data[i + 1] == opts_.escape) &&
                        !(opts_.escape == opts_.quote && data[i + 1] != opts_.quote)) {
                        buf_.push_back(data[i + 1]);
                        i += 2;
                        continue;
                    }
                    if (ch == opts_.quote) {
                        quoted = false;
                        i++;
                        continue;
                    }
                    buf_.push_back(ch);
                    i++;
                    continue;
                }
                if (ch == opts_.delimiter) break;
                if (ch == opts_.quote) {
                    quoted = true;
                    any_quote = true;
                    i++;
                    continue;
                }
                buf_.push_back(ch);
                i++;
            }
            if (quoted) {
                error_ = "unterminated quoted field " + std::to_string(fields_.size() + 1);
                return false;
            }
            size_t flen = buf_.size() - start;
            bool is_null = !any_quote && (i - raw_start) == opts_.null_string.size() &&
                           memcmp(data + raw_start, opts_.null_string.data(), opts_.null_string.size()) == 0;
            fields_.push_back({is_null, start, flen});
            if (i >= len) break;
            i++;  // delimiter
        }
        return true;
    } catch (...) {
        error_ = "out of memory";
        return false;
    }
}

void AppendCsvField(std::string &out, const char *s, size_t len, const CsvOptions &opts) {
    bool need = len == 0 || (len == opts.null_string.size() && memcmp(s, opts.null_string.data(), len) == 0);
    for (size_t i = 0; i < len && !need; i++)
        if (s[i] == opts.delimiter || s[i] == opts.quote || s[i] == '\n' || s[i] == '\r' || s[i] == opts.escape)
            need = true;
    if (!need) {
        out.append(s, len);
        return;
    }
    out.push_back(opts.quote);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == opts.quote || s[i] == opts.escape) out.push_back(opts.escape);
        out.push_back(s[i]);
    }
    out.push_back(opts.quote);
}

}  // namespace kafka_fdw::format
