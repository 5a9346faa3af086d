// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * churn_c SITE [--wait]: holds 6 MB (big enough for malloc to mmap it, so the
 * daemon's lite mode sees it) from site_one, site_two or site_three, then exits,
 * or with --wait says "ready" and exits when stdin closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile keep;

__attribute__((noinline)) void *site_one(void) { return malloc(6u << 20); }
__attribute__((noinline)) void *site_two(void) { return malloc(6u << 20); }
__attribute__((noinline)) void *site_three(void) { return malloc(6u << 20); }

int main(int argc, char **argv)
{
	int site = argc > 1 ? atoi(argv[1]) : 1;
	char buf[16];

	keep = site == 1 ? site_one() : site == 2 ? site_two() : site_three();
	memset(keep, 1, 6u << 20);
	if (argc > 2 && !strcmp(argv[2], "--wait")) {
		printf("ready\n");
		fflush(stdout);
		while (fgets(buf, sizeof(buf), stdin))
			;
	}
	return 0;
}
