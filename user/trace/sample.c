// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sample.c: the quantile and weight tables of tidemark_sample.h, computed
 * once in double precision and stored in the fixed point BPF reads.
 */
#include <math.h>

#include "trace/sample.h"

#include "tidemark_common.h"

void tm_sample__fill_tables(__u32 *q, __u32 *g)
{
	const double qs = (double)(1u << TM_SAMPLE_Q_SHIFT), gs = (double)(1u << TM_SAMPLE_G_SHIFT);
	unsigned int i;

	/* q[0] is the tail's offset, ln(Q) = -ln(1/Q) = q[1]. */
	for (i = 1; i <= TM_SAMPLE_Q; i++)
		q[i] = (__u32)lround(-log((double)i / TM_SAMPLE_Q) * qs);
	q[0] = q[1];
	g[0] = (__u32)gs;   /* the limit at 0 */
	for (i = 1; i <= TM_SAMPLE_G; i++) {
		double x = (double)i * TM_SAMPLE_X_MAX / TM_SAMPLE_G;

		g[i] = (__u32)lround(x / -expm1(-x) * gs);
	}
}
