// See security.hpp.  Postgres zone.
#include "pg/security.hpp"

extern "C" {
#include "access/genam.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/fmgroids.h"
}

namespace kafka_fdw::pg {

namespace {

constexpr const char *kExtensionName = "kafka_fdw";

// The extension's pg_extension row: its schema and owner, and (version not
// NULL) its version, palloc'd.  False when absent.
bool ExtensionRow(Oid *schema, Oid *owner, char **version = nullptr) {
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
        if (version) {
            bool isnull;
            Datum d = heap_getattr(tup, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);
            *version = isnull ? nullptr : TextDatumGetCString(d);
        }
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

char *InstalledExtensionVersion() {
    Oid schema, owner;
    char *version = nullptr;
    return ExtensionRow(&schema, &owner, &version) ? version : nullptr;
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

void BeginOwnerSpi(OwnerSpi *scope, int flags) {
    scope->flags = flags;
    scope->schema = ExtensionSchemaSql();
    EnterRole(&scope->role, ExtensionOwner(), (flags & kOwnerSpiRestricted) != 0);
    if ((flags & kOwnerSpiConnect) && SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
}

void EndOwnerSpi(const OwnerSpi *scope) {
    if (scope->flags & kOwnerSpiConnect) SPI_finish();
    LeaveRole(&scope->role);
}

bool ActsAs(Oid member, Oid role) { return has_privs_of_role(member, role); }

}  // namespace kafka_fdw::pg

// ---- DROP ROLE of a role that owns kafka_fdw work -----------------------------
//
// The owners of sinks, pipelines and consumer groups are role OIDs in the
// extension's tables; pg_shdepend cannot describe rows of an extension table,
// so DROP ROLE would leave them dangling.  This hook refuses DROP ROLE of a
// role that owns any of them in the current database (the others are
// checked by their workers, which stop with a clear last_error when their
// owner is gone).
namespace kafka_fdw::pg {
namespace {

object_access_hook_type g_prev_object_access = nullptr;

// What the role owns here, e.g. "2 sinks, 1 consumer group"; NULL if nothing.
char *OwnedWork(Oid role) {
    if (!ExtensionInstalled()) return nullptr;
    OwnerSpi own;
    BeginOwnerSpi(&own);
    const char *schema = own.schema;
    Oid types[1] = {OIDOID};
    Datum values[1] = {ObjectIdGetDatum(role)};
    // Tables a release may not have yet count as empty.
    const char *sql = psprintf(
        "SELECT pg_catalog.concat_ws(', ', "
        "  (SELECT pg_catalog.count(*) OPERATOR(pg_catalog.||) ' sink(s)' FROM %s.sinks "
        "    WHERE owner::pg_catalog.oid OPERATOR(pg_catalog.=) $1 HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0), "
        "  (SELECT pg_catalog.count(*) OPERATOR(pg_catalog.||) ' pipeline(s)' FROM %s.pipelines "
        "    WHERE owner::pg_catalog.oid OPERATOR(pg_catalog.=) $1 HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0), "
        "  (SELECT pg_catalog.count(*) OPERATOR(pg_catalog.||) ' consumer group(s)' FROM %s.groups "
        "    WHERE owner::pg_catalog.oid OPERATOR(pg_catalog.=) $1 HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0))",
        schema, schema, schema);
    char *result = nullptr;  // in the caller's memory context
    if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 1) == SPI_OK_SELECT && SPI_processed == 1) {
        char *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        if (v && *v) {
            result = static_cast<char *>(SPI_palloc(strlen(v) + 1));
            strcpy(result, v);
        }
    }
    EndOwnerSpi(&own);
    return result;
}

void ObjectAccess(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg) {
    if (g_prev_object_access) g_prev_object_access(access, classId, objectId, subId, arg);
    if (access != OAT_DROP || classId != AuthIdRelationId || !IsTransactionState()) return;
    char *what = OwnedWork(objectId);
    if (what)
        ereport(ERROR, (errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
                        errmsg("role \"%s\" cannot be dropped because it owns kafka_fdw work in this database",
                               GetUserNameFromId(objectId, false)),
                        errdetail("It owns %s.", what),
                        errhint("Drop them, or hand them over: kafka.alter_group_owner() for groups; sinks and "
                                "pipelines are created again by their new owner.")));
}

}  // namespace

void RegisterRoleGuard() {
    g_prev_object_access = object_access_hook;
    object_access_hook = ObjectAccess;
}

}  // namespace kafka_fdw::pg
