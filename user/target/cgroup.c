// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroup.c: cgroup paths, ids and memory numbers (see cgroup.h).
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "target/cgroup.h"
#include "target/proc.h"

/* The v1 memory controller's mount point and the cgroup2 one, from mountinfo. */
static void find_mounts(char *v1mem, char *v2, size_t len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	v1mem[0] = v2[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], fstype[64], super[1024], *dash, *tok, *save;
		int n;

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		dash = strstr(line, " - ");
		if (!dash || sscanf(dash + 3, "%63s %*s %1023s%n", fstype, super, &n) < 2)
			continue;
		if (!strcmp(fstype, "cgroup2") && !v2[0]) {
			snprintf(v2, len, "%s", mnt);
		} else if (!strcmp(fstype, "cgroup") && !v1mem[0]) {
			for (tok = strtok_r(super, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				if (!strcmp(tok, "memory"))
					snprintf(v1mem, len, "%s", mnt);
		}
	}
	fclose(f);
}

int tm_cgroup__memory_root(char *dir, size_t len, enum tm_cg_hier *hier)
{
	char v1[PATH_MAX], v2[PATH_MAX];

	find_mounts(v1, v2, sizeof(v1));
	if (v1[0]) {
		snprintf(dir, len, "%s", v1);
		*hier = TM_CG_V1_MEMORY;
		return 0;
	}
	if (v2[0]) {
		snprintf(dir, len, "%s", v2);
		*hier = TM_CG_V2;
		return 0;
	}
	return -ENOENT;
}

/* want: -1 = the memory controller's v1 path, else the unified one; else only enum tm_cg_hier's */
static int parse_proc(const char *text, int want, char *out, size_t len)
{
	const char *line = text;
	int have = 0;

	out[0] = 0;
	while (line && *line) {
		const char *nl = strchr(line, '\n'), *c1 = strchr(line, ':'), *c2;
		size_t n = nl ? (size_t)(nl - line) : strlen(line);

		c2 = c1 && c1 < line + n ? memchr(c1 + 1, ':', line + n - c1 - 1) : NULL;
		if (c2) {
			const char *ctl = c1 + 1, *path = c2 + 1;
			size_t clen = c2 - ctl, plen = line + n - path;
			int is_mem = 0;

			/* "N:memory,...:/path": a v1 hierarchy holding the memory controller */
			while (clen) {
				const char *comma = memchr(ctl, ',', clen);
				size_t tl = comma ? (size_t)(comma - ctl) : clen;

				is_mem |= tl == 6 && !memcmp(ctl, "memory", 6);
				if (!comma)
					break;
				clen -= tl + 1;
				ctl = comma + 1;
			}
			int is_v2 = c2 == c1 + 1 && line[0] == '0' && c1 == line + 1;

			if ((is_mem && want != TM_CG_V2) || (is_v2 && !have && want != TM_CG_V1_MEMORY)) {
				snprintf(out, len, "%.*s", (int)plen, path);
				have = 1;
				if (is_mem || want == TM_CG_V2)
					return 0;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return have ? 0 : -ENOENT;
}

int tm_cgroup__parse_proc(const char *text, char *out, size_t len)
{
	return parse_proc(text, -1, out, len);
}

int tm_cgroup__parse_proc_in(const char *text, enum tm_cg_hier hier, char *out, size_t len)
{
	return parse_proc(text, (int)hier, out, len);
}

int tm_cgroup__of_pid_in(pid_t pid, enum tm_cg_hier hier, char *out, size_t len)
{
	char buf[8192];
	ssize_t n = tm_proc__read(pid, "cgroup", buf, sizeof(buf));

	return n < 0 ? (int)n : tm_cgroup__parse_proc_in(buf, hier, out, len);
}

int tm_cgroup__of_pid(pid_t pid, char *out, size_t len)
{
	char buf[8192];
	ssize_t n = tm_proc__read(pid, "cgroup", buf, sizeof(buf));

	return n < 0 ? (int)n : tm_cgroup__parse_proc(buf, out, len);
}

static int under(const char *path, const char *root, const char **rest)
{
	size_t n = strlen(root);

	if (!n || strncmp(path, root, n) || (path[n] && path[n] != '/'))
		return 0;
	*rest = path + n;
	return 1;
}

int tm_cgroup__under(const char *rel, const char *cg)
{
	size_t l = strlen(rel);

	return !strcmp(rel, "/") || (!strncmp(cg, rel, l) && (cg[l] == 0 || cg[l] == '/'));
}

int tm_cgroup__resolve(const char *path, enum tm_cg_hier *hier, uint64_t *id, char *rel, size_t len)
{
	char v1[PATH_MAX], v2[PATH_MAX], full[2 * PATH_MAX], real[PATH_MAX];
	const char *rest;
	struct stat st;

	find_mounts(v1, v2, sizeof(v1));
	if (path[0] != '/' || (!under(path, v1, &rest) && !under(path, v2, &rest))) {
		/* a path inside the memory hierarchy, like /proc/PID/cgroup shows it */
		snprintf(full, sizeof(full), "%s/%s", v1[0] ? v1 : v2, path[0] == '/' ? path + 1 : path);
		path = full;
	}
	if (!realpath(path, real))
		return -errno;
	if (stat(real, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (under(real, v1, &rest))
		*hier = TM_CG_V1_MEMORY;
	else if (under(real, v2, &rest))
		*hier = TM_CG_V2;
	else
		return -EINVAL;
	*id = st.st_ino;
	snprintf(rel, len, "%s", *rest ? rest : "/");
	return 0;
}

/* nftw has no context pointer: one search at a time (the daemon is single-threaded). */
static uint64_t want_id;
static char found[PATH_MAX];

static int match_id(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_D && st->st_ino == want_id) {
		snprintf(found, sizeof(found), "%s", path);
		return 1;
	}
	return 0;
}

int tm_cgroup__path_by_id(uint64_t id, char *out, size_t len)
{
	enum tm_cg_hier hier;
	char root[PATH_MAX];
	const char *rest;

	if (tm_cgroup__memory_root(root, sizeof(root), &hier))
		return -ENOENT;
	want_id = id;
	found[0] = 0;
	if (nftw(root, match_id, 16, FTW_PHYS | FTW_MOUNT) != 1 || !under(found, root, &rest))
		return -ENOENT;
	snprintf(out, len, "%s", *rest ? rest : "/");
	return 0;
}

static int read_u64_file(const char *path, uint64_t *v)
{
	char buf[64];
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	if (!strncmp(buf, "max", 3)) {
		*v = 0;
		return 0;
	}
	*v = strtoull(buf, NULL, 10);
	return 0;
}

int tm_cgroup__memory(const char *rel, uint64_t *limit, uint64_t *usage)
{
	enum tm_cg_hier hier;
	char root[PATH_MAX], path[PATH_MAX + 64];
	int err;

	*limit = *usage = 0;
	if (tm_cgroup__memory_root(root, sizeof(root), &hier))
		return -ENOENT;
	snprintf(path, sizeof(path), "%s%s/%s", root, rel,
		 hier == TM_CG_V1_MEMORY ? "memory.limit_in_bytes" : "memory.max");
	err = read_u64_file(path, limit);
	if (err)
		return err;
	/* v1 says "no limit" with a huge number, not "max" */
	if (*limit >= (0x7fffffffffffffffULL & ~4095ULL))
		*limit = 0;
	snprintf(path, sizeof(path), "%s%s/%s", root, rel,
		 hier == TM_CG_V1_MEMORY ? "memory.usage_in_bytes" : "memory.current");
	return read_u64_file(path, usage);
}

/* [s, s+n) is made of hex digits and separators from @extra only. */
static int all_of(const char *s, size_t n, const char *extra)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || strchr(extra, s[i])))
			return 0;
	return n > 0;
}

static int set_pod(struct tm_container_ids *ids, const char *s, size_t n)
{
	size_t i;

	/* 8-4-4-4-12, with '_' for '-' under the systemd driver (a '-' there is a slice separator) */
	if (n != 36 || !all_of(s, n, "-_"))
		return 0;
	for (i = 0; i < n; i++)
		ids->pod_uid[i] = s[i] == '_' ? '-' : s[i];
	ids->pod_uid[n] = 0;
	return 1;
}

static int set_container(struct tm_container_ids *ids, const char *s, size_t n)
{
	if (n < 12 || n >= sizeof(ids->container_id) || !all_of(s, n, ""))
		return 0;
	memcpy(ids->container_id, s, n);
	ids->container_id[n] = 0;
	return 1;
}

static int ends_with(const char *s, size_t n, const char *suffix, size_t *stem)
{
	size_t l = strlen(suffix);

	if (n < l || memcmp(s + n - l, suffix, l))
		return 0;
	*stem = n - l;
	return 1;
}

int tm_cgroup__container_ids(const char *path, struct tm_container_ids *ids)
{
	static const char *const scopes[] = { "cri-containerd-", "docker-", "crio-", "libpod-" };
	const char *c = path, *prev = NULL;
	size_t prevn = 0, n, stem, i;
	int in_pods = 0, after_pod = 0;

	memset(ids, 0, sizeof(*ids));
	if (!path)
		return -EINVAL;
	while (*c) {
		const char *end = strchr(c, '/'), *pod;

		n = end ? (size_t)(end - c) : strlen(c);
		if (!n)
			goto next;
		if ((n == 8 && !memcmp(c, "kubepods", 8)) || (n > 8 && !memcmp(c, "kubepods-", 9)) ||
		    (n > 8 && !memcmp(c, "kubepods.", 9)))
			in_pods = 1;
		if (ends_with(c, n, ".slice", &stem) && in_pods) {
			/* kubepods-pod<UID>.slice, kubepods-<qos>-pod<UID>.slice */
			pod = NULL;
			for (i = 0; i + 4 <= stem; i++)
				if (!memcmp(c + i, "-pod", 4))
					pod = c + i + 4;
			if (pod && set_pod(ids, pod, (size_t)(c + stem - pod)))
				goto next;
		}
		if (ends_with(c, n, ".scope", &stem)) {
			for (i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
				size_t l = strlen(scopes[i]);

				if (stem > l && !memcmp(c, scopes[i], l) &&
				    set_container(ids, c + l, stem - l))
					break;
			}
			goto next;
		}
		if (in_pods && n > 3 && !memcmp(c, "pod", 3) && set_pod(ids, c + 3, n - 3)) {
			after_pod = 1; /* cgroupfs: kubepods/<qos>/pod<UID>/<ID> */
			goto next;
		}
		if (after_pod || (prev && prevn == 6 && !memcmp(prev, "docker", 6)))
			set_container(ids, c, n);
		after_pod = 0;
	next:
		prev = c;
		prevn = n;
		if (!end)
			break;
		c = end + 1;
	}
	return ids->pod_uid[0] || ids->container_id[0] ? 0 : -ENOENT;
}

int tm_cgroup__parse_oom_kill(const char *text, uint64_t *count)
{
	const char *line = text;

	while (line && *line) {
		if (!strncmp(line, "oom_kill ", 9)) {
			char *end;

			*count = strtoull(line + 9, &end, 10);
			if (end != line + 9 && (*end == '\n' || !*end))
				return 0;
		}
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return -ENOENT;
}

static int read_text(const char *path, char *buf, size_t len)
{
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	return 0;
}

int tm_cgroup__memory_files(const char *rel, struct tm_cg_mem *m)
{
	enum tm_cg_hier hier;
	char root[PATH_MAX], path[PATH_MAX + 64], text[4096];
	int v1;

	memset(m, 0, sizeof(*m));
	if (tm_cgroup__memory_root(root, sizeof(root), &hier))
		return -ENOENT;
	m->hier = hier;
	v1 = hier == TM_CG_V1_MEMORY;
#define FILE_OF(v1name, v2name) (snprintf(path, sizeof(path), "%s%s/%s", root, strcmp(rel, "/") ? rel : "", \
					  v1 ? v1name : v2name), \
				 path)
	if (!read_u64_file(FILE_OF("memory.limit_in_bytes", "memory.max"), &m->max)) {
		m->have |= TM_CG_HAVE_MAX;
		if (m->max >= (0x7fffffffffffffffULL & ~4095ULL))
			m->max = 0; /* v1 says "no limit" with a huge number, not "max" */
	}
	if (!read_u64_file(FILE_OF("memory.usage_in_bytes", "memory.current"), &m->current))
		m->have |= TM_CG_HAVE_CURRENT;
	if (!read_u64_file(FILE_OF("memory.max_usage_in_bytes", "memory.peak"), &m->peak))
		m->have |= TM_CG_HAVE_PEAK;
	if (!read_text(FILE_OF("memory.oom_control", "memory.events"), text, sizeof(text)) &&
	    !tm_cgroup__parse_oom_kill(text, &m->oom_kill))
		m->have |= TM_CG_HAVE_OOM_KILL;
#undef FILE_OF
	return m->have ? 0 : -ENOENT;
}
