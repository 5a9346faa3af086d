// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_stacks N: N distinct allocation stacks (N <= 100000, default 75000),
 * one malloc each, for the time it takes to build a profile after exit.
 *
 * Allocation c (0 <= c < N) is made through five calls, one per decimal
 * digit of c from the most significant: d0..d9 each calls the function of
 * the next digit through a table, and the last calls site_leaf(). The chain
 * of functions names c, so every allocation has a stack of its own:
 *   main -> d<c/10000%10> -> d<c/1000%10> -> ... -> d<c%10> -> site_leaf.
 * site_leaf(c) mallocs 16 + c % 1000 bytes; the block of every c with
 * c % 3 == 0 is freed, the others are live at exit.
 * tests/integration/test_exitfast.py asserts every stack's numbers.
 */
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))
#define DEPTH    5

static void *volatile sink;

static NOINLINE void site_leaf(long c)
{
	sink = malloc(16 + c % 1000);
	if (c % 3 == 0)
		free(sink);
}

typedef void (*step_fn)(int d, long c);
static const step_fn steps[10];

/* the digit of c for level d (0: the most significant of DEPTH) */
static int digit(int d, long c)
{
	for (; d < DEPTH - 1; d++)
		c /= 10;
	return (int)(c % 10);
}

/* level d's function is d<digit>: it goes one level down, or to the site at the bottom */
#define STEP(k) \
	static NOINLINE void d##k(int d, long c) \
	{ \
		if (d == DEPTH - 1) \
			site_leaf(c); \
		else \
			steps[digit(d + 1, c)](d + 1, c); \
	}
STEP(0)
STEP(1)
STEP(2)
STEP(3)
STEP(4)
STEP(5)
STEP(6)
STEP(7)
STEP(8)
STEP(9)

static const step_fn steps[10] = { d0, d1, d2, d3, d4, d5, d6, d7, d8, d9 };

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 75000, c;

	if (n < 0 || n > 100000)
		return 2;
	for (c = 0; c < n; c++)
		steps[digit(0, c)](0, c);
	return 0;
}
