/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pidns.h: PID namespaces. BPF sees a task's pid in the initial namespace
 * (bpf_get_current_pid_tgid), so every key tidemark uses is a host pid;
 * a process in a container also has a pid of its own there, which reports
 * show next to it (NSpid in /proc/PID/status).
 */
#ifndef TIDEMARK_PIDNS_H
#define TIDEMARK_PIDNS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * From /proc/PID/status text: the first NSpid entry (the pid in the
 * namespace of that /proc) in *outer and the last (the pid in the process's
 * own namespace) in *inner; equal when it has no namespace of its own.
 * -ENOENT when there is no NSpid line (before Linux 4.1), -EINVAL when it
 * is malformed. Pure.
 */
int tm_pidns__parse_status(const char *text, size_t len, pid_t *outer, pid_t *inner);

/* The same for a live process (its pid in its own namespace in *inner). */
int tm_pidns__of_pid(pid_t pid, pid_t *inner);

/*
 * 0 when this process is in the initial PID namespace; -EXDEV when it is
 * in another one (its pids are not the kernel's); -errno when /proc cannot
 * tell.
 */
int tm_pidns__self_is_init(void);

#endif
