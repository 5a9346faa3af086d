// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * diff.c: per-stack change between two captures (see diff.h).
 *
 * The matcher: each side's kept sites get their printed identity
 * (tm_report__site_keys in view.c, the key every report's rows merge by),
 * sorted by key (then by site index, so a stack's first site is its
 * representative on every run), and the two sorted lists are merged into
 * one entry per distinct stack.
 * O(n log n) in the number of sites. tm_diff__rows and the flame graph's
 * diff page both use it, so the two always pair the same stacks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/diff.h"
#include "report/width.h"
#include "report/fmt.h"

/* How many keys from k[i] on are equal to it. */
static size_t equal_run(const struct tm_site_key *k, size_t i, size_t n)
{
	size_t r = 1;

	while (i + r < n && !tm_report__key_cmp(&k[i], &k[i + r]))
		r++;
	return r;
}

void tm_diff_match__free(struct tm_diff_match *m)
{
	if (!m)
		return;
	free(m->stacks);
	free(m->sites);
	memset(m, 0, sizeof(*m));
}

int tm_diff__match(const struct tm_profile *before, const struct tm_profile *after,
		   unsigned int flags, tm_diff_keep_fn keep, void *arg, struct tm_diff_match *m)
{
	struct tm_site_key *kb = NULL, *ka = NULL;
	size_t nb = 0, na = 0, i = 0, j = 0, r = 0;
	const struct tm_site **sb, **sa;
	struct tm_diff_stack *st;
	int err, c;

	if (!m)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	if (!keep || tm_profile__check(before) || tm_profile__check(after))
		return -EINVAL;
	err = tm_report__site_keys(before, flags, keep, arg, &kb, &nb);
	err = err ?: tm_report__site_keys(after, flags, keep, arg, &ka, &na);
	if (err)
		goto out;
	m->stacks = calloc(nb + na + 1, sizeof(*m->stacks));
	m->sites = calloc(nb + na + 1, sizeof(*m->sites));
	if (!m->stacks || !m->sites) {
		err = -ENOMEM;
		goto out;
	}
	sb = m->sites;
	sa = m->sites + nb;
	for (i = 0; i < nb; i++)
		sb[i] = kb[i].site;
	for (j = 0; j < na; j++)
		sa[j] = ka[j].site;
	i = j = 0;
	while (i < nb || j < na) {
		st = &m->stacks[r++];
		if (i == nb || j == na)
			c = i == nb ? 1 : -1;
		else
			c = tm_report__key_cmp(&kb[i], &ka[j]);
		if (c <= 0) {
			st->before = &sb[i];
			st->nbefore = equal_run(kb, i, nb);
		}
		if (c >= 0) {
			st->after = &sa[j];
			st->nafter = equal_run(ka, j, na);
		}
		i += st->nbefore;
		j += st->nafter;
	}
	m->n = r;
out:
	if (err)
		tm_diff_match__free(m);
	tm_report__site_keys_free(kb, nb);
	tm_report__site_keys_free(ka, na);
	return err;
}

static int64_t sat_delta(uint64_t after, uint64_t before)
{
	if (after >= before)
		return after - before > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(after - before);
	return before - after > (uint64_t)INT64_MAX ? -INT64_MAX : -(int64_t)(before - after);
}

static uint64_t mag(int64_t v)
{
	return v < 0 ? -(uint64_t)v : (uint64_t)v;
}

static int cmp_rows(const void *pa, const void *pb)
{
	const struct tm_diff_row *a = pa, *b = pb;
	uint64_t ma = mag(a->delta), mb = mag(b->delta);

	if (ma != mb)
		return ma < mb ? 1 : -1;
	if (a->delta != b->delta)
		return a->delta < b->delta ? 1 : -1;    /* growth before shrink */
	if (a->after_bytes != b->after_bytes)
		return a->after_bytes < b->after_bytes ? 1 : -1;
	return (a->before_bytes < b->before_bytes) - (a->before_bytes > b->before_bytes);
}

/* The text diff's sites: they score in the view and pass the filter. */
static int keep_selected(const struct tm_profile *p, const struct tm_site *s, void *arg)
{
	const struct tm_report_opts *o = arg;
	uint64_t bytes, count;

	tm_report__site_metric(s, o->view, &bytes, &count);
	return (bytes || count) && tm_report__site_selected(p, s, o->view, o);
}

static void side_sum(const struct tm_site *const *s, size_t n, enum tm_report_view view,
		     uint64_t *bytes, uint64_t *count)
{
	uint64_t b, c;
	size_t i;

	*bytes = *count = 0;
	for (i = 0; i < n; i++) {
		tm_report__site_metric(s[i], view, &b, &c);
		*bytes = *bytes > UINT64_MAX - b ? UINT64_MAX : *bytes + b;
		*count = *count > UINT64_MAX - c ? UINT64_MAX : *count + c;
	}
}

int tm_diff__rows(const struct tm_profile *before, const struct tm_profile *after,
		  const struct tm_report_opts *o, struct tm_diff_row **rows, size_t *n)
{
	struct tm_report_opts sel;
	struct tm_diff_match m;
	struct tm_diff_row *out, *row;
	size_t i, r = 0;
	int err;

	if (!before || !after || !o || !rows || !n || (unsigned int)o->view >= TM_VIEW__COUNT)
		return -EINVAL;
	sel = *o;
	sel.min_bytes = 0;      /* applied to the pair, not to one side */
	err = tm_diff__match(before, after, o->flags, keep_selected, &sel, &m);
	if (err)
		return err;
	out = calloc(m.n + 1, sizeof(*out));
	if (!out) {
		tm_diff_match__free(&m);
		return -ENOMEM;
	}
	for (i = 0; i < m.n; i++) {
		const struct tm_diff_stack *st = &m.stacks[i];

		row = &out[r];
		row->before = st->nbefore ? st->before[0] : NULL;
		row->after = st->nafter ? st->after[0] : NULL;
		side_sum(st->before, st->nbefore, o->view, &row->before_bytes, &row->before_count);
		side_sum(st->after, st->nafter, o->view, &row->after_bytes, &row->after_count);
		row->delta = sat_delta(row->after_bytes, row->before_bytes);
		if ((row->before_bytes > row->after_bytes ? row->before_bytes : row->after_bytes) >=
		    o->min_bytes)
			r++;
	}
	tm_diff_match__free(&m);
	qsort(out, r, sizeof(*out), cmp_rows);
	*rows = out;
	*n = r;
	return 0;
}

/* "%15s %15s %15s %8s  ": where a row's stack begins */
#define DIFF_STACK_COL (15 * 3 + 3 + 8 + 2)

static void side(FILE *out, const char *name, const struct tm_profile *p)
{
	char a[32];
	int col;

	tm_fmt__u64(a, sizeof(a), p->peak_bytes);
	col = fprintf(out, "  %s pid %d, peak %s bytes: ", name, p->pid, a);
	tm_width__put_str(out, p->command ? p->command : "(unknown command)", col, tm_width__spaces(DIFF_STACK_COL));
	fputc('\n', out);
}

static const struct tm_site *shown_site(const struct tm_diff_row *r)
{
	return r->after ? r->after : r->before;
}

/* The header: which view, both processes, and their totals side by side. */
static void diff_totals(FILE *out, const struct tm_profile *before, const struct tm_profile *after,
			enum tm_report_view view)
{
	static const char *const totals[] = { "peak_bytes", "live_bytes_end", "alloc_bytes" };
	uint64_t tb[3], ta[3];
	char a[32], b[32], c[32], d[32];
	int k;

	tb[0] = before->peak_bytes;
	ta[0] = after->peak_bytes;
	tb[1] = before->live_bytes_end > 0 ? (uint64_t)before->live_bytes_end : 0;
	ta[1] = after->live_bytes_end > 0 ? (uint64_t)after->live_bytes_end : 0;
	tb[2] = before->alloc_bytes;
	ta[2] = after->alloc_bytes;

	fprintf(out, "tidemark diff, view %s\n", tm_report__view_name(view));
	side(out, "before:", before);
	side(out, "after: ", after);
	for (k = 0; k < 3; k++) {
		tm_fmt__u64(a, sizeof(a), tb[k]);
		tm_fmt__u64(b, sizeof(b), ta[k]);
		tm_fmt__delta(c, sizeof(c), sat_delta(ta[k], tb[k]));
		tm_fmt__change_pct(d, sizeof(d), tb[k], ta[k]);
		fprintf(out, "  %-15s %15s -> %15s  %15s  %s\n", totals[k], a, b, c, d);
	}
}

/* One changed stack: change, before, after, percent, then its shown frames. */
static void diff_row(FILE *out, const struct tm_profile *before, const struct tm_profile *after,
		     const struct tm_diff_row *r, const struct tm_report_opts *o)
{
	const struct tm_profile *p = r->after ? after : before;
	const struct tm_site *s = shown_site(r);
	unsigned int depth = o->max_depth ? o->max_depth : 4, done = 0;
	char a[32], b[32], c[32], d[32];
	int col = DIFF_STACK_COL;
	uint32_t j;

	tm_fmt__delta(a, sizeof(a), r->delta);
	tm_fmt__u64(b, sizeof(b), r->before_bytes);
	tm_fmt__u64(c, sizeof(c), r->after_bytes);
	tm_fmt__change_pct(d, sizeof(d), r->before_bytes, r->after_bytes);
	fprintf(out, "%15s %15s %15s %8s  ", a, b, c, r->after ? (r->before ? d : "new") : "gone");
	for (j = 0; j < s->nframes && done < depth; j++) {
		const struct tm_frame *f = &p->frames[s->frames[j]];

		if (tm_report__frame_hidden(f, o->flags))
			continue;
		if (done) {
			fprintf(out, "\n%*s", DIFF_STACK_COL, "");
			col = DIFF_STACK_COL;
		}
		col = tm_width__frame(out, f, col, 0, tm_width__spaces(DIFF_STACK_COL + 2));
		done++;
	}
	if (!done)
		fputs("(no stack)", out);
	fputc('\n', out);
}

int tm_diff__text(const struct tm_profile *before, const struct tm_profile *after, FILE *out,
		  const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK, .top_n = TM_REPORT_TOP_DEFAULT };
	size_t n = 0, i, grew = 0, shrank = 0, same = 0, shown;
	uint64_t sum_b = 0, sum_a = 0;
	struct tm_diff_row *rows = NULL;
	char a[32];
	int err;

	err = tm_report__begin(after, out, o, &def, &o);
	err = err ?: tm_diff__rows(before, after, o, &rows, &n);
	if (err)
		return err;
	diff_totals(out, before, after, o->view);
	for (i = 0; i < n; i++) {
		sum_b += rows[i].before_bytes;
		sum_a += rows[i].after_bytes;
		if (rows[i].delta > 0)
			grew++;
		else if (rows[i].delta < 0)
			shrank++;
		else
			same++;
	}
	shown = n - same;
	if (o->top_n && o->top_n < shown)
		shown = o->top_n;
	tm_fmt__delta(a, sizeof(a), sat_delta(sum_a, sum_b));
	fprintf(out, "\n%zu %s grew, %zu shrank, %zu unchanged; the view changed by %s bytes.\n",
		grew, grew == 1 ? "stack" : "stacks", shrank, same, a);
	if (shown)
		fprintf(out, "%s %zu by size of change:\n\n%15s %15s %15s %8s  %s\n",
			shown < grew + shrank ? "Top" : "All", shown, "change", "before", "after", "",
			"stack (innermost frame first)");
	for (i = 0; i < shown; i++) {
		if (i)
			fputc('\n', out);
		diff_row(out, before, after, &rows[i], o);
	}
	free(rows);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
