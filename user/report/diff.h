/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * diff.h: what changed between two captures, stack by stack.
 *
 * Stacks are matched by what their frames say (kind, function, file, line,
 * module base name), never by address: addresses move between two runs of
 * the same program. Sites of one capture whose stacks read the same are
 * added together first. Pure logic: no kernel, no root.
 */
#ifndef TIDEMARK_DIFF_H
#define TIDEMARK_DIFF_H

#include <stdio.h>

#include "profile/profile.h"
#include "report/report.h"

struct tm_diff_row {
	const struct tm_site *before;   /* a representative site; NULL: new in after */
	const struct tm_site *after;    /* NULL: gone in after */
	uint64_t before_bytes, before_count;
	uint64_t after_bytes, after_count;
	int64_t delta;                  /* after_bytes - before_bytes, saturated */
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
