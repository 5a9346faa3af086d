/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * grow.h: the one way an array grows: room for one more element of @elem
 * bytes in *@v, which holds *@cap, by doubling from @first. The array is
 * untouched when memory runs out.
 */
#ifndef TIDEMARK_UTIL_GROW_H
#define TIDEMARK_UTIL_GROW_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 0 when *@v has room for element @n (growing it if @n == *@cap), or -ENOMEM. */
static inline int tm_grow(void *v, size_t n, size_t *cap, size_t elem, size_t first)
{
	size_t want;
	void *p, *old;

	if (n < *cap)
		return 0;
	want = *cap ? 2 * *cap : first;
	memcpy(&old, v, sizeof(old));
	p = realloc(old, want * elem);
	if (!p)
		return -ENOMEM;
	memcpy(v, &p, sizeof(p));
	*cap = want;
	return 0;
}

#endif
