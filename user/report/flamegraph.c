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
 *   mode          "profile" or "diff"
 *   view          the view the page opens on: "peak", "leaks", "allocs", "temporary"
 *   python_only   native frames were left out of every stack
 *   process, totals, dropped, stats: as in the JSON report
 *   samples       [[time_ns, heap_bytes, rss_bytes], ...], oldest first
 *   frames        [[kind (0 native, 1 python), function, file, line, module,
 *                   address ("0x..." or null)], ...]
 *   sites         [[stack, flags, peak_bytes, peak_count, leaks_bytes,
 *                   leaks_count, allocs_bytes, allocs_count, temporary_bytes,
 *                   temporary_count], ...]
 *                 stack: indices into frames, OUTERMOST first (the order a
 *                 flame graph stacks them); flags: 1 = truncated at the
 *                 capture depth. Sites that score 0 in every view are left out.
 *
 * A diff adds "before" (process, totals, dropped, samples of BEFORE) and
 * eight more numbers to each site: BEFORE's values for the same stack.
 * Stacks are matched on the frames' kind, function, file, line and module
 * base name (never the address, which moves between runs) and summed per
 * distinct stack on both sides; a stack BEFORE had and AFTER has not is
 * kept, with AFTER's values 0, so that what shrank to nothing is still
 * counted in the page's totals.
 *
 * Strings come from the traced program and from capture files that anyone
 * can write. In the JSON, '<', '>' and '&' are written as \u escapes (so no
 * "</script>" or "<!--" can end or bend the script element), as are
 * U+2028/U+2029 and control characters; bytes that are not UTF-8 become
 * U+FFFD. Numbers are integers: bytes below 2^53 are exact in JavaScript.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tidemark_common.h"
#include "report/flamegraph.h"
#include "flamegraph_html.h"   /* generated: tm_flamegraph_html[], tm_flamegraph_html_len */

/* The views in the order the page and the site arrays use. */
enum { V_PEAK, V_LEAKS, V_ALLOCS, V_TEMP, NVIEWS };
#define NVALS (2 * NVIEWS)

static const char *const view_names[NVIEWS] = { "peak", "leaks", "allocs", "temporary" };

/* ------------------------------------------------------------------ */
/* escaping                                                           */

/* A JSON string that is also safe inside <script>. NULL becomes null. */
static void json_str(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;
	size_t n;

	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	while (*s) {
		n = tm_report__utf8_decode(s, &cp);
		if (!n) {
			fputs("\\ufffd", out);
			s++;
			continue;
		}
		if (cp == '"' || cp == '\\')
			fprintf(out, "\\%c", (int)cp);
		else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&' || cp == 0x7f ||
			 cp == 0x2028 || cp == 0x2029)
			fprintf(out, "\\u%04x", (unsigned int)cp);
		else
			fwrite(s, 1, n, out);
		s += n;
	}
	fputc('"', out);
}

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

static uint64_t clamp_pos(int64_t v)
{
	return v > 0 ? (uint64_t)v : 0;
}

static void site_values(const struct tm_site *s, uint64_t v[NVALS])
{
	v[2 * V_PEAK] = clamp_pos(s->peak_bytes);
	v[2 * V_PEAK + 1] = clamp_pos(s->peak_count);
	v[2 * V_LEAKS] = clamp_pos(s->live_bytes);
	v[2 * V_LEAKS + 1] = clamp_pos(s->live_count);
	v[2 * V_ALLOCS] = s->alloc_bytes;
	v[2 * V_ALLOCS + 1] = s->alloc_count;
	v[2 * V_TEMP] = s->temp_bytes;
	v[2 * V_TEMP + 1] = s->temp_count;
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

static int frame_shown(const struct tm_frame *f, unsigned int flags)
{
	return !(flags & TM_REPORT_PYTHON_ONLY) || f->kind == TM_FRAME_PYTHON;
}

/* Every frame index a site holds must name a frame: checked once, up front. */
static int profile_valid(const struct tm_profile *p)
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

/* ------------------------------------------------------------------ */
/* matching stacks across profiles (diff)                             */

/*
 * One distinct stack: its first site (which profile, which site) names the
 * frames; the values of every site with the same stack are summed per side.
 */
struct group {
	const struct tm_profile *prof;
	const struct tm_site *site;
	uint64_t v[2][NVALS];   /* [0] after, [1] before */
};

struct groups {
	struct group *g;
	size_t n;
	size_t *slot;           /* open addressing: group index + 1, 0 = empty */
	size_t cap;             /* power of two */
	unsigned int flags;
};

#define HASH_INIT 14695981039346656037ull

static uint64_t hash_str(uint64_t h, const char *s)
{
	if (!s)
		return (h ^ 0xff) * 1099511628211ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (h ^ 0xfe) * 1099511628211ull;   /* terminator: "ab","c" != "a","bc" */
}

static const char *module_base(const char *m)
{
	const char *slash = m ? strrchr(m, '/') : NULL;

	return slash && slash[1] ? slash + 1 : m;
}

static int str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static uint64_t frame_key_hash(uint64_t h, const struct tm_frame *f)
{
	h = (h ^ f->kind) * 1099511628211ull;
	h = (h ^ f->line) * 1099511628211ull;
	h = hash_str(h, f->function);
	h = hash_str(h, f->file);
	return hash_str(h, module_base(f->module));
}

static int frame_key_eq(const struct tm_frame *a, const struct tm_frame *b)
{
	return a->kind == b->kind && a->line == b->line && str_eq(a->function, b->function) &&
	       str_eq(a->file, b->file) && str_eq(module_base(a->module), module_base(b->module));
}

static uint64_t stack_hash(const struct tm_profile *p, const struct tm_site *s, unsigned int flags)
{
	uint64_t h = HASH_INIT;
	uint32_t i;

	for (i = 0; i < s->nframes; i++) {
		const struct tm_frame *f = &p->frames[s->frames[i]];

		if (frame_shown(f, flags))
			h = frame_key_hash(h, f);
	}
	return (h ^ !!(s->flags & (TM_STACK_NATIVE_TRUNCATED | TM_STACK_PY_TRUNCATED))) *
	       1099511628211ull;
}

/* The next shown frame of s at or after *i, or NULL at the end. */
static const struct tm_frame *next_shown(const struct tm_profile *p, const struct tm_site *s,
					 uint32_t *i, unsigned int flags)
{
	for (; *i < s->nframes; (*i)++) {
		const struct tm_frame *f = &p->frames[s->frames[*i]];

		if (frame_shown(f, flags))
			return f;
	}
	return NULL;
}

static int site_truncated(const struct tm_site *s)
{
	return !!(s->flags & (TM_STACK_NATIVE_TRUNCATED | TM_STACK_PY_TRUNCATED));
}

static int stack_eq(const struct tm_profile *pa, const struct tm_site *a,
		    const struct tm_profile *pb, const struct tm_site *b, unsigned int flags)
{
	const struct tm_frame *fa, *fb;
	uint32_t i = 0, j = 0;

	if (site_truncated(a) != site_truncated(b))
		return 0;
	for (;; i++, j++) {
		fa = next_shown(pa, a, &i, flags);
		fb = next_shown(pb, b, &j, flags);
		if (!fa || !fb)
			return fa == fb;
		if (!frame_key_eq(fa, fb))
			return 0;
	}
}

static int groups_init(struct groups *gs, size_t nsites, unsigned int flags)
{
	memset(gs, 0, sizeof(*gs));
	gs->flags = flags;
	gs->cap = 16;
	while (gs->cap < 2 * nsites) {
		if (gs->cap > SIZE_MAX / 2 / sizeof(*gs->slot))
			return -ENOMEM;
		gs->cap *= 2;
	}
	gs->g = calloc(nsites ? nsites : 1, sizeof(*gs->g));
	gs->slot = calloc(gs->cap, sizeof(*gs->slot));
	return gs->g && gs->slot ? 0 : -ENOMEM;
}

static void groups_free(struct groups *gs)
{
	free(gs->g);
	free(gs->slot);
}

/* Add one site's values to its stack's group on side 0 (after) or 1 (before). */
static void groups_add(struct groups *gs, const struct tm_profile *p, const struct tm_site *s,
		       int side)
{
	size_t mask = gs->cap - 1, i = stack_hash(p, s, gs->flags) & mask;
	uint64_t v[NVALS];
	struct group *g;

	site_values(s, v);
	if (!any_value(v, NVALS))
		return;
	/* The table holds at most half as many groups as slots: a free slot is always found. */
	for (; gs->slot[i]; i = (i + 1) & mask) {
		g = &gs->g[gs->slot[i] - 1];
		if (stack_eq(g->prof, g->site, p, s, gs->flags))
			goto found;
	}
	g = &gs->g[gs->n++];
	gs->slot[i] = gs->n;
	g->prof = p;
	g->site = s;
found:
	add_values(g->v[side], v);
}

/* ------------------------------------------------------------------ */
/* JSON                                                               */

static void json_counters(FILE *out, const struct tm_counter *c, size_t n)
{
	size_t i;

	fputc('{', out);
	for (i = 0; i < n; i++) {
		fputs(i ? "," : "", out);
		json_str(out, c[i].name);
		fprintf(out, ":%" PRIu64, c[i].value);
	}
	fputc('}', out);
}

/* "process", "totals", "dropped", "stats", "samples" of one profile, no braces. */
static void json_header(FILE *out, const struct tm_profile *p)
{
	size_t i;

	fprintf(out, "\"process\":{\"pid\":%d,\"command\":", p->pid);
	json_str(out, p->command);
	if (p->has_exit_code)
		fprintf(out, ",\"exit_code\":%d", p->exit_code);
	else
		fputs(",\"exit_code\":null", out);
	if (p->has_signal)
		fprintf(out, ",\"signal\":%d", p->signal);
	else
		fputs(",\"signal\":null", out);
	if (p->end_time_ns > p->start_time_ns && p->start_time_ns)
		fprintf(out, ",\"duration_ns\":%" PRIu64 "},\n", p->end_time_ns - p->start_time_ns);
	else
		fputs(",\"duration_ns\":null},\n", out);

	fprintf(out, "\"totals\":{\"peak_bytes\":%" PRIu64 ",\"peak_time_ns\":%" PRIu64
		",\"live_bytes_end\":%" PRId64 ",\"alloc_bytes\":%" PRIu64 ",\"alloc_count\":%" PRIu64
		",\"free_count\":%" PRIu64 "},\n", p->peak_bytes, p->peak_time_ns, p->live_bytes_end,
		p->alloc_bytes, p->alloc_count, p->free_count);
	fputs("\"dropped\":", out);
	json_counters(out, p->drops, p->ndrops);
	fputs(",\n\"stats\":", out);
	json_counters(out, p->stats, p->nstats);
	fputs(",\n\"samples\":[", out);
	for (i = 0; i < p->nsamples; i++)
		fprintf(out, "%s[%" PRIu64 ",%" PRId64 ",%" PRIu64 "]", i ? "," : "",
			p->samples[i].time_ns, p->samples[i].heap_bytes, p->samples[i].rss_bytes);
	fputs("]", out);
}

static void json_frame(FILE *out, const struct tm_frame *f)
{
	fprintf(out, "[%d,", f->kind == TM_FRAME_PYTHON ? 1 : 0);
	json_str(out, f->function);
	fputc(',', out);
	json_str(out, f->file);
	fprintf(out, ",%u,", f->line);
	json_str(out, f->module);
	if (f->address)
		fprintf(out, ",\"0x%" PRIx64 "\"]", f->address);
	else
		fputs(",null]", out);
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
		if (!frame_shown(&p->frames[k], flags))
			continue;
		fprintf(out, "%s%zu", first ? "" : ",", (map ? map[k] : k) + base);
		first = 0;
	}
	fprintf(out, "],%d", site_truncated(s));
	for (j = 0; j < nv; j++)
		fprintf(out, ",%" PRIu64, v[j]);
	fputc(']', out);
}

static void json_common(FILE *out, const char *mode, const struct tm_report_opts *o)
{
	const char *view = tm_report__view_name(o->view);
	int v;

	fprintf(out, "{\"version\":1,\"mode\":\"%s\",\"view\":", mode);
	json_str(out, view ? view : "peak");
	fprintf(out, ",\"python_only\":%s,\n\"views\":[",
		o->flags & TM_REPORT_PYTHON_ONLY ? "true" : "false");
	for (v = 0; v < NVIEWS; v++)
		fprintf(out, "%s\"%s\"", v ? "," : "", view_names[v]);
	fputs("],\n", out);
}

static int json_profile(FILE *out, const struct tm_profile *p, const struct tm_report_opts *o)
{
	uint64_t v[NVALS];
	size_t i;
	int first = 1;

	json_common(out, "profile", o);
	json_header(out, p);
	fputs(",\n\"frames\":[", out);
	for (i = 0; i < p->nframes; i++) {
		fputs(i ? ",\n" : "\n", out);
		json_frame(out, &p->frames[i]);
	}
	fputs("],\n\"sites\":[", out);
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
	struct groups gs;
	uint32_t *map = NULL, *inv = NULL, nextra = 0, j, k;
	uint64_t v[2 * NVALS];
	size_t i, nb;
	int err, first = 1;

	memset(&gs, 0, sizeof(gs));
	err = after->nsites > SIZE_MAX / 4 - before->nsites ? -ENOMEM :
	      groups_init(&gs, after->nsites + before->nsites, o->flags);
	if (err)
		goto out;
	for (i = 0; i < after->nsites; i++)
		groups_add(&gs, after, &after->sites[i], 0);
	for (i = 0; i < before->nsites; i++)
		groups_add(&gs, before, &before->sites[i], 1);

	/* BEFORE's frames that only BEFORE-only stacks use, numbered after AFTER's. */
	nb = before->nframes ? before->nframes : 1;
	map = malloc(nb * sizeof(*map));
	inv = malloc(nb * sizeof(*inv));
	if (!map || !inv) {
		err = -ENOMEM;
		goto out;
	}
	memset(map, 0xff, nb * sizeof(*map));
	for (i = 0; i < gs.n; i++) {
		if (gs.g[i].prof != before)
			continue;
		for (j = 0; j < gs.g[i].site->nframes; j++) {
			k = gs.g[i].site->frames[j];
			if (map[k] == UINT32_MAX && frame_shown(&before->frames[k], o->flags)) {
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
	fputs("],\n\"sites\":[", out);
	for (i = 0; i < gs.n; i++) {
		const struct group *g = &gs.g[i];
		int from_before = g->prof == before;

		memcpy(v, g->v[0], sizeof(g->v[0]));
		memcpy(v + NVALS, g->v[1], sizeof(g->v[1]));
		fputs(first ? "\n" : ",\n", out);
		json_site(out, g->prof, g->site, from_before ? map : NULL,
			  from_before ? after->nframes : 0, o->flags, v, 2 * NVALS);
		first = 0;
	}
	fputs("]}", out);
out:
	free(map);
	free(inv);
	groups_free(&gs);
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

static int check_args(FILE *out, const struct tm_report_opts *o)
{
	return out && (unsigned int)o->view < TM_VIEW__COUNT ? 0 : -EINVAL;
}

int tm_flamegraph__write(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK };
	struct fill f = { NULL, p, o ? o : &def };
	int err;

	err = check_args(out, f.o);
	if (!err)
		err = profile_valid(p);
	if (!err)
		err = write_page(out, &f);
	return err;
}

int tm_flamegraph__write_diff(const struct tm_profile *before, const struct tm_profile *after,
			      FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK };
	struct fill f = { before, after, o ? o : &def };
	int err;

	err = check_args(out, f.o);
	if (!err)
		err = profile_valid(before);
	if (!err)
		err = profile_valid(after);
	if (!err && before == after)
		err = -EINVAL;   /* matching needs to tell the two sides apart */
	if (!err)
		err = write_page(out, &f);
	return err;
}
