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
/* Only the path in @hier: the v1 memory controller's, or the unified one. 0 or -ENOENT. */
int tm_cgroup__parse_proc_in(const char *text, enum tm_cg_hier hier, char *out, size_t len);
int tm_cgroup__of_pid_in(pid_t pid, enum tm_cg_hier hier, char *out, size_t len);

/*
 * The pod and container a cgroup path belongs to, as Kubernetes and the
 * container runtimes name their cgroups:
 *   systemd driver: .../kubepods-burstable-pod<UID>.slice/cri-containerd-<ID>.scope
 *                   (also docker-<ID>.scope and crio-<ID>.scope; the UID's
 *                   dashes are written as '_' there and given back as '-')
 *   cgroupfs driver (v1 and v2): .../kubepods/burstable/pod<UID>/<ID>
 *   plain docker: /system.slice/docker-<ID>.scope, /docker/<ID>
 * Either field is "" when the path does not say. 0 when it names at least
 * one of them, -ENOENT when neither. Pure.
 */
struct tm_container_ids {
	char pod_uid[40];      /* 8-4-4-4-12 hex digits */
	char container_id[72]; /* the runtime's id: 64 hex digits */
};
int tm_cgroup__container_ids(const char *path, struct tm_container_ids *ids);

/*
 * What a memory cgroup says of itself after an OOM kill: memory.max and
 * memory.current (v1: limit_in_bytes, usage_in_bytes), memory.peak (v1:
 * max_usage_in_bytes; v2 has it since Linux 5.19) and the oom_kill count
 * of memory.events (v1: memory.oom_control). Fields it lacks stay unset in
 * @have (enum tm_cg_mem_have).
 */
enum tm_cg_mem_have {
	TM_CG_HAVE_MAX = 1u << 0,
	TM_CG_HAVE_CURRENT = 1u << 1,
	TM_CG_HAVE_PEAK = 1u << 2,
	TM_CG_HAVE_OOM_KILL = 1u << 3,
};
struct tm_cg_mem {
	uint32_t have; /* enum tm_cg_mem_have */
	uint32_t hier; /* enum tm_cg_hier */
	uint64_t max;  /* bytes; 0 = no limit ("max") */
	uint64_t current, peak, oom_kill;
};
int tm_cgroup__memory_files(const char *rel, struct tm_cg_mem *m);
/* The oom_kill count in memory.events (v2) or memory.oom_control (v1) text. 0 or -ENOENT. Pure. */
int tm_cgroup__parse_oom_kill(const char *text, uint64_t *count);

/*
 * Map a path given on the command line (absolute under a cgroup mount, or
 * relative to the memory hierarchy's root) to the kernel's id for it (its
 * directory's inode) and hierarchy. Fills rel with the path inside the
 * hierarchy ("/a/b"). 0, -ENOENT, or -EINVAL (not a v1-memory or v2 cgroup).
 */
int tm_cgroup__resolve(const char *path, enum tm_cg_hier *hier, uint64_t *id, char *rel, size_t len);

/* Is cg (a path inside one hierarchy) the cgroup rel or below it? "/" holds every one. Pure. */
int tm_cgroup__under(const char *rel, const char *cg);

/* The path inside the memory hierarchy ("/a/b") of the cgroup whose id is id. 0 or -ENOENT. */
int tm_cgroup__path_by_id(uint64_t id, char *out, size_t len);

/* Read a cgroup's memory limit and usage in bytes (limit 0 = unlimited). */
int tm_cgroup__memory(const char *rel, uint64_t *limit, uint64_t *usage);

#endif /* TIDEMARK_CGROUP_H */
