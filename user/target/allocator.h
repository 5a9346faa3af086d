/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * allocator.h: which object gives a process its malloc & co., as the
 * dynamic linker binds them. The lookup scope is the executable, then the
 * preloaded libraries (LD_PRELOAD, /etc/ld.so.preload), then DT_NEEDED
 * breadth first; each allocator function goes to the first object in it
 * that exports the name. A static executable is its own allocator. The
 * family (glibc, jemalloc, tcmalloc, mimalloc, musl) of malloc's provider
 * says what else to look for (mallocx, tc_malloc, mi_malloc, ...) and
 * whether its syscall wrappers are leaf functions. No kernel, no root.
 */
#ifndef TIDEMARK_ALLOCATOR_H
#define TIDEMARK_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "target/maps.h"
#include "tidemark_common.h"

enum tm_alloc_family {
	TM_ALLOC_NONE,  /* nothing in the scope exports malloc (a Go binary, a custom arena) */
	TM_ALLOC_OTHER, /* malloc comes from an allocator tidemark does not know */
	TM_ALLOC_GLIBC,
	TM_ALLOC_JEMALLOC,
	TM_ALLOC_TCMALLOC,
	TM_ALLOC_MIMALLOC,
	TM_ALLOC_MUSL,
};

/* What a function does to the heap, for the probe that goes on it. */
struct tm_alloc_fn {
	const char *name;
	enum tm_kind kind;  /* TM_KIND_FREE for everything that frees its first argument */
	unsigned int flags; /* enum tm_alloc_fn_flags */
};

enum tm_alloc_fn_flags {
	/* may hand its pointer on to another probed free (operator delete -> free) */
	TM_AFN_WRAPS_FREE = 1u << 0,
	/* a syscall wrapper that is not a leaf (musl's mmap): its entry names the caller */
	TM_AFN_SYSCALL = 1u << 1,
	/* mimalloc's mi_heap_*: a heap comes first, the arguments of the plain form follow it */
	TM_AFN_HEAP = 1u << 2,
	/* jemalloc's xallocx: resizes its first argument in place and returns a size */
	TM_AFN_IN_PLACE = 1u << 3,
};

/* One function to probe: where it is. */
struct tm_alloc_probe {
	const struct tm_alloc_fn *fn;
	unsigned int obj;  /* index into tm_allocator.objs */
	uint64_t file_off; /* the function's start, as a uprobe takes it */
	uint64_t vaddr;
	uint64_t size;
};

struct tm_allocator {
	enum tm_alloc_family family;
	int provider;  /* index into objs of malloc's provider; -1 none */
	int is_static; /* the executable has no dynamic loader */
	int stripped;  /* ... and no symbol table: its malloc cannot be found */
	char **objs;   /* the lookup scope, in order (paths to open) */
	size_t nobjs;
	struct tm_alloc_probe *probes;
	size_t nprobes;
};

/*
 * Resolve for executable @exe (a path to open) with LD_PRELOAD value
 * @preload (NULL: none). With @maps (a live process), only objects it maps
 * are in the scope; without (before the exec), each is searched as ld.so
 * does. @root prefixes every path searched ("" or "/proc/PID/root").
 * Free with tm_allocator__free.
 */
int tm_allocator__resolve(struct tm_allocator *a, const char *exe, const char *preload,
			  const struct tm_maps *maps, const char *root);
/* The same for a live process: its executable, its LD_PRELOAD, what it maps. */
int tm_allocator__of_pid(struct tm_allocator *a, pid_t pid, const struct tm_maps *maps);
/*
 * What tm_allocator__of_pid's answer depends on, hashed: the executable
 * (device and inode) and the LD_PRELOAD it was started with. The daemon
 * resolves each new pair once.
 */
int tm_allocator__pid_key(pid_t pid, uint64_t *key);
/* The same for one object only (the daemon's libc). */
int tm_allocator__resolve_one(struct tm_allocator *a, const char *path);
void tm_allocator__free(struct tm_allocator *a); /* accepts NULL; leaves @a zeroed */

/*
 * The family of an object that brings an allocator API of its own (mallocx,
 * tc_malloc, mi_malloc): jemalloc, tcmalloc or mimalloc; TM_ALLOC_NONE for
 * anything else. For a library a process maps after it started (dlopen).
 */
enum tm_alloc_family tm_allocator__object_family(const char *path);
/* One line for such a library, loaded by @pid after its allocator was probed. */
void tm_allocator__describe_late(enum tm_alloc_family f, const char *path, char *buf, size_t len);

const char *tm_alloc_family__name(enum tm_alloc_family f);
/* One line: which object provides malloc and what is traced, e.g. "jemalloc (libjemalloc.so.2)". */
void tm_allocator__describe(const struct tm_allocator *a, char *buf, size_t len);

#endif
