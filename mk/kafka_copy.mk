# kafka_copy: the command-line COPY program, built from the same pure C++ core
# as the extension (src/kafka, src/format) and src/cli, WITHOUT PostgreSQL's
# include path.  Works standalone:
#
#   make -f mk/kafka_copy.mk kafka_copy
#   make -f mk/kafka_copy.mk install-kafka-copy
#   make -f mk/kafka_copy.mk clean-kafka-copy
#
# or included by the top Makefile (all/install/clean hooks live there).
# Objects go to a separate directory so they never clash with the extension's
# -fPIC objects of the same sources.

KC_PG_CONFIG ?= pg_config
KC_CXX       ?= $(or $(CXX),g++)
KC_BIN       := kafka_copy
KC_OBJDIR    := build/kafka_copy
KC_VERSION   := $(or $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" kafka_fdw.control 2>/dev/null),0.0.0)
KC_CXXFLAGS  := -std=c++17 -O2 -Wall -Wextra -Wno-missing-field-initializers -Isrc -D_GNU_SOURCE \
                -DKAFKA_COPY_VERSION='"$(KC_VERSION)"'
ifdef WERROR
KC_CXXFLAGS  += -Werror
endif
KC_LDLIBS    := -lrdkafka -lcrypto -lpthread

KC_CORE_SRCS := $(sort $(wildcard src/kafka/*.cpp src/format/*.cpp))
KC_CLI_SRCS  := $(sort $(wildcard src/cli/*.cpp))
KC_SRCS      := $(KC_CORE_SRCS) $(KC_CLI_SRCS)
KC_OBJS      := $(patsubst src/%.cpp,$(KC_OBJDIR)/%.o,$(KC_SRCS))
KC_HEADERS   := $(wildcard src/kafka/*.hpp src/format/*.hpp src/cli/*.hpp)

.PHONY: kafka-copy install-kafka-copy clean-kafka-copy

kafka-copy: $(KC_BIN)

$(KC_BIN): $(KC_OBJS)
	$(KC_CXX) $(KC_CXXFLAGS) -o $@ $(KC_OBJS) $(KC_LDLIBS)

$(KC_OBJDIR)/%.o: src/%.cpp $(KC_HEADERS)
	@mkdir -p $(dir $@)
	$(KC_CXX) $(KC_CXXFLAGS) -c -o $@ $<

# Installed next to the server's programs; Debian does not put that directory
# on anyone's PATH, so also link it into /usr/local/bin when we can.
KC_BINDIR = $(shell $(KC_PG_CONFIG) --bindir)
install-kafka-copy: $(KC_BIN)
	install -d '$(DESTDIR)$(KC_BINDIR)'
	install -m 755 $(KC_BIN) '$(DESTDIR)$(KC_BINDIR)/$(KC_BIN)'
	@if [ -z '$(DESTDIR)' ] && [ -d /usr/local/bin ] && [ -w /usr/local/bin ] && \
	    [ '$(KC_BINDIR)' != /usr/local/bin ]; then \
	  echo "ln -sf '$(KC_BINDIR)/$(KC_BIN)' /usr/local/bin/$(KC_BIN)"; \
	  ln -sf '$(KC_BINDIR)/$(KC_BIN)' /usr/local/bin/$(KC_BIN); \
	fi

clean-kafka-copy:
	rm -rf $(KC_OBJDIR) $(KC_BIN)
	-rmdir build 2>/dev/null || true
