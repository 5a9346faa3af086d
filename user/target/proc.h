/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * proc.h: the one reader of a live process's small /proc files (cmdline,
 * comm, statm, cgroup, ...). The parsers take the text as read, so they
 * are tested and fuzzed without a process; the readers only fetch it.
 * /proc/PID/maps has its own module (target/maps.h), which parses through
 * the same tm_proc__read().
 */
#ifndef TIDEMARK_TARGET_PROC_H
#define TIDEMARK_TARGET_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Read /proc/PID/@name (pid 0: this process) into @buf, NUL-terminated,
 * at most @len - 1 bytes: the byte count, or -errno (-ENOENT: no such
 * process). Longer files are cut at @len - 1 bytes.
 */
ssize_t tm_proc__read(pid_t pid, const char *name, char *buf, size_t len);

/*
 * Read all of /proc/PID/@name (pid 0: this process), however long, into a
 * malloc'd NUL-terminated *@buf of *@len bytes (the caller frees it):
 * 0 or -errno; -ENOENT also when the process exits while it is read.
 */
int tm_proc__read_all(pid_t pid, const char *name, char **buf, size_t *len);

/* The command line, its NUL separators turned into spaces; "" when unreadable. */
void tm_proc__cmdline(pid_t pid, char *buf, size_t len);

/* The kernel's 15-character name (comm) without the newline; "" when unreadable. */
void tm_proc__comm(pid_t pid, char *buf, size_t len);

/* The resident set size in bytes, from statm; 0 when the process is gone. */
uint64_t tm_proc__rss(pid_t pid);

/*
 * Resident anonymous memory (RssAnon) in bytes: statm's resident less its
 * shared (file and shmem pages); 0 when the process is gone.
 */
uint64_t tm_proc__rss_anon(pid_t pid);

/* The first three fields of /proc/PID/statm, in pages. */
struct tm_statm {
	uint64_t size, resident, shared;
};

/* Pure: statm's text. -EINVAL unless it starts with three numbers, shared <= resident. */
int tm_proc__parse_statm(const char *text, struct tm_statm *m);

/* Pure: @n bytes of cmdline into a string: NULs between arguments become spaces. */
void tm_proc__join_cmdline(char *buf, size_t n);

#define TM_PF_KTHREAD 0x00200000ul /* include/linux/sched.h: a kernel thread */

/*
 * A process's state letter ('R', 'S', 'Z' for a zombie, ...) and its kernel
 * flags (TM_PF_KTHREAD) from /proc/PID/stat. -ENOENT when it is gone.
 */
int tm_proc__stat(pid_t pid, char *state, unsigned long *flags);

/* The same from the text of a /proc/PID/stat (@len bytes). Pure; -EINVAL when malformed. */
int tm_proc__parse_stat(const char *text, size_t len, char *state, unsigned long *flags);

#endif
