# sqlited: one Makefile for the daemon, libsqlited, sqlited-cli and the tests.
#
#   make            build everything into build/
#   make run        start the daemon on ./var/sqlited.db and ./var/sqlited.sock
#   make test       the Criterion suite, then the Python one (test-python);
#                   first make layers
#   make layers     checks that the I/O loop's modules form layers (see
#                   daemon/state.h): no #include goes up, no cycle joins two
#                   of them; prints their graph
#   make asan       the suite under AddressSanitizer + UBSan (build-asan/)
#   make tsan       the daemon under ThreadSanitizer (build-tsan/): the suite
#                   against it, then a concurrent load (TSAN_SECONDS=25)
#   make bench      sqlited against direct SQLite and the socket floor
#                   (QUICK=1: within two minutes; IO_THREADS=N: the daemon's
#                   --io-threads and the floor's threads); see README, Performance
#   make fuzz       libFuzzer targets (clang, ASan, UBSan), FUZZ_SECONDS=60 each;
#                   crashes land in tests/fuzz/crashes/, replayed by make test
#   make valgrind   memcheck (no leaks, no invalid access) over the daemon under
#                   a subset of the suite, and over libsqlited (~9 minutes)
#   make soak       one daemon, mixed load and hostile clients, SOAK_SECONDS=300;
#                   RSS, descriptors and acknowledged writes checked at the end
#   make install    PREFIX=/usr/local DESTDIR= : binaries, library, header, .pc,
#                   the Python driver for Debian's python3, the systemd units
#                   (SYSTEMD_UNIT_DIR), sysusers.d file (SYSUSERS_DIR), man
#                   pages (MANDIR) and README.md (DOCDIR); make uninstall
#   make clean      remove build output
#
# Missing Debian packages are installed on first use (through sudo when not
# root), so a fresh machine needs nothing but make and a compiler.

VERSION := 0.1.0
SOVERSION := 0
PREFIX ?= /usr/local
DESTDIR ?=
# Where make install puts what is not a binary or a library. systemd and
# systemd-sysusers look in /usr/local/lib too; for another PREFIX, point
# SYSTEMD_UNIT_DIR at /etc/systemd/system and SYSUSERS_DIR at
# /etc/sysusers.d.
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
SYSUSERS_DIR ?= $(PREFIX)/lib/sysusers.d
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/sqlited
BUILD ?= build

# ------------------------------------------------------------- dependencies
DEPS_PKGS := libuv msgpack sqlite3 libsystemd libmicrohttpd criterion libedit
# libmicrohttpd: the --http listener (a well-kept HTTP server, rather than
# HTTP parsed by hand); libedit: sqlited-cli's interactive shell (line
# editing, history, completion from a well-kept line editor, rather than one
# by hand); python3-prometheus-client: the tests check the metrics with
# Prometheus' own parser; sqlite3: the tests load the shell's own .dump
# output through sqlited-cli and compare with what it reads.
DEBIAN_DEPS := libuv1-dev libmsgpack-dev libsqlite3-dev libcriterion-dev \
               libsystemd-dev libmicrohttpd-dev libedit-dev pkg-config \
               python3-prometheus-client sqlite3
NODEPS_GOALS := clean format format-check help layers
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
DEPS_STATUS := $(shell command -v pkg-config >/dev/null 2>&1 && \
                 pkg-config --exists $(DEPS_PKGS) && \
                 /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null && \
                 command -v sqlite3 >/dev/null 2>&1 && \
                 echo ok)
ifneq ($(DEPS_STATUS),ok)
$(info sqlited: installing missing Debian packages: $(DEBIAN_DEPS))
DEPS_INSTALL := $(shell { $(SUDO) apt-get update && \
    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y \
    $(DEBIAN_DEPS); } >&2 && echo ok)
ifneq ($(DEPS_INSTALL),ok)
$(error sqlited: could not install $(DEBIAN_DEPS); install them and retry)
endif
endif
PKG_CFLAGS := $(shell pkg-config --cflags libuv msgpack sqlite3 libsystemd libmicrohttpd)
DAEMON_LIBS := $(shell pkg-config --libs libuv msgpack sqlite3 libsystemd libmicrohttpd)
CLIENT_LIBS := $(shell pkg-config --libs msgpack)
# sqlited-cli splits scripts and the shell's input into statements with
# sqlite3_complete(); its shell edits lines with libedit.
CLI_CFLAGS := $(shell pkg-config --cflags libedit)
CLI_LIBS := $(CLIENT_LIBS) $(shell pkg-config --libs libedit sqlite3)
TEST_CFLAGS := $(shell pkg-config --cflags criterion)
TEST_LIBS := $(shell pkg-config --libs criterion)
endif

# ------------------------------------------------------------------- flags
CC ?= cc
CFLAGS ?= -O2 -g
SAN_FLAGS ?=
WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 \
        -Wwrite-strings -Wmissing-prototypes -Werror
ALL_CFLAGS = $(WARN) $(CFLAGS) $(SAN_FLAGS) -D_GNU_SOURCE -fPIC \
             -fvisibility=hidden -pthread -MMD -MP -Iinclude -Iprotocol \
             $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS) -pthread

# ------------------------------------------------------------------- sources
PROTO_SRC := $(wildcard protocol/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
DAEMON_MAIN := daemon/main.c
LIB_SRC := client/sqlited.c
CLI_SRC := $(wildcard client/cli/*.c)
TEST_SRC := $(wildcard tests/unit/*.c tests/integration/*.c tests/helpers/*.c) \
            tests/bench/hist.c
BENCH_SRC := $(wildcard tests/bench/*.c)
# libFuzzer targets: tests/fuzz/fuzz_<name>.c, with core.c shared.
FUZZ_TARGETS := decoder request execute

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
PROTO_OBJ := $(call obj,$(PROTO_SRC))
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
DAEMON_MAIN_OBJ := $(call obj,$(DAEMON_MAIN))
LIB_OBJ := $(call obj,$(LIB_SRC)) $(PROTO_OBJ)
CLI_OBJ := $(call obj,$(CLI_SRC))
TEST_OBJ := $(call obj,$(TEST_SRC))
BENCH_OBJ := $(call obj,$(BENCH_SRC))
FUZZ_CORE_OBJ := $(call obj,tests/fuzz/core.c)

DAEMON := $(BUILD)/sqlited
# The daemon's core, everything but main(): linked by the daemon, the fuzzers
# and the tests; never installed.
DAEMON_LIB := $(BUILD)/libsqlited-daemon.a
CLI := $(BUILD)/sqlited-cli
STATIC_LIB := $(BUILD)/libsqlited.a
SHARED_LIB := $(BUILD)/libsqlited.so.$(VERSION)
TEST_BIN := $(BUILD)/tests/run-tests
BENCH_BIN := $(BUILD)/bench/sqlited-bench
SOAK_BIN := $(BUILD)/soak/sqlited-soak
FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz/fuzz-%,$(FUZZ_TARGETS))
FUZZ_REPLAYS := $(patsubst %,$(BUILD)/fuzz/replay-%,$(FUZZ_TARGETS))

.PHONY: all run test layers asan tsan bench fuzz fuzz-corpus valgrind soak install uninstall clean format format-check help \
        test-python python-deps \
        $(BUILD)/sqlited.pc
all: $(DAEMON) $(CLI) $(STATIC_LIB) $(SHARED_LIB) $(BUILD)/sqlited.pc

# An object is dated from when its compile began, not when it ended
# (STAMP_START, STAMP_BEGAN): a source or header written in between, as a
# git merge run while make compiles does, is then newer than the object,
# and the next make compiles it again. Dated from its end, the object built
# from the older text was kept for good: objects that disagree on a struct's
# layout make a daemon that may abort (realloc(): invalid old size).
STAMP_START = @touch $@.started
STAMP_BEGAN = @touch -r $@.started $@ && rm -f $@.started
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(STAMP_START)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
	$(STAMP_BEGAN)

# The tests find the daemon they start through this absolute path.
$(BUILD)/obj/tests/%.o: ALL_CFLAGS += $(TEST_CFLAGS) -Itests/helpers \
    -DSQLITED_BIN='"$(abspath $(DAEMON))"' \
    -DSQLITED_CLI='"$(abspath $(CLI))"' \
    -DSQLITED_README_EXAMPLE='"$(abspath $(BUILD)/readme-example)"' \
    -DSQLITED_SOURCE_DIR='"$(abspath .)"' \
    -DSQLITED_FAULTVFS='"$(abspath $(FAULTVFS))"'

$(DAEMON_LIB): $(DAEMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Under ThreadSanitizer, the daemon also links tests/tsan/close_hook.c, which
# shows TSan the descriptors libuv closes (see there).
TSAN_HOOK_OBJ = $(if $(findstring thread,$(SAN_FLAGS)),$(call obj,tests/tsan/close_hook.c))
$(DAEMON): $(DAEMON_MAIN_OBJ) $(DAEMON_LIB) $(PROTO_OBJ) $(TSAN_HOOK_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

$(STATIC_LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libsqlited.so.$(SOVERSION) \
	    -o $@ $^ $(CLIENT_LIBS)
	ln -sf libsqlited.so.$(VERSION) $(BUILD)/libsqlited.so.$(SOVERSION)
	ln -sf libsqlited.so.$(VERSION) $(BUILD)/libsqlited.so

$(BUILD)/obj/client/cli/%.o: ALL_CFLAGS += $(CLI_CFLAGS)
$(CLI): $(CLI_OBJ) $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CLI_LIBS)

# Always rewritten (it is tiny), so that it carries the PREFIX of this run.
$(BUILD)/sqlited.pc:
	@mkdir -p $(@D)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' \
	    'includedir=$${prefix}/include' '' 'Name: sqlited' \
	    'Description: client library of the sqlited SQLite server' \
	    'Version: $(VERSION)' 'Requires.private: msgpack' \
	    'Libs: -L$${libdir} -lsqlited' 'Cflags: -I$${includedir}' > $@

$(TEST_BIN): $(TEST_OBJ) $(DAEMON_LIB) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(DAEMON_LIBS)

# The fault tests load this into the daemon with LD_PRELOAD: a SQLite VFS
# that fails the reads, writes or syncs it is told to (tests/fault/). Built
# without the sanitizers: a preloaded library would come before their
# runtime, and the tests tell ASan that this is fine.
FAULTVFS := $(BUILD)/tests/libfaultvfs.so
$(FAULTVFS): tests/fault/faultvfs.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -D_GNU_SOURCE -fPIC -shared $(PKG_CFLAGS) \
	    -o $@ $< $(shell pkg-config --libs sqlite3) -ldl

$(BENCH_BIN): $(BENCH_OBJ) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

# The soak shares the benchmark's daemon starter and /proc readers.
$(BUILD)/obj/tests/soak/%.o: ALL_CFLAGS += -Itests/bench
$(SOAK_BIN): $(call obj,tests/soak/soak.c tests/bench/daemon.c) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CLIENT_LIBS)

# The fuzz targets reach into the daemon's core.
$(BUILD)/obj/tests/fuzz/%.o: ALL_CFLAGS += -Idaemon

# Named by the pattern rules below only, their objects would be intermediate
# files to make, deleted after a build and compiled again by the next.
.SECONDARY: $(call obj,$(wildcard tests/fuzz/*.c))

# A fuzz target with libFuzzer (make fuzz), or with replay.c and the normal
# compiler (make test replays the kept crashes and the seed corpus).
$(BUILD)/fuzz/fuzz-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_CORE_OBJ) \
                      $(DAEMON_LIB) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(DAEMON_LIBS)

$(BUILD)/fuzz/replay-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o \
                        $(BUILD)/obj/tests/fuzz/replay.o $(FUZZ_CORE_OBJ) \
                        $(DAEMON_LIB) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

# The C example in README.md, built against the library as a user would: the
# README cannot drift from the header unnoticed.
README_EXAMPLE := $(BUILD)/readme-example
$(README_EXAMPLE): README.md include/sqlited.h $(STATIC_LIB)
	@mkdir -p $(@D)
	awk '/^```c$$/{f=1;next} /^```$$/{f=0} f' README.md > $@.c
	$(CC) $(WARN) $(SAN_FLAGS) -Iinclude -o $@ $@.c $(STATIC_LIB) \
	    $(CLIENT_LIBS) -pthread

# ------------------------------------------------------------------ targets
run: $(DAEMON) $(CLI)
	@mkdir -p var
	exec $(DAEMON) --database ./var/sqlited.db --socket ./var/sqlited.sock

# The benchmark and the soak are built (not run) too, so that they cannot rot
# unseen. Every
# input that ever crashed a fuzz target, and the seed corpora, are replayed.
test: layers all $(TEST_BIN) $(README_EXAMPLE) $(BENCH_BIN) $(SOAK_BIN) $(FAULTVFS) $(FUZZ_REPLAYS)
	$(TEST_BIN) $(TEST_ARGS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    $(BUILD)/fuzz/replay-$$t tests/fuzz/crashes/$$t tests/fuzz/corpus/$$t; \
	done
	$(MAKE) --no-print-directory test-python

# The I/O loop's modules form layers (daemon/state.h): tests/layers.py reads
# the #include lines of daemon/ and fails on one that goes up.
layers:
	/usr/bin/python3 tests/layers.py -v

# ------------------------------------------------------------------- Python
# The driver (client/python) is tested with Debian's interpreter, where the
# Debian packages below live, whatever python3 comes first on PATH; they are
# installed on first use like the C libraries. PYTEST_ARGS picks tests
# (PYTEST_ARGS='-k savepoint').
PYTHON := /usr/bin/python3
PY_DEBIAN_DEPS := python3-msgpack python3-pytest python3-sqlalchemy \
                  python3-flask-sqlalchemy python3-flask-migrate
PY_MODULES := msgpack, pytest, sqlalchemy, flask_sqlalchemy, flask_migrate
PY_SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PYTEST := PYTHONPATH=$(CURDIR)/client/python SQLITED_BIN=$(abspath $(DAEMON)) \
          $(PYTHON) -m pytest -q -p no:cacheprovider

python-deps:
	@$(PYTHON) -c 'import $(PY_MODULES)' 2>/dev/null || { \
	    echo "sqlited: installing Debian packages: $(PY_DEBIAN_DEPS)"; \
	    $(PY_SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive \
	    $(PY_SUDO) apt-get install -y $(PY_DEBIAN_DEPS); }

# The driver, dialect and Flask tests, then SQLAlchemy's own dialect
# compliance suite (its pytest plugin needs a session of its own).
test-python: $(DAEMON) python-deps
	$(PYTEST) tests/python $(PYTEST_ARGS)
	PYTHONPATH=$(CURDIR)/client/python SQLITED_BIN=$(abspath $(DAEMON)) \
	    $(PYTHON) tests/python/sqlalchemy_suite/run.py -q

asan:
	LSAN_OPTIONS="suppressions=$(abspath tests/lsan.supp)$${LSAN_OPTIONS:+:$$LSAN_OPTIONS}" \
	$(MAKE) BUILD=build-asan CFLAGS='-O1 -g' \
	    SAN_FLAGS='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
	    test

# The daemon built with ThreadSanitizer into build-tsan/. Criterion cannot
# run under TSan, so the suite (built normally) runs against that daemon
# through SQLITED_TEST_DAEMON; then the soak's mixed load (two clients of each
# well-behaved role) runs against it for TSAN_SECONDS, with TSAN_IO_THREADS
# I/O loops (more than the cores, so that they interleave more). TSan's
# report makes the daemon exit at once with status 66 (halt_on_error), which
# the harness and the soak notice, as they notice the report in its stderr.
TSAN_SECONDS ?= 25
TSAN_IO_THREADS ?= 3
TSAN_DAEMON := build-tsan/sqlited
TSAN_ENV := TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1$${TSAN_OPTIONS:+ $$TSAN_OPTIONS}" \
            SQLITED_TEST_DAEMON=$(abspath $(TSAN_DAEMON))
# Too slow under TSan for the default deadline of 30 s: 32 results of 30 MiB
# queued behind each other (TSan checks every byte copied).
TSAN_SKIP := pipelined_large_results_without_reading
tsan: all $(TEST_BIN) $(README_EXAMPLE) $(FAULTVFS) $(SOAK_BIN)
	$(MAKE) BUILD=build-tsan CFLAGS='-O1 -g' SAN_FLAGS='-fsanitize=thread' \
	    $(TSAN_DAEMON)
	$(TSAN_ENV) $(TEST_BIN) --filter '*/!($(TSAN_SKIP))' $(TEST_ARGS)
	$(TSAN_ENV) $(SOAK_BIN) --daemon $(TSAN_DAEMON) --dir build-tsan/load \
	    --seconds $(TSAN_SECONDS) --scale 2 --sanitized \
	    --daemon-arg --io-threads --daemon-arg $(TSAN_IO_THREADS)

# Results land in tests/bench/results/, named by date and mode.
bench: $(DAEMON) $(BENCH_BIN) python-deps
	$(BENCH_BIN) --daemon $(DAEMON) --data $(BUILD)/bench-data \
	    --results tests/bench/results $(if $(QUICK),--quick) \
	    $(if $(IO_THREADS),--io-threads $(IO_THREADS)) \
	    --commit "$$(git rev-parse --short HEAD 2>/dev/null)"
	$(PYTHON) tests/bench/python_bench.py --daemon $(DAEMON) $(if $(QUICK),--quick)

# Debian's python3 looks in PREFIX/lib/python3.X/dist-packages (/usr/local),
# and in /usr/lib/python3/dist-packages for PREFIX=/usr; PY_SITE overrides.
PY_VERSION = $(shell $(PYTHON) -c 'import sys; print("python%d.%d" % sys.version_info[:2])' 2>/dev/null)
PY_SITE ?= $(PREFIX)/lib/$(if $(filter /usr,$(PREFIX)),python3,$(PY_VERSION))/dist-packages
PY_DIST := sqlited-$(VERSION).dist-info

# memcheck over the daemon while a representative part of the suite runs
# against it, each test's daemon under valgrind (SQLITED_TEST_WRAPPER): every
# method on the wire (raw, exec, batch, bulk, atomic, explain, values),
# cursors, transactions (tx), errors and the authorizer, pipelining, and
# clients that vanish (gone). Then libsqlited itself under memcheck: the test
# binary runs the client suites in valgrind (the daemons it starts run
# natively), and any report fails the target. About 9 minutes on the 2-core
# machine of README's Performance.
VALGRIND := valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect --error-exitcode=99
VALGRIND_SUITES := raw|exec|batch|bulk|atomic|explain|values|cursor|tx|errors|authorizer|pipeline|gone
VALGRIND_CLIENT_SUITES := client|client_tx|client_pipeline
# Too slow under memcheck for their deadlines (a million rows, a query of
# three million steps).
VALGRIND_SKIP := million_rows_in_chunks|slow_query_is_overtaken
valgrind: all $(TEST_BIN)
	@command -v valgrind >/dev/null 2>&1 || { \
	    echo "sqlited: installing valgrind"; \
	    $(SUDO) apt-get install -y valgrind; }
	SQLITED_TEST_WRAPPER='$(VALGRIND)' $(TEST_BIN) -j2 \
	    --filter '@($(VALGRIND_SUITES))/!($(VALGRIND_SKIP))'
	@rm -rf $(BUILD)/valgrind && mkdir -p $(BUILD)/valgrind
	$(VALGRIND) --trace-children=yes --trace-children-skip='*/sqlited' \
	    --log-file=$(BUILD)/valgrind/client.%p.log $(TEST_BIN) -j1 \
	    --filter '@($(VALGRIND_CLIENT_SUITES))/*'
	@if [ -n "$$(cat $(BUILD)/valgrind/*.log)" ]; then \
	    cat $(BUILD)/valgrind/*.log; \
	    echo "valgrind: memcheck reported errors in libsqlited"; exit 1; fi

# One daemon under a mixed load with hostile clients for SOAK_SECONDS (300):
# fails if its RSS or descriptors at the end are beyond a margin of their
# values after warm-up, if it died, or if an acknowledged write is missing.
SOAK_SECONDS ?= 300
soak: $(DAEMON) $(SOAK_BIN)
	$(SOAK_BIN) --daemon $(DAEMON) --dir $(BUILD)/soak-data \
	    --seconds $(SOAK_SECONDS)

# Rewrites the seed corpora from the requests in tests/fuzz/corpus.c.
$(BUILD)/fuzz/fuzz-corpus: $(call obj,tests/fuzz/corpus.c) $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CLIENT_LIBS)
fuzz-corpus: $(BUILD)/fuzz/fuzz-corpus
	rm -rf tests/fuzz/corpus
	$(BUILD)/fuzz/fuzz-corpus tests/fuzz/corpus

# Each target runs FUZZ_SECONDS (default 60) with clang's libFuzzer, ASan
# and UBSan, from its seed corpus (tests/fuzz/corpus/<target>/) and what
# earlier runs found (build-fuzz/corpus/<target>/, kept between runs). An
# input that crashes is written to tests/fuzz/crashes/<target>/: commit it
# with its fix, and make test replays it from then on.
FUZZ_SECONDS ?= 60
FUZZ_CHECK := printf 'int LLVMFuzzerTestOneInput(const char *d, long n)\
{ return 0; }' | clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null
fuzz:
	@$(FUZZ_CHECK) || { echo "sqlited: installing clang and libFuzzer"; \
	    $(SUDO) apt-get install -y clang libclang-rt-dev; }
	$(MAKE) BUILD=build-fuzz CC=clang CFLAGS='-O1 -g' \
	    SAN_FLAGS='-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
	    $(patsubst $(BUILD)/%,build-fuzz/%,$(FUZZ_BINS))
	@status=0; for t in $(FUZZ_TARGETS); do \
	    mkdir -p build-fuzz/corpus/$$t tests/fuzz/crashes/$$t; \
	    echo "== fuzz-$$t: $(FUZZ_SECONDS) s"; \
	    build-fuzz/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) \
	        -timeout=20 -print_final_stats=1 \
	        -artifact_prefix=tests/fuzz/crashes/$$t/ \
	        build-fuzz/corpus/$$t tests/fuzz/corpus/$$t || status=1; \
	done; exit $$status

# The units are templates: the paths in them follow PREFIX and DOCDIR.
SYSTEMD_UNITS := sqlited.service sqlited.socket
UNIT_SED = sed -e 's|@bindir@|$(PREFIX)/bin|g' -e 's|@docdir@|$(DOCDIR)|g'

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(DAEMON) $(CLI) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libsqlited.so.$(VERSION) \
	    $(DESTDIR)$(PREFIX)/lib/libsqlited.so.$(SOVERSION)
	ln -sf libsqlited.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libsqlited.so
	install -m 644 include/sqlited.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/sqlited.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -d $(DESTDIR)$(PY_SITE)/sqlited $(DESTDIR)$(PY_SITE)/$(PY_DIST)
	install -m 644 client/python/sqlited/*.py $(DESTDIR)$(PY_SITE)/sqlited/
	install -m 644 client/python/$(PY_DIST)/* $(DESTDIR)$(PY_SITE)/$(PY_DIST)/
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(SYSUSERS_DIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)
	@set -e; for f in $(SYSTEMD_UNITS); do \
	    echo "systemd/$$f.in -> $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$f"; \
	    $(UNIT_SED) systemd/$$f.in > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$f; \
	    chmod 644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$f; done
	$(UNIT_SED) systemd/http.conf.example.in > $(DESTDIR)$(DOCDIR)/http.conf.example
	chmod 644 $(DESTDIR)$(DOCDIR)/http.conf.example
	install -m 644 systemd/sqlited.sysusers $(DESTDIR)$(SYSUSERS_DIR)/sqlited.conf
	install -m 644 man/sqlited-cli.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/sqlited.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/sqlited $(DESTDIR)$(PREFIX)/bin/sqlited-cli \
	    $(DESTDIR)$(PREFIX)/lib/libsqlited.* \
	    $(DESTDIR)$(PREFIX)/include/sqlited.h \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/sqlited.pc
	rm -rf $(DESTDIR)$(PY_SITE)/sqlited $(DESTDIR)$(PY_SITE)/$(PY_DIST)
	rm -f $(patsubst %,$(DESTDIR)$(SYSTEMD_UNIT_DIR)/%,$(SYSTEMD_UNITS)) \
	    $(DESTDIR)$(SYSUSERS_DIR)/sqlited.conf \
	    $(DESTDIR)$(MANDIR)/man1/sqlited-cli.1 \
	    $(DESTDIR)$(MANDIR)/man8/sqlited.8
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-asan build-tsan build-fuzz

FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

help:
	@sed -n '2,/^$$/s/^# \{0,1\}//p' Makefile

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
