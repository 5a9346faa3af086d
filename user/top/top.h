/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * top.h: `tidemark top`, the live view (issue #16.1), and the --live view of
 * `run` and `attach`.
 *
 * The host view lists every traced process (or cgroup) by live heap, peak,
 * RSS and growth over the last minute; a process's view lists its stacks by
 * live bytes now, by bytes allocated, or by growth since the view opened.
 * On a terminal it is drawn with ncurses; otherwise the same table is
 * printed as plain text every interval, with exact byte counts.
 *
 * `tidemark top` runs a session of its own on the loader (trace/), chosen as
 * the daemon chooses: with --pid/--comm/--cgroup the selected processes get
 * the allocator probes of run/attach; with no selector every process on the
 * host is traced in lite mode (syscalls only: mmap, brk). `run --live` and
 * `attach --live` lend their session to a view of their one target.
 */
#ifndef TIDEMARK_TOP_H
#define TIDEMARK_TOP_H

#include <sys/types.h>

#include "trace/select.h"
#include "trace/trace.h"

struct tm_top_opts {
	struct tm_select sel; /* --pid (the first one is opened at start), --comm, --cgroup */
	double interval;      /* seconds between refreshes */
	int once;             /* one table after one interval, then exit */
	int plain;            /* plain text even on a terminal */
	struct tm_trace_opts trace;
};

/* The defaults of `tidemark top` with no options. */
void tm_top_opts__init(struct tm_top_opts *o);
/* What no selector means; 0, or -EINVAL after saying what is wrong. */
int tm_top_opts__check(struct tm_top_opts *o);
/* Run until q, Ctrl-C or --once; returns the exit status. */
int tm_top__run(const struct tm_top_opts *o);

/* The --live view of run and attach: their session, their one process. */
struct tm_top;
/* 0, or -errno after saying why (then the caller traces without a view). */
int tm_top__live_open(struct tm_top **out, struct tm_trace *t, pid_t pid, const char *command,
		      double interval);
/* Handle keys and redraw when due; never blocks. 1 once the user asked to leave (q), else 0. */
int tm_top__live_tick(struct tm_top *top);
void tm_top__live_close(struct tm_top *top); /* accepts NULL; the terminal as it was */

#endif /* TIDEMARK_TOP_H */
