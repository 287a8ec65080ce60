// Text into a column value (Postgres zone): the column type's input
// function, or json_populate_record for a composite column of a JSON table.
// In non-strict mode a value that cannot be made is NULL and recorded for
// junk_error: soft errors on PostgreSQL 16+, data errors caught, and a
// subtransaction around code that is not PostgreSQL's own.
#include "fdw/scan_internal.hpp"
#include "pg/bridge.hpp"

extern "C" {
#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
}

namespace kafka_fdw::fdw {

void MarkBad(ScanState *s, const char *reason) {
    if (!s->bad_reason) s->bad_reason = reason;
}

namespace {

// The conversion itself: errors are raised, except that with SOFT_ERROR
// set an input function's soft error (PostgreSQL 16+: bad text, a domain's
// CHECK) returns with its message there.
Datum ConvertUnprotected(ScanState *s, int col, const char *str, size_t len, int how, bool *isnull,
                         const char **soft_error = nullptr) {
    ColumnDef *c = &s->table->columns[col];
    if (how & kConvertFromUtf8) {
        char *conv = pg_any_to_server(str, (int)len, PG_UTF8);
        str = conv == str ? pnstrdup(str, len) : conv;
        len = strlen(str);
    }
    if (how & kConvertPopulate) {
        LOCAL_FCINFO(fcinfo, 3);
        InitFunctionCallInfoData(*fcinfo, s->populate[col], 3, InvalidOid, NULL, NULL);
        fcinfo->args[0].value = (Datum)0;
        fcinfo->args[0].isnull = true;
        fcinfo->args[1].value = PointerGetDatum(cstring_to_text_with_len(str, (int)len));
        fcinfo->args[1].isnull = false;
        fcinfo->args[2].value = BoolGetDatum(false);
        fcinfo->args[2].isnull = false;
        Datum d = FunctionCallInvoke(fcinfo);
        *isnull = fcinfo->isnull;
        if (c->type != getBaseType(c->type))
            domain_check(d, *isnull, c->type, &s->domain_extra[col], s->cxt);
        return d;
    }
    if (soft_error == nullptr) return InputFunctionCall(&s->in_funcs[col], (char *)str, s->ioparams[col], c->typmod);
    Datum d = (Datum)0;
    if (!pg::InputValueSoft(&s->in_funcs[col], (char *)str, s->ioparams[col], c->typmod, &d, soft_error)) {
        *isnull = true;
        return (Datum)0;
    }
    return d;
}

// Errors that make a value bad in non-strict mode.  Code that is not
// PostgreSQL's own (a domain's CHECK function, an extension's type): data
// exceptions (class 22) and a domain's constraints only; anything else
// from it is the statement's error.  Built-in input functions reject bad
// text with other classes too (array_in: 54000, jsonpath: 42601, regclass:
// 42P01, ...), so for them every error is the value's, except a cancel or
// shutdown (57), lack of resources (53), stack depth (54001), system (58)
// and internal (XX) errors.
bool IsDataError(int sqlerrcode, bool user_code) {
    int cat = ERRCODE_TO_CATEGORY(sqlerrcode);
    if (user_code)
        return cat == ERRCODE_DATA_EXCEPTION || sqlerrcode == ERRCODE_CHECK_VIOLATION ||
               sqlerrcode == ERRCODE_NOT_NULL_VIOLATION;
    return cat != ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION) &&
           cat != ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES) && sqlerrcode != ERRCODE_STATEMENT_TOO_COMPLEX &&
           cat != ERRCODE_TO_CATEGORY(ERRCODE_SYSTEM_ERROR) && cat != ERRCODE_TO_CATEGORY(ERRCODE_INTERNAL_ERROR);
}

}  // namespace

// Converts text to a column value.  In non-strict mode a data error becomes
// NULL and is recorded for junk_error.  Conversions that can run code other
// than built-in input functions (domains, composites, extensions' types)
// run in a subtransaction then, so that whatever that code did is undone
// (its SPI calls, references, locks); outside parallel mode only (the
// planner keeps such statements out of it, see NeedsSubtransactions).
// On PostgreSQL 16+ an input function's soft errors (pg::InputValueSoft)
// are bad values without an exception, also inside a parallel worker.
Datum InputValue(ScanState *s, int col, const char *str, bool *isnull, size_t len, int how) {
    ColumnDef *c = &s->table->columns[col];
    *isnull = false;
    s->cur_column = c->name;
    const char *soft_error = nullptr;
    if (s->table->strict || (s->user_code[col] && IsInParallelMode())) {
        Datum d = ConvertUnprotected(s, col, str, len, how, isnull, s->table->strict ? nullptr : &soft_error);
        s->cur_column = nullptr;
        if (soft_error != nullptr) MarkBad(s, psprintf("column \"%s\": %s", c->name, soft_error));
        return d;
    }
    MemoryContext cxt = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    volatile Datum result = (Datum)0;
    volatile bool failed = false;
    bool null_result = false;
    bool subxact = s->user_code[col];
    if (subxact) {
        BeginInternalSubTransaction(NULL);
        MemoryContextSwitchTo(cxt);
    }
    PG_TRY();
    {
        result = ConvertUnprotected(s, col, str, len, how, &null_result, &soft_error);
        if (subxact) {
            // a rejected value (a domain's CHECK, 16+): what its code did is
            // undone, as for an error (the message lives in CXT)
            if (soft_error != nullptr) RollbackAndReleaseCurrentSubTransaction();
            else ReleaseCurrentSubTransaction();
            MemoryContextSwitchTo(cxt);
            CurrentResourceOwner = owner;
        }
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        ErrorData *ed = CopyErrorData();
        if (!subxact && !IsDataError(ed->sqlerrcode, false)) PG_RE_THROW();
        FlushErrorState();
        if (subxact) {
            RollbackAndReleaseCurrentSubTransaction();
            MemoryContextSwitchTo(cxt);
            CurrentResourceOwner = owner;
            if (!IsDataError(ed->sqlerrcode, true)) ReThrowError(ed);
        }
        MarkBad(s, psprintf("column \"%s\": %s", c->name, ed->message));
        failed = true;
    }
    PG_END_TRY();
    s->cur_column = nullptr;
    if (!failed && soft_error != nullptr) {
        MarkBad(s, psprintf("column \"%s\": %s", c->name, soft_error));
        failed = true;
    }
    if (failed || null_result) {
        *isnull = true;
        return (Datum)0;
    }
    return result;
}

}  // namespace kafka_fdw::fdw
