/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * heap.h: pages populated ahead, in one call. A page's first touch is a
 * fault: ~11 us each on this project's 2-CPU VM, against ~0.7 us a page
 * when one madvise(MADV_POPULATE_WRITE) populates many (measured). Code
 * that is about to fill megabytes of fresh buffers (libbpf's copy of the
 * kernel's BTF, libdw's inflated debug sections) grows the calling
 * thread's heap by that much first; with large blocks served from the heap
 * and no trimming (mallopt, set once by the loader), later blocks reuse
 * those pages. Before 5.14 (EINVAL) the pages fault as before.
 */
#ifndef TIDEMARK_UTIL_HEAP_H
#define TIDEMARK_UTIL_HEAP_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* 5.14 */
#endif

static inline void tm_heap__populate(size_t len)
{
	uintptr_t lo, hi;
	void *p = malloc(len);

	if (!p)
		return;
	lo = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	hi = ((uintptr_t)p + len) & ~(uintptr_t)4095;
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
	free(p);
}

#endif
