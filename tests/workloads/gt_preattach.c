// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_preattach: known bytes allocated before `tidemark attach`, known bytes
 * after, and known frees of the blocks from before. tests/integration/
 * test_endstate.py holds the same numbers.
 *
 *   before: site_before 40 x 100,000 bytes, touched (resident), kept;
 *   says "ready" (a write(2)), waits for SIGUSR1 (the tracer attached);
 *   after:  frees 10 of the blocks from before (each its own free),
 *           site_temp 20 x 10,000 bytes, each freed at once,
 *           site_after 30 x 50,000 bytes, kept;
 *   says "end" and waits for another SIGUSR1, to be reported on while alive
 *   (--exit: exits instead). No stdio: libc then allocates nothing of its own.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define N_BEFORE 40
#define N_FREED  10
#define N_TEMP   20
#define N_AFTER  30

static void *volatile keep_before[N_BEFORE];
static void *volatile keep_after[N_AFTER];

NOINLINE void *site_before(void)
{
	void *p = malloc(100000);

	if (p)
		memset(p, 1, 100000);
	return p;
}
NOINLINE void *site_temp(void)
{
	return malloc(10000);
}
NOINLINE void *site_after(void)
{
	return malloc(50000);
}

static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(3);
}

static void wait_usr1(const sigset_t *set)
{
	int sig;

	sigwait(set, &sig);
}

int main(int argc, char **argv)
{
	int i, exit_at_end = argc > 1 && !strcmp(argv[1], "--exit");
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (i = 0; i < N_BEFORE; i++)
		keep_before[i] = site_before();
	say("ready\n");
	wait_usr1(&set);

	for (i = 0; i < N_FREED; i++)
		free(keep_before[i]);
	for (i = 0; i < N_TEMP; i++) {
		void *volatile p = site_temp();

		free(p);
	}
	for (i = 0; i < N_AFTER; i++)
		keep_after[i] = site_after();
	say("end\n");
	if (exit_at_end)
		return 0;
	wait_usr1(&set);
	return 0;
}
