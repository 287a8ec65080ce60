// The C++/PostgreSQL bridge.
//
// Two zones: Postgres code may longjmp (ereport ERROR) and so must never have
// live C++ objects with destructors on the stack frames it unwinds; C++ code
// may throw and so must never call a Postgres function that can ereport.
//
//  * KFDW_ENTRY wraps the body of every function Postgres calls: it catches
//    every C++ exception, copies what is needed into plain stack buffers, and
//    raises the ERROR only after the catch block has ended (so no exception
//    object and no C++ frame is alive when longjmp runs).
//  * PgCall runs a Postgres call from C++: an ERROR inside becomes a
//    PgException (carrying the ErrorData) that KFDW_ENTRY re-raises as is.
//  * OwnBy hands a C++ object to a memory context: it is deleted when the
//    context is reset or deleted, so an ERROR mid-query frees every handle.
#pragma once

#include "kafka/client.hpp"
#include "kafka/errors.hpp"

#include "pg/postgres.hpp"

#include <cstring>
#include <exception>
#include <new>
#include <type_traits>

namespace kafka_fdw::pg {

// An ERROR raised by Postgres inside PgCall, carried through C++ frames.
class PgException : public std::exception {
public:
    explicit PgException(ErrorData *edata) : edata(edata) {}
    const char *what() const noexcept override { return edata->message ? edata->message : "error"; }
    ErrorData *edata;  // palloc'd in the caller's memory context
};

// What a caught exception becomes: plain data, no destructors.
struct PendingError {
    int sqlstate;
    bool interrupted;
    ErrorData *pg_error;
    char message[1024];
    char detail[2048];
    char hint[512];
    char context[512];
};

void CaptureException(std::exception_ptr ep, PendingError *out) noexcept;
[[noreturn]] void RaisePending(const PendingError *pending);

template <typename F>
auto Entry(F &&body) -> decltype(body()) {
    PendingError pending;
    {
        std::exception_ptr ep;
        try {
            return body();
        } catch (...) {
            ep = std::current_exception();
        }
        CaptureException(ep, &pending);
    }  // ep (the exception object) is destroyed here, before any longjmp
    RaisePending(&pending);
}

#define KFDW_ENTRY(...) ::kafka_fdw::pg::Entry([&]() { __VA_ARGS__ })

template <typename F>
auto PgCall(F &&f) -> decltype(f()) {
    using R = decltype(f());
    MemoryContext ctx = CurrentMemoryContext;
    ErrorData *volatile edata = nullptr;
    if constexpr (std::is_void_v<R>) {
        PG_TRY();
        { f(); }
        PG_CATCH();
        {
            MemoryContextSwitchTo(ctx);
            edata = CopyErrorData();
            FlushErrorState();
        }
        PG_END_TRY();
        if (edata) throw PgException(edata);
    } else {
        // The value lives in this frame; the setjmp is in the void call's.
        R result{};
        PgCall([&]() { result = f(); });
        return result;
    }
}

template <typename T>
void DeleteOwned(void *p) noexcept {
    delete static_cast<T *>(p);
}

// Registers `obj` for deletion when `cxt` is reset or deleted.  Never
// ereports: on out-of-memory it deletes obj and throws std::bad_alloc.
template <typename T>
T *OwnBy(MemoryContext cxt, T *obj) {
    auto *cb = static_cast<MemoryContextCallback *>(
        MemoryContextAllocExtended(cxt, sizeof(MemoryContextCallback), MCXT_ALLOC_NO_OOM));
    if (!cb) {
        delete obj;
        throw std::bad_alloc();
    }
    cb->func = &DeleteOwned<T>;
    cb->arg = obj;
    MemoryContextRegisterResetCallback(cxt, cb);
    return obj;
}

// palloc for the C++ zone: throws std::bad_alloc instead of ereport.
inline void *AllocOrThrow(size_t size) {
    void *p = MemoryContextAllocExtended(CurrentMemoryContext, size, MCXT_ALLOC_NO_OOM);
    if (!p) throw std::bad_alloc();
    return p;
}
inline char *PStrDup(const char *data, size_t len) {
    char *p = static_cast<char *>(AllocOrThrow(len + 1));
    memcpy(p, data, len);
    p[len] = '\0';
    return p;
}

// "<message> (<innermost context line>)" of a caught error, palloc'd in the
// current memory context (Postgres zone): what background workers record as
// their last error.  For a message that cannot be decoded, or a Kafka error,
// the context line names the topic, partition and offset.
char *ErrorSummary(const ErrorData *edata);

// body() in a subtransaction of its own (Postgres zone; body: no C++ object
// with a destructor on its frames): nullptr when it ended normally;
// otherwise the subtransaction is rolled back and its error returned, copied
// into the memory context current at the call, unless reraise(error) says it
// must go on up: then it is raised again.  The caller's memory context and
// resource owner are current again on return.
ErrorData *InSubxactImpl(void (*fn)(void *), void *arg, bool (*reraise)(const ErrorData *));
template <typename F>
ErrorData *InSubxact(F &&body, bool (*reraise)(const ErrorData *)) {
    return InSubxactImpl([](void *p) { (*static_cast<std::remove_reference_t<F> *>(p))(); }, &body, reraise);
}

// Report logs and client errors collected by a client (Postgres zone).
void ReportClientEvents(kafka::Client &client);

// The kafka_fdw.timeout GUC (milliseconds).
extern int g_timeout_ms;
// kafka_fdw.max_pipelines_per_role (guc.cpp)
extern int g_max_pipelines_per_role;
// kafka_fdw.sink_batch_timeout (guc.cpp; defined when preloaded)
extern int g_sink_batch_timeout_ms;
// kafka_fdw.stall_warning_after (guc.cpp; defined when preloaded), seconds; 0: off
extern int g_stall_warning_after_s;

// Core -> SQLSTATE.
int SqlStateOf(kafka::ErrorKind kind);

}  // namespace kafka_fdw::pg
