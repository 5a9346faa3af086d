/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kernel.h: what tidemark needs from the running kernel, checked before
 * anything is loaded, by feature probes and BTF (never the version string,
 * which only names the kernel in messages). Each failure is one line on
 * stderr that names what is missing and what to do.
 */
#ifndef TIDEMARK_KERNEL_H
#define TIDEMARK_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The oldest kernel tidemark is tested on (tests/vm boots it). */
#define TM_KERNEL_FLOOR "6.1"

/*
 * BTF, the capabilities, the bpf() system call, uprobes, and the BPF
 * features below the floor. 0, or -errno after one line naming @cmd.
 */
int tm_kernel__preflight(const char *cmd);

/*
 * Make the syscall tracepoints' perf event IDs readable: when neither
 * tracefs nor debugfs is mounted, mount tracefs at /sys/kernel/tracing.
 * 0, or -errno after one line.
 */
int tm_kernel__tracefs(void);

/*
 * oom:mark_victim passes the victim's task_struct (6.8+; before: its pid
 * only). The change that made it pass the task also added the uid to its
 * record, so the tracepoint's format file says which without parsing the
 * kernel's BTF (~0.1 s, which libbpf then spends again to load). Call after
 * tm_kernel__tracefs().
 */
int tm_kernel__oom_victim_task(void);

/*
 * uprobe_multi links (6.6; filtering by process since 6.10): many uprobes of
 * one program in one file in a link, placed and removed without the kernel's
 * tracing event lock, which every perf-event uprobe takes for a grace period
 * when it is removed (a `run` started meanwhile waited for it). 1 when this
 * kernel has them, 0 when not or TIDEMARK_UPROBE_MULTI=0; probed once.
 */
int tm_kernel__uprobe_multi(void);
/* The expected attach type the programs placed by such links are loaded with. */
int tm_kernel__uprobe_multi_type(void);
/* A link of @n uprobes (@ret: return probes) of @prog_fd in @path for @pid: its fd, or -errno. */
int tm_kernel__uprobe_multi_link(int prog_fd, const char *path, const uint64_t *offs, const uint64_t *cookies,
				 size_t n, int ret, pid_t pid);

#endif
