/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * map_read.c: a whole BPF hash map in a few BPF_MAP_LOOKUP_BATCH calls.
 *
 * A hash map's batch walks its buckets: the token between calls is a
 * bucket index (a __u32), and one call returns whole buckets, up to
 * @count entries; -ENOENT says the walk is over (the last entries still
 * come with it), -ENOSPC that one bucket holds more than @count entries.
 * Batch operations on hash maps came with Linux 5.6, below tidemark's floor
 * (6.1); a kernel that refuses them anyway (-EINVAL, -ENOTSUPP) is read
 * element by element.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "trace/map_read.h"

/* Entries per call, at most: 1 MiB of keys and values (1,000 stacks, 10,000 aggregates). */
#define CHUNK_BYTES (1u << 20)
#define ENOTSUPP    524 /* the kernel's own "not supported", which bpf(2) can return */

/* The walk of kernels without batch operations: two system calls an entry. */
static int each_element(int fd, uint32_t key_size, void *key, void *place, void *val, tm_map_entry_fn fn,
			void *ctx)
{
	int err, walked = 0;

	for (;;) {
		if (bpf_map_get_next_key(fd, walked ? place : NULL, key))
			return errno == ENOENT ? 0 : -errno;
		memcpy(place, key, key_size);
		walked = 1;
		/* gone since its key was read: the walk goes on from it all the same */
		if (bpf_map_lookup_elem(fd, key, val)) {
			if (errno != ENOENT)
				return -errno;
			continue;
		}
		err = fn(ctx, key, val);
		if (err)
			return err;
	}
}

int tm_map_read__each(int fd, uint32_t key_size, uint32_t val_size, tm_map_entry_fn fn, void *ctx,
		      int *batched)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 in_tok = 0, out_tok = 0, count, want, i;
	char *keys = NULL, *vals = NULL;
	void *in = NULL;
	int err = 0;

	if (!key_size || !val_size || !fn)
		return -EINVAL;
	want = CHUNK_BYTES / (key_size + val_size);
	if (want < 64)
		want = 64;
	if (batched)
		*batched = 1;
	for (;;) {
		if (!keys) {
			keys = malloc((size_t)want * key_size);
			vals = malloc((size_t)want * val_size);
			if (!keys || !vals) {
				err = -ENOMEM;
				break;
			}
		}
		count = want;
		err = bpf_map_lookup_batch(fd, in, &out_tok, keys, vals, &count, &opts);
		if (err == -ENOSPC && !count) {
			/* a bucket longer than the buffer: again, with room for twice as many */
			want *= 2;
			free(keys);
			free(vals);
			keys = vals = NULL;
			continue;
		}
		if (err && err != -ENOENT) {
			if (in || (err != -EINVAL && err != -ENOTSUPP && err != -EOPNOTSUPP))
				break;
			if (batched)
				*batched = 0;
			err = each_element(fd, key_size, keys, keys + key_size, vals, fn, ctx);
			break;
		}
		for (i = 0; i < count; i++) {
			int e = fn(ctx, keys + (size_t)i * key_size, vals + (size_t)i * val_size);

			if (e) {
				err = e;
				goto out;
			}
		}
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		in_tok = out_tok;
		in = &in_tok;
	}
out:
	free(keys);
	free(vals);
	return err;
}
