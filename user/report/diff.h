/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * diff.h: what changed between two captures, stack by stack.
 *
 * Stacks are matched by what their frames say (kind, function, file, line,
 * module base name) and whether the capture cut them short, never by
 * address: addresses move between two runs of the same program. Sites of
 * one capture whose stacks read the same are added together. This is the
 * one matcher of every diff format: the text diff (tm_diff__rows) and the
 * flame graph's diff page both pair stacks with tm_diff__match.
 * Pure logic: no kernel, no root.
 */
#ifndef TIDEMARK_DIFF_H
#define TIDEMARK_DIFF_H

#include <stdio.h>

#include "profile/profile.h"
#include "report/report.h"

/* One distinct stack and the sites with it on each side (either may be none). */
struct tm_diff_stack {
	const struct tm_site *const *before; /* nbefore sites of BEFORE, by index */
	size_t nbefore;
	const struct tm_site *const *after;
	size_t nafter;
};

struct tm_diff_match {
	struct tm_diff_stack *stacks; /* ordered by stack (an order of the keys, not of size) */
	size_t n;
	const struct tm_site **sites; /* storage the stacks point into */
};

/* Whether a site takes part in the diff (it scores, the filter passes, ...). */
typedef int (*tm_diff_keep_fn)(const struct tm_profile *p, const struct tm_site *s, void *arg);

/*
 * Pair the kept sites of before and after by stack; flags (enum
 * tm_report_flags) hide frames from the stacks as in the reports.
 * Free m with tm_diff_match__free. Returns 0, -EINVAL or -ENOMEM.
 */
int tm_diff__match(const struct tm_profile *before, const struct tm_profile *after,
		   unsigned int flags, tm_diff_keep_fn keep, void *arg, struct tm_diff_match *m);
void tm_diff_match__free(struct tm_diff_match *m); /* accepts NULL */

struct tm_diff_row {
	const struct tm_site *before; /* a representative site; NULL: new in after */
	const struct tm_site *after;  /* NULL: gone in after */
	uint64_t before_bytes, before_count;
	uint64_t after_bytes, after_count;
	int64_t delta; /* after_bytes - before_bytes, saturated */
};

/*
 * Every stack that scores in o->view in either capture (o->filter, o->flags
 * and o->min_bytes select as in the reports; min_bytes applies to the larger
 * side), largest absolute change first, ties by stack. *rows is malloc()ed.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int tm_diff__rows(const struct tm_profile *before, const struct tm_profile *after,
		  const struct tm_report_opts *o, struct tm_diff_row **rows, size_t *n);

/* The text report: the totals side by side, then the top o->top_n changed stacks. */
int tm_diff__text(const struct tm_profile *before, const struct tm_profile *after, FILE *out,
		  const struct tm_report_opts *o);

#endif /* TIDEMARK_DIFF_H */
