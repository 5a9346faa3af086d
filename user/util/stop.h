/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * stop.h: the one stop request of a session's loop (attach, the daemon,
 * top): a signal sets it, and the loop reads it between two turns and ends
 * as it would at its deadline.
 */
#ifndef TIDEMARK_UTIL_STOP_H
#define TIDEMARK_UTIL_STOP_H

/* From now on @sig (SIGINT, SIGTERM, ...) asks the loop to stop instead of killing us. */
void tm_stop__on(int sig);

/* 1 once one of those signals came. */
int tm_stop__requested(void);

#endif /* TIDEMARK_UTIL_STOP_H */
