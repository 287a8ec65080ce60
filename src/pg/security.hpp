// Running the extension's own SQL safely (Postgres zone).
//
// Two rules from PostgreSQL's maintenance commands (REFRESH MATERIALIZED VIEW,
// VACUUM, CREATE INDEX) apply wherever kafka_fdw runs SQL as a role other
// than the caller's, or runs another role's code:
//  * the extension's objects are found through the extension's own schema
//    OID (pg_extension.extnamespace), never by the name "kafka" in the
//    caller's search_path;
//  * SQL runs under its own GUC nest level with search_path pinned to
//    "pg_catalog, pg_temp", and its text qualifies every function and
//    operator (OPERATOR(pg_catalog.=), pg_catalog.now()).  Owner code (a
//    sink's statement, the target's triggers) runs with
//    SECURITY_RESTRICTED_OPERATION besides, so nothing it sets outlives it.
// A caller's rights are checked BEFORE any elevation.
#pragma once

#include "pg/postgres.hpp"

namespace kafka_fdw::pg {

// The schema kafka_fdw is installed in; ERROR when it is not installed in
// this database.
Oid ExtensionSchema();
// The same schema's name, quoted for SQL text (palloc'd).
const char *ExtensionSchemaSql();
// The role that owns the extension (the superuser who installed it): the
// owner of its tables.
Oid ExtensionOwner();
// Whether kafka_fdw is installed in this database (no ERROR).
bool ExtensionInstalled();
// The version of kafka_fdw installed in this database (pg_extension's
// extversion, palloc'd), or NULL when it is not installed.  In a transaction.
char *InstalledExtensionVersion();

// A role switch with a pinned search_path.  Enter sets `role` as the current
// user (SECURITY_LOCAL_USERID_CHANGE, plus SECURITY_RESTRICTED_OPERATION when
// `restricted`), opens a GUC nest level and pins search_path; Leave undoes
// every GUC change made since (also by code that ran inside) and restores
// the user.  An ERROR in between is cleaned up by the (sub)transaction
// abort, which restores both.
struct RoleScope {
    Oid saved_user;
    int saved_sec;
    int nest_level;
};
void EnterRole(RoleScope *scope, Oid role, bool restricted);
void LeaveRole(const RoleScope *scope);

// The extension's own SQL on its own tables: as the extension's owner,
// search_path pinned (EnterRole); `schema` is the extension's schema, quoted,
// for the statements' text.  Only fully qualified statements.  Flags:
//   kOwnerSpiConnect     SPI connected here (and finished by EndOwnerSpi);
//                        without it, within the caller's SPI connection
//   kOwnerSpiRestricted  SECURITY_RESTRICTED_OPERATION besides (as
//                        REFRESH MATERIALIZED VIEW: nothing that runs inside
//                        may change state that outlives it)
enum OwnerSpiFlags : int {
    kOwnerSpiConnect = 1 << 0,
    kOwnerSpiRestricted = 1 << 1,
};
struct OwnerSpi {
    RoleScope role;
    const char *schema;
    int flags;
};
void BeginOwnerSpi(OwnerSpi *scope, int flags = kOwnerSpiConnect);
void EndOwnerSpi(const OwnerSpi *scope);

// The same pin of search_path without a role switch (for the extension's own
// SQL that runs as the current user).
int PinSearchPath();
void UnpinSearchPath(int nest_level);

// Whether `member` has the privileges of `role` (superusers have all).
bool ActsAs(Oid member, Oid role);

// _PG_init: DROP ROLE refuses a role that owns sinks, pipelines or
// consumer groups in the current database.
void RegisterRoleGuard();

}  // namespace kafka_fdw::pg
