// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_hold: a workload that is held often. Under `tidemark run`, each new
 * executable mapping stops it until tidemark has read its maps; this maps
 * its own executable with PROT_EXEC again and again, so it spends most of
 * its time held. tests/integration/test_hold.py kills tidemark at a hold.
 *
 *   gt_hold N   map and unmap N times, say "mapped N", wait for a line on
 *               stdin, say "done" and exit 7
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000, i;
	int fd = open("/proc/self/exe", O_RDONLY);
	char line[64];

	if (fd < 0)
		return 1;
	for (i = 0; i < n; i++) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED)
			return 1;
		munmap(p, 4096);
	}
	printf("mapped %ld\n", n);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	printf("done\n");
	return 7;
}
