// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_pairs N: exactly N malloc(64)/free pairs at site_pair, and nothing
 * else of its own (no stdio: libc then allocates nothing). Traced in exact
 * mode each pair is three probe hits: malloc's entry and return and free's
 * entry; tests/integration/test_modes.py asserts the cost summary's count.
 */
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

static void *volatile sink;

static NOINLINE void site_pair(void)
{
	sink = malloc(64);
	free(sink);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000, i;

	for (i = 0; i < n; i++)
		site_pair();
	return 0;
}
