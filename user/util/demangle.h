/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * demangle.h: C++ (Itanium ABI) and Rust (legacy and v0) symbols as people
 * read them, through libiberty's cplus_demangle (Debian's libiberty-dev,
 * the demangler of binutils and gdb). Pure: no kernel, no root.
 */
#ifndef TIDEMARK_DEMANGLE_H
#define TIDEMARK_DEMANGLE_H

#include <stddef.h>

/*
 * Write @sym's demangled form to @out: 1 if it was a mangled name, 0 if
 * not (a C name: @out untouched), -ENAMETOOLONG if it does not fit,
 * -ENOMEM.
 */
int tm_demangle(const char *sym, char *out, size_t len);

#endif
