/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * report.h: render a profile for people (text, stats) and for programs
 * (JSON). The views, options and selection every format shares are the
 * view core's (view.h); each renderer has its own file:
 *   text.c   the header, the timeline, one view's ranked sites, the call tree
 *   stats.c  per allocator totals, the size histogram, the hot spots
 *   json.c   everything at once, for programs (json_writer.c writes the JSON)
 */
#ifndef TIDEMARK_REPORT_H
#define TIDEMARK_REPORT_H

#include <stdio.h>

#include "profile/profile.h"
#include "report/view.h"

/*
 * All return 0, -EINVAL, -ENOMEM, or -EIO when writing to out failed.
 * o may be NULL: the peak view, every site (stats: the allocs view, top 10).
 */
int tm_report__text(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);
int tm_report__json(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);
/* Per allocator totals, the size histogram and the most frequent sites. */
int tm_report__stats(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);

#endif /* TIDEMARK_REPORT_H */
