/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * session.h: one tracing session of `tidemark run` or `tidemark attach`:
 * load the probes, let the target run (or trace it where it is), sample its
 * timeline, and write the capture. main.c parses the options into a
 * tm_session_opts and hands over.
 */
#ifndef TIDEMARK_SESSION_H
#define TIDEMARK_SESSION_H

#include <sys/types.h>

#include "trace/trace.h"

struct tm_session_opts {
	struct tm_trace_opts trace;
	const char *output;     /* capture file; NULL = tidemark-PID.tdm */
	const char *in_cgroup;  /* run: start CMD in this cgroup directory */
	const char *output_dir; /* run: where an OOM post-mortem goes; NULL = next to the capture */
	unsigned int top;       /* sites in the summary on stderr */
	pid_t pid;              /* attach: the target */
	double duration;        /* attach: seconds; 0 = until it exits or SIGINT/SIGTERM */
	int live;               /* --live: tidemark top's view of the target while tracing */
	double live_interval;   /* --interval: its refresh in seconds; 0 = not given */
	int mode;               /* --mode: enum tm_profile_mode; -1 until given (then implied by the rest) */
	/* enum tm_report_flags of that summary (--python-only) */
	unsigned int summary_flags;
};

/* --mode sampled without --sample-bytes: one sample point per this many bytes on average. */
#define TM_SESSION_SAMPLE_BYTES 524288

/* The defaults of run and attach with no options. */
void tm_session_opts__init(struct tm_session_opts *o);

/* What the defaults depend on and which options go together: 0, or -EINVAL after saying why. */
int tm_session_opts__check(const char *cmd, struct tm_session_opts *o);

/* What tracing needs of the kernel (trace/kernel.h): 0, or -errno after saying what is missing. */
int tm_session__preflight(const char *cmd);

/*
 * run: start argv[0] (looked up on PATH) held until the probes are in place,
 * trace it until it exits, write the capture. Returns the exit status for
 * tidemark: the command's own, 127 when it cannot be found, 1 on our failure.
 */
int tm_session__run(const struct tm_session_opts *o, char **argv);

/* attach: trace o->pid until it exits, o->duration passes or SIGINT/SIGTERM. 0 or 1. */
int tm_session__attach(const struct tm_session_opts *o);

#endif
