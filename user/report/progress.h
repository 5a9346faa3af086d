/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * progress.h: the one status line `run` and `attach` keep on a terminal
 * while they trace: elapsed time, allocations per second, the live heap
 * and the peak so far, and what was not recorded. Redrawn in place
 * (carriage return, erase to the end of the line) at most every
 * TM_PROGRESS_INTERVAL_NS, and wiped before anything else is said. Off
 * when stderr is not a terminal: a pipe or a file gets nothing.
 */
#ifndef TIDEMARK_PROGRESS_H
#define TIDEMARK_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tidemark_common.h"

#define TM_PROGRESS_INTERVAL_NS 500000000ull

struct tm_progress {
	FILE *out;            /* NULL: off */
	uint64_t start_ns;    /* tracing began */
	uint64_t last_ns;     /* the last line drawn */
	uint64_t last_allocs; /* allocations counted then */
	int shown;            /* a line is on the terminal */
};

/* On if @out is a terminal (and @enable); times counted from @start_ns. */
void tm_progress__init(struct tm_progress *pg, FILE *out, int enable, uint64_t start_ns);

/*
 * The line, pure: "tidemark: 12.4 s | 45,210 allocs/s | live 10.8 MiB |
 * peak 12.0 MiB | not recorded 0".
 */
void tm_progress__format(char *buf, size_t len, uint64_t elapsed_ns, uint64_t allocs_per_s, int64_t live,
			 uint64_t peak, uint64_t dropped);

/* Allocations and drops the kernel counted for @p. */
uint64_t tm_progress__allocs(const struct tm_proc *p);
uint64_t tm_progress__dropped(const struct tm_proc *p);

/* Is a line due at @now_ns (and the line on)? Cheap: ask before reading the kernel's counters. */
int tm_progress__due(const struct tm_progress *pg, uint64_t now_ns);

/* Redraw from @p when one is due at @now_ns. */
void tm_progress__update(struct tm_progress *pg, uint64_t now_ns, const struct tm_proc *p);

/* Redraw from totals when one is due at @now_ns (a process tree's: the sums over its processes). */
void tm_progress__show(struct tm_progress *pg, uint64_t now_ns, uint64_t allocs, int64_t live, uint64_t peak,
		       uint64_t dropped);

/* Wipe the line (before a summary or a warning). */
void tm_progress__clear(struct tm_progress *pg);

#endif /* TIDEMARK_PROGRESS_H */
