/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof.c: the pprof writer (what the profile holds: pprof.h).
 *
 * Encoding. profile.proto needs only two wire types, varints and
 * length-delimited fields, so the encoder is a growable buffer (util/buf.h) and a few
 * functions: no protobuf library. A sub-message is encoded into a scratch
 * buffer and then copied behind its tag and length; packed repeated
 * integers have their length computed first. The whole message is built
 * in memory and then deflated with zlib's gzip wrapper, as profile.proto
 * asks of profiles on disk. zlib writes mtime 0 in the gzip header, so the
 * same capture always gives the same bytes.
 *
 * Ids are handed out in a fixed order so that the output is deterministic:
 * one Location per distinct frame a sample uses, in frame-index order; one
 * Function per distinct (name, file); one Mapping per module, the lowest
 * first (pprof takes mapping[0] for the main binary, and an executable
 * usually sits below its libraries).
 *
 * default_sample_type is peak_space. Go heap profiles and memray's pprof
 * output default to inuse_space, which for a live process means "what
 * holds memory now"; for a trace that has ended it means "what leaked",
 * and tidemark's question is what held memory at the peak, the number its
 * text report leads with. peak_space is also the last sample type, which
 * is what readers that ignore default_sample_type pick. The other views
 * are one -sample_index=inuse_space (or alloc_space) away.
 *
 * Mappings. The capture keeps each native frame's runtime address and its
 * module's path, not where the module was loaded; a mapping's range is
 * synthesized from the lowest and highest address seen in it. Every
 * address has already been through tidemark's symbolizer, with the real
 * load bias. pprof re-symbolizes a mapping from the file on disk unless it
 * says has_functions (or has_filenames/has_line_numbers), and it would do
 * so against a base guessed from the synthesized range: the wrong
 * functions. So has_functions is set on every mapping, meaning "done";
 * has_filenames and has_line_numbers say whether any frame of the module
 * had a file and a line. Python frames share one more mapping, "[python]",
 * last: without any mapping pprof invents one and complains that it has no
 * binary to symbolize with; a name in brackets marks it as nothing to look
 * up, like "[vdso]".
 *
 * A Python function has no system_name: pprof "simplifies" a name that
 * equals its system_name and looks like C++, which turns "<module>" into ""
 * (template arguments removed). A native name tidemark demangled (C++,
 * Rust) keeps the symbol as linked in system_name; any other native name
 * is given as both.
 *
 * time_nanos is left out: the capture's clock is CLOCK_MONOTONIC, and
 * pprof wants wall-clock time since the epoch; a wrong date is worse than
 * none. duration_nanos is set. Process facts and every nonzero drop
 * counter go into comments (`go tool pprof -comments`), so nothing that
 * was not recorded goes unsaid.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "report/pprof.h"
#include "target/cgroup.h"
#include "util/buf.h"
#include "util/hash.h"

/* Field numbers from profile.proto. */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
};
enum { VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2 };
enum { SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3 };
enum { LABEL_KEY = 1,
       LABEL_STR = 2,
       LABEL_NUM = 3 };
enum {
	MAPPING_ID = 1,
	MAPPING_MEMORY_START = 2,
	MAPPING_MEMORY_LIMIT = 3,
	MAPPING_FILENAME = 5,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
};
enum { LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4 };
enum { LINE_FUNCTION_ID = 1, LINE_LINE = 2 };
enum {
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
	FUNCTION_FILENAME = 4,
};

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

enum {
	V_ALLOC_OBJECTS,
	V_ALLOC_SPACE,
	V_INUSE_OBJECTS,
	V_INUSE_SPACE,
	V_PEAK_OBJECTS,
	V_PEAK_SPACE,
	V__COUNT,
};

static const char *const sample_types[V__COUNT][2] = {
	[V_ALLOC_OBJECTS] = { "alloc_objects", "count" },
	[V_ALLOC_SPACE] = { "alloc_space", "bytes" },
	[V_INUSE_OBJECTS] = { "inuse_objects", "count" },
	[V_INUSE_SPACE] = { "inuse_space", "bytes" },
	[V_PEAK_OBJECTS] = { "peak_objects", "count" },
	[V_PEAK_SPACE] = { "peak_space", "bytes" },
};

/* Why peak_space: see the comment at the top. */
#define DEFAULT_SAMPLE_TYPE V_PEAK_SPACE

/* ------------------------------------------------------------------ */
/* protobuf encoding                                                  */

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void pb_varint(struct tm_buf *b, uint64_t v)
{
	uint8_t buf[10];
	size_t n = 0;

	while (v >= 0x80) {
		buf[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t)v;
	tm_buf__put(b, buf, n);
}

static void pb_tag(struct tm_buf *b, unsigned int field, unsigned int wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

/* proto3 leaves zero scalars out; readers take a missing field as 0. */
static void pb_uint(struct tm_buf *b, unsigned int field, uint64_t v)
{
	if (!v)
		return;
	pb_tag(b, field, WIRE_VARINT);
	pb_varint(b, v);
}

static void pb_bytes(struct tm_buf *b, unsigned int field, const void *data, size_t n)
{
	pb_tag(b, field, WIRE_LEN);
	pb_varint(b, n);
	tm_buf__put(b, data, n);
}

/* Append sub as a field of b, and empty sub for the next message. */
static void pb_msg(struct tm_buf *b, unsigned int field, struct tm_buf *sub)
{
	if (sub->err && !b->err)
		b->err = sub->err;
	pb_bytes(b, field, sub->data, sub->len);
	sub->len = 0;
}

/* A packed repeated integer field (int64 values go as their two's complement). */
static void pb_packed(struct tm_buf *b, unsigned int field, const uint64_t *v, size_t n)
{
	size_t i, len = 0;

	if (!n)
		return;
	for (i = 0; i < n; i++)
		len += varint_size(v[i]);
	pb_tag(b, field, WIRE_LEN);
	pb_varint(b, len);
	for (i = 0; i < n; i++)
		pb_varint(b, v[i]);
}

/* ------------------------------------------------------------------ */
/* tables                                                             */

/* The string table: owned copies in index order, and a hash index on them. */
struct strtab {
	char **s;
	size_t n, cap;
	uint32_t *slots;        /* index + 1; 0 = empty */
	size_t nslots;          /* a power of two, kept over twice n */
};

/* A map from 64-bit keys to nonzero ids. */
struct idmap {
	uint64_t *keys;
	uint32_t *vals;         /* 0 = empty slot */
	size_t cap, n;
};

struct module {
	uint32_t file;          /* string index */
	uint64_t lo, hi;
	int has_files, has_lines;
	uint32_t id;
};

struct func {
	uint32_t name, file;    /* string indices */
	uint32_t system_name;   /* the symbol as linked: the name itself unless demangled */
	int python;
};

struct writer {
	const struct tm_profile *p;
	unsigned int flags;
	int err;

	struct strtab st;

	uint32_t *loc_of;       /* per frame: its Location id; 0 = not used */
	uint32_t *fn_of;        /* per frame: its Function id; 0 = no Line */
	uint32_t *mod_of;       /* per frame: 1 + its index in mods; 0 = no Mapping */
	uint32_t nlocs;

	struct idmap fn_ids;    /* name << 32 | file -> Function id */
	struct func *funcs;     /* by id - 1 */
	size_t nfuncs;

	struct idmap mod_ids;   /* module string -> 1 + index in mods */
	struct module *mods;
	size_t nmods;
	int has_python;         /* a used Python frame: the "[python]" mapping */

	uint64_t *comments;
	size_t ncomments, comments_cap;
};

static int strtab_rehash(struct strtab *t, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	size_t i, j;

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < t->n; i++) {
		for (j = tm_hash_str(TM_HASH_INIT, t->s[i]) & (nslots - 1); slots[j]; j = (j + 1) & (nslots - 1))
			;
		slots[j] = (uint32_t)(i + 1);
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* The index of s in the string table, added if new; NULL is "", index 0. */
static uint32_t str_idx(struct writer *w, const char *s)
{
	struct strtab *t = &w->st;
	char **grown, *copy;
	size_t j;

	if (w->err)
		return 0;
	if (!s)
		s = "";
	if ((t->n + 1) * 2 > t->nslots && strtab_rehash(t, t->nslots ? t->nslots * 2 : 256))
		goto nomem;
	for (j = tm_hash_str(TM_HASH_INIT, s) & (t->nslots - 1); t->slots[j]; j = (j + 1) & (t->nslots - 1))
		if (!strcmp(t->s[t->slots[j] - 1], s))
			return t->slots[j] - 1;
	if (t->n >= UINT32_MAX - 1)
		goto nomem;
	if (t->n == t->cap) {
		grown = realloc(t->s, (t->cap ? t->cap * 2 : 256) * sizeof(*t->s));
		if (!grown)
			goto nomem;
		t->s = grown;
		t->cap = t->cap ? t->cap * 2 : 256;
	}
	copy = strdup(s);
	if (!copy)
		goto nomem;
	t->s[t->n] = copy;
	t->slots[j] = (uint32_t)(++t->n);
	return (uint32_t)(t->n - 1);
nomem:
	w->err = -ENOMEM;
	return 0;
}

static size_t key_slot(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

/* The value slot for key, created (holding 0) if absent; NULL on ENOMEM. */
static uint32_t *idmap_slot(struct idmap *m, uint64_t key)
{
	size_t i, j, cap;
	uint64_t *keys;
	uint32_t *vals;

	if ((m->n + 1) * 2 > m->cap) {
		cap = m->cap ? m->cap * 2 : 64;
		keys = calloc(cap, sizeof(*keys));
		vals = calloc(cap, sizeof(*vals));
		if (!keys || !vals) {
			free(keys);
			free(vals);
			return NULL;
		}
		for (i = 0; i < m->cap; i++) {
			if (!m->vals[i])
				continue;
			for (j = key_slot(m->keys[i], cap); vals[j]; j = (j + 1) & (cap - 1))
				;
			keys[j] = m->keys[i];
			vals[j] = m->vals[i];
		}
		free(m->keys);
		free(m->vals);
		m->keys = keys;
		m->vals = vals;
		m->cap = cap;
	}
	for (j = key_slot(key, m->cap); m->vals[j]; j = (j + 1) & (m->cap - 1))
		if (m->keys[j] == key)
			return &m->vals[j];
	/* The caller stores a nonzero id here at once, which makes the slot taken. */
	m->keys[j] = key;
	m->n++;
	return &m->vals[j];
}

/* ------------------------------------------------------------------ */
/* the profile's contents                                             */

static int64_t to_i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void site_values(const struct tm_site *s, uint64_t v[V__COUNT])
{
	static const struct {
		enum tm_report_view view;
		int objects, space;
	} views[] = {
		{ TM_VIEW_ALLOCS, V_ALLOC_OBJECTS, V_ALLOC_SPACE },
		{ TM_VIEW_LEAKS, V_INUSE_OBJECTS, V_INUSE_SPACE },
		{ TM_VIEW_PEAK, V_PEAK_OBJECTS, V_PEAK_SPACE },
	};
	uint64_t bytes, count;
	size_t i;

	for (i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
		tm_report__site_metric(s, views[i].view, &bytes, &count);
		v[views[i].objects] = (uint64_t)to_i64(count);
		v[views[i].space] = (uint64_t)to_i64(bytes);
	}
}

/* A site with nothing in any view adds nothing: left out, as the other reports do. */
static int site_included(const struct tm_site *s, uint64_t v[V__COUNT])
{
	int i;

	site_values(s, v);
	for (i = 0; i < V__COUNT; i++)
		if (v[i])
			return 1;
	return 0;
}

static int add_function(struct writer *w, const struct tm_frame *f, uint32_t *id)
{
	const char *name = f->function;
	uint32_t n, file, sys, *slot;
	struct func *grown;

	if (!name && f->kind == TM_FRAME_PYTHON)
		name = "<unknown>";
	*id = 0;
	if (!name)
		return 0;   /* an unknown native symbol: the Location keeps its address only */
	n = str_idx(w, name);
	file = str_idx(w, f->file);
	sys = f->system_name ? str_idx(w, f->system_name) : n;
	if (w->err)
		return w->err;
	slot = idmap_slot(&w->fn_ids, (uint64_t)n << 32 | file);
	if (!slot)
		return -ENOMEM;
	if (!*slot) {
		grown = realloc(w->funcs, (w->nfuncs + 1) * sizeof(*w->funcs));
		if (!grown)
			return -ENOMEM;
		w->funcs = grown;
		w->funcs[w->nfuncs++] = (struct func){ n, file, sys, f->kind == TM_FRAME_PYTHON };
		*slot = (uint32_t)w->nfuncs;
	}
	*id = *slot;
	return 0;
}

static int add_module(struct writer *w, const struct tm_frame *f, uint32_t *mod)
{
	struct module *m, *grown;
	uint32_t file, *slot;

	*mod = 0;
	if (f->kind == TM_FRAME_PYTHON || !f->module)
		return 0;
	file = str_idx(w, f->module);
	if (w->err)
		return w->err;
	slot = idmap_slot(&w->mod_ids, file);
	if (!slot)
		return -ENOMEM;
	if (!*slot) {
		grown = realloc(w->mods, (w->nmods + 1) * sizeof(*w->mods));
		if (!grown)
			return -ENOMEM;
		w->mods = grown;
		w->mods[w->nmods++] = (struct module){ .file = file, .lo = f->address,
						       .hi = f->address };
		*slot = (uint32_t)w->nmods;
	}
	*mod = *slot;
	m = &w->mods[*slot - 1];
	if (f->address < m->lo)
		m->lo = f->address;
	if (f->address > m->hi)
		m->hi = f->address;
	m->has_files |= f->file != NULL;
	m->has_lines |= f->line != 0;
	return 0;
}

static int cmp_module(const void *pa, const void *pb)
{
	const struct module *a = *(const struct module *const *)pa;
	const struct module *b = *(const struct module *const *)pb;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return a->file < b->file ? -1 : a->file > b->file;
}

/* Give each used frame its Location, Function and Mapping. */
static int index_frames(struct writer *w)
{
	const struct tm_profile *p = w->p;
	struct module **order = NULL;
	uint64_t v[V__COUNT];
	size_t i;
	uint32_t j;
	int err = 0;

	for (i = 0; i < p->nsites; i++) {
		if (!site_included(&p->sites[i], v))
			continue;
		for (j = 0; j < p->sites[i].nframes; j++) {
			uint32_t fi = p->sites[i].frames[j];

			if (!tm_report__frame_hidden(&p->frames[fi], w->flags))
				w->loc_of[fi] = 1;
		}
	}
	for (i = 0; i < p->nframes; i++) {
		if (!w->loc_of[i])
			continue;
		w->loc_of[i] = ++w->nlocs;
		w->has_python |= p->frames[i].kind == TM_FRAME_PYTHON;
		err = add_function(w, &p->frames[i], &w->fn_of[i]);
		if (!err)
			err = add_module(w, &p->frames[i], &w->mod_of[i]);
		if (err)
			return err;
	}

	/* Mapping ids by lowest address: see the comment at the top. */
	order = calloc(w->nmods ? w->nmods : 1, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (i = 0; i < w->nmods; i++)
		order[i] = &w->mods[i];
	qsort(order, w->nmods, sizeof(*order), cmp_module);
	for (i = 0; i < w->nmods; i++)
		order[i]->id = (uint32_t)(i + 1);
	free(order);
	return 0;
}

static void __attribute__((format(printf, 2, 3))) comment(struct writer *w, const char *fmt, ...)
{
	uint64_t *grown;
	char *s = NULL;
	va_list ap;
	int n;

	if (w->err)
		return;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		w->err = -ENOMEM;
		return;
	}
	if (w->ncomments == w->comments_cap) {
		grown = realloc(w->comments, (w->comments_cap + 16) * sizeof(*w->comments));
		if (!grown) {
			w->err = -ENOMEM;
			free(s);
			return;
		}
		w->comments = grown;
		w->comments_cap += 16;
	}
	w->comments[w->ncomments++] = str_idx(w, s);
	free(s);
}

static void add_comments(struct writer *w)
{
	const struct tm_profile *p = w->p;
	size_t i;
	int any = 0;

	comment(w, "tidemark: exact counts, not sampled; one sample per allocation stack");
	comment(w, "command: %s", p->command ? p->command : "(unknown)");
	comment(w, "pid: %d", p->pid);
	if (p->ns_pid)
		comment(w, "pid in its PID namespace: %d", p->ns_pid);
	if (p->cgroup)
		comment(w, "cgroup: %s", p->cgroup);
	if (p->has_signal)
		comment(w, "status: killed by signal %d", p->signal);
	else if (p->has_exit_code)
		comment(w, "status: exited with code %d", p->exit_code);
	else
		comment(w, "status: unknown (still running when tracing stopped?)");
	comment(w, "peak: %" PRIu64 " bytes at %" PRIu64 " ns", p->peak_bytes, p->peak_time_ns);
	comment(w, "live at end: %" PRId64 " bytes", p->live_bytes_end);
	comment(w, "allocated: %" PRIu64 " bytes in %" PRIu64 " allocations, %" PRIu64 " frees",
		p->alloc_bytes, p->alloc_count, p->free_count);
	if (p->mode != TM_PROFILE_EXACT && tm_profile_mode__name(p->mode))
		comment(w, "mode: %s: %s", tm_profile_mode__name(p->mode), tm_profile_mode__sees(p->mode));
	if (p->sample_bytes)
		comment(w, "sampled: one point per %" PRIu64 " bytes allocated; values are unbiased estimates",
			p->sample_bytes);
	for (i = 0; i < p->ndrops; i++) {
		if (!p->drops[i].value)
			continue;
		comment(w, "dropped: %s=%" PRIu64, p->drops[i].name ? p->drops[i].name : "?",
			p->drops[i].value);
		any = 1;
	}
	if (!any)
		comment(w, "dropped: nothing");
	/* the tracer's notices to user space that found the ring buffer full (tidemark_common.h) */
	for (i = 0; i < p->nstats; i++)
		if (p->stats[i].value && p->stats[i].name && !strncmp(p->stats[i].name, "lost_", 5))
			comment(w, "ring buffer full, notices lost: %s=%" PRIu64, p->stats[i].name + 5,
				p->stats[i].value);
	if (w->flags & TM_REPORT_PYTHON_ONLY)
		comment(w, "stacks: Python frames only");
}

/* ------------------------------------------------------------------ */
/* the message                                                        */

static void encode_samples(struct writer *w, struct tm_buf *body, struct tm_buf *msg, struct tm_buf *sub,
			   uint64_t *ids)
{
	const struct tm_profile *p = w->p;
	uint32_t key = str_idx(w, "allocator"), pod_key = 0, pod_val = 0, ctr_key = 0, ctr_val = 0;
	struct tm_container_ids cids;
	const struct tm_frame *root;
	uint64_t v[V__COUNT];
	const char *kind;
	size_t i, n;
	uint32_t j;

	/* Every sample is the one process's (or cgroup's): its pod and container as labels, to group by */
	if (p->cgroup && !tm_cgroup__container_ids(p->cgroup, &cids)) {
		if (cids.pod_uid[0]) {
			pod_key = str_idx(w, "pod_uid");
			pod_val = str_idx(w, cids.pod_uid);
		}
		if (cids.container_id[0]) {
			ctr_key = str_idx(w, "container_id");
			ctr_val = str_idx(w, cids.container_id);
		}
	}

	for (i = 0; i < p->nsites; i++) {
		const struct tm_site *s = &p->sites[i];

		if (!site_included(s, v))
			continue;
		/* innermost first, as in the profile and as pprof wants */
		for (j = 0, n = 0; j < s->nframes; j++)
			if (w->loc_of[s->frames[j]] &&
			    !tm_report__frame_hidden(&p->frames[s->frames[j]], w->flags))
				ids[n++] = w->loc_of[s->frames[j]];
		pb_packed(msg, SAMPLE_LOCATION_ID, ids, n);
		/* Zeros are kept here: a sample has one value per sample type. */
		pb_tag(msg, SAMPLE_VALUE, WIRE_LEN);
		for (j = 0, n = 0; j < V__COUNT; j++)
			n += varint_size(v[j]);
		pb_varint(msg, n);
		for (j = 0; j < V__COUNT; j++)
			pb_varint(msg, v[j]);
		kind = tm_kind_name(s->kind);
		if (kind) {
			pb_uint(sub, LABEL_KEY, key);
			pb_uint(sub, LABEL_STR, str_idx(w, kind));
			pb_msg(msg, SAMPLE_LABEL, sub);
		}
		if (pod_key) {
			pb_uint(sub, LABEL_KEY, pod_key);
			pb_uint(sub, LABEL_STR, pod_val);
			pb_msg(msg, SAMPLE_LABEL, sub);
		}
		if (ctr_key) {
			pb_uint(sub, LABEL_KEY, ctr_key);
			pb_uint(sub, LABEL_STR, ctr_val);
			pb_msg(msg, SAMPLE_LABEL, sub);
		}
		/* every process of a tree at once: its root frame names the process, to group by */
		root = s->nframes ? &p->frames[s->frames[s->nframes - 1]] : NULL;
		if (root && root->kind == TM_FRAME_PROCESS) {
			const char *comm = root->function ? strchr(root->function, ':') : NULL;

			pb_uint(sub, LABEL_KEY, str_idx(w, "pid"));
			pb_uint(sub, LABEL_NUM, root->line);
			pb_msg(msg, SAMPLE_LABEL, sub);
			pb_uint(sub, LABEL_KEY, str_idx(w, "comm"));
			pb_uint(sub, LABEL_STR, str_idx(w, comm ? comm + 2 : "?"));
			pb_msg(msg, SAMPLE_LABEL, sub);
		}
		pb_msg(body, PROFILE_SAMPLE, msg);
	}
}

static void encode_tables(struct writer *w, struct tm_buf *body, struct tm_buf *msg, struct tm_buf *sub)
{
	const struct tm_profile *p = w->p;
	const struct module *m;
	size_t i, k;

	/* Mappings in id order. */
	for (k = 1; k <= w->nmods; k++) {
		for (i = 0; w->mods[i].id != k; i++)
			;
		m = &w->mods[i];
		pb_uint(msg, MAPPING_ID, k);
		pb_uint(msg, MAPPING_MEMORY_START, m->lo);
		pb_uint(msg, MAPPING_MEMORY_LIMIT, m->hi == UINT64_MAX ? m->hi : m->hi + 1);
		pb_uint(msg, MAPPING_FILENAME, m->file);
		pb_uint(msg, MAPPING_HAS_FUNCTIONS, 1);
		pb_uint(msg, MAPPING_HAS_FILENAMES, m->has_files);
		pb_uint(msg, MAPPING_HAS_LINE_NUMBERS, m->has_lines);
		pb_msg(body, PROFILE_MAPPING, msg);
	}
	if (w->has_python) {
		pb_uint(msg, MAPPING_ID, w->nmods + 1);
		pb_uint(msg, MAPPING_FILENAME, str_idx(w, "[python]"));
		pb_uint(msg, MAPPING_HAS_FUNCTIONS, 1);
		pb_uint(msg, MAPPING_HAS_FILENAMES, 1);
		pb_uint(msg, MAPPING_HAS_LINE_NUMBERS, 1);
		pb_msg(body, PROFILE_MAPPING, msg);
	}
	for (i = 0; i < p->nframes; i++) {
		const struct tm_frame *f = &p->frames[i];

		if (!w->loc_of[i])
			continue;
		pb_uint(msg, LOCATION_ID, w->loc_of[i]);
		if (w->mod_of[i])
			pb_uint(msg, LOCATION_MAPPING_ID, w->mods[w->mod_of[i] - 1].id);
		else if (f->kind == TM_FRAME_PYTHON)
			pb_uint(msg, LOCATION_MAPPING_ID, w->nmods + 1);
		/* A Python frame's address is its code object's: no instruction address. */
		if (f->kind != TM_FRAME_PYTHON)
			pb_uint(msg, LOCATION_ADDRESS, f->address);
		if (w->fn_of[i]) {
			pb_uint(sub, LINE_FUNCTION_ID, w->fn_of[i]);
			pb_uint(sub, LINE_LINE, f->line);
			pb_msg(msg, LOCATION_LINE, sub);
		}
		pb_msg(body, PROFILE_LOCATION, msg);
	}
	for (i = 0; i < w->nfuncs; i++) {
		pb_uint(msg, FUNCTION_ID, i + 1);
		pb_uint(msg, FUNCTION_NAME, w->funcs[i].name);
		if (!w->funcs[i].python)
			pb_uint(msg, FUNCTION_SYSTEM_NAME, w->funcs[i].system_name);
		pb_uint(msg, FUNCTION_FILENAME, w->funcs[i].file);
		pb_msg(body, PROFILE_FUNCTION, msg);
	}
}

/*
 * proto3 strings must be UTF-8 (strict decoders reject the message): bytes
 * that are not become U+FFFD, as in the JSON report.
 */
static void encode_string(struct tm_buf *body, struct tm_buf *msg, const char *str)
{
	static const uint8_t fffd[] = { 0xef, 0xbf, 0xbd };
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	while (*s) {
		n = tm_report__utf8_len(s);
		if (n) {
			tm_buf__put(msg, s, n);
			s += n;
		} else {
			tm_buf__put(msg, fffd, sizeof(fffd));
			s++;
		}
	}
	pb_msg(body, PROFILE_STRING_TABLE, msg);
}

static int encode(struct writer *w, struct tm_buf *body)
{
	const struct tm_profile *p = w->p;
	struct tm_buf msg = { 0 }, sub = { 0 };
	uint64_t *ids = NULL;
	uint32_t maxframes = 1;
	size_t i;
	int err;

	str_idx(w, "");     /* string_table[0] must be "" */
	err = index_frames(w);
	if (err)
		goto out;
	for (i = 0; i < p->nsites; i++)
		if (p->sites[i].nframes > maxframes)
			maxframes = p->sites[i].nframes;
	ids = calloc(maxframes, sizeof(*ids));
	if (!ids) {
		err = -ENOMEM;
		goto out;
	}

	for (i = 0; i < V__COUNT; i++) {
		pb_uint(&msg, VALUE_TYPE_TYPE, str_idx(w, sample_types[i][0]));
		pb_uint(&msg, VALUE_TYPE_UNIT, str_idx(w, sample_types[i][1]));
		pb_msg(body, PROFILE_SAMPLE_TYPE, &msg);
	}
	encode_samples(w, body, &msg, &sub, ids);
	encode_tables(w, body, &msg, &sub);

	if (p->end_time_ns > p->start_time_ns && p->start_time_ns)
		pb_uint(body, PROFILE_DURATION_NANOS, (uint64_t)to_i64(p->end_time_ns - p->start_time_ns));
	pb_uint(&msg, VALUE_TYPE_TYPE, str_idx(w, "space"));
	pb_uint(&msg, VALUE_TYPE_UNIT, str_idx(w, "bytes"));
	pb_msg(body, PROFILE_PERIOD_TYPE, &msg);
	pb_uint(body, PROFILE_PERIOD, 1);
	add_comments(w);
	pb_packed(body, PROFILE_COMMENT, w->comments, w->ncomments);
	pb_uint(body, PROFILE_DEFAULT_SAMPLE_TYPE, str_idx(w, sample_types[DEFAULT_SAMPLE_TYPE][0]));

	/* Last, once every string is in: a field's place on the wire does not matter. */
	for (i = 0; !w->err && i < w->st.n; i++)
		encode_string(body, &msg, w->st.s[i]);
	err = w->err ? w->err : body->err ? body->err : msg.err ? msg.err : sub.err;
out:
	free(ids);
	free(msg.data);
	free(sub.data);
	return err;
}

static int gzip_to(FILE *out, const uint8_t *data, size_t len)
{
	unsigned char chunk[16384];
	z_stream zs;
	size_t have;
	uInt n;
	int flush, err = 0;

	memset(&zs, 0, sizeof(zs));
	/* windowBits 15 + 16: a gzip wrapper around the deflate stream. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	do {
		n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		zs.next_in = (Bytef *)data;
		zs.avail_in = n;
		data += n;
		len -= n;
		flush = len ? Z_NO_FLUSH : Z_FINISH;
		do {
			zs.next_out = chunk;
			zs.avail_out = sizeof(chunk);
			deflate(&zs, flush);    /* cannot fail with a valid stream and room to write */
			have = sizeof(chunk) - zs.avail_out;
			if (have && fwrite(chunk, 1, have, out) != have) {
				err = -EIO;
				goto out;
			}
		} while (zs.avail_out == 0);
	} while (flush != Z_FINISH);
out:
	deflateEnd(&zs);
	return err;
}

int tm_pprof__write(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK };
	struct writer w = { 0 };
	struct tm_buf body = { 0 };
	size_t i;
	int err;

	err = tm_report__begin(p, out, o, &def, &o);
	if (err)
		return err;
	w.p = p;
	w.flags = o->flags;
	w.loc_of = calloc(p->nframes ? p->nframes : 1, sizeof(*w.loc_of));
	w.fn_of = calloc(p->nframes ? p->nframes : 1, sizeof(*w.fn_of));
	w.mod_of = calloc(p->nframes ? p->nframes : 1, sizeof(*w.mod_of));
	if (!w.loc_of || !w.fn_of || !w.mod_of) {
		err = -ENOMEM;
		goto out;
	}
	err = encode(&w, &body);
	if (err)
		goto out;
	err = gzip_to(out, body.data, body.len);
	if (!err && (fflush(out) || ferror(out)))
		err = -EIO;
out:
	free(body.data);
	for (i = 0; i < w.st.n; i++)
		free(w.st.s[i]);
	free(w.st.s);
	free(w.st.slots);
	free(w.loc_of);
	free(w.fn_of);
	free(w.mod_of);
	free(w.fn_ids.keys);
	free(w.fn_ids.vals);
	free(w.mod_ids.keys);
	free(w.mod_ids.vals);
	free(w.funcs);
	free(w.mods);
	free(w.comments);
	return err;
}
