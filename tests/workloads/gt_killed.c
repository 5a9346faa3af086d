// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* gt_killed: leaks 12,345 bytes at site_doomed, then dies by SIGKILL. */
#include <signal.h>
#include <stdlib.h>

static void *volatile sink;

__attribute__((noinline)) void *site_doomed(void) { return malloc(12345); }

int main(void)
{
	sink = site_doomed();
	raise(SIGKILL);
	return 0;
}
