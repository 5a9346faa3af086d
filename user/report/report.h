/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * report.h: render a profile for people (text) and for programs (JSON).
 *
 * A view ranks the allocation sites by one measure:
 *   peak    bytes live at the moment of the process's peak (what to shrink)
 *   leaks   bytes still live when the trace ended (what was never freed)
 *   allocs  bytes allocated over the whole run (allocator pressure)
 * Sites that score 0 are left out; the rest come largest first, ties broken
 * by count and then by stack, so the same profile always prints the same.
 */
#ifndef TIDEMARK_REPORT_H
#define TIDEMARK_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "profile/profile.h"

enum tm_report_view {
	TM_VIEW_PEAK,
	TM_VIEW_LEAKS,
	TM_VIEW_ALLOCS,
	TM_VIEW_TEMPORARY,
	TM_VIEW__COUNT,
};

enum tm_report_flags {
	/* Show Python frames only (native frames are hidden from every stack). */
	TM_REPORT_PYTHON_ONLY = 1u << 0,
	/* Text: print the call tree after the table. */
	TM_REPORT_TREE = 1u << 1,
	/* The tree from the allocating frames out to their callers. */
	TM_REPORT_INVERTED = 1u << 2,
};

/* What a CLI would use when the user does not say. */
#define TM_REPORT_TOP_DEFAULT 10

struct tm_report_opts {
	enum tm_report_view view;  /* the text report's view; JSON has them all */
	unsigned int top_n;        /* sites per view; 0 = all of them */
	unsigned int flags;        /* enum tm_report_flags */
	uint64_t min_bytes;        /* leave out sites (and tree nodes) below this */
	unsigned int max_depth;    /* frames per stack shown; 0 = the default */
	const char *filter;        /* only sites with a shown frame whose function
				    * or file contains this; NULL = all */
};

/* A site's bytes and count in a view (negative live values count as 0). */
void tm_report__site_metric(const struct tm_site *s, enum tm_report_view view,
			    uint64_t *bytes, uint64_t *count);
/* Does the site pass o's min_bytes and filter for view? NULL o passes all. */
int tm_report__site_selected(const struct tm_profile *p, const struct tm_site *s,
			     enum tm_report_view view, const struct tm_report_opts *o);

/* "peak", "leaks", "allocs"; NULL when out of range. */
const char *tm_report__view_name(enum tm_report_view view);
/* Parse a view name as above; 0 or -EINVAL. */
int tm_report__view_parse(const char *s, enum tm_report_view *view);

/*
 * Both return 0, -EINVAL, -ENOMEM, or -EIO when writing to out failed.
 * o may be NULL: the peak view, every site.
 */
int tm_report__text(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);
int tm_report__json(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);
/* Per allocator totals, the size histogram and the most frequent sites. */
int tm_report__stats(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);

/*
 * For the other renderers (pprof.c, collapsed.c), so that every format
 * scores, filters and checks a profile the same way.
 */
/* 0, or -EINVAL when p is NULL or a site names a frame that does not exist. */
int tm_report__check(const struct tm_profile *p);
/* Whether flags (enum tm_report_flags) hide f from every stack. */
int tm_report__frame_hidden(const struct tm_frame *f, unsigned int flags);
/* A frame as the text report prints it; a string with control bytes escaped. */
void tm_report__text_frame(FILE *out, const struct tm_frame *f);
void tm_report__text_str(FILE *out, const char *s);
/* Length of the valid UTF-8 sequence at s, or 0 if it is not one (never reads past a NUL). */
size_t tm_report__utf8_len(const unsigned char *s);
/* The same, and the code point in *cp. */
size_t tm_report__utf8_decode(const unsigned char *s, uint32_t *cp);

#endif /* TIDEMARK_REPORT_H */
