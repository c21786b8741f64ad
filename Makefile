# jsmcp build. Plain GNU make, wildcard-driven so that adding a .c file to a
# module directory needs no Makefile change.
#
#   make              release-ish build in build/        (-O2 -g)
#   make SAN=1        ASan+UBSan build in build/san/    (what `make test` uses)
#   make BUILD=dir    any other build directory (parallel developers use their own)
#   make test         dependencies, sanitizer build, real PostgreSQL/Redis, all tests
#   make demo / stop  the whole local stack under run/
#   make bench        benchmarks (figures go to BENCHMARKS.md by hand)
#   make V=1          print every command in full (default: one short line a step)
#
# Layout: common/*.c -> libcommon.a; <bin-dir>/*.c -> one binary per dir
# (main.c holds main(); the other objects are also linked into that dir's
# unit tests). tests/unit/<dir>/test_*.c -> one Criterion binary each.

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build/san
OPT ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
BUILD ?= build
OPT ?= -O2 -g
endif

CC ?= cc
# Version of this tree; the git commit is added at build time (scripts/version.sh:
# "unknown" outside a git checkout, or JSMCP_COMMIT=<id> to give it).
JSMCP_VERSION := 0.2.0
JSMCP_COMMIT ?=
PKGS := libuv libpq hiredis libcurl jansson libsodium zlib
# Parsed when make starts: the targets that install the packages first (demo,
# test, bench, faults, load, fuzz) build in a sub-make that parses them again.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wno-format-nonliteral
CPPFLAGS := -Icommon -I$(LLHTTP_INC) $(PKG_CFLAGS) -MMD -MP
CFLAGS := $(CFLAGS_BASE) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS := $(OPT) $(EXTRA_LDFLAGS)
LDLIBS := $(PKG_LIBS) -lm

# One short line per step unless V=1.
V ?= 0
ifeq ($(V),1)
say =
else
say = @printf '  %-5s %s\n' '$(1)' '$(2)';
endif

BINDIRS := api worker sandbox
COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
LLHTTP_OBJ := $(BUILD)/obj/llhttp/api.o $(BUILD)/obj/llhttp/http.o $(BUILD)/obj/llhttp/llhttp.o
LIBCOMMON := $(BUILD)/libcommon.a

# Per binary-directory objects, with and without main.o
define bindir_vars
$(1)_SRC := $$(wildcard $(1)/*.c)
$(1)_OBJ := $$($(1)_SRC:%.c=$(BUILD)/obj/%.o)
$(1)_LIBOBJ := $$(filter-out $(BUILD)/obj/$(1)/main.o,$$($(1)_OBJ))
endef
$(foreach d,$(BINDIRS),$(eval $(call bindir_vars,$(d))))

# A binary exists once its directory has a main.c (parts land issue by issue).
BIN_api := jsmcp-api
BIN_worker := jsmcp-worker
BIN_sandbox := jsm-sandbox
BINS := $(foreach d,$(BINDIRS),$(if $(wildcard $(d)/main.c),$(BUILD)/$(BIN_$(d))))

UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
SUPPORT_SRC := $(wildcard tests/support/*.c)
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(INTEG_SRC))
# Fuzz targets, replayed over their saved corpus by make test (tests/run.sh):
# fuzz/fuzz_<name>.c with fuzz/replay.c as main, the objects of the binary
# dir named in fuzz/<name>.dir and what fuzz/<name>.link adds (sources and
# linker options), on this build (ASan+UBSan with SAN=1).
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
fuzz_dir = $(if $(wildcard fuzz/$(1).dir),$(strip $(file <fuzz/$(1).dir)))
fuzz_link = $(if $(wildcard fuzz/$(1).link),$(strip $(file <fuzz/$(1).link)))
fuzz_srcs = $(filter %.c,$(call fuzz_link,$(1)))
PROBE_SRC := $(wildcard tests/probes/*.c)
PROBE_BIN := $(patsubst tests/probes/%.c,$(BUILD)/tests/probes/%,$(PROBE_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all tests test demo stop bench clean deps deps-clients fuzz faults load FORCE
all: $(BINS)
tests: $(UNIT_BIN) $(INTEG_BIN) $(PROBE_BIN) $(FUZZ_REPLAY)
# Objects and generated sources stay after a build (make would delete the
# ones only pattern rules name, and rebuild them next time).
.SECONDARY:

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# llhttp is generated C from Debian's node-llhttp; compiled as is, without our warnings.
$(BUILD)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) -I$(LLHTTP_INC) $(OPT) -w -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJ) $(LLHTTP_OBJ)
	@mkdir -p $(dir $@)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

# Data files compiled into each binary (common/embed.h, scripts/embed.sh).
EMBED_api := $(sort $(wildcard migrations/*.sql)) $(wildcard api/openapi.json) $(wildcard worker/catalog.json)
EMBED_api += $(sort $(wildcard api/web/*))
EMBED_worker := $(sort $(wildcard worker/*.json))
EMBED_sandbox := $(sort $(wildcard sandbox/*.json))
# The sandbox's strict mode (sandbox/sb_strict.h) validates requests against
# Atlassian's OpenAPI documents, compacted at build time (2.9 MB -> ~0.3 MB).
OPENAPI_DOCS := vendor/atlassian-openapi/jira-platform-v3.json vendor/atlassian-openapi/jsm-servicedesk.json
EMBED_sandbox += $(BUILD)/gen/sandbox_openapi.json
$(BUILD)/gen/sandbox_openapi.json: scripts/openapi_compact.py $(OPENAPI_DOCS)
	@mkdir -p $(dir $@)
	python3 scripts/openapi_compact.py $(OPENAPI_DOCS) >$@.tmp && mv $@.tmp $@
$(foreach d,$(BINDIRS),$(eval $(d)_OBJ += $(BUILD)/obj/gen/$(d)_embed.o))
$(foreach d,$(BINDIRS),$(eval $(d)_LIBOBJ += $(BUILD)/obj/gen/$(d)_embed.o))
$(BUILD)/gen/%_embed.c: scripts/embed.sh $(MAKEFILE_LIST) $(EMBED_api) $(EMBED_worker) $(EMBED_sandbox)
	$(call say,GEN,$@)scripts/embed.sh $* $@ $(EMBED_$*)
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# Version and commit for --version (common/version.h). Checked on every run,
# rewritten only when they changed, so a new commit relinks the binaries.
VERSION_OBJ := $(BUILD)/obj/gen/version.o
$(BUILD)/gen/version.c: FORCE
	@scripts/version.sh $@ '$(JSMCP_VERSION)' '$(JSMCP_COMMIT)'
FORCE:

$(BUILD)/jsmcp-api: $(api_OBJ) $(VERSION_OBJ) $(LIBCOMMON)
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/jsmcp-worker: $(worker_OBJ) $(VERSION_OBJ) $(LIBCOMMON)
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/jsm-sandbox: $(sandbox_OBJ) $(VERSION_OBJ) $(LIBCOMMON)
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The link rules that also compile pass only sources, objects and archives:
# $^ holds the headers the -MMD files list too, and a header given to the
# compiler is compiled on its own, its dependencies overwriting the test's.
# Unit tests: tests/unit/<dir>/test_x.c links <dir>'s objects (minus main) + libcommon.
.SECONDEXPANSION:
$(BUILD)/tests/unit/%: tests/unit/%.c $$($$(firstword $$(subst /, ,$$*))_LIBOBJ) $(SUPPORT_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -Itests/support -I$(firstword $(subst /, ,$*)) $(CFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDFLAGS) $(LDLIBS) -lcriterion

$(BUILD)/tests/integration/%: tests/integration/%.c $(SUPPORT_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -Itests/support $(CFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDFLAGS) $(LDLIBS) -lcriterion

# Criterion binaries that integration tests run as subprocesses (tests/probes/).
$(BUILD)/tests/probes/%: tests/probes/%.c $(SUPPORT_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -Itests/support $(CFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDFLAGS) $(LDLIBS) -lcriterion

$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay.c $$(call fuzz_srcs,$$*) \
		$$(foreach d,$$(call fuzz_dir,$$*),$$($$(d)_LIBOBJ)) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -Ifuzz $(addprefix -I,$(call fuzz_dir,$*)) $(CFLAGS) -o $@ $(filter %.c %.o %.a,$^) \
		$(filter-out %.c,$(call fuzz_link,$*)) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDFLAGS) $(LDLIBS)
# The tests' invariant checker as a command (bench/reconcile.sh).
$(BUILD)/bench/pub_check: bench/pub_check.c $(BUILD)/obj/tests/support/tc.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -Itests/support $(CFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDFLAGS) $(LDLIBS)

# The install step of demo, test, bench, faults, fuzz and load (a test runs
# them with a stand-in: tests/node/build_deps.test.mjs).
INSTALL_DEPS ?= scripts/install-deps.sh
deps:
	@$(INSTALL_DEPS)

# The targets that install the packages first build in a sub-make: this
# make parsed the pkg-config flags before the packages existed. The sub-make
# runs one job per core unless -j was given (then it shares make's jobs);
# output is grouped per step.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SUBMAKE = $(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(JOBS) --output-sync=target)

# The real MCP clients make test connects with (tests/clients, about 580 MB
# from npm): not for make demo.
deps-clients:
	@$(INSTALL_DEPS) --clients

# make test: install what is missing, build with sanitizers, run everything
# against real PostgreSQL and Redis started in a temp dir (tests/run.sh).
test: deps deps-clients
	+$(SUBMAKE) SAN=1 all tests
	+$(SUBMAKE) all
	tests/run.sh

demo: deps
	+$(SUBMAKE) all
	scripts/demo.sh start

stop:
	scripts/demo.sh stop

bench: deps
	+$(SUBMAKE) all $(BENCH_BIN)
	bench/run.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/tests $(BUILD)/fuzz -name '*.d' 2>/dev/null)

# Fuzzing (issue 9): libFuzzer targets in fuzz/, FUZZ_SECONDS each (default
# 600). fuzz/run.sh reads pkg-config itself, after deps.
fuzz: deps
	FUZZ_OUT=$(BUILD)/fuzz fuzz/run.sh

# Fault tests at length (issue 9, tests/faults/README.md): FAULTS_SCALE x the
# quick versions in make test, on the sanitizer build.
faults: deps
	+$(SUBMAKE) SAN=1 all
	tests/faults/run.sh

# Load (issue 9): 64 clients for 60 s through two worker pools, slowloris
# alongside, zero errors (bench/load.sh), on the release build.
load: deps
	+$(SUBMAKE) all
	JSMCP_BIN_DIR=$(BUILD) bench/load.sh

# ---- Containers (issue 23): images built here from Debian packages, the
# compose stack run for real, the README on a bare Debian container. Each
# starts dockerd when no engine answers and stops it again only then.
#   make images              deploy/images.sh: base (mmdebstrap, cached by hash), jsmcp,
#                            PostgreSQL 15, Redis 7, nginx; names in build/images/images.env
#   make compose-test        deploy/compose-test.sh: docker-compose.yml + tests/compose/
#   make fresh-machine-test  deploy/fresh-machine-test.sh: `make demo` from a clone in the bare base
.PHONY: images compose-test fresh-machine-test
images:
	deploy/images.sh
compose-test: deps
	deploy/compose-test.sh
fresh-machine-test:
	deploy/fresh-machine-test.sh
