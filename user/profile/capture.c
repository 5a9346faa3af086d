/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * capture.c: reading and writing capture files (layout in capture.h).
 *
 * The payload, before compression, is a sequence of little-endian fields:
 *
 *   strings   u32 n, then n times: u32 len, len bytes (no NUL inside)
 *   process   i32 pid, u32 command, u32 has_exit_code, i32 exit_code,
 *             u32 has_signal, i32 signal, u64 start_time_ns, u64 end_time_ns
 *   totals    u64 peak_bytes, u64 peak_time_ns, i64 live_bytes_end,
 *             u64 alloc_bytes, u64 alloc_count, u64 free_count
 *   drops     u32 n, then n times: u32 name, u64 value
 *   stats     the same
 *   frames    u32 n, then n times: u32 kind, u32 line, u32 function,
 *             u32 file, u32 module, u64 address
 *   sites     u32 n, then n times: u32 nframes, u32 flags, u32 kind,
 *             u64 alloc_bytes, u64 alloc_count, u64 free_bytes,
 *             u64 free_count, i64 live_bytes, i64 live_count,
 *             i64 peak_bytes, i64 peak_count, nframes times u32 frame
 *
 * Version 2 appends sections, each "u32 tag, u64 length, length bytes", so
 * that a field added later never moves the ones before it; a reader skips
 * the tags it does not know and rejects a known one whose length is wrong:
 *
 *   tag 1  temporary   u32 n (= the number of sites), then n times:
 *                      u64 temp_bytes, u64 temp_count
 *   tag 2  timeline    u32 n, then n times: u64 time_ns, i64 heap_bytes,
 *                      u64 rss_bytes (time_ns never decreases)
 *   tag 3  sizes       u32 n (<= TM_PROFILE_SIZE_BUCKETS), then n times:
 *                      u64 count, u64 bytes (size classes 0 .. n-1)
 *   tag 4  cgroup/OOM  u32 cgroup, u32 oom_killed (0 or 1), u64 oom_time_ns,
 *                      u64 rss_anon, u64 rss_file, u64 rss_shmem,
 *                      u32 oom_cgroup, u64 cgroup_limit, u64 cgroup_usage
 *   tag 5  sampling    u64 sample_bytes (1 .. TM_SAMPLE_MAX_N); absent = exact
 *   tag 6  names       u32 n (= the number of frames), then n times:
 *                      u32 system_name (the symbol as linked, when the
 *                      function field holds its demangled form); absent = none
 *   tag 7  allocator   u32 note: what was not understood about the
 *                      process's allocator; absent = nothing
 *   tag 8  namespace   i32 ns_pid (its pid in its own PID namespace), u32 0;
 *                      absent = the same as pid
 *   tag 9  OOM cgroup  u32 cg_have, u32 0, u64 cg_max, u64 cg_current,
 *                      u64 cg_peak, u64 cg_oom_kill; absent = none read
 *   tag 10 mode        u32 mode (enum tm_profile_mode), u32 0; absent =
 *                      sampled with a sampling section, else exact
 *   tag 11 end         u32 end_moment, u32 0, u64 end_moment_ns,
 *                      i64 live_bytes_end, u32 n (= the number of sites),
 *                      then n times: i64 live_bytes, i64 live_count: what
 *                      was live at the end of the program (CPython's
 *                      finalization). The totals' live_bytes_end and the
 *                      sites' live fields before hold what was live at the
 *                      exit, as they always have. Absent = the end was the
 *                      exit (every older file)
 *   tag 12 attach      u64 attach_rss_anon: the capture is of `attach`, which
 *                      counts only what was allocated since; absent = `run`
 *   tag 13 parent      i32 ppid, u32 execed (0 or 1); absent = 0, 0
 *   tag 14 tree        u32 note, u32 0, u64 nprocs, u64 peak_bytes,
 *                      u64 peak_time_ns, u64 interval_ns, u32 n, then n
 *                      times: i32 pid, u32 0, i64 bytes (what each held at
 *                      the peak); u32 m, then m times: u64 time_ns,
 *                      i64 heap_bytes (the tree's sum); absent = one process
 *   tag 15 process     one more process of the tree: a whole payload as
 *                      above (strings onwards), nested once at most; one
 *                      section per process, in order of start
 *
 * Version 1 files (no sections) are still read: their sites have no
 * temporary counts and the profile no timeline.
 *
 * A string field holds 0 for "unknown" (NULL) or 1 + an index into the
 * string table. Fixed-width fields keep the reader simple; zlib removes the
 * zeros they carry. Strings are stored once, in sorted order, so the same
 * profile always gives the same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "profile/capture.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/outfile.h"
#include "tidemark_common.h"

/*
 * Neither part may exceed 1 GiB: far above any real capture (they are
 * kilobytes to a few megabytes), and it keeps every length within zlib's
 * 32-bit counters.
 */
#define MAX_PART (1u << 30)
/* deflate cannot shrink data by more than about 1032:1. */
#define MAX_RATIO 1032

#define SITE_FIXED_SIZE (3 * 4 + 8 * 8)
#define FRAME_SIZE (5 * 4 + 8)
#define COUNTER_SIZE (4 + 8)
#define SAMPLE_SIZE (3 * 8)

enum section_tag {
	SECTION_TEMPORARY = 1,
	SECTION_TIMELINE = 2,
	SECTION_SIZES = 3,
	SECTION_OOM = 4,
	SECTION_SAMPLING = 5,
	SECTION_NAMES = 6,
	SECTION_ALLOCATOR = 7,
	SECTION_NAMESPACE = 8,
	SECTION_OOM_CGROUP = 9,
	SECTION_MODE = 10,
	SECTION_END = 11,
	SECTION_ATTACH = 12,
	SECTION_PARENT = 13,
	SECTION_TREE = 14,
	SECTION_PROCESS = 15,
};

/* ------------------------------------------------------------------ */
/* little-endian helpers                                              */

static void le32_put(unsigned char *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void le64_put(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t le32_get(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64_get(const unsigned char *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

/* ------------------------------------------------------------------ */
/* writing                                                            */

static void put_u32(struct tm_buf *w, uint32_t v)
{
	unsigned char *d = tm_buf__reserve(w, 4);

	if (d)
		le32_put(d, v);
}

static void put_u64(struct tm_buf *w, uint64_t v)
{
	unsigned char *d = tm_buf__reserve(w, 8);

	if (d)
		le64_put(d, v);
}


/* The string table: every distinct string of the profile, sorted. */
struct strtab {
	const char **s;
	size_t n, cap;
};

static int strtab_add(struct strtab *t, const char *s)
{
	const char **n;

	if (!s)
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;

		n = realloc(t->s, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->s = n;
		t->cap = cap;
	}
	t->s[t->n++] = s;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int strtab_build(struct strtab *t, const struct tm_profile *p)
{
	size_t i, j;
	int err = 0;

	err = err ?: strtab_add(t, p->command);
	err = err ?: strtab_add(t, p->cgroup);
	err = err ?: strtab_add(t, p->oom.cgroup);
	for (i = 0; i < p->ndrops; i++)
		err = err ?: strtab_add(t, p->drops[i].name);
	for (i = 0; i < p->nstats; i++)
		err = err ?: strtab_add(t, p->stats[i].name);
	for (i = 0; i < p->nframes; i++) {
		err = err ?: strtab_add(t, p->frames[i].function);
		err = err ?: strtab_add(t, p->frames[i].file);
		err = err ?: strtab_add(t, p->frames[i].module);
		err = err ?: strtab_add(t, p->frames[i].system_name);
	}
	err = err ?: strtab_add(t, p->allocator_note);
	err = err ?: strtab_add(t, p->tree.note);
	if (err)
		return err;
	if (!t->n)
		return 0;
	qsort(t->s, t->n, sizeof(*t->s), cmp_str);
	for (i = 1, j = 0; i < t->n; i++) {
		if (strcmp(t->s[i], t->s[j]))
			t->s[++j] = t->s[i];
	}
	t->n = j + 1;
	if (t->n >= UINT32_MAX)
		return -E2BIG;
	return 0;
}

/* 0 for NULL, else 1 + the string's index in the table. */
static uint32_t strtab_ref(const struct strtab *t, const char *s)
{
	const char **hit;

	if (!s)
		return 0;
	hit = bsearch(&s, t->s, t->n, sizeof(*t->s), cmp_str);
	/* strtab_build() saw every string, so hit is never NULL. */
	return hit ? (uint32_t)(hit - t->s) + 1 : 0;
}

static void put_counters(struct tm_buf *w, const struct strtab *t,
			 const struct tm_counter *c, size_t n)
{
	size_t i;

	put_u32(w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		put_u32(w, strtab_ref(t, c[i].name));
		put_u64(w, c[i].value);
	}
}

/* What the format can hold: counts fit 32 bits, every counter is named, the profile is valid. */
static int encodable(const struct tm_profile *p)
{
	size_t i;

	if (p->nframes > UINT32_MAX || p->nsites > UINT32_MAX || p->ndrops > UINT32_MAX ||
	    p->nstats > UINT32_MAX || p->nsamples > UINT32_MAX)
		return -E2BIG;
	for (i = 0; i < p->ndrops; i++)
		if (!p->drops[i].name)
			return -EINVAL;
	for (i = 0; i < p->nstats; i++)
		if (!p->stats[i].name)
			return -EINVAL;
	return tm_profile__check(p);
}

/* The string table, then the process and its totals. */
static int put_head(struct tm_buf *w, const struct strtab *t, const struct tm_profile *p)
{
	size_t i, len;

	put_u32(w, (uint32_t)t->n);
	for (i = 0; i < t->n; i++) {
		len = strlen(t->s[i]);
		if (len > UINT32_MAX)
			return -E2BIG;
		put_u32(w, (uint32_t)len);
		tm_buf__put(w, t->s[i], len);
	}

	put_u32(w, (uint32_t)p->pid);
	put_u32(w, strtab_ref(t, p->command));
	put_u32(w, !!p->has_exit_code);
	put_u32(w, (uint32_t)p->exit_code);
	put_u32(w, !!p->has_signal);
	put_u32(w, (uint32_t)p->signal);
	put_u64(w, p->start_time_ns);
	put_u64(w, p->end_time_ns);

	put_u64(w, p->peak_bytes);
	put_u64(w, p->peak_time_ns);
	/* the exit's, as ever: the end of the program, when earlier, is in its own section */
	put_u64(w, (uint64_t)(p->end_moment == TM_END_EXIT ? p->live_bytes_end : p->live_bytes_exit));
	put_u64(w, p->alloc_bytes);
	put_u64(w, p->alloc_count);
	put_u64(w, p->free_count);

	put_counters(w, t, p->drops, p->ndrops);
	put_counters(w, t, p->stats, p->nstats);
	return 0;
}

/* The frame table and the sites (version 1's fields). */
static void put_stacks(struct tm_buf *w, const struct strtab *t, const struct tm_profile *p)
{
	size_t i;
	uint32_t j;

	put_u32(w, (uint32_t)p->nframes);
	for (i = 0; i < p->nframes; i++) {
		const struct tm_frame *f = &p->frames[i];

		put_u32(w, f->kind);
		put_u32(w, f->line);
		put_u32(w, strtab_ref(t, f->function));
		put_u32(w, strtab_ref(t, f->file));
		put_u32(w, strtab_ref(t, f->module));
		put_u64(w, f->address);
	}

	put_u32(w, (uint32_t)p->nsites);
	for (i = 0; i < p->nsites; i++) {
		const struct tm_site *s = &p->sites[i];

		put_u32(w, s->nframes);
		put_u32(w, s->flags);
		put_u32(w, s->kind);
		put_u64(w, s->alloc_bytes);
		put_u64(w, s->alloc_count);
		put_u64(w, s->free_bytes);
		put_u64(w, s->free_count);
		put_u64(w, (uint64_t)(p->end_moment == TM_END_EXIT ? s->live_bytes : s->exit_bytes));
		put_u64(w, (uint64_t)(p->end_moment == TM_END_EXIT ? s->live_count : s->exit_count));
		put_u64(w, (uint64_t)s->peak_bytes);
		put_u64(w, (uint64_t)s->peak_count);
		for (j = 0; j < s->nframes; j++)
			put_u32(w, s->frames[j]);
	}
}

/* The tagged sections that came later: temporary, timeline, sizes, OOM, sampling, names, allocator. */
static void put_sections(struct tm_buf *w, const struct strtab *t, const struct tm_profile *p)
{
	size_t i;

	put_u32(w, SECTION_TEMPORARY);
	put_u64(w, 4 + (uint64_t)p->nsites * 16);
	put_u32(w, (uint32_t)p->nsites);
	for (i = 0; i < p->nsites; i++) {
		put_u64(w, p->sites[i].temp_bytes);
		put_u64(w, p->sites[i].temp_count);
	}

	put_u32(w, SECTION_TIMELINE);
	put_u64(w, 4 + (uint64_t)p->nsamples * SAMPLE_SIZE);
	put_u32(w, (uint32_t)p->nsamples);
	for (i = 0; i < p->nsamples; i++) {
		put_u64(w, p->samples[i].time_ns);
		put_u64(w, (uint64_t)p->samples[i].heap_bytes);
		put_u64(w, p->samples[i].rss_bytes);
	}

	put_u32(w, SECTION_SIZES);
	put_u64(w, 4 + (uint64_t)TM_PROFILE_SIZE_BUCKETS * 16);
	put_u32(w, TM_PROFILE_SIZE_BUCKETS);
	for (i = 0; i < TM_PROFILE_SIZE_BUCKETS; i++) {
		put_u64(w, p->size_hist[i].count);
		put_u64(w, p->size_hist[i].bytes);
	}

	put_u32(w, SECTION_OOM);
	put_u64(w, 3 * 4 + 6 * 8);
	put_u32(w, strtab_ref(t, p->cgroup));
	put_u32(w, !!p->oom.killed);
	put_u64(w, p->oom.time_ns);
	put_u64(w, p->oom.rss_anon);
	put_u64(w, p->oom.rss_file);
	put_u64(w, p->oom.rss_shmem);
	put_u32(w, strtab_ref(t, p->oom.cgroup));
	put_u64(w, p->oom.cgroup_limit);
	put_u64(w, p->oom.cgroup_usage);

	if (p->sample_bytes) {   /* absent = exact, as every older file is */
		put_u32(w, SECTION_SAMPLING);
		put_u64(w, 8);
		put_u64(w, p->sample_bytes);
	}
	for (i = 0; i < p->nframes && !p->frames[i].system_name; i++)
		;
	if (i < p->nframes) { /* absent = every name is as linked */
		put_u32(w, SECTION_NAMES);
		put_u64(w, 4 + (uint64_t)p->nframes * 4);
		put_u32(w, (uint32_t)p->nframes);
		for (i = 0; i < p->nframes; i++)
			put_u32(w, strtab_ref(t, p->frames[i].system_name));
	}
	if (p->allocator_note) {
		put_u32(w, SECTION_ALLOCATOR);
		put_u64(w, 4);
		put_u32(w, strtab_ref(t, p->allocator_note));
	}
	if (p->ns_pid && p->ns_pid != p->pid) {
		put_u32(w, SECTION_NAMESPACE);
		put_u64(w, 8);
		put_u32(w, (uint32_t)p->ns_pid);
		put_u32(w, 0);
	}
	/* absent = what a reader infers: exact, or sampled from the sampling section */
	if (p->mode != TM_PROFILE_EXACT && !(p->mode == TM_PROFILE_SAMPLED && p->sample_bytes)) {
		put_u32(w, SECTION_MODE);
		put_u64(w, 8);
		put_u32(w, p->mode);
		put_u32(w, 0);
	}
	if (p->oom.cg_have) {
		put_u32(w, SECTION_OOM_CGROUP);
		put_u64(w, 8 + 4 * 8);
		put_u32(w, p->oom.cg_have);
		put_u32(w, 0);
		put_u64(w, p->oom.cg_max);
		put_u64(w, p->oom.cg_current);
		put_u64(w, p->oom.cg_peak);
		put_u64(w, p->oom.cg_oom_kill);
	}
	if (p->end_moment != TM_END_EXIT) { /* absent = the end was the exit, as in every older file */
		put_u32(w, SECTION_END);
		put_u64(w, 4 + 4 + 8 + 8 + 4 + (uint64_t)p->nsites * 16);
		put_u32(w, p->end_moment);
		put_u32(w, 0);
		put_u64(w, p->end_moment_ns);
		put_u64(w, (uint64_t)p->live_bytes_end);
		put_u32(w, (uint32_t)p->nsites);
		for (i = 0; i < p->nsites; i++) {
			put_u64(w, (uint64_t)p->sites[i].live_bytes);
			put_u64(w, (uint64_t)p->sites[i].live_count);
		}
	}
	if (p->attached) {
		put_u32(w, SECTION_ATTACH);
		put_u64(w, 8);
		put_u64(w, p->attach_rss_anon);
	}
}

/* The process tree: p's parent, the tree's sum (the root only). */
static void put_tree(struct tm_buf *w, const struct strtab *t, const struct tm_profile *p)
{
	const struct tm_tree *tr = &p->tree;
	size_t i;

	if (p->ppid || p->execed) {
		put_u32(w, SECTION_PARENT);
		put_u64(w, 8);
		put_u32(w, (uint32_t)p->ppid);
		put_u32(w, !!p->execed);
	}
	if (!tr->nsamples && !p->nprocs)
		return;
	put_u32(w, SECTION_TREE);
	put_u64(w, 4 + 4 + 4 * 8 + 4 + (uint64_t)tr->nat_peak * 16 + 4 + (uint64_t)tr->nsamples * 16);
	put_u32(w, strtab_ref(t, tr->note));
	put_u32(w, 0);
	put_u64(w, tr->nprocs);
	put_u64(w, tr->peak_bytes);
	put_u64(w, tr->peak_time_ns);
	put_u64(w, tr->interval_ns);
	put_u32(w, (uint32_t)tr->nat_peak);
	for (i = 0; i < tr->nat_peak; i++) {
		put_u32(w, (uint32_t)tr->at_peak[i].pid);
		put_u32(w, 0);
		put_u64(w, (uint64_t)tr->at_peak[i].bytes);
	}
	put_u32(w, (uint32_t)tr->nsamples);
	for (i = 0; i < tr->nsamples; i++) {
		put_u64(w, tr->samples[i].time_ns);
		put_u64(w, (uint64_t)tr->samples[i].heap_bytes);
	}
}

static int encode_payload(const struct tm_profile *p, struct tm_buf *w, int nested)
{
	struct strtab t = {};
	size_t i, at;
	int err;

	err = encodable(p);
	if (!err && (p->tree.nat_peak > UINT32_MAX || p->tree.nsamples > UINT32_MAX))
		err = -E2BIG;
	if (!err && nested && p->nprocs)
		err = -EINVAL; /* one level: the root holds every process */
	err = err ?: strtab_build(&t, p);
	err = err ?: put_head(w, &t, p);
	if (!err) {
		put_stacks(w, &t, p);
		put_sections(w, &t, p);
		put_tree(w, &t, p);
		err = w->err;
	}
	free(t.s);
	/* each process: its length is known once it is written, and filled in then */
	for (i = 0; !err && i < p->nprocs; i++) {
		put_u32(w, SECTION_PROCESS);
		at = w->len;
		put_u64(w, 0);
		err = w->err ?: encode_payload(p->procs[i], w, 1);
		if (!err && !w->err)
			le64_put((unsigned char *)w->data + at, (uint64_t)(w->len - at - 8));
		err = err ?: w->err;
	}
	return err;
}

/*
 * Level 9 spends its time on long match chains, and a capture's payload is
 * repetitive: on a 9.3 MB payload of 75,000 stacks it took 6.1 s for a file
 * 1.8% smaller than level 6 made in 0.39 s. Small payloads (a post-mortem,
 * a short run) keep level 9, which costs them milliseconds.
 */
#define BEST_LEVEL_MAX (64u << 10)

static int zlib_level(size_t payload)
{
	return payload <= BEST_LEVEL_MAX ? Z_BEST_COMPRESSION : 6;
}

int tm_capture__write_mem(const struct tm_profile *p, void **buf, size_t *len)
{
	struct tm_buf w = {};
	unsigned char *file = NULL;
	uLongf clen;
	int err, zerr;

	if (!p || !buf || !len)
		return -EINVAL;
	err = encode_payload(p, &w, 0);
	if (err)
		goto out;
	if (w.len > MAX_PART) {
		err = -E2BIG;
		goto out;
	}

	clen = compressBound(w.len);
	file = malloc(TM_CAPTURE_HEADER_SIZE + clen);
	if (!file) {
		err = -ENOMEM;
		goto out;
	}
	zerr = compress2(file + TM_CAPTURE_HEADER_SIZE, &clen, w.data ? w.data : file, w.len, zlib_level(w.len));
	if (zerr != Z_OK) {
		err = zerr == Z_MEM_ERROR ? -ENOMEM : -EIO;
		goto out;
	}

	memcpy(file, TM_CAPTURE_MAGIC, 8);
	le32_put(file + 8, TM_CAPTURE_VERSION);
	le32_put(file + 12, 0);
	le64_put(file + 16, w.len);
	le32_put(file + 24, (uint32_t)crc32_z(0, file + TM_CAPTURE_HEADER_SIZE, clen));
	le32_put(file + 28, 0);

	*buf = file;
	*len = TM_CAPTURE_HEADER_SIZE + clen;
	file = NULL;
out:
	free(file);
	free(w.data);
	return err;
}

int tm_capture__write_file(const struct tm_profile *p, FILE *f)
{
	void *buf = NULL;
	size_t len;
	int err;

	if (!p || !f)
		return -EINVAL;
	err = tm_capture__write_mem(p, &buf, &len);
	if (err) {
		pr_warn("capture: cannot encode: %s\n", strerror(-err));
		return err;
	}
	if (fwrite(buf, 1, len, f) != len)
		err = -EIO;
	free(buf);
	return err;
}

int tm_capture__write(const struct tm_profile *p, const char *path)
{
	struct tm_outfile of;
	int err;

	if (!p || !path || !*path)
		return -EINVAL;
	err = tm_outfile__open(&of, "capture", path);
	if (err)
		return err;
	return tm_outfile__commit(&of, tm_capture__write_file(p, of.f));
}

/* ------------------------------------------------------------------ */
/* reading                                                            */

struct reader {
	const unsigned char *p;
	size_t len, off;
	uint64_t budget;        /* bytes the payload and the profile may still take */
	size_t file_len;
	const char *name;       /* for messages */
	uint32_t version;
	int nested; /* reading a process inside the root's payload */
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct reader *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!r->err || !r->errlen)
		return -EINVAL;
	n = snprintf(r->err, r->errlen, "%s: ", r->name);
	if (n < 0 || (size_t)n >= r->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static size_t remaining(const struct reader *r)
{
	return r->len - r->off;
}

static int need(struct reader *r, size_t n, const char *what)
{
	if (remaining(r) < n)
		return fail(r, "corrupt payload: %s cut short at offset %zu of %zu",
			    what, r->off, r->len);
	return 0;
}

static int get_u32(struct reader *r, uint32_t *v, const char *what)
{
	int err = need(r, 4, what);

	if (err)
		return err;
	*v = le32_get(r->p + r->off);
	r->off += 4;
	return 0;
}

static int get_u64(struct reader *r, uint64_t *v, const char *what)
{
	int err = need(r, 8, what);

	if (err)
		return err;
	*v = le64_get(r->p + r->off);
	r->off += 8;
	return 0;
}

static int get_i32(struct reader *r, int32_t *v, const char *what)
{
	uint32_t u;
	int err = get_u32(r, &u, what);

	*v = (int32_t)u;
	return err;
}

static int get_i64(struct reader *r, int64_t *v, const char *what)
{
	uint64_t u;
	int err = get_u64(r, &u, what);

	*v = (int64_t)u;
	return err;
}

/*
 * Charge @n items of @each bytes of memory to the budget: refused, before
 * anything is allocated, when the file is too small to honestly need them.
 */
static int charge(struct reader *r, uint64_t n, uint64_t each, const char *what)
{
	if (each && n > r->budget / each)
		return fail(r, "refused: %llu %s would take more memory than a %zu-byte capture may "
			    "(%d bytes per byte of file + %u MiB)", (unsigned long long)n, what, r->file_len,
			    TM_CAPTURE_MEM_PER_BYTE, TM_CAPTURE_MEM_BASE >> 20);
	r->budget -= n * each;
	return 0;
}

/*
 * A count of items at least `each` bytes long: it cannot exceed what is
 * left, and the @mem bytes each will take in memory are charged.
 */
static int get_count(struct reader *r, uint32_t *n, size_t each, size_t mem, const char *what)
{
	int err = get_u32(r, n, what);

	if (err)
		return err;
	if (*n > remaining(r) / each)
		return fail(r, "corrupt payload: %u %s cannot fit in the %zu bytes left",
			    *n, what, remaining(r));
	return charge(r, *n, mem, what);
}

/*
 * Memory per item, an upper bound: arrays grow by doubling (2x), a string
 * is a pointer, a pool entry and its copy, a site's frames a malloc of their own.
 */
#define MEM_STRING (sizeof(char *) + 64)
#define MEM_COUNTER (2 * sizeof(struct tm_counter))
#define MEM_FRAME (sizeof(uint32_t) + 2 * sizeof(struct tm_frame) + 2 * sizeof(uint64_t))
#define MEM_SITE (2 * sizeof(struct tm_site) + 32)
#define MEM_SAMPLE (2 * sizeof(struct tm_sample))

struct strings {
	const char **s;
	uint32_t n;
};

static int get_str(struct reader *r, const struct strings *st, const char **s, const char *what)
{
	uint32_t ref;
	int err = get_u32(r, &ref, what);

	if (err)
		return err;
	if (ref > st->n)
		return fail(r, "corrupt payload: %s refers to string %u of %u", what, ref, st->n);
	*s = ref ? st->s[ref - 1] : NULL;
	return 0;
}

static int get_flag(struct reader *r, int32_t *v, const char *what)
{
	uint32_t u;
	int err = get_u32(r, &u, what);

	if (err)
		return err;
	if (u > 1)
		return fail(r, "corrupt payload: %s is %u, not 0 or 1", what, u);
	*v = (int32_t)u;
	return 0;
}

static int read_strings(struct reader *r, struct tm_profile *p, struct strings *st)
{
	char *tmp = NULL;
	size_t tmpcap = 0;
	uint32_t i, n, len;
	int err;

	err = get_count(r, &n, 4, MEM_STRING, "strings");
	if (err)
		return err;
	st->s = calloc(n ? n : 1, sizeof(*st->s));
	if (!st->s)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		err = get_u32(r, &len, "string length");
		if (err)
			goto out;
		err = need(r, len, "string");
		err = err ?: charge(r, len, 1, "string bytes");
		if (err)
			goto out;
		if (memchr(r->p + r->off, '\0', len)) {
			err = fail(r, "corrupt payload: string %u contains a NUL byte", i);
			goto out;
		}
		if (len + 1 > tmpcap) {
			char *t = realloc(tmp, (size_t)len + 1);

			if (!t) {
				err = -ENOMEM;
				goto out;
			}
			tmp = t;
			tmpcap = (size_t)len + 1;
		}
		memcpy(tmp, r->p + r->off, len);
		tmp[len] = '\0';
		r->off += len;
		st->s[i] = tm_profile__str(p, tmp);
		if (!st->s[i]) {
			err = -ENOMEM;
			goto out;
		}
		st->n = i + 1;
	}
out:
	free(tmp);
	return err;
}

static int read_counters(struct reader *r, struct tm_profile *p, const struct strings *st,
			 int is_drop)
{
	const char *what = is_drop ? "drop counters" : "stat counters";
	const char *name;
	uint32_t i, n;
	uint64_t v;
	int err;

	err = get_count(r, &n, COUNTER_SIZE, MEM_COUNTER, what);
	for (i = 0; !err && i < n; i++) {
		err = get_str(r, st, &name, "counter name");
		err = err ?: get_u64(r, &v, "counter value");
		if (!err && (!name || !*name))
			err = fail(r, "corrupt payload: a counter has no name");
		if (!err)
			err = tm_profile__set_counter(p, is_drop, name, v);
	}
	return err;
}

static int read_frames(struct reader *r, struct tm_profile *p, const struct strings *st,
		       uint32_t **map, uint32_t *nmap)
{
	struct tm_frame f;
	uint32_t i, n;
	int err, idx;

	err = get_count(r, &n, FRAME_SIZE, MEM_FRAME, "frames");
	if (err)
		return err;
	*map = calloc(n ? n : 1, sizeof(**map));
	if (!*map)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		memset(&f, 0, sizeof(f));
		err = get_u32(r, &f.kind, "frame kind");
		err = err ?: get_u32(r, &f.line, "frame line");
		err = err ?: get_str(r, st, &f.function, "frame function");
		err = err ?: get_str(r, st, &f.file, "frame file");
		err = err ?: get_str(r, st, &f.module, "frame module");
		err = err ?: get_u64(r, &f.address, "frame address");
		if (err)
			return err;
		if (f.kind != TM_FRAME_NATIVE && f.kind != TM_FRAME_PYTHON)
			return fail(r, "corrupt payload: frame %u has unknown kind %u", i, f.kind);
		/* Duplicates in the file collapse into one frame here; the map remembers. */
		idx = tm_profile__add_frame(p, &f);
		if (idx < 0)
			return idx;
		(*map)[i] = (uint32_t)idx;
		*nmap = i + 1;
	}
	return 0;
}

static int read_sites(struct reader *r, struct tm_profile *p, const uint32_t *map, uint32_t nmap)
{
	struct tm_site s;
	uint32_t *frames = NULL, *nf;
	uint32_t i, j, n, fi, cap = 0;
	int err, idx;

	err = get_count(r, &n, SITE_FIXED_SIZE, MEM_SITE, "sites");
	for (i = 0; !err && i < n; i++) {
		memset(&s, 0, sizeof(s));
		err = get_u32(r, &s.nframes, "site");
		err = err ?: get_u32(r, &s.flags, "site");
		err = err ?: get_u32(r, &s.kind, "site");
		err = err ?: get_u64(r, &s.alloc_bytes, "site");
		err = err ?: get_u64(r, &s.alloc_count, "site");
		err = err ?: get_u64(r, &s.free_bytes, "site");
		err = err ?: get_u64(r, &s.free_count, "site");
		err = err ?: get_i64(r, &s.live_bytes, "site");
		err = err ?: get_i64(r, &s.live_count, "site");
		err = err ?: get_i64(r, &s.peak_bytes, "site");
		err = err ?: get_i64(r, &s.peak_count, "site");
		if (err)
			break;
		if (s.nframes > remaining(r) / 4) {
			err = fail(r, "corrupt payload: site %u claims %u frames, %zu bytes left",
				   i, s.nframes, remaining(r));
			break;
		}
		err = charge(r, s.nframes, 2 * sizeof(*frames), "site frames");
		if (err)
			break;
		if (s.nframes > cap) {
			nf = realloc(frames, (size_t)s.nframes * sizeof(*frames));
			if (!nf) {
				err = -ENOMEM;
				break;
			}
			frames = nf;
			cap = s.nframes;
		}
		for (j = 0; j < s.nframes; j++) {
			fi = le32_get(r->p + r->off);
			r->off += 4;
			if (fi >= nmap) {
				err = fail(r, "corrupt payload: site %u refers to frame %u of %u",
					   i, fi, nmap);
				break;
			}
			frames[j] = map[fi];
		}
		if (err)
			break;
		s.frames = frames;
		idx = tm_profile__add_site(p, &s);
		if (idx < 0)
			err = idx;
	}
	free(frames);
	return err;
}

static int read_temporary(struct reader *r, struct tm_profile *p)
{
	uint32_t n, i;
	int err;

	err = get_u32(r, &n, "temporary");
	if (!err && n != p->nsites)
		return fail(r, "corrupt payload: temporary counts for %u sites, the capture has %zu",
			    n, p->nsites);
	for (i = 0; !err && i < n; i++) {
		err = get_u64(r, &p->sites[i].temp_bytes, "temporary");
		err = err ?: get_u64(r, &p->sites[i].temp_count, "temporary");
	}
	return err;
}

/* Tag 10: the end of the program, when it came before the exit, and what was live then. */
static int read_end(struct reader *r, struct tm_profile *p)
{
	uint32_t n, i, pad;
	int err;

	err = get_u32(r, &p->end_moment, "end");
	err = err ?: get_u32(r, &pad, "end");
	err = err ?: get_u64(r, &p->end_moment_ns, "end");
	err = err ?: get_i64(r, &p->live_bytes_end, "end");
	err = err ?: get_u32(r, &n, "end");
	if (!err && (p->end_moment == TM_END_EXIT || !tm_end_moment_name(p->end_moment)))
		return fail(r, "corrupt payload: end moment %u", p->end_moment);
	if (!err && n != p->nsites)
		return fail(r, "corrupt payload: end values for %u sites, the capture has %zu", n, p->nsites);
	for (i = 0; !err && i < n; i++) {
		err = get_i64(r, &p->sites[i].live_bytes, "end");
		err = err ?: get_i64(r, &p->sites[i].live_count, "end");
	}
	return err;
}

static int read_timeline(struct reader *r, struct tm_profile *p)
{
	struct tm_sample s;
	uint32_t n, i;
	int err;

	err = get_count(r, &n, SAMPLE_SIZE, MEM_SAMPLE, "timeline samples");
	for (i = 0; !err && i < n; i++) {
		err = get_u64(r, &s.time_ns, "timeline");
		err = err ?: get_i64(r, &s.heap_bytes, "timeline");
		err = err ?: get_u64(r, &s.rss_bytes, "timeline");
		if (err)
			break;
		if (p->nsamples && s.time_ns < p->samples[p->nsamples - 1].time_ns)
			return fail(r, "corrupt payload: timeline sample %u goes back in time", i);
		err = tm_profile__add_sample(p, &s);
	}
	return err;
}

static int read_sizes(struct reader *r, struct tm_profile *p)
{
	uint32_t n, i;
	int err;

	err = get_u32(r, &n, "sizes");
	if (!err && n > TM_PROFILE_SIZE_BUCKETS)
		return fail(r, "corrupt payload: %u size classes, at most %d", n,
			    TM_PROFILE_SIZE_BUCKETS);
	for (i = 0; !err && i < n; i++) {
		err = get_u64(r, &p->size_hist[i].count, "sizes");
		err = err ?: get_u64(r, &p->size_hist[i].bytes, "sizes");
	}
	return err;
}

static int read_oom(struct reader *r, struct tm_profile *p, const struct strings *st)
{
	int err;

	err = get_str(r, st, &p->cgroup, "cgroup");
	err = err ?: get_flag(r, &p->oom.killed, "oom_killed");
	err = err ?: get_u64(r, &p->oom.time_ns, "oom");
	err = err ?: get_u64(r, &p->oom.rss_anon, "oom");
	err = err ?: get_u64(r, &p->oom.rss_file, "oom");
	err = err ?: get_u64(r, &p->oom.rss_shmem, "oom");
	err = err ?: get_str(r, st, &p->oom.cgroup, "oom cgroup");
	err = err ?: get_u64(r, &p->oom.cgroup_limit, "oom");
	err = err ?: get_u64(r, &p->oom.cgroup_usage, "oom");
	return err;
}

/* System names by file frame index; frames the reader merged share one (the first's). */
static int read_names(struct reader *r, struct tm_profile *p, const struct strings *st, const uint32_t *map,
		      uint32_t nmap)
{
	const char *name;
	uint32_t n, i;
	int err;

	err = get_u32(r, &n, "names");
	if (!err && n != nmap)
		return fail(r, "corrupt payload: system names for %u frames, the capture has %u", n, nmap);
	for (i = 0; !err && i < n; i++) {
		err = get_str(r, st, &name, "system name");
		if (!err && name && !p->frames[map[i]].system_name)
			p->frames[map[i]].system_name = name;
	}
	return err;
}

static int decode_payload(struct reader *r, struct tm_profile *p);

static int read_tree(struct reader *r, struct tm_profile *p, const struct strings *st)
{
	struct tm_tree *tr = &p->tree;
	uint32_t pad, n, i;
	int err;

	err = get_str(r, st, &tr->note, "tree");
	err = err ?: get_u32(r, &pad, "tree");
	err = err ?: get_u64(r, &tr->nprocs, "tree");
	err = err ?: get_u64(r, &tr->peak_bytes, "tree");
	err = err ?: get_u64(r, &tr->peak_time_ns, "tree");
	err = err ?: get_u64(r, &tr->interval_ns, "tree");
	err = err ?: get_u32(r, &n, "tree");
	if (err)
		return err;
	if (tr->at_peak || tr->samples)
		return fail(r, "corrupt payload: two process trees");
	if (n > remaining(r) / 16)
		return fail(r, "corrupt payload: tree claims %u processes, %zu bytes left", n, remaining(r));
	err = charge(r, n, sizeof(*tr->at_peak), "tree shares");
	tr->at_peak = err ? NULL : calloc(n ? n : 1, sizeof(*tr->at_peak));
	if (!err && !tr->at_peak)
		return -ENOMEM;
	for (i = 0; !err && i < n; i++) {
		err = get_i32(r, &tr->at_peak[i].pid, "tree");
		err = err ?: get_u32(r, &pad, "tree");
		err = err ?: get_i64(r, &tr->at_peak[i].bytes, "tree");
	}
	tr->nat_peak = n;
	err = err ?: get_u32(r, &n, "tree");
	if (err)
		return err;
	if (n > remaining(r) / 16)
		return fail(r, "corrupt payload: tree claims %u samples, %zu bytes left", n, remaining(r));
	err = charge(r, n, sizeof(*tr->samples), "tree samples");
	tr->samples = err ? NULL : calloc(n ? n : 1, sizeof(*tr->samples));
	if (!err && !tr->samples)
		return -ENOMEM;
	for (i = 0; !err && i < n; i++) {
		err = get_u64(r, &tr->samples[i].time_ns, "tree");
		err = err ?: get_i64(r, &tr->samples[i].heap_bytes, "tree");
	}
	tr->nsamples = n;
	return err;
}

/* One more process of the tree: a whole payload of its own, read with the same budget. */
static int read_process(struct reader *r, struct tm_profile *p, size_t len)
{
	struct reader sub = *r;
	struct tm_profile *child;
	int err;

	if (r->nested)
		return fail(r, "corrupt payload: a process inside a process");
	child = tm_profile__new();
	if (!child)
		return -ENOMEM;
	sub.p = r->p + r->off;
	sub.len = len;
	sub.off = 0;
	sub.nested = 1;
	err = decode_payload(&sub, child);
	r->budget = sub.budget;
	err = err ?: tm_profile__add_proc(p, child);
	if (err) {
		tm_profile__free(child);
		return err;
	}
	r->off += len;
	return 0;
}

/* Version 2's tagged sections, up to the end of the payload. */
static int read_sections(struct reader *r, struct tm_profile *p, const struct strings *st, const uint32_t *map,
			 uint32_t nmap)
{
	uint32_t tag, pad;
	uint64_t len;
	size_t end;
	int err = 0;

	while (!err && remaining(r)) {
		err = get_u32(r, &tag, "section");
		err = err ?: get_u64(r, &len, "section");
		if (err)
			break;
		if (len > remaining(r))
			return fail(r, "corrupt payload: section %u claims %llu bytes, %zu left",
				    tag, (unsigned long long)len, remaining(r));
		end = r->off + (size_t)len;
		switch (tag) {
		case SECTION_TEMPORARY:
			err = read_temporary(r, p);
			break;
		case SECTION_TIMELINE:
			err = read_timeline(r, p);
			break;
		case SECTION_SIZES:
			err = read_sizes(r, p);
			break;
		case SECTION_OOM:
			err = read_oom(r, p, st);
			break;
		case SECTION_NAMES:
			err = read_names(r, p, st, map, nmap);
			break;
		case SECTION_ALLOCATOR:
			err = get_str(r, st, &p->allocator_note, "allocator note");
			break;
		case SECTION_SAMPLING:
			err = get_u64(r, &p->sample_bytes, "sampling");
			if (!err && (!p->sample_bytes || p->sample_bytes > TM_SAMPLE_MAX_N))
				err = fail(r, "corrupt payload: sampling every %llu bytes",
					   (unsigned long long)p->sample_bytes);
			break;
		case SECTION_NAMESPACE:
			err = get_i32(r, &p->ns_pid, "namespace");
			err = err ?: get_u32(r, &pad, "namespace");
			if (!err && p->ns_pid <= 0)
				err = fail(r, "corrupt payload: namespace pid %d", p->ns_pid);
			break;
		case SECTION_OOM_CGROUP:
			err = get_u32(r, &p->oom.cg_have, "oom cgroup");
			err = err ?: get_u32(r, &pad, "oom cgroup");
			err = err ?: get_u64(r, &p->oom.cg_max, "oom cgroup");
			err = err ?: get_u64(r, &p->oom.cg_current, "oom cgroup");
			err = err ?: get_u64(r, &p->oom.cg_peak, "oom cgroup");
			err = err ?: get_u64(r, &p->oom.cg_oom_kill, "oom cgroup");
			break;
		case SECTION_MODE:
			err = get_u32(r, &p->mode, "mode");
			err = err ?: get_u32(r, &pad, "mode");
			if (!err && p->mode >= TM_PROFILE_MODE__COUNT)
				err = fail(r, "corrupt payload: mode %u", p->mode);
			break;
		case SECTION_END:
			err = read_end(r, p);
			break;
		case SECTION_ATTACH:
			err = get_u64(r, &p->attach_rss_anon, "attach");
			p->attached = 1;
			break;
		case SECTION_PARENT:
			err = get_i32(r, &p->ppid, "parent");
			err = err ?: get_i32(r, &p->execed, "parent");
			break;
		case SECTION_TREE:
			err = read_tree(r, p, st);
			break;
		case SECTION_PROCESS:
			err = read_process(r, p, (size_t)len);
			break;
		default:        /* written by a newer tidemark: not ours to read */
			r->off = end;
			break;
		}
		if (!err && r->off != end)
			err = fail(r, "corrupt payload: section %u is %llu bytes, its content %zu",
				   tag, (unsigned long long)len, r->off - (end - (size_t)len));
	}
	return err;
}

static int decode_payload(struct reader *r, struct tm_profile *p)
{
	struct strings st = {};
	uint32_t *map = NULL, nmap = 0;
	int err;

	err = read_strings(r, p, &st);
	if (err)
		goto out;

	err = get_i32(r, &p->pid, "process");
	err = err ?: get_str(r, &st, &p->command, "command");
	err = err ?: get_flag(r, &p->has_exit_code, "has_exit_code");
	err = err ?: get_i32(r, &p->exit_code, "process");
	err = err ?: get_flag(r, &p->has_signal, "has_signal");
	err = err ?: get_i32(r, &p->signal, "process");
	err = err ?: get_u64(r, &p->start_time_ns, "process");
	err = err ?: get_u64(r, &p->end_time_ns, "process");

	err = err ?: get_u64(r, &p->peak_bytes, "totals");
	err = err ?: get_u64(r, &p->peak_time_ns, "totals");
	err = err ?: get_i64(r, &p->live_bytes_end, "totals");
	err = err ?: get_u64(r, &p->alloc_bytes, "totals");
	err = err ?: get_u64(r, &p->alloc_count, "totals");
	err = err ?: get_u64(r, &p->free_count, "totals");

	err = err ?: read_counters(r, p, &st, 1);
	err = err ?: read_counters(r, p, &st, 0);
	err = err ?: read_frames(r, p, &st, &map, &nmap);
	err = err ?: read_sites(r, p, map, nmap);
	if (!err) {
		size_t i;

		/* The exit's; the end section, if any, puts the end of the program's in the live fields. */
		for (i = 0; i < p->nsites; i++) {
			p->sites[i].exit_bytes = p->sites[i].live_bytes;
			p->sites[i].exit_count = p->sites[i].live_count;
		}
		p->live_bytes_exit = p->live_bytes_end;
	}
	if (!err && r->version >= 2)
		err = read_sections(r, p, &st, map, nmap);
	if (!err && remaining(r))
		err = fail(r, "corrupt payload: %zu unexpected bytes at the end", remaining(r));
	/* Before modes, a sampling section was the only other way a capture was made. */
	if (!err && p->mode == TM_PROFILE_EXACT && p->sample_bytes)
		p->mode = TM_PROFILE_SAMPLED;
out:
	free(map);
	free(st.s);
	return err;
}

enum inflate_result {
	INFLATE_OK,
	INFLATE_TRUNCATED,      /* the input ended before the stream did */
	INFLATE_TOO_LONG,       /* more output than the header announced */
	INFLATE_SHORT,          /* the stream ended early */
	INFLATE_TRAILING,       /* bytes after the end of the stream */
	INFLATE_CORRUPT,
	INFLATE_NOMEM,
};

/* Both lengths are at most MAX_PART, so they fit zlib's uInt. */
static enum inflate_result inflate_all(const unsigned char *src, size_t slen,
				       unsigned char *dst, size_t dlen, size_t *produced)
{
	enum inflate_result res;
	z_stream zs = {};
	int ret;

	if (inflateInit(&zs) != Z_OK)
		return INFLATE_NOMEM;
	zs.next_in = (Bytef *)src;
	zs.avail_in = (uInt)slen;
	zs.next_out = dst;
	zs.avail_out = (uInt)dlen;
	ret = inflate(&zs, Z_FINISH);
	*produced = zs.total_out;
	if (ret == Z_STREAM_END)
		res = zs.avail_in ? INFLATE_TRAILING : zs.total_out != dlen ? INFLATE_SHORT : INFLATE_OK;
	else if (ret == Z_MEM_ERROR)
		res = INFLATE_NOMEM;
	else if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT || ret == Z_STREAM_ERROR)
		res = INFLATE_CORRUPT;
	else if (!zs.avail_out)
		res = INFLATE_TOO_LONG;
	else
		res = INFLATE_TRUNCATED;
	inflateEnd(&zs);
	return res;
}

static int check_header(struct reader *r, uint64_t *plen)
{
	const unsigned char *h = r->p;
	uint32_t version, flags;
	size_t clen;

	if (!r->len)
		return fail(r, "empty file, not a tidemark capture");
	if (memcmp(h, TM_CAPTURE_MAGIC, r->len < 8 ? r->len : 8))
		return fail(r, "not a tidemark capture (bad magic)");
	if (r->len < TM_CAPTURE_HEADER_SIZE)
		return fail(r, "truncated (file is %zu bytes, its header alone needs %d)",
			    r->len, TM_CAPTURE_HEADER_SIZE);
	version = le32_get(h + 8);
	if (version < 1 || version > TM_CAPTURE_VERSION)
		return fail(r, "unsupported capture format version %u (this tidemark reads 1 to %d)",
			    version, TM_CAPTURE_VERSION);
	r->version = version;
	flags = le32_get(h + 12);
	if (flags)
		return fail(r, "unsupported capture flags 0x%x (written by a newer tidemark?)", flags);
	*plen = le64_get(h + 16);
	clen = r->len - TM_CAPTURE_HEADER_SIZE;
	if (*plen > MAX_PART || clen > MAX_PART)
		return fail(r, "capture too large (%llu bytes of payload, %zu compressed); the limit is %u",
			    (unsigned long long)*plen, clen, MAX_PART);
	if (!clen)
		return fail(r, "truncated (expected %llu bytes of payload, found 0)",
			    (unsigned long long)*plen);
	if (*plen > (uint64_t)clen * MAX_RATIO + 64)
		return fail(r, "corrupt header: %llu bytes of payload cannot come from %zu compressed",
			    (unsigned long long)*plen, clen);
	return 0;
}

int tm_capture__read_mem(const void *buf, size_t len, const char *name,
			 struct tm_profile **out, char *err, size_t errlen)
{
	struct reader r = { .p = buf, .len = len, .file_len = len, .name = name ? name : "capture",
			    .err = err, .errlen = errlen };
	const unsigned char *comp;
	unsigned char *payload = NULL;
	struct tm_profile *p = NULL;
	enum inflate_result res;
	size_t clen, produced;
	uint64_t plen = 0;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!out || (!buf && len))
		return -EINVAL;
	*out = NULL;

	r.budget = (uint64_t)len * TM_CAPTURE_MEM_PER_BYTE + TM_CAPTURE_MEM_BASE;
	ret = check_header(&r, &plen);
	ret = ret ?: charge(&r, plen, 1, "bytes of payload");
	if (ret)
		return ret;
	comp = r.p + TM_CAPTURE_HEADER_SIZE;
	clen = len - TM_CAPTURE_HEADER_SIZE;

	payload = malloc(plen ? plen : 1);
	if (!payload)
		return -ENOMEM;
	res = inflate_all(comp, clen, payload, plen, &produced);

	if (crc32_z(0, comp, clen) != le32_get(r.p + 24)) {
		/* A cut-off file is the common case: say so rather than "corrupt". */
		if (res == INFLATE_TRUNCATED)
			ret = fail(&r, "truncated (expected %llu bytes of payload, found %zu)",
				   (unsigned long long)plen, produced);
		else
			ret = fail(&r, "checksum mismatch: file is corrupt");
		goto out;
	}

	switch (res) {
	case INFLATE_OK:
		break;
	case INFLATE_NOMEM:
		ret = -ENOMEM;
		goto out;
	case INFLATE_TRUNCATED:
		ret = fail(&r, "truncated (expected %llu bytes of payload, found %zu)",
			   (unsigned long long)plen, produced);
		goto out;
	case INFLATE_TOO_LONG:
		ret = fail(&r, "corrupt: payload is longer than the %llu bytes the header says",
			   (unsigned long long)plen);
		goto out;
	case INFLATE_SHORT:
		ret = fail(&r, "corrupt: payload is %zu bytes, the header says %llu",
			   produced, (unsigned long long)plen);
		goto out;
	case INFLATE_TRAILING:
		ret = fail(&r, "corrupt: unexpected data after the compressed payload");
		goto out;
	case INFLATE_CORRUPT:
		ret = fail(&r, "corrupt compressed data");
		goto out;
	}

	p = tm_profile__new();
	if (!p) {
		ret = -ENOMEM;
		goto out;
	}
	r.p = payload;
	r.len = plen;
	r.off = 0;
	ret = decode_payload(&r, p);
	if (ret)
		goto out;
	*out = p;
	p = NULL;
out:
	/* Every failure leaves a message, even one only the profile code saw. */
	if (ret == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: out of memory", r.name);
	else if (ret && err && errlen && !err[0])
		snprintf(err, errlen, "%s: cannot load: %s", r.name, strerror(-ret));
	tm_profile__free(p);
	free(payload);
	return ret;
}

int tm_capture__read(const char *path, struct tm_profile **out, char *err, size_t errlen)
{
	const size_t limit = (size_t)MAX_PART + TM_CAPTURE_HEADER_SIZE;
	unsigned char *buf = NULL, *nbuf;
	size_t len = 0, cap;
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !out)
		return -EINVAL;
	*out = NULL;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		goto out;
	}
	/* The size is a hint only: pipes report 0, files may change under us. */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size <= MAX_PART ?
	      (size_t)st.st_size + 1 : 65536;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (len == cap) {
			if (cap > limit) {
				if (err && errlen)
					snprintf(err, errlen, "%s: capture too large (over %zu bytes)",
						 path, limit);
				ret = -EFBIG;
				goto out_quiet;
			}
			cap = cap > limit / 2 ? limit + 1 : cap * 2;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	ret = tm_capture__read_mem(buf, len, path, out, err, errlen);
	goto out_quiet;
out:
	if (ret && err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
out_quiet:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}
