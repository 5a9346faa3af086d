// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * calib.c: what one probe hit costs here, measured as bench/empty_probe
 * measures the floor. A child of ours runs ROUNDS rounds of N
 * malloc(64)/free pairs, once bare and once with empty programs where
 * tidemark probes (malloc's entry and return, free after its NULL test:
 * three hits a pair); the difference of the median rounds over 3N is the
 * cost of a hit, trap and empty program, as this kernel and CPU make it
 * (0.5 us emulated on one host, 5-10 us on a VM: it must be measured).
 *
 * Kept in $XDG_CACHE_HOME/tidemark/trap-cost (else /var/cache/tidemark),
 * written through util/outfile.c, valid for the boot it was measured in:
 * a new kernel, microcode or mitigation setting comes with a reboot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "calib.skel.h"
#include "target/elf.h"
#include "target/maps.h"
#include "trace/calib.h"
#include "trace/probe_site.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/outfile.h"

#define CALIB_PAIRS  5000
#define CALIB_ROUNDS 5
#define CALIB_FILE   "trap-cost"

/* Through pointers the compiler cannot see through: every pair is made. */
static void *(*volatile calib_malloc)(size_t) = malloc;
static void (*volatile calib_free)(void *) = free;

/* The child: wait for 'g' on @go, then send each round's nanoseconds on @res. */
static void __attribute__((noreturn)) child_loop(int go, int res)
{
	uint64_t t0, ns;
	char c;
	int r, i;

	if (read(go, &c, 1) != 1)
		_exit(1);
	for (r = 0; r < CALIB_ROUNDS; r++) {
		t0 = tm_now_ns();
		for (i = 0; i < CALIB_PAIRS; i++)
			calib_free(calib_malloc(64));
		ns = tm_now_ns() - t0;
		if (write(res, &ns, sizeof(ns)) != sizeof(ns))
			_exit(1);
	}
	_exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Where tidemark probes glibc's malloc and free, in the libc we run with. */
struct sites {
	char libc[4096];
	uint64_t malloc_off, free_off;
};

static int find_sites(struct sites *s)
{
	struct tm_maps self = { 0 };
	struct tm_probe_site site;
	uint64_t vaddr, size;
	uint8_t code[16];
	int err;

	err = tm_maps__read(getpid(), &self);
	self.pid = 0; /* the path as mapped, not through /proc/PID/root */
	err = err ?: tm_maps__find_module(&self, "libc.so.6", s->libc, sizeof(s->libc));
	tm_maps__free(&self);
	err = err ?: tm_elf__find_symbol(s->libc, "malloc", &s->malloc_off, &vaddr, &size);
	err = err ?: tm_elf__find_symbol(s->libc, "free", &s->free_off, &vaddr, &size);
	err = err ?: tm_elf__read_code(s->libc, s->free_off, code, sizeof(code));
	if (err)
		return err;
	tm_probe_site__choose(code, sizeof(code), TM_SITE_AFTER_NULL_TEST, &site);
	s->free_off += site.offset;
	return 0;
}

/* One child's median round in *ns, with the empty programs on it (skel) or bare (NULL). */
static int run_child(struct calib_bpf *skel, const struct sites *s, uint64_t *ns)
{
	struct bpf_link *links[3] = { 0 };
	uint64_t rounds[CALIB_ROUNDS];
	int go[2], res[2], err = 0, i;
	pid_t pid;

	if (pipe2(go, O_CLOEXEC))
		return -errno;
	if (pipe2(res, O_CLOEXEC)) {
		err = -errno;
		close(go[0]);
		close(go[1]);
		return err;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out;
	}
	if (!pid) {
		close(go[1]);
		close(res[0]);
		child_loop(go[0], res[1]);
	}
	if (skel) {
		LIBBPF_OPTS(bpf_uprobe_opts, e);
		LIBBPF_OPTS(bpf_uprobe_opts, r, .retprobe = true);

		links[0] = bpf_program__attach_uprobe_opts(skel->progs.empty_enter, pid, s->libc, s->malloc_off, &e);
		links[1] = bpf_program__attach_uprobe_opts(skel->progs.empty_exit, pid, s->libc, s->malloc_off, &r);
		links[2] = bpf_program__attach_uprobe_opts(skel->progs.empty_enter, pid, s->libc, s->free_off, &e);
		if (!links[0] || !links[1] || !links[2])
			err = -errno ?: -EINVAL;
	}
	/* no 'g' (EOF): the child exits without measuring */
	if (!err && write(go[1], "g", 1) != 1)
		err = -errno;
	close(go[1]);
	go[1] = -1;
	close(res[1]);
	res[1] = -1;
	for (i = 0; !err && i < CALIB_ROUNDS; i++)
		if (read(res[0], &rounds[i], sizeof(rounds[i])) != sizeof(rounds[i]))
			err = -EIO;
	waitpid(pid, NULL, 0);
	if (!err) {
		qsort(rounds, CALIB_ROUNDS, sizeof(rounds[0]), cmp_u64);
		*ns = rounds[CALIB_ROUNDS / 2];
	}
out:
	for (i = 0; i < 3; i++)
		bpf_link__destroy(links[i]);
	for (i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (res[i] >= 0)
			close(res[i]);
	}
	return err;
}

static int measure(double *hit_ns)
{
	struct calib_bpf *skel;
	uint64_t bare, probed;
	struct sites s;
	int err;

	err = find_sites(&s);
	if (err)
		return err;
	skel = calib_bpf__open_and_load();
	if (!skel)
		return -errno ?: -EINVAL;
	err = run_child(NULL, &s, &bare);
	err = err ?: run_child(skel, &s, &probed);
	calib_bpf__destroy(skel);
	if (err)
		return err;
	*hit_ns = probed > bare ? (double)(probed - bare) / (3.0 * CALIB_PAIRS) : 0;
	return 0;
}

static int read_boot_id(char *buf, size_t len)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* The cache's directory: $XDG_CACHE_HOME/tidemark when that is absolute, else /var/cache/tidemark. */
static void cache_dir(char *path, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME");

	if (xdg && *xdg == '/')
		snprintf(path, len, "%s/tidemark", xdg);
	else
		snprintf(path, len, "/var/cache/tidemark");
}

void tm_calib__cache_path(char *path, size_t len)
{
	char dir[4096];

	cache_dir(dir, sizeof(dir));
	snprintf(path, len, "%s/" CALIB_FILE, dir);
}

static int open_cache_dir(int *dirfd)
{
	char path[4096];

	cache_dir(path, sizeof(path));
	return tm_outdir__open("tidemark: trap-cost cache", path, TM_OUTDIR_CREATE | TM_OUTDIR_STRICT, dirfd);
}

/* The cached value when it is this boot's: 0, or -ENOENT. */
static int cache_read(int dirfd, const char *boot, double *ns)
{
	char buf[256], id[64];
	struct stat st;
	ssize_t n;
	int fd, err = -ENOENT;

	fd = openat(dirfd, CALIB_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && tm_outfile__trusted_uid(st.st_uid)) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = 0;
			if (sscanf(buf, "boot_id %63s hit_ns %lf", id, ns) == 2 && !strcmp(id, boot) && *ns >= 0 &&
			    *ns < 1e6)
				err = 0;
		}
	}
	close(fd);
	return err;
}

int tm_calib__hit_ns(double *ns, int *measured, int fresh)
{
	struct tm_outfile of = { 0 };
	int dirfd = -1, err;
	char boot[64];

	*measured = 0;
	err = read_boot_id(boot, sizeof(boot));
	if (!err && !open_cache_dir(&dirfd) && !fresh && !cache_read(dirfd, boot, ns)) {
		close(dirfd);
		return 0;
	}
	if (err)
		snprintf(boot, sizeof(boot), "unknown");
	err = measure(ns);
	if (err) {
		pr_debug("tidemark: measuring what a probe hit costs failed: %s\n", strerror(-err));
		goto out;
	}
	*measured = 1;
	pr_debug("tidemark: a probe hit costs %.0f ns on this host (measured now; kept for this boot)\n", *ns);
	if (dirfd >= 0 && strcmp(boot, "unknown") &&
	    !tm_outfile__openat(&of, "tidemark: trap-cost cache", dirfd, "trap-cost cache", CALIB_FILE)) {
		fprintf(of.f, "boot_id %s hit_ns %.1f\n", boot, *ns);
		tm_outfile__commit(&of, 0);
	}
out:
	if (dirfd >= 0)
		close(dirfd);
	return err;
}
