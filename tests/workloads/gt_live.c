// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_live: a process with a known live heap, for `tidemark top`
 * (tests/integration/test_top.py). No stdio: libc then allocates nothing
 * of its own, so its heap is exactly what it is told to hold.
 *
 *   gt_live MIB   says "ready" (write(2)) and waits. At the first SIGUSR1:
 *                 site_top holds MIB MiB and site_small 512 KiB (both
 *                 touched); at each later SIGUSR1 site_grow holds 1 MiB
 *                 more. It says "held" after each, and runs until killed.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define MIB      (1024ul * 1024)

/* Keep results live so no compiler may drop an allocation. */
static void *volatile sink[1024];

NOINLINE void *site_top(size_t n)
{
	return malloc(n);
}
NOINLINE void *site_small(void)
{
	return malloc(512 * 1024);
}
NOINLINE void *site_grow(void)
{
	return malloc(MIB);
}

static void say(const char *s)
{
	if (write(STDOUT_FILENO, s, strlen(s)) < 0)
		_exit(1);
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1;
	unsigned int round = 0;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	say("ready\n");
	for (;;) {
		if (sigwait(&set, &sig))
			return 1;
		if (round == 0) {
			sink[0] = site_top(mib * MIB);
			sink[1] = site_small();
			memset(sink[0], 1, mib * MIB);
			memset(sink[1], 1, 512 * 1024);
		} else if (round + 1 < sizeof(sink) / sizeof(sink[0])) {
			sink[round + 1] = site_grow();
			memset(sink[round + 1], 1, MIB);
		}
		round++;
		say("held\n");
	}
}
