/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * select.h: the processes a host-wide session (daemon, top) selects. The
 * selectors come from the command line (--pid, --comm, --exe, --cgroup,
 * each repeatable; any match selects); the kernel applies --comm, --exe and
 * --cgroup at every exec from then on (the loader's sel_* maps), and the
 * processes already running are matched here, against the same selectors.
 */
#ifndef TIDEMARK_TRACE_SELECT_H
#define TIDEMARK_TRACE_SELECT_H

#include <sys/types.h>

#include "tidemark_common.h"

struct tm_trace;

/* At most this many of each selector. */
#define TM_MAX_SEL 16

/* The selectors as given. */
struct tm_select {
	pid_t pids[TM_MAX_SEL];
	const char *comms[TM_MAX_SEL];
	const char *exes[TM_MAX_SEL];
	const char *cgroups[TM_MAX_SEL];
	unsigned int npids, ncomms, nexes, ncgroups;
};

/* The selectors handed to the kernel, each --cgroup resolved to its hierarchy and its path there. */
struct tm_selection {
	const struct tm_select *sel;
	unsigned int flags; /* the session's sel_flags; TM_SEL_ALL: every process */
	enum tm_cg_hier cg_hier[TM_MAX_SEL];
	char *cg_rel[TM_MAX_SEL]; /* malloc()ed */
};

/*
 * Give the kernel @sel's --comm, --exe and --cgroup (the --pid processes are
 * the session's to watch). 0, or -errno after saying which selector failed
 * and why (@who: "tidemark daemon"). tm_selection__free() @s either way.
 */
int tm_selection__load(struct tm_selection *s, struct tm_trace *t, const struct tm_select *sel, unsigned int flags,
		       const char *who);

/* Does the running process @pid match? A kernel thread never does. */
int tm_selection__matches(const struct tm_selection *s, pid_t pid);

void tm_selection__free(struct tm_selection *s);

#endif /* TIDEMARK_TRACE_SELECT_H */
