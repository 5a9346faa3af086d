// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_exit_on_open: exits as soon as another process opens its executable.
 *
 * A target that is gone while tidemark loads, at a known point instead of after a guessed sleep:
 * attach reads the target's executable before it loads the BPF objects and places the probes.
 * Prints "ready" once the watch is in place.
 */
#include <limits.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(void)
{
	char exe[PATH_MAX], ev[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int fd = inotify_init1(IN_CLOEXEC);

	if (n < 0 || fd < 0)
		return 2;
	exe[n] = '\0';
	if (inotify_add_watch(fd, exe, IN_OPEN) < 0)
		return 2;
	printf("ready\n");
	fflush(stdout);
	if (read(fd, ev, sizeof(ev)) <= 0)
		return 2;
	_exit(0);
}
