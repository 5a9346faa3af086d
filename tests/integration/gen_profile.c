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
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tidemark_common.h"
#include "profile/capture.h"
#include "report/flamegraph.h"
#include "profile/profile.h"

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
	} else {
		fprintf(stderr, "usage: gen_profile stacks N OUT.tdm | gen_profile diff OUT.html\n");
		return 2;
	}
	if (err)
		fprintf(stderr, "gen_profile %s: %s\n", argv[1], strerror(-err));
	return err ? 1 : 0;
}
