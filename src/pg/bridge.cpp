// Exception -> ERROR translation, the interrupt hook, and client event
// reporting.  See bridge.hpp for the rules.
#include "pg/bridge.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/resowner.h"
}

#include <algorithm>
#include <cstdio>
#include <vector>
#include <cstring>
#include <new>

namespace kafka_fdw::pg {

int g_timeout_ms = 10000;

int SqlStateOf(kafka::ErrorKind kind) {
    switch (kind) {
    case kafka::ErrorKind::Connection:
        return ERRCODE_CONNECTION_FAILURE;
    case kafka::ErrorKind::Timeout:
        return ERRCODE_CONNECTION_FAILURE;
    case kafka::ErrorKind::UnknownTopic:
        return ERRCODE_FDW_TABLE_NOT_FOUND;
    case kafka::ErrorKind::UnknownPartition:
        return ERRCODE_INVALID_PARAMETER_VALUE;
    case kafka::ErrorKind::InvalidConfig:
        return ERRCODE_FDW_INVALID_OPTION_NAME;
    case kafka::ErrorKind::Auth:
        return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
    case kafka::ErrorKind::AlreadyExists:
        return ERRCODE_DUPLICATE_OBJECT;
    case kafka::ErrorKind::MessageTooLarge:
        return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
    case kafka::ErrorKind::Delivery:
        return ERRCODE_FDW_ERROR;
    case kafka::ErrorKind::Data:
        return ERRCODE_DATA_EXCEPTION;
    case kafka::ErrorKind::Fenced:
        return ERRCODE_OBJECT_IN_USE;
    case kafka::ErrorKind::Internal:
        return ERRCODE_FDW_ERROR;
    }
    return ERRCODE_FDW_ERROR;
}

namespace {

void Copy(char *dst, size_t size, const char *src) noexcept {
    if (!src) {
        dst[0] = '\0';
        return;
    }
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

}  // namespace

// Installed into the core: throw instead of longjmp when a cancel or a
// termination is pending; RaisePending then lets Postgres process it.
void BackendInterruptCheck() {
    if (InterruptPending && (QueryCancelPending || ProcDiePending)) throw kafka::Interrupted();
}

void CaptureException(std::exception_ptr ep, PendingError *out) noexcept {
    out->sqlstate = ERRCODE_INTERNAL_ERROR;
    out->interrupted = false;
    out->pg_error = nullptr;
    out->message[0] = out->detail[0] = out->hint[0] = out->context[0] = '\0';
    try {
        std::rethrow_exception(ep);
    } catch (const PgException &e) {
        out->pg_error = e.edata;
    } catch (const kafka::Interrupted &) {
        out->interrupted = true;
    } catch (const kafka::Error &e) {
        out->sqlstate = SqlStateOf(e.kind);
        Copy(out->message, sizeof out->message, e.what());
        Copy(out->detail, sizeof out->detail, e.detail.c_str());
        Copy(out->hint, sizeof out->hint, e.hint.c_str());
        if (!e.topic.empty()) {
            if (e.partition >= 0 && e.offset >= 0)
                snprintf(out->context, sizeof out->context, "topic \"%s\", partition %d, offset %lld",
                         e.topic.c_str(), e.partition, static_cast<long long>(e.offset));
            else if (e.partition >= 0)
                snprintf(out->context, sizeof out->context, "topic \"%s\", partition %d",
                         e.topic.c_str(), e.partition);
            else
                snprintf(out->context, sizeof out->context, "topic \"%s\"", e.topic.c_str());
        }
    } catch (const std::bad_alloc &) {
        out->sqlstate = ERRCODE_OUT_OF_MEMORY;
        Copy(out->message, sizeof out->message, "out of memory in kafka_fdw");
    } catch (const std::exception &e) {
        Copy(out->message, sizeof out->message, e.what());
        Copy(out->detail, sizeof out->detail, "unexpected C++ exception in kafka_fdw");
    } catch (...) {
        Copy(out->message, sizeof out->message, "unknown C++ exception in kafka_fdw");
    }
}

void RaisePending(const PendingError *p) {
    if (p->pg_error) ReThrowError(p->pg_error);
    if (p->interrupted) {
        CHECK_FOR_INTERRUPTS();
        ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED),
                        errmsg("canceling Kafka operation due to interrupt")));
    }
    ereport(ERROR, (errcode(p->sqlstate), errmsg("%s", p->message),
                    p->detail[0] ? errdetail("%s", p->detail) : 0,
                    p->hint[0] ? errhint("%s", p->hint) : 0,
                    p->context[0] ? errcontext("%s", p->context) : 0));
    pg_unreachable();
}

namespace {
// C++ zone: pop one event into plain buffers.
bool PopEvent(std::vector<kafka::ClientEvent> *pending, char *buf, size_t size,
              int *elevel) noexcept {
    try {
        if (pending->empty()) return false;
        const kafka::ClientEvent &ev = pending->back();
        Copy(buf, size, ev.text.c_str());
        *elevel = (ev.kind == kafka::ClientEvent::Error || ev.level <= 4) ? LOG
                  : ev.level <= 6                                        ? DEBUG1
                                                                         : DEBUG2;
        pending->pop_back();
        return true;
    } catch (...) {
        return false;
    }
}
}  // namespace

ErrorData *InSubxactImpl(void (*fn)(void *), void *arg, bool (*reraise)(const ErrorData *)) {
    MemoryContext cxt = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    ErrorData *volatile error = nullptr;
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(cxt);
    PG_TRY();
    {
        fn(arg);
        ReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(cxt);
        CurrentResourceOwner = owner;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        ErrorData *ed = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(cxt);
        CurrentResourceOwner = owner;
        if (reraise(ed)) ReThrowError(ed);
        error = ed;
    }
    PG_END_TRY();
    return error;
}

char *ErrorSummary(const ErrorData *edata) {
    StringInfoData why;
    initStringInfo(&why);
    appendStringInfoString(&why, edata->message ? edata->message : "error");
    if (edata->context && edata->context[0]) {
        const char *nl = strchr(edata->context, '\n');
        int len = nl ? (int)(nl - edata->context) : (int)strlen(edata->context);
        appendStringInfo(&why, " (%.*s)", len, edata->context);
    }
    return why.data;
}

void ReportClientEvents(kafka::Client &client) {
    // The vector is owned by a heap object so this frame holds no destructor.
    auto *pending = new (std::nothrow) std::vector<kafka::ClientEvent>();
    if (!pending) return;
    try {
        *pending = client.TakeEvents();
        std::reverse(pending->begin(), pending->end());
    } catch (...) {
    }
    char buf[1024];
    int elevel;
    while (PopEvent(pending, buf, sizeof buf, &elevel)) {
        if (message_level_is_interesting(elevel)) {
            // elog below WARNING never longjmps; free the vector first anyway
            // if this were an ERROR (it is not).
            elog(elevel, "kafka_fdw: %s", buf);
        }
    }
    delete pending;
}

}  // namespace kafka_fdw::pg

