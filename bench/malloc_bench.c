// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * malloc_bench [N [DELAY_MS]]: N malloc(64)/free pairs, timed inside the
 * process: prints ns per pair, of the wall clock (ns_per_pair) and of the
 * thread's CPU time, user and system (cpu_ns_per_pair): a trap's work is the
 * thread's system time, and on a loaded host the CPU time leaves out the
 * waits for a CPU that the wall clock counts. DELAY_MS: sleep first (a
 * daemon places its probes some milliseconds after the exec).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *volatile sink;

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000, i;
	long delay_ms = argc > 2 ? atol(argv[2]) : 0;
	struct timespec a, b, ca, cb, d = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
	double ns, cpu_ns;

	if (delay_ms > 0)
		nanosleep(&d, NULL);
	for (i = 0; i < 1000; i++) {   /* warm the allocator and the probes' maps */
		sink = malloc(64);
		free(sink);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		sink = malloc(64);
		free(sink);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
	ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
	cpu_ns = ((cb.tv_sec - ca.tv_sec) * 1e9 + (cb.tv_nsec - ca.tv_nsec)) / n;
	printf("ns_per_pair %.1f\ncpu_ns_per_pair %.1f\n", ns, cpu_ns);
	return 0;
}
