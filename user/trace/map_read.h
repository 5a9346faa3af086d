/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * map_read.h: every entry of a BPF hash map, read in a few system calls.
 *
 * The profile is built after the target exits, while the user waits: a
 * map read element by element costs two system calls an entry
 * (get_next_key, then lookup), ~4 us each on a busy 2-CPU guest, 0.6 s for
 * 75,000 stacks' aggregates. BPF_MAP_LOOKUP_BATCH copies thousands an entry
 * per call.
 */
#ifndef TIDEMARK_TRACE_MAP_READ_H
#define TIDEMARK_TRACE_MAP_READ_H

#include <stddef.h>
#include <stdint.h>

/* Keys and values side by side: entry i is keys + i * key_size, vals + i * val_size. */
struct tm_map_read {
	void *keys;
	void *vals;
	size_t n;
	uint32_t key_size, val_size;
	int batched; /* 1: read with BPF_MAP_LOOKUP_BATCH; 0: element by element */
};

/*
 * Call @fn for every entry of hash map @fd, a chunk of entries read at a
 * time (bounded memory, for maps of large values). @fn returns 0 to go on,
 * or -errno to stop with that error. Returns 0 or -errno.
 */
typedef int (*tm_map_entry_fn)(void *ctx, const void *key, const void *val);
int tm_map_read__each(int fd, uint32_t key_size, uint32_t val_size, tm_map_entry_fn fn, void *ctx,
		      int *batched);

/*
 * Read every entry of hash map @fd (keys of @key_size, values of @val_size
 * bytes) into @out, which tm_map_read__free() releases. Entries added or
 * removed while it reads may or may not be seen, as with any walk of a
 * live map. Returns 0 or -errno.
 */
int tm_map_read__all(int fd, uint32_t key_size, uint32_t val_size, struct tm_map_read *out);
void tm_map_read__free(struct tm_map_read *r); /* accepts NULL */

static inline const void *tm_map_read__key(const struct tm_map_read *r, size_t i)
{
	return (const char *)r->keys + i * r->key_size;
}

static inline const void *tm_map_read__val(const struct tm_map_read *r, size_t i)
{
	return (const char *)r->vals + i * r->val_size;
}

#endif
