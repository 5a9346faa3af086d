/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * symbolize.h: native addresses to module, function+offset and file:line.
 *
 * One symbolizer serves any number of processes. It caches each module it
 * meets (keyed by device and inode, so a library shared by many processes is
 * read once): the open ELF, a sorted table of .symtab and .dynsym functions,
 * and a libdwfl handle for line numbers, which also finds separate debug
 * files on this host (/usr/lib/debug/.build-id, .gnu_debuglink): never
 * through debuginfod, whatever DEBUGINFOD_URLS says. Not thread-safe: one
 * per thread, or a lock around it.
 */
#ifndef TIDEMARK_SYMBOLIZE_H
#define TIDEMARK_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "target/maps.h"

enum tm_sym_flags {
	/*
	 * @addr is a return address (every frame but the innermost): the call
	 * it returns from is at addr - 1, so function and line are looked up
	 * there. offset and vaddr still describe @addr itself.
	 */
	TM_SYM_RETADDR = 1u << 0,
};

/* Strings belong to the symbolizer and stay valid until tm_symbolizer__free(). */
struct tm_sym {
	const char *module;     /* path of the mapping ("[vdso]" too); NULL: anonymous memory */
	const char *function;   /* NULL: unknown */
	uint64_t offset;        /* addr - start of function; 0 when function is NULL */
	const char *file;       /* source file from DWARF; NULL: no line information */
	uint32_t line;          /* 0: unknown */
	bool is_exec;           /* addr lies in an executable mapping */
	uint64_t vaddr;         /* addr in the module's own link-time terms (addr - load bias),
				 * stable across runs; 0 when the module could not be read */
};

struct tm_symbolizer;

struct tm_symbolizer *tm_symbolizer__new(void);
void tm_symbolizer__free(struct tm_symbolizer *s);  /* accepts NULL */

/*
 * Symbolize @addr of process @pid, whose memory map is @m (a snapshot or a
 * merge of snapshots). Module files are opened through /proc/PID/root when
 * @pid > 0 and that works, through the plain path otherwise (the process may
 * have exited). @flags: enum tm_sym_flags.
 * Returns 0 when @addr lies in a mapping of @m, whatever could be learnt
 * about it (fields not found are NULL/0); -ENOENT when it lies in none.
 */
int tm_symbolizer__resolve(struct tm_symbolizer *s, const struct tm_maps *m, pid_t pid,
			   uint64_t addr, unsigned int flags, struct tm_sym *out);

/*
 * Open now the files of @m's executable mappings that only process @pid's
 * /proc entries reach (a container's root, a deleted file): they go with
 * the process, and reports are often built after it exits. Files its path
 * reaches from here are left to be opened when first needed. 0 or -errno.
 */
int tm_symbolizer__open_modules(struct tm_symbolizer *s, const struct tm_maps *m, pid_t pid);
/*
 * Read the files at @paths (n of them) in a thread of their own: their
 * symbols, and their line tables with any separate debug file's sections
 * inflated (tens of ms for Debian's libc6-dbg). A later lookup in one of
 * them (the same device and inode) waits for the thread and uses what it
 * read; the others are dropped at tm_symbolizer__free. Once per symbolizer.
 * 0, or -errno (then nothing is read ahead).
 */
int tm_symbolizer__prefetch(struct tm_symbolizer *s, const char *const *paths, size_t n);

#endif /* TIDEMARK_SYMBOLIZE_H */
