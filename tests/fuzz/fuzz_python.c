/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz_python: libFuzzer target for what target/python.c makes of CPython
 * memory read from a target (or captured by BPF, which read the same bytes):
 * a code-object record (names in any of CPython's string kinds, the line
 * table of 3.8 to 3.13) turned into a function, a file and a line.
 *
 * The input is the record as the py_codes map holds it, then 4 bytes of
 * instruction index; short inputs are zero-padded. Every version is tried on
 * the same bytes. Beyond "no crash": strings come out NUL-terminated within
 * their buffers, and the line is -1 or a line number (>= 0).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tidemark_common.h"
#include "python_common.h"
#include "target/python.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int minors[] = { 8, 9, 10, 11, 12, 13 };
	struct tm_py_code *rec = calloc(1, sizeof(*rec));
	struct tm_py_sym sym;
	uint32_t lasti = 0;
	size_t i;

	if (!rec)
		return 0;
	memcpy(rec, data, size < sizeof(*rec) ? size : sizeof(*rec));
	if (size > sizeof(*rec))
		memcpy(&lasti, data + sizeof(*rec), size - sizeof(*rec) < 4 ? size - sizeof(*rec) : 4);
	for (i = 0; i < sizeof(minors) / sizeof(minors[0]); i++) {
		int line;

		rec->version = TM_PY_VERSION(3, minors[i]);
		if (tm_python__symbolize(rec, lasti, &sym))
			continue;
		if (memchr(sym.function, 0, sizeof(sym.function)) == NULL ||
		    memchr(sym.file, 0, sizeof(sym.file)) == NULL || sym.line < -1)
			abort();
		/* The line-table decoder on its own, over the bytes as given and past them. */
		line = tm_pyline__addr2line(rec->version, rec->lines,
					    rec->lines_got <= TM_PY_LINES_MAX ? rec->lines_got : TM_PY_LINES_MAX,
					    rec->firstlineno, lasti);
		if (line < -1)
			abort();
	}
	free(rec);
	return 0;
}
