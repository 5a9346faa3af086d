/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * profile.c: the in-memory capture model. A string pool that interns every
 * name once, a frame table deduplicated by content, sites that reference
 * frames by index, and counters kept by name so that a capture written by a
 * newer tidemark still reads.
 *
 * Profiles only come from tm_profile__new(): the public struct is embedded
 * in a private one that holds the capacities and the frame index. Callers
 * read the arrays directly but change them only through these functions.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tidemark_common.h"
#include "profile/profile.h"
#include "util/hash.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* names                                                              */

static const char *const drop_names[] = {
	[TM_DROP_ALLOC_MAP_FULL] = "alloc_map_full",
	[TM_DROP_STACK_MAP_FULL] = "stack_map_full",
	[TM_DROP_AGG_MAP_FULL] = "agg_map_full",
	[TM_DROP_REGION_MAP_FULL] = "region_map_full",
	[TM_DROP_FREE_UNMATCHED] = "free_unmatched",
	[TM_DROP_ADDR_REUSED] = "addr_reused",
	[TM_DROP_STACK_UNREADABLE] = "stack_unreadable",
	[TM_DROP_UNMAP_SPLIT] = "unmap_split",
	[TM_DROP_INFLIGHT] = "inflight",
	[TM_DROP_PY_UNREADABLE] = "py_unreadable",
	[TM_DROP_PY_ARENA_UNTRACED] = "py_arena_untraced",
	[TM_DROP_PROC_CAP] = "proc_cap",
	[TM_DROP_UNTRACKED_BYTES] = "untracked_bytes",
	[TM_DROP_FREE_UNTRACKED] = "free_untracked",
};

static const char *const stat_names[] = {
	[TM_STAT_NESTED] = "nested",
	[TM_STAT_MMAP_IN_ALLOC] = "mmap_in_alloc",
	[TM_STAT_STACKS_NEW] = "stacks_new",
	[TM_STAT_STACKS_TRUNCATED] = "stacks_truncated",
	[TM_STAT_PROCS_FULL] = "procs_full",
	[TM_STAT_UNWIND_STOPPED] = "unwind_stopped",
	[TM_STAT_LOST_EXEC_MAP] = "lost_exec_map",
	[TM_STAT_LOST_OOM] = "lost_oom",
	[TM_STAT_LOST_EXIT] = "lost_exit",
	[TM_STAT_LOST_EXEC] = "lost_exec",
	[TM_STAT_LOST_FORK] = "lost_fork",
};

static const char *const kind_names[] = {
	[TM_KIND_MALLOC] = "malloc",
	[TM_KIND_CALLOC] = "calloc",
	[TM_KIND_REALLOC] = "realloc",
	[TM_KIND_REALLOCARRAY] = "reallocarray",
	[TM_KIND_POSIX_MEMALIGN] = "posix_memalign",
	[TM_KIND_ALIGNED_ALLOC] = "aligned_alloc",
	[TM_KIND_MEMALIGN] = "memalign",
	[TM_KIND_VALLOC] = "valloc",
	[TM_KIND_PVALLOC] = "pvalloc",
	[TM_KIND_FREE] = "free",
	[TM_KIND_MMAP] = "mmap",
	[TM_KIND_MUNMAP] = "munmap",
	[TM_KIND_MREMAP] = "mremap",
	[TM_KIND_BRK] = "brk",
	[TM_KIND_PYOBJECT_MALLOC] = "PyObject_Malloc",
	[TM_KIND_PYOBJECT_CALLOC] = "PyObject_Calloc",
	[TM_KIND_PYOBJECT_REALLOC] = "PyObject_Realloc",
	[TM_KIND_PYOBJECT_FREE] = "PyObject_Free",
	[TM_KIND_PYMEM_MALLOC] = "PyMem_Malloc",
	[TM_KIND_PYMEM_CALLOC] = "PyMem_Calloc",
	[TM_KIND_PYMEM_REALLOC] = "PyMem_Realloc",
	[TM_KIND_PYMEM_FREE] = "PyMem_Free",
};

/*
 * The sizes catch a value added at the end of an enum; a hole left in the
 * middle would still pass, so the unit test also asks every value's name.
 */
_Static_assert(ARRAY_SIZE(drop_names) == TM_DROP__COUNT, "a tm_drop has no name");
_Static_assert(ARRAY_SIZE(stat_names) == TM_STAT__COUNT, "a tm_stat has no name");
_Static_assert(ARRAY_SIZE(kind_names) == TM_KIND__COUNT, "a tm_kind has no name");

/* Out-of-range values (a newer capture, a corrupt map) have no name: NULL. */
const char *tm_drop_name(unsigned int drop)
{
	return drop < ARRAY_SIZE(drop_names) ? drop_names[drop] : NULL;
}

const char *tm_stat_name(unsigned int stat)
{
	return stat < ARRAY_SIZE(stat_names) ? stat_names[stat] : NULL;
}

static const struct {
	const char *name, *sees, *misses;
} modes[] = {
	[TM_PROFILE_EXACT] = { "exact",
			       "every allocator call (malloc ... free) and every anonymous mapping the program "
			       "makes itself, each with its stack",
			       NULL },
	[TM_PROFILE_SAMPLED] = { "sampled",
				 "allocations sampled by bytes (one sample point per sample_bytes allocated on "
				 "average) and scaled up: bytes and counts are unbiased estimates",
				 "exact counts: a site that allocated much less than sample_bytes in all may not "
				 "show at all; every allocator call still traps" },
	[TM_PROFILE_LITE] = { "lite",
			      "memory the allocator or the program takes from the kernel (mmap, mremap, brk): "
			      "heap growth, pymalloc arenas and large blocks, with their stacks; no uprobes",
			      "the blocks the allocator hands out of memory it already holds, and their frees: "
			      "a freed block counts until its memory goes back to the kernel" },
};
_Static_assert(ARRAY_SIZE(modes) == TM_PROFILE_MODE__COUNT, "a tm_profile_mode has no name");

const char *tm_profile_mode__name(unsigned int mode)
{
	return mode < ARRAY_SIZE(modes) ? modes[mode].name : NULL;
}

const char *tm_profile_mode__sees(unsigned int mode)
{
	return mode < ARRAY_SIZE(modes) ? modes[mode].sees : NULL;
}

const char *tm_profile_mode__misses(unsigned int mode)
{
	return mode < ARRAY_SIZE(modes) ? modes[mode].misses : NULL;
}

int tm_profile_mode__parse(const char *s, unsigned int *mode)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		if (!strcmp(s, modes[i].name)) {
			*mode = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *tm_kind_name(unsigned int kind)
{
	return kind < ARRAY_SIZE(kind_names) ? kind_names[kind] : NULL;
}

/* ------------------------------------------------------------------ */
/* string pool                                                        */

/* Strings live in chunks that never move, so interned pointers stay valid. */
#define STRPOOL_CHUNK (64 * 1024)

struct strpool_chunk {
	struct strpool_chunk *next;
	size_t used, size;
	char data[];
};

struct strpool_slot {
	const char *s;          /* NULL = empty */
	uint64_t hash;
};

struct tm_strpool {
	struct strpool_slot *slots;
	size_t cap;             /* power of two */
	size_t count;
	struct strpool_chunk *chunks;
};


struct tm_strpool *tm_strpool__new(void)
{
	struct tm_strpool *p;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cap = 256;
	p->slots = calloc(p->cap, sizeof(*p->slots));
	if (!p->slots) {
		free(p);
		return NULL;
	}
	return p;
}

void tm_strpool__free(struct tm_strpool *p)
{
	struct strpool_chunk *c, *next;

	if (!p)
		return;
	for (c = p->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(p->slots);
	free(p);
}

static int strpool_grow(struct tm_strpool *p)
{
	struct strpool_slot *slots;
	size_t cap = p->cap * 2, i, j;

	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < p->cap; i++) {
		if (!p->slots[i].s)
			continue;
		for (j = p->slots[i].hash & (cap - 1); slots[j].s; j = (j + 1) & (cap - 1))
			;
		slots[j] = p->slots[i];
	}
	free(p->slots);
	p->slots = slots;
	p->cap = cap;
	return 0;
}

static char *strpool_store(struct tm_strpool *p, const char *s, size_t len)
{
	struct strpool_chunk *c = p->chunks;
	char *dst;

	if (!c || c->size - c->used < len + 1) {
		/* A long string gets a chunk of its own; the current one stays in use. */
		size_t size = len + 1 > STRPOOL_CHUNK ? len + 1 : STRPOOL_CHUNK;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->used = 0;
		c->size = size;
		if (p->chunks && len + 1 > STRPOOL_CHUNK) {
			c->next = p->chunks->next;
			p->chunks->next = c;
		} else {
			c->next = p->chunks;
			p->chunks = c;
		}
	}
	dst = c->data + c->used;
	memcpy(dst, s, len + 1);
	c->used += len + 1;
	return dst;
}

const char *tm_strpool__intern(struct tm_strpool *p, const char *s)
{
	size_t len, i;
	uint64_t h;
	char *copy;

	if (!p || !s)
		return NULL;
	len = strlen(s);
	h = tm_hash(TM_HASH_INIT, s, len);
	for (i = h & (p->cap - 1); p->slots[i].s; i = (i + 1) & (p->cap - 1)) {
		if (p->slots[i].hash == h && !strcmp(p->slots[i].s, s))
			return p->slots[i].s;
	}
	/* Keep the load at or below one half so probes stay short. */
	if ((p->count + 1) * 2 > p->cap) {
		if (strpool_grow(p))
			return NULL;
		for (i = h & (p->cap - 1); p->slots[i].s; i = (i + 1) & (p->cap - 1))
			;
	}
	copy = strpool_store(p, s, len);
	if (!copy)
		return NULL;
	p->slots[i].s = copy;
	p->slots[i].hash = h;
	p->count++;
	return copy;
}

/* ------------------------------------------------------------------ */
/* profile                                                            */

struct profile_priv {
	struct tm_profile pub;  /* first: tm_profile__free() gets it back by cast */
	size_t drops_cap, stats_cap, frames_cap, sites_cap, samples_cap;
	uint32_t *frame_index;  /* open addressing: frame index + 1, 0 = empty */
	size_t frame_index_cap; /* power of two */
};

static struct profile_priv *priv_of(struct tm_profile *p)
{
	return (struct profile_priv *)p;
}

/* Grow *arr so that it can hold at least `need` elements of `size` bytes. */
static int grow_array(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 16;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / size)
		return -ENOMEM;
	n = realloc(*arr, ncap * size);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

struct tm_profile *tm_profile__new(void)
{
	struct profile_priv *pp;
	struct tm_profile *p;
	unsigned int i;

	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return NULL;
	p = &pp->pub;
	p->pool = tm_strpool__new();
	if (!p->pool)
		goto err;
	/* Every known counter is present from the start, so reports list them all. */
	for (i = 0; i < TM_DROP__COUNT; i++) {
		if (tm_profile__set_counter(p, 1, drop_names[i], 0))
			goto err;
	}
	for (i = 0; i < TM_STAT__COUNT; i++) {
		if (tm_profile__set_counter(p, 0, stat_names[i], 0))
			goto err;
	}
	return p;
err:
	tm_profile__free(p);
	return NULL;
}

void tm_profile__free(struct tm_profile *p)
{
	struct profile_priv *pp;
	size_t i;

	if (!p)
		return;
	pp = priv_of(p);
	for (i = 0; i < p->nsites; i++)
		free(p->sites[i].frames);
	free(p->sites);
	free(p->samples);
	free(p->frames);
	free(p->drops);
	free(p->stats);
	free(pp->frame_index);
	for (i = 0; i < p->nprocs; i++)
		tm_profile__free(p->procs[i]);
	free(p->procs);
	free(p->tree.at_peak);
	free(p->tree.samples);
	tm_strpool__free(p->pool);
	free(pp);
}

int tm_profile__add_proc(struct tm_profile *p, struct tm_profile *child)
{
	struct tm_profile **n = realloc(p->procs, (p->nprocs + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	p->procs = n;
	p->procs[p->nprocs++] = child;
	return 0;
}

const struct tm_profile *tm_profile__find_pid(const struct tm_profile *p, int32_t pid)
{
	size_t i = p->nprocs;

	if (p->pid == pid)
		return p;
	while (i--)
		if (p->procs[i]->pid == pid)
			return p->procs[i];
	return NULL;
}

/*
 * The one validity check every reader of a profile relies on: the arrays
 * that say they hold something exist, and every frame index a site holds
 * names a frame. A profile built with the functions above always passes;
 * one assembled by hand (a test, a future reader) may not.
 */
int tm_profile__check(const struct tm_profile *p)
{
	size_t i;
	uint32_t j;

	if (!p || (p->nframes && !p->frames) || (p->nsites && !p->sites) ||
	    (p->ndrops && !p->drops) || (p->nstats && !p->stats) ||
	    (p->nsamples && !p->samples))
		return -EINVAL;
	for (i = 0; i < p->nsites; i++) {
		if (p->sites[i].nframes && !p->sites[i].frames)
			return -EINVAL;
		for (j = 0; j < p->sites[i].nframes; j++)
			if (p->sites[i].frames[j] >= p->nframes)
				return -EINVAL;
	}
	return 0;
}

uint64_t tm_profile__counter(const struct tm_profile *p, int is_drop, const char *name)
{
	const struct tm_counter *c = is_drop ? p->drops : p->stats;
	size_t i, n = is_drop ? p->ndrops : p->nstats;

	for (i = 0; i < n; i++)
		if (c[i].name && !strcmp(c[i].name, name))
			return c[i].value;
	return 0;
}

void tm_profile__at_exit(struct tm_profile *p)
{
	size_t i;

	for (i = 0; i < p->nprocs; i++) /* a tree's processes: each its own end */
		tm_profile__at_exit(p->procs[i]);
	if (p->end_moment == TM_END_EXIT)
		return; /* the live values are the exit's */
	for (i = 0; i < p->nsites; i++) {
		p->sites[i].live_bytes = p->sites[i].exit_bytes;
		p->sites[i].live_count = p->sites[i].exit_count;
	}
	p->live_bytes_end = p->live_bytes_exit;
	p->end_moment = TM_END_EXIT;
	p->end_moment_ns = 0;
}

const char *tm_end_moment_name(unsigned int moment)
{
	static const char *const names[] = { [TM_END_EXIT] = "exit", [TM_END_FINALIZE] = "finalization" };

	return moment < sizeof(names) / sizeof(names[0]) ? names[moment] : NULL;
}

const char *tm_profile__str(struct tm_profile *p, const char *s)
{
	return p ? tm_strpool__intern(p->pool, s) : NULL;
}

int tm_profile__set_process(struct tm_profile *p, const struct tm_profile_process *pp)
{
	p->pid = pp->pid;
	p->ns_pid = pp->ns_pid == pp->pid ? 0 : pp->ns_pid;
	p->command = tm_profile__str(p, pp->command);
	p->cgroup = tm_profile__str(p, pp->cgroup);
	p->start_time_ns = pp->start_ns;
	p->end_time_ns = pp->end_ns;
	p->has_exit_code = p->has_signal = 0;
	p->exit_code = p->signal = 0;
	if (pp->ended && WIFSIGNALED(pp->wait_status)) {
		p->has_signal = 1;
		p->signal = WTERMSIG(pp->wait_status);
	} else if (pp->ended && WIFEXITED(pp->wait_status)) {
		p->has_exit_code = 1;
		p->exit_code = WEXITSTATUS(pp->wait_status);
	}
	if ((pp->command && !p->command) || (pp->cgroup && !p->cgroup))
		return -ENOMEM;
	return 0;
}

/* Frames are compared with interned strings, so pointer equality is string equality. */
static uint64_t frame_hash(const struct tm_frame *f)
{
	uint64_t h = TM_HASH_INIT;

	h = tm_hash(h, &f->kind, sizeof(f->kind));
	h = tm_hash(h, &f->line, sizeof(f->line));
	h = tm_hash(h, &f->function, sizeof(f->function));
	h = tm_hash(h, &f->file, sizeof(f->file));
	h = tm_hash(h, &f->module, sizeof(f->module));
	h = tm_hash(h, &f->address, sizeof(f->address));
	return h;
}

static int frame_equal(const struct tm_frame *a, const struct tm_frame *b)
{
	return a->kind == b->kind && a->line == b->line && a->function == b->function &&
	       a->file == b->file && a->module == b->module && a->address == b->address;
}

static int frame_index_rebuild(struct profile_priv *pp, size_t cap)
{
	struct tm_profile *p = &pp->pub;
	uint32_t *idx;
	size_t i, j;

	idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (i = 0; i < p->nframes; i++) {
		for (j = frame_hash(&p->frames[i]) & (cap - 1); idx[j]; j = (j + 1) & (cap - 1))
			;
		idx[j] = (uint32_t)i + 1;
	}
	free(pp->frame_index);
	pp->frame_index = idx;
	pp->frame_index_cap = cap;
	return 0;
}

int tm_profile__add_frame(struct tm_profile *p, const struct tm_frame *f)
{
	struct profile_priv *pp;
	struct tm_frame fr;
	size_t i, mask;
	int err;

	if (!p || !f)
		return -EINVAL;
	pp = priv_of(p);

	fr = *f;
	fr.function = tm_profile__str(p, f->function);
	fr.file = tm_profile__str(p, f->file);
	fr.module = tm_profile__str(p, f->module);
	fr.system_name = tm_profile__str(p, f->system_name);
	if ((f->function && !fr.function) || (f->file && !fr.file) || (f->module && !fr.module) ||
	    (f->system_name && !fr.system_name))
		return -ENOMEM;

	if (pp->frame_index_cap) {
		mask = pp->frame_index_cap - 1;
		for (i = frame_hash(&fr) & mask; pp->frame_index[i]; i = (i + 1) & mask) {
			if (frame_equal(&p->frames[pp->frame_index[i] - 1], &fr))
				return (int)(pp->frame_index[i] - 1);
		}
	}

	/* Indices are returned as int and stored as u32 in sites. */
	if (p->nframes >= INT_MAX)
		return -E2BIG;
	err = grow_array((void **)&p->frames, &pp->frames_cap, p->nframes + 1, sizeof(*p->frames));
	if (err)
		return err;
	if ((p->nframes + 1) * 2 > pp->frame_index_cap) {
		err = frame_index_rebuild(pp, pp->frame_index_cap ? pp->frame_index_cap * 2 : 256);
		if (err)
			return err;
	}
	p->frames[p->nframes] = fr;
	mask = pp->frame_index_cap - 1;
	for (i = frame_hash(&fr) & mask; pp->frame_index[i]; i = (i + 1) & mask)
		;
	pp->frame_index[i] = (uint32_t)p->nframes + 1;
	return (int)p->nframes++;
}

int tm_profile__add_sample(struct tm_profile *p, const struct tm_sample *s)
{
	struct profile_priv *pp;
	int err;

	if (!p || !s)
		return -EINVAL;
	if (p->nsamples && s->time_ns < p->samples[p->nsamples - 1].time_ns)
		return -EINVAL;
	pp = priv_of(p);
	err = grow_array((void **)&p->samples, &pp->samples_cap, p->nsamples + 1,
			 sizeof(*p->samples));
	if (err)
		return err;
	p->samples[p->nsamples++] = *s;
	return 0;
}

int tm_profile__merge_sites(struct tm_profile *dst, const struct tm_profile *src)
{
	return tm_profile__merge_sites_under(dst, src, NULL);
}

int tm_profile__merge_sites_under(struct tm_profile *dst, const struct tm_profile *src, const struct tm_frame *root)
{
	uint32_t *map = NULL, *frames = NULL, root_idx = 0;
	size_t i;
	uint32_t j;
	int err = 0, idx;

	if (!dst || !src)
		return -EINVAL;
	if (root) {
		struct tm_frame f = *root;

		f.function = tm_profile__str(dst, f.function);
		f.file = tm_profile__str(dst, f.file);
		f.module = tm_profile__str(dst, f.module);
		f.system_name = tm_profile__str(dst, f.system_name);
		idx = tm_profile__add_frame(dst, &f);
		if (idx < 0)
			return idx;
		root_idx = (uint32_t)idx;
	}
	map = calloc(src->nframes ? src->nframes : 1, sizeof(*map));
	frames = calloc(TM_MAX_FRAMES_MERGE, sizeof(*frames));
	if (!map || !frames) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < src->nframes; i++) {
		struct tm_frame f = src->frames[i];

		/* Strings are interned into dst's pool: src may be freed after. */
		f.function = tm_profile__str(dst, f.function);
		f.file = tm_profile__str(dst, f.file);
		f.module = tm_profile__str(dst, f.module);
		f.system_name = tm_profile__str(dst, f.system_name);
		idx = tm_profile__add_frame(dst, &f);
		if (idx < 0) {
			err = idx;
			goto out;
		}
		map[i] = (uint32_t)idx;
	}
	for (i = 0; i < src->nsites; i++) {
		struct tm_site s = src->sites[i];

		if (s.nframes + !!root > TM_MAX_FRAMES_MERGE || (s.nframes && !s.frames)) {
			err = -EINVAL;
			goto out;
		}
		for (j = 0; j < s.nframes; j++) {
			if (s.frames[j] >= src->nframes) {
				err = -EINVAL;
				goto out;
			}
			frames[j] = map[s.frames[j]];
		}
		if (root)
			frames[s.nframes++] = root_idx;
		s.frames = frames;
		idx = tm_profile__add_site(dst, &s);
		if (idx < 0) {
			err = idx;
			goto out;
		}
	}
out:
	free(map);
	free(frames);
	return err;
}

int tm_profile__add_site(struct tm_profile *p, const struct tm_site *s)
{
	struct profile_priv *pp;
	uint32_t *frames = NULL;
	uint32_t i;
	int err;

	if (!p || !s || (s->nframes && !s->frames))
		return -EINVAL;
	pp = priv_of(p);
	for (i = 0; i < s->nframes; i++) {
		if (s->frames[i] >= p->nframes)
			return -EINVAL;
	}
	if (p->nsites >= INT_MAX)
		return -E2BIG;
	err = grow_array((void **)&p->sites, &pp->sites_cap, p->nsites + 1, sizeof(*p->sites));
	if (err)
		return err;
	if (s->nframes) {
		frames = malloc((size_t)s->nframes * sizeof(*frames));
		if (!frames)
			return -ENOMEM;
		memcpy(frames, s->frames, (size_t)s->nframes * sizeof(*frames));
	}
	p->sites[p->nsites] = *s;
	p->sites[p->nsites].frames = frames;
	return (int)p->nsites++;
}

int tm_profile__set_counter(struct tm_profile *p, int is_drop, const char *name, uint64_t v)
{
	struct profile_priv *pp;
	struct tm_counter **arr;
	size_t *n, *cap, i;
	const char *iname;
	int err;

	if (!p || !name || !*name)
		return -EINVAL;
	pp = priv_of(p);
	arr = is_drop ? &p->drops : &p->stats;
	n = is_drop ? &p->ndrops : &p->nstats;
	cap = is_drop ? &pp->drops_cap : &pp->stats_cap;

	iname = tm_profile__str(p, name);
	if (!iname)
		return -ENOMEM;
	for (i = 0; i < *n; i++) {
		if ((*arr)[i].name == iname) {
			(*arr)[i].value = v;
			return 0;
		}
	}
	err = grow_array((void **)arr, cap, *n + 1, sizeof(**arr));
	if (err)
		return err;
	(*arr)[*n].name = iname;
	(*arr)[*n].value = v;
	(*n)++;
	return 0;
}
