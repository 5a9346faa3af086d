/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * capture.h: the capture file, a tm_profile on disk.
 *
 * Layout, all integers little-endian:
 *
 *   0   8  magic "TIDEMARK"
 *   8   4  format version (TM_CAPTURE_VERSION)
 *   12  4  flags (none defined: a reader refuses any it does not know)
 *   16  8  length of the payload once uncompressed
 *   24  4  CRC-32 (zlib) of the compressed payload
 *   28  4  reserved: written as 0, ignored on read
 *   32  .. the payload, one zlib stream up to the end of the file
 *
 * The payload is described in capture.c. Files come from anywhere (a bug
 * report, a CI artifact), so the reader treats every byte as hostile.
 */
#ifndef TIDEMARK_CAPTURE_H
#define TIDEMARK_CAPTURE_H

#include <stddef.h>
#include <stdio.h>

#include "profile/profile.h"

#define TM_CAPTURE_MAGIC "TIDEMARK"
#define TM_CAPTURE_VERSION 2
#define TM_CAPTURE_HEADER_SIZE 32

/*
 * What reading a capture may cost: the payload and the profile decoded from
 * it together stay under TM_CAPTURE_MEM_PER_BYTE times the file's size plus
 * TM_CAPTURE_MEM_BASE. Every size the file declares (payload length, counts
 * of strings, frames, sites, samples) is charged against that budget before
 * anything is allocated for it, and a capture that would exceed it is
 * refused. Real captures need 5 to 15 bytes per byte of file (deflate gets
 * 4:1 to 13:1 on them, the profile takes about as much again); a file
 * crafted to expand 1000:1 is refused at the header.
 */
#define TM_CAPTURE_MEM_PER_BYTE 64
#define TM_CAPTURE_MEM_BASE (16u << 20)

/*
 * Write p to path through util/outfile.h (a temporary renamed into place, so
 * a reader never sees half a file; mode 0600; devices and FIFOs as streams).
 * Returns 0 or -errno (and says why on stderr).
 */
int tm_capture__write(const struct tm_profile *p, const char *path);

/* Write p to f (an outfile's FILE). Returns 0 or -errno. */
int tm_capture__write_file(const struct tm_profile *p, FILE *f);

/* The same bytes in memory: *buf is malloc()ed, the caller frees it. */
int tm_capture__write_mem(const struct tm_profile *p, void **buf, size_t *len);

/*
 * Read a capture file into a new profile (*out, free with tm_profile__free).
 * Returns 0, -ENOENT etc. when the file cannot be read, -EINVAL when it is
 * not a valid capture, -ENOMEM; on error a one-line reason that starts with
 * the path is left in err (if err is not NULL) and *out is NULL.
 */
int tm_capture__read(const char *path, struct tm_profile **out, char *err, size_t errlen);

/* The same from memory; name is what the messages call the input. */
int tm_capture__read_mem(const void *buf, size_t len, const char *name,
			 struct tm_profile **out, char *err, size_t errlen);

#endif /* TIDEMARK_CAPTURE_H */
