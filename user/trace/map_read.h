/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * map_read.h: every entry of a BPF hash map, read in a few system calls.
 *
 * The profile is built after the target exits, while the user waits: a
 * map read element by element costs two system calls an entry
 * (get_next_key, then lookup): 0.8-1.0 s for the 75,000 aggregates and
 * stacks of one profile on a busy 2-CPU guest. BPF_MAP_LOOKUP_BATCH copies
 * thousands of entries a call.
 */
#ifndef TIDEMARK_TRACE_MAP_READ_H
#define TIDEMARK_TRACE_MAP_READ_H

#include <stdint.h>

/*
 * Call @fn for every entry of hash map @fd (keys of @key_size, values of
 * @val_size bytes), a chunk of entries read at a time: bounded memory, for
 * maps of large values. @fn returns 0 to go on, or -errno to stop with that
 * error. *@batched (when not NULL) says whether the kernel read in batches
 * (1) or the walk went element by element (0). Entries added or removed
 * meanwhile may or may not be seen, as with any walk of a live map.
 * Returns 0 or -errno.
 */
typedef int (*tm_map_entry_fn)(void *ctx, const void *key, const void *val);
int tm_map_read__each(int fd, uint32_t key_size, uint32_t val_size, tm_map_entry_fn fn, void *ctx,
		      int *batched);

#endif
