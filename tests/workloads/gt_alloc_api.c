// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_alloc_api: the allocators' own APIs, known to the byte. Run under
 * LD_PRELOAD of the allocator named by the argument; its functions are weak
 * references, so this builds without either library and says so when run
 * without it. tests/integration/test_allocators.py holds the same numbers.
 *
 * gt_alloc_api jemalloc (libjemalloc.so.2): 10 blocks, each
 *   site_mallocx          mallocx(1000)         -> 1,000 bytes
 *   site_xallocx_grow     xallocx(p, 1024)      -> 1,024 in place (its size class: 1,024)
 *   site_xallocx_fail     xallocx(p, 1500)      -> 1,024 back: not reached, p is as it was
 *   site_xallocx_shrink   xallocx(p, 900)       ->   900 in place (the same class)
 *   kept: 10 x 900 at site_xallocx_shrink; peak 10,240 (all ten at 1,024)
 *
 * gt_alloc_api mimalloc (libmimalloc.so.2): on a heap of its own (mi_heap_new)
 *   site_heap_malloc      mi_heap_malloc(h, 1000) x 10          kept 10,000
 *   site_heap_calloc      mi_heap_calloc(h, 10, 100) x 5        kept  5,000
 *   site_heap_aligned     mi_heap_zalloc_aligned(h, 640, 64) x 2 kept  1,280
 *   site_heap_first       mi_heap_malloc(h, 100), then
 *   site_heap_realloc     mi_heap_realloc(h, p, 3000), then
 *   site_heap_reallocn    mi_heap_reallocn(h, p, 20, 50)        kept  1,000
 *   and on the default heap
 *   site_mi_malloc        mi_malloc(1000)
 *   site_expand           mi_expand(p, 1020): in place (its bin: 1,024)
 *   site_expand_fail      mi_expand(p, 100000): NULL, p is as it was
 *   site_reallocf         mi_reallocf(p, 2000)
 *   site_recalloc         mi_recalloc(p, 30, 100)               kept  3,000
 *   site_aligned_at       mi_malloc_aligned_at(500, 64, 16), then
 *   site_realloc_aligned_at mi_realloc_aligned_at(p, 900, 64, 16) kept    900
 *   site_heap_free        mi_heap_malloc(h, 7777), mi_free'd
 *   then mi_heap_delete(h): its blocks move to the default heap, still live.
 *   kept: 21,180 bytes in 20 blocks; peak 25,057 (with site_heap_free's block)
 *
 * gt_alloc_api dlopen (no preload): glibc's malloc, then libjemalloc.so.2
 * loaded with dlopen and its mallocx called through dlsym (jemalloc's TLS is
 * initial-exec: GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536 makes room):
 *   site_dl_malloc        malloc(1000) x 3, kept
 *   site_dl_mallocx       mallocx(5000) x 2, kept (not traced: tidemark says so)
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))
#define WEAK     __attribute__((weak))

/* jemalloc */
WEAK void *mallocx(size_t size, int flags);
WEAK size_t xallocx(void *ptr, size_t size, size_t extra, int flags);
WEAK void sdallocx(void *ptr, size_t size, int flags);

/* mimalloc */
typedef struct mi_heap_s mi_heap_t;
WEAK mi_heap_t *mi_heap_new(void);
WEAK void mi_heap_delete(mi_heap_t *heap);
WEAK void *mi_heap_malloc(mi_heap_t *heap, size_t size);
WEAK void *mi_heap_calloc(mi_heap_t *heap, size_t count, size_t size);
WEAK void *mi_heap_zalloc_aligned(mi_heap_t *heap, size_t size, size_t alignment);
WEAK void *mi_heap_realloc(mi_heap_t *heap, void *p, size_t newsize);
WEAK void *mi_heap_reallocn(mi_heap_t *heap, void *p, size_t count, size_t size);
WEAK void *mi_malloc(size_t size);
WEAK void *mi_expand(void *p, size_t newsize);
WEAK void *mi_reallocf(void *p, size_t newsize);
WEAK void *mi_recalloc(void *p, size_t newcount, size_t size);
WEAK void *mi_malloc_aligned_at(size_t size, size_t alignment, size_t offset);
WEAK void *mi_realloc_aligned_at(void *p, size_t newsize, size_t alignment, size_t offset);
WEAK void mi_free(void *p);

static void *volatile sink;

NOINLINE static void *site_mallocx(void)
{
	return mallocx(1000, 0);
}

NOINLINE static size_t site_xallocx_grow(void *p)
{
	return xallocx(p, 1024, 0, 0);
}

NOINLINE static size_t site_xallocx_fail(void *p)
{
	return xallocx(p, 1500, 0, 0);
}

NOINLINE static size_t site_xallocx_shrink(void *p)
{
	return xallocx(p, 900, 0, 0);
}

static int run_jemalloc(void)
{
	static void *blocks[10];
	int i;

	if (!mallocx || !xallocx) {
		fprintf(stderr, "gt_alloc_api: no mallocx/xallocx: run with LD_PRELOAD=libjemalloc.so.2\n");
		return 2;
	}
	for (i = 0; i < 10; i++)
		blocks[i] = site_mallocx();
	for (i = 0; i < 10; i++)
		if (site_xallocx_grow(blocks[i]) != 1024)
			return 3;
	for (i = 0; i < 10; i++)
		if (site_xallocx_fail(blocks[i]) >= 1500)
			return 4;
	for (i = 0; i < 10; i++)
		if (site_xallocx_shrink(blocks[i]) < 900)
			return 5;
	sink = blocks;
	return 0;
}

NOINLINE static void *site_heap_malloc(mi_heap_t *h)
{
	return mi_heap_malloc(h, 1000);
}

NOINLINE static void *site_heap_calloc(mi_heap_t *h)
{
	return mi_heap_calloc(h, 10, 100);
}

NOINLINE static void *site_heap_aligned(mi_heap_t *h)
{
	return mi_heap_zalloc_aligned(h, 640, 64);
}

NOINLINE static void *site_heap_first(mi_heap_t *h)
{
	return mi_heap_malloc(h, 100);
}

NOINLINE static void *site_heap_realloc(mi_heap_t *h, void *p)
{
	return mi_heap_realloc(h, p, 3000);
}

NOINLINE static void *site_heap_reallocn(mi_heap_t *h, void *p)
{
	return mi_heap_reallocn(h, p, 20, 50);
}

NOINLINE static void *site_heap_free(mi_heap_t *h)
{
	return mi_heap_malloc(h, 7777);
}

NOINLINE static void *site_mi_malloc(void)
{
	return mi_malloc(1000);
}

NOINLINE static void *site_expand(void *p)
{
	return mi_expand(p, 1020);
}

NOINLINE static void *site_expand_fail(void *p)
{
	return mi_expand(p, 100000);
}

NOINLINE static void *site_reallocf(void *p)
{
	return mi_reallocf(p, 2000);
}

NOINLINE static void *site_recalloc(void *p)
{
	return mi_recalloc(p, 30, 100);
}

NOINLINE static void *site_aligned_at(void)
{
	return mi_malloc_aligned_at(500, 64, 16);
}

NOINLINE static void *site_realloc_aligned_at(void *p)
{
	return mi_realloc_aligned_at(p, 900, 64, 16);
}

static int run_mimalloc(void)
{
	static void *kept[19];
	mi_heap_t *h;
	void *p;
	int i, n = 0;

	if (!mi_heap_new || !mi_heap_malloc || !mi_expand) {
		fprintf(stderr, "gt_alloc_api: no mi_heap_new/mi_expand: run with LD_PRELOAD=libmimalloc.so.2\n");
		return 2;
	}
	h = mi_heap_new();
	if (!h)
		return 3;
	for (i = 0; i < 10; i++)
		kept[n++] = site_heap_malloc(h);
	for (i = 0; i < 5; i++)
		kept[n++] = site_heap_calloc(h);
	for (i = 0; i < 2; i++)
		kept[n++] = site_heap_aligned(h);
	p = site_heap_first(h);
	p = site_heap_realloc(h, p);
	kept[n++] = site_heap_reallocn(h, p);
	p = site_heap_free(h);
	memset(p, 1, 7777);
	mi_free(p);

	p = site_mi_malloc();
	if (site_expand(p) != p || site_expand_fail(p))
		return 4;
	p = site_reallocf(p);
	kept[n++] = site_recalloc(p);
	p = site_aligned_at();
	p = site_realloc_aligned_at(p);
	if (n != 19 || ((unsigned long)p + 16) % 64)
		return 5;
	mi_heap_delete(h);
	sink = kept;
	sink = p;
	return 0;
}

NOINLINE static void *site_dl_malloc(void)
{
	return malloc(1000);
}

NOINLINE static void *site_dl_mallocx(void *(*fn)(size_t, int))
{
	return fn(5000, 0);
}

static int run_dlopen(void)
{
	static void *kept[5];
	void *(*fn)(size_t, int);
	void *lib;
	int i;

	for (i = 0; i < 3; i++)
		kept[i] = site_dl_malloc();
	lib = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "gt_alloc_api: %s\n", dlerror());
		return 2;
	}
	*(void **)&fn = dlsym(lib, "mallocx");
	if (!fn)
		return 3;
	for (i = 0; i < 2; i++)
		kept[3 + i] = site_dl_mallocx(fn);
	sink = kept;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "dlopen"))
		return run_dlopen();
	if (argc == 2 && !strcmp(argv[1], "jemalloc"))
		return run_jemalloc();
	if (argc == 2 && !strcmp(argv[1], "mimalloc"))
		return run_mimalloc();
	fprintf(stderr, "usage: gt_alloc_api jemalloc|mimalloc (under LD_PRELOAD of that allocator) | dlopen\n");
	return 2;
}
