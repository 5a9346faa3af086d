/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * collapsed.c: folded stacks (format and labels in collapsed.h).
 *
 * Each site's stack is rendered to one string, outermost frame first; the
 * strings are sorted and equal neighbours merged. That costs a string per
 * site, which is what a capture's site count allows (--max-stacks).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/collapsed.h"
#include "util/path.h"

struct folded {
	char *stack;
	uint64_t bytes;
};

/* See collapsed.h: nothing in a label may look like a separator. */
static void put_label_str(FILE *m, const char *s)
{
	tm_report__text_str_except(m, s, ";");
}

static void put_frame(FILE *m, const struct tm_frame *f)
{
	if (f->kind == TM_FRAME_PYTHON) {
		put_label_str(m, f->function ? f->function : "<unknown>");
		fputs(" (", m);
		put_label_str(m, f->file ? f->file : "<unknown>");
		if (f->line)
			fprintf(m, ":%u", f->line);
		fputc(')', m);
	} else if (f->function) {
		put_label_str(m, f->function);
	} else if (f->module) {
		fputc('[', m);
		put_label_str(m, tm_basename(f->module));
		fputc(']', m);
	} else {
		fprintf(m, "0x%" PRIx64, f->address);
	}
}

/* The site's visible frames, outermost first, in a new string (*stack). */
static int fold_site(const struct tm_profile *p, const struct tm_site *s, unsigned int flags,
		     char **stack)
{
	size_t len = 0;
	uint32_t i;
	int shown = 0;
	FILE *m;

	*stack = NULL;
	m = open_memstream(stack, &len);
	if (!m)
		return -ENOMEM;
	for (i = s->nframes; i-- > 0;) {
		const struct tm_frame *f = &p->frames[s->frames[i]];

		if (tm_report__frame_hidden(f, flags))
			continue;
		if (shown++)
			fputc(';', m);
		put_frame(m, f);
	}
	if (!shown)
		fputs(flags & TM_REPORT_PYTHON_ONLY ? "[no Python frames]" : "[no stack]", m);
	if (fclose(m) || !*stack) {
		free(*stack);
		*stack = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int cmp_folded(const void *pa, const void *pb)
{
	const struct folded *a = pa, *b = pb;

	return strcmp(a->stack, b->stack);
}

int tm_collapsed__write(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK };
	struct folded *fs = NULL;
	uint64_t bytes, count, sum;
	size_t i, j, n = 0;
	int err;

	err = tm_report__begin(p, out, o, &def, &o);
	if (err)
		return err;

	fs = calloc(p->nsites ? p->nsites : 1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	for (i = 0; i < p->nsites; i++) {
		tm_report__site_metric(&p->sites[i], o->view, &bytes, &count);
		if (!bytes)
			continue;
		err = fold_site(p, &p->sites[i], o->flags, &fs[n].stack);
		if (err)
			goto out;
		fs[n++].bytes = bytes;
	}
	qsort(fs, n, sizeof(*fs), cmp_folded);

	for (i = 0; i < n; i = j) {
		sum = 0;
		for (j = i; j < n && !strcmp(fs[i].stack, fs[j].stack); j++)
			sum = sum > UINT64_MAX - fs[j].bytes ? UINT64_MAX : sum + fs[j].bytes;
		fprintf(out, "%s %" PRIu64 "\n", fs[i].stack, sum);
	}
	if (fflush(out) || ferror(out))
		err = -EIO;
out:
	for (i = 0; i < n; i++)
		free(fs[i].stack);
	free(fs);
	return err;
}
