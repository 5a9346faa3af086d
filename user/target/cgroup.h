/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgroup.h: where processes live, for container attribution and OOM
 * post-mortems. Works with the v1 memory controller (its hierarchy is the
 * one OOM limits live in) and with the unified v2 hierarchy.
 */
#ifndef TIDEMARK_CGROUP_H
#define TIDEMARK_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tidemark_common.h"

/*
 * The directory the memory controller's hierarchy is mounted on
 * ("/sys/fs/cgroup/memory" on v1, "/sys/fs/cgroup" on v2) and which kind it
 * is. Returns 0 or -ENOENT (no memory controller mounted).
 */
int tm_cgroup__memory_root(char *dir, size_t len, enum tm_cg_hier *hier);

/*
 * Parse /proc/PID/cgroup text: the memory controller's path when it has a v1
 * line, else the unified ("0::") one. 0, or -ENOENT when neither is there.
 */
int tm_cgroup__parse_proc(const char *text, char *out, size_t len);
/* The same, read from /proc/PID/cgroup. */
int tm_cgroup__of_pid(pid_t pid, char *out, size_t len);

/*
 * Map a path given on the command line (absolute under a cgroup mount, or
 * relative to the memory hierarchy's root) to the kernel's id for it (its
 * directory's inode) and hierarchy. Fills rel with the path inside the
 * hierarchy ("/a/b"). 0, -ENOENT, or -EINVAL (not a v1-memory or v2 cgroup).
 */
int tm_cgroup__resolve(const char *path, enum tm_cg_hier *hier, uint64_t *id, char *rel, size_t len);

/* The path inside the memory hierarchy ("/a/b") of the cgroup whose id is id. 0 or -ENOENT. */
int tm_cgroup__path_by_id(uint64_t id, char *out, size_t len);

/* Read a cgroup's memory limit and usage in bytes (limit 0 = unlimited). */
int tm_cgroup__memory(const char *rel, uint64_t *limit, uint64_t *usage);

#endif /* TIDEMARK_CGROUP_H */
