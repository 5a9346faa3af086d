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

/* Sites the text post-mortem lists; the capture beside it holds every one. */
#define TM_POSTMORTEM_TEXT_TOP 10

/*
 * Write the post-mortem as oom-<UTC time>-<pid>-<cgroup>.tdm, .txt, .json
 * and .pb.gz into dirfd (from tm_outdir__open(); dir names it in messages
 * and in base, which gets the path without its extension): the capture
 * (which `report`, `--format flamegraph` and `diff` open), the text report
 * of the leaks view (what was live at the kill; its top
 * TM_POSTMORTEM_TEXT_TOP sites), and the JSON report and pprof profile of
 * that view with every site, the same bytes those commands write. Returns 0
 * or -errno, having said why.
 */
int tm_postmortem__write(int dirfd, const char *dir, const struct tm_profile *prof, char *base, size_t len);

/* One line on stderr: pid, and every file tm_postmortem__write() wrote under @base. */
void tm_postmortem__say(const char *who, const struct tm_profile *prof, const char *base);

/* "oom-20261122T031500Z-4242-kubepods_pod1" (the cgroup path, '/' made '_'); pure. */
void tm_postmortem__name(char *out, size_t len, long long unix_time, int pid, const char *cgroup);

#endif /* TIDEMARK_POSTMORTEM_H */
