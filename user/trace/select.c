// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* select.c: the selection of a host-wide session (see select.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "target/cgroup.h"
#include "target/proc.h"
#include "trace/select.h"
#include "trace/trace.h"
#include "util/log.h"

int tm_selection__load(struct tm_selection *s, struct tm_trace *t, const struct tm_select *sel, unsigned int flags,
		       const char *who)
{
	unsigned int i;
	int err;

	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->flags = flags;
	for (i = 0; i < sel->ncomms; i++) {
		err = tm_trace__select_comm(t, sel->comms[i]);
		if (err)
			return err;
	}
	for (i = 0; i < sel->nexes; i++) {
		struct stat st;

		if (stat(sel->exes[i], &st)) {
			err = -errno;
			pr_warn("%s: --exe %s: %s\n", who, sel->exes[i], strerror(-err));
			return err;
		}
		/* the kernel's dev_t is major << 20 | minor, not glibc's encoding */
		err = tm_trace__select_exe(t, ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev), st.st_ino);
		if (err)
			return err;
	}
	for (i = 0; i < sel->ncgroups; i++) {
		char rel[PATH_MAX];
		uint64_t id;

		err = tm_cgroup__resolve(sel->cgroups[i], &s->cg_hier[i], &id, rel, sizeof(rel));
		if (err) {
			pr_warn("%s: --cgroup %s: %s\n", who, sel->cgroups[i],
				err == -EINVAL ? "not in the memory controller's or the unified hierarchy" : strerror(-err));
			return err;
		}
		s->cg_rel[i] = strdup(rel);
		if (!s->cg_rel[i])
			return -ENOMEM;
		err = tm_trace__select_cgroup(t, s->cg_hier[i], id);
		if (err)
			return err;
	}
	return 0;
}

static int exe_matches(const struct tm_select *sel, pid_t pid)
{
	char path[64];
	struct stat st, want;
	unsigned int i;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &st))
		return 0;
	for (i = 0; i < sel->nexes; i++)
		if (!stat(sel->exes[i], &want) && want.st_dev == st.st_dev && want.st_ino == st.st_ino)
			return 1;
	return 0;
}

/* Is pid in one of the --cgroup groups, each looked up in its own hierarchy (v1 memory or v2)? */
static int cgroup_matches(const struct tm_selection *s, pid_t pid)
{
	char cg[PATH_MAX];
	unsigned int i;

	for (i = 0; i < s->sel->ncgroups; i++)
		if (!tm_cgroup__of_pid_in(pid, s->cg_hier[i], cg, sizeof(cg)) && tm_cgroup__under(s->cg_rel[i], cg))
			return 1;
	return 0;
}

int tm_selection__matches(const struct tm_selection *s, pid_t pid)
{
	const struct tm_select *sel = s->sel;
	char comm[16], exe[64];
	unsigned int i;

	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	if (access(exe, F_OK))
		return 0; /* a kernel thread: nothing to trace */
	for (i = 0; i < sel->npids; i++)
		if (sel->pids[i] == pid)
			return 1;
	if (s->flags & TM_SEL_ALL)
		return 1;
	tm_proc__comm(pid, comm, sizeof(comm));
	for (i = 0; i < sel->ncomms; i++)
		if (!strncmp(sel->comms[i], comm, 15))
			return 1;
	if (sel->nexes && exe_matches(sel, pid))
		return 1;
	if (sel->ncgroups && cgroup_matches(s, pid))
		return 1;
	return 0;
}

void tm_selection__free(struct tm_selection *s)
{
	unsigned int i;

	for (i = 0; i < TM_MAX_SEL; i++) {
		free(s->cg_rel[i]);
		s->cg_rel[i] = NULL;
	}
}
