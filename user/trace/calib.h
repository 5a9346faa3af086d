/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * calib.h: what one probe hit costs on this host, measured once per boot
 * and kept (see calib.c), for the cost summary of run and attach.
 */
#ifndef TIDEMARK_CALIB_H
#define TIDEMARK_CALIB_H

#include <stddef.h>
#include <stdint.h>

/*
 * Nanoseconds a uprobe hit adds to the traced program, in the mix of a
 * malloc/free pair (malloc's entry and return, free's entry): from the
 * cache when it was measured since this boot (unless @fresh), else measured
 * now (about a second) and cached. *measured: 1 when it was measured now.
 * 0 or -errno.
 */
int tm_calib__hit_ns(double *ns, int *measured, int fresh);

/* Where the per-boot value is kept, to name it to the user. */
void tm_calib__cache_path(char *path, size_t len);

#endif
