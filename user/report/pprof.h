/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof.h: a profile in pprof's format (github.com/google/pprof,
 * proto/profile.proto), gzip-compressed, for `go tool pprof`, pprof's web
 * UI, speedscope, Pyroscope and the rest of that ecosystem.
 *
 * One sample per allocation site (stack and allocator), with six values:
 *   alloc_objects/count  alloc_space/bytes    over the whole run
 *   inuse_objects/count  inuse_space/bytes    still live at the end (leaks)
 *   peak_objects/count   peak_space/bytes     live at the process's peak
 * The values are exact (no sampling), and each *_space sums, over the
 * samples, to the total of the matching view in the text and JSON reports
 * (peak, leaks, allocs). Every site is written whatever top_n says;
 * TM_REPORT_PYTHON_ONLY hides native frames.
 */
#ifndef TIDEMARK_PPROF_H
#define TIDEMARK_PPROF_H

#include <stdio.h>

#include "profile/profile.h"
#include "report/report.h"

/* 0, -EINVAL, -ENOMEM, or -EIO when writing to out failed. o may be NULL. */
int tm_pprof__write(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);

#endif /* TIDEMARK_PPROF_H */
