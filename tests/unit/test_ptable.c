// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_ptable: the process table of the daemon and top, record by record. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tm_test.h"
#include "util/grow.h"
#include "util/ptable.h"

/* The pid in the middle, as neither the daemon's nor top's records have it first. */
struct rec {
	uint64_t before;
	pid_t pid;
	char name[13];
};

/* The pids in table order, as one string, for exact comparison. */
static const char *order(const struct tm_ptable *t)
{
	static char s[4096];
	size_t i, len = 0;

	s[0] = 0;
	for (i = 0; i < t->n && len < sizeof(s); i++)
		len += (size_t)snprintf(s + len, sizeof(s) - len, "%s%d", i ? " " : "",
					(int)((const struct rec *)tm_ptable__at(t, i))->pid);
	return s;
}

static void test_add_find_remove(void)
{
	struct tm_ptable t = TM_PTABLE_INIT(struct rec);
	struct rec *r;
	pid_t pid;

	TM_CHECK_EQ_U64(t.size, sizeof(struct rec));
	TM_CHECK_EQ_U64(t.pid_off, 8);
	TM_CHECK(tm_ptable__find(&t, 1) == NULL);
	for (pid = 1; pid <= 5; pid++) {
		r = tm_ptable__put(&t, pid * 10);
		TM_CHECK(r != NULL);
		if (!r)
			return;
		/* zeroed but for its pid */
		TM_CHECK_EQ_U64(r->before, 0);
		TM_CHECK_EQ_U64(r->name[0], 0);
		TM_CHECK_EQ_U64(r->pid, (uint64_t)pid * 10);
		r->before = (uint64_t)pid;
		snprintf(r->name, sizeof(r->name), "p%d", (int)pid);
	}
	TM_CHECK_EQ_U64(t.n, 5);
	TM_CHECK_EQ_U64(t.cap, 64);
	TM_CHECK_STR(order(&t), "10 20 30 40 50");
	r = tm_ptable__find(&t, 30);
	TM_CHECK(r == tm_ptable__at(&t, 2));
	TM_CHECK_STR(r->name, "p3");
	TM_CHECK(tm_ptable__find(&t, 31) == NULL);
	/* a pid already there: its record, zeroed again, in its place */
	TM_CHECK(tm_ptable__put(&t, 30) == r);
	TM_CHECK_EQ_U64(r->before, 0);
	TM_CHECK_EQ_U64(r->name[0], 0);
	TM_CHECK_EQ_U64(r->pid, 30);
	TM_CHECK_EQ_U64(t.n, 5);
	r->before = 3;
	snprintf(r->name, sizeof(r->name), "p3");

	/* a removal moves the last record into the hole */
	tm_ptable__remove(&t, tm_ptable__find(&t, 20));
	TM_CHECK_STR(order(&t), "10 50 30 40");
	r = tm_ptable__find(&t, 50);
	TM_CHECK_EQ_U64(r->before, 5);
	TM_CHECK_STR(r->name, "p5");
	TM_CHECK(tm_ptable__find(&t, 20) == NULL);
	/* the last one: nothing moves */
	tm_ptable__remove(&t, tm_ptable__find(&t, 40));
	TM_CHECK_STR(order(&t), "10 50 30");
	tm_ptable__remove(&t, tm_ptable__at(&t, 0));
	tm_ptable__remove(&t, tm_ptable__at(&t, 0));
	tm_ptable__remove(&t, tm_ptable__at(&t, 0));
	TM_CHECK_EQ_U64(t.n, 0);
	TM_CHECK(tm_ptable__find(&t, 10) == NULL);

	tm_ptable__free(&t);
	TM_CHECK(t.recs == NULL);
	TM_CHECK_EQ_U64(t.n, 0);
	TM_CHECK_EQ_U64(t.cap, 0);
	tm_ptable__free(&t); /* twice is harmless */
}

/* Growth by doubling keeps every record, in order. */
static void test_grow(void)
{
	struct tm_ptable t = TM_PTABLE_INIT(struct rec);
	struct rec *r;
	pid_t pid;
	int bad = 0;

	for (pid = 1; pid <= 1000; pid++) {
		r = tm_ptable__put(&t, pid);
		if (!r)
			break;
		r->before = (uint64_t)pid * 3;
	}
	TM_CHECK_EQ_U64(t.n, 1000);
	TM_CHECK_EQ_U64(t.cap, 1024); /* 64 doubled four times */
	for (pid = 1; pid <= 1000; pid++) {
		r = tm_ptable__find(&t, pid);
		bad += !r || r != tm_ptable__at(&t, (size_t)pid - 1) || r->before != (uint64_t)pid * 3;
	}
	TM_CHECK_EQ_U64(bad, 0);
	TM_CHECK(tm_ptable__find(&t, 1001) == NULL);
	tm_ptable__free(&t);
}

/* tm_grow, which the table and every other growing array use: doubling from the first size, contents kept. */
static void test_tm_grow(void)
{
	size_t n, cap = 0, caps = 0, bad = 0;
	int *v = NULL;

	for (n = 0; n < 100; n++) {
		size_t before = cap;

		if (tm_grow(&v, n, &cap, sizeof(*v), 8))
			break;
		caps += cap != before;
		v[n] = (int)n * 7;
	}
	TM_CHECK_EQ_U64(n, 100);
	TM_CHECK_EQ_U64(cap, 128); /* 8, 16, 32, 64, 128 */
	TM_CHECK_EQ_U64(caps, 5);
	for (n = 0; n < 100; n++)
		bad += v[n] != (int)n * 7;
	TM_CHECK_EQ_U64(bad, 0);
	TM_CHECK(tm_grow(&v, 50, &cap, sizeof(*v), 8) == 0 && cap == 128); /* room: nothing moves */
	free(v);
}

int main(void)
{
	test_add_find_remove();
	test_grow();
	test_tm_grow();
	return tm_test_done("test_ptable");
}
