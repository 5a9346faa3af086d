// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_alloc: a workload whose allocations are known to the byte.
 *
 * Every call site is its own noinline function (site_*), so a report's
 * innermost frame names it. tests/integration/test_core.py holds the same
 * numbers and asserts them. No stdio: libc then allocates nothing of its own.
 *
 *   gt_alloc [--wait | --busy-wait] [--grow-peak] [--wait-end]
 *     --wait: start allocating at SIGUSR1; --busy-wait: the same, but until then
 *     a malloc(64)/free pair at site_busy every ~50 us (a target busy while
 *     tidemark attaches, leaving the CPU to the kernel placing the probes);
 *     --grow-peak: site_peak 2 MB;
 *     --wait-end: at the end, say "end" on stdout (a write(2), no stdio) and
 *     stay alive until another SIGUSR1, to be reported on while alive.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* Keep results live so no compiler may drop a malloc/free pair. */
static void *volatile sink;

NOINLINE void *site_malloc(void) { return malloc(1000); }
NOINLINE void *site_calloc(void) { return calloc(10, 300); }
NOINLINE void *site_grow_a(void) { return malloc(500); }
NOINLINE void *site_grow_b(void *p) { return realloc(p, 5000); }
NOINLINE void *site_shrink_a(void) { return malloc(8000); }
NOINLINE void *site_shrink_b(void *p) { return realloc(p, 2000); }
NOINLINE void *site_zero_a(void) { return malloc(700); }
NOINLINE void *site_zero_b(void *p) { return realloc(p, 0); }
NOINLINE void *site_realloc_null(void) { return realloc(NULL, 600); }
NOINLINE void *site_reallocarray(void) { return reallocarray(NULL, 10, 100); }
NOINLINE void *site_posix_memalign(void)
{
	void *p = NULL;

	if (posix_memalign(&p, 64, 4096))
		return NULL;
	return p;
}
NOINLINE void *site_aligned_alloc(void) { return aligned_alloc(256, 2048); }
NOINLINE void *site_memalign(void) { return memalign(128, 1536); }
NOINLINE void *site_valloc(void) { return valloc(3000); }
#ifdef __GLIBC__
NOINLINE void *site_pvalloc(void) { return pvalloc(5000); }
#else
/* musl has no pvalloc: the same page, so the known numbers hold for every libc */
NOINLINE void *site_pvalloc(void)
{
	return valloc(8192);
}
#endif
NOINLINE void *site_mmap(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}
NOINLINE void *site_mmap_whole(void) { return site_mmap(8192); }
NOINLINE void *site_leak(void) { return malloc(100); }
NOINLINE void *site_peak(size_t n) { return malloc(n); }
NOINLINE void *site_churn(void) { return malloc(64); }
NOINLINE void *site_thread(void) { return malloc(10000); }
NOINLINE void *site_child(void) { return malloc(5000000); }
NOINLINE void *site_busy(void) { return malloc(64); }

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static pthread_barrier_t barrier;

static void *thread_main(void *arg)
{
	void *blocks[10];
	int i;

	(void)arg;
	pthread_barrier_wait(&barrier);     /* all four allocate at once */
	for (i = 0; i < 10; i++)
		blocks[i] = site_thread();
	for (i = 0; i < 5; i++)
		free(blocks[i]);
	sink = blocks[9];
	return NULL;
}

int main(int argc, char **argv)
{
	static void *leaks[1000];
	pthread_t th[4];
	char *m;
	size_t peak = 1000000;
	int i, status, wait_start = 0, busy = 0, wait_end = 0;
	sigset_t usr1;
	void *p;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--grow-peak"))
			peak = 2000000;
		if (!strcmp(argv[i], "--wait-end"))
			wait_end = 1;
		if (!strcmp(argv[i], "--wait"))
			wait_start = 1;
		if (!strcmp(argv[i], "--busy-wait"))
			busy = 1;
	}
	if (busy) {
		struct sigaction sa = { .sa_handler = on_usr1 };

		sigaction(SIGUSR1, &sa, NULL);
		while (!go) {
			struct timespec ts = { 0, 20000 };

			p = site_busy();
			free(p);
			nanosleep(&ts, NULL);
		}
	}
	/* Before the threads: they inherit the mask, so the second SIGUSR1 waits for sigwait. */
	if (wait_end)
		sigprocmask(SIG_BLOCK, &usr1, NULL);
	if (wait_start) {
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		sigwait(&set, &sig);
	}

	/* kept to the end: 60,144 bytes in 13 blocks and 2 mappings */
	sink = site_malloc();                          /* 1000 */
	sink = site_calloc();                          /* 3000 */
	sink = site_grow_b(site_grow_a());             /* 500 -> 5000 */
	sink = site_shrink_b(site_shrink_a());         /* 8000 -> 2000 */
	sink = site_zero_b(site_zero_a());             /* 700 -> freed */
	sink = site_realloc_null();                    /* 600 */
	sink = site_reallocarray();                    /* 1000 */
	sink = site_posix_memalign();                  /* 4096 */
	sink = site_aligned_alloc();                   /* 2048 */
	sink = site_memalign();                        /* 1536 */
	sink = site_valloc();                          /* 3000 */
	sink = site_pvalloc();                         /* 5000 -> one page more: 8192 */
	m = site_mmap(40960);                          /* 10 pages ... */
	munmap(m + 4 * 4096, 3 * 4096);                /* ... minus 3 in the middle: 28672 */
	p = site_mmap_whole();                         /* 8192, unmapped whole */
	munmap(p, 8192);

	for (i = 0; i < 1000; i++)                     /* leak: 100,000 */
		leaks[i] = site_leak();

	p = site_peak(peak);                           /* the peak: 1,160,144 */
	free(p);

	for (i = 0; i < 100000; i++) {                 /* churn that must not move the peak */
		p = site_churn();
		free(p);
	}

	if (fork() == 0) {                             /* never in the parent's numbers */
		sink = site_child();
		_exit(0);
	}
	wait(&status);

	pthread_barrier_init(&barrier, NULL, 4);
	for (i = 0; i < 4; i++)                        /* 4 x 10 x 10,000, half freed */
		pthread_create(&th[i], NULL, thread_main, NULL);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);

	sink = leaks[0];
	if (wait_end) {
		int sig;

		if (write(1, "end\n", 4) != 4)
			return 1;
		sigwait(&usr1, &sig);
	}
	return 7;
}
