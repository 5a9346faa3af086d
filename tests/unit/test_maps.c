/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* test_maps: /proc/PID/maps parsing, lookup, merging of snapshots. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "target/maps.h"
#include "tm_test.h"

static const char sample[] =
	"55d0c8a00000-55d0c8a02000 r--p 00000000 fd:01 1049098                    /usr/bin/my prog\n"
	"55d0c8a02000-55d0c8a07000 r-xp 00002000 fd:01 1049098                    /usr/bin/my prog\n"
	"55d0c9a6d000-55d0c9a8e000 rw-p 00000000 00:00 0                          [heap]\n"
	"7f1e4c000000-7f1e4c021000 rw-p 00000000 00:00 0 \n"
	"7f1e4d828000-7f1e4d84e000 r--p 00000000 fd:01 1835532                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f1e4d84e000-7f1e4d9a3000 r-xp 00026000 fd:01 1835532                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f1e4d9a3000-7f1e4d9f6000 r--p 0017b000 fd:01 1835532                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f1e4da00000-7f1e4da10000 r-xp 00001000 08:02 42                         /tmp/libgone.so (deleted)\n"
	"7f1e4da10000-7f1e4da11000 rw-s 00000000 00:01 77                         /memfd:jit (deleted)\n"
	"7f1e4da20000-7f1e4da21000 rw-p 00000000 00:00 0                          [anon:tm arena]\n"
	"7ffd7a0c1000-7ffd7a0e2000 rw-p 00000000 00:00 0                          [stack]\n"
	"7ffd7a1d6000-7ffd7a1da000 r--p 00000000 00:00 0                          [vvar]\n"
	"7ffd7a1da000-7ffd7a1dc000 r-xp 00000000 00:00 0                          [vdso]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";

static void test_parse(void)
{
	struct tm_maps m = {};
	const struct tm_map_entry *e;

	TM_CHECK_EQ_U64(tm_maps__parse(sample, strlen(sample), &m), 0);
	TM_CHECK_EQ_U64(m.nr, 14);
	TM_CHECK_EQ_U64(m.pid, 0);
	if (m.nr != 14)
		goto out;

	e = &m.entries[1];
	TM_CHECK_EQ_U64(e->start, 0x55d0c8a02000ull);
	TM_CHECK_EQ_U64(e->end, 0x55d0c8a07000ull);
	TM_CHECK_EQ_U64(e->offset, 0x2000);
	TM_CHECK_EQ_U64(e->dev_major, 0xfd);
	TM_CHECK_EQ_U64(e->dev_minor, 1);
	TM_CHECK_EQ_U64(e->inode, 1049098);
	TM_CHECK_STR(e->perms, "r-xp");
	TM_CHECK_EQ_U64(e->flags, TM_MAP_READ | TM_MAP_EXEC);
	TM_CHECK_STR(e->path, "/usr/bin/my prog");  /* spaces survive */

	e = &m.entries[2];
	TM_CHECK_STR(e->path, "[heap]");
	TM_CHECK_EQ_U64(e->flags, TM_MAP_READ | TM_MAP_WRITE | TM_MAP_PSEUDO);

	e = &m.entries[3];  /* anonymous; the kernel leaves a trailing blank */
	TM_CHECK_STR(e->path, "");
	TM_CHECK_EQ_U64(e->inode, 0);
	TM_CHECK_EQ_U64(e->flags, TM_MAP_READ | TM_MAP_WRITE);

	e = &m.entries[7];
	TM_CHECK_STR(e->path, "/tmp/libgone.so");
	TM_CHECK_EQ_U64(e->flags, TM_MAP_READ | TM_MAP_EXEC | TM_MAP_DELETED);
	TM_CHECK_EQ_U64(e->dev_major, 8);
	TM_CHECK_EQ_U64(e->dev_minor, 2);

	e = &m.entries[8];
	TM_CHECK_STR(e->path, "/memfd:jit");
	TM_CHECK_EQ_U64(e->flags, TM_MAP_READ | TM_MAP_WRITE | TM_MAP_SHARED | TM_MAP_DELETED);

	TM_CHECK_STR(m.entries[9].path, "[anon:tm arena]");
	TM_CHECK(m.entries[9].flags & TM_MAP_PSEUDO);
	TM_CHECK_STR(m.entries[12].path, "[vdso]");
	TM_CHECK_EQ_U64(m.entries[12].flags, TM_MAP_READ | TM_MAP_EXEC | TM_MAP_PSEUDO);
	e = &m.entries[13];  /* last line without a newline */
	TM_CHECK_EQ_U64(e->start, 0xffffffffff600000ull);
	TM_CHECK_STR(e->path, "[vsyscall]");
	TM_CHECK_EQ_U64(e->flags, TM_MAP_EXEC | TM_MAP_PSEUDO);

	/* lookups: boundaries are [start, end) */
	TM_CHECK(tm_maps__find(&m, 0x55d0c8a02000ull) == &m.entries[1]);
	TM_CHECK(tm_maps__find(&m, 0x55d0c8a01fffull) == &m.entries[0]);
	TM_CHECK(tm_maps__find(&m, 0x55d0c8a06fffull) == &m.entries[1]);
	TM_CHECK(tm_maps__find(&m, 0x55d0c8a07000ull) == NULL);
	TM_CHECK(tm_maps__find(&m, 0) == NULL);
	TM_CHECK(tm_maps__find(&m, 0x7f1e4d900000ull) == &m.entries[5]);
	TM_CHECK(tm_maps__find(&m, 0xffffffffff600fffull) == &m.entries[13]);
	TM_CHECK(tm_maps__find(&m, UINT64_MAX) == NULL);

	/* parsing again replaces, and free leaves it reusable */
	TM_CHECK_EQ_U64(tm_maps__parse(sample, 0, &m), 0);
	TM_CHECK_EQ_U64(m.nr, 0);
	TM_CHECK(tm_maps__find(&m, 0x55d0c8a02000ull) == NULL);
out:
	tm_maps__free(&m);
	TM_CHECK(m.entries == NULL && m.nr == 0);
	tm_maps__free(&m);
	tm_maps__free(NULL);
}

static void test_parse_errors(void)
{
	static const char *const bad[] = {
		"1000-2000 r-xp 0 08:01 12 /x\nzzzz\n",              /* garbage line */
		"2000-1000 r-xp 00000000 08:01 12 /x\n",             /* end before start */
		"1000-1000 r-xp 00000000 08:01 12 /x\n",             /* empty range */
		"1000-2000 rwxq 00000000 08:01 12 /x\n",             /* bad perms */
		"1000-2000 r-x 00000000 08:01 12 /x\n",              /* short perms */
		"1000 r-xp 00000000 08:01 12 /x\n",                  /* no end */
		"1000-2000 r-xp 00000000 0801 12 /x\n",              /* no ':' in dev */
		"1000-2000 r-xp 00000000 08:01 /x\n",                /* no inode */
		"1000-2000 r-xp 00000000 08:01 12x /x\n",            /* inode runs into path */
		"10000000000000000-10000000000000001 r-xp 0 0:0 0\n", /* 65-bit address */
		"1000-2000 r-xp 0 0:0 99999999999999999999\n",        /* inode overflows */
		"1000-3000 r-xp 0 0:0 0\n2000-4000 r-xp 0 0:0 0\n",   /* overlap */
	};
	static const char nul[] = "1000-2000 r-xp 0 0:0 0 /a\0b\n";
	static const char loose[] = "3000-4000 r--p 0 0:0 0\n\n1000-2000 r-xp 0 0:0 0";
	struct tm_maps m = {};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = tm_maps__parse(bad[i], strlen(bad[i]), &m);

		TM_CHECK_EQ_U64(err, -EINVAL);
		if (err != -EINVAL)
			fprintf(stderr, "  input %zu: %s", i, bad[i]);
		TM_CHECK_EQ_U64(m.nr, 0);
	}
	TM_CHECK_EQ_U64(tm_maps__parse(nul, sizeof(nul) - 1, &m), -EINVAL);
	TM_CHECK_EQ_U64(tm_maps__parse(NULL, 0, &m), 0);
	TM_CHECK_EQ_U64(tm_maps__parse(NULL, 5, &m), -EINVAL);

	/* not /proc, but acceptable: unsorted, blank lines, no path at all */
	TM_CHECK_EQ_U64(tm_maps__parse(loose, strlen(loose), &m), 0);
	TM_CHECK_EQ_U64(m.nr, 2);
	if (m.nr == 2) {
		TM_CHECK_EQ_U64(m.entries[0].start, 0x1000);
		TM_CHECK_STR(m.entries[0].path, "");
	}
	tm_maps__free(&m);
}

static struct tm_maps parse_or_die(const char *text)
{
	struct tm_maps m = {};

	if (tm_maps__parse(text, strlen(text), &m))
		fprintf(stderr, "cannot parse: %s\n", text);
	return m;
}

static void test_merge(void)
{
	struct tm_maps old = parse_or_die(
		"1000-5000 r-xp 00010000 08:01 1 /old/liba.so\n"
		"6000-7000 r-xp 00000000 08:01 2 /old/libb.so\n"
		"8000-9000 rw-p 00000000 00:00 0 [heap]\n"
		"a000-c000 r-xp 00000000 08:01 3 /old/libc.so\n");
	struct tm_maps new = parse_or_die(
		"0800-1800 r-xp 00000000 08:01 9 /new/first.so\n"   /* covers liba's front */
		"2000-3000 r-xp 00000000 08:01 10 /new/mid.so\n"    /* splits liba */
		"6000-7000 r-xp 00000000 08:01 2 /old/libb.so\n"    /* unchanged */
		"8000-a000 rw-p 00000000 00:00 0 [heap]\n");        /* grown heap */
	const struct tm_map_entry *e;
	struct tm_maps again = {};
	size_t i;

	new.pid = 4242;
	TM_CHECK_EQ_U64(tm_maps__merge(&old, &new), 0);
	TM_CHECK_EQ_U64(old.pid, 4242);
	/*
	 * 0800-1800 first, 1800-2000 liba, 2000-3000 mid, 3000-5000 liba,
	 * 6000-7000 libb, 8000-a000 heap, a000-c000 libc
	 */
	TM_CHECK_EQ_U64(old.nr, 7);
	for (i = 1; i < old.nr; i++)
		TM_CHECK(old.entries[i - 1].end <= old.entries[i].start);

	e = tm_maps__find(&old, 0x1000);
	TM_CHECK(e && !strcmp(e->path, "/new/first.so"));
	e = tm_maps__find(&old, 0x1800);
	TM_CHECK(e && !strcmp(e->path, "/old/liba.so"));
	if (e) {
		/* the trimmed front moved the file offset along */
		TM_CHECK_EQ_U64(e->start, 0x1800);
		TM_CHECK_EQ_U64(e->end, 0x2000);
		TM_CHECK_EQ_U64(e->offset, 0x10800);
	}
	e = tm_maps__find(&old, 0x2fff);
	TM_CHECK(e && !strcmp(e->path, "/new/mid.so"));
	e = tm_maps__find(&old, 0x4000);
	TM_CHECK(e && !strcmp(e->path, "/old/liba.so"));
	if (e) {
		TM_CHECK_EQ_U64(e->start, 0x3000);
		TM_CHECK_EQ_U64(e->offset, 0x12000);
		TM_CHECK_EQ_U64(e->inode, 1);
	}
	e = tm_maps__find(&old, 0x9800);
	TM_CHECK(e && !strcmp(e->path, "[heap]") && e->end == 0xa000);
	e = tm_maps__find(&old, 0xb000);
	TM_CHECK(e && !strcmp(e->path, "/old/libc.so"));  /* still there: unmapped since */
	TM_CHECK(tm_maps__find(&old, 0x5800) == NULL);

	/* merging the same snapshot again changes nothing */
	TM_CHECK_EQ_U64(tm_maps__merge(&old, &new), 0);
	TM_CHECK_EQ_U64(old.nr, 7);
	/* into an empty map: a copy */
	TM_CHECK_EQ_U64(tm_maps__merge(&again, &old), 0);
	TM_CHECK_EQ_U64(again.nr, 7);
	for (i = 0; i < again.nr && i < old.nr; i++) {
		TM_CHECK_EQ_U64(again.entries[i].start, old.entries[i].start);
		TM_CHECK(again.entries[i].path != old.entries[i].path);
		TM_CHECK_STR(again.entries[i].path, old.entries[i].path);
	}
	/* a newer entry that swallows several old ones */
	tm_maps__free(&new);
	new = parse_or_die("0000-ffff r--p 00000000 08:01 77 /big\n");
	TM_CHECK_EQ_U64(tm_maps__merge(&again, &new), 0);
	TM_CHECK_EQ_U64(again.nr, 1);
	tm_maps__free(&again);
	tm_maps__free(&old);
	tm_maps__free(&new);
}

static void test_find_module(void)
{
	struct tm_maps m = parse_or_die(sample);
	char path[PATH_MAX], tiny[8];

	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "libc.so.6", path, sizeof(path)), 0);
	TM_CHECK_STR(path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "libc", path, sizeof(path)), 0);
	TM_CHECK_STR(path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "libc-", path, sizeof(path)), -ENOENT);
	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "vdso", path, sizeof(path)), -ENOENT);
	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "[vdso]", path, sizeof(path)), -ENOENT);
	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "libc.so.6", tiny, sizeof(tiny)), -ENAMETOOLONG);

	/* a process whose files cannot be reached: never another file of the same name */
	m.pid = INT32_MAX;
	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "libc.so.6", path, sizeof(path)), -ESTALE);
	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "libgone", path, sizeof(path)), -ESTALE);
	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "libc-", path, sizeof(path)), -ENOENT);
	tm_maps__free(&m);
}

/* tm_maps__entry_path on real files: the mapped file or nothing. */
static void test_entry_path(void)
{
	char file[] = "/tmp/tm_maps_XXXXXX", want[PATH_MAX], path[PATH_MAX];
	struct tm_map_entry e = { .start = 0x1000, .end = 0x2000 };
	struct tm_maps m = {};
	struct stat st;
	void *p;
	int fd;

	fd = mkstemp(file);
	TM_CHECK(fd >= 0);
	if (fd < 0)
		return;
	TM_CHECK_EQ_U64(ftruncate(fd, 4096), 0);
	TM_CHECK_EQ_U64(fstat(fd, &st), 0);
	e.dev_major = major(st.st_dev);
	e.dev_minor = minor(st.st_dev);
	e.inode = st.st_ino;
	e.path = file;

	/* in its root first (a container's mount namespace), checked by device and inode */
	snprintf(want, sizeof(want), "/proc/%d/root%s", (int)getpid(), file);
	TM_CHECK_EQ_U64(tm_maps__entry_path(getpid(), &e, path, sizeof(path)), 0);
	TM_CHECK_STR(path, want);
	TM_CHECK_EQ_U64(tm_maps__entry_path(0, &e, path, sizeof(path)), 0);
	TM_CHECK_STR(path, file);
	TM_CHECK_EQ_U64(tm_maps__entry_path(0, &e, path, 8), -ENAMETOOLONG);

	/* the name now holds another file (an upgrade): refused, not mistaken for it */
	e.inode = st.st_ino + 1;
	TM_CHECK_EQ_U64(tm_maps__entry_path(0, &e, path, sizeof(path)), -ESTALE);
	TM_CHECK_EQ_U64(tm_maps__entry_path(getpid(), &e, path, sizeof(path)), -ESTALE);
	/* another device: only in the process's root (overlayfs), never the bare path */
	e.inode = st.st_ino;
	e.dev_minor ^= 1;
	TM_CHECK_EQ_U64(tm_maps__entry_path(0, &e, path, sizeof(path)), -ENOENT);
	TM_CHECK_EQ_U64(tm_maps__entry_path(getpid(), &e, path, sizeof(path)), 0);
	TM_CHECK_STR(path, want);

	/* deleted while mapped: only the mapping itself leads to it (map_files needs root) */
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	TM_CHECK(p != MAP_FAILED);
	unlink(file);
	TM_CHECK_EQ_U64(tm_maps__read(getpid(), &m), 0);
	if (geteuid() == 0) {
		snprintf(want, sizeof(want), "/proc/%d/map_files/%llx-%llx", (int)getpid(),
			 (unsigned long long)(uintptr_t)p, (unsigned long long)(uintptr_t)p + 4096);
		TM_CHECK_EQ_U64(tm_maps__find_module(&m, "tm_maps_", path, sizeof(path)), 0);
		TM_CHECK_STR(path, want);
	} else {
		/* /proc/PID/map_files/ wants CAP_SYS_ADMIN: the reason is told */
		TM_CHECK_EQ_U64(tm_maps__find_module(&m, "tm_maps_", path, sizeof(path)), -EPERM);
	}
	tm_maps__free(&m);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	close(fd);
}

static __attribute__((noinline, used)) int maps_test_marker(int x)
{
	return x + 7;
}

static void test_read_self(void)
{
	const struct tm_map_entry *e;
	struct tm_maps m = {};
	char exe[PATH_MAX];
	ssize_t n;
	int local = 1;

	TM_CHECK_EQ_U64(tm_maps__read(0, &m), 0);
	TM_CHECK(m.nr > 5);
	TM_CHECK_EQ_U64(m.pid, 0);

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	TM_CHECK(n > 0);
	exe[n > 0 ? n : 0] = '\0';
	e = tm_maps__find(&m, (uintptr_t)maps_test_marker);
	TM_CHECK(e != NULL);
	if (e) {
		TM_CHECK(e->flags & TM_MAP_EXEC);
		TM_CHECK_STR(e->path, exe);
		TM_CHECK(e->inode != 0);
	}
	e = tm_maps__find(&m, (uintptr_t)&local);
	TM_CHECK(e != NULL);
	if (e)
		TM_CHECK(e->flags & TM_MAP_WRITE);
	TM_CHECK_EQ_U64(maps_test_marker(1), 8);

	TM_CHECK_EQ_U64(tm_maps__read(getpid(), &m), 0);
	TM_CHECK_EQ_U64(m.pid, getpid());
	TM_CHECK(tm_maps__find(&m, (uintptr_t)maps_test_marker) != NULL);
	TM_CHECK_EQ_U64(tm_maps__find_module(&m, "libc.so", exe, sizeof(exe)), 0);
	TM_CHECK(!strncmp(exe, "/proc/", 6) && access(exe, R_OK) == 0);
	tm_maps__free(&m);

	TM_CHECK_EQ_U64(tm_maps__read(INT32_MAX, &m), -ENOENT);
	TM_CHECK_EQ_U64(m.nr, 0);
}

int main(void)
{
	test_parse();
	test_parse_errors();
	test_merge();
	test_entry_path();
	test_find_module();
	test_read_self();
	return tm_test_done("test_maps");
}
