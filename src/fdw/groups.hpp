// Consumer group positions stored in kafka.group_offsets (Postgres zone).
// The table is the source of truth; it is read and written through SPI as
// the extension's owner with a pinned search_path (users get at positions
// only through group tables and the kafka.* functions, which check USAGE on
// the server and the group's owner: kafka.groups).  Positions are moved
// in the current transaction, so ROLLBACK returns them.
#pragma once

#include "pg/postgres.hpp"

namespace kafka_fdw::fdw {

// `user`'s right to the consumer group: its owner's members and superusers
// only (ERROR 42501 otherwise).  With `claim`, a group no role has used yet
// becomes `user`'s.  `user` is the role whose user mapping reads the group:
// the caller for the functions, the view's owner for a group table read
// through a view.  Checked before any of the functions below runs as the
// extension's owner.
void GroupAuthorize(const char *server, const char *group, bool claim, Oid user);

// Whether `user` may see the group's lag (kafka.lag): what GroupAuthorize
// allows, and also members of pg_read_all_stats (monitoring roles: counts,
// not messages).  No ERROR for a denial.
bool GroupLagReadable(const char *server, const char *group, Oid user);

// The stored next offset, or -1 when the group has no row for the partition.
int64 GroupReadPosition(const char *server, const char *group, const char *topic, int32 partition);
// Creates the row if there is none (concurrent creators: the first wins).
void GroupInitPosition(const char *server, const char *group, const char *topic, int32 partition, int64 next);
// Locks the row (FOR UPDATE, or FOR UPDATE SKIP LOCKED) and returns the
// next offset; *skipped when skip_locked and another transaction holds it.
int64 GroupLockPosition(const char *server, const char *group, const char *topic, int32 partition,
                        bool skip_locked, bool *skipped);
// Topics with stored positions for the group (palloc'd strings).
List *GroupStoredTopics(const char *server, const char *group);
// Inserts or updates the position.
void GroupStorePosition(const char *server, const char *group, const char *topic, int32 partition, int64 next);

}  // namespace kafka_fdw::fdw
