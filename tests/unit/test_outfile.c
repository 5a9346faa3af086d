/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * test_outfile: util/outfile.c in a private temporary directory (no root
 * needed: the attacks by another user are in tests/integration/
 * test_safety_files.py), and the /proc/PID/stat parser attach uses.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/proc.h"
#include "util/outfile.h"
#include "tm_test.h"

static char dir[PATH_MAX];

/* dir/name, in one of two buffers that take turns (two may be in use at once) */
static const char *at(const char *name)
{
	static char path[2][PATH_MAX + 64];
	static int turn;

	turn ^= 1;
	snprintf(path[turn], sizeof(path[turn]), "%s/%s", dir, name);
	return path[turn];
}

static char *slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."));
	closedir(d);
	return n;
}

static int write_one(const char *path, const char *text, int werr)
{
	struct tm_outfile of;
	int err = tm_outfile__open(&of, "test", path);

	if (err)
		return err;
	fputs(text, of.f);
	return tm_outfile__commit(&of, werr);
}

static void test_files(void)
{
	struct stat st, st2;
	int fd;

	/* a new file: the bytes, mode 0600 whatever the umask, nothing else left */
	umask(0);
	TM_CHECK_EQ_U64(write_one(at("a"), "one\n", 0), 0);
	TM_CHECK_STR(slurp(at("a")), "one\n");
	TM_CHECK(!stat(at("a"), &st) && (st.st_mode & 07777) == 0600);
	TM_CHECK_EQ_U64(entries(dir), 1);
	/* replaced by a new inode; a hard link to the old one keeps the old bytes */
	TM_CHECK(!link(at("a"), at("a-link")));
	TM_CHECK_EQ_U64(write_one(at("a"), "two\n", 0), 0);
	TM_CHECK_STR(slurp(at("a")), "two\n");
	TM_CHECK_STR(slurp(at("a-link")), "one\n");
	TM_CHECK(!stat(at("a"), &st2) && st2.st_ino != st.st_ino);
	/* the writer failed: the old file stays, nothing left behind, the writer's error comes back */
	TM_CHECK_EQ_U64(write_one(at("a"), "three\n", -EINVAL), -EINVAL);
	TM_CHECK_STR(slurp(at("a")), "two\n");
	TM_CHECK_EQ_U64(entries(dir), 2);
	/* abandoned: nothing appears */
	{
		struct tm_outfile of;

		TM_CHECK_EQ_U64(tm_outfile__open(&of, "test", at("b")), 0);
		fputs("never\n", of.f);
		tm_outfile__abort(&of);
		tm_outfile__abort(&of); /* twice is harmless */
		TM_CHECK(access(at("b"), F_OK) && errno == ENOENT);
		TM_CHECK_EQ_U64(entries(dir), 2);
	}
	/* a zeroed outfile aborts to nothing */
	{
		struct tm_outfile of = { 0 };

		tm_outfile__abort(&of);
		TM_CHECK_EQ_U64(tm_outfile__commit(&of, 0), -EBADF);
	}
	/* a symlink in a directory only we can write is followed: the link stays, its target is written */
	TM_CHECK(!symlink("a", at("to-a")));
	TM_CHECK_EQ_U64(write_one(at("to-a"), "four\n", 0), 0);
	TM_CHECK(!lstat(at("to-a"), &st) && S_ISLNK(st.st_mode));
	TM_CHECK_STR(slurp(at("a")), "four\n");
	/* ... and as a directory on the way */
	TM_CHECK(!mkdir(at("sub"), 0700));
	TM_CHECK(!symlink("sub", at("to-sub")));
	TM_CHECK_EQ_U64(write_one(at("to-sub/c"), "five\n", 0), 0);
	TM_CHECK_STR(slurp(at("sub/c")), "five\n");
	/* in a directory others can write, neither is */
	TM_CHECK(!mkdir(at("open"), 0777) && !chmod(at("open"), 0777));
	TM_CHECK(!symlink("../a", at("open/l")));
	TM_CHECK(!symlink("../sub", at("open/d")));
	TM_CHECK_EQ_U64(write_one(at("open/l"), "six\n", 0), -ELOOP);
	TM_CHECK_EQ_U64(write_one(at("open/d/x"), "six\n", 0), -ELOOP);
	TM_CHECK_STR(slurp(at("a")), "four\n");
	TM_CHECK(access(at("sub/x"), F_OK));
	/* a directory is refused */
	TM_CHECK_EQ_U64(write_one(at("sub"), "x", 0), -EISDIR);
	TM_CHECK_EQ_U64(write_one(at("sub/"), "x", 0), -EISDIR);
	TM_CHECK_EQ_U64(write_one(at("nope/x"), "x", 0), -ENOENT);
	/* devices are streams: /dev/null takes it, /dev/full says the disk is full */
	TM_CHECK_EQ_U64(write_one("/dev/null", "x", 0), 0);
	TM_CHECK(!stat("/dev/null", &st) && S_ISCHR(st.st_mode));
	fd = open("/dev/full", O_WRONLY);
	if (fd >= 0) {
		close(fd);
		TM_CHECK_EQ_U64(write_one("/dev/full", "x", 0), -ENOSPC);
		TM_CHECK_EQ_U64(write_one("/dev/full", "x", -EIO), -ENOSPC); /* the writer's EIO says less */
	}
	TM_CHECK_STR(tm_outfile__strerror(-ENOSPC), "no space left on device");
	TM_CHECK_STR(tm_outfile__strerror(-EDQUOT), "no space left on device");
	/* a FIFO with a reader: a stream too */
	TM_CHECK(!mkfifo(at("fifo"), 0600));
	fd = open(at("fifo"), O_RDONLY | O_NONBLOCK);
	TM_CHECK(fd >= 0);
	if (fd >= 0) {
		char buf[16] = { 0 };

		TM_CHECK_EQ_U64(write_one(at("fifo"), "seven\n", 0), 0);
		TM_CHECK_EQ_U64(read(fd, buf, sizeof(buf) - 1), 6);
		TM_CHECK_STR(buf, "seven\n");
		close(fd);
	}
	umask(022);
}

static void test_dirs(void)
{
	struct stat st;
	int fd;

	TM_CHECK_EQ_U64(tm_outdir__open("test", at("made"), TM_OUTDIR_CREATE | TM_OUTDIR_STRICT, &fd), 0);
	TM_CHECK(fd >= 0 && !fstat(fd, &st) && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
	if (fd >= 0) {
		struct tm_outfile of;

		TM_CHECK_EQ_U64(tm_outfile__openat(&of, "test", fd, at("made"), "x"), 0);
		fputs("eight\n", of.f);
		TM_CHECK_EQ_U64(tm_outfile__commit(&of, 0), 0);
		TM_CHECK(of.ino != 0);
		TM_CHECK_STR(slurp(at("made/x")), "eight\n");
		TM_CHECK_EQ_U64(tm_outfile__openat(&of, "test", fd, at("made"), "a/b"), -EINVAL);
		close(fd);
	}
	TM_CHECK_EQ_U64(tm_outdir__open("test", at("open"), TM_OUTDIR_STRICT, &fd), -EPERM);
	TM_CHECK_EQ_U64(fd, -1);
	TM_CHECK(!chmod(at("open"), 01777));
	TM_CHECK_EQ_U64(tm_outdir__open("test", at("open"), TM_OUTDIR_STRICT, &fd), 0); /* sticky: fine */
	if (fd >= 0)
		close(fd);
	TM_CHECK_EQ_U64(tm_outdir__open("test", at("a"), TM_OUTDIR_CREATE | TM_OUTDIR_STRICT, &fd), -ENOTDIR);
	TM_CHECK_EQ_U64(tm_outdir__open("test", at("no/such"), TM_OUTDIR_CREATE, &fd), -ENOENT);
}

static void test_proc_stat(void)
{
	static const char kthread[] = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0";
	static const char odd[] = "77 (a) b) Z (c) Z 1 77 77 0 -1 4194560 9 0";
	unsigned long flags;
	char state;

	TM_CHECK_EQ_U64(tm_proc__parse_stat(kthread, sizeof(kthread) - 1, &state, &flags), 0);
	TM_CHECK_EQ_U64(state, 'S');
	TM_CHECK_EQ_U64(flags, 2129984);
	TM_CHECK(flags & TM_PF_KTHREAD);
	/* the name may hold ") Z (": the last ')' ends it */
	TM_CHECK_EQ_U64(tm_proc__parse_stat(odd, sizeof(odd) - 1, &state, &flags), 0);
	TM_CHECK_EQ_U64(state, 'Z');
	TM_CHECK_EQ_U64(flags, 4194560);
	TM_CHECK_EQ_U64(tm_proc__parse_stat("1 (x) S 1 2", 11, &state, &flags), -EINVAL);
	TM_CHECK_EQ_U64(tm_proc__parse_stat("1 (x", 4, &state, &flags), -EINVAL);
	TM_CHECK_EQ_U64(tm_proc__parse_stat(")", 1, &state, &flags), -EINVAL);
	TM_CHECK_EQ_U64(tm_proc__stat(getpid(), &state, &flags), 0);
	TM_CHECK(state == 'R' && !(flags & TM_PF_KTHREAD));
}

int main(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "/tmp/tm-outfile-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_files();
	test_dirs();
	test_proc_stat();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	return tm_test_done("test_outfile");
}
