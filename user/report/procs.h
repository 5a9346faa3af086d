/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * procs.h: the processes of a traced tree (`run` following children), for
 * people and programs: the process table every text report of a tree ends
 * with, the tree's total (report --tree-total), and JSON's "processes" and
 * "tree". Pure: no kernel, no root.
 */
#ifndef TIDEMARK_PROCS_H
#define TIDEMARK_PROCS_H

#include <stdio.h>

#include "profile/profile.h"
#include "report/view.h"

/* Whether p holds a tree (more than its own process, or a note on what was not followed). */
int tm_procs__is_tree(const struct tm_profile *p);
/* The table: pid, ppid, peak, leaks (live at the end), how it ended, command; the root first. */
void tm_procs__table(const struct tm_profile *p, FILE *out);
/* --tree-total: the tree's sampled peak, what each process held then, and the table. 0 or -EIO. */
int tm_procs__text_total(const struct tm_profile *p, FILE *out);
/* JSON: "tree" and "processes" (each process's header, totals and views), after the root's keys. */
int tm_procs__json(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o,
		   int (*views)(const struct tm_profile *, FILE *, const struct tm_report_opts *));

/*
 * Every process of p's tree in one profile, for the formats that draw one
 * picture (flame graph, pprof, collapsed): each site under a root frame
 * naming its process (TM_FRAME_PROCESS), each process's sites at its own
 * peak; totals and drops summed, the header the root's. 0 or -ENOMEM.
 */
int tm_procs__merged(const struct tm_profile *p, struct tm_profile **out);

#endif
