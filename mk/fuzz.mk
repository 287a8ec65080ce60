# Sanitizer builds of the pure C++ core, separate from the PGXS build: no
# server include path, never linked with postgres.  Objects go to build/,
# away from the extension's -fPIC objects of the same sources.
#
#   make fuzz          libFuzzer harnesses test/fuzz/fuzz_*.cpp -> build/fuzz/fuzz_*
#                      (Debian's clang: -fsanitize=fuzzer,address,undefined)
#   make unit-asan     the unit tests (test/unit) with -fsanitize=address,undefined,
#                      UBSan fatal -> build/unit-asan/core_tests, then run them
#   bash test/fuzz/fuzz.sh  run every harness for 30 s (CI, test/run.sh)
#   bash bench/fuzz.sh      run every harness for 1,000,000 inputs
#
# Works standalone too (make -f mk/fuzz.mk fuzz), or included by the top
# Makefile.

FUZZ_CXX ?= $(or $(shell command -v clang++-14 2>/dev/null),$(shell command -v clang++ 2>/dev/null),clang++)
UNIT_ASAN_CXX ?= $(or $(CXX),g++)
SAN_WARN_FLAGS := -Wall -Wextra -Wno-missing-field-initializers
ifdef WERROR
SAN_WARN_FLAGS += -Werror
endif
# UBSan reports are fatal (-fno-sanitize-recover=all): a report is a failure.
SAN_FLAGS := -std=c++17 -g -O1 -fno-omit-frame-pointer $(SAN_WARN_FLAGS) -Isrc -D_GNU_SOURCE \
             -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_CORE_SRCS := $(sort $(wildcard src/kafka/*.cpp src/format/*.cpp))
SAN_HEADERS := $(wildcard src/kafka/*.hpp src/format/*.hpp)

# ---- libFuzzer harnesses ------------------------------------------------------
FUZZ_DIR := build/fuzz
FUZZ_NAMES := $(sort $(patsubst test/fuzz/fuzz_%.cpp,%,$(wildcard test/fuzz/fuzz_*.cpp)))
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_CORE_OBJS := $(SAN_CORE_SRCS:src/%.cpp=$(FUZZ_DIR)/core/%.o)

.PHONY: fuzz unit-asan clean-san

fuzz: $(FUZZ_BINS)

# The core with coverage instrumentation for libFuzzer, as an archive: each
# harness links only the objects it needs.
$(FUZZ_DIR)/core/%.o: src/%.cpp $(SAN_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(SAN_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/libcore.a: $(FUZZ_CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: test/fuzz/fuzz_%.cpp test/fuzz/fuzz_check.hpp $(FUZZ_DIR)/libcore.a
	$(FUZZ_CXX) $(SAN_FLAGS) -fsanitize=fuzzer -Itest/fuzz -o $@ $< $(FUZZ_DIR)/libcore.a -lrdkafka -lcrypto -lpthread

# ---- unit tests under ASan + UBSan --------------------------------------------
UNIT_ASAN_DIR := build/unit-asan
UNIT_ASAN_BIN := $(UNIT_ASAN_DIR)/core_tests
UNIT_ASAN_OBJS := $(patsubst %.cpp,$(UNIT_ASAN_DIR)/%.o,$(sort $(wildcard test/unit/*.cpp)) $(SAN_CORE_SRCS))
# Leaks count too; UBSan stops at its first report; an allocation over 4 GB
# fails with bad_alloc (as it would on a small machine) instead of succeeding
# by overcommit.
UNIT_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=4096 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

$(UNIT_ASAN_DIR)/%.o: %.cpp $(SAN_HEADERS) $(wildcard test/unit/*.hpp)
	@mkdir -p $(dir $@)
	$(UNIT_ASAN_CXX) $(SAN_FLAGS) -c -o $@ $<

$(UNIT_ASAN_BIN): $(UNIT_ASAN_OBJS)
	$(UNIT_ASAN_CXX) $(SAN_FLAGS) -o $@ $^ -lrdkafka -lcrypto -lpthread

unit-asan: $(UNIT_ASAN_BIN)
	$(UNIT_ASAN_ENV) $(UNIT_ASAN_BIN)

clean-san:
	rm -rf $(FUZZ_DIR) $(UNIT_ASAN_DIR)
