/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ptable.h: the one table of processes a host-wide session follows (the
 * daemon's tracked processes, top's rows): one record per pid, of the
 * caller's own type, found by a linear scan (a few thousand processes at
 * most, see --max-procs), grown by doubling, removed by moving the last
 * record into the hole. Records move when the table grows or loses one:
 * keep a pid, not a pointer, across an add or a remove.
 */
#ifndef TIDEMARK_UTIL_PTABLE_H
#define TIDEMARK_UTIL_PTABLE_H

#include <stddef.h>
#include <sys/types.h>

struct tm_ptable {
	void *recs;     /* n records of size bytes, malloc()ed */
	size_t n, cap;  /* records in use, records allocated */
	size_t size;    /* of one record */
	size_t pid_off; /* of its pid_t member */
};

/* An empty table of records of @type, which has a pid_t member `pid`. */
#define TM_PTABLE_INIT(type) ((struct tm_ptable){ .size = sizeof(type), .pid_off = offsetof(type, pid) })

/* Record @i (below t->n). */
static inline void *tm_ptable__at(const struct tm_ptable *t, size_t i)
{
	return (char *)t->recs + i * t->size;
}

/* The record of @pid, or NULL. */
void *tm_ptable__find(const struct tm_ptable *t, pid_t pid);

/*
 * The record of @pid zeroed but for its pid: the one it had (a new
 * incarnation, an exec), else a new one at the end; NULL when out of memory.
 */
void *tm_ptable__put(struct tm_ptable *t, pid_t pid);

/* Remove @rec (one of t's): the last record takes its place. */
void tm_ptable__remove(struct tm_ptable *t, void *rec);

/* Free the records; the table is empty again, ready for reuse. */
void tm_ptable__free(struct tm_ptable *t);

#endif /* TIDEMARK_UTIL_PTABLE_H */
