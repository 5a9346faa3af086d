/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * buf.h: a growable byte buffer with a sticky error, for encoders that
 * append many small pieces and check once at the end (the capture file,
 * pprof's protobuf, the diff's stack keys).
 */
#ifndef TIDEMARK_BUF_H
#define TIDEMARK_BUF_H

#include <stddef.h>
#include <stdint.h>

struct tm_buf {
	uint8_t *data; /* malloc()ed; free() it */
	size_t len, cap;
	int err; /* sticky: the first failure (-ENOMEM); later puts do nothing */
};

/* Append n bytes of src (nothing when n is 0 or b->err is set). */
void tm_buf__put(struct tm_buf *b, const void *src, size_t n);
/* Append n bytes for the caller to fill: where they start, or NULL (b->err is set). */
uint8_t *tm_buf__reserve(struct tm_buf *b, size_t n);

#endif /* TIDEMARK_BUF_H */
