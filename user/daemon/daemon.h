/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * daemon.h: `tidemark daemon`, host-wide tracing (issue #5).
 *
 * The kernel side picks processes at exec (selection maps in BPF), counts
 * them from their first mapping, and drops each from `procs` when it exits,
 * handing its last counters to us in the exit event. Here we keep what the
 * reports need while processes live (maps snapshots, Python layouts, their
 * cgroup), write OOM post-mortems at the exit of a victim, release the
 * kernel's entries of every exited process (the `reap` program), and serve
 * metrics.
 */
#ifndef TIDEMARK_DAEMON_H
#define TIDEMARK_DAEMON_H

#include <sys/types.h>

#include "trace/select.h"
#include "trace/trace.h"

enum tm_daemon_mode {
	TM_MODE_LITE, /* syscall tracepoints and the kernel's RSS only: no uprobes */
	TM_MODE_FULL, /* plus the allocator uprobes of run/attach, per selected process */
};

struct tm_daemon_opts {
	enum tm_daemon_mode mode;
	struct tm_select sel;       /* --pid, --comm, --exe, --cgroup */
	const char *output_dir;     /* OOM post-mortems (and periodic profiles) */
	const char *listen;         /* "[HOST:]PORT" or "unix:PATH" for /metrics; NULL = no server */
	const char *token_file;     /* TCP: the bearer token per-process endpoints need */
	const char *listen_group;   /* unix: socket 0660 for this group (default 0600) */
	int metrics_cmdline;        /* /metrics labels processes with their command line (then private) */
	double duration;            /* seconds; 0 = until SIGINT/SIGTERM */
	unsigned int max_series;    /* processes with their own metric labels */
	double pprof_every;         /* seconds between periodic pprof files; 0 = none */
	unsigned int pprof_keep;    /* periodic files kept in output_dir */
	int cap_allocs, cap_stacks; /* full: --max-{allocs,stacks}-per-proc; -1 = a quarter of each table */
	struct tm_trace_opts trace;
};

/* The defaults of `tidemark daemon` with no options. */
void tm_daemon_opts__init(struct tm_daemon_opts *o);

/*
 * The daemon's policy, once the options are parsed: what no selector means,
 * what full mode adds to the trace options, which options go together.
 * 0, or -EINVAL after saying what is wrong.
 */
int tm_daemon_opts__check(struct tm_daemon_opts *o);

/* Run until stopped; returns the process exit status. */
int tm_daemon__run(const struct tm_daemon_opts *o);

#endif /* TIDEMARK_DAEMON_H */
