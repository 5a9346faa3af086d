/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * postmortem.h: the report of a process the kernel's OOM killer chose,
 * written from what the kernel's maps held at the kill (the victim is gone).
 * Used by `tidemark run` for its child and by `tidemark daemon` for every
 * traced process.
 */
#ifndef TIDEMARK_POSTMORTEM_H
#define TIDEMARK_POSTMORTEM_H

#include <stddef.h>

#include "profile/profile.h"
#include "tidemark_common.h"

/*
 * Fill prof->oom from the counters BPF took at the kill (p->oom_*), naming
 * the memory cgroup that ran out. No-op unless p->oom_time_ns.
 */
void tm_postmortem__fill(struct tm_profile *prof, const struct tm_proc *p);

/*
 * Write the post-mortem as oom-<UTC time>-<pid>-<cgroup>.txt, .json and
 * .pb.gz into dirfd (from tm_outdir__open(); dir names it in messages and in
 * base, which gets the path without its extension): the text report, the
 * JSON report and the pprof profile of the leaks view (what was live at the
 * kill), every site, the same bytes those commands write. Returns 0 or
 * -errno, having said why.
 */
int tm_postmortem__write(int dirfd, const char *dir, const struct tm_profile *prof, char *base, size_t len);

/* "oom-20261122T031500Z-4242-kubepods_pod1" (the cgroup path, '/' made '_'); pure. */
void tm_postmortem__name(char *out, size_t len, long long unix_time, int pid, const char *cgroup);

#endif /* TIDEMARK_POSTMORTEM_H */
