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
#include "util/log.h"
#include "report/postmortem.h"
#include "report/pprof.h"
#include "report/report.h"


void tm_postmortem__fill(struct tm_profile *prof, const struct tm_proc *p)
{
	char cg[PATH_MAX];

	if (!p->oom_time_ns)
		return;
	prof->oom.killed = 1;
	prof->oom.time_ns = p->oom_time_ns > prof->start_time_ns && prof->start_time_ns ?
			    p->oom_time_ns - prof->start_time_ns : 0;
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
		cg[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '.' ? c : '_';
	}
	cg[n] = 0;
	snprintf(out, len, "oom-%04d%02d%02dT%02d%02d%02dZ-%d-%s", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, pid, n ? cg : "root");
}

static int write_one(const char *path, const struct tm_profile *prof, int format)
{
	struct tm_report_opts ro = { .view = TM_VIEW_LEAKS, .top_n = 0 };
	char tmp[PATH_MAX + 8];
	FILE *f;
	int err;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	/* The live heap at the kill is what the leaks view ranks. */
	if (format == 0)
		err = tm_report__text(prof, f, &ro);
	else if (format == 1)
		err = tm_report__json(prof, f, &ro);
	else
		err = tm_pprof__write(prof, f, &ro);
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int tm_postmortem__write(const char *dir, const struct tm_profile *prof, char *base, size_t len)
{
	struct timespec mono, real;
	char name[256], path[PATH_MAX + 16];
	long long when;
	int err;

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
	snprintf(path, sizeof(path), "%s.txt", base);
	err = write_one(path, prof, 0);
	if (!err) {
		snprintf(path, sizeof(path), "%s.json", base);
		err = write_one(path, prof, 1);
	}
	if (!err) {
		snprintf(path, sizeof(path), "%s.pb.gz", base);
		err = write_one(path, prof, 2);
	}
	if (err)
		pr_warn("tidemark: writing the post-mortem %s failed: %s\n", path, strerror(-err));
	return err;
}
