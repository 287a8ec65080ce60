// The one place the glue includes PostgreSQL's headers.  Include it AFTER any
// core header (src/kafka, src/format): the core refuses to be compiled once
// postgres.h was seen.  PostgreSQL's headers trip -Wextra (unused
// parameters in inline functions, signed/unsigned comparisons): the
// Makefile names the server include directory with -isystem, so GCC treats
// them as system headers and keeps its warnings for our own code only (no
// pragmas around each include).
#pragma once

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

#include "pg/compat.hpp"

// PostgreSQL defines these as macros; they collide with the standard library.
#undef snprintf
#undef vsnprintf
#undef printf
#undef sprintf
#undef fprintf
