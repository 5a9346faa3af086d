// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* stop.c: the stop request of a session's loop (see stop.h). */
#include <signal.h>

#include "util/stop.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void tm_stop__on(int sig)
{
	signal(sig, on_stop);
}

int tm_stop__requested(void)
{
	return stop_requested;
}
