// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * big_malloc [N [SIZE]]: N malloc(SIZE)/free pairs (SIZE 1,000,000 unless
 * given), timed inside the process in its own CPU time (user and system:
 * the syscalls' tracepoint programs run in the thread's system time), not
 * wall time, which a loaded machine's waits would swamp: prints ns of CPU
 * per pair. glibc's mmap
 * threshold is held at 128 KiB, so each pair is an mmap and a munmap made
 * inside libc: what lite mode sees, and walks out of libc (bench/unwind.sh).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *volatile sink;

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000, i;
	size_t size = argc > 2 ? (size_t)atol(argv[2]) : 1000000;
	struct timespec a, b;

	/* a fixed threshold: a freed block does not raise it, so every pair maps and unmaps */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	for (i = 0; i < 10; i++) { /* warm the allocator and the programs' maps */
		sink = malloc(size);
		free(sink);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	for (i = 0; i < n; i++) {
		sink = malloc(size);
		free(sink);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	printf("ns_per_pair %.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	return 0;
}
