/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * elf.h: the one ELF reader (on libelf). Two ways in:
 *  - by path, for the tracer before it attaches: where a function lives (as
 *    a file offset, which is what uprobes take), its first bytes, and how the
 *    file is linked. These open the file themselves, return 0 or -errno and
 *    keep nothing open afterwards.
 *  - an open struct tm_elf, for the readers of a live process's modules
 *    (the symbolizer, CPython detection): symbols, PT_LOAD segments, the
 *    load bias of a mapping, file offsets of addresses.
 */
#ifndef TIDEMARK_ELF_H
#define TIDEMARK_ELF_H

#include <elf.h>
#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TM_ELF_BUILD_ID_MAX 64

struct tm_elf_load {
	uint64_t vaddr;         /* p_vaddr */
	uint64_t offset;        /* p_offset */
	uint64_t filesz;        /* p_filesz */
	uint32_t flags;         /* PF_* */
};

/* An open ELF file. Zero-initialize (fd -1 or 0 both fine for close). */
struct tm_elf {
	int fd;
	Elf *elf;
	GElf_Ehdr ehdr;
	struct tm_elf_load *loads;  /* the PT_LOAD segments, in program-header order */
	size_t nr_loads;
};

/*
 * Open @path (tm_elf__open) or take over @fd (tm_elf__open_fd: closed on
 * error too). -ENOEXEC when it is not ELF.
 */
int tm_elf__open(const char *path, struct tm_elf *e);
int tm_elf__open_fd(int fd, struct tm_elf *e);
void tm_elf__close(struct tm_elf *e);   /* accepts a closed or zeroed one; leaves it closed */

enum tm_elf_sym_kind {
	TM_ELF_SYM_FUNC = 1u << 0,    /* STT_FUNC and STT_GNU_IFUNC */
	TM_ELF_SYM_DATA = 1u << 1,    /* STT_OBJECT, STT_TLS, STT_NOTYPE */
};

/*
 * The best definition of @name among the @kinds of symbols in .symtab and
 * .dynsym, ranked as tm_elf__find_symbol() says; its link-time @value and
 * @size (pointers may be NULL), and whether it is a GNU indirect function.
 * -ENOENT when there is none.
 */
int tm_elf__lookup(const struct tm_elf *e, const char *name, unsigned int kinds, uint64_t *value,
		   uint64_t *size, bool *ifunc);

/* The file offset of link-time address @vaddr, through its PT_LOAD segment. -EINVAL if none. */
int tm_elf__vaddr_to_off(const struct tm_elf *e, uint64_t vaddr, uint64_t *off);

/*
 * The load bias of a mapping at @map_start of the file's page at @map_off:
 * runtime address = link-time address + bias. -ENOENT if no segment holds it.
 */
int tm_elf__load_bias(const struct tm_elf *e, uint64_t map_start, uint64_t map_off, uint64_t *bias);

struct tm_elf_info {
	uint16_t type;          /* e_type: ET_EXEC, ET_DYN, ... */
	uint16_t machine;       /* e_machine: EM_X86_64, ... */
	uint8_t elf_class;      /* ELFCLASS32 or ELFCLASS64 */
	bool has_interp;        /* PT_INTERP: dynamically linked */
	bool needs_libc;        /* a DT_NEEDED entry is libc.so.6 (or another libc.so*) */
	bool has_symtab;        /* .symtab present (not stripped) */
	bool has_dynsym;        /* .dynsym present */
	bool has_debug_info;    /* .debug_info in the file itself */
	char interp[256];       /* PT_INTERP path; "" without one */
	char **needed;          /* DT_NEEDED names, in file order */
	size_t nr_needed;
	char runpath[1024];     /* DT_RUNPATH; "" without one */
	char rpath[1024];       /* DT_RPATH (older binaries); "" without one */
	uint8_t build_id[TM_ELF_BUILD_ID_MAX];
	size_t build_id_len;    /* 0: no NT_GNU_BUILD_ID note */
};

/*
 * Look up a function symbol in .symtab and .dynsym. @name is a bare name
 * ("aligned_alloc"): the default version wins over older ones, a global
 * symbol over a weak one over a local one. "name@VERSION" or "name@@VERSION"
 * selects that version only.
 * @file_off is what a uprobe needs: the symbol's offset in the file, found
 * through the PT_LOAD segment containing it. Output pointers may be NULL.
 * Returns -ENOENT if there is no such symbol, -ENOTSUP if the best match is
 * a GNU indirect function (its address is the resolver's, which runs once;
 * an older plain version is deliberately not substituted), -ENOEXEC if @path
 * is not ELF, -EINVAL if the symbol lies outside every PT_LOAD segment.
 */
int tm_elf__find_symbol(const char *path, const char *name, uint64_t *file_off,
			uint64_t *vaddr, uint64_t *size);

struct tm_elf_sym {
	uint64_t file_off; /* what a uprobe takes */
	uint64_t vaddr;    /* 0: not found (or an indirect function) */
	uint64_t size;
};

/*
 * Many functions in one pass over one symbol table: the exported ones
 * (.dynsym, global or weak, the default version: what the dynamic linker
 * binds other objects to) when @exported, else .symtab's global and weak
 * ones (a static executable). out[i] is names[i]'s; -ENOENT if none is there.
 */
int tm_elf__find_many(const char *path, int exported, const char *const *names, size_t n,
		      struct tm_elf_sym *out);

/*
 * The contents of section @name of an open file: its link-time @addr, and
 * @size bytes at @data, valid until the file is closed. -ENOENT without one
 * (or when it takes no room in the file, SHT_NOBITS), -EIO if unreadable.
 */
int tm_elf__section(const struct tm_elf *e, const char *name, uint64_t *addr, const void **data, size_t *size);

/* Read exactly @len bytes at @file_off. -EIO if the file is shorter. */
int tm_elf__read_code(const char *path, uint64_t file_off, void *buf, size_t len);

/*
 * Fill @info; release it with tm_elf_info__free(). On error @info is left
 * zeroed. -ENOEXEC if @path is not ELF.
 */
int tm_elf__info(const char *path, struct tm_elf_info *info);
void tm_elf_info__free(struct tm_elf_info *info);  /* accepts NULL */

/*
 * The library the dynamic loader would load for @path's first DT_NEEDED
 * entry that starts with @prefix ("libpython3."), searched the way ld.so(8)
 * does: DT_RPATH (when there is no DT_RUNPATH), LD_LIBRARY_PATH,
 * DT_RUNPATH, then the default directories (Debian's multiarch ones and
 * /usr/local/lib included). /etc/ld.so.cache is not read. $ORIGIN is the
 * directory of @path with symlinks resolved. -ENOENT when there is no such
 * entry or no such file, -ENAMETOOLONG if @len is too small.
 */
int tm_elf__find_needed(const char *path, const char *prefix, char *out, size_t len);

/*
 * Where the dynamic loader finds DT_NEEDED entry @name of @path (whose
 * tm_elf__info is @info), searched as tm_elf__find_needed() says.
 */
int tm_elf__locate(const char *path, const struct tm_elf_info *info, const char *name, char *out, size_t len);

/*
 * The first directory of the colon-separated @dirs holding a regular
 * file @name, with $ORIGIN (or ${ORIGIN}) replaced by @origin; directories
 * with other dynamic string tokens ($LIB, $PLATFORM) are skipped. Writes
 * dir/name to @out. -ENOENT if none.
 */
int tm_elf__search_dirs(const char *dirs, const char *origin, const char *name, char *out, size_t len);

/*
 * x86-64: the data slots function @fn reads RIP-relative in its first @head
 * bytes (GOT entries aside), and how often the whole .text reads the most
 * read of them, in *@refs. CPython's PyObject_Malloc reads its allocator's
 * function pointer: a handful of readers (4-6 in pyenv's 3.6-3.11), or one
 * per copy a link-time-optimised build inlined into its callers (162 in
 * Debian's python3.11). -ENOTSUP on another architecture.
 */
int tm_elf__slot_refs(const char *path, const char *fn, size_t head, unsigned long *refs);

#endif /* TIDEMARK_ELF_H */
