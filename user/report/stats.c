// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stats.c: the stats report (report.h): per allocator totals, the size
 * histogram the kernel kept, and the sites that allocate most often.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tidemark_common.h"
#include "report/fmt.h"
#include "report/report.h"
#include "report/text.h"

/* stats                                                              */

/* The widest histogram bar, in columns: the line stays within 120. */
#define STATS_BAR 40

/* 2^i exactly, in the largest binary unit that divides it: "512 KiB", "1 MiB". */
static void fmt_pow2(char *buf, size_t len, unsigned int i)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = i / 10 < 4 ? i / 10 : 4;

	snprintf(buf, len, "%llu %s", 1ULL << (i - 10 * u), units[u]);
}

/* Size class i as a half-open range: "[512 KiB, 1 MiB)". */
static void fmt_size_class(char *buf, size_t len, unsigned int i)
{
	char lo[24], hi[24];

	fmt_pow2(lo, sizeof(lo), i);
	fmt_pow2(hi, sizeof(hi), i + 1);
	if (i == 0)
		snprintf(buf, len, "[0 B, 2 B)");
	else if (i + 1 >= TM_PROFILE_SIZE_BUCKETS)
		snprintf(buf, len, "[%s, ...)", lo);
	else
		snprintf(buf, len, "[%s, %s)", lo, hi);
}

/* Per allocator (enum tm_kind; anything else as "(other)"): sites, count and bytes by view. */
static void stats_allocators(const struct tm_profile *p, FILE *out)
{
	uint64_t kc[TM_KIND__COUNT + 1] = { 0 }, kb[TM_KIND__COUNT + 1] = { 0 };
	uint64_t kp[TM_KIND__COUNT + 1] = { 0 }, kl[TM_KIND__COUNT + 1] = { 0 };
	uint64_t kt[TM_KIND__COUNT + 1] = { 0 }, ks[TM_KIND__COUNT + 1] = { 0 };
	char a[32], b[32], c[32], d[32], e[32], f[32];
	uint64_t bytes, count;
	unsigned int k;
	size_t j;

	for (j = 0; j < p->nsites; j++) {
		const struct tm_site *s = &p->sites[j];

		k = s->kind < TM_KIND__COUNT ? s->kind : TM_KIND__COUNT;
		ks[k]++;
		kc[k] += s->alloc_count;
		kb[k] += s->alloc_bytes;
		tm_report__site_metric(s, TM_VIEW_PEAK, &bytes, &count);
		kp[k] += bytes;
		tm_report__site_metric(s, TM_VIEW_LEAKS, &bytes, &count);
		kl[k] += bytes;
		kt[k] += s->temp_bytes;
	}
	fprintf(out, "\nBy allocator:\n%-16s %7s %14s %14s %14s %14s %14s\n", "allocator", "sites",
		"count", "allocated", "live at peak", "live at end", "temporary");
	for (k = 0; k <= TM_KIND__COUNT; k++) {
		if (!ks[k])
			continue;
		tm_fmt__u64(a, sizeof(a), ks[k]);
		tm_fmt__u64(b, sizeof(b), kc[k]);
		tm_fmt__u64(c, sizeof(c), kb[k]);
		tm_fmt__u64(d, sizeof(d), kp[k]);
		tm_fmt__u64(e, sizeof(e), kl[k]);
		tm_fmt__u64(f, sizeof(f), kt[k]);
		fprintf(out, "%-16s %7s %14s %14s %14s %14s %14s\n",
			k < TM_KIND__COUNT && tm_kind_name(k) ? tm_kind_name(k) : "(other)",
			a, b, c, d, e, f);
	}
}

/* The size classes the kernel counted, each with a bar of its bytes (the column beside it) scaled to the largest. */
static void stats_sizes(const struct tm_profile *p, FILE *out)
{
	uint64_t hmax = 0, hcount = 0, hbytes = 0;
	char a[32], b[32], c[64];
	unsigned int i, bar, pm;

	for (i = 0; i < TM_PROFILE_SIZE_BUCKETS; i++) {
		if (p->size_hist[i].bytes > hmax)
			hmax = p->size_hist[i].bytes;
		hcount += p->size_hist[i].count;
		hbytes += p->size_hist[i].bytes;
	}
	if (!hcount) {
		fputs("\nAllocation sizes: not in this capture.\n", out);
		return;
	}
	tm_fmt__u64(a, sizeof(a), hcount);
	tm_fmt__human(b, sizeof(b), hbytes);
	fprintf(out, "\nAllocation sizes (%s allocations, %s):\n%-22s %14s %7s %14s\n", a, b,
		"size [from, to)", "count", "%", "bytes");
	for (i = 0; i < TM_PROFILE_SIZE_BUCKETS; i++) {
		if (!p->size_hist[i].count)
			continue;
		fmt_size_class(c, sizeof(c), i);
		tm_fmt__u64(a, sizeof(a), p->size_hist[i].count);
		tm_fmt__u64(b, sizeof(b), p->size_hist[i].bytes);
		pm = tm_fmt__permille(p->size_hist[i].count, hcount);
		fprintf(out, "%-22s %14s %3u.%u%% %14s  ", c, a, pm / 10, pm % 10, b);
		bar = hmax ? (unsigned int)((p->size_hist[i].bytes * STATS_BAR + hmax - 1) / hmax) : 0;
		while (bar--)
			fputs("\u2587", out);
		fputc('\n', out);
	}
}

/* The sites that allocate most often, top o->top_n. */
static int stats_hot_spots(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts one = *o;
	struct tm_ranking rk;
	char a[32], b[32];
	size_t j;
	int err;

	err = tm_report__rank(p, TM_VIEW_ALLOCS, o, TM_RANK_COUNT, &rk);
	if (err)
		return err;
	fprintf(out, "\nHot spots: %zu of %zu sites by number of allocations:\n%14s %14s  %s\n",
		rk.shown, rk.n, "count", "bytes", "site (innermost frame first)");
	one.max_depth = o->max_depth ? o->max_depth : 2;
	for (j = 0; j < rk.shown; j++) {
		tm_fmt__u64(a, sizeof(a), rk.r[j].count);
		tm_fmt__u64(b, sizeof(b), rk.r[j].bytes);
		fprintf(out, "%14s %14s  ", a, b);
		tm_text__stack(out, p, rk.r[j].site, &one, 31);
	}
	free(rk.r);
	return 0;
}

/*
 * What the allocator was asked for: per allocator, the size histogram the
 * kernel kept (exact: every counted allocation, by power-of-two class), and
 * the sites that allocate most often (the hot spots).
 */
int tm_report__stats(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_ALLOCS, .top_n = 10 };
	struct tm_profile *rows = NULL;
	int err;

	err = tm_report__begin(p, out, o, &def, &o);
	if (err)
		return err;
	tm_text__header(p, out);
	stats_allocators(p, out);
	stats_sizes(p, out);
	err = tm_report__rows(p, o->flags, &rows);
	if (err)
		return err;
	err = stats_hot_spots(rows, out, o);
	tm_report__rows_free(rows);
	if (err)
		return err;
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
