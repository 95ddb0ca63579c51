# SPDX-License-Identifier: GPL-2.0-only
#
# One Makefile for the daemon, its tools and its tests.
#   make            build mtlsgw and the tools
#   make deps       install every Debian package the build, tests and demo need
#   make test       unit + loopback integration tests
#   make demo       the main job end to end on loopback
#   make SAN=1      ASan + UBSan build (into build-san/ unless OUTPUT= is given)
#   make V=1        show the commands
.DELETE_ON_ERROR:
.SUFFIXES:

ifeq ($(SAN),1)
OUTPUT ?= build-san
else
OUTPUT ?= build
endif
O := $(abspath $(OUTPUT))

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif

Q := @
ifeq ($(V),1)
Q :=
endif

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	  -Wno-missing-field-initializers -fno-strict-aliasing \
	  -D_GNU_SOURCE -Iuserspace -Itests -I$(O)
LDLIBS := -lssl -lcrypto -lcyaml -lyaml -lsystemd
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRCS := $(filter-out userspace/main.c,$(wildcard userspace/*.c))
LIB_OBJS := $(patsubst %.c,$(O)/%.o,$(LIB_SRCS))
LIB := $(O)/libgw.a

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
NET_SRCS := $(wildcard tests/net/test_*.c)
NET_BINS := $(patsubst tests/net/%.c,$(O)/tests/%,$(NET_SRCS))
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB_OBJS := $(patsubst %.c,$(O)/%.o,$(TESTLIB_SRCS))

BINS := $(O)/mtlsgw

.PHONY: all deps test unit net demo clean check-deps
all: $(BINS)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(if $(Q),@echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/mtlsgw: $(O)/userspace/main.o $(LIB)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/tests/%: $(O)/tests/unit/%.o $(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/tests/%: $(O)/tests/net/%.o $(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Packages: build (compiler, OpenSSL, libcyaml), tests and demo (openssl CLI,
# iproute2), later issues (libbpf, bpftool, clang, libmnl, qemu, busybox).
DEB_PKGS := build-essential pkg-config clang llvm libssl-dev openssl \
	    libcyaml-dev libyaml-dev libbpf-dev bpftool libmnl-dev \
	    libsystemd-dev iproute2 python3 procps
deps:
	$(Q)tools/install-deps $(DEB_PKGS)

PKI := $(O)/pki

$(PKI)/.done: tools/mkpki
	$(if $(Q),@echo "  PKI     $(PKI)")
	$(Q)tools/mkpki $(PKI) >/dev/null
	$(Q)touch $@

unit: $(UNIT_BINS)
	$(Q)tests/run $(UNIT_BINS)

net: $(BINS) $(NET_BINS) $(PKI)/.done
	$(Q)MTLSGW=$(O)/mtlsgw PKI=$(PKI) tests/run $(NET_BINS)

test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS) $(NET_BINS) $(PKI)/.done
	$(Q)MTLSGW=$(O)/mtlsgw PKI=$(PKI) tests/run $(UNIT_BINS) $(NET_BINS)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)MTLSGW=$(O)/mtlsgw tools/demo

clean:
	rm -rf build build-san

-include $(shell find $(O) -name '*.d' 2>/dev/null)
