# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tidemark: bpf/*.bpf.c -> .bpf.o -> .skel.h -> user/**/*.o -> ./tidemark
#
#   make            build ./tidemark
#   make demo       install what is missing, build, trace tests/workloads/demo
#   make test       install what is missing, build, run every test (root for the BPF ones):
#                   format-check, unit, integration, the kernel matrix (Debian 12's 6.1,
#                   then Debian 11's 5.10, under QEMU; TM_VM=0: not), each fuzzer
#                   FUZZ_TEST_SECONDS (15)
#   make unit       the unit tests (no root);  make integration  the root ones alone
#   make vm-test    one guest of the kernel matrix (tests/vm/run.sh; KERNEL=6.1 or 5.10,
#                   SUITE=file);  make vm-bench  its benchmark
#   make fuzz       each fuzzer FUZZ_SECONDS (60), or FUZZ_RUNS executions
#   make format     rewrite what strays from .clang-format;  make format-check  fail on it
#   make install    put tidemark on the PATH and tidemark.1 in the manual (PREFIX=/usr/local)
#   V=1             show commands;  SANITIZE=1  build with ASan+UBSan

OUTPUT ?= .output
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
CC ?= cc
PREFIX ?= /usr/local
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

# Debian packages the build and the tests need.
DEB_PKGS := clang llvm libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev libiberty-dev libncurses-dev pkg-config make gcc
# qemu-system-x86 busybox-static cpio: tests/vm boots Debian's 6.1 and 5.10 kernels (the 5.10
# package is checked against bullseye's signed Release with debian-archive-keyring); libcap2-bin: capsh;
# util-linux mount: test_containers.py's unshare, mount --bind and pivot_root;
# groff-base: test_help renders tidemark.1;
# libjemalloc2 ... heaptrack: test_allocators.py (each test skips, saying so, without its package);
# tmux: test_top.py drives `tidemark top` in a real terminal; zstd: test_rows reads heaptrack's .zst;
# strace binutils: test_debuginfo.py splits debug files and watches for connect(2) and dlopen.
DEB_TEST_PKGS := python3 python3-numpy golang-go chromium prometheus clang-format qemu-system-x86 \
	busybox-static cpio libcap2-bin util-linux mount groff-base libjemalloc2 libtcmalloc-minimal4 \
	libmimalloc2.0 musl-tools g++ redis-server heaptrack tmux zstd debian-archive-keyring \
	strace binutils

CFLAGS ?= -g -O2
TM_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
	-Iinclude -Iuser -I$(OUTPUT) -D_GNU_SOURCE
LDLIBS := -lbpf -lelf -ldw -lz -liberty -lncursesw -lpthread -lm
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Iinclude -Ivmlinux -I$(OUTPUT) \
	-Wall -Werror -Wno-unused-function

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
USER_SRCS := $(wildcard user/*.c user/*/*.c)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
# The pure layers: no libbpf, no root. Unit tests, fuzzers and tidemark link them as one library.
LIB_SRCS := $(wildcard user/profile/*.c user/report/*.c user/target/*.c user/util/*.c)
LIB_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(LIB_SRCS))
LIB := $(OUTPUT)/libtidemark.a
LIB_LDLIBS := -lelf -ldw -lz -liberty -lm
APP_OBJS := $(filter-out $(LIB_OBJS),$(USER_OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
WORKLOAD_SRCS := $(wildcard tests/workloads/*.c)
WORKLOADS := $(patsubst tests/workloads/%.c,$(OUTPUT)/workloads/%,$(WORKLOAD_SRCS))
BENCHES := $(OUTPUT)/bench/malloc_bench $(OUTPUT)/bench/empty_probe $(OUTPUT)/bench/forker \
	$(OUTPUT)/bench/big_malloc

.DELETE_ON_ERROR:
.PHONY: FORCE all deps test-deps demo test unit integration bench install clean fuzz format format-check \
	vm-test vm-bench

all: tidemark $(WORKLOADS)

$(OUTPUT) $(OUTPUT)/tests $(OUTPUT)/workloads $(OUTPUT)/bench:
	$(Q)mkdir -p $@

# Flags are a prerequisite of every object: changing CFLAGS or SANITIZE rebuilds
# what they affect instead of leaving objects built with the old ones.
FLAGS_NOW := $(CC) $(CFLAGS) $(TM_CFLAGS) $(LDFLAGS) | $(CLANG) $(BPF_CFLAGS)
$(OUTPUT)/FLAGS: FORCE | $(OUTPUT)
	$(Q)if [ "$$(cat $@ 2>/dev/null)" != '$(FLAGS_NOW)' ]; then echo '$(FLAGS_NOW)' > $@; fi

# The BPF object and skeleton are build products, not intermediates: keep them.
.SECONDARY: $(BPF_OBJS) $(SKELS)

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(OUTPUT)/FLAGS | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/user/%.o: user/%.c $(OUTPUT)/FLAGS
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(TM_CFLAGS) -MMD -MP -c $< -o $@

# The flame graph page, compiled in as a byte array: od and sed, so no xxd.
$(OUTPUT)/flamegraph_html.h: user/report/flamegraph.html | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q){ echo '/* generated from user/report/flamegraph.html by the Makefile: do not edit */'; \
	  echo 'static const unsigned char tm_flamegraph_html[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; \
	  echo 'static const size_t tm_flamegraph_html_len = sizeof(tm_flamegraph_html);'; } > $@

$(OUTPUT)/user/report/flamegraph.o: $(OUTPUT)/flamegraph_html.h
# Only the loader includes the skeletons (and calib.c, the empty programs').
$(OUTPUT)/user/trace/trace.o $(OUTPUT)/user/trace/calib.o: $(SKELS)

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

tidemark: $(APP_OBJS) $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $(APP_OBJS) $(LIB) $(LDLIBS) -o $@

# Unit tests link the library and nothing else, without libbpf: a test of a
# module outside it names that module here (these three need no libbpf either).
$(OUTPUT)/tests/test_sample: $(OUTPUT)/user/trace/sample.o
$(OUTPUT)/tests/test_probe_site: $(OUTPUT)/user/trace/probe_site.o
$(OUTPUT)/tests/test_http: $(OUTPUT)/user/daemon/http.o
$(OUTPUT)/tests/%: tests/unit/%.c $(LIB) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(TM_CFLAGS) -MMD -MP $< $(filter %.o,$^) $(LIB) $(LDFLAGS) $(LIB_LDLIBS) -o $@

# Synthetic profiles for the integration tests (no tracing: built with the profile API).
TEST_TOOLS := $(OUTPUT)/tests/gen_profile
$(OUTPUT)/tests/gen_profile: tests/integration/gen_profile.c $(LIB) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(TM_CFLAGS) -MMD -MP $< $(LIB) $(LDFLAGS) $(LIB_LDLIBS) -o $@

# Workloads: known allocations at noinline call sites. -O0 keeps every malloc/free.
$(OUTPUT)/workloads/%: tests/workloads/%.c | $(OUTPUT)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O0 -fno-omit-frame-pointer -fno-builtin -Wall -Werror -pthread $< -o $@

$(OUTPUT)/bench/malloc_bench: bench/malloc_bench.c | $(OUTPUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 -fno-builtin -Wall -Werror $< -o $@

# Large blocks, each an mmap and a munmap inside libc: lite mode's walk out of libc (bench/unwind.sh).
$(OUTPUT)/bench/big_malloc: bench/big_malloc.c | $(OUTPUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 -fno-builtin -Wall -Werror $< -o $@

# What following a child costs: forks (and execs) one after the other.
$(OUTPUT)/bench/forker: bench/forker.c | $(OUTPUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -Wall -Werror $< -o $@

# The floor: empty programs at tidemark's probe sites.
$(OUTPUT)/bench/empty.bpf.o: bench/empty.bpf.c | $(OUTPUT)/bench
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/bench/empty.skel.h: $(OUTPUT)/bench/empty.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name empty_bpf > $@

$(OUTPUT)/bench/empty_probe: bench/empty_probe.c $(OUTPUT)/bench/empty.skel.h $(OUTPUT)/user/trace/probe_site.o $(LIB)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(TM_CFLAGS) -I$(OUTPUT)/bench $< $(OUTPUT)/user/trace/probe_site.o $(LIB) \
		$(LDFLAGS) $(LDLIBS) -o $@

# Fuzzers (clang's libFuzzer with ASan and UBSan): the library built again
# with coverage instrumentation, and one target per parser of untrusted input.
# `make fuzz` runs each for FUZZ_SECONDS; tests/fuzz/run.sh says how.
FUZZ_OUT := $(OUTPUT)/fuzz
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB := $(FUZZ_OUT)/libtidemark.a
FUZZ_LIB_OBJS := $(patsubst user/%.c,$(FUZZ_OUT)/user/%.o,$(LIB_SRCS))
FUZZERS := $(patsubst tests/fuzz/%.c,$(FUZZ_OUT)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 15

$(FUZZ_OUT)/user/%.o: user/%.c $(OUTPUT)/FLAGS
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(TM_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_OUT)/user/report/flamegraph.o: $(OUTPUT)/flamegraph_html.h

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# The HTTP request parser lives with the daemon, outside the library.
$(FUZZ_OUT)/fuzz_http: $(FUZZ_OUT)/user/daemon/http.o
$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	$(call msg,FUZZ-LD,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(TM_CFLAGS) -MMD -MP $< $(filter %.o,$^) $(FUZZ_LIB) \
		$(LIB_LDLIBS) -o $@

fuzz: $(FUZZERS) $(OUTPUT)/workloads/gt_alloc
	$(Q)tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

# Install the Debian packages that are missing (needs root and the network to Debian).
deps:
	$(Q)missing=$$(for p in $(DEB_PKGS) $(EXTRA_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "deps: missing Debian packages:$$missing; run 'sudo apt-get install$$missing'" >&2; exit 1; fi; \
		echo "deps: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test-deps:
	$(Q)$(MAKE) --no-print-directory deps EXTRA_PKGS="$(DEB_TEST_PKGS)"

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/demo.sh

# Everything: style, unit and integration tests, then each fuzzer for a short while.
test: test-deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS) $(BENCHES) $(TEST_TOOLS) $(FUZZERS)
	$(Q)$(MAKE) --no-print-directory format-check
	$(Q)tests/run.sh $(UNIT_BINS)
	$(Q)FUZZ_SEED=1 tests/fuzz/run.sh $(FUZZ_TEST_SECONDS) $(FUZZERS)

# One guest of the kernel matrix under QEMU (tests/vm/run.sh): Debian 12's 6.1, or with
# KERNEL=5.10 Debian 11's below the floor; SUITE=file to pick tests.
vm-test: test-deps
	$(Q)$(MAKE) --no-print-directory all $(BENCHES) $(TEST_TOOLS)
	$(Q)tests/vm/run.sh $(if $(KERNEL),--kernel $(KERNEL)) $(SUITE)

vm-bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BENCHES)
	$(Q)tests/vm/run.sh tests/vm/bench.suite

unit: $(UNIT_BINS)
	$(Q)tests/run.sh --unit-only $(UNIT_BINS)

# The root tests alone: real BPF, real processes (tests/integration, the CPython walker).
integration: all $(BENCHES) $(TEST_TOOLS)
	$(Q)tests/run.sh

# The committed .clang-format is the style the code keeps: format-check fails
# when more lines stray from it than tests/format-stray allows (the count may
# only go down; FORMAT_STRICT=1 fails on any); format rewrites them all.
CLANG_FORMAT ?= clang-format

format-check:
	$(call msg,FORMAT,check)
	$(Q)CLANG_FORMAT=$(CLANG_FORMAT) tests/format-check.sh $(if $(FORMAT_STRICT),--strict)

format:
	$(Q)$(CLANG_FORMAT) -i $$(git ls-files 'user/*.[ch]' 'include/*.h' 'bpf/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]')

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BENCHES)
	$(Q)bench/run.sh
	$(Q)bench/allocators.sh

install: tidemark
	$(Q)install -D -m 0755 tidemark $(DESTDIR)$(PREFIX)/bin/tidemark
	$(Q)install -D -m 0644 tidemark.1 $(DESTDIR)$(PREFIX)/share/man/man1/tidemark.1

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf $(OUTPUT) tidemark

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/user/*.d $(OUTPUT)/user/*/*.d $(OUTPUT)/tests/*.d \
	$(FUZZ_OUT)/*.d $(FUZZ_OUT)/user/*/*.d)
