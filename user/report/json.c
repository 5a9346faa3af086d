// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * json.c: the JSON report (report.h): the profile header, every view's
 * ranked sites with their stacks, the timeline and the size classes.
 * Strings and the header are json_writer.c's, as in every JSON output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

#include "tidemark_common.h"
#include "report/json_writer.h"
#include "report/procs.h"
#include "report/report.h"

static void json_frame(FILE *out, const struct tm_frame *f)
{
	fprintf(out, "{\"kind\": \"%s\", \"function\": ",
		f->kind == TM_FRAME_PYTHON ? "python" : "native");
	tm_json__str(out, f->function);
	fputs(", \"file\": ", out);
	tm_json__str(out, f->file);
	if (f->line)
		fprintf(out, ", \"line\": %u", f->line);
	else
		fputs(", \"line\": null", out);
	fputs(", \"module\": ", out);
	tm_json__str(out, f->module);
	if (f->address)
		fprintf(out, ", \"address\": \"0x%" PRIx64 "\"}", f->address);
	else
		fputs(", \"address\": null}", out);
}

/* Every allocator a row merges: "allocators": ["malloc", "calloc"]. */
static void json_kinds(FILE *out, const struct tm_site *s)
{
	unsigned int k, kinds = s->kinds ? s->kinds : (s->kind < 32 ? 1u << s->kind : 0);
	int first = 1;

	fputs(", \"allocators\": [", out);
	for (k = 0; k < 32; k++) {
		if (!(kinds & (1u << k)))
			continue;
		fputs(first ? "" : ", ", out);
		tm_json__str(out, tm_kind_name(k));
		first = 0;
	}
	fputc(']', out);
}

static int json_view(const struct tm_profile *p, FILE *out, enum tm_report_view view,
		     const struct tm_report_opts *o)
{
	unsigned int flags = o->flags, depth;
	const struct tm_site *s;
	struct tm_ranking rk;
	const char *kind;
	uint32_t j;
	size_t i;
	int err, first;

	err = tm_report__rank(p, view, o, TM_RANK_BYTES, &rk);
	if (err)
		return err;
	fprintf(out, "    \"%s\": [", tm_report__view_name(view));
	for (i = 0; i < rk.shown; i++) {
		s = rk.r[i].site;
		kind = tm_kind_name(s->kind);
		fprintf(out, "%s\n      {\"bytes\": %" PRIu64 ", \"count\": %" PRIu64
			", \"allocator\": ", i ? "," : "", rk.r[i].bytes, rk.r[i].count);
		tm_json__str(out, kind);
		json_kinds(out, s);
		fprintf(out, ", \"truncated\": %s, \"stack\": [",
			tm_report__site_truncated(s) ? "true" : "false");
		first = 1;
		depth = 0;
		for (j = 0; j < s->nframes; j++) {
			const struct tm_frame *f = &p->frames[s->frames[j]];

			if (tm_report__frame_hidden(f, flags))
				continue;
			if (o->max_depth && depth++ >= o->max_depth)
				break;
			fputs(first ? "\n        " : ",\n        ", out);
			json_frame(out, f);
			first = 0;
		}
		fputs(first ? "]}" : "\n      ]}", out);
	}
	fputs(rk.shown ? "\n    ]" : "]", out);
	free(rk.r);
	return 0;
}

/* Three parallel arrays: compact, and as easy to plot as to read. */
static void json_timeline(const struct tm_profile *p, FILE *out)
{
	size_t i;

	fputs("  \"timeline\": {\"time_ns\": [", out);
	for (i = 0; i < p->nsamples; i++)
		fprintf(out, "%s%" PRIu64, i ? ", " : "", p->samples[i].time_ns);
	fputs("],\n               \"heap_bytes\": [", out);
	for (i = 0; i < p->nsamples; i++)
		fprintf(out, "%s%" PRId64, i ? ", " : "", p->samples[i].heap_bytes);
	fputs("],\n               \"rss_bytes\": [", out);
	for (i = 0; i < p->nsamples; i++)
		fprintf(out, "%s%" PRIu64, i ? ", " : "", p->samples[i].rss_bytes);
	fputs("]},\n", out);
}

/* Size classes that hold anything: [from, 2*from) bytes (from 0 for the first). */
static void json_sizes(const struct tm_profile *p, FILE *out)
{
	unsigned int i;
	int first = 1;

	fputs("  \"sizes\": [", out);
	for (i = 0; i < TM_PROFILE_SIZE_BUCKETS; i++) {
		if (!p->size_hist[i].count)
			continue;
		fprintf(out, "%s\n    {\"from\": %llu, \"count\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
			first ? "" : ",", i ? 1ULL << i : 0ULL, p->size_hist[i].count,
			p->size_hist[i].bytes);
		first = 0;
	}
	fputs(first ? "]" : "\n  ]", out);
}

/* "views": every view's ranked sites (the root's, and each process's of a tree). */
static int json_views(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_profile *rows = NULL;
	unsigned int v;
	int err;

	/* one row per printed stack (tm_report__rows), per process of a tree too */
	err = tm_report__rows(p, o->flags, &rows);
	if (err)
		return err;
	fputs("  \"views\": {\n", out);
	for (v = 0; v < TM_VIEW__COUNT; v++) {
		err = json_view(rows, out, (enum tm_report_view)v, o);
		if (err)
			break;
		fputs(v + 1 < TM_VIEW__COUNT ? ",\n" : "\n", out);
	}
	tm_report__rows_free(rows);
	if (err)
		return err;
	fputs("  }", out);
	return 0;
}

int tm_report__json(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK };
	int err;

	err = tm_report__begin(p, out, o, &def, &o);
	if (err)
		return err;

	fputs("{\n  \"version\": 1,\n", out);
	tm_json__profile_header(out, p, 2);

	err = json_views(p, out, o);
	if (err)
		return err;
	fputs(",\n", out);
	json_timeline(p, out);
	json_sizes(p, out);
	/* a tree: the keys above stay the root process's (JSON v1 only gains keys) */
	if (tm_procs__is_tree(p)) {
		fputs(",\n", out);
		err = tm_procs__json(p, out, o, json_views);
		if (err)
			return err;
	}
	fputs("\n}\n", out);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
