// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* kernel.c: the kernel's side of the preflight (kernel.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "trace/kernel.h"
#include "util/log.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define TM_TRACEFS         "/sys/kernel/tracing"
#define TM_DEBUGFS_TRACING "/sys/kernel/debug/tracing"
#define TM_MMAP_EVENT      "/events/syscalls/sys_enter_mmap/id"

static const char *release(void)
{
	static struct utsname u;

	if (!u.release[0] && uname(&u))
		return "(unknown)";
	return u.release;
}

/* The effective capability set (both 32-bit words). */
static int effective_caps(__u64 *caps)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (syscall(SYS_capget, &h, d))
		return -errno;
	*caps = (__u64)d[1].effective << 32 | d[0].effective;
	return 0;
}

/*
 * CAP_SYS_ADMIN, which on 5.8+ also grants what CAP_BPF and CAP_PERFMON do.
 * Those two alone load the programs, but a uprobe perf event bound to
 * another process is refused (EACCES, measured on 6.18), and mounting
 * tracefs needs CAP_SYS_ADMIN too.
 */
static int check_caps(const char *cmd)
{
	static const struct {
		int cap;
		const char *name;
	} need[] = {
		{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },
		{ CAP_BPF, "CAP_BPF" },
		{ CAP_PERFMON, "CAP_PERFMON" },
	};
	char miss[64] = "";
	size_t i, n = 0;
	__u64 caps = 0;

	if (effective_caps(&caps))
		return 0; /* cannot tell: let the kernel say no */
	if (caps & (1ULL << CAP_SYS_ADMIN))
		return 0;
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!(caps & (1ULL << need[i].cap)))
			n += snprintf(miss + n, sizeof(miss) - n, "%s%s", n ? ", " : "", need[i].name);
	pr_warn("tidemark %s: needs CAP_SYS_ADMIN (CAP_BPF and CAP_PERFMON cannot probe another process), "
		"missing %s: run as root (sudo tidemark %s ...) or grant it to the container\n",
		cmd, miss, cmd);
	return -EPERM;
}

/* Whether bpf() exists and we may call it: an empty BPF_PROG_LOAD is refused with EINVAL. */
static int check_bpf_syscall(const char *cmd)
{
	union bpf_attr attr;
	int err;

	memset(&attr, 0, sizeof(attr));
	if (syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)) >= 0)
		return 0; /* cannot happen */
	err = errno;
	if (err == ENOSYS) {
		pr_warn("tidemark %s: Linux %s has no bpf() system call (CONFIG_BPF_SYSCALL is off, or a "
			"seccomp filter hides it): use a kernel built with it, or allow bpf() in the container\n",
			cmd, release());
		return -ENOSYS;
	}
	if (err == EPERM) {
		pr_warn("tidemark %s: the bpf() system call is refused (a seccomp profile such as Docker's "
			"default, or kernel lockdown): run the container with a profile that allows bpf(), "
			"e.g. --privileged\n",
			cmd);
		return -EPERM;
	}
	return 0;
}

struct tm_feature {
	const char *what;
	const char *since; /* the kernel that added it */
	int helper;        /* BPF_FUNC_*, or 0 */
	int map_type;      /* BPF_MAP_TYPE_*, or 0 */
	int prog_type;     /* BPF_PROG_TYPE_*, or 0 (with helper: the program type asked) */
};

/*
 * What tidemark's BPF object cannot load without, oldest last. Each is
 * probed; the floor (6.1) is the oldest kernel where all of these and the
 * verifier's handling of the object are tested.
 */
static const struct tm_feature features[] = {
	{ "bpf_loop()", "5.17", BPF_FUNC_loop, 0, BPF_PROG_TYPE_KPROBE },
	{ "bpf_task_pt_regs()", "5.15", BPF_FUNC_task_pt_regs, 0, BPF_PROG_TYPE_KPROBE },
	{ "BPF_PROG_TYPE_SYSCALL", "5.14", 0, 0, BPF_PROG_TYPE_SYSCALL },
	{ "bpf_for_each_map_elem()", "5.13", BPF_FUNC_for_each_map_elem, 0, BPF_PROG_TYPE_KPROBE },
	{ "task local storage", "5.11", 0, BPF_MAP_TYPE_TASK_STORAGE, 0 },
	{ "bpf_get_current_task_btf()", "5.11", BPF_FUNC_get_current_task_btf, 0, BPF_PROG_TYPE_KPROBE },
	{ "the BPF ring buffer", "5.8", 0, BPF_MAP_TYPE_RINGBUF, 0 },
};

static int check_features(const char *cmd)
{
	char miss[256] = "";
	size_t i, n = 0;
	int ok;

	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		const struct tm_feature *f = &features[i];

		if (f->helper)
			ok = libbpf_probe_bpf_helper(f->prog_type, f->helper, NULL);
		else if (f->map_type)
			ok = libbpf_probe_bpf_map_type(f->map_type, NULL);
		else
			ok = libbpf_probe_bpf_prog_type(f->prog_type, NULL);
		if (ok < 0)
			pr_debug("tidemark: probing %s failed: %s\n", f->what, strerror(-ok));
		pr_debug("tidemark: kernel feature %s (%s): %s\n", f->what, f->since, ok > 0 ? "present" : "missing");
		if (ok > 0)
			continue;
		n += snprintf(miss + n, n < sizeof(miss) ? sizeof(miss) - n : 0, "%s%s (%s)", n ? ", " : "",
			      f->what, f->since);
		if (n >= sizeof(miss))
			n = sizeof(miss) - 1;
	}
	if (!miss[0]) {
		pr_debug("tidemark: Linux %s has every BPF feature tidemark needs\n", release());
		return 0;
	}
	pr_warn("tidemark %s: Linux %s is below tidemark's floor (%s): it lacks %s; use Linux %s or later\n",
		cmd, release(), TM_KERNEL_FLOOR, miss, TM_KERNEL_FLOOR);
	return -ENOTSUP;
}

static int preflight(const char *cmd)
{
	struct btf *btf;
	int err;

	/*
	 * /sys/kernel/btf/vmlinux is what libbpf reads first. Only without it is
	 * libbpf's whole search (the vmlinux files distributions ship) worth a
	 * parse of several MB.
	 */
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		btf = btf__load_vmlinux_btf();
		if (!btf) {
			pr_warn("tidemark %s: Linux %s exposes no BTF (/sys/kernel/btf/vmlinux): use a kernel "
				"built with CONFIG_DEBUG_INFO_BTF=y (Debian, Ubuntu, Fedora and RHEL ship one)\n",
				cmd, release());
			return -ENOTSUP;
		}
		btf__free(btf);
	}
	err = check_caps(cmd);
	if (!err)
		err = check_bpf_syscall(cmd);
	if (err)
		return err;
	/* Allocator probes are uprobes through the perf "uprobe" PMU (libbpf's first choice). */
	if (access("/sys/bus/event_source/devices/uprobe/type", R_OK)) {
		pr_warn("tidemark %s: Linux %s has no uprobes (no /sys/bus/event_source/devices/uprobe): use a "
			"kernel built with CONFIG_UPROBE_EVENTS=y\n",
			cmd, release());
		return -ENOTSUP;
	}
	return check_features(cmd);
}

/* libbpf's own messages would make a second line: these probes say it in one. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

int tm_kernel__preflight(const char *cmd)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet);
	int err = preflight(cmd);

	libbpf_set_print(old);
	return err;
}

int tm_kernel__tracefs(void)
{
	int err;

	/* libbpf reads the IDs under debugfs when it is mounted, else under tracefs. */
	if (!access(TM_DEBUGFS_TRACING TM_MMAP_EVENT, R_OK) || !access(TM_TRACEFS TM_MMAP_EVENT, R_OK))
		return 0;
	if (!access(TM_DEBUGFS_TRACING, F_OK) || !access(TM_TRACEFS "/events", F_OK)) {
		pr_warn("tidemark: Linux %s has no syscall tracepoints (no syscalls/sys_enter_mmap): use a "
			"kernel built with CONFIG_FTRACE_SYSCALLS=y\n",
			release());
		return -ENOTSUP;
	}
	/*
	 * Not mounted (a fresh host, a container): mount it where systemd
	 * would have, for good. A mount of our own namespace only would need
	 * unshare() before any thread, and would change what `run`'s child sees.
	 */
	if (mount("tracefs", TM_TRACEFS, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		err = -errno;
		pr_warn("tidemark: tracefs is not mounted and mounting it at " TM_TRACEFS " failed (%s): "
			"mount it with 'mount -t tracefs tracefs " TM_TRACEFS "'\n",
			strerror(-err));
		return err;
	}
	pr_info("tidemark: mounted tracefs at " TM_TRACEFS " (it was not mounted)\n");
	if (access(TM_TRACEFS TM_MMAP_EVENT, R_OK)) {
		pr_warn("tidemark: Linux %s has no syscall tracepoints (no syscalls/sys_enter_mmap): use a "
			"kernel built with CONFIG_FTRACE_SYSCALLS=y\n",
			release());
		return -ENOTSUP;
	}
	return 0;
}

int tm_kernel__oom_victim_task(void)
{
	static const char *const formats[] = {
		TM_DEBUGFS_TRACING "/events/oom/mark_victim/format",
		TM_TRACEFS "/events/oom/mark_victim/format",
	};
	char buf[4096];
	size_t i, n;
	FILE *f;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		f = fopen(formats[i], "re");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		return strstr(buf, "field:uid_t uid;") != NULL;
	}
	return 0;
}

/*
 * BPF_LINK_CREATE's attributes for a uprobe_multi link, as linux/bpf.h of
 * 6.10 lays them out (the headers tidemark builds with may be 6.1's).
 */
#define TM_TRACE_UPROBE_MULTI    48
#define TM_F_UPROBE_MULTI_RETURN 1u
struct tm_umulti_attr {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__aligned_u64 path;
	__aligned_u64 offsets;
	__aligned_u64 ref_ctr_offsets;
	__aligned_u64 cookies;
	__u32 cnt;
	__u32 uflags;
	__u32 pid;
};

static int umulti_link(int prog_fd, const char *path, const uint64_t *offs, const uint64_t *cookies, __u32 n,
		       __u32 uflags, __u32 pid)
{
	struct tm_umulti_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = (__u32)prog_fd;
	a.attach_type = TM_TRACE_UPROBE_MULTI;
	a.path = (__u64)(uintptr_t)path;
	a.offsets = (__u64)(uintptr_t)offs;
	a.cookies = (__u64)(uintptr_t)cookies;
	a.cnt = n;
	a.uflags = uflags;
	a.pid = pid;
	fd = (int)syscall(SYS_bpf, BPF_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

int tm_kernel__uprobe_multi_link(int prog_fd, const char *path, const uint64_t *offs, const uint64_t *cookies,
				 size_t n, int ret, pid_t pid)
{
	return umulti_link(prog_fd, path, offs, cookies, (__u32)n, ret ? TM_F_UPROBE_MULTI_RETURN : 0, (__u32)pid);
}

int tm_kernel__uprobe_multi_type(void)
{
	return TM_TRACE_UPROBE_MULTI;
}

/*
 * Probed once: a program of that attach type loads, and a link on "/" (not
 * a regular file) fails on the path, EBADF, where a kernel without the type
 * fails on the attach type or the attributes' size. The first kernels with
 * it (6.6-6.9) filtered by thread, not process: only the fix also refuses a
 * negative pid, before it looks at the path (EINVAL, not EBADF).
 */
int tm_kernel__uprobe_multi(void)
{
	static int known = -1;
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = TM_TRACE_UPROBE_MULTI);
	const char *env = getenv("TIDEMARK_UPROBE_MULTI");
	libbpf_print_fn_t old;
	uint64_t off = 0;
	int prog, err;

	if (known >= 0)
		return known;
	known = 0;
	if (env && !strcmp(env, "0")) {
		pr_debug("tidemark: TIDEMARK_UPROBE_MULTI=0: one perf event per uprobe\n");
		return 0;
	}
	old = libbpf_set_print(quiet);
	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, 2, &lo);
	libbpf_set_print(old);
	if (prog < 0) {
		pr_debug("tidemark: Linux %s has no uprobe_multi links: one perf event per uprobe\n", release());
		return 0;
	}
	err = umulti_link(prog, "/", &off, NULL, 1, 0, 0);
	if (err == -EBADF) {
		err = umulti_link(prog, "/", &off, NULL, 1, 0, (__u32)-1);
		known = err == -EINVAL;
		if (!known)
			pr_debug("tidemark: Linux %s's uprobe_multi links filter by thread, not process (before "
				 "6.10): one perf event per uprobe\n",
				 release());
	} else {
		if (err >= 0)
			close(err);
		pr_debug("tidemark: Linux %s has no uprobe_multi links (%s): one perf event per uprobe\n", release(),
			 strerror(err < 0 ? -err : EEXIST));
	}
	close(prog);
	if (known)
		pr_debug("tidemark: uprobes are placed in uprobe_multi links (Linux %s)\n", release());
	return known;
}
