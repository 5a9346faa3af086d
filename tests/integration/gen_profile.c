/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * gen_profile: synthetic profiles for tests/integration/test_flamegraph.py,
 * built in memory with the profile API (no tracing, no root).
 *
 *   gen_profile stacks N OUT.tdm   a capture with N distinct stacks (N <= 10^6):
 *                                  six levels of ten choices make them distinct,
 *                                  0-6 frames from a pool of 2,000 (a third of
 *                                  them Python) make them ragged
 *   gen_profile diff OUT.html      the diff page of a BEFORE/AFTER pair whose
 *                                  changes are known (see diff_side) and whose
 *                                  AFTER has a heap/RSS timeline
 *   gen_profile pair BEFORE.tdm AFTER.tdm
 *                                  that pair as two captures
 *   gen_profile strings OUT.tdm    every field a report prints, filled with what a
 *                                  traced program or a forged capture may hold:
 *                                  control characters, bytes that are not UTF-8,
 *                                  non-ASCII names, quotes, '<', '&', ';', U+2028
 *   gen_profile postmortem IN.tdm DIR
 *                                  the OOM post-mortem of a capture, written into DIR
 *                                  as tidemark run and the daemon write it
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tidemark_common.h"
#include "profile/capture.h"
#include "profile/profile.h"
#include "report/flamegraph.h"
#include "report/postmortem.h"

#define POOL 2000

static uint64_t rng = 88172645463325252ull;

/* xorshift64: the same profile on every run and every machine */
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int frame(struct tm_profile *p, uint32_t kind, const char *fn, const char *file, uint32_t line,
		 const char *module, uint64_t addr)
{
	struct tm_frame f = { kind, line, tm_profile__str(p, fn), tm_profile__str(p, file),
			      tm_profile__str(p, module), addr };

	return tm_profile__add_frame(p, &f);
}

static int gen_stacks(unsigned long n, const char *out)
{
	struct tm_profile *p = tm_profile__new();
	int outer[3], digit[6][10], pool[POOL], i, d, err = -ENOMEM;
	uint32_t st[16];
	char fn[64], file[64];
	unsigned long s;

	if (!p)
		goto out;
	outer[0] = frame(p, TM_FRAME_NATIVE, "_start", NULL, 0, "/usr/bin/synthetic", 0x401000);
	outer[1] = frame(p, TM_FRAME_NATIVE, "__libc_start_call_main", "../sysdeps/nptl/libc_start_call_main.h",
			 58, "/usr/lib/x86_64-linux-gnu/libc.so.6", 0x7f000002724a);
	outer[2] = frame(p, TM_FRAME_NATIVE, "main", "src/main.c", 40, "/usr/bin/synthetic", 0x401100);
	for (i = 0; i < 6; i++) {
		for (d = 0; d < 10; d++) {
			snprintf(fn, sizeof(fn), "layer%d_step%d", i, d);
			snprintf(file, sizeof(file), "src/layer%d.c", i);
			digit[i][d] = frame(p, TM_FRAME_NATIVE, fn, file, (uint32_t)(100 + d),
					    "/usr/bin/synthetic", 0x402000 + 0x100 * (uint64_t)(i * 10 + d));
		}
	}
	for (i = 0; i < POOL; i++) {
		int py = i % 3 == 0;

		snprintf(fn, sizeof(fn), py ? "handler_%d" : "helper_%d", i);
		snprintf(file, sizeof(file), py ? "app/mod%d.py" : "src/helpers%d.c", i / 50);
		pool[i] = frame(p, py ? TM_FRAME_PYTHON : TM_FRAME_NATIVE, fn, file, (uint32_t)(10 + i % 50),
				py ? NULL : "/usr/bin/synthetic", 0x500000 + 0x40 * (uint64_t)i);
	}
	for (i = 0; i < 3; i++) {
		if (outer[i] < 0) {
			err = outer[i];
			goto out;
		}
	}
	for (s = 0; s < n; s++) {
		struct tm_site site = { .frames = st, .kind = TM_KIND_MALLOC };
		unsigned long v = s;
		int k = 0, extra = (int)(next() % 7);
		uint64_t bytes = 16 + next() % 65536;

		/* innermost first: the ragged tail, six digits, then main and its callers */
		for (i = 0; i < extra; i++)
			st[k++] = (uint32_t)pool[next() % POOL];
		for (i = 5; i >= 0; i--) {
			st[k++] = (uint32_t)digit[i][v % 10];
			v /= 10;
		}
		for (i = 2; i >= 0; i--)
			st[k++] = (uint32_t)outer[i];
		site.nframes = (uint32_t)k;
		site.peak_bytes = (int64_t)bytes;
		site.peak_count = 1;
		site.live_bytes = s % 4 ? 0 : (int64_t)bytes / 2;
		site.live_count = s % 4 ? 0 : 1;
		site.alloc_bytes = bytes * 3;
		site.alloc_count = 3;
		site.free_bytes = site.alloc_bytes - (uint64_t)site.live_bytes;
		site.free_count = site.alloc_count - (uint64_t)site.live_count;
		site.temp_bytes = bytes;
		site.temp_count = 1;
		err = tm_profile__add_site(p, &site);
		if (err < 0)
			goto out;
		p->peak_bytes += bytes;
		p->live_bytes_end += site.live_bytes;
		p->alloc_bytes += site.alloc_bytes;
		p->alloc_count += site.alloc_count;
		p->free_count += site.free_count;
	}
	p->pid = 4242;
	p->command = tm_profile__str(p, "synthetic --stacks");
	p->has_exit_code = 1;
	p->start_time_ns = 1000000000;
	p->end_time_ns = 3500000000;
	p->peak_time_ns = 1700000000;
	err = tm_capture__write(p, out);
out:
	tm_profile__free(p);
	return err < 0 ? err : 0;
}

/*
 * BEFORE and AFTER as two builds of one program (every address differs):
 *
 *   stack                         before      after     change
 *   main > parse > alloc_buf     300,000    900,000   +600,000  (the largest growth)
 *   main > parse > read_file     200,000    200,000          0
 *   main > render > draw         500,000    150,000   -350,000  (the largest shrink)
 *   main > new_feature > compute       0    250,000   +250,000
 *   main > cache_put             100,000          0   -100,000
 */
static struct tm_profile *diff_side(int after)
{
	static const char *const fns[] = { "main", "parse", "alloc_buf", "read_file", "render", "draw",
					   "new_feature", "compute", "cache_put" };
	static const struct { int f[3]; int64_t b[2]; } sites[] = {
		{ { 2, 1, 0 }, { 300000, 900000 } },
		{ { 3, 1, 0 }, { 200000, 200000 } },
		{ { 5, 4, 0 }, { 500000, 150000 } },
		{ { 7, 6, 0 }, { 0, 250000 } },
		{ { 8, 0, -1 }, { 100000, 0 } },
	};
	struct tm_profile *p = tm_profile__new();
	uint64_t base = after ? 0x55d0c0de1000ull : 0x5612ab001000ull;
	int idx[9];
	size_t i, j;

	if (!p)
		return NULL;
	for (i = 0; i < 9; i++) {
		idx[i] = frame(p, TM_FRAME_NATIVE, fns[i], "src/app.c", (uint32_t)(10 * i + 5),
			       "/opt/app/bin/app", base + 0x80 * i);
		if (idx[i] < 0)
			goto err;
	}
	for (i = 0; i < sizeof(sites) / sizeof(sites[0]); i++) {
		uint32_t st[3];
		struct tm_site s = { .frames = st, .kind = TM_KIND_MALLOC };
		int64_t b = sites[i].b[after];

		for (j = 0; j < 3 && sites[i].f[j] >= 0; j++)
			st[j] = (uint32_t)idx[sites[i].f[j]];
		s.nframes = (uint32_t)j;
		s.peak_bytes = s.live_bytes = b;
		s.peak_count = s.live_count = b ? 1 : 0;
		s.alloc_bytes = (uint64_t)b * 2;
		s.alloc_count = b ? 2 : 0;
		if (b && tm_profile__add_site(p, &s) < 0)
			goto err;
		p->peak_bytes += (uint64_t)b;
		p->alloc_bytes += s.alloc_bytes;
		p->alloc_count += s.alloc_count;
	}
	/* A timeline: the heap climbs to the peak at 1.2 s, then falls back; RSS follows above it. */
	for (i = 0; after && i <= 200; i++) {
		uint64_t t = i * 10000000ull;
		double x = t < 1200000000ull ? t / 1.2e9 : 1.0 - (t - 1.2e9) / 0.8e9 * 0.6;
		struct tm_sample smp = { t, (int64_t)(x * (double)p->peak_bytes),
					 (uint64_t)(6000000 + x * 1.1 * (double)p->peak_bytes) };

		if (i == 120)
			smp.heap_bytes = (int64_t)p->peak_bytes;
		if (tm_profile__add_sample(p, &smp))
			goto err;
	}
	p->pid = after ? 2002 : 1001;
	p->command = tm_profile__str(p, after ? "/opt/app/bin/app --input big.dat (v2)" :
					      "/opt/app/bin/app --input big.dat (v1)");
	p->has_exit_code = 1;
	p->start_time_ns = 1000000000;
	p->end_time_ns = 3000000000;
	p->peak_time_ns = 1200000000;
	p->live_bytes_end = (int64_t)p->peak_bytes;
	if (after)
		tm_profile__set_counter(p, 1, "stack_unreadable", 2);
	return p;
err:
	tm_profile__free(p);
	return NULL;
}

static int gen_diff(const char *path)
{
	struct tm_profile *before = diff_side(0), *after = diff_side(1);
	FILE *out = NULL;
	int err = -ENOMEM;

	if (!before || !after)
		goto out;
	out = fopen(path, "w");
	if (!out) {
		err = -errno;
		goto out;
	}
	err = tm_flamegraph__write_diff(before, after, out, NULL);
out:
	if (out && fclose(out) && !err)
		err = -EIO;
	tm_profile__free(before);
	tm_profile__free(after);
	return err;
}

static int gen_pair(const char *before_path, const char *after_path)
{
	struct tm_profile *before = diff_side(0), *after = diff_side(1);
	int err = -ENOMEM;

	if (before && after)
		err = tm_capture__write(before, before_path);
	if (!err)
		err = tm_capture__write(after, after_path);
	tm_profile__free(before);
	tm_profile__free(after);
	return err;
}

/* Hostile strings in every field a report prints: see the usage above. */
static int gen_strings(const char *out)
{
	static const struct {
		uint32_t kind, line;
		const char *fn, *file, *module;
		uint64_t addr;
	} fr[] = {
		{ TM_FRAME_NATIVE, 12, "alloc\x01\x1b[31m<red>", "src/\xc3\xa9t\xc3\xa9.c",
		  "/usr/lib/libz\xff\xfe.so.1", 0x7f0000001000 },
		{ TM_FRAME_NATIVE, 0, "std::vector<int>::push_back&\"q\"", NULL,
		  "/opt/app/lib/libapp.so", 0x7f0000002000 },
		{ TM_FRAME_NATIVE, 0, NULL, NULL, "/opt/app/bin/app", 0x401234 },
		{ TM_FRAME_NATIVE, 0, NULL, NULL, NULL, 0xdeadbeef },
		{ TM_FRAME_PYTHON, 7, "handler_\xc3\xb1\xe2\x80\xa8sep", "app/<string>\t;x.py",
		  NULL, 0x7f1000000000 },
		{ TM_FRAME_PYTHON, 0, "\xe6\x97\xa5\xe6\x9c\xac\x7f\x08\x0c", "\\back\\slash\n.py",
		  NULL, 0 },
		{ TM_FRAME_NATIVE, 40, "main", "src/main.c", "/opt/app/bin/app", 0x401100 },
		{ TM_FRAME_NATIVE, 3, "\xed\xa0\x80surrogate\xc0\xafoverlong\xf4\x90toobig",
		  "</script><!--", "/opt/app/bin/app", 0x401200 },
	};
	static const struct {
		int frames[6];
		uint32_t flags, kind;
		int64_t peak, live;
		uint64_t alloc, temp;
	} st[] = {
		{ { 0, 4, 6, -1 }, 0, TM_KIND_MALLOC, 4096, 4096, 16384, 0 },
		{ { 1, 5, 6, -1 }, 0, TM_KIND_CALLOC, 65536, 0, 131072, 65536 },
		{ { 2, 3, -1 }, TM_STACK_NATIVE_TRUNCATED, TM_KIND_MMAP, 1048576, 1048576, 1048576, 0 },
		{ { 7, 4, 6, -1 }, TM_STACK_PY_TRUNCATED, TM_KIND_REALLOC, 300, -20, 900, 100 },
		{ { 0, 4, 6, -1 }, 0, TM_KIND_MALLOC, 100, 50, 200, 0 },   /* the same stack again */
		{ { 4, 5, -1 }, 0, TM_KIND_MALLOC, 0, 0, 0, 0 },          /* scores nowhere */
	};
	struct tm_profile *p = tm_profile__new();
	int idx[sizeof(fr) / sizeof(fr[0])], err = -ENOMEM;
	size_t i, j;

	if (!p)
		goto out;
	for (i = 0; i < sizeof(fr) / sizeof(fr[0]); i++) {
		idx[i] = frame(p, fr[i].kind, fr[i].fn, fr[i].file, fr[i].line, fr[i].module, fr[i].addr);
		if (idx[i] < 0) {
			err = idx[i];
			goto out;
		}
	}
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		uint32_t f[6];
		struct tm_site s = { .frames = f, .kind = st[i].kind, .flags = st[i].flags };

		for (j = 0; j < 6 && st[i].frames[j] >= 0; j++)
			f[j] = (uint32_t)idx[st[i].frames[j]];
		s.nframes = (uint32_t)j;
		s.peak_bytes = st[i].peak;
		s.peak_count = st[i].peak ? 2 : 0;
		s.live_bytes = st[i].live;
		s.live_count = st[i].live ? 1 : 0;
		s.alloc_bytes = st[i].alloc;
		s.alloc_count = st[i].alloc ? 4 : 0;
		s.free_bytes = st[i].alloc - (uint64_t)(st[i].live > 0 ? st[i].live : 0);
		s.free_count = st[i].alloc ? 3 : 0;
		s.temp_bytes = st[i].temp;
		s.temp_count = st[i].temp ? 1 : 0;
		err = tm_profile__add_site(p, &s);
		if (err < 0)
			goto out;
		p->peak_bytes += (uint64_t)(st[i].peak > 0 ? st[i].peak : 0);
		p->live_bytes_end += st[i].live;
		p->alloc_bytes += st[i].alloc;
		p->alloc_count += s.alloc_count;
		p->free_count += s.free_count;
	}
	for (i = 0; i < 5; i++) {
		struct tm_sample smp = { i * 250000000ull, (int64_t)(i * 200000), 4000000 + i * 300000 };

		err = tm_profile__add_sample(p, &smp);
		if (err)
			goto out;
	}
	p->size_hist[4].count = 7;
	p->size_hist[4].bytes = 7 * 20;
	p->size_hist[12].count = 3;
	p->size_hist[12].bytes = 3 * 5000;
	p->size_hist[20].count = 1;
	p->size_hist[20].bytes = 1048576;
	err = tm_profile__set_counter(p, 1, "map_full\x1b]0;title\x07", 3);
	err = err ?: tm_profile__set_counter(p, 1, "stack_unreadable", 2);
	err = err ?: tm_profile__set_counter(p, 0, "probe_\xff_hits", 12345);
	if (err)
		goto out;
	p->pid = 31337;
	p->command = tm_profile__str(p, "app\x1b[2J \xe2\x80\xa8 <b>&amp; \"quoted\" \\ \xff\xc3 \xc3\xa9t\xc3\xa9 \xf0\x9f\x90\x8d\tend");
	p->has_signal = 1;
	p->signal = 9;
	p->start_time_ns = 5000000000;
	p->end_time_ns = 6250000000;
	p->peak_time_ns = 750000000;
	p->cgroup = tm_profile__str(p, "/kubepods/pod\x01\xc3\xa9\xff/app");
	p->sample_bytes = 524288;
	p->oom.killed = 1;
	p->oom.time_ns = 1200000000;
	p->oom.rss_anon = 900000000;
	p->oom.rss_file = 20000000;
	p->oom.rss_shmem = 4096;
	p->oom.cgroup = tm_profile__str(p, "/kubepods/pod\n</script>");
	p->oom.cgroup_limit = 1073741824;
	p->oom.cgroup_usage = 1073700000;
	err = tm_capture__write(p, out);
out:
	tm_profile__free(p);
	return err < 0 ? err : 0;
}

static int gen_postmortem(const char *in, const char *dir)
{
	struct tm_profile *p = NULL;
	char why[512], base[4096];
	int dirfd, err;

	err = tm_capture__read(in, &p, why, sizeof(why));
	if (err) {
		fprintf(stderr, "%s\n", why);
		return err;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		err = -errno;
		fprintf(stderr, "%s: %s\n", dir, strerror(-err));
		tm_profile__free(p);
		return err;
	}
	err = tm_postmortem__write(dirfd, dir, p, base, sizeof(base));
	if (!err)
		printf("%s\n", base);
	close(dirfd);
	tm_profile__free(p);
	return err;
}

int main(int argc, char **argv)
{
	unsigned long n;
	char *end;
	int err;

	if (argc == 4 && !strcmp(argv[1], "stacks")) {
		n = strtoul(argv[2], &end, 10);
		if (*end || !n || n > 1000000) {
			fprintf(stderr, "gen_profile: N is 1 to 1000000, not '%s'\n", argv[2]);
			return 2;
		}
		err = gen_stacks(n, argv[3]);
	} else if (argc == 3 && !strcmp(argv[1], "diff")) {
		err = gen_diff(argv[2]);
	} else if (argc == 4 && !strcmp(argv[1], "pair")) {
		err = gen_pair(argv[2], argv[3]);
	} else if (argc == 3 && !strcmp(argv[1], "strings")) {
		err = gen_strings(argv[2]);
	} else if (argc == 4 && !strcmp(argv[1], "postmortem")) {
		err = gen_postmortem(argv[2], argv[3]);
	} else {
		fprintf(stderr, "usage: gen_profile stacks N OUT.tdm | gen_profile diff OUT.html |\n"
			"       gen_profile pair BEFORE.tdm AFTER.tdm | gen_profile strings OUT.tdm |\n"
			"       gen_profile postmortem IN.tdm DIR\n");
		return 2;
	}
	if (err)
		fprintf(stderr, "gen_profile %s: %s\n", argv[1], strerror(-err));
	return err ? 1 : 0;
}
