/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * flamegraph.h: a profile as one self-contained, interactive HTML page.
 *
 * The page (template: user/report/flamegraph.html, compiled in) carries the whole
 * profile as JSON and draws it in the browser: a flame graph of the stacks
 * for each view (peak, leaks, allocs, temporary) with zoom, search and
 * tooltips, the heap/RSS timeline, the process header and every nonzero
 * drop counter. It needs no network and no other file.
 *
 * The diff page draws the AFTER profile's stacks and colours each frame by
 * how much it grew (red) or shrank (blue) since BEFORE in the selected
 * view. Stacks are matched by their frames' function, file, line, module
 * (base name) and kind, never by address: addresses move between runs.
 */
#ifndef TIDEMARK_FLAMEGRAPH_H
#define TIDEMARK_FLAMEGRAPH_H

#include <stdio.h>

#include "profile/profile.h"
#include "report/report.h"

/*
 * o may be NULL (the peak view). o->view is the view the page opens on;
 * o->flags & TM_REPORT_PYTHON_ONLY drops native frames from every stack.
 * o->top_n is ignored: a flame graph shows every stack.
 * Return 0, -EINVAL, -ENOMEM, or -EIO when writing to out failed.
 */
int tm_flamegraph__write(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);
int tm_flamegraph__write_diff(const struct tm_profile *before, const struct tm_profile *after,
			      FILE *out, const struct tm_report_opts *o);

#endif /* TIDEMARK_FLAMEGRAPH_H */
