// See security.hpp.  Postgres zone.
#include "pg/security.hpp"

extern "C" {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "access/genam.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "utils/fmgroids.h"
#pragma GCC diagnostic pop
}

namespace kafka_fdw::pg {

namespace {

constexpr const char *kExtensionName = "kafka_fdw";

// The extension's pg_extension row: its schema and owner.  False when absent.
bool ExtensionRow(Oid *schema, Oid *owner) {
    Relation rel = table_open(ExtensionRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ, CStringGetDatum(kExtensionName));
    SysScanDesc scan = systable_beginscan(rel, ExtensionNameIndexId, true, nullptr, 1, &key);
    HeapTuple tup = systable_getnext(scan);
    bool found = HeapTupleIsValid(tup);
    if (found) {
        auto *ext = (Form_pg_extension)GETSTRUCT(tup);
        *schema = ext->extnamespace;
        *owner = ext->extowner;
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return found;
}

void RequireRow(Oid *schema, Oid *owner) {
    if (!ExtensionRow(schema, owner))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("extension \"%s\" is not installed in this database", kExtensionName)));
}

}  // namespace

Oid ExtensionSchema() {
    Oid schema, owner;
    RequireRow(&schema, &owner);
    return schema;
}

const char *ExtensionSchemaSql() {
    Oid schema = ExtensionSchema();
    char *name = get_namespace_name(schema);
    if (!name) elog(ERROR, "cache lookup failed for namespace %u", schema);
    return quote_identifier(name);
}

Oid ExtensionOwner() {
    Oid schema, owner;
    RequireRow(&schema, &owner);
    return owner;
}

bool ExtensionInstalled() {
    Oid schema, owner;
    return ExtensionRow(&schema, &owner);
}

int PinSearchPath() {
    int nest_level = NewGUCNestLevel();
    (void)set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
                            0, false);
    return nest_level;
}

void UnpinSearchPath(int nest_level) { AtEOXact_GUC(false, nest_level); }

void EnterRole(RoleScope *scope, Oid role, bool restricted) {
    GetUserIdAndSecContext(&scope->saved_user, &scope->saved_sec);
    int sec = scope->saved_sec | SECURITY_LOCAL_USERID_CHANGE;
    if (restricted) sec |= SECURITY_RESTRICTED_OPERATION;
    SetUserIdAndSecContext(role, sec);
    scope->nest_level = PinSearchPath();
}

void LeaveRole(const RoleScope *scope) {
    UnpinSearchPath(scope->nest_level);
    SetUserIdAndSecContext(scope->saved_user, scope->saved_sec);
}

bool ActsAs(Oid member, Oid role) { return has_privs_of_role(member, role); }

}  // namespace kafka_fdw::pg
