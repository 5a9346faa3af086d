// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * view.c: the view core (see view.h): views, selection, ranking, labels.
 *
 * Strings come from the traced program and from capture files, which anyone
 * can write: the labels here escape control characters and bytes that are
 * not UTF-8, so no terminal escape gets through a text output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tidemark_common.h"
#include "report/view.h"
#include "util/buf.h"
#include "util/path.h"

#define TEXT_CALLERS 6

static const char *const view_names[] = {
	[TM_VIEW_PEAK] = "peak",
	[TM_VIEW_LEAKS] = "leaks",
	[TM_VIEW_ALLOCS] = "allocs",
	[TM_VIEW_TEMPORARY] = "temporary",
};

_Static_assert(sizeof(view_names) / sizeof(view_names[0]) == TM_VIEW__COUNT,
	       "a tm_report_view has no name");

const char *tm_report__view_name(enum tm_report_view view)
{
	return (unsigned int)view < TM_VIEW__COUNT ? view_names[view] : NULL;
}

int tm_report__begin(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o,
		     const struct tm_report_opts *def, const struct tm_report_opts **use)
{
	if (!o)
		o = def;
	if (!out || !o || (unsigned int)o->view >= TM_VIEW__COUNT)
		return -EINVAL;
	*use = o;
	return tm_profile__check(p);
}

int tm_report__view_parse(const char *s, enum tm_report_view *view)
{
	unsigned int i;

	if (!s || !view)
		return -EINVAL;
	for (i = 0; i < TM_VIEW__COUNT; i++) {
		if (!strcmp(s, view_names[i])) {
			*view = (enum tm_report_view)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* scoring and selection                                              */

static uint64_t clamp_pos(int64_t v)
{
	return v > 0 ? (uint64_t)v : 0;
}

void tm_report__site_metric(const struct tm_site *s, enum tm_report_view view,
			    uint64_t *bytes, uint64_t *count)
{
	switch (view) {
	case TM_VIEW_PEAK:
		*bytes = clamp_pos(s->peak_bytes);
		*count = clamp_pos(s->peak_count);
		break;
	case TM_VIEW_LEAKS:
		*bytes = clamp_pos(s->live_bytes);
		*count = clamp_pos(s->live_count);
		break;
	case TM_VIEW_TEMPORARY:
		*bytes = s->temp_bytes;
		*count = s->temp_count;
		break;
	default:
		*bytes = s->alloc_bytes;
		*count = s->alloc_count;
		break;
	}
}

/* NULL (unknown) sorts after every known string. */
static int cmp_nstr(const char *a, const char *b)
{
	if (a == b)
		return 0;
	if (!a)
		return 1;
	if (!b)
		return -1;
	return strcmp(a, b);
}

#define CMP(a, b) (((a) > (b)) - ((a) < (b)))

static int cmp_frame(const struct tm_frame *a, const struct tm_frame *b)
{
	int c;

	if (a == b)
		return 0;
	if ((c = cmp_nstr(a->function, b->function)))
		return c;
	if ((c = cmp_nstr(a->file, b->file)))
		return c;
	if ((c = CMP(a->line, b->line)))
		return c;
	if ((c = cmp_nstr(a->module, b->module)))
		return c;
	if ((c = CMP(a->kind, b->kind)))
		return c;
	return CMP(a->address, b->address);
}

/* Largest first; then more allocations; then by stack, innermost frame first. */
static int cmp_ranked(const void *pa, const void *pb)
{
	const struct tm_ranked *a = pa, *b = pb;
	const struct tm_frame *fr = a->prof->frames;
	uint32_t i, n;
	int c;

	if ((c = CMP(b->bytes, a->bytes)))
		return c;
	if ((c = CMP(b->count, a->count)))
		return c;
	n = a->site->nframes < b->site->nframes ? a->site->nframes : b->site->nframes;
	for (i = 0; i < n; i++) {
		c = cmp_frame(&fr[a->site->frames[i]], &fr[b->site->frames[i]]);
		if (c)
			return c;
	}
	if ((c = CMP(a->site->nframes, b->site->nframes)))
		return c;
	if ((c = CMP(a->site->kind, b->site->kind)))
		return c;
	return CMP(a->index, b->index);
}
static int cmp_by_count(const void *pa, const void *pb)
{
	const struct tm_ranked *a = pa, *b = pb;
	int c;

	if ((c = CMP(b->count, a->count)))
		return c;
	return cmp_ranked(pa, pb);
}

int tm_report__frame_hidden(const struct tm_frame *f, unsigned int flags)
{
	return (flags & TM_REPORT_PYTHON_ONLY) && f->kind == TM_FRAME_NATIVE;
}

int tm_report__site_truncated(const struct tm_site *s)
{
	return !!(s->flags & (TM_STACK_NATIVE_TRUNCATED | TM_STACK_PY_TRUNCATED));
}

static int frame_matches(const struct tm_frame *f, const char *needle)
{
	return (f->function && strstr(f->function, needle)) || (f->file && strstr(f->file, needle));
}

int tm_report__site_selected(const struct tm_profile *p, const struct tm_site *s,
			     enum tm_report_view view, const struct tm_report_opts *o)
{
	uint64_t bytes, count;
	uint32_t i;

	if (!o)
		return 1;
	tm_report__site_metric(s, view, &bytes, &count);
	if (bytes < o->min_bytes)
		return 0;
	if (!o->filter || !*o->filter)
		return 1;
	for (i = 0; i < s->nframes; i++) {
		const struct tm_frame *f = &p->frames[s->frames[i]];

		if (!tm_report__frame_hidden(f, o->flags) && frame_matches(f, o->filter))
			return 1;
	}
	return 0;
}

int tm_report__rank(const struct tm_profile *p, enum tm_report_view view,
		    const struct tm_report_opts *o, enum tm_rank_order order,
		    struct tm_ranking *rk)
{
	unsigned int top_n = o->top_n;
	uint64_t bytes, count;
	size_t i;

	memset(rk, 0, sizeof(*rk));
	rk->r = calloc(p->nsites ? p->nsites : 1, sizeof(*rk->r));
	if (!rk->r)
		return -ENOMEM;
	for (i = 0; i < p->nsites; i++) {
		tm_report__site_metric(&p->sites[i], view, &bytes, &count);
		if (!bytes || !tm_report__site_selected(p, &p->sites[i], view, o))
			continue;
		rk->r[rk->n++] = (struct tm_ranked){ bytes, count, &p->sites[i], p, i };
		rk->total = rk->total > UINT64_MAX - bytes ? UINT64_MAX : rk->total + bytes;
	}
	qsort(rk->r, rk->n, sizeof(*rk->r), order == TM_RANK_COUNT ? cmp_by_count : cmp_ranked);
	rk->shown = top_n && top_n < rk->n ? top_n : rk->n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* printed identity and rows                                          */

static void put_str(struct tm_buf *b, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) + 1 : 0; /* 0 = unknown, 1 = "" */

	tm_buf__put(b, &n, sizeof(n));
	if (s)
		tm_buf__put(b, s, n - 1);
}

static int site_key(const struct tm_profile *p, const struct tm_site *s, unsigned int flags,
		    struct tm_buf *b)
{
	uint32_t i, v;

	b->len = 0;
	v = (uint32_t)tm_report__site_truncated(s);
	tm_buf__put(b, &v, sizeof(v));
	for (i = 0; i < s->nframes; i++) {
		const struct tm_frame *f = &p->frames[s->frames[i]];

		if (tm_report__frame_hidden(f, flags))
			continue;
		v = f->kind;
		tm_buf__put(b, &v, sizeof(v));
		v = f->line;
		tm_buf__put(b, &v, sizeof(v));
		put_str(b, f->function);
		put_str(b, f->file);
		put_str(b, tm_basename(f->module));
	}
	return b->err;
}

int tm_report__key_cmp(const struct tm_site_key *a, const struct tm_site_key *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->key, b->key, n) : 0;

	if (c)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

static int cmp_site_key(const void *pa, const void *pb)
{
	const struct tm_site_key *a = pa, *b = pb;
	int c = tm_report__key_cmp(a, b);

	if (c)
		return c;
	return (a->index > b->index) - (a->index < b->index);
}

void tm_report__site_keys_free(struct tm_site_key *k, size_t n)
{
	size_t i;

	for (i = 0; k && i < n; i++)
		free(k[i].key);
	free(k);
}

int tm_report__site_keys(const struct tm_profile *p, unsigned int flags, tm_report_keep_fn keep,
			 void *arg, struct tm_site_key **out, size_t *nout)
{
	struct tm_buf b = { 0 };
	struct tm_site_key *k;
	size_t i, n = 0;
	int err = 0;

	k = calloc(p->nsites ? p->nsites : 1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (i = 0; i < p->nsites; i++) {
		const struct tm_site *s = &p->sites[i];

		if (keep && !keep(p, s, arg))
			continue;
		err = site_key(p, s, flags, &b);
		if (err)
			goto fail;
		k[n].key = malloc(b.len);
		if (!k[n].key) {
			err = -ENOMEM;
			goto fail;
		}
		memcpy(k[n].key, b.data, b.len);
		k[n].len = b.len;
		k[n].site = s;
		k[n].index = i;
		n++;
	}
	qsort(k, n, sizeof(*k), cmp_site_key);
	free(b.data);
	*out = k;
	*nout = n;
	return 0;
fail:
	free(b.data);
	tm_report__site_keys_free(k, n);
	return err;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int64_t pos(int64_t v)
{
	return v > 0 ? v : 0;
}

/* Both below 0 count as 0; a sum past INT64_MAX (a corrupt capture) stays there. */
static int64_t pos_add(int64_t a, int64_t b)
{
	a = pos(a);
	b = pos(b);
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static uint32_t site_kind_bit(const struct tm_site *s)
{
	return s->kind < 32 ? 1u << s->kind : 0;
}

/* A site that scores in no view adds nothing to a row, not even its allocator's name. */
static int site_scores(const struct tm_site *s)
{
	return s->alloc_bytes || s->live_bytes > 0 || s->peak_bytes > 0 || s->temp_bytes;
}

/*
 * Add src's counters to dst's: one row of several sites. Live values add as
 * every view counts them, below 0 as 0, so a view's total is the same with
 * rows as with sites.
 */
static void site_add(struct tm_site *dst, const struct tm_site *src)
{
	dst->alloc_bytes = sat_add(dst->alloc_bytes, src->alloc_bytes);
	dst->alloc_count = sat_add(dst->alloc_count, src->alloc_count);
	dst->free_bytes = sat_add(dst->free_bytes, src->free_bytes);
	dst->free_count = sat_add(dst->free_count, src->free_count);
	dst->live_bytes = pos_add(dst->live_bytes, src->live_bytes);
	dst->live_count = pos_add(dst->live_count, src->live_count);
	dst->peak_bytes = pos_add(dst->peak_bytes, src->peak_bytes);
	dst->peak_count = pos_add(dst->peak_count, src->peak_count);
	dst->temp_bytes = sat_add(dst->temp_bytes, src->temp_bytes);
	dst->temp_count = sat_add(dst->temp_count, src->temp_count);
	if (site_scores(src))
		dst->kinds |= site_kind_bit(src);
}

struct row {
	size_t index; /* of the first site in p */
	struct tm_site site;
};

static int cmp_row_index(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;

	return CMP(a->index, b->index);
}

_Static_assert(TM_KIND__COUNT <= 32, "a row's kinds are a 32-bit mask");

int tm_report__rows(const struct tm_profile *p, unsigned int flags, struct tm_profile **rows)
{
	struct tm_site_key *k = NULL;
	struct row *rw = NULL;
	struct tm_profile *q;
	struct tm_site *s;
	size_t n = 0, i, j, r = 0;
	int err;

	*rows = NULL;
	err = tm_profile__check(p);
	if (err)
		return err;
	q = malloc(sizeof(*q));
	s = calloc(p->nsites ? p->nsites : 1, sizeof(*s));
	rw = calloc(p->nsites ? p->nsites : 1, sizeof(*rw));
	err = q && s && rw ? tm_report__site_keys(p, flags, NULL, NULL, &k, &n) : -ENOMEM;
	if (err) {
		free(q);
		free(s);
		free(rw);
		return err;
	}
	for (i = 0; i < n; i = j) {
		rw[r].index = k[i].index;
		rw[r].site = *k[i].site;
		rw[r].site.kinds = site_kind_bit(k[i].site);
		for (j = i + 1; j < n && !tm_report__key_cmp(&k[i], &k[j]); j++)
			site_add(&rw[r].site, k[j].site);
		r++;
	}
	tm_report__site_keys_free(k, n);
	/* In the order of the sites that stand for them: p's order when nothing merged. */
	qsort(rw, r, sizeof(*rw), cmp_row_index);
	for (i = 0; i < r; i++)
		s[i] = rw[i].site;
	free(rw);
	*q = *p;
	q->sites = s;
	q->nsites = r;
	q->pool = NULL; /* borrowed: p owns the strings and frames */
	*rows = q;
	return 0;
}

void tm_report__rows_free(struct tm_profile *rows)
{
	if (!rows)
		return;
	free(rows->sites);
	free(rows);
}

void tm_report__row_kinds(const struct tm_site *s, char *buf, size_t len)
{
	unsigned int k, kinds = s->kinds ? s->kinds : (s->kind < 32 ? 1u << s->kind : 0);
	const char *name;
	size_t at = 0;
	int w;

	if (!len)
		return;
	buf[0] = '\0';
	if (!kinds) {
		snprintf(buf, len, "allocator %u", s->kind);
		return;
	}
	for (k = 0; k < 32; k++) {
		if (!(kinds & (1u << k)))
			continue;
		name = tm_kind_name(k);
		if (name)
			w = snprintf(buf + at, len - at, "%s%s", at ? ", " : "", name);
		else
			w = snprintf(buf + at, len - at, "%sallocator %u", at ? ", " : "", k);
		if (w < 0 || (size_t)w >= len - at)
			return;
		at += (size_t)w;
	}
}

/* ------------------------------------------------------------------ */
/* exactness                                                          */

uint64_t tm_report__drop(const struct tm_profile *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->ndrops; i++)
		if (p->drops[i].name && !strcmp(p->drops[i].name, name))
			return p->drops[i].value;
	return 0;
}

static const struct {
	const char *name;
	const char *meaning; /* NULL: shown with the lower bounds */
} apart[] = {
	{ "free_untracked", "frees of blocks that a full table could not track (their allocations "
			    "are counted, and said under lower bounds)" },
	{ "untracked_bytes", NULL },
};

int tm_report__drop_shown_apart(const char *drop_name)
{
	size_t i;

	for (i = 0; drop_name && i < sizeof(apart) / sizeof(apart[0]); i++)
		if (!strcmp(apart[i].name, drop_name))
			return 1;
	return 0;
}

const char *tm_report__not_a_loss(const char *drop_name)
{
	size_t i;

	for (i = 0; drop_name && i < sizeof(apart) / sizeof(apart[0]); i++)
		if (!strcmp(apart[i].name, drop_name))
			return apart[i].meaning;
	return NULL;
}

/* The row of allocations counted after the stack table filled (trace.c names it). */
static uint64_t table_full_row(const struct tm_profile *p, enum tm_report_view view)
{
	uint64_t bytes = 0, b, c;
	size_t i;

	for (i = 0; i < p->nsites; i++) {
		const struct tm_site *s = &p->sites[i];
		const char *fn;

		if (s->nframes != 1)
			continue;
		fn = p->frames[s->frames[0]].function;
		if (!fn || strncmp(fn, "[stacks after the stack table filled", 36))
			continue;
		tm_report__site_metric(s, view, &b, &c);
		bytes = sat_add(bytes, b);
	}
	return bytes;
}

size_t tm_report__lower_bounds(const struct tm_profile *p, struct tm_lower_bound *lb)
{
	static const char all_rows[] = "peak, live at end, allocated and every row";
	uint64_t allocs_full = tm_report__drop(p, "alloc_map_full");
	uint64_t aggs_full = tm_report__drop(p, "agg_map_full");
	uint64_t stacks_full = tm_report__drop(p, "stack_map_full");
	uint64_t regions_full = tm_report__drop(p, "region_map_full");
	uint64_t b;
	size_t n = 0;

	if (allocs_full || aggs_full) {
		lb[n++] = (struct tm_lower_bound){
			.numbers = aggs_full ? all_rows : "peak, live at end and the rows' live and peak bytes",
			.by_at_most = tm_report__drop(p, "untracked_bytes"),
			.by_known = 1,
			.events = allocs_full + aggs_full,
			.reason = "allocations not tracked live (the live-block table was full)",
			.flag = "--max-allocs",
		};
	}
	if (stacks_full) {
		b = table_full_row(p, TM_VIEW_PEAK);
		lb[n++] = (struct tm_lower_bound){
			.numbers = "each row at the peak (the totals and the peak are exact)",
			.by_at_most = b,
			.by_known = b != 0,
			.events = stacks_full,
			.reason = "allocations counted in one row of their own (the stack table was full)",
			.flag = "--max-stacks",
		};
	}
	if (regions_full) {
		lb[n++] = (struct tm_lower_bound){
			.numbers = all_rows,
			.events = regions_full,
			.reason = "mappings not tracked (the region table was full)",
		};
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* labels                                                             */

size_t tm_report__utf8_decode(const unsigned char *s, uint32_t *cpp)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80) {
		*cpp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	/* The NUL terminator fails this test, so we never read past it. */
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpp = cp;
	return n;
}

size_t tm_report__utf8_len(const unsigned char *s)
{
	uint32_t cp;

	return tm_report__utf8_decode(s, &cp);
}

/*
 * Print s with control characters and bytes that are not UTF-8 as \xNN, and
 * a backslash as two, so that what is printed is unambiguous.
 */
void tm_report__text_str_except(FILE *out, const char *str, const char *also)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	while (*s) {
		n = tm_report__utf8_len(s);
		if (*s == '\\') {
			fputs("\\\\", out);
			s++;
			continue;
		}
		if (!n || *s < 0x20 || *s == 0x7f || (also && strchr(also, *s))) {
			fprintf(out, "\\x%02x", *s);
			s++;
			continue;
		}
		fwrite(s, 1, n, out);
		s += n;
	}
}

void tm_report__text_str(FILE *out, const char *s)
{
	tm_report__text_str_except(out, s, NULL);
}

int tm_report__same_label(const struct tm_frame *a, const struct tm_frame *b)
{
	if (a == b)
		return 1;
	if (a->kind != b->kind || a->line != b->line || cmp_nstr(a->function, b->function) ||
	    cmp_nstr(a->file, b->file) || cmp_nstr(a->module, b->module))
		return 0;
	return a->function || a->address == b->address;
}

int tm_report__named_by_module(const struct tm_frame *f)
{
	const char *base = tm_basename(f->module);
	size_t n = strlen(base);

	return f->function && !f->file && !strncmp(f->function, base, n) &&
	       !strncmp(f->function + n, "+0x", 3);
}

/*
 * native: "function file:line (module)", "function (module)",
 *         "module+0xOFFSET" when the symbol is unknown (trace.c names it so),
 *         or "0xaddress" for anonymous code (a JIT's)
 * python: "file:line function"
 */
void tm_report__text_frame(FILE *out, const struct tm_frame *f)
{
	if (f->kind == TM_FRAME_PYTHON) {
		tm_report__text_str(out, f->file ? f->file : "<unknown>");
		if (f->line)
			fprintf(out, ":%u", f->line);
		fputc(' ', out);
		tm_report__text_str(out, f->function ? f->function : "<unknown>");
		return;
	}
	if (f->function) {
		tm_report__text_str(out, f->function);
	} else {
		fprintf(out, "0x%" PRIx64, f->address);
	}
	if (f->file) {
		fputc(' ', out);
		tm_report__text_str(out, f->file);
		if (f->line)
			fprintf(out, ":%u", f->line);
	}
	if (f->module && !tm_report__named_by_module(f)) {
		fputs(" (", out);
		tm_report__text_str(out, tm_basename(f->module));
		fputc(')', out);
	}
}

