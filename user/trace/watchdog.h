/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * watchdog.h: `run` holds its child stopped at each new executable mapping
 * (BPF sends SIGSTOP, the loader SIGCONT once it has read the maps), and
 * `run` and `attach --children` hold each follower at its fork until its
 * probes are placed. If the loader dies at a hold, nobody would continue the
 * process: a tiny helper process does, the moment the loader is gone.
 */
#ifndef TIDEMARK_WATCHDOG_H
#define TIDEMARK_WATCHDOG_H

/*
 * Start a helper that, once the caller has exited (however it died), sends
 * SIGCONT to the process of @pidfd (-1: none) and to every process the
 * procs map given by tm_watchdog__give_procs() may hold. *keep receives a
 * descriptor the caller keeps open, and no process it forks inherits
 * (O_CLOEXEC, and closed in children by hand): the helper waits for its end
 * of the socket to see EOF. 0 or -errno.
 */
int tm_watchdog__start(int pidfd, int *keep);

/*
 * Hand the helper the BPF procs map (its fd is copied over @keep): the
 * holds are its entries with a hold flag. Before the first probe, so that
 * no hold comes before the helper can see it. 0 or -errno.
 */
int tm_watchdog__give_procs(int keep, int procs_fd);

/* Nothing is held any more: let the helper go without a signal, and close @keep. */
void tm_watchdog__stand_down(int keep);

/* SIGCONT to every live process in the procs map @procs_fd with a hold flag. */
void tm_watchdog__continue_held(int procs_fd);

#endif
