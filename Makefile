# mailstack build: the only entry points (deps, all, run, stop, test, clean).
# Every libs/<name>/*.c goes into one static library; every services/<name>/ becomes
# bin/<name>; every *_test.c becomes its own CUnit binary linked against the objects of
# its directory (minus main.c) and the library. SANITIZE=1 builds the same into
# build-san/ with ASan+UBSan.

SHELL := /bin/bash
SERVICES := smtp-edge lmtp-store imap-gateway directory-sync auth-service
PKGS := libevent libevent_openssl libevent_pthreads openssl jansson libcurl libpq gmime-3.0

ifeq ($(SANITIZE),1)
BUILD := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
BUILD := build
SANFLAGS :=
OPT := -O2
endif

CC ?= cc
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS := -std=c17 -Wall -Wextra -Werror -g $(OPT) -D_GNU_SOURCE -Ilibs $(SANFLAGS)
LDLIBS = $(PKG_LIBS) -lldap -llber -lsasl2 -lpthread
TEST_LDLIBS = $(LDLIBS) -lcunit

LIB_SRCS := $(filter-out %_test.c,$(wildcard libs/*/*.c))
LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
LIB_A := $(BUILD)/libmailstack.a
BINS := $(patsubst %,$(BUILD)/bin/%,$(SERVICES))
TEST_SRCS := $(wildcard libs/*/*_test.c services/*/*_test.c)
TEST_BINS := $(patsubst %.c,$(BUILD)/tests/%,$(TEST_SRCS))

.PHONY: all deps run stop test unit-test integration-test clean bench lint
.DEFAULT_GOAL := all

all: $(BINS) $(TEST_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# A service binary: its own objects (tests excluded) plus the library.
define service_rule
$(1)_OBJS := $$(patsubst %.c,$(BUILD)/%.o,$$(filter-out %_test.c,$$(wildcard services/$(1)/*.c)))
$(BUILD)/bin/$(1): $$($(1)_OBJS) $(LIB_A)
	@mkdir -p $$(dir $$@)
	$(CC) $(CFLAGS) -o $$@ $$^ $(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rule,$(s))))

# A unit-test binary: the test file, the objects of its directory except main.c and the
# other tests, then the library.
define test_rule
$(BUILD)/tests/$(basename $(1)): $(BUILD)/$(basename $(1)).o $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(dir $(1))main.c $(wildcard $(dir $(1))*_test.c),$(wildcard $(dir $(1))*.c))) $(LIB_A)
	@mkdir -p $$(dir $$@)
	$(CC) $(CFLAGS) -o $$@ $$(filter %.o %.a,$$^) $(TEST_LDLIBS)
endef
$(foreach t,$(TEST_SRCS),$(eval $(call test_rule,$(t))))

.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

deps:
	@bash tools/deps.sh

run: deps all
	@bash tools/stack.sh start var

stop:
	@bash tools/stack.sh stop var

unit-test: all
	@bash tools/unit-tests.sh $(BUILD)/tests

integration-test: all
	@MAILSTACK_BIN_DIR=$(CURDIR)/$(BUILD)/bin SANITIZE=$(SANITIZE) /usr/bin/python3 integration-tests/run.py

test: deps all
	@bash tools/unit-tests.sh $(BUILD)/tests && \
	MAILSTACK_BIN_DIR=$(CURDIR)/$(BUILD)/bin SANITIZE=$(SANITIZE) /usr/bin/python3 integration-tests/run.py

bench: deps all
	@bash bench/run.sh
bench-delivery: deps all ; @bash bench/run.sh --preset issue4
bench-auth: deps all ; @bash bench/auth_bench.sh
bench-mirror: deps all ; @MAILSTACK_BIN_DIR=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 bench/mirror_bench.py $(BENCH_FLAGS)

clean:
	rm -rf build build-san
