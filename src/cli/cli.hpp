// kafka_copy: shared declarations of the command-line program.
#pragma once
#include "cpp_only.hpp"

#include "kafka/config.hpp"
#include "kafka/client.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace kafka_fdw::cli {

// Exit codes.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;  // Kafka or data error
constexpr int kExitUsage = 2;
constexpr int kExitPipe = 141;  // the reader went away (COPY aborted): quiet

struct Column {
    std::string name;
    std::string member;  // JSON member name (defaults to name)
};

struct Options {
    std::string command;
    std::string brokers;
    std::string topic;
    std::vector<int32_t> partitions;
    bool have_from = false;
    int64_t from = 0;  // < 0: that many before the high watermark
    bool have_from_time = false;
    int64_t from_time_ms = 0;
    std::string format = "text";  // json, csv, text, bytea
    bool have_columns = false;
    std::vector<Column> columns;
    std::vector<std::string> types;
    std::vector<std::string> meta;
    std::string isolation = "read_committed";
    // librdkafka properties, in the order they are applied (MakeConfig):
    // those of the -F files (or $KAFKA_COPY_CONFIG), and sasl.password from
    // $KAFKA_COPY_SASL_PASSWORD ...
    std::vector<std::string> config_files;
    kafka::Properties file_props;
    // ... then the -X ones, which win.
    kafka::Properties props;
    bool strict = false;
    bool junk = false;
    bool skip_bad = false;
    bool pg_arrays = false;
    std::vector<std::string> pg_array_columns;  // empty: all columns
    std::string copy_format = "text";  // text or csv
    bool header = false;
    std::string key_column;
    std::string partition_column;
    std::string partitioner = "murmur2_random";
    char csv_delimiter = ',';
    std::string csv_null;
    int timeout_ms = 30000;
    bool progress = false;
    bool verbose = false;
    bool all_topics = false;
};

// A usage error: message printed with a pointer to --help, exit 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// A data error (bad input row, undecodable message with --strict): exit 1.
struct DataError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// stdout was closed by the reader (EPIPE).
struct PipeClosed {};

// Flag set by SIGINT/SIGTERM (the signal number).
extern volatile int g_signal;
// Throws kafka::Interrupted when a signal arrived.
void CheckSignal();

// Base configuration: client.id and our other defaults, `defaults`, the -F
// file's properties (and $KAFKA_COPY_SASL_PASSWORD), -b BROKERS, then the
// user's -X properties (which override all of these).
kafka::Config MakeConfig(const Options &o, const kafka::Properties &defaults = {});
// Prints the client's collected errors (and logs with -v) on stderr.
void ReportEvents(kafka::Client &c, const Options &o);

// Progress on stderr (--progress): every second and at the end.
class Progress {
public:
    Progress(bool enabled, const char *what);
    void Add(uint64_t messages, uint64_t bytes) {
        messages_ += messages;
        bytes_ += bytes;
        if (enabled_ && (++ticks_ & 255) == 0) Tick(false);
    }
    void Tick(bool final);
    uint64_t messages() const { return messages_; }

private:
    bool enabled_;
    const char *what_;
    uint64_t messages_ = 0, bytes_ = 0, ticks_ = 0;
    double start_, last_;
};

int RunConsume(const Options &o);
int RunProduce(const Options &o);

}  // namespace kafka_fdw::cli
