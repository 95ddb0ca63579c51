# SPDX-License-Identifier: GPL-2.0-only
#
# One Makefile for the daemon, its tools and its tests.
#   make            build mtlsgw and the tools
#   make deps       install every Debian package the build, tests and demo need
#   make test       unit + loopback integration tests
#   make demo       the main job end to end on loopback
#   make SAN=1      ASan + UBSan build (into build-san/ unless OUTPUT= is given)
#   make SAN=thread ThreadSanitizer build (into build-tsan/): the workers' threads
#   make fuzz       libFuzzer targets (tests/fuzz/), FUZZ_SECONDS each
#   make V=1        show the commands
.DELETE_ON_ERROR:
.SUFFIXES:

ifeq ($(SAN),1)
OUTPUT ?= build-san
else ifeq ($(SAN),thread)
OUTPUT ?= build-tsan
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
LDLIBS := -lssl -lcrypto -lcyaml -lyaml -lsystemd -lbpf -lelf -lz -lcap-ng -lmnl
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
endif

CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')
# eBPF programs parse packets with the UAPI headers (no CO-RE needed), so
# one object loads on the 6.1 guests and the 6.18 host alike.
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -I/usr/include/$(shell uname -m)-linux-gnu -Ibpf
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_TMPS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.tmp.o,$(BPF_SRCS))
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(O)/%.skel.h,$(BPF_SRCS))

LIB_SRCS := $(filter-out userspace/main.c,$(wildcard userspace/*.c))
LIB_OBJS := $(patsubst %.c,$(O)/%.o,$(LIB_SRCS))
LIB := $(O)/libgw.a

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(patsubst tests/bpf/%.c,$(O)/tests/%,$(BPFT_SRCS))
VMT_SRCS := $(wildcard tests/vm/test_*.c)
VMT_BINS := $(patsubst tests/vm/%.c,$(O)/tests/%,$(VMT_SRCS))
NET_SRCS := $(wildcard tests/net/test_*.c)
NET_BINS := $(patsubst tests/net/%.c,$(O)/tests/%,$(NET_SRCS))
SOAK_BINS := $(O)/tests/test_soak
.SECONDARY: $(SOAK_BINS)
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB_OBJS := $(patsubst %.c,$(O)/%.o,$(TESTLIB_SRCS))

BINS := $(O)/mtlsgw $(O)/mtlsgwctl $(O)/mtls-load

.PHONY: all deps test unit net demo clean vm-test vm-fetch
all: $(BINS)

# Skeletons first: any object may include one.
$(O)/%.o: %.c | $(BPF_SKELS)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Static pattern rules: the generic $(O)/%.o rule must never take these.
$(BPF_TMPS): $(O)/bpf/%.tmp.o: bpf/%.bpf.c bpf/gw_abi.h
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CLANG   $<")
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OBJS): $(O)/bpf/%.bpf.o: $(O)/bpf/%.tmp.o
	$(if $(Q),@echo "  GEN-OBJ $@")
	$(Q)$(BPFTOOL) gen object $@ $<

$(BPF_SKELS): $(O)/%.skel.h: $(O)/bpf/%.bpf.o
	$(if $(Q),@echo "  GEN-SKEL $@")
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(LIB): $(LIB_OBJS)
	$(if $(Q),@echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/mtlsgw: $(O)/userspace/main.o $(LIB)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/mtlsgwctl: $(O)/tools/mtlsgwctl.o
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ -o $@

# The load generator (tools/mtls-load.c): OpenSSL only.
$(O)/mtls-load: $(O)/tools/mtls-load.o
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ -lssl -lcrypto -o $@

$(O)/tests/%: $(O)/tests/unit/%.o $(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/tests/%: $(O)/tests/bpf/%.o $(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/tests/%: $(O)/tests/vm/%.o $(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/tests/%: $(O)/tests/net/%.o $(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/tests/%: $(O)/tests/soak/%.o $(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Packages: build (compiler, OpenSSL, libcyaml), tests and demo (openssl CLI,
# iproute2, socat, haproxy and ipvsadm as third-party peers: a backend,
# balancers in front; prometheus scraping the metrics over mTLS),
# debootstrap for the systemd guest and test-trixie, strace for
# make syscall-survey, later issues (libbpf, bpftool, clang, libmnl, qemu, busybox),
# libFuzzer and clang's sanitizer runtimes for "make fuzz" (libclang-rt-dev:
# only a Recommends of clang, which --no-install-recommends leaves out).
DEB_PKGS := build-essential pkg-config clang llvm libssl-dev openssl \
	    libcyaml-dev libyaml-dev libbpf-dev libelf-dev zlib1g-dev bpftool libmnl-dev \
	    libsystemd-dev libcap-ng-dev iproute2 python3 python3-prometheus-client procps \
	    qemu-system-x86 busybox-static kmod xz-utils zstd cpio debian-archive-keyring \
	    libclang-rt-dev socat haproxy ipvsadm prometheus debootstrap strace
deps:
	$(Q)tools/install-deps $(DEB_PKGS)

PKI := $(O)/pki

$(PKI)/.done: tools/mkpki
	$(if $(Q),@echo "  PKI     $(PKI)")
	$(Q)tools/mkpki $(PKI) >/dev/null
	$(Q)touch $@

unit: $(UNIT_BINS) $(BPFT_BINS)
	$(Q)tests/run $(UNIT_BINS) $(BPFT_BINS)

net: $(BINS) $(NET_BINS) $(PKI)/.done
	$(Q)MTLSGW=$(O)/mtlsgw MTLSGWCTL=$(O)/mtlsgwctl MTLS_LOAD=$(O)/mtls-load PKI=$(PKI) tests/run $(NET_BINS)

# The kTLS tests run inside QEMU, once per kernel of the matrix: each
# (binary, kernel) pair is a small wrapper tests/run can execute.
VM_KERNELS := bookworm trixie sid
# In the guests too: the datapath tests (splice where the kernel has kTLS),
# the policy tests, with datapath: auto, and two workers on the splice tier.
VM_NET_BINS := $(O)/tests/test_forwarding $(O)/tests/test_gateway $(O)/tests/test_workers
VM_BINS := $(VMT_BINS) $(VM_NET_BINS)
# And the datapath tests once more on the userspace tier, which a kTLS
# kernel runs for "datapath: userspace" (GWT_DATAPATH), 16 MiB each way
# there (64 MiB on the host): NAME+userspace@KERNEL.
VM_TIER_WRAPPERS := $(foreach k,$(VM_KERNELS),$(O)/vm/tests/test_forwarding+userspace@$(k))
# The fleet test's IPVS variant needs ip_vs, which the host kernel lacks:
# in one guest (the balancer is what it tests, not the kernel), with
# ipvsadm and iproute2's ip shipped into it.
VM_IPVS_WRAPPERS := $(O)/vm/tests/test_fleet+ipvs@trixie
# Routes by server name on the splice tier: the handshake moves to the
# route's context, then the kernel takes the session (one kernel).
VM_ROUTES_WRAPPERS := $(O)/vm/tests/test_routes@trixie
VM_WRAPPERS := $(foreach k,$(VM_KERNELS),$(patsubst $(O)/tests/%,$(O)/vm/tests/%@$(k),$(VM_BINS))) \
	       $(VM_TIER_WRAPPERS) $(VM_IPVS_WRAPPERS) $(VM_ROUTES_WRAPPERS)

# NAME+FLAVOUR@KERNEL: FLAVOUR's environment and arguments for run-test.
vm_env_userspace := GWT_DATAPATH=userspace GWT_BULK_MIB=$${GWT_BULK_MIB:-16} 
vm_env_ipvs := VM_MODULES='veth ip_vs ip_vs_rr' VM_FILES='/usr/sbin/ipvsadm /usr/sbin/ip' 
vm_args_ipvs := -r 'fl.ipvs.*'
vm_name = $(firstword $(subst @, ,$(1)))
vm_flavour = $(word 2,$(subst +, ,$(call vm_name,$(1))))
$(O)/vm/tests/%: $(VM_BINS) $(O)/tests/test_fleet $(O)/tests/test_routes
	@mkdir -p $(@D)
	$(Q)printf '#!/bin/sh\n%sexec %s/vm-images/run-test %s %s %s\n' \
		"$(vm_env_$(call vm_flavour,$*))" \
		"$(CURDIR)" "$(lastword $(subst @, ,$*))" \
		"$(O)/tests/$(firstword $(subst +, ,$(call vm_name,$*)))" \
		"$(vm_args_$(call vm_flavour,$*))" > $@
	$(Q)chmod +x $@

vm-fetch:
	$(Q)vm-images/fetch-kernels $(VM_KERNELS) >/dev/null 2>&1 || \
		echo "# vm: some kernels could not be fetched; their tests will be skipped"

# Guests run VM_JOBS at a time (one TCG thread each): one per core.
VM_JOBS ?= $(shell nproc)

vm-test: $(BINS) $(VM_BINS) $(VM_WRAPPERS) $(PKI)/.done vm-fetch
	$(Q)PKI=$(PKI) MTLSGW=$(O)/mtlsgw tests/run --parallel $(VM_JOBS) $(VM_WRAPPERS)

# The QEMU matrix is part of "make test"; the sanitizer build (SAN=1, run
# by CI after the plain one) covers the unit and loopback tests only:
# ASan under TCG would multiply the matrix's time for no new coverage of
# kernel behaviour. TEST_VM=0/1 overrides.
TEST_VM ?= $(if $(filter 1 thread,$(SAN)),0,1)
# The unit under systemd in a Debian 12 guest (tests/vm/test_systemd_unit).
TEST_VM_WRAPPERS := $(if $(filter 1,$(TEST_VM)),$(VM_WRAPPERS) tests/vm/test_systemd_unit)

test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS) $(BPFT_BINS) $(NET_BINS) $(VM_BINS) \
		$(TEST_VM_WRAPPERS) $(PKI)/.done $(if $(TEST_VM_WRAPPERS),vm-fetch)
	$(if $(TEST_VM_WRAPPERS),,@echo "# TEST_VM=0: the QEMU kTLS matrix is not run in this build")
	$(Q)MTLSGW=$(O)/mtlsgw MTLSGWCTL=$(O)/mtlsgwctl MTLS_LOAD=$(O)/mtls-load PKI=$(PKI) \
		GW_OBJDIR=$(O)/userspace tests/run tests/check-layout tests/check-reasons \
		$(UNIT_BINS) $(BPFT_BINS) $(NET_BINS) \
		$(if $(TEST_VM_WRAPPERS),--parallel $(VM_JOBS) $(TEST_VM_WRAPPERS))

# Which system calls the daemon makes over the net tests (strace), checked
# against kmod-config/mtlsgw.service's SystemCallFilter; not in CI.
.PHONY: syscall-survey
syscall-survey: deps
	$(Q)$(MAKE) --no-print-directory all $(NET_BINS) $(PKI)/.done
	$(Q)O=$(O) tools/syscall-survey

# userspace/'s module graph has no cycle, and more (tests/check-layout;
# "tests/check-layout --graph" prints its layers). Part of "make test".
.PHONY: check-layout
check-layout: $(LIB_OBJS) $(O)/userspace/main.o
	$(Q)GW_OBJDIR=$(O)/userspace tests/check-layout

# The soak (tests/soak/test_soak.c; not in CI): SOAK_SECONDS (1800) of good,
# bad and slow clients with a reload every 10 s; flat descriptors, memory
# and CPU, no wrong decision, a valid audit log.
.PHONY: soak
soak: deps
	$(Q)$(MAKE) --no-print-directory all $(SOAK_BINS) $(PKI)/.done
	$(Q)MTLSGW=$(O)/mtlsgw MTLSGWCTL=$(O)/mtlsgwctl PKI=$(PKI) SOAK_SECONDS=$(or $(SOAK_SECONDS),1800) \
		tests/run $(SOAK_BINS)

# Every reason token the code can put in an audit line is documented in
# docs/audit-log.md (tests/check-reasons). Part of "make test".
# The host tests in a Debian 13 root (tools/test-trixie): not part of
# "make test"; the first run debootstraps the root into build/trixie-root.
.PHONY: test-trixie
test-trixie:
	$(Q)tools/test-trixie

.PHONY: check-reasons
check-reasons:
	$(Q)tests/check-reasons

# Fuzzing (tests/fuzz/): every tests/fuzz/NAME.c is one libFuzzer target
# with its seeds in tests/fuzz/corpus/NAME/, built with clang into
# $(O)/fuzz/ (objects of its own, ASan + UBSan + coverage), apart from the
# normal build. "make fuzz" runs each for FUZZ_SECONDS (FUZZ_JOBS at a
# time) and fails if one crashes; what they find and the corpus they grow
# stay under $(O)/fuzz/. Not part of "make test"; CI runs it after.
FUZZ_O := $(O)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_O)/%,$(FUZZ_SRCS))
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_O)/%.o,$(LIB_SRCS))
FUZZ_TOBJS := $(patsubst %.c,$(FUZZ_O)/%.o,$(FUZZ_SRCS))
FUZZ_LIB := $(FUZZ_O)/libgw.a
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	    -fno-omit-frame-pointer
FUZZ_CFLAGS := $(filter-out -fsanitize=%,$(CFLAGS)) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
# The config target keeps the loader's open() inside its scratch directory.
$(FUZZ_O)/config: FUZZ_LDFLAGS := -Wl,--wrap=open

$(FUZZ_LIB_OBJS) $(FUZZ_TOBJS): $(FUZZ_O)/%.o: %.c | $(BPF_SKELS)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  FUZZCC  $<")
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	$(if $(Q),@echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BINS): $(FUZZ_O)/%: $(FUZZ_O)/tests/fuzz/%.o $(FUZZ_LIB)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CLANG) $(FUZZ_SAN) -fsanitize=fuzzer $(FUZZ_LDFLAGS) $^ $(LDLIBS) -o $@

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run $(FUZZ_O) $(FUZZ_BINS)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)MTLSGW=$(O)/mtlsgw tools/demo

# "make build/tests/test_x" works too (the real targets are absolute paths).
ifneq ($(OUTPUT),$(O))
$(OUTPUT)/tests/%: $(O)/tests/% ;
$(OUTPUT)/%: $(O)/% ;
endif

clean:
	rm -rf build build-san

# Only the compiler's dependency files: build/vm and build/trixie-root hold
# Debian roots whose /etc has directories named *.d (rc2.d, sysctl.d).
-include $(shell find $(O) \( -path $(O)/vm -o -path $(O)/trixie-root \) -prune -o \
	     -name '*.d' -type f -print 2>/dev/null)

# QEMU test images (vm-images/): Debian cloud kernels (bookworm 6.1, trixie
# 6.12, sid) under build/vm, a busybox initramfs, and a kTLS self-check on each.
.PHONY: vm-kernels vm-selftest
vm-kernels:
	$(Q)vm-images/fetch-kernels

vm-selftest:
	$(Q)CC="$(CC)" vm-images/selftest

# Stage 1 benchmark (tests/bench/bench-stage1, root): XDP drops/s against
# userspace rejects/s from a denied source. Not part of "make test".
.PHONY: bench-stage1
bench-stage1: all $(PKI)/.done
	$(Q)CC="$(CC)" CFLAGS="$(CFLAGS)" O="$(O)" tests/bench/bench-stage1

# Comparison benchmark (tests/bench/bench, root): mtlsgw's userspace datapath
# against HAProxy and nginx stream on loopback, with ratios; QUICK=1 for a
# smoke run. Its packages are for benchmarks only ("make deps" leaves them).
BENCH_PKGS := haproxy nginx libnginx-mod-stream socat python3-cryptography
.PHONY: bench deps-bench
deps-bench:
	$(Q)tools/install-deps $(BENCH_PKGS)

bench: deps-bench all $(PKI)/.done
	$(Q)O="$(O)" tests/bench/bench

# Resumption only: mtlsgw's local cache and shared ticket keys against the
# peers' tickets (tests/bench/bench ONLY=resume).
.PHONY: bench-resume
bench-resume: deps-bench all $(PKI)/.done
	$(Q)O="$(O)" ONLY=resume tests/bench/bench

# What routes[] and limits.per_identity cost a full handshake: mtlsgw
# against itself (1 route / 100 routes, limits off / on), with mtls-load
# and Python's ssl over many client certificates (tests/bench/bench-routes).
.PHONY: bench-routes
bench-routes: deps-bench all $(O)/route-cost $(PKI)/.done
	$(Q)O="$(O)" tests/bench/bench-routes
	$(Q)$(O)/route-cost

$(O)/route-cost: tests/bench/route-cost.c $(LIB)
	$(if $(Q),@echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -Iuserspace -I$(O) $(LDFLAGS) $< $(LIB) -o $@ $(LDLIBS)

# A never-seen leaf's parse with and without the direct EC key import
# (userspace/spkidec.h); tests/bench/bench runs it on its new leaves.
$(O)/spki-cost: tests/bench/spki-cost.c $(LIB)
	$(if $(Q),@echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -Iuserspace -I$(O) $(LDFLAGS) $< $(LIB) -o $@ $(LDLIBS)

# The same three gateways re-encrypting: mutual TLS to the backend too.
.PHONY: bench-reencrypt
bench-reencrypt: deps-bench all $(PKI)/.done
	$(Q)O="$(O)" tests/bench/bench --reencrypt

# How full mutual-TLS handshakes scale over 2 cores with OpenSSL 3.0 when
# threads share its state, have their own library context, or are
# processes (tests/bench/hs-scale.c): the measurement behind the workers.
.PHONY: bench-threads
$(O)/hs-scale: tests/bench/hs-scale.c
	$(if $(Q),@echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@ -lssl -lcrypto
bench-threads: $(O)/hs-scale $(PKI)/.done
	$(Q)$(O)/hs-scale -p $(PKI) -a -r 3 -d 4

# Structural figures per datapath tier inside a QEMU guest with kTLS
# (tests/bench/vm-bench, root): payload bytes through userspace, syscalls
# and splice calls per MiB, kTLS, for mtlsgw splice and userspace against
# HAProxy and nginx stream. KERNEL=bookworm|trixie|sid (default sid), UP,
# DOWN, CONNS, TIERS. The guest runs the host's binaries: the peers and
# strace are installed here. Not part of "make test".
BENCH_PKGS += strace
.PHONY: vm-bench-structure vm-bench
vm-bench-structure: deps-bench all $(PKI)/.done
	$(Q)O="$(O)" tests/bench/vm-bench

# Userspace memory per established connection in the same guest
# (tests/bench/vm-bench, mem tiers: idle connections, the RSS slope):
# mtlsgw splice with kTLS on the client leg and on both legs, distinct
# callers and one caller, against HAProxy and nginx re-encrypting.
# MEM_CONNS1, MEM_CONNS2 (default 600 and 1000).
VM_MEM_TIERS := mem-mtlsgw-splice-mtls mem1-mtlsgw-splice-mtls mem-mtlsgw-splice \
	mem-haproxy-mtls mem-nginx-mtls
.PHONY: vm-bench-memory
vm-bench-memory: deps-bench all $(PKI)/.done
	$(Q)O="$(O)" TIERS="$(VM_MEM_TIERS)" tests/bench/vm-bench

vm-bench: vm-bench-structure vm-bench-memory
