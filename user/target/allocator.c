// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * allocator.c: find the allocator a process calls. See allocator.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "target/allocator.h"
#include "target/elf.h"
#include "target/proc.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/path.h"

#define W TM_AFN_WRAPS_FREE
#define H TM_AFN_HEAP
/*
 * Every function that makes or frees a heap block, whoever provides it.
 * Functions at one address are probed once, under the first name here:
 * memalign before aligned_alloc (glibc 2.36 aliases them).
 */
static const struct tm_alloc_fn fns[] = {
	/* C, POSIX and the GNU extensions */
	{ "malloc", TM_KIND_MALLOC, 0 },
	{ "calloc", TM_KIND_CALLOC, 0 },
	{ "realloc", TM_KIND_REALLOC, 0 },
	{ "reallocarray", TM_KIND_REALLOCARRAY, 0 },
	{ "posix_memalign", TM_KIND_POSIX_MEMALIGN, 0 },
	{ "memalign", TM_KIND_MEMALIGN, 0 },
	{ "aligned_alloc", TM_KIND_ALIGNED_ALLOC, 0 },
	{ "valloc", TM_KIND_VALLOC, 0 },
	{ "pvalloc", TM_KIND_PVALLOC, 0 },
	{ "free", TM_KIND_FREE, 0 },
	{ "cfree", TM_KIND_FREE, W },
	/* C23 */
	{ "free_sized", TM_KIND_FREE, W },
	{ "free_aligned_sized", TM_KIND_FREE, W },
	/* BSD: realloc that frees the block when it fails (mimalloc exports it) */
	{ "reallocf", TM_KIND_REALLOC, 0 },
	/* C++ operator new (size first in every form) and delete (pointer first) */
	{ "_Znwm", TM_KIND_MALLOC, 0 },
	{ "_Znam", TM_KIND_MALLOC, 0 },
	{ "_ZnwmRKSt9nothrow_t", TM_KIND_MALLOC, 0 },
	{ "_ZnamRKSt9nothrow_t", TM_KIND_MALLOC, 0 },
	{ "_ZnwmSt11align_val_t", TM_KIND_MALLOC, 0 },
	{ "_ZnamSt11align_val_t", TM_KIND_MALLOC, 0 },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", TM_KIND_MALLOC, 0 },
	{ "_ZnamSt11align_val_tRKSt9nothrow_t", TM_KIND_MALLOC, 0 },
	{ "_ZdlPv", TM_KIND_FREE, W },
	{ "_ZdaPv", TM_KIND_FREE, W },
	{ "_ZdlPvm", TM_KIND_FREE, W },
	{ "_ZdaPvm", TM_KIND_FREE, W },
	{ "_ZdlPvRKSt9nothrow_t", TM_KIND_FREE, W },
	{ "_ZdaPvRKSt9nothrow_t", TM_KIND_FREE, W },
	{ "_ZdlPvSt11align_val_t", TM_KIND_FREE, W },
	{ "_ZdaPvSt11align_val_t", TM_KIND_FREE, W },
	{ "_ZdlPvmSt11align_val_t", TM_KIND_FREE, W },
	{ "_ZdaPvmSt11align_val_t", TM_KIND_FREE, W },
	{ "_ZdlPvSt11align_val_tRKSt9nothrow_t", TM_KIND_FREE, W },
	{ "_ZdaPvSt11align_val_tRKSt9nothrow_t", TM_KIND_FREE, W },
	/* jemalloc's own API (sallocx and nallocx only answer questions), plain and je_-prefixed */
	{ "mallocx", TM_KIND_MALLOC, 0 },
	{ "rallocx", TM_KIND_REALLOC, 0 },
	{ "xallocx", TM_KIND_REALLOC, TM_AFN_IN_PLACE },
	{ "dallocx", TM_KIND_FREE, W },
	{ "sdallocx", TM_KIND_FREE, W },
	{ "je_malloc", TM_KIND_MALLOC, 0 },
	{ "je_calloc", TM_KIND_CALLOC, 0 },
	{ "je_realloc", TM_KIND_REALLOC, 0 },
	{ "je_posix_memalign", TM_KIND_POSIX_MEMALIGN, 0 },
	{ "je_memalign", TM_KIND_MEMALIGN, 0 },
	{ "je_aligned_alloc", TM_KIND_ALIGNED_ALLOC, 0 },
	{ "je_valloc", TM_KIND_VALLOC, 0 },
	{ "je_free", TM_KIND_FREE, W },
	{ "je_mallocx", TM_KIND_MALLOC, 0 },
	{ "je_rallocx", TM_KIND_REALLOC, 0 },
	{ "je_xallocx", TM_KIND_REALLOC, TM_AFN_IN_PLACE },
	{ "je_dallocx", TM_KIND_FREE, W },
	{ "je_sdallocx", TM_KIND_FREE, W },
	/* tcmalloc's tc_ names (most alias the standard ones) */
	{ "tc_malloc", TM_KIND_MALLOC, 0 },
	{ "tc_malloc_skip_new_handler", TM_KIND_MALLOC, 0 },
	{ "tc_calloc", TM_KIND_CALLOC, 0 },
	{ "tc_realloc", TM_KIND_REALLOC, 0 },
	{ "tc_posix_memalign", TM_KIND_POSIX_MEMALIGN, 0 },
	{ "tc_memalign", TM_KIND_MEMALIGN, 0 },
	{ "tc_valloc", TM_KIND_VALLOC, 0 },
	{ "tc_pvalloc", TM_KIND_PVALLOC, 0 },
	{ "tc_new", TM_KIND_MALLOC, 0 },
	{ "tc_newarray", TM_KIND_MALLOC, 0 },
	{ "tc_new_nothrow", TM_KIND_MALLOC, 0 },
	{ "tc_newarray_nothrow", TM_KIND_MALLOC, 0 },
	{ "tc_new_aligned", TM_KIND_MALLOC, 0 },
	{ "tc_newarray_aligned", TM_KIND_MALLOC, 0 },
	{ "tc_new_aligned_nothrow", TM_KIND_MALLOC, 0 },
	{ "tc_newarray_aligned_nothrow", TM_KIND_MALLOC, 0 },
	{ "tc_free", TM_KIND_FREE, W },
	{ "tc_cfree", TM_KIND_FREE, W },
	{ "tc_free_sized", TM_KIND_FREE, W },
	{ "tc_delete", TM_KIND_FREE, W },
	{ "tc_deletearray", TM_KIND_FREE, W },
	{ "tc_delete_nothrow", TM_KIND_FREE, W },
	{ "tc_deletearray_nothrow", TM_KIND_FREE, W },
	{ "tc_delete_sized", TM_KIND_FREE, W },
	{ "tc_deletearray_sized", TM_KIND_FREE, W },
	{ "tc_delete_aligned", TM_KIND_FREE, W },
	{ "tc_deletearray_aligned", TM_KIND_FREE, W },
	{ "tc_delete_aligned_nothrow", TM_KIND_FREE, W },
	{ "tc_deletearray_aligned_nothrow", TM_KIND_FREE, W },
	{ "tc_delete_sized_aligned", TM_KIND_FREE, W },
	{ "tc_deletearray_sized_aligned", TM_KIND_FREE, W },
	/* mimalloc's mi_ API: the forms whose size (or pointer) is the first argument */
	{ "mi_malloc", TM_KIND_MALLOC, 0 },
	{ "mi_zalloc", TM_KIND_MALLOC, 0 },
	{ "mi_malloc_small", TM_KIND_MALLOC, 0 },
	{ "mi_zalloc_small", TM_KIND_MALLOC, 0 },
	{ "mi_malloc_aligned", TM_KIND_MALLOC, 0 },
	{ "mi_zalloc_aligned", TM_KIND_MALLOC, 0 },
	{ "mi_malloc_aligned_at", TM_KIND_MALLOC, 0 },
	{ "mi_zalloc_aligned_at", TM_KIND_MALLOC, 0 },
	{ "mi_new", TM_KIND_MALLOC, 0 },
	{ "mi_new_nothrow", TM_KIND_MALLOC, 0 },
	{ "mi_new_aligned", TM_KIND_MALLOC, 0 },
	{ "mi_new_aligned_nothrow", TM_KIND_MALLOC, 0 },
	{ "mi_calloc", TM_KIND_CALLOC, 0 },
	{ "mi_mallocn", TM_KIND_CALLOC, 0 },
	{ "mi_new_n", TM_KIND_CALLOC, 0 },
	{ "mi_calloc_aligned", TM_KIND_CALLOC, 0 },
	{ "mi_calloc_aligned_at", TM_KIND_CALLOC, 0 },
	{ "mi_realloc", TM_KIND_REALLOC, 0 },
	{ "mi_realloc_aligned", TM_KIND_REALLOC, 0 },
	{ "mi_realloc_aligned_at", TM_KIND_REALLOC, 0 },
	{ "mi_new_realloc", TM_KIND_REALLOC, 0 },
	{ "mi_reallocf", TM_KIND_REALLOC, 0 },
	{ "mi_rezalloc", TM_KIND_REALLOC, 0 },
	{ "mi_rezalloc_aligned", TM_KIND_REALLOC, 0 },
	{ "mi_rezalloc_aligned_at", TM_KIND_REALLOC, 0 },
	/* in place or not at all: NULL leaves the block as it was, as a failed realloc does */
	{ "mi_expand", TM_KIND_REALLOC, 0 },
	{ "mi__expand", TM_KIND_REALLOC, 0 },
	{ "mi_reallocn", TM_KIND_REALLOCARRAY, 0 },
	{ "mi_reallocarray", TM_KIND_REALLOCARRAY, 0 },
	{ "mi_new_reallocn", TM_KIND_REALLOCARRAY, 0 },
	{ "mi_recalloc", TM_KIND_REALLOCARRAY, 0 },
	{ "mi_recalloc_aligned", TM_KIND_REALLOCARRAY, 0 },
	{ "mi_recalloc_aligned_at", TM_KIND_REALLOCARRAY, 0 },
	{ "mi_aligned_recalloc", TM_KIND_REALLOCARRAY, 0 },
	{ "mi_aligned_offset_recalloc", TM_KIND_REALLOCARRAY, 0 },
	{ "mi_posix_memalign", TM_KIND_POSIX_MEMALIGN, 0 },
	{ "mi_memalign", TM_KIND_MEMALIGN, 0 },
	{ "mi_aligned_alloc", TM_KIND_ALIGNED_ALLOC, 0 },
	{ "mi_valloc", TM_KIND_VALLOC, 0 },
	{ "mi_pvalloc", TM_KIND_PVALLOC, 0 },
	{ "mi_free", TM_KIND_FREE, W },
	{ "mi_cfree", TM_KIND_FREE, W },
	{ "mi_free_size", TM_KIND_FREE, W },
	{ "mi_free_aligned", TM_KIND_FREE, W },
	{ "mi_free_size_aligned", TM_KIND_FREE, W },
	/* ... and the same on a heap of the caller's: mi_heap_new, then these */
	{ "mi_heap_malloc", TM_KIND_MALLOC, H },
	{ "mi_heap_zalloc", TM_KIND_MALLOC, H },
	{ "mi_heap_malloc_small", TM_KIND_MALLOC, H },
	{ "mi_heap_malloc_aligned", TM_KIND_MALLOC, H },
	{ "mi_heap_zalloc_aligned", TM_KIND_MALLOC, H },
	{ "mi_heap_malloc_aligned_at", TM_KIND_MALLOC, H },
	{ "mi_heap_zalloc_aligned_at", TM_KIND_MALLOC, H },
	{ "mi_heap_alloc_new", TM_KIND_MALLOC, H },
	{ "mi_heap_calloc", TM_KIND_CALLOC, H },
	{ "mi_heap_mallocn", TM_KIND_CALLOC, H },
	{ "mi_heap_calloc_aligned", TM_KIND_CALLOC, H },
	{ "mi_heap_calloc_aligned_at", TM_KIND_CALLOC, H },
	{ "mi_heap_alloc_new_n", TM_KIND_CALLOC, H },
	{ "mi_heap_realloc", TM_KIND_REALLOC, H },
	{ "mi_heap_reallocf", TM_KIND_REALLOC, H },
	{ "mi_heap_rezalloc", TM_KIND_REALLOC, H },
	{ "mi_heap_realloc_aligned", TM_KIND_REALLOC, H },
	{ "mi_heap_realloc_aligned_at", TM_KIND_REALLOC, H },
	{ "mi_heap_rezalloc_aligned", TM_KIND_REALLOC, H },
	{ "mi_heap_rezalloc_aligned_at", TM_KIND_REALLOC, H },
	{ "mi_heap_reallocn", TM_KIND_REALLOCARRAY, H },
	{ "mi_heap_recalloc", TM_KIND_REALLOCARRAY, H },
	{ "mi_heap_recalloc_aligned", TM_KIND_REALLOCARRAY, H },
	{ "mi_heap_recalloc_aligned_at", TM_KIND_REALLOCARRAY, H },
	/* syscall wrappers that keep a frame (musl's; tcmalloc's hooked ones): the entry sees the caller */
	{ "mmap", TM_KIND_MMAP, TM_AFN_SYSCALL },
	{ "mmap64", TM_KIND_MMAP, TM_AFN_SYSCALL },
	{ "mremap", TM_KIND_MREMAP, TM_AFN_SYSCALL },
	{ "sbrk", TM_KIND_BRK, TM_AFN_SYSCALL },
};
#undef W
#undef H
#define NFNS (sizeof(fns) / sizeof(fns[0]))

const char *tm_alloc_family__name(enum tm_alloc_family f)
{
	switch (f) {
	case TM_ALLOC_GLIBC: return "glibc";
	case TM_ALLOC_JEMALLOC: return "jemalloc";
	case TM_ALLOC_TCMALLOC: return "tcmalloc";
	case TM_ALLOC_MIMALLOC: return "mimalloc";
	case TM_ALLOC_MUSL: return "musl";
	case TM_ALLOC_OTHER: return "an allocator tidemark does not know";
	default: return "none";
	}
}

static int fn_index(const char *name)
{
	size_t i;

	for (i = 0; i < NFNS; i++)
		if (!strcmp(fns[i].name, name))
			return (int)i;
	return -1;
}

static int scope_add(struct tm_allocator *a, const char *path)
{
	struct stat st, o;
	char **v;
	size_t i;

	if (stat(path, &st))
		return -errno;
	for (i = 0; i < a->nobjs; i++)
		if (!stat(a->objs[i], &o) && o.st_dev == st.st_dev && o.st_ino == st.st_ino)
			return 0; /* loaded once, at its first place in the order */
	v = realloc(a->objs, (a->nobjs + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	a->objs = v;
	a->objs[a->nobjs] = strdup(path);
	if (!a->objs[a->nobjs])
		return -ENOMEM;
	a->nobjs++;
	return 0;
}

/* Is the file @path mapped by the process whose maps are @m (through @root)? */
static int is_mapped(const struct tm_maps *m, const char *path)
{
	struct stat st;
	size_t i;

	if (!m)
		return 1;
	if (stat(path, &st))
		return 0;
	for (i = 0; i < m->nr; i++)
		if (m->entries[i].inode == st.st_ino && m->entries[i].path[0])
			return 1;
	return 0;
}

/*
 * A name the dynamic loader is to load: a path as it is, else searched
 * from @from. musl's loader is its libc: "libc.so" is the interpreter.
 */
static int locate(const char *from, const struct tm_elf_info *info, const char *interp, const char *name,
		  const char *root, char *out, size_t len)
{
	char found[PATH_MAX];
	int err;

	if (interp[0] && strstr(interp, "ld-musl") && !strcmp(name, "libc.so"))
		snprintf(found, sizeof(found), "%s", interp);
	else if ((err = tm_elf__locate(from, info, name, found, sizeof(found))))
		return err;
	if (root[0] && strncmp(found, root, strlen(root)))
		return (size_t)snprintf(out, len, "%s%s", root, found) < len ? 0 : -ENAMETOOLONG;
	return (size_t)snprintf(out, len, "%s", found) < len ? 0 : -ENAMETOOLONG;
}

/*
 * The object ld.so loaded for @name: searched as ld.so does and kept if the
 * process maps that file; else, in a live process (@maps with a pid), the
 * file it maps under that name, opened as it maps it, so a container's own
 * copy is found through /proc/PID/root and checked by device and inode.
 */
static int find_object(const char *from, const struct tm_elf_info *info, const char *interp, const char *name,
		       const struct tm_maps *maps, const char *root, char *out, size_t len)
{
	size_t i;

	if (!locate(from, info, interp, name, root, out, len) && is_mapped(maps, out))
		return 0;
	if (maps && maps->pid)
		for (i = 0; i < maps->nr; i++) {
			const struct tm_map_entry *e = &maps->entries[i];

			if (e->path[0] == '/' && !strcmp(tm_basename(e->path), tm_basename(name)))
				return tm_maps__entry_path(maps->pid, e, out, len);
		}
	return -ENOENT;
}

/* LD_PRELOAD's entries (space or colon separated), then /etc/ld.so.preload's. */
static void add_preloads(struct tm_allocator *a, const char *exe, const struct tm_elf_info *xi, const char *preload,
			 const struct tm_maps *maps, const char *root)
{
	char buf[4096], path[PATH_MAX], file[PATH_MAX];
	const char *lists[2] = { preload, NULL };
	FILE *f;
	int k;

	snprintf(file, sizeof(file), "%s/etc/ld.so.preload", root);
	f = fopen(file, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		buf[n] = 0;
		fclose(f);
		lists[1] = buf;
	}
	for (k = 0; k < 2; k++) {
		const char *p = lists[k];

		while (p && *p) {
			size_t n = strcspn(p, " :\t\n");
			char name[PATH_MAX];

			if (n && n < sizeof(name)) {
				memcpy(name, p, n);
				name[n] = 0;
				if (!find_object(exe, xi, "", name, maps, root, path, sizeof(path)))
					scope_add(a, path);
			}
			p += n;
			p += strspn(p, " :\t\n");
		}
	}
}

/*
 * glibc's libc: by its name, or, for a path that has none of it (a
 * container's file on overlayfs reached as /proc/PID/map_files/START-END),
 * by the function only glibc exports.
 */
static int is_glibc(const char *path)
{
	static const char *const only_glibc = "gnu_get_libc_version";
	struct tm_elf_sym s;

	if (!strcmp(tm_basename(path), "libc.so.6"))
		return 1;
	return !tm_elf__find_many(path, 1, &only_glibc, 1, &s) && s.vaddr;
}

static int static_has(const char *path, const char *name)
{
	struct tm_elf_sym s;

	return !tm_elf__find_many(path, 0, &name, 1, &s) && s.vaddr;
}

static enum tm_alloc_family family_of(const struct tm_allocator *a, const struct tm_elf_sym *own, int interp_musl)
{
	if (own[fn_index("mallocx")].vaddr || own[fn_index("je_mallocx")].vaddr)
		return TM_ALLOC_JEMALLOC;
	if (own[fn_index("tc_malloc")].vaddr)
		return TM_ALLOC_TCMALLOC;
	if (own[fn_index("mi_malloc")].vaddr)
		return TM_ALLOC_MIMALLOC;
	if (is_glibc(a->objs[a->provider]))
		return TM_ALLOC_GLIBC;
	if (interp_musl && (a->provider > 0 || a->is_static))
		return TM_ALLOC_MUSL;
	/* glibc linked statically: its malloc with the functions only glibc has */
	if (a->is_static && own[fn_index("pvalloc")].vaddr && static_has(a->objs[a->provider], "malloc_trim"))
		return TM_ALLOC_GLIBC;
	return TM_ALLOC_OTHER;
}


/* Bind every function of fns[] to the first object in the scope with it. */
static int bind_all(struct tm_allocator *a, int interp_musl)
{
	const char *names[NFNS];
	struct tm_elf_sym *sym;
	int *owner, err = 0;
	size_t i, j, k;

	for (i = 0; i < NFNS; i++)
		names[i] = fns[i].name;
	sym = calloc(a->nobjs * NFNS, sizeof(*sym));
	owner = malloc(NFNS * sizeof(*owner));
	a->probes = calloc(NFNS, sizeof(*a->probes));
	if (!sym || !owner || !a->probes) {
		err = -ENOMEM;
		goto out;
	}
	for (j = 0; j < a->nobjs; j++)
		tm_elf__find_many(a->objs[j], !a->is_static, names, NFNS, sym + j * NFNS);
	a->provider = -1;
	for (i = 0; i < NFNS; i++) {
		owner[i] = -1;
		for (j = 0; j < a->nobjs && owner[i] < 0; j++)
			if (sym[j * NFNS + i].vaddr)
				owner[i] = (int)j;
	}
	a->provider = owner[0];
	if (a->provider < 0) {
		a->family = TM_ALLOC_NONE;
		goto out;
	}
	a->family = family_of(a, sym + a->provider * NFNS,
			      interp_musl || (a->is_static && static_has(a->objs[a->provider], "__malloc_alloc_meta")));
	if (a->family == TM_ALLOC_OTHER)
		goto out; /* counted from its mappings only: see tm_allocator__describe */
	for (i = 0; i < NFNS; i++) {
		const struct tm_elf_sym *s;
		int dup = 0;

		if (owner[i] < 0)
			continue;
		/* glibc's wrappers are leaf functions: [rsp] at the syscall is the caller already */
		if ((fns[i].flags & TM_AFN_SYSCALL) && is_glibc(a->objs[owner[i]]))
			continue;
		s = &sym[owner[i] * NFNS + i];
		for (k = 0; k < a->nprobes; k++)
			dup |= a->probes[k].obj == (unsigned int)owner[i] && a->probes[k].vaddr == s->vaddr;
		if (dup)
			continue;
		a->probes[a->nprobes++] = (struct tm_alloc_probe){
			.fn = &fns[i],
			.obj = (unsigned int)owner[i],
			.file_off = s->file_off,
			.vaddr = s->vaddr,
			.size = s->size,
		};
	}
out:
	free(owner);
	free(sym);
	return err;
}

int tm_allocator__resolve(struct tm_allocator *a, const char *exe, const char *preload,
			  const struct tm_maps *maps, const char *root)
{
	struct tm_elf_info xi;
	char interp[PATH_MAX] = "", path[PATH_MAX];
	size_t next;
	int err, musl;

	memset(a, 0, sizeof(*a));
	a->provider = -1;
	err = tm_elf__info(exe, &xi);
	if (err)
		return err;
	a->is_static = !xi.has_interp;
	a->stripped = a->is_static && !xi.has_symtab;
	if (xi.has_interp)
		snprintf(interp, sizeof(interp), "%s%s", root, xi.interp);
	musl = strstr(interp, "ld-musl") != NULL;
	err = scope_add(a, exe);
	if (err)
		goto out;
	if (!a->is_static)
		add_preloads(a, exe, &xi, preload, maps, root);
	tm_elf_info__free(&xi);
	/* breadth first over DT_NEEDED, from the executable and then each preload */
	for (next = 0; !a->is_static && next < a->nobjs; next++) {
		struct tm_elf_info oi;
		char from[PATH_MAX];
		size_t i;

		snprintf(from, sizeof(from), "%s", a->objs[next]);
		if (tm_elf__info(from, &oi))
			continue;
		for (i = 0; i < oi.nr_needed; i++) {
			if (find_object(from, &oi, interp, oi.needed[i], maps, root, path, sizeof(path))) {
				pr_debug("allocator: %s needs %s: not found or not mapped\n", from, oi.needed[i]);
				continue;
			}
			scope_add(a, path);
		}
		tm_elf_info__free(&oi);
	}
	return bind_all(a, musl);
out:
	tm_elf_info__free(&xi);
	return err;
}

/* pid's LD_PRELOAD (*preload points into *env, to free); none for a kernel thread or a zombie. */
static void pid_preload(pid_t pid, char **env, const char **preload)
{
	size_t n = 0, i;

	*env = NULL;
	*preload = NULL;
	if (tm_proc__read_all(pid, "environ", env, &n))
		return;
	for (i = 0; i < n; i += strlen(*env + i) + 1)
		if (!strncmp(*env + i, "LD_PRELOAD=", 11))
			*preload = *env + i + 11;
}

int tm_allocator__of_pid(struct tm_allocator *a, pid_t pid, const struct tm_maps *maps)
{
	const char *preload;
	char path[64], *env;
	int err;

	memset(a, 0, sizeof(*a));
	a->provider = -1;
	pid_preload(pid, &env, &preload);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	err = tm_allocator__resolve(a, path, preload, maps, "");
	free(env);
	return err;
}

int tm_allocator__pid_key(pid_t pid, uint64_t *key)
{
	const char *preload;
	char path[64], *env;
	struct stat st;
	uint64_t h;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &st))
		return -errno;
	pid_preload(pid, &env, &preload);
	h = tm_hash(TM_HASH_INIT, &st.st_dev, sizeof(st.st_dev));
	h = tm_hash(h, &st.st_ino, sizeof(st.st_ino));
	*key = tm_hash_str(h, preload ? preload : "");
	free(env);
	return 0;
}

int tm_allocator__resolve_one(struct tm_allocator *a, const char *path)
{
	int err;

	memset(a, 0, sizeof(*a));
	a->provider = -1;
	err = scope_add(a, path);
	return err ?: bind_all(a, 0);
}

void tm_allocator__free(struct tm_allocator *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->nobjs; i++)
		free(a->objs[i]);
	free(a->objs);
	free(a->probes);
	memset(a, 0, sizeof(*a));
	a->provider = -1;
}

enum tm_alloc_family tm_allocator__object_family(const char *path)
{
	static const char *const api[] = { "mallocx", "je_mallocx", "tc_malloc", "mi_malloc" };
	static const enum tm_alloc_family fam[] = { TM_ALLOC_JEMALLOC, TM_ALLOC_JEMALLOC, TM_ALLOC_TCMALLOC,
						    TM_ALLOC_MIMALLOC };
	struct tm_elf_sym sym[4];
	size_t i;

	if (tm_elf__find_many(path, 1, api, 4, sym))
		return TM_ALLOC_NONE;
	for (i = 0; i < 4; i++)
		if (sym[i].vaddr)
			return fam[i];
	return TM_ALLOC_NONE;
}

void tm_allocator__describe_late(enum tm_alloc_family f, const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "%s (%s) was loaded after the process started (dlopen): calls into it are not traced; "
			   "what it maps for its blocks is counted as mappings",
		 path, tm_alloc_family__name(f));
}

void tm_allocator__describe(const struct tm_allocator *a, char *buf, size_t len)
{
	const char *obj = a->provider >= 0 ? a->objs[a->provider] : "";

	switch (a->family) {
	case TM_ALLOC_NONE:
		if (a->stripped) {
			snprintf(buf, len, "%s is statically linked and stripped: its malloc/free cannot be found, so "
					   "heap blocks are not seen; the numbers are its anonymous mappings and brk only",
				 a->nobjs ? a->objs[0] : "the executable");
			break;
		}
		snprintf(buf, len, "no object exports malloc (a custom allocator or another runtime, such as Go's): "
				   "heap blocks are not seen; the numbers are its anonymous mappings and brk only");
		break;
	case TM_ALLOC_OTHER:
		snprintf(buf, len, "malloc comes from %s, an allocator tidemark does not know: its blocks are not "
				   "seen; the numbers are its anonymous mappings and brk only",
			 obj);
		break;
	default:
		snprintf(buf, len, "allocator: %s, malloc from %s", tm_alloc_family__name(a->family), obj);
		break;
	}
}
