// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_lite: large allocations that lite mode (syscall tracepoints only) sees,
 * from known functions, for tests/integration/test_unwind.py.
 *
 * glibc serves a malloc above its mmap threshold (128 KiB at start) with a
 * mapping of its own, and grows such a block with mremap. Lite mode sees
 * those syscalls inside libc; the report must name site_big and site_grow,
 * the program's own callers, not libc's sysmalloc.
 *
 *   site_first: malloc(16), the first: glibc's heap grows by brk, 135,168
 *              bytes (the request and M_TOP_PAD's 128 KiB, page-rounded)
 *   site_big:  3 x malloc(1,000,000): each mapped as 1,003,520 bytes
 *              (size + 16 header, page-rounded), all live at the end
 *   site_grow: malloc(300,000) at site_grow_a, then realloc to 2,000,000
 *              at site_grow: an mremap to 2,002,944 bytes, live at the end
 *   --loop N:  N malloc(1 MB)/free pairs at site_loop, nothing else (the bench):
 *              each an mmap and a munmap, the threshold held at 128 KiB
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static void *volatile sink[8];

NOINLINE void *site_first(void)
{
	return malloc(16);
}

NOINLINE void *site_big(void)
{
	return malloc(1000000);
}

NOINLINE void *site_grow_a(void)
{
	return malloc(300000);
}

NOINLINE void *site_grow(void *p)
{
	return realloc(p, 2000000);
}

NOINLINE void site_loop(long n)
{
	for (long i = 0; i < n; i++) {
		sink[7] = malloc(1000000);
		free(sink[7]);
	}
}

int main(int argc, char **argv)
{
	int i;

	if (argc == 3 && !strcmp(argv[1], "--loop")) {
		/* a fixed threshold: a freed block does not raise it, so each pair maps and unmaps */
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
		site_loop(atol(argv[2]));
		return 0;
	}
	sink[4] = site_first();
	for (i = 0; i < 3; i++)
		sink[i] = site_big();
	sink[3] = site_grow(site_grow_a());
	return 0;
}
