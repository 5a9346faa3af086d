// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flamegraph.c: the HTML flame graph page (see flamegraph.h).
 *
 * The page is user/report/flamegraph.html, compiled in by the Makefile as the
 * byte array in flamegraph_html.h. This file only fills in two markers: the
 * title (HTML-escaped) and the data (JSON). All drawing is the page's own
 * JavaScript, so the C side stays a plain serializer that the unit tests
 * can check number for number.
 *
 * The data, one JSON object (version 1):
 *
 *   page          "profile" or "diff" (mode, as in the JSON report, is how it was traced)
 *   view          the view the page opens on: "peak", "leaks", "allocs", "temporary"
 *   python_only   native frames were left out of every stack
 *   process, oom, totals, sample_bytes, dropped, stats: as in the JSON
 *                 report (json_writer.c writes them for both)
 *   samples       [[time_ns, heap_bytes, rss_bytes], ...], oldest first
 *   frames        [[kind (0 native, 1 python), function, file, line, module,
 *                   address ("0x..." or null)], ...]
 *   source        {"frame index": "text of its line", ...}: the frames whose
 *                 file:line was readable when the page was made (srcline.h)
 *   sites         [[stack, flags, peak_bytes, peak_count, leaks_bytes,
 *                   leaks_count, allocs_bytes, allocs_count, temporary_bytes,
 *                   temporary_count], ...]
 *                 stack: indices into frames, OUTERMOST first (the order a
 *                 flame graph stacks them); flags: 1 = truncated at the
 *                 capture depth. Sites that score 0 in every view are left out.
 *
 * A diff adds "before" (the header and samples of BEFORE) and eight more
 * numbers to each site: BEFORE's values for the same stack. Stacks are
 * paired by diff.c's matcher (tm_diff__match), the one the text diff uses,
 * and summed per distinct stack on both sides; a stack BEFORE had and
 * AFTER has not is kept, with AFTER's values 0, so that what shrank to
 * nothing is still counted in the page's totals. Sites come in AFTER's
 * order, then the stacks only BEFORE has, in BEFORE's order.
 *
 * Strings come from the traced program and from capture files that anyone
 * can write: json_writer.c escapes them so that nothing can end or bend
 * the script element. Numbers are integers: bytes below 2^53 are exact in
 * JavaScript.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tidemark_common.h"
#include "report/diff.h"
#include "report/flamegraph.h"
#include "report/json_writer.h"
#include "util/srcline.h"
#include "flamegraph_html.h"   /* generated: tm_flamegraph_html[], tm_flamegraph_html_len */

/* The longest source line a tooltip shows, in bytes. */
#define TM_FLAMEGRAPH_SRC_MAX 240

/* The page's site arrays hold bytes and count for each view, in enum tm_report_view's order. */
#define NVIEWS TM_VIEW__COUNT
#define NVALS (2 * NVIEWS)

/* ------------------------------------------------------------------ */
/* HTML                                                               */

/* Text for an HTML element's content or attribute. */
static void html_str(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;
	size_t n;

	while (*s) {
		n = tm_report__utf8_decode(s, &cp);
		if (!n || (cp < 0x20 && cp != '\t') || cp == 0x7f) {
			fputs("\xef\xbf\xbd", out);   /* U+FFFD */
			s++;
			continue;
		}
		switch (cp) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			fwrite(s, 1, n, out);
		}
		s += n;
	}
}

/* ------------------------------------------------------------------ */
/* sites                                                              */

static void site_values(const struct tm_site *s, uint64_t v[NVALS])
{
	unsigned int i;

	for (i = 0; i < NVIEWS; i++)
		tm_report__site_metric(s, (enum tm_report_view)i, &v[2 * i], &v[2 * i + 1]);
}

static int any_value(const uint64_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i])
			return 1;
	return 0;
}

static void add_values(uint64_t *dst, const uint64_t *src)
{
	size_t i;

	for (i = 0; i < NVALS; i++)
		dst[i] = dst[i] > UINT64_MAX - src[i] ? UINT64_MAX : dst[i] + src[i];
}

/* A flame graph shows every site that scores in any view. */
static int keep_scoring(const struct tm_profile *p, const struct tm_site *s, void *arg)
{
	uint64_t v[NVALS];

	(void)p;
	(void)arg;
	site_values(s, v);
	return any_value(v, NVALS);
}

/* ------------------------------------------------------------------ */
/* the diff's stacks                                                  */

/*
 * One distinct stack: its first site (AFTER's if it has one) names the
 * frames; the values of every site with the same stack are summed per side.
 */
struct group {
	const struct tm_site *site;
	int from_before;        /* site is BEFORE's: no site of AFTER has the stack */
	size_t order;           /* AFTER's site index, or after->nsites + BEFORE's */
	uint64_t v[2][NVALS];   /* [0] after, [1] before */
};

static void sum_side(uint64_t *dst, const struct tm_site *const *s, size_t n)
{
	uint64_t v[NVALS];
	size_t i;

	for (i = 0; i < n; i++) {
		site_values(s[i], v);
		add_values(dst, v);
	}
}

static int cmp_group(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	return (a->order > b->order) - (a->order < b->order);
}

/* The stacks of both sides, paired by the diff's matcher, in the page's order. */
static int diff_groups(const struct tm_profile *before, const struct tm_profile *after,
		       unsigned int flags, struct group **out, size_t *n)
{
	struct tm_diff_match m;
	struct group *g;
	size_t i;
	int err;

	err = tm_diff__match(before, after, flags, keep_scoring, NULL, &m);
	if (err)
		return err;
	g = calloc(m.n ? m.n : 1, sizeof(*g));
	if (!g) {
		tm_diff_match__free(&m);
		return -ENOMEM;
	}
	for (i = 0; i < m.n; i++) {
		const struct tm_diff_stack *st = &m.stacks[i];

		if (st->nafter) {
			g[i].site = st->after[0];
			g[i].order = (size_t)(st->after[0] - after->sites);
		} else {
			g[i].from_before = 1;
			g[i].site = st->before[0];
			g[i].order = after->nsites + (size_t)(st->before[0] - before->sites);
		}
		sum_side(g[i].v[0], st->after, st->nafter);
		sum_side(g[i].v[1], st->before, st->nbefore);
	}
	qsort(g, m.n, sizeof(*g), cmp_group);
	*out = g;
	*n = m.n;
	tm_diff_match__free(&m);
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON                                                               */

/* The header every JSON output shares, then "samples" (no braces). */
static void json_header(FILE *out, const struct tm_profile *p)
{
	size_t i;

	tm_json__profile_header(out, p, 0);
	fputs("\"samples\":[", out);
	for (i = 0; i < p->nsamples; i++)
		fprintf(out, "%s[%" PRIu64 ",%" PRId64 ",%" PRIu64 "]", i ? "," : "",
			p->samples[i].time_ns, p->samples[i].heap_bytes, p->samples[i].rss_bytes);
	fputs("]", out);
}

static void json_frame(FILE *out, const struct tm_frame *f)
{
	fprintf(out, "[%d,", f->kind == TM_FRAME_PYTHON ? 1 : 0);
	tm_json__str(out, f->function);
	fputc(',', out);
	tm_json__str(out, f->file);
	fprintf(out, ",%u,", f->line);
	tm_json__str(out, f->module);
	if (f->address)
		fprintf(out, ",\"0x%" PRIx64 "\"]", f->address);
	else
		fputs(",null]", out);
}

/*
 * ,"source":{"INDEX":"the line's text",...}: for each frame with a file and
 * a line, that line as the file reads now (util/srcline.h says which files
 * are read). INDEX is the frame's index in f, the page's frames.
 */
static void json_sources(FILE *out, struct tm_srcline *sc, const struct tm_frame *const *f, size_t n, int *first)
{
	char text[TM_FLAMEGRAPH_SRC_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		if (!f[i]->file || !f[i]->line || tm_srcline__get(sc, f[i]->file, f[i]->line, text, sizeof(text)))
			continue;
		fprintf(out, "%s\"%zu\":", *first ? "" : ",\n", i);
		tm_json__str(out, text);
		*first = 0;
	}
}

/*
 * One site. Frame indices are p's, plus base; map (when not NULL) renumbers
 * them first (a BEFORE-only stack's frames, appended after AFTER's).
 */
static void json_site(FILE *out, const struct tm_profile *p, const struct tm_site *s,
		      const uint32_t *map, size_t base, unsigned int flags,
		      const uint64_t *v, size_t nv)
{
	uint32_t i, k;
	size_t j;
	int first = 1;

	fputs("[[", out);
	/* Innermost first in the profile; outermost first on the page. */
	for (i = s->nframes; i-- > 0;) {
		k = s->frames[i];
		if (tm_report__frame_hidden(&p->frames[k], flags))
			continue;
		fprintf(out, "%s%zu", first ? "" : ",", (map ? map[k] : k) + base);
		first = 0;
	}
	fprintf(out, "],%d", tm_report__site_truncated(s));
	for (j = 0; j < nv; j++)
		fprintf(out, ",%" PRIu64, v[j]);
	fputc(']', out);
}

static void json_common(FILE *out, const char *mode, const struct tm_report_opts *o)
{
	const char *view = tm_report__view_name(o->view);
	int v;

	fprintf(out, "{\"version\":1,\"page\":\"%s\",\"view\":", mode);
	tm_json__str(out, view ? view : "peak");
	fprintf(out, ",\"python_only\":%s,\n\"views\":[",
		o->flags & TM_REPORT_PYTHON_ONLY ? "true" : "false");
	for (v = 0; v < NVIEWS; v++)
		fprintf(out, "%s\"%s\"", v ? "," : "", tm_report__view_name((enum tm_report_view)v));
	fputs("],\n", out);
}

/* "],\n"source":{...}": the frames' lines, p's frames then @nextra of @extra's (a diff's BEFORE-only). */
static int json_source_block(FILE *out, const struct tm_frame *frames, size_t n, const struct tm_frame *extra,
			     const uint32_t *inv, size_t nextra)
{
	const struct tm_frame **f = malloc((n + nextra + 1) * sizeof(*f));
	struct tm_srcline sc = { 0 };
	size_t i;
	int first = 1;

	if (!f)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		f[i] = &frames[i];
	for (i = 0; i < nextra; i++)
		f[n + i] = &extra[inv[i]];
	fputs("],\n\"source\":{", out);
	json_sources(out, &sc, f, n + nextra, &first);
	fputc('}', out);
	tm_srcline__free(&sc);
	free(f);
	return 0;
}

static int json_profile(FILE *out, const struct tm_profile *p, const struct tm_report_opts *o)
{
	uint64_t v[NVALS];
	size_t i;
	int first = 1, err;

	json_common(out, "profile", o);
	json_header(out, p);
	fputs(",\n\"frames\":[", out);
	for (i = 0; i < p->nframes; i++) {
		fputs(i ? ",\n" : "\n", out);
		json_frame(out, &p->frames[i]);
	}
	err = json_source_block(out, p->frames, p->nframes, NULL, NULL, 0);
	if (err)
		return err;
	fputs(",\n\"sites\":[", out);
	for (i = 0; i < p->nsites; i++) {
		site_values(&p->sites[i], v);
		if (!any_value(v, NVALS))
			continue;
		fputs(first ? "\n" : ",\n", out);
		json_site(out, p, &p->sites[i], NULL, 0, o->flags, v, NVALS);
		first = 0;
	}
	fputs("]}", out);
	return 0;
}

static int json_diff(FILE *out, const struct tm_profile *before, const struct tm_profile *after,
		     const struct tm_report_opts *o)
{
	struct group *g = NULL;
	uint32_t *map = NULL, *inv = NULL, nextra = 0, j, k;
	uint64_t v[2 * NVALS];
	size_t i, n = 0, nb;
	int err;

	err = diff_groups(before, after, o->flags, &g, &n);
	if (err)
		return err;

	/* BEFORE's frames that only BEFORE-only stacks use, numbered after AFTER's. */
	nb = before->nframes ? before->nframes : 1;
	map = malloc(nb * sizeof(*map));
	inv = malloc(nb * sizeof(*inv));
	if (!map || !inv) {
		err = -ENOMEM;
		goto out;
	}
	memset(map, 0xff, nb * sizeof(*map));
	for (i = 0; i < n; i++) {
		if (!g[i].from_before)
			continue;
		for (j = 0; j < g[i].site->nframes; j++) {
			k = g[i].site->frames[j];
			if (map[k] == UINT32_MAX && !tm_report__frame_hidden(&before->frames[k], o->flags)) {
				inv[nextra] = k;
				map[k] = nextra++;
			}
		}
	}

	json_common(out, "diff", o);
	json_header(out, after);
	fputs(",\n\"before\":{", out);
	json_header(out, before);
	fputs("},\n\"frames\":[", out);
	for (i = 0; i < after->nframes; i++) {
		fputs(i ? ",\n" : "\n", out);
		json_frame(out, &after->frames[i]);
	}
	for (j = 0; j < nextra; j++) {
		fputs(after->nframes || j ? ",\n" : "\n", out);
		json_frame(out, &before->frames[inv[j]]);
	}
	err = json_source_block(out, after->frames, after->nframes, before->frames, inv, nextra);
	if (err)
		goto out;
	fputs(",\n\"sites\":[", out);
	for (i = 0; i < n; i++) {
		memcpy(v, g[i].v[0], sizeof(g[i].v[0]));
		memcpy(v + NVALS, g[i].v[1], sizeof(g[i].v[1]));
		fputs(i ? ",\n" : "\n", out);
		json_site(out, g[i].from_before ? before : after, g[i].site,
			  g[i].from_before ? map : NULL, g[i].from_before ? after->nframes : 0,
			  o->flags, v, 2 * NVALS);
	}
	fputs("]}", out);
out:
	free(map);
	free(inv);
	free(g);
	return err;
}

/* ------------------------------------------------------------------ */
/* the page                                                           */

struct fill {
	const struct tm_profile *before, *after;   /* before is NULL outside a diff */
	const struct tm_report_opts *o;
};

static int write_marker(FILE *out, const char *name, size_t len, const struct fill *f)
{
	const char *cmd = f->after->command ? f->after->command : "(unknown command)";

	if (len == 5 && !memcmp(name, "TITLE", 5)) {
		fputs(f->before ? "tidemark diff: " : "tidemark: ", out);
		html_str(out, cmd);
		return 0;
	}
	if (len == 4 && !memcmp(name, "DATA", 4))
		return f->before ? json_diff(out, f->before, f->after, f->o) :
				   json_profile(out, f->after, f->o);
	return -ENOENT;
}

/* The template with every @@NAME@@ marker filled in. */
static int write_page(FILE *out, const struct fill *f)
{
	const char *t = (const char *)tm_flamegraph_html, *end = t + tm_flamegraph_html_len;
	const char *at, *name, *close;
	int err;

	while (t < end) {
		at = memmem(t, (size_t)(end - t), "@@", 2);
		if (!at) {
			fwrite(t, 1, (size_t)(end - t), out);
			break;
		}
		name = at + 2;
		close = memmem(name, (size_t)(end - name), "@@", 2);
		fwrite(t, 1, (size_t)(at - t), out);
		if (!close || (err = write_marker(out, name, (size_t)(close - name), f)) == -ENOENT) {
			/* not one of ours: copied as it is */
			fwrite(at, 1, 2, out);
			t = name;
			continue;
		}
		if (err)
			return err;
		t = close + 2;
	}
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}

int tm_flamegraph__write(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK };
	struct tm_profile *rows = NULL;
	struct fill f = { NULL, p, NULL };
	int err;

	err = tm_report__begin(p, out, o, &def, &f.o);
	err = err ?: tm_report__rows(p, f.o->flags, &rows);
	if (err)
		return err;
	f.after = rows;
	err = write_page(out, &f);
	tm_report__rows_free(rows);
	return err;
}

int tm_flamegraph__write_diff(const struct tm_profile *before, const struct tm_profile *after,
			      FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK };
	struct fill f = { before, after, NULL };
	int err;

	err = tm_report__begin(after, out, o, &def, &f.o);
	if (!err)
		err = tm_profile__check(before);
	if (!err && before == after)
		err = -EINVAL;   /* one profile twice: a caller's mistake, not a diff */
	if (!err)
		err = write_page(out, &f);
	return err;
}
