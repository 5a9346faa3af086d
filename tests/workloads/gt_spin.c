// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* gt_spin: allocates and frees in a loop until killed (a target to attach to and detach from). */
#include <stdlib.h>
#include <unistd.h>

static void *volatile sink;

__attribute__((noinline)) void *site_spin(void) { return malloc(256); }

int main(void)
{
	for (;;) {
		sink = site_spin();
		free(sink);
		usleep(1000);
	}
}
