/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * test_symbolize: symbolize addresses of this very test program (built with
 * -g, so it has DWARF lines) and of the libc it runs on, using its own
 * /proc/self/maps. Expected answers come from the compiler (__LINE__,
 * function addresses) and the dynamic loader (dlsym, dl_iterate_phdr).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "target/maps.h"
#include "target/symbolize.h"
#include "tm_test.h"

static uintptr_t main_base;

static int find_main(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	main_base = info->dlpi_addr;
	return 1;  /* the first object is the executable */
}

static __attribute__((noinline)) uintptr_t sym_test_pc(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

static const uint32_t marker_first_line = __LINE__ + 1;
static __attribute__((noinline, used)) uintptr_t sym_test_marker(uint32_t *line)
{
	volatile uintptr_t pc;

	/* the call and __LINE__ on one line; the volatile keeps it from being a tail call */
	pc = sym_test_pc(); *line = __LINE__;
	return pc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);

	return s && a >= b && !strcmp(s + a - b, suffix);
}

static void exe_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
}

/* The test's own function, by return address and by entry address. */
static void test_self(pid_t pid)
{
	struct tm_symbolizer *s = tm_symbolizer__new();
	struct tm_maps m = {};
	char exe[PATH_MAX];
	struct tm_sym sym;
	uint32_t line = 0;
	uintptr_t pc;

	TM_CHECK(s != NULL);
	TM_CHECK_EQ_U64(tm_maps__read(pid, &m), 0);
	if (!s || !m.nr)
		goto out;
	exe_path(exe, sizeof(exe));
	pc = sym_test_marker(&line);

	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, pid, pc, TM_SYM_RETADDR, &sym), 0);
	TM_CHECK_STR(sym.module, exe);
	TM_CHECK_STR(sym.function, "sym_test_marker");
	TM_CHECK_EQ_U64(sym.offset, pc - (uintptr_t)sym_test_marker);
	TM_CHECK(ends_with(sym.file, "tests/unit/test_symbolize.c"));
	TM_CHECK_EQ_U64(sym.line, line);
	TM_CHECK(sym.is_exec);
	TM_CHECK_EQ_U64(sym.vaddr, pc - main_base);

	/* the entry address: offset 0, a line of the function's opening */
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, pid, (uintptr_t)sym_test_marker, 0, &sym), 0);
	TM_CHECK_STR(sym.function, "sym_test_marker");
	TM_CHECK_EQ_U64(sym.offset, 0);
	TM_CHECK(ends_with(sym.file, "test_symbolize.c"));
	TM_CHECK(sym.line >= marker_first_line && sym.line < line);
	TM_CHECK_EQ_U64(sym.vaddr, (uintptr_t)sym_test_marker - main_base);

	/* a static function with a different name next door */
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, pid, (uintptr_t)sym_test_pc, 0, &sym), 0);
	TM_CHECK_STR(sym.function, "sym_test_pc");
out:
	tm_maps__free(&m);
	tm_symbolizer__free(s);
}

static void test_libc(void)
{
	struct tm_symbolizer *s = tm_symbolizer__new();
	const struct tm_map_entry *e;
	struct tm_maps m = {};
	struct tm_sym sym;
	void *libc, *fmalloc, *ffree;

	libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	TM_CHECK(libc != NULL);
	TM_CHECK_EQ_U64(tm_maps__read(0, &m), 0);
	if (!s || !libc || !m.nr)
		goto out;
	/* libc's own, not a sanitizer's interceptor */
	fmalloc = dlsym(libc, "malloc");
	ffree = dlsym(libc, "free");
	TM_CHECK(fmalloc && ffree);
	if (!fmalloc || !ffree)
		goto out;
	e = tm_maps__find(&m, (uintptr_t)fmalloc);
	TM_CHECK(e != NULL);

	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, 0, (uintptr_t)fmalloc, 0, &sym), 0);
	TM_CHECK_STR(sym.function, "malloc");
	TM_CHECK_EQ_U64(sym.offset, 0);
	if (e)
		TM_CHECK_STR(sym.module, e->path);
	TM_CHECK(sym.is_exec);
	/* file:line only with libc6-dbg installed; consistent either way */
	TM_CHECK((sym.file == NULL) == (sym.line == 0));

	/* aliases: free, __libc_free and the old cfree@GLIBC_2.2.5 share an address */
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, 0, (uintptr_t)ffree + 5, 0, &sym), 0);
	TM_CHECK_STR(sym.function, "free");
	TM_CHECK_EQ_U64(sym.offset, 5);
	/* a return address just past a call: offset of addr, lookup at addr - 1 */
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, 0, (uintptr_t)ffree + 5, TM_SYM_RETADDR,
					       &sym), 0);
	TM_CHECK_STR(sym.function, "free");
	TM_CHECK_EQ_U64(sym.offset, 5);
out:
	if (libc)
		dlclose(libc);
	tm_maps__free(&m);
	tm_symbolizer__free(s);
}

/*
 * Files read ahead in a thread (tm_symbolizer__prefetch) answer exactly as
 * files read on first use: this test's own lines, libc's symbols (and its
 * lines from libc6-dbg when installed). A file that is never looked up is
 * dropped with the symbolizer, and one that cannot be read costs nothing.
 */
static void test_prefetch(void)
{
	struct tm_symbolizer *plain = tm_symbolizer__new(), *ahead = tm_symbolizer__new(),
			     *unused = tm_symbolizer__new();
	const struct tm_map_entry *e;
	char exe[PATH_MAX], libc_path[PATH_MAX] = "";
	const char *paths[3] = { exe, libc_path, "/nonexistent/tidemark-test" };
	struct tm_sym a, b;
	struct tm_maps m = {};
	uint32_t line = 0;
	void *libc, *fn;
	uintptr_t pc;

	TM_CHECK(plain && ahead && unused);
	libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	fn = libc ? dlsym(libc, "opendir") : NULL;
	TM_CHECK(fn != NULL);
	TM_CHECK_EQ_U64(tm_maps__read(0, &m), 0);
	if (!plain || !ahead || !unused || !fn || !m.nr)
		goto out;
	exe_path(exe, sizeof(exe));
	e = tm_maps__find(&m, (uintptr_t)fn);
	TM_CHECK(e != NULL);
	if (e)
		snprintf(libc_path, sizeof(libc_path), "%s", e->path);
	TM_CHECK_EQ_U64(tm_symbolizer__prefetch(ahead, paths, 3), 0);
	TM_CHECK_EQ_U64(tm_symbolizer__prefetch(unused, paths, 3), 0);
	/* once per symbolizer */
	TM_CHECK_EQ_U64(tm_symbolizer__prefetch(ahead, paths, 3), (uint64_t)-EINVAL);

	pc = sym_test_marker(&line);
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(plain, &m, 0, pc, TM_SYM_RETADDR, &a), 0);
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(ahead, &m, 0, pc, TM_SYM_RETADDR, &b), 0);
	TM_CHECK_STR(b.function, "sym_test_marker");
	TM_CHECK_EQ_U64(b.line, line);
	TM_CHECK_EQ_U64(b.vaddr, a.vaddr);
	TM_CHECK_STR(b.file, a.file);

	/* opendir's own address + 9: inside it, a line of opendir.c with libc6-dbg */
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(plain, &m, 0, (uintptr_t)fn + 9, 0, &a), 0);
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(ahead, &m, 0, (uintptr_t)fn + 9, 0, &b), 0);
	TM_CHECK_STR(a.function, "opendir");
	TM_CHECK_STR(b.function, "opendir");
	TM_CHECK_EQ_U64(b.offset, 9);
	TM_CHECK_STR(b.module, a.module);
	TM_CHECK_EQ_U64(b.line, a.line);
	if (a.file || b.file)
		TM_CHECK_STR(b.file, a.file);
	/* a command named by a relative path (run -- .output/app): read ahead as the maps name it */
	{
		struct tm_symbolizer *rel = tm_symbolizer__new();
		char cwd[PATH_MAX], dir[PATH_MAX], relpath[PATH_MAX];
		const char *rp[1] = { relpath };
		char *slash;

		snprintf(dir, sizeof(dir), "%s", exe);
		slash = strrchr(dir, '/');
		TM_CHECK(rel && slash && getcwd(cwd, sizeof(cwd)));
		if (rel && slash && getcwd(cwd, sizeof(cwd))) {
			*slash = 0;
			snprintf(relpath, sizeof(relpath), "./%s", slash + 1);
			TM_CHECK_EQ_U64(chdir(dir), 0);
			TM_CHECK_EQ_U64(tm_symbolizer__prefetch(rel, rp, 1), 0);
			TM_CHECK_EQ_U64(tm_symbolizer__resolve(rel, &m, 0, pc, TM_SYM_RETADDR, &b), 0);
			TM_CHECK_STR(b.function, "sym_test_marker");
			TM_CHECK_EQ_U64(b.line, line);
			TM_CHECK_EQ_U64(chdir(cwd), 0);
		}
		tm_symbolizer__free(rel);
	}
out:
	if (libc)
		dlclose(libc);
	tm_maps__free(&m);
	tm_symbolizer__free(plain);
	tm_symbolizer__free(ahead);
	tm_symbolizer__free(unused);
}

/* Not code, not mapped, not a file. */
static void test_misc(void)
{
	struct tm_symbolizer *s = tm_symbolizer__new();
	struct tm_maps m = {};
	struct tm_sym sym;
	int local = 0;

	TM_CHECK_EQ_U64(tm_maps__read(0, &m), 0);
	if (!s)
		goto out;
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, 0, 0x10, 0, &sym), -ENOENT);
	TM_CHECK(sym.module == NULL && sym.function == NULL);
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, 0, (uintptr_t)&local, 0, &sym), 0);
	/* "[stack]"; anonymous under valgrind, which runs programs on a stack of its own */
	TM_CHECK(!sym.module || !strcmp(sym.module, "[stack]"));
	TM_CHECK(sym.function == NULL && sym.file == NULL && !sym.is_exec);
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(NULL, &m, 0, 0x10, 0, &sym), -EINVAL);
out:
	tm_maps__free(&m);
	tm_symbolizer__free(s);
	tm_symbolizer__free(NULL);
}

/*
 * The executable's mappings rewritten at another base: symbolization must
 * follow the mapping (bias = start - offset - (p_vaddr - p_offset)), not
 * where the file happens to be loaded in this process. And the same path
 * with another inode on the same device is a replaced file: not used.
 */
static void test_synthetic(void)
{
	const uint64_t delta = 0x100000000000ull;
	struct tm_symbolizer *s = tm_symbolizer__new();
	struct tm_maps real = {}, fake = {}, stale = {};
	char *text = NULL, *stext = NULL;
	size_t len = 0, slen = 0, i;
	struct tm_sym want, got;
	FILE *f, *sf;
	uint32_t line;
	uintptr_t pc = sym_test_marker(&line);
	const struct tm_map_entry *me;

	TM_CHECK_EQ_U64(tm_maps__read(0, &real), 0);
	me = tm_maps__find(&real, pc);
	TM_CHECK(me != NULL);
	f = open_memstream(&text, &len);
	sf = open_memstream(&stext, &slen);
	if (!s || !me || !f || !sf)
		goto out;
	for (i = 0; i < real.nr; i++) {
		const struct tm_map_entry *e = &real.entries[i];

		if (strcmp(e->path, me->path))
			continue;
		fprintf(f, "%llx-%llx %s %llx %x:%x %llu %s\n",
			(unsigned long long)(e->start + delta),
			(unsigned long long)(e->end + delta),
			e->perms, (unsigned long long)e->offset, e->dev_major, e->dev_minor,
			(unsigned long long)e->inode, e->path);
		fprintf(sf, "%llx-%llx %s %llx %x:%x %llu %s\n",
			(unsigned long long)e->start, (unsigned long long)e->end, e->perms,
			(unsigned long long)e->offset, e->dev_major, e->dev_minor,
			(unsigned long long)e->inode + 1, e->path);
	}
	fclose(f);
	fclose(sf);
	f = sf = NULL;
	TM_CHECK_EQ_U64(tm_maps__parse(text, len, &fake), 0);
	TM_CHECK_EQ_U64(tm_maps__parse(stext, slen, &stale), 0);

	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &real, 0, pc, TM_SYM_RETADDR, &want), 0);
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &fake, 0, pc + delta, TM_SYM_RETADDR, &got), 0);
	TM_CHECK_STR(got.function, "sym_test_marker");
	TM_CHECK_STR(got.function, want.function);
	TM_CHECK_EQ_U64(got.offset, want.offset);
	TM_CHECK_STR(got.file, want.file);
	TM_CHECK_EQ_U64(got.line, line);
	TM_CHECK_EQ_U64(got.vaddr, want.vaddr);
	/* the real and the relocated mapping coexist in one cache */
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &real, 0, pc, TM_SYM_RETADDR, &got), 0);
	TM_CHECK_EQ_U64(got.vaddr, want.vaddr);

	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &stale, 0, pc, TM_SYM_RETADDR, &got), 0);
	TM_CHECK_STR(got.module, want.module);
	TM_CHECK(got.function == NULL && got.file == NULL);
out:
	if (f)
		fclose(f);
	if (sf)
		fclose(sf);
	free(text);
	free(stext);
	tm_maps__free(&real);
	tm_maps__free(&fake);
	tm_maps__free(&stale);
	tm_symbolizer__free(s);
}

/*
 * A file mapped, then deleted: maps says "(deleted)". Through
 * /proc/PID/map_files it stays readable, for a tracer with CAP_SYS_ADMIN
 * (or CAP_CHECKPOINT_RESTORE); without, the symbolizer must give up cleanly.
 */
static void test_deleted(void)
{
	char tmp[] = "/tmp/tm_test_sym_XXXXXX", exe[PATH_MAX], buf[65536];
	struct tm_symbolizer *s = NULL;
	const struct tm_map_entry *me;
	struct tm_maps m = {};
	uint64_t map_off, page = (uint64_t)sysconf(_SC_PAGESIZE);
	uintptr_t fn = (uintptr_t)sym_test_marker, addr;
	void *map = MAP_FAILED;
	struct tm_sym sym;
	int in = -1, out = -1;
	ssize_t n;

	exe_path(exe, sizeof(exe));
	TM_CHECK_EQ_U64(tm_maps__read(0, &m), 0);
	me = tm_maps__find(&m, fn);
	TM_CHECK(me != NULL);
	in = open(exe, O_RDONLY);
	out = mkstemp(tmp);
	TM_CHECK(in >= 0 && out >= 0);
	if (!me || in < 0 || out < 0)
		goto done;
	while ((n = read(in, buf, sizeof(buf))) > 0 && write(out, buf, (size_t)n) == n)
		;
	TM_CHECK_EQ_U64(n, 0);

	/* map the page range holding the function, as the loader would have */
	map_off = me->offset + ((fn - me->start) & ~(page - 1));
	map = mmap(NULL, 2 * page, PROT_READ, MAP_PRIVATE, out, (off_t)map_off);
	TM_CHECK(map != MAP_FAILED);
	if (map == MAP_FAILED)
		goto done;
	addr = (uintptr_t)map + ((fn - me->start) & (page - 1));

	s = tm_symbolizer__new();
	TM_CHECK_EQ_U64(tm_maps__read(getpid(), &m), 0);
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, getpid(), addr, 0, &sym), 0);
	TM_CHECK_STR(sym.module, tmp);
	TM_CHECK_STR(sym.function, "sym_test_marker");
	TM_CHECK_EQ_U64(sym.offset, 0);
	TM_CHECK(!sym.is_exec);
	tm_symbolizer__free(s);

	unlink(tmp);
	s = tm_symbolizer__new();
	TM_CHECK_EQ_U64(tm_maps__read(getpid(), &m), 0);
	me = tm_maps__find(&m, addr);
	TM_CHECK(me && (me->flags & TM_MAP_DELETED));
	TM_CHECK_EQ_U64(tm_symbolizer__resolve(s, &m, getpid(), addr, 0, &sym), 0);
	TM_CHECK_STR(sym.module, tmp);
	if (sym.function) {
		TM_CHECK_STR(sym.function, "sym_test_marker");
		TM_CHECK_EQ_U64(sym.offset, 0);
	} else {
		fprintf(stderr, "test_symbolize: note: /proc/PID/map_files not readable "
				"(needs CAP_SYS_ADMIN): deleted file left unsymbolized\n");
		TM_CHECK(sym.file == NULL);
	}
done:
	if (map != MAP_FAILED)
		munmap(map, 2 * page);
	if (in >= 0)
		close(in);
	if (out >= 0) {
		close(out);
		unlink(tmp);
	}
	tm_maps__free(&m);
	tm_symbolizer__free(s);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100k lookups over a few modules: the per-module cache must carry them. */
static void test_many(void)
{
	struct tm_symbolizer *s = tm_symbolizer__new();
	struct tm_maps m = {};
	uintptr_t pc, addrs[4];
	unsigned int bad = 0, i;
	struct tm_sym sym;
	uint32_t line;
	double t;

	pc = sym_test_marker(&line);
	addrs[0] = pc;
	addrs[1] = (uintptr_t)sym_test_pc + 1;
	addrs[2] = (uintptr_t)dlsym(RTLD_DEFAULT, "dlsym") + 2;
	addrs[3] = (uintptr_t)clock_gettime + 3;
	TM_CHECK_EQ_U64(tm_maps__read(0, &m), 0);
	if (!s)
		goto out;
	t = now_s();
	for (i = 0; i < 100000; i++) {
		int err = tm_symbolizer__resolve(s, &m, 0, addrs[i % 4], TM_SYM_RETADDR, &sym);

		if (err || !sym.function)
			bad++;
		else if (i % 4 == 0 &&
			 (strcmp(sym.function, "sym_test_marker") || sym.line != line))
			bad++;
	}
	t = now_s() - t;
	TM_CHECK_EQ_U64(bad, 0);
	fprintf(stderr, "test_symbolize: 100000 resolves in %.3f s\n", t);
out:
	tm_maps__free(&m);
	tm_symbolizer__free(s);
}

int main(void)
{
	dl_iterate_phdr(find_main, NULL);
	test_self(0);
	test_self(getpid());
	test_libc();
	test_prefetch();
	test_misc();
	test_synthetic();
	test_deleted();
	test_many();
	return tm_test_done("test_symbolize");
}
