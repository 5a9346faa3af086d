/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * maps.h: a process's memory map as /proc/PID/maps shows it, and the union
 * of such snapshots over time. Entries are kept sorted by start address and
 * never overlap, so lookups are a binary search.
 */
#ifndef TIDEMARK_MAPS_H
#define TIDEMARK_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum tm_map_flags {
	TM_MAP_READ = 1u << 0,
	TM_MAP_WRITE = 1u << 1,
	TM_MAP_EXEC = 1u << 2,
	TM_MAP_SHARED = 1u << 3,   /* 's' rather than 'p' */
	TM_MAP_DELETED = 1u << 4,  /* the kernel appended " (deleted)": the file is gone */
	TM_MAP_PSEUDO = 1u << 5,   /* "[heap]", "[stack]", "[vdso]", "[anon:name]", ... */
};

struct tm_map_entry {
	uint64_t start;            /* [start, end) */
	uint64_t end;
	uint64_t offset;           /* file offset of start */
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t flags;            /* enum tm_map_flags */
	char perms[5];             /* as shown: "r-xp" */
	char *path;                /* never NULL: "" when anonymous; " (deleted)" removed */
};

/* Zero-initialize before first use: struct tm_maps m = {}; */
struct tm_maps {
	struct tm_map_entry *entries;
	size_t nr;
	size_t cap;
	pid_t pid;                 /* whose maps; 0 when parsed from text or read from self */
};

/*
 * Replace @m's contents with /proc/PID/maps (pid 0: this process). -ENOENT
 * when the process is gone. On error @m is left empty.
 */
int tm_maps__read(pid_t pid, struct tm_maps *m);

/*
 * Replace @m's contents with the parsed @text (@len bytes, need not be NUL
 * terminated). Any malformed line, or overlapping ranges, make it -EINVAL;
 * @m is then left empty. Pure: touches nothing but @m.
 */
int tm_maps__parse(const char *text, size_t len, struct tm_maps *m);

/* The entry containing @addr, or NULL. Valid until @m is next changed. */
const struct tm_map_entry *tm_maps__find(const struct tm_maps *m, uint64_t addr);

/*
 * Fold the newer snapshot @from into @into, keeping the union: ranges of
 * @into that @from does not cover survive (an old mapping keeps symbolizing
 * addresses captured while it lived); where they overlap, @from wins and the
 * older entry is trimmed, its file offset moved along with its start.
 * On error @into is unchanged.
 */
int tm_maps__merge(struct tm_maps *into, const struct tm_maps *from);

/*
 * A path that opens @e's file as process @pid (0: none) maps it, checked
 * against the mapping's device and inode: /proc/PID/root/<path> (its own
 * mount namespace and root: a container), <path> itself (the kernel names
 * files relative to the reader's root: a chrooted process), else
 * /proc/PID/map_files/<start>-<end> (the mapped file itself, while it
 * lives). /proc/PID/root/<path> on another device than the mapping's
 * (overlayfs showed its lower layer's before 6.6) is used only when nothing
 * matches. -ENOENT or
 * -ESTALE (the path now names another file) when none is that file.
 */
int tm_maps__entry_path(pid_t pid, const struct tm_map_entry *e, char *out, size_t len);

/*
 * Find a file mapping whose basename starts with @basename_prefix
 * ("libc.so.6", "libc-") and write into @path a name the tracer can open:
 * tm_maps__entry_path()'s when @m has a pid, the path itself otherwise.
 * Executable, non-deleted mappings win. -ENOENT if none; -ESTALE when one
 * is mapped but its file cannot be reached from here (or is another file
 * now); -ENAMETOOLONG if @len is too small.
 */
int tm_maps__find_module(const struct tm_maps *m, const char *basename_prefix, char *path,
			 size_t len);

void tm_maps__free(struct tm_maps *m);  /* accepts NULL; leaves @m zeroed and reusable */

#endif /* TIDEMARK_MAPS_H */
