# kafka_fdw: PGXS build of a C++17 PostgreSQL extension.
#
#   make                 build the extension (and kafka_copy when it exists)
#   make install         install into the PostgreSQL found by $(PG_CONFIG)
#   make unit            build and run the pure C++ core's unit tests (no server headers)
#   make unit-asan       the same under ASan+UBSan (mk/fuzz.mk)
#   make fuzz            libFuzzer harnesses of the core's decoders (mk/fuzz.mk, bench/fuzz.sh)
#   make WERROR=1        warnings are errors (CI)
#
# The full suite (broker, throwaway cluster, pg_regress, TAP) is test/run.sh.

EXTENSION  = kafka_fdw
MODULE_big = kafka_fdw
# The version of the SQL objects the library expects (its workers wait for
# ALTER EXTENSION kafka_fdw UPDATE until the database has it): the control
# file's default_version, the one place it is written.
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" kafka_fdw.control)
# The first release's install script, then one upgrade script per release:
# a fresh install runs them in order, so a fresh and an upgraded
# installation are the same by construction.
DATA       = sql/kafka_fdw--0.1.0.sql sql/kafka_fdw--0.1.0--0.2.0.sql sql/kafka_fdw--0.2.0--0.3.0.sql sql/kafka_fdw--0.3.0--0.4.0.sql
PGFILEDESC = "kafka_fdw - Apache Kafka as foreign tables"

# pg_regress: explicit, ordered.  The suite runner (test/run.sh) passes the
# cluster's port and KAFKA_BROKERS in the environment.
REGRESS      = setup options functions scan produce import groups shapes roletypes decode decode_soft roundtrip
REGRESS_OPTS = --inputdir=. --load-extension=kafka_fdw --load-extension=plpgsql

# The pure core: Kafka client and codecs.  Compiled WITHOUT the server include
# directory, so an #include of postgres.h there fails to compile.
CORE_SRCS = $(sort $(wildcard src/kafka/*.cpp src/format/*.cpp))
CORE_OBJS = $(CORE_SRCS:.cpp=.o)
# The glue: everything that runs inside the backend.
# src/module.cpp (_PG_init) sits above the rooms: it wires them together.
GLUE_SRCS = $(sort $(wildcard src/*.cpp src/pg/*.cpp src/fdw/*.cpp src/functions/*.cpp src/cdc/*.cpp src/sink/*.cpp))
GLUE_OBJS = $(GLUE_SRCS:.cpp=.o)
OBJS      = $(CORE_OBJS) $(GLUE_OBJS)

# (-Wshadow=compatible-local: PostgreSQL 16+'s PGXS adds it, so 15 builds see it too)
WARN_FLAGS = -Wall -Wextra -Wno-missing-field-initializers -Wshadow=compatible-local
ifdef WERROR
WARN_FLAGS += -Werror
endif

PG_CXXFLAGS = -std=c++17 -fPIC $(WARN_FLAGS) -Isrc -DKAFKA_FDW_EXTVERSION='"$(EXTVERSION)"'
SHLIB_LINK  = -lrdkafka -lcrypto -lstdc++

# Debian's PGXS compiles every source to LLVM bitcode with clang and without
# our C++ flags; we do not ship JIT bitcode, so turn it off before the include.
override with_llvm = no

PG_CONFIG ?= pg_config
# PostgreSQL's headers as system headers: their warnings under -Wextra are
# not ours (GCC drops PGXS's -I of the same directory in favour of this).
PG_CPPFLAGS := -isystem $(shell $(PG_CONFIG) --includedir-server)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The command-line COPY program, from the same core (mk/kafka_copy.mk).
include mk/kafka_copy.mk
all: kafka-copy
install: install-kafka-copy
clean: clean-kafka-copy

# Core objects: no server include path, only our own tree.
CORE_CPPFLAGS = -Isrc -D_GNU_SOURCE
$(CORE_OBJS): override CPPFLAGS := $(CORE_CPPFLAGS)

# Headers are few and shared; rebuild everything when one changes.
HEADERS = $(wildcard src/*.hpp src/*/*.hpp)
$(OBJS): $(HEADERS)
# (the library's version, KAFKA_FDW_EXTVERSION, comes from the control file)
src/pg/worker.o: kafka_fdw.control

# ---- unit tests of the pure core -------------------------------------------
UNIT_SRCS = $(sort $(wildcard test/unit/*.cpp))
UNIT_BIN  = test/unit/core_tests
UNIT_CXXFLAGS = -std=c++17 -g -O1 $(WARN_FLAGS) $(CORE_CPPFLAGS)

$(UNIT_BIN): $(UNIT_SRCS) $(CORE_SRCS) $(HEADERS) $(wildcard test/unit/*.hpp)
	$(CXX) $(UNIT_CXXFLAGS) -o $@ $(UNIT_SRCS) $(CORE_SRCS) -lrdkafka -lcrypto -lpthread

.PHONY: unit
unit: $(UNIT_BIN)
	$(UNIT_BIN)

EXTRA_CLEAN = $(UNIT_BIN) results regression.diffs regression.out

# Sanitizer builds of the core: fuzz harnesses and the unit tests (clang/gcc,
# no server headers, never linked with postgres).
include mk/fuzz.mk
clean: clean-san
