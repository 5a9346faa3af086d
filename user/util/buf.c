// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * buf.c: the growable byte buffer (see buf.h). Capacity doubles from 4 KiB,
 * checked against overflow.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

uint8_t *tm_buf__reserve(struct tm_buf *b, size_t n)
{
	size_t cap;
	uint8_t *d;

	if (b->err)
		return NULL;
	if (n > b->cap - b->len) {
		cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2) {
				b->err = -ENOMEM;
				return NULL;
			}
			cap *= 2;
		}
		d = realloc(b->data, cap);
		if (!d) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->data = d;
		b->cap = cap;
	}
	d = b->data + b->len;
	b->len += n;
	return d;
}

void tm_buf__put(struct tm_buf *b, const void *src, size_t n)
{
	uint8_t *d = n ? tm_buf__reserve(b, n) : NULL;

	if (d)
		memcpy(d, src, n);
}
