// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * demangle.c: see demangle.h. DMGL_AUTO tells C++ from Rust by the name
 * itself ("_Z...", "_ZN...17h<hash>E" for Rust's legacy scheme, "_R..."
 * for v0); DMGL_PARAMS keeps C++ parameter lists, which tell overloads apart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <libiberty/demangle.h>

#include "util/demangle.h"

int tm_demangle(const char *sym, char *out, size_t len)
{
	char *d;
	int n;

	/* Every mangled name starts with an underscore: skip libiberty's work for C names. */
	if (!sym || sym[0] != '_' || (sym[1] != 'Z' && sym[1] != 'R'))
		return 0;
	d = cplus_demangle(sym, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
	if (!d)
		return 0;
	n = snprintf(out, len, "%s", d);
	free(d);
	return n >= 0 && (size_t)n < len ? 1 : -ENAMETOOLONG;
}
