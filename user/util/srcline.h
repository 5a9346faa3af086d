/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * srcline.h: one line of a source file, read when a report is made (the
 * flame graph's tooltips show it, as memray's do). The path comes from a
 * capture that anyone may have written, and the reader may be root: only
 * regular files whose name ends like source code are read (.py, .c, .h,
 * .cc, .cpp, ...), never through a final symbolic link, at most
 * TM_SRCLINE_FILE_MAX bytes of each; a file that is not there, too large,
 * or not readable is simply no line.
 */
#ifndef TIDEMARK_SRCLINE_H
#define TIDEMARK_SRCLINE_H

#include <stddef.h>
#include <stdint.h>

#define TM_SRCLINE_FILE_MAX (8u << 20)
#define TM_SRCLINE_CACHE    32 /* files kept open in memory at once */

struct tm_srcline_file;

struct tm_srcline {
	struct tm_srcline_file *f[TM_SRCLINE_CACHE];
	unsigned int next; /* the slot the next new file takes */
};

/*
 * Line @line (1-based) of @path into @buf, without its newline, leading
 * blanks or trailing blanks, cut to @len - 1 bytes. Returns 0, or -ENOENT
 * when there is no such line to show (see above).
 */
int tm_srcline__get(struct tm_srcline *c, const char *path, uint32_t line, char *buf, size_t len);

void tm_srcline__free(struct tm_srcline *c); /* the cache; the struct is the caller's */

#endif /* TIDEMARK_SRCLINE_H */
