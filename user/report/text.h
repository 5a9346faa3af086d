/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * text.h: the pieces of the text report that the stats report prints too.
 * (The renderers themselves are declared in report.h.)
 */
#ifndef TIDEMARK_TEXT_H
#define TIDEMARK_TEXT_H

#include <stdio.h>

#include "profile/profile.h"
#include "report/view.h"

/* "tidemark report: CMD (pid N)", status, duration, totals, drops. */
void tm_text__header(const struct tm_profile *p, FILE *out);
/*
 * A site's shown frames (o->flags, o->max_depth or the default), the
 * allocator after the innermost one: the first frame from column indent
 * (where the caller left the line), the callers on lines of their own at
 * indent + 2, all within TM_TEXT_WIDTH (width.h).
 */
void tm_text__stack(FILE *out, const struct tm_profile *p, const struct tm_site *s,
		    const struct tm_report_opts *o, int indent);

#endif /* TIDEMARK_TEXT_H */
