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

/*
 * native: "function file:line (module)", "function (module)" or
 *         "0xaddress (module)" when the symbol is unknown
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
	if (f->module) {
		fputs(" (", out);
		tm_report__text_str(out, tm_basename(f->module));
		fputc(')', out);
	}
}

