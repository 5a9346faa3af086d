// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_sample: known totals for the sampling test (--sample-bytes).
 *
 * Each site allocates a known number of blocks of one size; the sites above
 * 10 MB are large enough that an estimate sampled at N = 512 KiB lands
 * within 10% of the truth in every run but about one in 10^5 (at least
 * 1,600 expected sample points each, or blocks so large that every one is
 * recorded; tests/unit/test_sample.c checks the arithmetic).
 * tests/integration/test_sample.py holds the same numbers.
 *
 *   site_small   2,000,000 x 512 B      1,024,000,000 B  freed at once
 *   site_mid        16,000 x 64 KiB     1,048,576,000 B  freed at once
 *   site_big           400 x 1 MiB        419,430,400 B  freed at once
 *   site_peak           40 x 4 MiB        167,772,160 B  all live together: the peak
 *   site_leak            8 x 8 MiB         67,108,864 B  never freed
 *   site_tiny        1,000 x 1 KiB          1,024,000 B  below 10 MB: not asserted
 *
 *   gt_sample [--wait-first] [--wait] [--div D]
 *     --wait-first  before the work, until SIGUSR1 (a daemon places its probes)
 *     --wait        after it, writes "done" on stdout and waits for SIGUSR1
 *     --div D       the four churning sites make 1/D of their blocks (the 6.1
 *                   guest's TCG runs 4 M uprobe hits in minutes, not seconds);
 *                   site_peak and site_leak are unchanged
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static void *volatile sink;

NOINLINE void *site_small(void) { return malloc(512); }
NOINLINE void *site_mid(void) { return malloc(65536); }
NOINLINE void *site_big(void) { return malloc(1 << 20); }
NOINLINE void *site_peak(void) { return malloc(4 << 20); }
NOINLINE void *site_leak(void) { return malloc(8 << 20); }
NOINLINE void *site_tiny(void) { return malloc(1024); }

static void churn(void *(*site)(void), long n)
{
	long i;

	for (i = 0; i < n; i++) {
		void *p = site();

		sink = p;
		free(p);
	}
}

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	static void *peak[40], *leak[8];
	int i, wait = 0, wait_first = 0;
	long div = 1;
	sigset_t usr1, old;

	for (i = 1; i < argc; i++) {
		wait |= !strcmp(argv[i], "--wait");
		wait_first |= !strcmp(argv[i], "--wait-first");
		if (!strcmp(argv[i], "--div") && i + 1 < argc)
			div = atol(argv[++i]);
	}
	if (div < 1)
		return 2;
	/* Blocked until we wait for it, so a signal sent early is not lost. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	signal(SIGUSR1, on_usr1);
	if (wait_first) {
		while (!go)
			sigsuspend(&old);
		go = 0;
	}
	churn(site_small, 2000000 / div);
	churn(site_mid, 16000 / div);
	churn(site_big, 400 / div);
	churn(site_tiny, 1000 / div);
	for (i = 0; i < 40; i++)
		peak[i] = site_peak();
	for (i = 0; i < 40; i++)
		free(peak[i]);
	for (i = 0; i < 8; i++)
		leak[i] = site_leak();
	sink = leak;
	if (wait) {
		if (write(1, "done\n", 5) != 5)
			return 1;
		while (!go)
			sigsuspend(&old);
	}
	return 0;
}
