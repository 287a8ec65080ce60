// Included first by every header of the pure C++ core (src/kafka, src/format).
// The core must compile without PostgreSQL: it runs inside the backend, in
// the kafka_copy command-line program, and in the unit tests.  If postgres.h
// was included before a core header, the build fails here.  (The core is also
// compiled without the server include path, so including postgres.h from the
// core itself fails too.)
#pragma once

#if defined(POSTGRES_H) || defined(PG_VERSION_NUM) || defined(C_H)
#error "a kafka_fdw core header was included after postgres.h: include core headers first, Postgres headers through pg/postgres.hpp after them"
#endif
