// kafka_copy: COPY FROM/TO PROGRAM (and psql's \copy) for Kafka topics, built
// from kafka_fdw's pure C++ core.  Argument parsing, signals, `list`, and the
// dispatch to consume.cpp / produce.cpp.
#include "cli/cli.hpp"

#include "kafka/errors.hpp"
#include "kafka/metadata.hpp"
#include "kafka/wait.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <time.h>
#include <unistd.h>

#ifndef KAFKA_COPY_VERSION
#define KAFKA_COPY_VERSION "dev"
#endif

namespace kafka_fdw::cli {

volatile int g_signal = 0;

void CheckSignal() {
    if (g_signal) throw kafka::Interrupted();
}

namespace {

void OnSignal(int sig) { g_signal = sig; }

void InterruptCheck() { CheckSignal(); }

const char kUsage[] =
    "kafka_copy: COPY rows from and to Apache Kafka topics (kafka_fdw " KAFKA_COPY_VERSION ")\n"
    "\n"
    "Usage:\n"
    "  kafka_copy consume -b BROKERS -t TOPIC [options]   topic -> COPY rows on stdout\n"
    "  kafka_copy produce -b BROKERS -t TOPIC [options]   COPY rows on stdin -> topic\n"
    "  kafka_copy list    -b BROKERS [-t TOPIC] [--all]   partitions and watermarks\n"
    "  kafka_copy --help | --version\n"
    "\n"
    "  COPY t FROM PROGRAM 'kafka_copy consume -b host:9092 -t orders --format json --columns id,item,qty';\n"
    "  COPY (SELECT id, item FROM t) TO PROGRAM\n"
    "      'kafka_copy produce -b host:9092 -t out --format json --columns id,item --types int,text';\n"
    "\n"
    "Common options:\n"
    "  -b, --brokers LIST        bootstrap servers (host:port,...)\n"
    "  -t, --topic NAME          topic\n"
    "  -f, --format FMT          message value format: json, csv, text (default), bytea\n"
    "  -c, --columns LIST        payload columns NAME[=JSONMEMBER],... in the order of the rows\n"
    "      --copy-format FMT     COPY format on stdout/stdin: text (default) or csv\n"
    "      --header              csv: a header line (written by consume, read by produce)\n"
    "      --csv-delimiter C     delimiter inside csv messages (default ,)\n"
    "      --csv-null STR        NULL string inside csv messages (default empty)\n"
    "  -X, --property K=V        librdkafka property (repeatable; wins over -F)\n"
    "  -F, --config FILE         librdkafka properties from FILE: key=value lines, blank\n"
    "                            lines and # comments ignored (repeatable; default:\n"
    "                            $KAFKA_COPY_CONFIG).  Keeps secrets out of the command\n"
    "                            line, which ps and pg_stat_activity show\n"
    "      --timeout MS          give up after MS without progress (default 30000)\n"
    "      --progress            messages and MB/s on stderr\n"
    "  -v, --verbose             librdkafka's errors and logs on stderr\n"
    "\n"
    "consume: reads each partition from its start up to the high watermark taken at\n"
    "start, then exits 0 (never on a timeout).  Columns: --meta columns first, then\n"
    "the payload columns, then with --junk the raw value and the reason of bad messages.\n"
    "  -p, --partition N[,N..]   only these partitions (repeatable)\n"
    "      --from OFFSET         start offset in every partition (negative: the last N)\n"
    "      --from-time TIME      first message with timestamp >= TIME (ms since epoch\n"
    "                            or YYYY-MM-DD[ HH:MM[:SS[.fff]]][Z|+HH[:MM]], UTC default)\n"
    "      --meta LIST           partition,offset,key,timestamp,timestamp_ms,headers\n"
    "      --isolation LEVEL     read_committed (default) or read_uncommitted\n"
    "      --strict              an undecodable message is an error (exit 1)\n"
    "      --junk                add columns: raw value and reason of undecodable messages\n"
    "      --skip-bad            leave out undecodable messages\n"
    "      --pg-arrays[=COLS]    JSON arrays as Postgres array literals (default: JSON\n"
    "                            text), in all columns or in the columns named\n"
    "\n"
    "produce: one message per row, murmur2_random partitioner, acks=all, idempotent;\n"
    "exits 0 only when every message was acknowledged, else 1 with the count of\n"
    "failed messages on stderr (so the COPY fails).\n"
    "      --types LIST          Postgres types of the columns, for --format json:\n"
    "                            numbers, booleans, json/jsonb, arrays, timestamps as\n"
    "                            row_to_json writes them (without: all JSON strings);\n"
    "                            consume takes the same list: arrays become Postgres\n"
    "                            arrays, json/jsonb members stay JSON\n"
    "      --key-column NAME     message key (the column stays in the value)\n"
    "      --partition-column NAME  partition number (not part of the value)\n"
    "      --partitioner NAME    librdkafka partitioner (default murmur2_random)\n"
    "\n"
    "Environment:\n"
    "  KAFKA_BROKERS             bootstrap servers when neither -b nor a -F file or -X\n"
    "                            sets bootstrap.servers\n"
    "  KAFKA_COPY_CONFIG         a -F FILE, read when no -F is given\n"
    "  KAFKA_COPY_SASL_PASSWORD  sasl.password (after the -F file, before -X)\n"
    "\n"
    "Exit status: 0 done, 1 Kafka or data error, 2 usage error, 130/143 interrupted.\n";

[[noreturn]] void Usage(const std::string &msg) { throw UsageError(msg); }

std::vector<std::string> SplitList(const std::string &s) {
    // commas split, except inside parentheses (numeric(10,2))
    std::vector<std::string> out;
    std::string cur;
    int depth = 0;
    for (char c : s) {
        if (c == '(') depth++;
        if (c == ')' && depth > 0) depth--;
        if (c == ',' && depth == 0) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    out.push_back(cur);
    for (auto &x : out) {
        size_t b = x.find_first_not_of(" \t");
        size_t e = x.find_last_not_of(" \t");
        x = b == std::string::npos ? "" : x.substr(b, e - b + 1);
    }
    return out;
}

int64_t ParseInt(const std::string &opt, const std::string &v, int64_t min, int64_t max) {
    char *end = nullptr;
    errno = 0;
    long long x = strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || errno || x < min || x > max)
        Usage("invalid value \"" + v + "\" for " + opt);
    return x;
}

// Milliseconds since the epoch, or an ISO 8601 date/time (UTC unless a zone is given).
int64_t ParseTime(const std::string &v) {
    bool digits = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
    if (digits) return ParseInt("--from-time", v, 0, INT64_MAX);
    int Y, M, D, h = 0, m = 0, n = 0;
    double sec = 0;
    const char *p = v.c_str();
    if (sscanf(p, "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3) Usage("invalid time \"" + v + "\" for --from-time");
    p += n;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (sscanf(p, "%2d:%2d%n", &h, &m, &n) != 2) Usage("invalid time \"" + v + "\" for --from-time");
        p += n;
        if (*p == ':') {
            char *end;
            sec = strtod(p + 1, &end);
            p = end;
        }
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int zh = 0, zm = 0;
        p++;
        if (sscanf(p, "%2d%n", &zh, &n) != 1) Usage("invalid time zone in \"" + v + "\"");
        p += n;
        if (*p == ':') p++;
        if (isdigit(static_cast<unsigned char>(*p)) && sscanf(p, "%2d%n", &zm, &n) == 1) p += n;
        off_s = sign * (zh * 3600 + zm * 60);
    }
    while (*p == ' ') p++;
    if (*p) Usage("invalid time \"" + v + "\" for --from-time");
    struct tm tm {};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    time_t t = timegm(&tm);
    return (static_cast<int64_t>(t) - off_s) * 1000 + static_cast<int64_t>(sec * 1000 + 0.5);
}

// Why a librdkafka property given by the user (-X, -F) is refused, or "".
// Only public properties (hidden ones such as ut_handle_ProduceResponse crash
// the program), none that kafka_copy sets itself.
std::string PropertyRefusal(const std::string &k) {
    if (kafka::Config::IsReserved(k) && kafka::Config::Canonical(k) != "internal.termination.signal")
        return "property \"" + k + "\" is set by kafka_copy itself";
    return kafka::Config::Refusal(k);
}

std::string TrimSpace(const std::string &s) {
    size_t b = s.find_first_not_of(" \t\r\n\f\v");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r\n\f\v");
    return s.substr(b, e - b + 1);
}

// A properties file as kcat -F reads it: one key=value per line, leading
// and trailing blanks ignored (around the key and the value too), blank
// lines and lines starting with # skipped.  Every property is checked here,
// so an error names the file and line.  A line is never echoed: it may hold
// a secret.
void ReadConfigFile(const std::string &path, kafka::Properties &out) {
    FILE *fp = fopen(path.c_str(), "r");
    if (!fp) Usage("could not open config file \"" + path + "\": " + strerror(errno));
    std::string text;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) text.append(buf, n);
    bool failed = ferror(fp);
    int err = errno;
    fclose(fp);
    if (failed) Usage("could not read config file \"" + path + "\": " + strerror(err));
    size_t pos = 0;
    for (int lineno = 1; pos < text.size(); lineno++) {
        size_t nl = text.find('\n', pos);
        std::string line = TrimSpace(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
        pos = nl == std::string::npos ? text.size() : nl + 1;
        if (line.empty() || line[0] == '#') continue;
        std::string where = path + ":" + std::to_string(lineno) + ": ";
        size_t eq = line.find('=');
        std::string k = eq == std::string::npos ? "" : TrimSpace(line.substr(0, eq));
        if (k.empty()) Usage(where + "expected property=value");
        // A key that is not a property's name (a blank or ':' in it) may be
        // "secret-name: secret" written wrongly: it is not echoed either.
        if (k.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
            Usage(where + "expected property=value, with a property name before '=' (the line is not shown: it "
                          "may hold a secret)");
        std::string v = TrimSpace(line.substr(eq + 1));
        std::string why = PropertyRefusal(k);
        if (!why.empty()) Usage(where + why);
        why = kafka::Config::Check(k, v);  // a secret's value is never in it
        if (!why.empty()) Usage(where + "property \"" + k + "\": " + why);
        out.emplace_back(k, v);
    }
}

bool SetsBootstrap(const kafka::Properties &props) {
    for (const auto &[k, val] : props)
        if (k == "bootstrap.servers" || k == "metadata.broker.list") return true;
    return false;
}

Options ParseArgs(int argc, char **argv) {
    Options o;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) Usage("no command given");
    size_t i = 0;
    auto value = [&](const std::string &opt, std::string &inline_val, bool has_inline) -> std::string {
        if (has_inline) return inline_val;
        if (i + 1 >= args.size()) Usage("option " + opt + " needs a value");
        return args[++i];
    };
    for (; i < args.size(); i++) {
        std::string a = args[i];
        if (a == "--help" || a == "-h") {
            o.command = "help";
            return o;
        }
        if (a == "--version" || a == "-V") {
            o.command = "version";
            return o;
        }
        if (a.empty() || a[0] != '-') {
            if (!o.command.empty()) Usage("unexpected argument \"" + a + "\"");
            o.command = a;
            continue;
        }
        std::string name = a, inl;
        bool has_inline = false;
        if (a.compare(0, 2, "--") == 0) {
            size_t eq = a.find('=');
            if (eq != std::string::npos) {
                name = a.substr(0, eq);
                inl = a.substr(eq + 1);
                has_inline = true;
            }
        } else if (a.size() > 2) {  // -bHOST, -Xk=v
            name = a.substr(0, 2);
            inl = a.substr(2);
            has_inline = true;
        }
        auto v = [&]() { return value(name, inl, has_inline); };
        if (name == "-b" || name == "--brokers" || name == "--bootstrap-server") o.brokers = v();
        else if (name == "-t" || name == "--topic") o.topic = v();
        else if (name == "-p" || name == "--partition") {
            for (const auto &p : SplitList(v())) o.partitions.push_back(static_cast<int32_t>(ParseInt(name, p, 0, INT32_MAX)));
        } else if (name == "--from" || name == "-o") {
            std::string x = v();
            o.have_from = true;
            if (x == "beginning") o.from = 0;
            else o.from = ParseInt(name, x, INT64_MIN + 1, INT64_MAX);
        } else if (name == "--from-time") {
            o.have_from_time = true;
            o.from_time_ms = ParseTime(v());
        } else if (name == "-f" || name == "--format") {
            o.format = v();
            if (o.format != "json" && o.format != "csv" && o.format != "text" && o.format != "bytea")
                Usage("--format must be json, csv, text or bytea");
        } else if (name == "-c" || name == "--columns") {
            o.have_columns = true;
            for (const auto &c : SplitList(v())) {
                if (c.empty()) Usage("empty column name in --columns");
                size_t eq = c.find('=');
                if (eq == std::string::npos) o.columns.push_back({c, c});
                else o.columns.push_back({c.substr(0, eq), c.substr(eq + 1)});
            }
        } else if (name == "--types") {
            o.types = SplitList(v());
        } else if (name == "--meta") {
            for (const auto &m : SplitList(v())) {
                if (m != "partition" && m != "offset" && m != "key" && m != "timestamp" &&
                    m != "timestamp_ms" && m != "headers")
                    Usage("unknown --meta column \"" + m +
                          "\" (partition, offset, key, timestamp, timestamp_ms, headers)");
                o.meta.push_back(m);
            }
        } else if (name == "--isolation" || name == "--isolation-level") {
            o.isolation = v();
            if (o.isolation != "read_committed" && o.isolation != "read_uncommitted")
                Usage("--isolation must be read_committed or read_uncommitted");
        } else if (name == "-X" || name == "--property") {
            std::string kv = v();
            size_t eq = kv.find('=');
            if (eq == std::string::npos || eq == 0) Usage("-X needs property=value");
            std::string k = kv.substr(0, eq), val = kv.substr(eq + 1);
            std::string why = PropertyRefusal(k);
            if (!why.empty()) Usage(why);
            o.props.emplace_back(k, val);
        } else if (name == "-F" || name == "--config") {
            o.config_files.push_back(v());
            if (o.config_files.back().empty()) Usage(name + " needs a file name");
        } else if (name == "--strict") o.strict = true;
        else if (name == "--junk") o.junk = true;
        else if (name == "--skip-bad") o.skip_bad = true;
        else if (name == "--pg-arrays") {
            o.pg_arrays = true;
            if (has_inline) o.pg_array_columns = SplitList(inl);
        }
        else if (name == "--copy-format") {
            o.copy_format = v();
            if (o.copy_format != "text" && o.copy_format != "csv") Usage("--copy-format must be text or csv");
        } else if (name == "--header") o.header = true;
        else if (name == "--key-column") o.key_column = v();
        else if (name == "--partition-column") o.partition_column = v();
        else if (name == "--partitioner") o.partitioner = v();
        else if (name == "--csv-delimiter") {
            std::string d = v();
            if (d == "\\t") d = "\t";
            if (d.size() != 1) Usage("--csv-delimiter must be one character");
            o.csv_delimiter = d[0];
        } else if (name == "--csv-null") o.csv_null = v();
        else if (name == "--timeout") o.timeout_ms = static_cast<int>(ParseInt(name, v(), 100, 24 * 3600 * 1000));
        else if (name == "--progress") o.progress = true;
        else if (name == "-v" || name == "--verbose") o.verbose = true;
        else if (name == "--all") o.all_topics = true;
        else Usage("unknown option \"" + a + "\"");
    }
    if (o.command.empty()) Usage("no command given");
    if (o.command != "consume" && o.command != "produce" && o.command != "list")
        Usage("unknown command \"" + o.command + "\" (consume, produce, list)");
    if (o.config_files.empty()) {
        const char *env = getenv("KAFKA_COPY_CONFIG");
        if (env && *env) o.config_files.push_back(env);
    }
    for (const auto &f : o.config_files) ReadConfigFile(f, o.file_props);
    if (const char *pw = getenv("KAFKA_COPY_SASL_PASSWORD"); pw && *pw) o.file_props.emplace_back("sasl.password", pw);
    // -b wins over the file (it is applied after it); KAFKA_BROKERS only
    // when nothing else names the brokers.
    if (o.brokers.empty() && !SetsBootstrap(o.file_props) && !SetsBootstrap(o.props)) {
        if (const char *env = getenv("KAFKA_BROKERS")) o.brokers = env;
        if (o.brokers.empty())
            Usage("-b BROKERS is required (or bootstrap.servers in a -F file, or KAFKA_BROKERS in the environment)");
    }
    if (o.command != "list" && o.topic.empty()) Usage("-t TOPIC is required");
    if (o.have_from && o.have_from_time) Usage("--from and --from-time exclude each other");
    if (!o.types.empty() && o.have_columns && o.types.size() != o.columns.size())
        Usage("--types needs one type per column of --columns (" + std::to_string(o.columns.size()) + ")");
    for (const auto &c : o.pg_array_columns) {
        bool found = false;
        for (const auto &col : o.columns) found = found || col.name == c;
        if (!found) Usage("--pg-arrays names \"" + c + "\", which is not in --columns");
    }
    if (o.strict && (o.junk || o.skip_bad)) Usage("--strict excludes --junk and --skip-bad");
    if (o.junk && o.skip_bad) Usage("--junk and --skip-bad exclude each other");
    return o;
}

int RunList(const Options &o) {
    kafka::Config conf = MakeConfig(o, {{"allow.auto.create.topics", "false"}});
    kafka::Client meta(kafka::Client::Type::Consumer, std::move(conf));
    std::vector<kafka::TopicInfo> topics;
    if (!o.topic.empty()) {
        topics.push_back({o.topic, 0});
    } else {
        for (auto &t : kafka::ListTopics(meta, o.timeout_ms))
            if (o.all_topics || t.name.compare(0, 2, "__") != 0) topics.push_back(t);
    }
    // topic, partition, low, high, messages: COPY text rows, so the listing
    // itself can be loaded with COPY FROM PROGRAM.
    std::string out;
    for (const auto &t : topics) {
        for (const kafka::Watermarks &w : kafka::TopicWatermarks(meta, t.name, o.timeout_ms)) {
            int p = w.partition;
            out += t.name + "\t" + std::to_string(p) + "\t" + std::to_string(w.low) + "\t" +
                   std::to_string(w.high) + "\t" + std::to_string(w.high - w.low) + "\n";
        }
    }
    if (o.copy_format == "csv" && o.header) out = "topic,partition,low,high,messages\n" + out;
    if (o.copy_format == "csv")
        for (auto &c : out)
            if (c == '\t') c = ',';
    if (fwrite(out.data(), 1, out.size(), stdout) != out.size() || fflush(stdout) != 0) {
        if (errno == EPIPE) throw PipeClosed();
        throw std::runtime_error(std::string("could not write to stdout: ") + strerror(errno));
    }
    ReportEvents(meta, o);
    return kExitOk;
}

std::string Describe(const kafka::Error &e) {
    std::string s = e.what();
    if (!e.detail.empty()) s += ": " + e.detail;
    if (!e.topic.empty()) {
        s += " (topic \"" + e.topic + "\"";
        if (e.partition >= 0) s += ", partition " + std::to_string(e.partition);
        if (e.offset >= 0) s += ", offset " + std::to_string(e.offset);
        s += ")";
    }
    if (!e.hint.empty()) {
        std::string h = e.hint;
        // the extension's hints name its GUC; ours is an option
        size_t k = h.find("raise kafka_fdw.timeout");
        if (k != std::string::npos) h.replace(k, 23, "raise --timeout");
        s += "\nhint: " + h;
    }
    return s;
}

}  // namespace

kafka::Config MakeConfig(const Options &o, const kafka::Properties &defaults) {
    kafka::Config conf;
    conf.Set("client.id", "kafka_copy");
    conf.Set("socket.connection.setup.timeout.ms", std::to_string(std::max(1000, o.timeout_ms)));
    if (o.command != "produce") conf.Set("isolation.level", o.isolation);
    conf.SetAll(defaults);
    conf.SetAll(o.file_props);  // -F / $KAFKA_COPY_CONFIG, $KAFKA_COPY_SASL_PASSWORD
    if (!o.brokers.empty()) conf.Set("bootstrap.servers", o.brokers);
    conf.SetAll(o.props);  // the user's -X last: they override everything above
    return conf;
}

void ReportEvents(kafka::Client &c, const Options &o) {
    for (const auto &ev : c.TakeEvents()) {
        if (!o.verbose) continue;
        fprintf(stderr, "kafka_copy: %s: %s\n", ev.kind == kafka::ClientEvent::Error ? "librdkafka error" : "librdkafka",
                ev.text.c_str());
    }
}

namespace {
double Now() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
}  // namespace

Progress::Progress(bool enabled, const char *what) : enabled_(enabled), what_(what) {
    start_ = last_ = Now();
}

void Progress::Tick(bool final) {
    if (!enabled_) return;
    double now = Now();
    if (!final && now - last_ < 1.0) return;
    last_ = now;
    double secs = std::max(now - start_, 1e-6);
    double mb = bytes_ / 1e6;
    fprintf(stderr, "kafka_copy: %s%llu messages, %.1f MB, %.1f MB/s, %.0f msg/s\n", final ? "done: " : "",
            static_cast<unsigned long long>(messages_), mb, mb / secs, messages_ / secs);
}

}  // namespace kafka_fdw::cli

int main(int argc, char **argv) {
    using namespace kafka_fdw;
    using namespace kafka_fdw::cli;

    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked read/write returns EINTR
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);  // EPIPE from write() instead, handled as a quiet exit
    kafka::SetInterruptCheck(&InterruptCheck);

    Options o;
    try {
        o = ParseArgs(argc, argv);
    } catch (const UsageError &e) {
        fprintf(stderr, "kafka_copy: %s\nTry \"kafka_copy --help\" for more information.\n", e.what());
        return kExitUsage;
    }
    if (o.command == "help") {
        fputs(kUsage, stdout);
        return kExitOk;
    }
    if (o.command == "version") {
        printf("kafka_copy (kafka_fdw) %s, librdkafka %s\n", KAFKA_COPY_VERSION, rd_kafka_version_str());
        return kExitOk;
    }
    try {
        if (o.command == "consume") return RunConsume(o);
        if (o.command == "produce") return RunProduce(o);
        return RunList(o);
    } catch (const UsageError &e) {
        fprintf(stderr, "kafka_copy: %s\nTry \"kafka_copy --help\" for more information.\n", e.what());
        return kExitUsage;
    } catch (const PipeClosed &) {
        return kExitPipe;
    } catch (const kafka::Interrupted &) {
        fprintf(stderr, "kafka_copy: interrupted\n");
        return 128 + (g_signal ? g_signal : SIGINT);
    } catch (const kafka::Error &e) {
        fprintf(stderr, "kafka_copy: %s\n", Describe(e).c_str());
        // a librdkafka property given with -X that librdkafka rejects: usage
        return e.kind == kafka::ErrorKind::InvalidConfig ? kExitUsage : kExitError;
    } catch (const DataError &e) {
        fprintf(stderr, "kafka_copy: %s\n", e.what());
        return kExitError;
    } catch (const std::exception &e) {
        fprintf(stderr, "kafka_copy: %s\n", e.what());
        return kExitError;
    }
}
