// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_fork: a process tree with known numbers, for `tidemark run` following
 * children (tests/integration/test_children.py).
 *
 *   gt_fork N BYTES [EXE]
 *     The parent keeps 1000 bytes (parent_keep) and forks N children. Child
 *     i (0-based) allocates (i + 1) * BYTES in child_alloc, says so on a
 *     pipe and waits; once every child holds its block the parent waits
 *     200 ms (the tree's total is sampled meanwhile) and lets them go:
 *     each frees its block and exits 0, or with EXE given, execs EXE (a
 *     second image of the same pid, a process of its own in the capture).
 *     So child i peaks at exactly (i + 1) * BYTES, the parent at 1000, and
 *     the tree at 1000 + BYTES * N * (N + 1) / 2.
 *     With GT_FORK_WAIT in the environment it says "ready" and waits for a
 *     line on stdin before it forks (for `tidemark attach --children`).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* noinline, and the blocks are kept live: the compiler must not elide them */
__attribute__((noinline)) static void *parent_keep(size_t n)
{
	void *p = malloc(n);

	if (p)
		memset(p, 1, n);
	return p;
}

__attribute__((noinline)) static void *child_alloc(size_t n)
{
	void *p = malloc(n);

	if (p)
		memset(p, 2, n);
	return p;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4, i, ready[2], go[2], status, rc = 0;
	size_t bytes = argc > 2 ? strtoul(argv[2], NULL, 0) : 1 << 20;
	struct timespec settle = { 0, 200 * 1000 * 1000 };
	void *keep = parent_keep(1000);
	char c;

	if (!keep || pipe(ready) || pipe(go))
		return 1;
	if (getenv("GT_FORK_WAIT")) {
		char line[16];

		if (write(1, "ready\n", 6) != 6 || read(0, line, sizeof(line)) <= 0)
			return 1;
	}
	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0) {
			void *p = child_alloc((size_t)(i + 1) * bytes);

			close(ready[0]);
			close(go[1]);
			if (!p || write(ready[1], "r", 1) != 1)
				_exit(1);
			while (read(go[0], &c, 1) > 0)
				;
			free(p);
			if (argc > 3)
				execl(argv[3], argv[3], (char *)NULL);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	for (i = 0; i < n; i++)
		if (read(ready[0], &c, 1) != 1)
			return 1;
	nanosleep(&settle, NULL);
	close(go[1]);
	for (i = 0; i < n; i++) {
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			rc = 1;
	}
	free(keep);
	return rc;
}
