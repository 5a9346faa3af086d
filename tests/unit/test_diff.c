// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_diff: stacks matched by what they say, not where they were loaded. */
#include <errno.h>
#include <stdlib.h>

#include "tidemark_common.h"
#include "tm_test.h"
#include "report/diff.h"

/* One frame per site, named fn at line; addresses and directories differ by `shift`. */
static void add(struct tm_profile *p, const char *fn, uint32_t line, uint64_t addr,
		const char *module, int64_t peak, uint64_t alloc)
{
	struct tm_frame f = { TM_FRAME_NATIVE, line, fn, "a.c", module, addr };
	struct tm_frame m = { TM_FRAME_NATIVE, 9, "main", "a.c", module, addr + 0x1000 };
	uint32_t fr[2];
	struct tm_site s = { .nframes = 2, .frames = fr, .peak_bytes = peak, .peak_count = peak > 0,
			     .alloc_bytes = alloc, .alloc_count = 1 };

	fr[0] = (uint32_t)tm_profile__add_frame(p, &f);
	fr[1] = (uint32_t)tm_profile__add_frame(p, &m);
	tm_profile__add_site(p, &s);
}

static int keep_all(const struct tm_profile *p, const struct tm_site *s, void *arg)
{
	(void)p;
	(void)s;
	return arg == NULL;
}

/*
 * The matcher itself: a stack cut at the capture depth is not the complete
 * stack that reads the same; sites that read alike are grouped with their
 * first (lowest index) first; hidden frames do not count.
 */
static void test_match(void)
{
	struct tm_profile *a = tm_profile__new(), *b = tm_profile__new();
	struct tm_frame py = { TM_FRAME_PYTHON, 3, "handler", "app.py", NULL, 0x7000 };
	struct tm_diff_match m;
	uint32_t fr[3];
	struct tm_site s = { .frames = fr, .peak_bytes = 8, .peak_count = 1 };
	size_t i, cut = 0, whole = 0;

	add(a, "f", 1, 0x1000, "/x/prog", 10, 10); /* a0 */
	add(b, "f", 1, 0x2000, "/y/prog", 20, 20); /* b0: same stack */
	add(b, "f", 1, 0x2008, "/y/prog", 30, 30); /* b1: same stack */
	fr[0] = b->sites[0].frames[0];
	fr[1] = b->sites[0].frames[1];
	s.nframes = 2;
	s.flags = TM_STACK_NATIVE_TRUNCATED; /* b2: same frames, cut */
	tm_profile__add_site(b, &s);

	TM_CHECK_EQ_U64(tm_diff__match(a, b, 0, keep_all, NULL, &m), 0);
	TM_CHECK_EQ_U64(m.n, 2);
	for (i = 0; i < m.n; i++) {
		if (m.stacks[i].nbefore == 1 && m.stacks[i].nafter == 2) {
			whole++;
			TM_CHECK(m.stacks[i].before[0] == &a->sites[0]);
			TM_CHECK(m.stacks[i].after[0] == &b->sites[0]); /* the first is first */
			TM_CHECK(m.stacks[i].after[1] == &b->sites[1]);
		} else if (m.stacks[i].nbefore == 0 && m.stacks[i].nafter == 1) {
			cut++;
			TM_CHECK(m.stacks[i].after[0] == &b->sites[2]);
		}
	}
	TM_CHECK_EQ_U64(whole, 1);
	TM_CHECK_EQ_U64(cut, 1);
	tm_diff_match__free(&m);
	tm_diff_match__free(NULL);

	/* keep decides which sites take part. */
	TM_CHECK_EQ_U64(tm_diff__match(a, b, 0, keep_all, (void *)1, &m), 0);
	TM_CHECK_EQ_U64(m.n, 0);
	tm_diff_match__free(&m);

	/* Python only: native frames are hidden, so a Python frame above different native ones matches. */
	fr[0] = b->sites[0].frames[0];
	fr[1] = (uint32_t)tm_profile__add_frame(b, &py);
	s.flags = 0;
	tm_profile__add_site(b, &s); /* b3: f, handler */
	fr[0] = (uint32_t)tm_profile__add_frame(a, &py);
	s.nframes = 1;
	tm_profile__add_site(a, &s); /* a1: handler */
	TM_CHECK_EQ_U64(tm_diff__match(a, b, TM_REPORT_PYTHON_ONLY, keep_all, NULL, &m), 0);
	for (i = 0, whole = 0; i < m.n; i++)
		if (m.stacks[i].nbefore == 1 && m.stacks[i].before[0] == &a->sites[1])
			whole += m.stacks[i].nafter == 1 && m.stacks[i].after[0] == &b->sites[3];
	TM_CHECK_EQ_U64(whole, 1);
	tm_diff_match__free(&m);
	TM_CHECK_EQ_U64(tm_diff__match(a, b, 0, NULL, NULL, &m), -EINVAL);

	tm_profile__free(a);
	tm_profile__free(b);
}

static char *text(const struct tm_profile *a, const struct tm_profile *b, struct tm_report_opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	TM_CHECK_EQ_U64(tm_diff__text(a, b, f, o), 0);
	fclose(f);
	return buf;
}

int main(void)
{
	struct tm_profile *a = tm_profile__new(), *b = tm_profile__new();
	struct tm_report_opts o = { .view = TM_VIEW_PEAK };
	struct tm_diff_row *rows = NULL;
	size_t n = 0;
	char *out;

	/* before: grow 100, shrink 500, same 70 (in two sites that read alike), gone 30 */
	add(a, "grow", 1, 0x1000, "/old/prog", 100, 100);
	add(a, "shrink", 2, 0x2000, "/old/prog", 500, 500);
	add(a, "same", 3, 0x3000, "/old/prog", 30, 30);
	add(a, "same", 3, 0x3008, "/old/prog", 40, 40);
	add(a, "gone", 4, 0x4000, "/old/prog", 30, 30);
	/* after: loaded elsewhere, from another directory */
	add(b, "grow", 1, 0x91000, "/new/prog", 400, 400);
	add(b, "shrink", 2, 0x92000, "/new/prog", 200, 200);
	add(b, "same", 3, 0x93000, "/new/prog", 70, 70);
	add(b, "new", 5, 0x95000, "/new/prog", 300, 300);
	add(b, "line", 7, 0x96000, "/new/prog", 0, 5);     /* nothing at the peak: absent */

	TM_CHECK_EQ_U64(tm_diff__rows(a, b, &o, &rows, &n), 0);
	TM_CHECK_EQ_U64(n, 5);
	if (n == 5) {
		/* |change| descending; on a tie growth first, then the larger after value */
		TM_CHECK_EQ_U64(rows[0].delta, 300);    /* grow: 100 -> 400 */
		TM_CHECK_STR(b->frames[rows[0].after->frames[0]].function, "grow");
		TM_CHECK_EQ_U64(rows[1].delta, 300);    /* new */
		TM_CHECK(rows[1].before == NULL);
		TM_CHECK_EQ_U64(rows[1].after_bytes, 300);
		TM_CHECK(rows[2].delta == -300);        /* shrink: 500 -> 200 */
		TM_CHECK(rows[2].before && !strcmp(a->frames[rows[2].before->frames[0]].function, "shrink"));
		TM_CHECK(rows[3].delta == -30);         /* gone */
		TM_CHECK(rows[3].after == NULL);
		TM_CHECK_EQ_U64(rows[4].delta, 0);      /* same: 30 + 40 merged = 70 */
		TM_CHECK_EQ_U64(rows[4].before_bytes, 70);
		TM_CHECK_EQ_U64(rows[4].before_count, 2);
		TM_CHECK_EQ_U64(rows[4].after_bytes, 70);
	}
	free(rows);

	/* min_bytes applies to the larger side of a pair. */
	o.min_bytes = 100;
	TM_CHECK_EQ_U64(tm_diff__rows(a, b, &o, &rows, &n), 0);
	TM_CHECK_EQ_U64(n, 3);
	free(rows);
	o.min_bytes = 0;

	/* Another view: allocs has the "line" site, new. */
	o.view = TM_VIEW_ALLOCS;
	TM_CHECK_EQ_U64(tm_diff__rows(a, b, &o, &rows, &n), 0);
	TM_CHECK_EQ_U64(n, 6);
	free(rows);
	o.view = TM_VIEW_PEAK;

	out = text(a, b, &o);
	TM_CHECK(strstr(out, "tidemark diff, view peak\n") != NULL);
	TM_CHECK(strstr(out, "2 stacks grew, 2 shrank, 1 unchanged; the view changed by +270 bytes.\n")
		 != NULL);
	TM_CHECK(strstr(out, "All 4 by size of change:\n") != NULL);
	TM_CHECK(strstr(out, "           +300             100             400  +300.0%  grow a.c:1 (prog)\n"
			     "                                                          main a.c:9 (prog)\n")
		 != NULL);
	TM_CHECK(strstr(out, "           -300             500             200   -60.0%  shrink") != NULL);
	TM_CHECK(strstr(out, "           +300               0             300      new  new a.c:5") != NULL);
	TM_CHECK(strstr(out, "            -30              30               0     gone  gone a.c:4") != NULL);
	free(out);
	o.top_n = 1;
	o.max_depth = 1;
	out = text(a, b, &o);
	TM_CHECK(strstr(out, "Top 1 by size of change:\n") != NULL);
	TM_CHECK(strstr(out, "main a.c:9") == NULL);
	free(out);

	/* Bad input. */
	TM_CHECK(tm_diff__rows(NULL, b, &o, &rows, &n) < 0);
	o.view = TM_VIEW__COUNT;
	TM_CHECK(tm_diff__rows(a, b, &o, &rows, &n) < 0);

	tm_profile__free(a);
	tm_profile__free(b);
	test_match();
	return tm_test_done("test_diff");
}
