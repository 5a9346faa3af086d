// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * forker: what following a child costs (bench/children.sh).
 *
 *   forker N [EXE]   fork N children one after the other, each allocating and
 *                    freeing 100 bytes and exiting (or exec'ing EXE), waiting
 *                    for each; prints "seconds X" for the whole loop
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100, i, status;
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0) {
			void *volatile p = malloc(100);

			free(p);
			if (argc > 2)
				execl(argv[2], argv[2], (char *)NULL);
			_exit(0);
		}
		if (waitpid(pid, &status, 0) != pid)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("seconds %.6f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
