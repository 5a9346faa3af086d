// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * postmortem.c: OOM post-mortems (see postmortem.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "target/cgroup.h"
#include "profile/capture.h"
#include "util/log.h"
#include "util/outfile.h"
#include "report/postmortem.h"
#include "report/pprof.h"
#include "report/report.h"


void tm_postmortem__fill(struct tm_profile *prof, const struct tm_proc *p)
{
	char cg[PATH_MAX];

	if (!p->oom_time_ns)
		return;
	prof->oom.killed = 1;
	prof->oom.time_ns = 0;
	if (prof->start_time_ns && p->oom_time_ns > prof->start_time_ns)
		prof->oom.time_ns = p->oom_time_ns - prof->start_time_ns;
	prof->oom.rss_anon = p->oom_rss_anon;
	prof->oom.rss_file = p->oom_rss_file;
	prof->oom.rss_shmem = p->oom_rss_shmem;
	prof->oom.cgroup_limit = p->oom_memcg_limit;
	prof->oom.cgroup_usage = p->oom_memcg_usage;
	prof->oom.cgroup = NULL;
	if (p->oom_memcg_id && !tm_cgroup__path_by_id(p->oom_memcg_id, cg, sizeof(cg)))
		prof->oom.cgroup = tm_profile__str(prof, cg);
	else if (prof->cgroup)
		prof->oom.cgroup = prof->cgroup;
	/* what the group says of itself now: its limit, usage, peak and how many it has killed */
	if (prof->oom.cgroup && p->oom_memcg_limit) {
		struct tm_cg_mem m;

		if (!tm_cgroup__memory_files(prof->oom.cgroup, &m)) {
			prof->oom.cg_have = m.have;
			prof->oom.cg_max = m.max;
			prof->oom.cg_current = m.current;
			prof->oom.cg_peak = m.peak;
			prof->oom.cg_oom_kill = m.oom_kill;
		}
	}
}

void tm_postmortem__name(char *out, size_t len, long long unix_time, int pid, const char *cgroup)
{
	char cg[128];
	time_t tt = (time_t)unix_time;
	struct tm tm;
	size_t i, n = 0;

	gmtime_r(&tt, &tm);
	/* the cgroup path as one file-name word: "/a/b" -> "a_b", "/" -> "root" */
	for (i = 0; cgroup && cgroup[i] && n < sizeof(cg) - 1; i++) {
		char c = cgroup[i];

		if (c == '/' && (n == 0 || !cgroup[i + 1]))
			continue;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.'))
			c = '_';
		cg[n++] = c;
	}
	cg[n] = 0;
	snprintf(out, len, "oom-%04d%02d%02dT%02d%02d%02dZ-%d-%s", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, pid, n ? cg : "root");
}

enum pm_format {
	PM_CAPTURE,
	PM_TEXT,
	PM_JSON,
	PM_PPROF,
	PM_NFORMATS,
};

static const char *const pm_ext[PM_NFORMATS] = { ".tdm", ".txt", ".json", ".pb.gz" };

static int write_one(int dirfd, const char *dir, const char *name, const struct tm_profile *prof,
		     enum pm_format format)
{
	/* The live heap at the kill is what the leaks view ranks. */
	struct tm_report_opts ro = { .view = TM_VIEW_LEAKS, .top_n = 0 };
	struct tm_outfile of;
	char file[NAME_MAX + 1];
	int err;

	snprintf(file, sizeof(file), "%s%s", name, pm_ext[format]);
	err = tm_outfile__openat(&of, "tidemark: post-mortem", dirfd, dir, file);
	if (err)
		return err;
	switch (format) {
	case PM_CAPTURE:
		err = tm_capture__write_file(prof, of.f);
		break;
	case PM_TEXT:
		/* Short, to be read at once; every site, the timeline and the tree are in the capture. */
		ro.top_n = TM_POSTMORTEM_TEXT_TOP;
		err = tm_report__text(prof, of.f, &ro);
		if (!err)
			fprintf(of.f, "\nEvery site, the call tree and the flame graph: tidemark report %s%s\n", name,
				pm_ext[PM_CAPTURE]);
		break;
	case PM_JSON:
		err = tm_report__json(prof, of.f, &ro);
		break;
	default:
		err = tm_pprof__write(prof, of.f, &ro);
		break;
	}
	return tm_outfile__commit(&of, err);
}

int tm_postmortem__write(int dirfd, const char *dir, const struct tm_profile *prof, char *base, size_t len)
{
	struct timespec mono, real;
	char name[256];
	long long when;
	int err, i;

	/* When it was killed, on the wall clock: now minus the time since. */
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	when = real.tv_sec;
	if (prof->oom.killed && prof->start_time_ns) {
		uint64_t kill = prof->start_time_ns + prof->oom.time_ns;
		uint64_t now = (uint64_t)mono.tv_sec * 1000000000ull + mono.tv_nsec;

		if (now > kill)
			when -= (long long)((now - kill) / 1000000000ull);
	}
	tm_postmortem__name(name, sizeof(name), when, prof->pid,
			    prof->oom.cgroup ? prof->oom.cgroup : prof->cgroup);
	snprintf(base, len, "%s/%s", dir, name);
	for (i = 0; i < PM_NFORMATS; i++) {
		err = write_one(dirfd, dir, name, prof, (enum pm_format)i);
		if (err)
			return err; /* said why */
	}
	return 0;
}

void tm_postmortem__say(const char *who, const struct tm_profile *prof, const char *base)
{
	pr_info("%s: pid %d was OOM-killed; post-mortem: %s.tdm (tidemark report %s.tdm), %s.txt, %s.json, "
		"%s.pb.gz\n",
		who, prof->pid, base, base, base, base, base);
}
