/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz_unwind: libFuzzer target for the .eh_frame parser (tm_unwind__parse).
 * The libc whose rows the loader reads is the target's, which a container
 * image chooses. Whatever the bytes, the rows that come out are sorted,
 * within TM_UNWIND_ROWS_MAX, and a search finds a row at or below its pc.
 */
#include <stdint.h>
#include <stdlib.h>

#include "target/unwind.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tm_unwind_table t;
	size_t i;

	if (tm_unwind__parse(data, size, 0x1000, &t))
		return 0;
	if (t.n > TM_UNWIND_ROWS_MAX)
		abort();
	for (i = 1; i < t.n; i++)
		if (t.rows[i].pc <= t.rows[i - 1].pc)
			abort();
	for (i = 0; i < t.n; i++) {
		const struct tm_unwind_row *r = tm_unwind__find(&t, t.rows[i].pc);

		if (!r || r->pc != t.rows[i].pc || r->cfa_reg > TM_UNWIND_CFA_RBP)
			abort();
	}
	tm_unwind__free(&t);
	return 0;
}
