// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ptable.c: a table of processes keyed by pid (see ptable.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/ptable.h"
#include "util/grow.h"

static pid_t pid_of(const struct tm_ptable *t, const void *rec)
{
	pid_t pid;

	memcpy(&pid, (const char *)rec + t->pid_off, sizeof(pid));
	return pid;
}

void *tm_ptable__find(const struct tm_ptable *t, pid_t pid)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (pid_of(t, tm_ptable__at(t, i)) == pid)
			return tm_ptable__at(t, i);
	return NULL;
}

/* Room for twice as many records (64 at first): 0 or -ENOMEM. */
static int grow(struct tm_ptable *t)
{
	return tm_grow(&t->recs, t->cap, &t->cap, t->size, 64);
}

void *tm_ptable__put(struct tm_ptable *t, pid_t pid)
{
	void *rec = tm_ptable__find(t, pid);

	if (!rec) {
		if (t->n == t->cap && grow(t))
			return NULL;
		rec = tm_ptable__at(t, t->n++);
	}
	memset(rec, 0, t->size);
	memcpy((char *)rec + t->pid_off, &pid, sizeof(pid));
	return rec;
}

void tm_ptable__remove(struct tm_ptable *t, void *rec)
{
	void *last = tm_ptable__at(t, --t->n);

	if (rec != last)
		memcpy(rec, last, t->size);
}

void tm_ptable__free(struct tm_ptable *t)
{
	free(t->recs);
	t->recs = NULL;
	t->n = t->cap = 0;
}
