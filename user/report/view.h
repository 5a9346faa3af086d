/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * view.h: the view core every output format shares.
 *
 * A view ranks the allocation sites by one measure:
 *   peak       bytes live at the moment of the process's peak (what to shrink)
 *   leaks      bytes still live when the trace ended (what was never freed)
 *   allocs     bytes allocated over the whole run (allocator pressure)
 *   temporary  bytes freed by the allocating thread before it allocated again
 * Sites that score 0 are left out; the rest come largest first, ties broken
 * by count and then by stack, so the same profile always prints the same.
 *
 * Here, once: what a site scores in a view, which sites and frames the
 * options select, the ranking, and how a frame or a string reads as text
 * (UTF-8 checked, control bytes escaped). Pure: no kernel, no root.
 */
#ifndef TIDEMARK_VIEW_H
#define TIDEMARK_VIEW_H

#include <stddef.h>
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
	/* Leaks as of the process's exit, not the program's end (tm_profile__at_exit, applied on reading). */
	TM_REPORT_AT_EXIT = 1u << 3,
};

/* What a CLI would use when the user does not say. */
#define TM_REPORT_TOP_DEFAULT 10

struct tm_report_opts {
	enum tm_report_view view; /* the text report's view; JSON has them all */
	unsigned int top_n;       /* sites per view; 0 = all of them */
	unsigned int flags;       /* enum tm_report_flags */
	uint64_t min_bytes;       /* leave out sites (and tree nodes) below this */
	unsigned int max_depth;   /* frames per stack shown; 0 = the default */
	/* Only sites with a shown frame whose function or file contains this; NULL = all. */
	const char *filter;
};

/*
 * Every renderer's first step: o, or def when o is NULL, in *use; 0, or
 * -EINVAL when out is NULL, the view is out of range or p fails
 * tm_profile__check.
 */
int tm_report__begin(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o,
		     const struct tm_report_opts *def, const struct tm_report_opts **use);

/* "peak", "leaks", "allocs", "temporary"; NULL when out of range. */
const char *tm_report__view_name(enum tm_report_view view);
/* Parse a view name as above; 0 or -EINVAL. */
int tm_report__view_parse(const char *s, enum tm_report_view *view);

/* A site's bytes and count in a view (negative live values count as 0). */
void tm_report__site_metric(const struct tm_site *s, enum tm_report_view view,
			    uint64_t *bytes, uint64_t *count);
/* Does the site pass o's min_bytes and filter for view? NULL o passes all. */
int tm_report__site_selected(const struct tm_profile *p, const struct tm_site *s,
			     enum tm_report_view view, const struct tm_report_opts *o);
/* Whether flags (enum tm_report_flags) hide f from every stack. */
int tm_report__frame_hidden(const struct tm_frame *f, unsigned int flags);
/* Whether the site's stack was cut at the capture depth (either kind of frame). */
int tm_report__site_truncated(const struct tm_site *s);

/* The sites of a view that score above 0 and pass the options, ranked. */
struct tm_ranked {
	uint64_t bytes;
	uint64_t count;
	const struct tm_site *site;
	const struct tm_profile *prof;
	size_t index;
};

struct tm_ranking {
	struct tm_ranked *r;
	size_t n;       /* sites that score above 0 */
	size_t shown;   /* n, limited by top_n */
	uint64_t total; /* sum of bytes over all n, saturated: the 100% */
};

enum tm_rank_order {
	TM_RANK_BYTES, /* largest first, then more allocations, then by stack */
	TM_RANK_COUNT, /* most allocations first, then as above */
};

/* Fill rk (free rk->r); 0 or -ENOMEM. o must not be NULL. */
int tm_report__rank(const struct tm_profile *p, enum tm_report_view view,
		    const struct tm_report_opts *o, enum tm_rank_order order,
		    struct tm_ranking *rk);

/*
 * A site's printed identity: whether the capture cut its stack short, and
 * the kind, line, function, file and module base name of each frame that
 * flags (enum tm_report_flags) leave shown, every string length-prefixed
 * so that no name can forge a separator. Never addresses or bytecode
 * offsets: two sites with equal keys print the same, so every report shows
 * them as one row (tm_report__rows) and a diff pairs them across captures.
 */
struct tm_site_key {
	char *key;
	size_t len;
	const struct tm_site *site;
	size_t index; /* in the profile's sites */
};

/* Whether a site takes part (it scores, the filter passes, ...). */
typedef int (*tm_report_keep_fn)(const struct tm_profile *p, const struct tm_site *s, void *arg);

/*
 * The kept sites of p with their keys, sorted by key and then by index (so
 * the first site of equal keys is the same on every run); *out is freed with
 * tm_report__site_keys_free. 0 or -ENOMEM.
 */
int tm_report__site_keys(const struct tm_profile *p, unsigned int flags, tm_report_keep_fn keep,
			 void *arg, struct tm_site_key **out, size_t *n);
int tm_report__key_cmp(const struct tm_site_key *a, const struct tm_site_key *b);
void tm_report__site_keys_free(struct tm_site_key *k, size_t n); /* accepts NULL */

/*
 * One row per printed stack: *rows is p with every group of sites that
 * print the same under flags summed into one site (the first of the group
 * by index stands for it; its frames are shared with p, its `kinds` has a
 * bit for each allocator merged in). Header, frames and counters are p's.
 * Every renderer draws from it, so text, JSON, stats, the flame graph and
 * pprof have the same rows. Free with tm_report__rows_free; 0 or -errno.
 */
int tm_report__rows(const struct tm_profile *p, unsigned int flags, struct tm_profile **rows);
void tm_report__rows_free(struct tm_profile *rows); /* accepts NULL */
/* The allocators of a row, "malloc" or "malloc, calloc", into buf. */
void tm_report__row_kinds(const struct tm_site *s, char *buf, size_t len);

/*
 * What a full table or a lost event did to the printed numbers: each entry
 * names the numbers that are lower bounds, by at most how many bytes
 * (by_known 0: by an amount nobody counted), why, and the flag that fixes
 * it. Every report states them first (text) or as "exact": false (JSON).
 */
struct tm_lower_bound {
	const char *numbers;
	uint64_t by_at_most;
	int by_known;
	uint64_t events; /* how many allocations or mappings it was */
	const char *reason;
	const char *flag; /* NULL: none */
};

#define TM_LOWER_BOUNDS_MAX 4

/* Fill lb (TM_LOWER_BOUNDS_MAX entries); returns how many: 0 = every number is exact. */
size_t tm_report__lower_bounds(const struct tm_profile *p, struct tm_lower_bound *lb);

/*
 * Counters among the drops that are not losses, and what each means in one
 * line; NULL for a loss. "untracked_bytes" has its own line (the lower bounds).
 */
const char *tm_report__not_a_loss(const char *drop_name);
int tm_report__drop_shown_apart(const char *drop_name);
/* A drop counter by name; 0 when the capture has none of that name. */
uint64_t tm_report__drop(const struct tm_profile *p, const char *name);

/* Frames a reader cannot tell apart (the tree merges them): all but the address, unless unnamed. */
int tm_report__same_label(const struct tm_frame *a, const struct tm_frame *b);

/* A frame with no symbol, named "module+0xOFFSET" (trace.c): its module is said already. */
int tm_report__named_by_module(const struct tm_frame *f);
/* A frame as the text report prints it; a string with control bytes escaped. */
void tm_report__text_frame(FILE *out, const struct tm_frame *f);
void tm_report__text_str(FILE *out, const char *s);
/* The same, and the ASCII characters in also escaped as \xNN too (a format's separators). */
void tm_report__text_str_except(FILE *out, const char *s, const char *also);
/* Length of the valid UTF-8 sequence at s, or 0 if it is not one (never reads past a NUL). */
size_t tm_report__utf8_len(const unsigned char *s);
/* The same, and the code point in *cp. */
size_t tm_report__utf8_decode(const unsigned char *s, uint32_t *cp);

#endif /* TIDEMARK_VIEW_H */
