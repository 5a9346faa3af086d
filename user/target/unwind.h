/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * unwind.h: a library's call frame information (.eh_frame), made into the
 * row table the kernel side walks libc's frames with (struct tm_unwind_row,
 * include/tidemark_common.h). x86-64 only: the rows name rsp and rbp.
 *
 * Lite mode sees a syscall inside libc, which Debian builds without frame
 * pointers; these rows say, for each address of libc's code, where that
 * function's caller's frame is (CFA = rsp+N or rbp+N, the return address
 * at CFA-8, the caller's rbp at CFA-8k or still in rbp). What a row cannot
 * say (a CFA computed by a DWARF expression, as the PLT's is, a signal
 * frame, a return address elsewhere) is a stop row, and the gaps between
 * functions are stop rows too.
 */
#ifndef TIDEMARK_UNWIND_H
#define TIDEMARK_UNWIND_H

#include <stddef.h>
#include <stdint.h>

#include "tidemark_common.h"

struct tm_unwind_table {
	struct tm_unwind_row *rows; /* sorted by pc, each row holds up to the next one's pc */
	size_t n;
	size_t nfde;         /* FDEs read */
	size_t nfde_skipped; /* FDEs not usable (an encoding not handled): their range stops */
};

/*
 * The rows of the .eh_frame section @data (@len bytes, at link-time address
 * @vaddr). -EINVAL when it is malformed (a length past its end, a CIE
 * pointer to nothing), -ENOMEM, -E2BIG past TM_UNWIND_ROWS_MAX rows or a pc
 * above 4 GiB. Pure: no file, no root (the unit tests and fuzzers feed it).
 */
int tm_unwind__parse(const void *data, size_t len, uint64_t vaddr, struct tm_unwind_table *out);

/* The rows of the ELF file at @path (its .eh_frame). -ENOENT without one. */
int tm_unwind__load(const char *path, struct tm_unwind_table *out);

void tm_unwind__free(struct tm_unwind_table *t); /* accepts a zeroed one */

/*
 * The row holding link-time address @pc, as the kernel finds it (the same
 * binary search): NULL before the first row.
 */
const struct tm_unwind_row *tm_unwind__find(const struct tm_unwind_table *t, uint64_t pc);

#endif /* TIDEMARK_UNWIND_H */
