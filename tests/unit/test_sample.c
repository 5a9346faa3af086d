// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_sample: byte-weighted sampling runs the BPF side's own integer
 * arithmetic (tidemark_sample.h) on a seeded random source here: the gaps
 * are exponential with mean N, the weights match s / (1 - exp(-s/N)), and
 * the estimates of a known workload are unbiased and as tight as the model
 * says.
 */
#include <math.h>
#include <stdint.h>

#include "tm_test.h"
#include "trace/sample.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* splitmix64: a seeded stand-in for bpf_get_prandom_u32(). */
static __u32 test_rand(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (__u32)((z ^ (z >> 31)) >> 32);
}

#define tm_sample_rand() test_rand()
#include "tidemark_sample.h"

static __u32 q[TM_SAMPLE_Q + 1], g[TM_SAMPLE_G + 1];

static void test_tables(void)
{
	TM_CHECK_EQ_U64(q[TM_SAMPLE_Q], 0);
	TM_CHECK_EQ_U64(q[0], q[1]);
	TM_CHECK(fabs(q[1] / 1048576.0 - log(4096.0)) < 1e-6);
	TM_CHECK_EQ_U64(g[0], 65536);
	TM_CHECK(fabs(g[TM_SAMPLE_G] / 65536.0 - 16.0) < 1e-4);
}

/* Gaps: mean N and the exponential's spread (variance N^2, P(gap > 3N) = e^-3). */
static void test_gap(void)
{
	const __u64 n = 524288;
	const int draws = 2000000;
	double sum = 0, sq = 0, over3 = 0;
	int i;

	for (i = 0; i < draws; i++) {
		double x = (double)tm_sample_gap(q, n) / (double)n;

		sum += x;
		sq += x * x;
		over3 += x > 3.0;
	}
	sum /= draws;
	sq = sq / draws - sum * sum;
	printf("  gap: mean %.5f N, variance %.5f N^2, P(>3N) %.5f (e^-3 = %.5f)\n", sum, sq, over3 / draws,
	       exp(-3.0));
	TM_CHECK(fabs(sum - 1.0) < 0.003);
	TM_CHECK(fabs(sq - 1.0) < 0.01);
	TM_CHECK(fabs(over3 / draws - exp(-3.0)) < 0.001);
}

/* Weights: the table and its interpolation against the formula. */
static void test_weight(void)
{
	static const __u64 ns[] = { 4096, 524288, 1u << 20, 4294967296ULL };
	double worst = 0;
	size_t a;

	for (a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
		__u64 n = ns[a], s;

		for (s = 1; s < 20 * n; s = s * 9 / 8 + 1) {
			double want = (double)s / -expm1(-(double)s / (double)n);
			double got = (double)tm_sample_weight(g, n, s);
			double err = fmax(0, fabs(got - want) - 1) / want;   /* whole bytes: 1 B of rounding */

			if (err > worst) {
				worst = err;
				if (err > 5e-5)
					printf("  weight: N %llu s %llu: %.0f, want %.0f\n", (unsigned long long)n,
					       (unsigned long long)s, got, want);
			}
		}
	}
	printf("  weight: worst relative error %.2e\n", worst);
	TM_CHECK(worst < 5e-5);   /* g in units of 2^-16: 1.5e-5, plus interpolation */
	TM_CHECK_EQ_U64(tm_sample_weight(g, 524288, 16 * 524288), 16 * 524288);
	TM_CHECK_EQ_U64(tm_sample_count(524288, 64), 8192);
	TM_CHECK_EQ_U64(tm_sample_count(100, 200), 1);
	{       /* 8.5 stands for 8 half the time and 9 the other half */
		__u64 sum = 0;
		int i;

		for (i = 0; i < 100000; i++)
			sum += tm_sample_count(17, 2);
		TM_CHECK(fabs(sum / 100000.0 - 8.5) < 0.01);
	}
}

/*
 * One thread's countdown, exactly as alloc_enter() runs it. Returns the
 * weight recorded for an allocation of s bytes, 0 when it is not recorded.
 */
struct thread {
	__s64 left;
	int started;
};

static __u64 sample_one(struct thread *t, __u64 n, __u64 s)
{
	if (!s)
		return 0;
	if (!t->started) {
		t->left = (__s64)tm_sample_gap(q, n);
		t->started = 1;
	}
	t->left -= (__s64)s;
	if (t->left > 0)
		return 0;
	t->left = (__s64)tm_sample_gap(q, n);
	return tm_sample_weight(g, n, s);
}

/*
 * The integration test's workload (tests/workloads/gt_sample.c), sites
 * interleaved in one thread: each site's estimate over many runs is
 * unbiased, and within 10% in every run for the sites above 10 MB.
 */
static void test_workload(void)
{
	static const struct { __u64 size, count; } site[] = {
		{ 512, 2000000 },        /* 1,024,000,000 B */
		{ 65536, 16000 },        /* 1,048,576,000 B */
		{ 1 << 20, 400 },        /*   419,430,400 B */
		{ 4 << 20, 40 },         /*   167,772,160 B */
		{ 1024, 1000 },          /*     1,024,000 B: below 10 MB */
	};
	const int nsites = sizeof(site) / sizeof(site[0]), runs = 40;
	const __u64 n = 524288;
	double mean[8] = { 0 }, worst[8] = { 0 }, cnt[8] = { 0 };
	int r, i;

	for (r = 0; r < runs; r++) {
		struct thread t = { 0 };
		__u64 est[8] = { 0 }, ecnt[8] = { 0 }, left[8];
		int more = 1;

		for (i = 0; i < nsites; i++)
			left[i] = site[i].count;
		while (more) {       /* round robin, one allocation a site: interleaved like the workload's phases */
			more = 0;
			for (i = 0; i < nsites; i++) {
				__u64 w;

				if (!left[i])
					continue;
				left[i]--;
				more = 1;
				w = sample_one(&t, n, site[i].size);
				est[i] += w;
				ecnt[i] += w ? tm_sample_count(w, site[i].size) : 0;
			}
		}
		for (i = 0; i < nsites; i++) {
			double truth = (double)(site[i].size * site[i].count);
			double e = fabs((double)est[i] - truth) / truth;

			mean[i] += (double)est[i] / truth / runs;
			cnt[i] += (double)ecnt[i] / (double)site[i].count / runs;
			if (e > worst[i])
				worst[i] = e;
		}
	}
	for (i = 0; i < nsites; i++) {
		__u64 total = site[i].size * site[i].count;

		printf("  site %7llu B x %7llu: mean estimate %.4f of the truth (count %.4f), worst run off by %.1f%%\n",
		       (unsigned long long)site[i].size, (unsigned long long)site[i].count, mean[i], cnt[i],
		       100 * worst[i]);
		TM_CHECK(fabs(mean[i] - 1.0) < (total > 10000000 ? 0.01 : 0.15));
		TM_CHECK(fabs(cnt[i] - 1.0) < (total > 10000000 ? 0.02 : 0.15));
		if (total > 10000000)
			TM_CHECK(worst[i] < 0.10);
	}
}

int main(void)
{
	tm_sample__fill_tables(q, g);
	test_tables();
	test_gap();
	test_weight();
	test_workload();
	return tm_test_done("test_sample");
}
