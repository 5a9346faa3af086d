/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tidemark_sample.h: byte-weighted sampling (--sample-bytes N), the
 * integer arithmetic both sides run. BPF decides and weighs each
 * allocation with it; the unit tests run the very same code in user space
 * to check that the estimates are unbiased.
 *
 * The model. Sample points fall on each thread's stream of allocated bytes
 * as a Poisson process with one point per N bytes on average. An
 * allocation of s bytes is recorded when a point falls inside it, which
 * happens with probability p(s) = 1 - exp(-s/N), independently of every
 * other allocation (disjoint intervals of a Poisson process). A recorded
 * allocation stands for s / p(s) bytes and 1 / p(s) allocations, so every
 * sum of them is an unbiased estimate of the true sum. Blocks of 16 N and
 * more are recorded with p > 1 - 1e-7: for them the estimate is exact.
 *
 * The cost. Each thread keeps the bytes left to its next point; an
 * allocation subtracts its size and, unless it crosses the point, is done:
 * no stack walk, no map update. Only a recorded allocation draws the next
 * gap (memorylessness: the distance from its end to the next point is
 * again exponential) and computes its weight, from two tables user space
 * fills before load (tm_sample__fill_tables in user/trace/sample.c):
 *
 *   q[j] = -ln(j / Q) for j = 1..Q, q[0] = ln(Q)    (Exp(1) quantiles)
 *   g[i] = x / (1 - exp(-x)) at x = i / 64, i = 0..G  (weight per N)
 *
 * Define tm_sample_rand() (32 random bits) before including this.
 */
#ifndef TIDEMARK_SAMPLE_H
#define TIDEMARK_SAMPLE_H

#include "tidemark_common.h"   /* the TM_SAMPLE_* constants */

/*
 * Bytes from here to the next sample point: N * Exp(1), by linear
 * interpolation between the quantiles (12 bits pick the step, 20 the
 * place in it). The first step, u < 1/Q, is the exponential's tail:
 * memoryless, so ln(Q) plus a fresh draw.
 */
static inline __u64 tm_sample_gap(const volatile __u32 *q, __u64 n)
{
	__u64 x = 0;
	__u32 r, j, frac, a, b;
	int k;

	for (k = 0; k < TM_SAMPLE_TAIL_MAX; k++) {
		r = tm_sample_rand();
		j = r & (TM_SAMPLE_Q - 1);
		frac = r >> TM_SAMPLE_Q_BITS;
		if (j) {
			j &= TM_SAMPLE_Q - 1;   /* bounds the reads for the verifier: q has Q + 1 entries */
			a = q[j];
			b = q[j + 1];
			x += a - (((__u64)(a - b) * frac) >> (32 - TM_SAMPLE_Q_BITS));
			break;
		}
		x += q[0];
	}
	return (n * x) >> TM_SAMPLE_Q_SHIFT;
}

/* The bytes a recorded allocation of s > 0 bytes stands for: s / (1 - exp(-s/N)). */
static inline __u64 tm_sample_weight(const volatile __u32 *g, __u64 n, __u64 s)
{
	__u64 x, gv;
	__u32 i, frac, a, b;

	if (s >= TM_SAMPLE_X_MAX * n)
		return s;
	x = (s << TM_SAMPLE_G_SHIFT) / n;          /* s/N in units of 2^-16, < 2^20 */
	i = (__u32)(x >> 10) & (TM_SAMPLE_G - 1);   /* steps of 1/64 */
	frac = (__u32)x & 1023;
	a = g[i];
	b = g[i + 1];                               /* g has G + 1 entries */
	gv = a + (((__u64)(b - a) * frac) >> 10);   /* g is increasing */
	x = (n * gv) >> TM_SAMPLE_G_SHIFT;
	return x > s ? x : s;
}

/*
 * The allocations it stands for, 1 / p(s) = weight / s, rounded up or down
 * at random in proportion so that the count stays unbiased (rounding to
 * nearest would make 64 KiB blocks at N = 512 KiB, 8.5 each, count as 9).
 */
static inline __u64 tm_sample_count(__u64 weight, __u64 s)
{
	__u64 c = weight / s, rem = weight - c * s;

	if (rem && s < (1ULL << 32) && (((__u64)tm_sample_rand() * s) >> 32) < rem)
		c++;
	return c ? c : 1;
}

#endif /* TIDEMARK_SAMPLE_H */
