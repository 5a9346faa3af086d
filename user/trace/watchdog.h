/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * watchdog.h: `run` holds its child stopped at each new executable mapping
 * (BPF sends SIGSTOP, the loader SIGCONT once it has read the maps). If the
 * loader dies at a hold, nobody would continue the child: a tiny helper
 * process does, the moment the loader is gone.
 */
#ifndef TIDEMARK_WATCHDOG_H
#define TIDEMARK_WATCHDOG_H

/*
 * Start a helper that sends SIGCONT to the process of @pidfd once the caller
 * has exited (however it died). *keep receives a descriptor the caller keeps
 * open, and no process it forks inherits (O_CLOEXEC, and closed in children
 * by hand): the helper waits for its end of the pipe to see EOF. Closing
 * *keep early (the child is gone) lets the helper go. 0 or -errno.
 */
int tm_watchdog__start(int pidfd, int *keep);

#endif
