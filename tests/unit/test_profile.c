/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* test_profile.c: string pool, frame interning, sites, counters, names. */
#include <errno.h>
#include <stdlib.h>

#include "tidemark_common.h"
#include "profile/profile.h"
#include "tm_test.h"

static void test_strpool(void)
{
	struct tm_strpool *sp = tm_strpool__new();
	const char *a, *b, *c, *ptrs[5000];
	char buf[64], big[100000];
	int i, ok;

	TM_CHECK(sp != NULL);
	snprintf(buf, sizeof(buf), "malloc");
	a = tm_strpool__intern(sp, buf);
	/* The pool keeps its own copy: changing the caller's buffer changes nothing. */
	snprintf(buf, sizeof(buf), "calloc");
	b = tm_strpool__intern(sp, "malloc");
	c = tm_strpool__intern(sp, buf);
	TM_CHECK(a != NULL && a == b);
	TM_CHECK(a != buf);
	TM_CHECK_STR(a, "malloc");
	TM_CHECK(c != a);
	TM_CHECK_STR(c, "calloc");
	TM_CHECK(tm_strpool__intern(sp, NULL) == NULL);
	TM_CHECK(tm_strpool__intern(sp, "") != NULL);
	TM_CHECK(tm_strpool__intern(sp, "") == tm_strpool__intern(sp, ""));

	/* Enough strings to grow the table many times: earlier pointers stay put. */
	for (i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "sym_%d", i);
		ptrs[i] = tm_strpool__intern(sp, buf);
	}
	ok = 1;
	for (i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "sym_%d", i);
		if (tm_strpool__intern(sp, buf) != ptrs[i] || strcmp(ptrs[i], buf))
			ok = 0;
	}
	TM_CHECK(ok);
	TM_CHECK(tm_strpool__intern(sp, "malloc") == a);

	/* A string larger than a chunk. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	b = tm_strpool__intern(sp, big);
	TM_CHECK(b != NULL && strlen(b) == sizeof(big) - 1);
	TM_CHECK(tm_strpool__intern(sp, big) == b);
	TM_CHECK(tm_strpool__intern(sp, "after_big") != NULL);
	TM_CHECK_STR(tm_strpool__intern(sp, "sym_4999"), "sym_4999");

	tm_strpool__free(sp);
	tm_strpool__free(NULL);
}

static void test_frames(void)
{
	struct tm_profile *p = tm_profile__new();
	struct tm_frame f = { .kind = TM_FRAME_NATIVE, .line = 42, .function = "make_buffer",
			      .file = "main.c", .module = "/usr/bin/prog", .address = 0x401234 };
	struct tm_frame g;
	char fn[32];
	int i0, i, ok;

	TM_CHECK(p != NULL);
	i0 = tm_profile__add_frame(p, &f);
	TM_CHECK_EQ_U64(i0, 0);
	TM_CHECK_EQ_U64(p->nframes, 1);
	/* Strings are interned into the profile's pool, not borrowed. */
	TM_CHECK(p->frames[0].function != f.function);
	TM_CHECK(p->frames[0].function == tm_profile__str(p, "make_buffer"));

	/* Equal content from other buffers is the same frame. */
	snprintf(fn, sizeof(fn), "make_buffer");
	g = f;
	g.function = fn;
	TM_CHECK_EQ_U64(tm_profile__add_frame(p, &g), 0);
	TM_CHECK_EQ_U64(p->nframes, 1);

	/* Any field that differs makes a new frame. */
	g = f; g.kind = TM_FRAME_PYTHON;
	TM_CHECK_EQ_U64(tm_profile__add_frame(p, &g), 1);
	g = f; g.line = 43;
	TM_CHECK_EQ_U64(tm_profile__add_frame(p, &g), 2);
	g = f; g.function = NULL;
	TM_CHECK_EQ_U64(tm_profile__add_frame(p, &g), 3);
	g = f; g.file = "other.c";
	TM_CHECK_EQ_U64(tm_profile__add_frame(p, &g), 4);
	g = f; g.module = NULL;
	TM_CHECK_EQ_U64(tm_profile__add_frame(p, &g), 5);
	g = f; g.address = 0x401235;
	TM_CHECK_EQ_U64(tm_profile__add_frame(p, &g), 6);
	TM_CHECK_EQ_U64(p->nframes, 7);
	TM_CHECK(p->frames[3].function == NULL);
	TM_CHECK(p->frames[5].module == NULL);
	TM_CHECK_EQ_U64(tm_profile__add_frame(p, &f), 0);

	/* Many frames: the index grows and every one is still found. */
	for (i = 0; i < 3000; i++) {
		snprintf(fn, sizeof(fn), "fn_%d", i);
		g = f;
		g.function = fn;
		g.address = (uint64_t)i;
		if (tm_profile__add_frame(p, &g) != 7 + i)
			break;
	}
	TM_CHECK_EQ_U64(i, 3000);
	ok = 1;
	for (i = 0; i < 3000; i++) {
		snprintf(fn, sizeof(fn), "fn_%d", i);
		g = f;
		g.function = fn;
		g.address = (uint64_t)i;
		if (tm_profile__add_frame(p, &g) != 7 + i)
			ok = 0;
	}
	TM_CHECK(ok);
	TM_CHECK_EQ_U64(p->nframes, 3007);
	TM_CHECK_STR(p->frames[7 + 2999].function, "fn_2999");

	TM_CHECK_EQ_U64(tm_profile__add_frame(p, NULL), -EINVAL);
	TM_CHECK_EQ_U64(tm_profile__add_frame(NULL, &f), -EINVAL);
	tm_profile__free(p);
}

static void test_sites(void)
{
	struct tm_profile *p = tm_profile__new();
	struct tm_frame f = { .kind = TM_FRAME_NATIVE, .function = "a" };
	uint32_t frames[3];
	struct tm_site s = { .nframes = 3, .frames = frames, .kind = TM_KIND_CALLOC,
			     .flags = TM_STACK_NATIVE_TRUNCATED,
			     .alloc_bytes = 100, .alloc_count = 2, .free_bytes = 40, .free_count = 1,
			     .live_bytes = 60, .live_count = 1, .peak_bytes = 100, .peak_count = 2 };

	tm_profile__add_frame(p, &f);
	f.function = "b";
	tm_profile__add_frame(p, &f);
	frames[0] = 1;
	frames[1] = 0;
	frames[2] = 1;
	TM_CHECK_EQ_U64(tm_profile__add_site(p, &s), 0);
	/* The frames were copied: the caller's array is theirs to reuse. */
	frames[0] = 0;
	TM_CHECK(p->sites[0].frames != frames);
	TM_CHECK_EQ_U64(p->sites[0].frames[0], 1);
	TM_CHECK_EQ_U64(p->sites[0].frames[2], 1);
	TM_CHECK_EQ_U64(p->sites[0].nframes, 3);
	TM_CHECK_EQ_U64(p->sites[0].kind, TM_KIND_CALLOC);
	TM_CHECK_EQ_U64(p->sites[0].flags, TM_STACK_NATIVE_TRUNCATED);
	TM_CHECK_EQ_U64(p->sites[0].alloc_bytes, 100);
	TM_CHECK_EQ_U64(p->sites[0].free_bytes, 40);
	TM_CHECK_EQ_U64(p->sites[0].live_bytes, 60);
	TM_CHECK_EQ_U64(p->sites[0].peak_count, 2);

	/* A frame index that names no frame is refused, and nothing is added. */
	frames[1] = 2;
	TM_CHECK_EQ_U64(tm_profile__add_site(p, &s), -EINVAL);
	TM_CHECK_EQ_U64(p->nsites, 1);

	/* No frames at all is a valid (unknown) stack. */
	s.nframes = 0;
	s.frames = NULL;
	TM_CHECK_EQ_U64(tm_profile__add_site(p, &s), 1);
	TM_CHECK(p->sites[1].frames == NULL);
	s.nframes = 1;
	TM_CHECK_EQ_U64(tm_profile__add_site(p, &s), -EINVAL);
	TM_CHECK_EQ_U64(p->nsites, 2);
	tm_profile__free(p);
	tm_profile__free(NULL);
}

static const struct tm_counter *find(const struct tm_counter *c, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return &c[i];
	return NULL;
}

static void test_counters(void)
{
	struct tm_profile *p = tm_profile__new();
	unsigned int i;

	/* Every known counter exists, at zero, in enum order. */
	TM_CHECK_EQ_U64(p->ndrops, TM_DROP__COUNT);
	TM_CHECK_EQ_U64(p->nstats, TM_STAT__COUNT);
	for (i = 0; i < TM_DROP__COUNT; i++) {
		TM_CHECK_STR(p->drops[i].name, tm_drop_name(i));
		TM_CHECK_EQ_U64(p->drops[i].value, 0);
	}
	for (i = 0; i < TM_STAT__COUNT; i++)
		TM_CHECK_STR(p->stats[i].name, tm_stat_name(i));

	TM_CHECK_EQ_U64(tm_profile__set_counter(p, 1, "stack_map_full", 7), 0);
	TM_CHECK_EQ_U64(tm_profile__set_counter(p, 1, "stack_map_full", 9), 0);
	TM_CHECK_EQ_U64(p->ndrops, TM_DROP__COUNT);
	TM_CHECK_EQ_U64(p->drops[TM_DROP_STACK_MAP_FULL].value, 9);

	/* Drops and stats are separate namespaces. */
	TM_CHECK_EQ_U64(tm_profile__set_counter(p, 0, "stack_map_full", 3), 0);
	TM_CHECK_EQ_U64(p->nstats, TM_STAT__COUNT + 1);
	TM_CHECK_EQ_U64(p->drops[TM_DROP_STACK_MAP_FULL].value, 9);
	TM_CHECK_EQ_U64(find(p->stats, p->nstats, "stack_map_full")->value, 3);

	/* A name from a newer tidemark is kept, after the known ones. */
	TM_CHECK_EQ_U64(tm_profile__set_counter(p, 1, "future_reason", 5), 0);
	TM_CHECK_EQ_U64(p->ndrops, TM_DROP__COUNT + 1);
	TM_CHECK_STR(p->drops[TM_DROP__COUNT].name, "future_reason");
	TM_CHECK_EQ_U64(p->drops[TM_DROP__COUNT].value, 5);
	TM_CHECK_EQ_U64(tm_profile__set_counter(p, 0, "stacks_new", 123), 0);
	TM_CHECK_EQ_U64(p->stats[TM_STAT_STACKS_NEW].value, 123);

	TM_CHECK_EQ_U64(tm_profile__set_counter(p, 1, NULL, 1), -EINVAL);
	TM_CHECK_EQ_U64(tm_profile__set_counter(p, 1, "", 1), -EINVAL);
	TM_CHECK_EQ_U64(tm_profile__set_counter(NULL, 1, "x", 1), -EINVAL);
	tm_profile__free(p);
}

static void test_names(void)
{
	static const char *const drops[] = {
		"alloc_map_full", "stack_map_full", "agg_map_full", "region_map_full",
		"free_unmatched", "addr_reused", "stack_unreadable", "unmap_split",
		"inflight", "py_unreadable", "py_arena_untraced", "proc_cap",
		"untracked_bytes", "free_untracked",
	};
	static const char *const kinds[] = {
		"malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
		"aligned_alloc", "memalign", "valloc", "pvalloc", "free", "mmap",
		"munmap", "mremap", "brk", "PyObject_Malloc", "PyObject_Calloc",
		"PyObject_Realloc", "PyObject_Free", "PyMem_Malloc", "PyMem_Calloc",
		"PyMem_Realloc", "PyMem_Free",
	};
	unsigned int i, j;
	int distinct = 1;

	TM_CHECK_EQ_U64(sizeof(drops) / sizeof(drops[0]), TM_DROP__COUNT);
	TM_CHECK_EQ_U64(sizeof(kinds) / sizeof(kinds[0]), TM_KIND__COUNT);
	/* Every value has a name: a hole in a table would be NULL here. */
	for (i = 0; i < TM_DROP__COUNT; i++)
		TM_CHECK_STR(tm_drop_name(i), drops[i]);
	for (i = 0; i < TM_KIND__COUNT; i++)
		TM_CHECK_STR(tm_kind_name(i), kinds[i]);
	TM_CHECK_STR(tm_stat_name(TM_STAT_NESTED), "nested");
	TM_CHECK_STR(tm_stat_name(TM_STAT_MMAP_IN_ALLOC), "mmap_in_alloc");
	TM_CHECK_STR(tm_stat_name(TM_STAT_STACKS_NEW), "stacks_new");
	TM_CHECK_STR(tm_stat_name(TM_STAT_STACKS_TRUNCATED), "stacks_truncated");
	TM_CHECK_STR(tm_stat_name(TM_STAT_PROCS_FULL), "procs_full");
	TM_CHECK_STR(tm_stat_name(TM_STAT_LOST_EXEC_MAP), "lost_exec_map");
	TM_CHECK_STR(tm_stat_name(TM_STAT_LOST_OOM), "lost_oom");
	TM_CHECK_STR(tm_stat_name(TM_STAT_LOST_EXIT), "lost_exit");
	TM_CHECK_STR(tm_stat_name(TM_STAT_LOST_EXEC), "lost_exec");
	TM_CHECK_STR(tm_stat_name(TM_STAT_LOST_FORK), "lost_fork");
	for (i = 0; i < TM_STAT__COUNT; i++)
		TM_CHECK(tm_stat_name(i) != NULL);
	for (i = 0; i < TM_DROP__COUNT; i++)
		for (j = i + 1; j < TM_DROP__COUNT; j++)
			if (!strcmp(tm_drop_name(i), tm_drop_name(j)))
				distinct = 0;
	TM_CHECK(distinct);
	TM_CHECK(tm_drop_name(TM_DROP__COUNT) == NULL);
	TM_CHECK(tm_stat_name(TM_STAT__COUNT) == NULL);
	TM_CHECK(tm_kind_name(TM_KIND__COUNT) == NULL);
	TM_CHECK(tm_kind_name(~0u) == NULL);
	for (i = 0; i < TM_KIND__COUNT; i++)
		TM_CHECK_EQ_U64(tm_kind_is_syscall(i), i >= TM_KIND_MMAP && i <= TM_KIND_BRK);
}

/* Two processes' profiles as one (a cgroup's): frames shared, sites kept, strings owned. */
static void test_merge(void)
{
	struct tm_profile *a = tm_profile__new(), *b = tm_profile__new(), *all = tm_profile__new();
	struct tm_frame f1 = { TM_FRAME_NATIVE, 3, "grow", "a.c", "/bin/a", 0x10 };
	struct tm_frame f2 = { TM_FRAME_PYTHON, 9, "load", "app.py", NULL, 0x20 };
	uint32_t sa[1], sb[2];
	struct tm_site s = { .alloc_bytes = 5, .alloc_count = 1, .peak_bytes = 5, .peak_count = 1 };

	sa[0] = (uint32_t)tm_profile__add_frame(a, &f1);
	s.nframes = 1;
	s.frames = sa;
	tm_profile__add_site(a, &s);
	sb[0] = (uint32_t)tm_profile__add_frame(b, &f2);
	sb[1] = (uint32_t)tm_profile__add_frame(b, &f1);
	s.nframes = 2;
	s.frames = sb;
	s.peak_bytes = 7;
	tm_profile__add_site(b, &s);

	TM_CHECK_EQ_U64(tm_profile__merge_sites(all, a), 0);
	TM_CHECK_EQ_U64(tm_profile__merge_sites(all, b), 0);
	tm_profile__free(a);
	tm_profile__free(b);
	TM_CHECK_EQ_U64(all->nframes, 2);       /* f1 once */
	TM_CHECK_EQ_U64(all->nsites, 2);
	if (all->nsites == 2 && all->nframes == 2) {
		TM_CHECK_EQ_U64(all->sites[1].peak_bytes, 7);
		TM_CHECK_EQ_U64(all->sites[1].frames[1], all->sites[0].frames[0]);
		/* The strings live in all's pool: a and b are gone. */
		TM_CHECK_STR(all->frames[all->sites[1].frames[0]].function, "load");
		TM_CHECK_STR(all->frames[all->sites[0].frames[0]].module, "/bin/a");
	}
	TM_CHECK(tm_profile__merge_sites(NULL, all) < 0);
	tm_profile__free(all);
}

int main(void)
{
	test_merge();
	test_strpool();
	test_frames();
	test_sites();
	test_counters();
	test_names();
	return tm_test_done("test_profile");
}
