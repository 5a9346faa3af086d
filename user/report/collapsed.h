/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * collapsed.h: a profile as folded stacks, the text format flamegraph.pl,
 * speedscope and inferno read: one line per distinct stack,
 *
 *   outermost;...;innermost BYTES
 *
 * for one view (report.h): bytes live at the peak, still live at the end,
 * or allocated. Frame labels:
 *   python  "function (file:line)"
 *   native  "function"; "[libfoo.so.1]" when the symbol is unknown (the
 *           convention of stackcollapse-perf.pl: unknown frames of one
 *           module fold together); "0xADDR" when the module is unknown too
 * A stack with no frame left is "[no stack]" ("[no Python frames]" under
 * TM_REPORT_PYTHON_ONLY). The format has no quoting, so in labels ';',
 * control characters and bytes that are not UTF-8 become \xNN and a
 * backslash becomes two. Sites with the same labels add up into one line;
 * lines come sorted by stack (bytewise), so the same profile always folds
 * the same. Every site is written whatever top_n says: the numbers add up
 * to the view's total in the text and JSON reports.
 */
#ifndef TIDEMARK_COLLAPSED_H
#define TIDEMARK_COLLAPSED_H

#include <stdio.h>

#include "profile/profile.h"
#include "report/report.h"

/* 0, -EINVAL, -ENOMEM, or -EIO when writing to out failed. o may be NULL: the peak view. */
int tm_collapsed__write(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);

#endif /* TIDEMARK_COLLAPSED_H */
