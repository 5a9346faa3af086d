// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_timeline: bounded sampling keeps the high points and an even spread. */
#include <errno.h>
#include <unistd.h>

#include "tm_test.h"
#include "profile/timeline.h"
#include "target/proc.h"

static void test_fill_and_merge(void)
{
	struct tm_timeline tl;
	struct tm_sample s = {};
	uint64_t t;
	int i;

	TM_CHECK_EQ_U64(tm_timeline__init(&tl, 1, 10), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(tm_timeline__init(&tl, 4, 0), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(tm_timeline__init(&tl, 4, 10), 0);
	TM_CHECK(tm_timeline__due(&tl, 0));
	/* Heap 5, 9, 2, 7 at t = 0, 10, 20, 30: full. */
	for (i = 0; i < 4; i++) {
		static const int64_t heap[] = { 5, 9, 2, 7 };

		s.time_ns = 10 * (uint64_t)i;
		s.heap_bytes = heap[i];
		s.rss_bytes = 100 + (uint64_t)i;
		TM_CHECK_EQ_U64(tm_timeline__add(&tl, &s), 0);
	}
	TM_CHECK_EQ_U64(tl.n, 4);
	TM_CHECK(!tm_timeline__due(&tl, 39));
	TM_CHECK(tm_timeline__due(&tl, 40));
	/* The fifth point merges pairs into their higher heap: (t10, 9), (t30, 7). */
	s.time_ns = 40;
	s.heap_bytes = 1;
	TM_CHECK_EQ_U64(tm_timeline__add(&tl, &s), 0);
	TM_CHECK_EQ_U64(tl.n, 3);
	TM_CHECK_EQ_U64(tl.s[0].time_ns, 10);
	TM_CHECK_EQ_U64(tl.s[0].heap_bytes, 9);
	TM_CHECK_EQ_U64(tl.s[0].rss_bytes, 101);
	TM_CHECK_EQ_U64(tl.s[1].time_ns, 30);
	TM_CHECK_EQ_U64(tl.s[1].heap_bytes, 7);
	TM_CHECK_EQ_U64(tl.s[2].time_ns, 40);
	/* The interval doubled. */
	TM_CHECK_EQ_U64(tl.interval_ns, 20);
	TM_CHECK(!tm_timeline__due(&tl, 59));
	TM_CHECK(tm_timeline__due(&tl, 60));
	/* Time never goes back. */
	s.time_ns = 39;
	TM_CHECK_EQ_U64(tm_timeline__add(&tl, &s), (uint64_t)-EINVAL);
	tm_timeline__free(&tl);
	tm_timeline__free(&tl);
	TM_CHECK(!tm_timeline__due(&tl, 1000));

	/* A long run: bounded, the single highest point kept, spread over the whole run. */
	TM_CHECK_EQ_U64(tm_timeline__init(&tl, 64, 1), 0);
	for (t = 0, i = 0; t < 100000; t++) {
		if (!tm_timeline__due(&tl, t))
			continue;
		s.time_ns = t;
		/* The 100th point is the spike; by then the timeline has merged twice. */
		s.heap_bytes = ++i == 100 ? 1000000 : i % 7;
		tm_timeline__add(&tl, &s);
	}
	TM_CHECK(tl.n <= 64);
	TM_CHECK(tl.n >= 32);
	TM_CHECK(tl.s[tl.n - 1].time_ns > 90000);
	TM_CHECK(tl.s[0].time_ns < 100000 / 32);
	{
		int64_t max = 0;
		size_t j;

		for (j = 0; j < tl.n; j++)
			if (tl.s[j].heap_bytes > max)
				max = tl.s[j].heap_bytes;
		TM_CHECK_EQ_U64(max, 1000000);
	}
	tm_timeline__free(&tl);
}

static void test_profile_and_rss(void)
{
	struct tm_timeline tl;
	struct tm_profile *p = tm_profile__new();
	struct tm_sample s = { 5, 6, 7 };

	TM_CHECK_EQ_U64(tm_timeline__init(&tl, 8, 1), 0);
	tm_timeline__add(&tl, &s);
	s.time_ns = 9;
	tm_timeline__add(&tl, &s);
	/* The peak between two samples goes between them. */
	{
		struct tm_sample pk = { 7, 1000, 0 };

		TM_CHECK_EQ_U64(tm_timeline__insert(&tl, &pk), 0);
		TM_CHECK_EQ_U64(tl.n, 3);
		TM_CHECK_EQ_U64(tl.s[1].time_ns, 7);
		TM_CHECK_EQ_U64(tl.s[1].heap_bytes, 1000);
		TM_CHECK_EQ_U64(tl.s[2].time_ns, 9);
		tl.n = 2;
		tl.s[1] = tl.s[2];
	}
	TM_CHECK_EQ_U64(tm_timeline__to_profile(&tl, p), 0);
	TM_CHECK_EQ_U64(p->nsamples, 2);
	TM_CHECK_EQ_U64(p->samples[1].time_ns, 9);
	TM_CHECK_EQ_U64(p->samples[0].rss_bytes, 7);
	tm_timeline__free(&tl);
	tm_profile__free(p);

	/* Our own RSS is above zero and page-aligned; a pid that cannot exist has none. */
	TM_CHECK(tm_proc__rss(getpid()) > 0);
	TM_CHECK_EQ_U64(tm_proc__rss(getpid()) % (uint64_t)sysconf(_SC_PAGESIZE), 0);
	TM_CHECK_EQ_U64(tm_proc__rss(-1), 0);

	/* RssAnon from statm: resident less shared (file and shmem pages); attach states it. */
	{
		struct tm_statm m = { 0 };

		TM_CHECK_EQ_U64(tm_proc__parse_statm("5000 1200 200 10 0 900 0\n", &m), 0);
		TM_CHECK_EQ_U64(m.size, 5000);
		TM_CHECK_EQ_U64(m.resident, 1200);
		TM_CHECK_EQ_U64(m.shared, 200);
		TM_CHECK_EQ_U64(tm_proc__parse_statm("5000 100 200 10 0 900 0\n", &m), -EINVAL);
		TM_CHECK_EQ_U64(tm_proc__parse_statm("5000 1200", &m), -EINVAL);
		TM_CHECK(tm_proc__rss_anon(getpid()) > 0);
		TM_CHECK(tm_proc__rss_anon(getpid()) <= tm_proc__rss(getpid()));
		TM_CHECK_EQ_U64(tm_proc__rss_anon(-1), 0);
	}
}

int main(void)
{
	test_fill_and_merge();
	test_profile_and_rss();
	return tm_test_done("test_timeline");
}
