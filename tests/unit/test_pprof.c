/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * test_pprof.c: the pprof and collapsed writers, value for value.
 *
 * The pprof output is gunzipped and decoded here by a protobuf reader of our
 * own (written from profile.proto's field numbers, not from pprof.c), and
 * every table is checked: sample types, samples, mappings, locations,
 * functions, strings, comments. The collapsed output is compared as text,
 * and its numbers are added up against the report's own view totals.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "tidemark_common.h"
#include "report/collapsed.h"
#include "report/pprof.h"
#include "profile/profile.h"
#include "report/report.h"
#include "tm_test.h"

/* ------------------------------------------------------------------ */
/* a protobuf reader, just enough for profile.proto                   */

#define MAXN 64

struct rd {
	const uint8_t *p, *end;
	int bad;
};

struct d_sample {
	uint64_t locs[MAXN];
	size_t nlocs;
	uint64_t vals[MAXN];
	size_t nvals;
	uint64_t label_key, label_str;
	size_t nlabels;
};

struct d_mapping {
	uint64_t id, start, limit, offset, file, has_functions, has_filenames, has_lines;
};

struct d_location {
	uint64_t id, mapping, address;
	uint64_t fn[4], line[4];
	size_t nlines;
};

struct d_function {
	uint64_t id, name, system_name, file, start_line;
};

struct decoded {
	char *str[256];
	size_t nstr;
	uint64_t st_type[MAXN], st_unit[MAXN];
	size_t nst;
	struct d_sample sample[MAXN];
	size_t nsample;
	struct d_mapping mapping[MAXN];
	size_t nmapping;
	struct d_location location[MAXN];
	size_t nlocation;
	struct d_function function[MAXN];
	size_t nfunction;
	uint64_t comment[MAXN];
	size_t ncomment;
	uint64_t time_nanos, duration, period, period_type[2], default_st, unknown;
};

static uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;
	int shift = 0;

	while (r->p < r->end && shift < 64) {
		uint8_t b = *r->p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
		shift += 7;
	}
	r->bad = 1;
	return 0;
}

/* Next field: 1, or 0 at the end. A varint lands in *v, a length-delimited field in *sub. */
static int rd_next(struct rd *r, unsigned int *field, uint64_t *v, struct rd *sub)
{
	uint64_t key, len;

	if (r->bad || r->p >= r->end)
		return 0;
	key = rd_varint(r);
	*field = (unsigned int)(key >> 3);
	switch (key & 7) {
	case 0:
		*v = rd_varint(r);
		sub->p = sub->end = NULL;
		break;
	case 2:
		len = rd_varint(r);
		if (len > (uint64_t)(r->end - r->p)) {
			r->bad = 1;
			return 0;
		}
		sub->p = r->p;
		sub->end = r->p + len;
		sub->bad = 0;
		r->p += len;
		*v = len;
		break;
	default:
		r->bad = 1;
		return 0;
	}
	return !r->bad;
}

/* A repeated integer, packed or not. */
static void rd_ints(uint64_t v, struct rd *sub, uint64_t *out, size_t *n)
{
	if (!sub->p) {
		if (*n < MAXN)
			out[(*n)++] = v;
		return;
	}
	while (sub->p < sub->end && *n < MAXN)
		out[(*n)++] = rd_varint(sub);
}

static void decode_sample(struct rd *r, struct d_sample *s)
{
	struct rd sub, lab;
	unsigned int f, g;
	uint64_t v, w;

	while (rd_next(r, &f, &v, &sub)) {
		if (f == 1) {
			rd_ints(v, &sub, s->locs, &s->nlocs);
		} else if (f == 2) {
			rd_ints(v, &sub, s->vals, &s->nvals);
		} else if (f == 3) {
			s->nlabels++;
			while (rd_next(&sub, &g, &w, &lab)) {
				if (g == 1)
					s->label_key = w;
				else if (g == 2)
					s->label_str = w;
			}
		}
	}
}

static void decode_location(struct rd *r, struct d_location *l)
{
	struct rd sub, x;
	unsigned int f, g;
	uint64_t v, w;

	while (rd_next(r, &f, &v, &sub)) {
		if (f == 1) {
			l->id = v;
		} else if (f == 2) {
			l->mapping = v;
		} else if (f == 3) {
			l->address = v;
		} else if (f == 4 && l->nlines < 4) {
			while (rd_next(&sub, &g, &w, &x)) {
				if (g == 1)
					l->fn[l->nlines] = w;
				else if (g == 2)
					l->line[l->nlines] = w;
			}
			l->nlines++;
		}
	}
}

static int decode(const uint8_t *buf, size_t len, struct decoded *d)
{
	struct rd r = { buf, buf + len, 0 }, sub, x;
	unsigned int f, g;
	uint64_t v, w;

	memset(d, 0, sizeof(*d));
	while (rd_next(&r, &f, &v, &sub)) {
		switch (f) {
		case 1:
			while (rd_next(&sub, &g, &w, &x)) {
				if (g == 1)
					d->st_type[d->nst] = w;
				else if (g == 2)
					d->st_unit[d->nst] = w;
			}
			d->nst++;
			break;
		case 2:
			decode_sample(&sub, &d->sample[d->nsample++]);
			break;
		case 3: {
			struct d_mapping *m = &d->mapping[d->nmapping++];

			while (rd_next(&sub, &g, &w, &x)) {
				uint64_t *fields[] = { NULL, &m->id, &m->start, &m->limit, &m->offset,
						       &m->file, NULL, &m->has_functions,
						       &m->has_filenames, &m->has_lines };

				if (g < sizeof(fields) / sizeof(fields[0]) && fields[g])
					*fields[g] = w;
			}
			break;
		}
		case 4:
			decode_location(&sub, &d->location[d->nlocation++]);
			break;
		case 5: {
			struct d_function *fn = &d->function[d->nfunction++];

			while (rd_next(&sub, &g, &w, &x)) {
				uint64_t *fields[] = { NULL, &fn->id, &fn->name, &fn->system_name,
						       &fn->file, &fn->start_line };

				if (g < sizeof(fields) / sizeof(fields[0]))
					*fields[g] = w;
			}
			break;
		}
		case 6:
			d->str[d->nstr] = strndup((const char *)sub.p, (size_t)(sub.end - sub.p));
			d->nstr++;
			break;
		case 9:
			d->time_nanos = v;
			break;
		case 10:
			d->duration = v;
			break;
		case 11:
			while (rd_next(&sub, &g, &w, &x))
				if (g == 1 || g == 2)
					d->period_type[g - 1] = w;
			break;
		case 12:
			d->period = v;
			break;
		case 13:
			rd_ints(v, &sub, d->comment, &d->ncomment);
			break;
		case 14:
			d->default_st = v;
			break;
		default:
			d->unknown++;
			break;
		}
		if (d->nsample == MAXN || d->nmapping == MAXN || d->nlocation == MAXN ||
		    d->nfunction == MAXN || d->nst == MAXN || d->nstr == 256)
			return -E2BIG;
	}
	return r.bad ? -EINVAL : 0;
}

static void decoded_free(struct decoded *d)
{
	size_t i;

	for (i = 0; i < d->nstr; i++)
		free(d->str[i]);
}

static const char *S(const struct decoded *d, uint64_t i)
{
	return i < d->nstr ? d->str[i] : "(out of range)";
}

/* ------------------------------------------------------------------ */
/* rendering                                                          */

static int gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	size_t cap = 1 << 16;
	z_stream zs;
	int zr;

	memset(&zs, 0, sizeof(zs));
	*out = malloc(cap);
	*outlen = 0;
	if (!*out || inflateInit2(&zs, 15 + 16) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	do {
		if (*outlen == cap) {
			cap *= 2;
			*out = realloc(*out, cap);
			if (!*out)
				return -ENOMEM;
		}
		zs.next_out = *out + *outlen;
		zs.avail_out = (uInt)(cap - *outlen);
		zr = inflate(&zs, Z_NO_FLUSH);
		*outlen = cap - zs.avail_out;
	} while (zr == Z_OK);
	inflateEnd(&zs);
	/* The whole input is one gzip member, and nothing follows it. */
	return zr == Z_STREAM_END && zs.avail_in == 0 ? 0 : -EINVAL;
}

static char *render(const struct tm_profile *p, const struct tm_report_opts *o, int pprof,
		    size_t *len, int *ret)
{
	char *buf = NULL;
	FILE *f;

	*len = 0;
	f = open_memstream(&buf, len);
	if (!f) {
		*ret = -errno;
		return NULL;
	}
	*ret = pprof ? tm_pprof__write(p, f, o) : tm_collapsed__write(p, f, o);
	fclose(f);
	return buf;
}

static int pprof_decode(const struct tm_profile *p, const struct tm_report_opts *o,
			struct decoded *d)
{
	uint8_t *raw = NULL;
	size_t len, rawlen;
	char *gz;
	int ret;

	gz = render(p, o, 1, &len, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(len > 18 && (uint8_t)gz[0] == 0x1f && (uint8_t)gz[1] == 0x8b);
	ret = gunzip((uint8_t *)gz, len, &raw, &rawlen);
	TM_CHECK_EQ_U64(ret, 0);
	if (!ret)
		ret = decode(raw, rawlen, d);
	TM_CHECK_EQ_U64(ret, 0);
	free(raw);
	free(gz);
	return ret;
}

/* ------------------------------------------------------------------ */
/* the profile                                                        */

/*
 * Native and Python frames, an unknown symbol, a name that needs escaping,
 * two allocators on one stack, a negative live value, an empty stack, and a
 * site with nothing in any view whose frame must not appear.
 */
static struct tm_profile *build(void)
{
	struct tm_profile *p = tm_profile__new();
	struct tm_frame f[] = {
		{ TM_FRAME_NATIVE, 10, "site_a", "a.c", "/usr/bin/prog", 0x401010 },
		{ TM_FRAME_NATIVE, 20, "main", "a.c", "/usr/bin/prog", 0x401100 },
		{ TM_FRAME_NATIVE, 0, NULL, NULL, "/lib/libc.so.6", 0x7f0000002000 },
		{ TM_FRAME_PYTHON, 12, "load", "app.py", NULL, 0x7f00aa000000 },
		{ TM_FRAME_PYTHON, 3, "<module>", "app.py", NULL, 0x7f00aa001000 },
		{ TM_FRAME_NATIVE, 0, "we;ird\nname\\", NULL, NULL, 0x1234 },
		{ TM_FRAME_NATIVE, 0, "malloc", NULL, "/lib/libc.so.6", 0x7f0000001000 },
		{ TM_FRAME_NATIVE, 0, "unused", NULL, "/lib/libunused.so", 0x7f0000009000 },
		{ TM_FRAME_NATIVE, 0, NULL, NULL, NULL, 0xabc },
	};
	uint32_t s0[] = { 0, 1 }, s1[] = { 6, 3, 2, 4 }, s2[] = { 5, 1 }, s4[] = { 7 }, s6[] = { 8 };
	struct tm_site sites[] = {
		{ .nframes = 2, .frames = s0, .kind = TM_KIND_MALLOC, .alloc_bytes = 3000,
		  .alloc_count = 3, .live_bytes = 1000, .live_count = 1, .peak_bytes = 2000,
		  .peak_count = 2 },
		{ .nframes = 4, .frames = s1, .kind = TM_KIND_CALLOC, .alloc_bytes = 500,
		  .alloc_count = 1, .peak_bytes = 500, .peak_count = 1 },
		{ .nframes = 2, .frames = s2, .kind = TM_KIND_MMAP, .alloc_bytes = 4096,
		  .alloc_count = 1, .live_bytes = 4096, .live_count = 1 },
		{ .nframes = 2, .frames = s0, .kind = TM_KIND_REALLOC, .alloc_bytes = 100,
		  .alloc_count = 1, .live_bytes = -8, .live_count = -1, .peak_bytes = 100,
		  .peak_count = 1 },
		{ .nframes = 1, .frames = s4, .kind = TM_KIND_MALLOC, .live_bytes = -5 },
		{ .nframes = 0, .kind = TM_KIND_BRK, .alloc_bytes = 8192, .alloc_count = 1,
		  .live_bytes = 8192, .live_count = 1, .peak_bytes = 8192, .peak_count = 1 },
		{ .nframes = 1, .frames = s6, .kind = 99, .alloc_bytes = 7, .alloc_count = 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		tm_profile__add_frame(p, &f[i]);
	for (i = 0; i < sizeof(sites) / sizeof(sites[0]); i++)
		tm_profile__add_site(p, &sites[i]);
	p->pid = 4242;
	p->command = tm_profile__str(p, "./prog \xff");
	p->has_exit_code = 1;
	p->exit_code = 3;
	p->start_time_ns = 5000000000ULL;
	p->end_time_ns = 7500000000ULL;
	p->peak_bytes = 10792;
	p->peak_time_ns = 1234;
	p->live_bytes_end = 13288;
	p->alloc_bytes = 15895;
	p->alloc_count = 8;
	p->free_count = 2;
	tm_profile__set_counter(p, 1, "stack_map_full", 0);
	tm_profile__set_counter(p, 1, "free_unmatched", 4);
	tm_profile__set_counter(p, 1, "py_unreadable", 2);
	return p;
}

/* ------------------------------------------------------------------ */
/* tests                                                              */

static void check_sample(const struct decoded *d, size_t i, const uint64_t *locs, size_t nlocs,
			 const uint64_t vals[6], const char *allocator)
{
	const struct d_sample *s = &d->sample[i];
	size_t j;

	TM_CHECK_EQ_U64(s->nlocs, nlocs);
	for (j = 0; j < nlocs && j < s->nlocs; j++)
		TM_CHECK_EQ_U64(s->locs[j], locs[j]);
	TM_CHECK_EQ_U64(s->nvals, 6);
	for (j = 0; j < 6; j++)
		TM_CHECK_EQ_U64(s->vals[j], vals[j]);
	if (allocator) {
		TM_CHECK_EQ_U64(s->nlabels, 1);
		TM_CHECK_STR(S(d, s->label_key), "allocator");
		TM_CHECK_STR(S(d, s->label_str), allocator);
	} else {
		TM_CHECK_EQ_U64(s->nlabels, 0);
	}
}

static void check_location(const struct decoded *d, uint64_t id, uint64_t mapping,
			   uint64_t address, uint64_t fn, uint64_t line)
{
	const struct d_location *l = &d->location[id - 1];

	TM_CHECK_EQ_U64(l->id, id);
	TM_CHECK_EQ_U64(l->mapping, mapping);
	TM_CHECK_EQ_U64(l->address, address);
	TM_CHECK_EQ_U64(l->nlines, fn ? 1 : 0);
	TM_CHECK_EQ_U64(l->fn[0], fn);
	TM_CHECK_EQ_U64(l->line[0], line);
}

/* A Python function has no system name (pprof would "simplify" "<module>" to ""). */
static void check_function(const struct decoded *d, uint64_t id, const char *name, const char *file,
			   int python)
{
	const struct d_function *f = &d->function[id - 1];

	TM_CHECK_EQ_U64(f->id, id);
	TM_CHECK_STR(S(d, f->name), name);
	TM_CHECK_STR(S(d, f->system_name), python ? "" : name);
	TM_CHECK_STR(S(d, f->file), file);
	TM_CHECK_EQ_U64(f->start_line, 0);
}

static void test_pprof_tables(void)
{
	static const char *const strings[] = {
		"", "site_a", "a.c", "/usr/bin/prog", "main", "/lib/libc.so.6", "load", "app.py",
		"<module>", "we;ird\nname\\", "malloc", "alloc_objects", "count", "alloc_space",
		"bytes", "inuse_objects", "inuse_space", "peak_objects", "peak_space", "allocator",
		"calloc", "mmap", "realloc", "brk", "[python]", "space",
		"tidemark: exact counts, not sampled; one sample per allocation stack",
		"command: ./prog \xef\xbf\xbd", "pid: 4242", "status: exited with code 3",
		"peak: 10792 bytes at 1234 ns", "live at end: 13288 bytes",
		"allocated: 15895 bytes in 8 allocations, 2 frees",
		"dropped: free_unmatched=4", "dropped: py_unreadable=2",
	};
	static const char *const types[][2] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
		{ "peak_objects", "count" }, { "peak_space", "bytes" },
	};
	struct tm_profile *p = build();
	struct decoded *d = calloc(1, sizeof(*d));
	size_t i, j;
	int dup = 0;

	if (!d || pprof_decode(p, NULL, d))
		goto out;

	TM_CHECK_EQ_U64(d->unknown, 0);
	TM_CHECK_EQ_U64(d->nstr, sizeof(strings) / sizeof(strings[0]));
	for (i = 0; i < d->nstr && i < sizeof(strings) / sizeof(strings[0]); i++)
		TM_CHECK_STR(d->str[i], strings[i]);
	for (i = 0; i < d->nstr; i++)
		for (j = i + 1; j < d->nstr; j++)
			dup += !strcmp(d->str[i], d->str[j]);
	TM_CHECK_EQ_U64(dup, 0);

	TM_CHECK_EQ_U64(d->nst, 6);
	for (i = 0; i < 6; i++) {
		TM_CHECK_STR(S(d, d->st_type[i]), types[i][0]);
		TM_CHECK_STR(S(d, d->st_unit[i]), types[i][1]);
	}
	TM_CHECK_STR(S(d, d->default_st), "peak_space");
	TM_CHECK_STR(S(d, d->period_type[0]), "space");
	TM_CHECK_STR(S(d, d->period_type[1]), "bytes");
	TM_CHECK_EQ_U64(d->period, 1);
	TM_CHECK_EQ_U64(d->duration, 2500000000ULL);
	TM_CHECK_EQ_U64(d->time_nanos, 0);
	TM_CHECK_EQ_U64(d->ncomment, 9);
	for (i = 0; i < d->ncomment; i++)
		TM_CHECK_STR(S(d, d->comment[i]), strings[26 + i]);

	/* Samples in site order; the all-zero site is left out; values clamp at 0. */
	TM_CHECK_EQ_U64(d->nsample, 6);
	check_sample(d, 0, (uint64_t[]){ 1, 2 }, 2, (uint64_t[]){ 3, 3000, 1, 1000, 2, 2000 }, "malloc");
	check_sample(d, 1, (uint64_t[]){ 7, 4, 3, 5 }, 4, (uint64_t[]){ 1, 500, 0, 0, 1, 500 }, "calloc");
	check_sample(d, 2, (uint64_t[]){ 6, 2 }, 2, (uint64_t[]){ 1, 4096, 1, 4096, 0, 0 }, "mmap");
	check_sample(d, 3, (uint64_t[]){ 1, 2 }, 2, (uint64_t[]){ 1, 100, 0, 0, 1, 100 }, "realloc");
	check_sample(d, 4, NULL, 0, (uint64_t[]){ 1, 8192, 1, 8192, 1, 8192 }, "brk");
	check_sample(d, 5, (uint64_t[]){ 8 }, 1, (uint64_t[]){ 1, 7, 0, 0, 0, 0 }, NULL);

	/* Mappings: the lower module first, ranges from the addresses seen; Python's last. */
	TM_CHECK_EQ_U64(d->nmapping, 3);
	TM_CHECK_EQ_U64(d->mapping[0].id, 1);
	TM_CHECK_STR(S(d, d->mapping[0].file), "/usr/bin/prog");
	TM_CHECK_EQ_U64(d->mapping[0].start, 0x401010);
	TM_CHECK_EQ_U64(d->mapping[0].limit, 0x401101);
	TM_CHECK_EQ_U64(d->mapping[0].offset, 0);
	TM_CHECK_EQ_U64(d->mapping[0].has_functions, 1);
	TM_CHECK_EQ_U64(d->mapping[0].has_filenames, 1);
	TM_CHECK_EQ_U64(d->mapping[0].has_lines, 1);
	TM_CHECK_EQ_U64(d->mapping[1].id, 2);
	TM_CHECK_STR(S(d, d->mapping[1].file), "/lib/libc.so.6");
	TM_CHECK_EQ_U64(d->mapping[1].start, 0x7f0000001000);
	TM_CHECK_EQ_U64(d->mapping[1].limit, 0x7f0000002001);
	TM_CHECK_EQ_U64(d->mapping[1].has_functions, 1);
	TM_CHECK_EQ_U64(d->mapping[1].has_filenames, 0);
	TM_CHECK_EQ_U64(d->mapping[1].has_lines, 0);
	TM_CHECK_EQ_U64(d->mapping[2].id, 3);
	TM_CHECK_STR(S(d, d->mapping[2].file), "[python]");
	TM_CHECK_EQ_U64(d->mapping[2].start, 0);
	TM_CHECK_EQ_U64(d->mapping[2].limit, 0);
	TM_CHECK_EQ_U64(d->mapping[2].has_functions + d->mapping[2].has_filenames +
			d->mapping[2].has_lines, 3);

	/* One location per used frame, in frame order; "unused" is not one. */
	TM_CHECK_EQ_U64(d->nlocation, 8);
	if (d->nlocation == 8) {
		check_location(d, 1, 1, 0x401010, 1, 10);
		check_location(d, 2, 1, 0x401100, 2, 20);
		check_location(d, 3, 2, 0x7f0000002000, 0, 0);
		check_location(d, 4, 3, 0, 3, 12);
		check_location(d, 5, 3, 0, 4, 3);
		check_location(d, 6, 0, 0x1234, 5, 0);
		check_location(d, 7, 2, 0x7f0000001000, 6, 0);
		check_location(d, 8, 0, 0xabc, 0, 0);
	}
	TM_CHECK_EQ_U64(d->nfunction, 6);
	if (d->nfunction == 6) {
		check_function(d, 1, "site_a", "a.c", 0);
		check_function(d, 2, "main", "a.c", 0);
		check_function(d, 3, "load", "app.py", 1);
		check_function(d, 4, "<module>", "app.py", 1);
		check_function(d, 5, "we;ird\nname\\", "", 0);
		check_function(d, 6, "malloc", "", 0);
	}
out:
	if (d)
		decoded_free(d);
	free(d);
	tm_profile__free(p);
}

static void test_pprof_python_only(void)
{
	struct tm_report_opts o = { .view = TM_VIEW_LEAKS, .top_n = 1,
				    .flags = TM_REPORT_PYTHON_ONLY };
	struct tm_profile *p = build();
	struct decoded *d = calloc(1, sizeof(*d));

	if (!d || pprof_decode(p, &o, d))
		goto out;
	/* Native frames are gone, and top_n and the view do not cut samples. */
	TM_CHECK_EQ_U64(d->nsample, 6);
	check_sample(d, 0, NULL, 0, (uint64_t[]){ 3, 3000, 1, 1000, 2, 2000 }, "malloc");
	check_sample(d, 1, (uint64_t[]){ 1, 2 }, 2, (uint64_t[]){ 1, 500, 0, 0, 1, 500 }, "calloc");
	TM_CHECK_EQ_U64(d->nmapping, 1);
	TM_CHECK_STR(S(d, d->mapping[0].file), "[python]");
	TM_CHECK_EQ_U64(d->nlocation, 2);
	TM_CHECK_EQ_U64(d->nfunction, 2);
	if (d->nlocation == 2 && d->nfunction == 2) {
		check_location(d, 1, 1, 0, 1, 12);
		check_location(d, 2, 1, 0, 2, 3);
		check_function(d, 1, "load", "app.py", 1);
		check_function(d, 2, "<module>", "app.py", 1);
	}
	TM_CHECK(d->ncomment == 10 && !strcmp(S(d, d->comment[9]), "stacks: Python frames only"));
out:
	if (d)
		decoded_free(d);
	free(d);
	tm_profile__free(p);
}

/* Thousands of frames and sites: the hash tables grow, ids stay dense, sums hold. */
static void test_pprof_large(void)
{
	struct tm_profile *p = tm_profile__new();
	uint8_t *raw = NULL;
	size_t len, rawlen, i, nsamples = 0, nlocs = 0, maxloc = 0;
	uint64_t sum = 0, want = 0;
	char name[32], *gz = NULL, *gz2 = NULL;
	struct rd r, sub;
	unsigned int f;
	uint64_t v;
	int ret;

	for (i = 0; i < 3000; i++) {
		struct tm_frame fr = { TM_FRAME_NATIVE, (uint32_t)i, name, "big.c", "/usr/bin/big",
				       0x400000 + i * 16 };
		uint32_t idx[2];
		struct tm_site s = { .nframes = 2, .frames = idx, .kind = TM_KIND_MALLOC,
				     .alloc_bytes = i + 1, .alloc_count = 1, .peak_bytes = i,
				     .peak_count = 1 };

		snprintf(name, sizeof(name), "fn_%zu", i % 1000);
		idx[0] = (uint32_t)tm_profile__add_frame(p, &fr);
		snprintf(name, sizeof(name), "caller_%zu", i / 100);
		fr.address = 0x900000 + i / 100;
		fr.line = 0;
		idx[1] = (uint32_t)tm_profile__add_frame(p, &fr);
		tm_profile__add_site(p, &s);
		want += i;
	}
	gz = render(p, NULL, 1, &len, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK_EQ_U64(gunzip((uint8_t *)gz, len, &raw, &rawlen), 0);
	/* Too big for struct decoded: walk the top level, adding up peak_space. */
	r = (struct rd){ raw, raw + rawlen, 0 };
	while (raw && rd_next(&r, &f, &v, &sub)) {
		if (f == 2) {
			struct d_sample *s = calloc(1, sizeof(*s));

			if (!s)
				break;
			decode_sample(&sub, s);
			sum += s->nvals == 6 ? s->vals[5] : 0;
			for (i = 0; i < s->nlocs; i++)
				maxloc = s->locs[i] > maxloc ? s->locs[i] : maxloc;
			nsamples++;
			free(s);
		} else if (f == 4) {
			nlocs++;
		}
	}
	TM_CHECK(!r.bad);
	TM_CHECK_EQ_U64(nsamples, 3000);
	TM_CHECK_EQ_U64(sum, want);
	TM_CHECK_EQ_U64(nlocs, 3030);
	TM_CHECK_EQ_U64(maxloc, 3030);

	/* The same profile, the same bytes. */
	free(render(p, NULL, 1, &rawlen, &ret));
	gz2 = render(p, NULL, 1, &rawlen, &ret);
	TM_CHECK(gz2 && rawlen == len && !memcmp(gz, gz2, len));
	free(gz);
	free(gz2);
	free(raw);
	tm_profile__free(p);
}

static void test_errors(void)
{
	struct tm_profile *p = build();
	struct tm_report_opts bad_view = { .view = TM_VIEW__COUNT };
	FILE *full = fopen("/dev/full", "w");

	TM_CHECK_EQ_U64(tm_pprof__write(p, NULL, NULL), -EINVAL);
	TM_CHECK_EQ_U64(tm_pprof__write(NULL, stdout, NULL), -EINVAL);
	TM_CHECK_EQ_U64(tm_collapsed__write(p, NULL, NULL), -EINVAL);
	TM_CHECK_EQ_U64(tm_collapsed__write(NULL, stdout, NULL), -EINVAL);
	TM_CHECK_EQ_U64(tm_collapsed__write(p, stdout, &bad_view), -EINVAL);
	if (full) {
		setvbuf(full, NULL, _IONBF, 0);
		TM_CHECK_EQ_U64(tm_pprof__write(p, full, NULL), -EIO);
		TM_CHECK_EQ_U64(tm_collapsed__write(p, full, NULL), -EIO);
		fclose(full);
	}
	/* A site naming a frame that does not exist. */
	p->sites[0].frames[1] = 1000;
	TM_CHECK_EQ_U64(tm_pprof__write(p, stdout, NULL), -EINVAL);
	TM_CHECK_EQ_U64(tm_collapsed__write(p, stdout, NULL), -EINVAL);
	tm_profile__free(p);
}

static const char *const expected_collapsed[] = {
	[TM_VIEW_PEAK] =
		"<module> (app.py:3);[libc.so.6];load (app.py:12);malloc 500\n"
		"[no stack] 8192\n"
		"main;site_a 2100\n",
	[TM_VIEW_LEAKS] =
		"[no stack] 8192\n"
		"main;site_a 1000\n"
		"main;we\\x3bird\\x0aname\\\\ 4096\n",
	[TM_VIEW_ALLOCS] =
		"0xabc 7\n"
		"<module> (app.py:3);[libc.so.6];load (app.py:12);malloc 500\n"
		"[no stack] 8192\n"
		"main;site_a 3100\n"
		"main;we\\x3bird\\x0aname\\\\ 4096\n",
	[TM_VIEW_TEMPORARY] = "",       /* no site has temporary allocations */
};

/* The sum of a view's collapsed numbers, as the text and JSON reports count its total. */
static uint64_t view_total(const struct tm_profile *p, enum tm_report_view view)
{
	uint64_t bytes, count, total = 0;
	size_t i;

	for (i = 0; i < p->nsites; i++) {
		tm_report__site_metric(&p->sites[i], view, &bytes, &count);
		total += bytes;
	}
	return total;
}

static uint64_t collapsed_sum(const char *text)
{
	uint64_t sum = 0;
	const char *nl, *sp;

	for (; text && *text; text = nl + 1) {
		nl = strchr(text, '\n');
		if (!nl)
			break;
		for (sp = nl; sp > text && sp[-1] != ' '; sp--)
			;
		sum += strtoull(sp, NULL, 10);
	}
	return sum;
}

static void test_collapsed(void)
{
	struct tm_profile *p = build();
	struct tm_report_opts o = { .top_n = 1 };
	unsigned int v;
	size_t len;
	char *out;
	int ret;

	for (v = 0; v < TM_VIEW__COUNT; v++) {
		o.view = (enum tm_report_view)v;
		out = render(p, &o, 0, &len, &ret);
		TM_CHECK_EQ_U64(ret, 0);
		TM_CHECK_STR(out, expected_collapsed[v]);
		TM_CHECK_EQ_U64(collapsed_sum(out), view_total(p, o.view));
		free(out);
	}
	TM_CHECK_EQ_U64(view_total(p, TM_VIEW_PEAK), 10792);

	o.view = TM_VIEW_PEAK;
	o.flags = TM_REPORT_PYTHON_ONLY;
	out = render(p, &o, 0, &len, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK_STR(out, "<module> (app.py:3);load (app.py:12) 500\n"
			  "[no Python frames] 10292\n");
	free(out);

	/* No sites at all: nothing, and no error. */
	tm_profile__free(p);
	p = tm_profile__new();
	out = render(p, NULL, 0, &len, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK_STR(out, "");
	free(out);
	tm_profile__free(p);
}

int main(void)
{
	test_pprof_tables();
	test_pprof_python_only();
	test_pprof_large();
	test_errors();
	test_collapsed();
	return tm_test_done("test_pprof");
}
