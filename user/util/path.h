/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* path.h: file-name helpers that never modify their argument (unlike basename(3)). */
#ifndef TIDEMARK_UTIL_PATH_H
#define TIDEMARK_UTIL_PATH_H

#include <string.h>

/* "/usr/lib/libc.so.6" -> "libc.so.6"; "libc.so.6" -> itself; "dir/" -> "dir/"; NULL -> NULL. */
static inline const char *tm_basename(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash && slash[1] ? slash + 1 : path;
}

#endif
