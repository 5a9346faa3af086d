/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * maps.c: /proc/PID/maps parsing and the union of snapshots.
 *
 * A line is "start-end perms offset major:minor inode [path]" with the path
 * starting after the padding that follows the inode and running to the end
 * of the line: it may hold spaces, and the kernel escapes only '\n' in it.
 * The parser is strict about the fixed fields because it is fed untrusted
 * text by the fuzzer, and because a line it half-understood would symbolize
 * addresses wrongly rather than not at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/log.h"
#include "target/maps.h"
#include "util/path.h"
#include "target/proc.h"

#define DELETED_SUFFIX " (deleted)"

static void entry_free(struct tm_map_entry *e)
{
	free(e->path);
	e->path = NULL;
}

static void entries_free(struct tm_map_entry *v, size_t nr)
{
	size_t i;

	for (i = 0; i < nr; i++)
		entry_free(&v[i]);
	free(v);
}

void tm_maps__free(struct tm_maps *m)
{
	if (!m)
		return;
	entries_free(m->entries, m->nr);
	m->entries = NULL;
	m->nr = 0;
	m->cap = 0;
	m->pid = 0;
}

static int entries_reserve(struct tm_map_entry **v, size_t *cap, size_t need)
{
	struct tm_map_entry *n;
	size_t c = *cap ? *cap : 64;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*v, c * sizeof(*n));
	if (!n)
		return -ENOMEM;
	*v = n;
	*cap = c;
	return 0;
}

/* Cursor over one line: [p, end). */
struct cur {
	const char *p;
	const char *end;
};

static int parse_hex(struct cur *c, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	while (c->p < c->end) {
		char ch = *c->p;
		unsigned int d;

		if (ch >= '0' && ch <= '9')
			d = (unsigned int)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned int)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			d = (unsigned int)(ch - 'A' + 10);
		else
			break;
		if (v >> 60)
			return -EINVAL;  /* more than 64 bits */
		v = v << 4 | d;
		n++;
		c->p++;
	}
	if (!n)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_dec(struct cur *c, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned int d = (unsigned int)(*c->p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		n++;
		c->p++;
	}
	if (!n)
		return -EINVAL;
	*out = v;
	return 0;
}

static int expect(struct cur *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return -EINVAL;
	c->p++;
	return 0;
}

/* One or more blanks between fields. */
static int skip_blanks(struct cur *c)
{
	const char *s = c->p;

	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	return c->p > s ? 0 : -EINVAL;
}

static int parse_perms(struct cur *c, struct tm_map_entry *e)
{
	static const char want[4][2] = { { 'r', '-' }, { 'w', '-' }, { 'x', '-' }, { 's', 'p' } };
	int i;

	if (c->end - c->p < 4)
		return -EINVAL;
	for (i = 0; i < 4; i++) {
		char ch = c->p[i];

		if (ch != want[i][0] && ch != want[i][1])
			return -EINVAL;
		e->perms[i] = ch;
	}
	e->perms[4] = '\0';
	if (e->perms[0] == 'r')
		e->flags |= TM_MAP_READ;
	if (e->perms[1] == 'w')
		e->flags |= TM_MAP_WRITE;
	if (e->perms[2] == 'x')
		e->flags |= TM_MAP_EXEC;
	if (e->perms[3] == 's')
		e->flags |= TM_MAP_SHARED;
	c->p += 4;
	return 0;
}

static int parse_line(const char *line, size_t len, struct tm_map_entry *e)
{
	struct cur c = { line, line + len };
	uint64_t maj, min;
	size_t plen, slen = sizeof(DELETED_SUFFIX) - 1;
	int err;

	memset(e, 0, sizeof(*e));
	if (memchr(line, '\0', len))
		return -EINVAL;
	if ((err = parse_hex(&c, &e->start)) || (err = expect(&c, '-')) ||
	    (err = parse_hex(&c, &e->end)) || (err = skip_blanks(&c)) ||
	    (err = parse_perms(&c, e)) || (err = skip_blanks(&c)) ||
	    (err = parse_hex(&c, &e->offset)) || (err = skip_blanks(&c)) ||
	    (err = parse_hex(&c, &maj)) || (err = expect(&c, ':')) ||
	    (err = parse_hex(&c, &min)) || (err = skip_blanks(&c)) ||
	    (err = parse_dec(&c, &e->inode)))
		return err;
	if (e->start >= e->end || maj > UINT32_MAX || min > UINT32_MAX)
		return -EINVAL;
	e->dev_major = (uint32_t)maj;
	e->dev_minor = (uint32_t)min;

	/* the path, if any, follows blanks; a line may also end right here */
	if (c.p < c.end && skip_blanks(&c))
		return -EINVAL;
	plen = (size_t)(c.end - c.p);
	if (plen >= slen && !memcmp(c.end - slen, DELETED_SUFFIX, slen)) {
		e->flags |= TM_MAP_DELETED;
		plen -= slen;
	}
	if (plen && c.p[0] == '[')
		e->flags |= TM_MAP_PSEUDO;
	e->path = strndup(c.p, plen);
	return e->path ? 0 : -ENOMEM;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct tm_map_entry *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

int tm_maps__parse(const char *text, size_t len, struct tm_maps *m)
{
	struct tm_map_entry *v = NULL;
	size_t nr = 0, cap = 0, i;
	const char *p = text, *end;
	bool sorted = true;
	int err = 0;

	if (!m || (!text && len))
		return -EINVAL;
	tm_maps__free(m);
	if (!len)
		return 0;
	end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n == 0) {
			/* tolerate blank lines */
			p += 1;
			continue;
		}
		err = entries_reserve(&v, &cap, nr + 1);
		if (err)
			goto err;
		err = parse_line(p, n, &v[nr]);
		if (err) {
			entry_free(&v[nr]);
			pr_debug("maps: malformed line %zu: %.*s\n", nr + 1,
				 (int)(n > 80 ? 80 : n), p);
			goto err;
		}
		if (nr && v[nr].start < v[nr - 1].start)
			sorted = false;
		nr++;
		p += n + (nl ? 1 : 0);
	}

	/* /proc keeps them sorted; other text need not be */
	if (!sorted)
		qsort(v, nr, sizeof(*v), entry_cmp);
	for (i = 1; i < nr; i++) {
		if (v[i].start < v[i - 1].end) {
			err = -EINVAL;
			goto err;
		}
	}
	m->entries = v;
	m->nr = nr;
	m->cap = cap;
	return 0;

err:
	entries_free(v, nr);
	return err;
}

int tm_maps__read(pid_t pid, struct tm_maps *m)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (!m || pid < 0)
		return -EINVAL;
	tm_maps__free(m);
	err = tm_proc__read_all(pid, "maps", &buf, &len);
	if (err)
		return err;
	err = tm_maps__parse(buf, len, m);
	if (!err)
		m->pid = pid;
	free(buf);
	return err;
}

const struct tm_map_entry *tm_maps__find(const struct tm_maps *m, uint64_t addr)
{
	size_t lo = 0, hi;

	if (!m || !m->nr)
		return NULL;
	hi = m->nr;
	/* first entry with end > addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->entries[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->nr && m->entries[lo].start <= addr)
		return &m->entries[lo];
	return NULL;
}

static int entry_copy(struct tm_map_entry *dst, const struct tm_map_entry *src, uint64_t start,
		      uint64_t end)
{
	*dst = *src;
	dst->path = strdup(src->path ? src->path : "");
	if (!dst->path)
		return -ENOMEM;
	/* a trimmed front moves the file offset with it */
	dst->offset = src->offset + (start - src->start);
	dst->start = start;
	dst->end = end;
	return 0;
}

static int push_copy(struct tm_map_entry **v, size_t *nr, size_t *cap,
		     const struct tm_map_entry *src, uint64_t start, uint64_t end)
{
	int err = entries_reserve(v, cap, *nr + 1);

	if (err)
		return err;
	err = entry_copy(&(*v)[*nr], src, start, end);
	if (err)
		return err;
	(*nr)++;
	return 0;
}

int tm_maps__merge(struct tm_maps *into, const struct tm_maps *from)
{
	struct tm_map_entry *v = NULL;
	size_t nr = 0, cap = 0, i = 0, j = 0;
	int err = 0;

	if (!into || !from)
		return -EINVAL;

	/*
	 * Both lists are sorted and each is free of overlaps: a single sweep
	 * emits @from's entries whole and the parts of @into's entries that
	 * fall between them.
	 */
	while (i < into->nr || j < from->nr) {
		const struct tm_map_entry *o = i < into->nr ? &into->entries[i] : NULL;
		const struct tm_map_entry *n = j < from->nr ? &from->entries[j] : NULL;
		uint64_t s, e;
		size_t k;

		if (n && (!o || n->start <= o->start)) {
			err = push_copy(&v, &nr, &cap, n, n->start, n->end);
			if (err)
				goto err;
			j++;
			continue;
		}
		/*
		 * o starts first: emit its pieces not covered by any newer entry.
		 * The last new entry already emitted may still reach into o.
		 */
		s = o->start;
		for (k = j ? j - 1 : 0; k < from->nr && s < o->end; k++) {
			const struct tm_map_entry *c = &from->entries[k];

			if (c->start >= o->end)
				break;
			if (c->end <= s)
				continue;
			if (c->start > s) {
				err = push_copy(&v, &nr, &cap, o, s, c->start);
				if (err)
					goto err;
			}
			s = c->end;
		}
		e = o->end;
		if (s < e) {
			err = push_copy(&v, &nr, &cap, o, s, e);
			if (err)
				goto err;
		}
		i++;
	}

	/* the pieces of old entries interleave with new ones: restore order (qsort wants a non-NULL base) */
	if (nr > 1)
		qsort(v, nr, sizeof(*v), entry_cmp);
	entries_free(into->entries, into->nr);
	into->entries = v;
	into->nr = nr;
	into->cap = cap;
	if (!into->pid)
		into->pid = from->pid;
	return 0;

err:
	entries_free(v, nr);
	return err;
}

int tm_maps__find_module(const struct tm_maps *m, const char *basename_prefix, char *path,
			 size_t len)
{
	const struct tm_map_entry *best = NULL;
	int best_score = -1, n;
	size_t i, plen;

	if (!m || !basename_prefix || !path || !len)
		return -EINVAL;
	plen = strlen(basename_prefix);
	for (i = 0; i < m->nr; i++) {
		const struct tm_map_entry *e = &m->entries[i];
		int score;

		if (e->path[0] != '/' || strncmp(tm_basename(e->path), basename_prefix, plen))
			continue;
		score = (e->flags & TM_MAP_EXEC ? 2 : 0) + (e->flags & TM_MAP_DELETED ? 0 : 4);
		if (score > best_score) {
			best = e;
			best_score = score;
		}
	}
	if (!best)
		return -ENOENT;

	if (m->pid > 0) {
		int err = tm_maps__entry_path(m->pid, best, path, len);

		return err == -ENOENT ? -ESTALE : err; /* mapped, but not reachable from here */
	}
	n = snprintf(path, len, "%s", best->path);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* How the file at @path relates to mapping @e: its file, another one on the same device, unknown. */
enum file_match { FILE_IS,
		  FILE_OTHER,
		  FILE_UNKNOWN };

static int file_match(const char *path, const struct tm_map_entry *e, enum file_match *how)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	if (major(st.st_dev) != e->dev_major || minor(st.st_dev) != e->dev_minor)
		*how = FILE_UNKNOWN; /* overlayfs before 6.6 shows its lower layer's device in maps */
	else
		*how = st.st_ino == e->inode ? FILE_IS : FILE_OTHER;
	return 0;
}

/*
 * Candidates, best first. The kernel writes a maps path relative to the
 * reader's root, resolved in the target's mount namespace: a process with
 * its own mount namespace (a container) names its files as seen from its
 * root, which /proc/PID/root reaches; a chrooted process in our mount
 * namespace has them named from our root, so the path itself reaches them.
 * /proc/PID/map_files/ is the mapped file itself, but only while the
 * process lives, and needs CAP_SYS_ADMIN.
 */
int tm_maps__entry_path(pid_t pid, const struct tm_map_entry *e, char *out, size_t len)
{
	char cand[2][4096], files[64];
	int ncand = 0, i, err = -ENOENT, unknown = -1, n;
	enum file_match how = FILE_UNKNOWN;

	if (!e || !out || !len || e->path[0] != '/')
		return -EINVAL;
	if (!(e->flags & TM_MAP_DELETED)) {
		if (pid > 0 && snprintf(cand[ncand], sizeof(cand[0]), "/proc/%d/root%s", (int)pid, e->path) <
				       (int)sizeof(cand[0]))
			ncand++;
		if (snprintf(cand[ncand], sizeof(cand[0]), "%s", e->path) < (int)sizeof(cand[0]))
			ncand++;
	}
	for (i = 0; i < ncand; i++) {
		int r = file_match(cand[i], e, &how);

		if (r) {
			err = r;
			continue;
		}
		if (how == FILE_IS)
			goto found;
		/* only inside its root: the bare path may be our own file of that name */
		if (how == FILE_UNKNOWN && unknown < 0 && pid > 0 && i == 0)
			unknown = i;
		if (how == FILE_OTHER)
			err = -ESTALE; /* replaced since it was mapped (an upgraded library) */
	}
	if (pid > 0) {
		struct stat st;

		snprintf(files, sizeof(files), "/proc/%d/map_files/%llx-%llx", (int)pid,
			 (unsigned long long)e->start, (unsigned long long)e->end);
		if (!stat(files, &st) && S_ISREG(st.st_mode)) {
			n = snprintf(out, len, "%s", files);
			return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
		}
		if (err == -ENOENT && errno != ENOENT)
			err = -errno;
	}
	if (unknown < 0)
		return err;
	i = unknown;
found:
	n = snprintf(out, len, "%s", cand[i]);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
