/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * report.c: the text and JSON reports (views described in report.h).
 *
 * Everything here is integer arithmetic and fixed formats: tests and
 * scripts parse this output, so it must not depend on locale or floating
 * point. Strings come from the traced program and from capture files,
 * which anyone can write: the text report escapes control characters (no
 * terminal escapes get through) and the JSON report escapes per RFC 8259
 * and replaces bytes that are not UTF-8 with U+FFFD.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* qsort_r */
#endif
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tidemark_common.h"
#include "report/report.h"

/* Caller frames printed under a site's innermost one in the text report. */
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
/* ranking                                                            */

struct ranked {
	uint64_t bytes;
	uint64_t count;
	const struct tm_site *site;
	const struct tm_profile *prof;
	size_t index;
};

struct ranking {
	struct ranked *r;
	size_t n;               /* sites that score above 0 */
	size_t shown;           /* n, limited by top_n */
	uint64_t total;         /* sum of bytes over all n, saturated: the 100% */
};

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
	const struct ranked *a = pa, *b = pb;
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

static int frame_hidden(const struct tm_frame *f, unsigned int flags)
{
	return (flags & TM_REPORT_PYTHON_ONLY) && f->kind != TM_FRAME_PYTHON;
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

		if (!frame_hidden(f, o->flags) && frame_matches(f, o->filter))
			return 1;
	}
	return 0;
}

static int rank_sites(const struct tm_profile *p, enum tm_report_view view,
		      const struct tm_report_opts *o, struct ranking *rk)
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
		rk->r[rk->n++] = (struct ranked){ bytes, count, &p->sites[i], p, i };
		rk->total = rk->total > UINT64_MAX - bytes ? UINT64_MAX : rk->total + bytes;
	}
	qsort(rk->r, rk->n, sizeof(*rk->r), cmp_ranked);
	rk->shown = top_n && top_n < rk->n ? top_n : rk->n;
	return 0;
}

/* Every frame index a site holds must name a frame: checked once, up front. */
static int profile_valid(const struct tm_profile *p)
{
	size_t i;
	uint32_t j;

	if (!p || (p->nframes && !p->frames) || (p->nsites && !p->sites) ||
	    (p->ndrops && !p->drops) || (p->nstats && !p->stats))
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


int tm_report__check(const struct tm_profile *p)
{
	return profile_valid(p);
}

int tm_report__frame_hidden(const struct tm_frame *f, unsigned int flags)
{
	return frame_hidden(f, flags);
}

/* ------------------------------------------------------------------ */
/* number formatting                                                  */

/* 12897345 -> "12,897,345" */
static void fmt_thousands(char *buf, size_t len, uint64_t v, int negative)
{
	char digits[32], *d = digits + sizeof(digits);
	size_t out = 0, n;
	int group = 0;

	*--d = '\0';
	do {
		if (group == 3) {
			*--d = ',';
			group = 0;
		}
		*--d = (char)('0' + v % 10);
		v /= 10;
		group++;
	} while (v);
	n = strlen(d);
	if (negative && out + 1 < len)
		buf[out++] = '-';
	snprintf(buf + out, len - out, "%.*s", (int)n, d);
}

static void fmt_u64(char *buf, size_t len, uint64_t v)
{
	fmt_thousands(buf, len, v, 0);
}

static void fmt_s64(char *buf, size_t len, int64_t v)
{
	fmt_thousands(buf, len, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
}

/* v / unit in tenths, rounded half up, without overflow for unit <= 2^60. */
static uint64_t div_tenths(uint64_t v, uint64_t unit)
{
	return v / unit * 10 + ((v % unit) * 10 + unit / 2) / unit;
}

/* 12897345 -> "12.3 MiB": binary units, one decimal, rounded half up. */
static void fmt_human_mag(char *buf, size_t len, uint64_t v, int negative)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	uint64_t unit = 1024, tenths;
	unsigned int u = 0;
	const char *sign = negative ? "-" : "";

	if (v < 1024) {
		snprintf(buf, len, "%s%" PRIu64 " B", sign, v);
		return;
	}
	while (u + 1 < sizeof(units) / sizeof(units[0]) && v >= unit * 1024) {
		unit *= 1024;
		u++;
	}
	tenths = div_tenths(v, unit);
	/* 1023.96 KiB rounds to 1024.0 KiB: say 1.0 MiB instead. */
	if (tenths >= 10240 && u + 1 < sizeof(units) / sizeof(units[0])) {
		unit *= 1024;
		u++;
		tenths = div_tenths(v, unit);
	}
	snprintf(buf, len, "%s%" PRIu64 ".%u %s", sign, (uint64_t)(tenths / 10),
		 (unsigned int)(tenths % 10), units[u]);
}

static void fmt_human(char *buf, size_t len, uint64_t v)
{
	fmt_human_mag(buf, len, v, 0);
}

static void fmt_human_s64(char *buf, size_t len, int64_t v)
{
	fmt_human_mag(buf, len, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
}

/* nanoseconds -> "1.204 s" (truncated to the millisecond) */
static void fmt_secs(char *buf, size_t len, uint64_t ns)
{
	snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 " s", ns / 1000000000, ns / 1000000 % 1000);
}

/* part/total in tenths of a percent, rounded half up. */
static unsigned int permille(uint64_t part, uint64_t total)
{
	/* Scale both down until the arithmetic fits; the ratio barely moves. */
	while (total > UINT64_MAX / 4000) {
		part >>= 1;
		total >>= 1;
	}
	if (!total)
		return 0;
	return (unsigned int)((part * 2000 + total) / (total * 2));
}

/* ------------------------------------------------------------------ */
/* text                                                               */

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one; *cpp: its code point. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cpp)
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

static size_t utf8_len(const unsigned char *s)
{
	uint32_t cp;

	return utf8_decode(s, &cp);
}

/*
 * Print s with control characters and bytes that are not UTF-8 as \xNN, and
 * a backslash as two, so that what is printed is unambiguous.
 */
static void text_str(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	while (*s) {
		n = utf8_len(s);
		if (*s == '\\') {
			fputs("\\\\", out);
			s++;
			continue;
		}
		if (!n || *s < 0x20 || *s == 0x7f) {
			fprintf(out, "\\x%02x", *s);
			s++;
			continue;
		}
		fwrite(s, 1, n, out);
		s += n;
	}
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

/*
 * native: "function file:line (module)", "function (module)" or
 *         "0xaddress (module)" when the symbol is unknown
 * python: "file:line function"
 */
static void text_frame(FILE *out, const struct tm_frame *f)
{
	if (f->kind == TM_FRAME_PYTHON) {
		text_str(out, f->file ? f->file : "<unknown>");
		if (f->line)
			fprintf(out, ":%u", f->line);
		fputc(' ', out);
		text_str(out, f->function ? f->function : "<unknown>");
		return;
	}
	if (f->function) {
		text_str(out, f->function);
	} else {
		fprintf(out, "0x%" PRIx64, f->address);
	}
	if (f->file) {
		fputc(' ', out);
		text_str(out, f->file);
		if (f->line)
			fprintf(out, ":%u", f->line);
	}
	if (f->module) {
		fputs(" (", out);
		text_str(out, basename_of(f->module));
		fputc(')', out);
	}
}

static const struct {
	int sig;
	const char *name;
} signal_names[] = {
	{ SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" },
	{ SIGILL, "SIGILL" }, { SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },
	{ SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" }, { SIGKILL, "SIGKILL" },
	{ SIGUSR1, "SIGUSR1" }, { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
	{ SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" },
	{ SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" }, { SIGSYS, "SIGSYS" },
};

/* Our own table: strsignal() is localized and sigabbrev_np() is glibc-only. */
static const char *signal_name(int sig)
{
	size_t i;

	for (i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
		if (signal_names[i].sig == sig)
			return signal_names[i].name;
	return NULL;
}

static void text_header(const struct tm_profile *p, FILE *out)
{
	char a[64], b[64];
	const char *sig;
	size_t i;
	int any = 0;

	fputs("tidemark report: ", out);
	text_str(out, p->command ? p->command : "(unknown command)");
	fprintf(out, " (pid %d)\n", p->pid);

	if (p->cgroup) {
		fputs("  cgroup:       ", out);
		text_str(out, p->cgroup);
		fputc('\n', out);
	}
	fputs("  status:       ", out);
	if (p->oom.killed) {
		const struct tm_oom *o = &p->oom;

		fmt_secs(a, sizeof(a), o->time_ns);
		fprintf(out, "OOM-killed at %s", a);
		if (o->cgroup_limit) {
			fputs(" (memory cgroup ", out);
			text_str(out, o->cgroup ? o->cgroup : "?");
			fmt_human(a, sizeof(a), o->cgroup_usage);
			fmt_human(b, sizeof(b), o->cgroup_limit);
			fprintf(out, ": usage %s of limit %s)\n", a, b);
		} else {
			fputs(" (system-wide)\n", out);
		}
		fmt_human(a, sizeof(a), o->rss_anon + o->rss_file + o->rss_shmem);
		fmt_human(b, sizeof(b), o->rss_anon);
		fprintf(out, "  RSS at kill:  %s (anonymous %s", a, b);
		fmt_human(a, sizeof(a), o->rss_file);
		fmt_human(b, sizeof(b), o->rss_shmem);
		fprintf(out, ", file %s, shmem %s)\n", a, b);
		fputs("  exit:         ", out);
	}
	if (p->has_signal) {
		sig = signal_name(p->signal);
		fprintf(out, "killed by signal %d", p->signal);
		if (sig)
			fprintf(out, " (%s)", sig);
		fputc('\n', out);
	} else if (p->has_exit_code) {
		fprintf(out, "exited with code %d\n", p->exit_code);
	} else {
		fputs("unknown (still running when tracing stopped?)\n", out);
	}
	if (p->end_time_ns > p->start_time_ns && p->start_time_ns) {
		fmt_secs(a, sizeof(a), p->end_time_ns - p->start_time_ns);
		fprintf(out, "  duration:     %s\n", a);
	}

	fmt_human(a, sizeof(a), p->peak_bytes);
	fmt_u64(b, sizeof(b), p->peak_bytes);
	fprintf(out, "  peak:         %s (%s bytes)", a, b);
	if (p->peak_bytes) {
		fmt_secs(a, sizeof(a), p->peak_time_ns);
		fprintf(out, " at %s", a);
	}
	fputc('\n', out);

	fmt_human_s64(a, sizeof(a), p->live_bytes_end);
	fmt_s64(b, sizeof(b), p->live_bytes_end);
	fprintf(out, "  live at end:  %s (%s bytes)\n", a, b);

	fmt_human(a, sizeof(a), p->alloc_bytes);
	fmt_u64(b, sizeof(b), p->alloc_bytes);
	fprintf(out, "  allocated:    %s (%s bytes) in ", a, b);
	fmt_u64(a, sizeof(a), p->alloc_count);
	fprintf(out, "%s %s\n", a, p->alloc_count == 1 ? "allocation" : "allocations");

	fmt_u64(a, sizeof(a), p->free_count);
	fprintf(out, "  frees:        %s\n", a);
	if (p->sample_bytes) {
		fmt_human(a, sizeof(a), p->sample_bytes);
		fmt_u64(b, sizeof(b), p->sample_bytes);
		fprintf(out, "  sampled:      one point per %s (%s bytes) allocated; bytes and counts are "
			"estimates, frees of unrecorded blocks are not counted\n", a, b);
	}

	fputs("Dropped / not recorded: ", out);
	for (i = 0; i < p->ndrops; i++) {
		if (!p->drops[i].value)
			continue;
		fmt_u64(a, sizeof(a), p->drops[i].value);
		fputs(any ? ", " : "", out);
		text_str(out, p->drops[i].name);
		fprintf(out, " %s", a);
		any = 1;
	}
	fputs(any ? "\n" : "nothing dropped\n", out);
}

static const char *const view_titles[] = {
	[TM_VIEW_PEAK] = "bytes live at the peak",
	[TM_VIEW_LEAKS] = "bytes still live at the end",
	[TM_VIEW_ALLOCS] = "bytes allocated",
	[TM_VIEW_TEMPORARY] = "bytes in temporary allocations",
};

/* The allocator, after the innermost frame: "  [calloc]". */
static void text_kind(FILE *out, const struct tm_site *s)
{
	const char *kind = tm_kind_name(s->kind);

	if (kind)
		fprintf(out, "  [%s]", kind);
	else
		fprintf(out, "  [allocator %u]", s->kind);
}

static void text_stack(FILE *out, const struct tm_profile *p, const struct tm_site *s,
		       const struct tm_report_opts *o, int indent)
{
	unsigned int shown = 0, hidden = 0, flags = o->flags;
	unsigned int depth = o->max_depth ? o->max_depth : 1 + TEXT_CALLERS;
	uint32_t i;

	for (i = 0; i < s->nframes; i++) {
		const struct tm_frame *f = &p->frames[s->frames[i]];

		if (frame_hidden(f, flags))
			continue;
		if (shown >= depth) {
			hidden++;
			continue;
		}
		if (shown == 1)
			text_kind(out, s);
		if (shown)
			fprintf(out, "\n%*s  ", indent, "");
		text_frame(out, f);
		shown++;
	}
	if (!shown)
		fputs(flags & TM_REPORT_PYTHON_ONLY ? "(no Python frames)" : "(no stack)", out);
	if (shown <= 1)
		text_kind(out, s);
	if (hidden)
		fprintf(out, "\n%*s  ... %u more %s", indent, "", hidden,
			hidden == 1 ? "frame" : "frames");
	if (s->flags & (TM_STACK_NATIVE_TRUNCATED | TM_STACK_PY_TRUNCATED))
		fprintf(out, "\n%*s  ... (stack truncated at the capture depth)", indent, "");
	fputc('\n', out);
}

static int text_view(const struct tm_profile *p, FILE *out, enum tm_report_view view,
		     const struct tm_report_opts *o)
{
	char bytes[32], human[32], count[32], total[32];
	int wbytes = 5, whuman = 4, wcount = 5, indent;
	struct ranking rk;
	unsigned int pm;
	size_t i;
	int err;

	err = rank_sites(p, view, o, &rk);
	if (err)
		return err;

	fputc('\n', out);
	if (!rk.n) {
		fprintf(out, "No allocation sites with %s.\n", view_titles[view]);
		goto out;
	}
	fmt_human(total, sizeof(total), rk.total);
	if (rk.shown < rk.n)
		fprintf(out, "Top %zu of %zu allocation sites by %s (%s in all):\n\n",
			rk.shown, rk.n, view_titles[view], total);
	else
		fprintf(out, "%zu allocation %s by %s (%s in all):\n\n",
			rk.n, rk.n == 1 ? "site" : "sites", view_titles[view], total);

	/* Columns as wide as their widest entry, so the stacks line up. */
	for (i = 0; i < rk.shown; i++) {
		fmt_u64(bytes, sizeof(bytes), rk.r[i].bytes);
		fmt_human(human, sizeof(human), rk.r[i].bytes);
		fmt_u64(count, sizeof(count), rk.r[i].count);
		if ((int)strlen(bytes) > wbytes)
			wbytes = (int)strlen(bytes);
		if ((int)strlen(human) > whuman)
			whuman = (int)strlen(human);
		if ((int)strlen(count) > wcount)
			wcount = (int)strlen(count);
	}
	/* rank(4) + 2 + bytes + 2 + human + 2 + percent(6) + 2 + count + 2 */
	indent = 4 + 2 + wbytes + 2 + whuman + 2 + 6 + 2 + wcount + 2;
	fprintf(out, "%4s  %*s  %*s  %6s  %*s  %s\n", "rank", wbytes, "bytes", whuman, "size",
		"%", wcount, "count", "allocation site (innermost frame first)");
	for (i = 0; i < rk.shown; i++) {
		fmt_u64(bytes, sizeof(bytes), rk.r[i].bytes);
		fmt_human(human, sizeof(human), rk.r[i].bytes);
		fmt_u64(count, sizeof(count), rk.r[i].count);
		pm = permille(rk.r[i].bytes, rk.total);
		if (i)
			fputc('\n', out);
		fprintf(out, "%4zu  %*s  %*s  %3u.%u%%  %*s  ", i + 1, wbytes, bytes, whuman, human,
			pm / 10, pm % 10, wcount, count);
		text_stack(out, p, rk.r[i].site, o, indent);
	}
out:
	free(rk.r);
	return 0;
}

/* ------------------------------------------------------------------ */
/* text: the timeline                                                 */

#define CHART_COLS 64

/*
 * One line of block characters: each column the highest live heap sampled
 * in its slice of time, in eighths of the peak; a caret under the column
 * where the peak fell. The loader samples; the peak itself comes from the
 * kernel, so it is marked even if no sample caught it.
 */
static void text_timeline(const struct tm_profile *p, FILE *out)
{
	static const char *const blocks[] = { " ", "\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	int64_t col[CHART_COLS];
	uint64_t span, top, rss = 0;
	char a[32], b[32], c[32];
	size_t i;
	int k, peak_col = -1;

	if (p->nsamples < 2)
		return;
	span = p->samples[p->nsamples - 1].time_ns;
	if (p->peak_bytes && p->peak_time_ns > span)
		span = p->peak_time_ns;
	if (!span)
		return;
	for (k = 0; k < CHART_COLS; k++)
		col[k] = -1;
	top = p->peak_bytes;
	for (i = 0; i < p->nsamples; i++) {
		const struct tm_sample *sm = &p->samples[i];

		k = (int)(sm->time_ns / ((span + CHART_COLS - 1) / CHART_COLS + !span));
		if (k >= CHART_COLS)
			k = CHART_COLS - 1;
		if (sm->heap_bytes > col[k])
			col[k] = sm->heap_bytes;
		if (sm->heap_bytes > 0 && (uint64_t)sm->heap_bytes > top)
			top = (uint64_t)sm->heap_bytes;
		if (sm->rss_bytes > rss)
			rss = sm->rss_bytes;
	}
	if (p->peak_bytes) {
		peak_col = (int)(p->peak_time_ns / ((span + CHART_COLS - 1) / CHART_COLS));
		if (peak_col >= CHART_COLS)
			peak_col = CHART_COLS - 1;
		if (col[peak_col] < (int64_t)p->peak_bytes)
			col[peak_col] = (int64_t)p->peak_bytes;
	}
	/*
	 * A column without a sample lies on the straight line between the
	 * columns around it, as the flame graph page draws it; after the last
	 * sample, the last value holds.
	 */
	{
		int prev = -1, next;

		for (k = 0; k < CHART_COLS; k++) {
			if (col[k] >= 0) {
				prev = k;
				continue;
			}
			if (prev < 0)
				continue;
			for (next = k + 1; next < CHART_COLS && col[next] < 0; next++)
				;
			if (next == CHART_COLS)
				col[k] = col[prev];
			else
				col[k] = col[prev] + (col[next] - col[prev]) * (k - prev) / (next - prev);
		}
	}
	fmt_human(a, sizeof(a), top);
	fmt_secs(b, sizeof(b), span);
	fmt_human(c, sizeof(c), rss);
	fprintf(out, "\nLive heap over time (%zu samples; highest RSS sampled %s):\n", p->nsamples, c);
	fprintf(out, "  %10s |", a);
	for (k = 0; k < CHART_COLS; k++) {
		int level = 0;

		if (col[k] > 0 && top)
			level = 1 + (int)((uint64_t)col[k] * 7 / top);
		fputs(blocks[level > 8 ? 8 : level], out);
	}
	fputs("|\n", out);
	if (peak_col >= 0)
		fprintf(out, "  %10s  %*s^\n", "", peak_col, "");
	fmt_secs(a, sizeof(a), p->peak_time_ns);
	fprintf(out, "  %10s  0 s%*s%s\n", "", CHART_COLS - 3 - (int)strlen(b), "", b);
	if (peak_col >= 0)
		fprintf(out, "  %10s  ^ peak at %s\n", "", a);
}

/* ------------------------------------------------------------------ */
/* text: the call tree                                                */

#define TREE_DEPTH_DEFAULT 16

struct tnode {
	uint32_t frame;         /* index into the profile's frames */
	uint32_t parent;        /* UINT32_MAX for the root */
	uint32_t child, next;   /* first child, next sibling; UINT32_MAX = none */
	uint64_t bytes, count;
};

struct tree {
	struct tnode *n;
	size_t len, cap;
};

#define NONE UINT32_MAX

/* Frames are merged by what a reader sees, not by address (one per call site). */
static int same_label(const struct tm_frame *a, const struct tm_frame *b)
{
	if (a == b)
		return 1;
	if (a->kind != b->kind || a->line != b->line || cmp_nstr(a->function, b->function) ||
	    cmp_nstr(a->file, b->file) || cmp_nstr(a->module, b->module))
		return 0;
	return a->function || a->address == b->address;
}

static int tree_child(const struct tm_profile *p, struct tree *t, uint32_t parent, uint32_t frame,
		      uint32_t *out)
{
	uint32_t c;
	struct tnode *nn;

	for (c = t->n[parent].child; c != NONE; c = t->n[c].next) {
		if (same_label(&p->frames[t->n[c].frame], &p->frames[frame])) {
			*out = c;
			return 0;
		}
	}
	if (t->len == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;

		if (cap >= NONE)
			return -E2BIG;
		nn = realloc(t->n, cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		t->n = nn;
		t->cap = cap;
	}
	c = (uint32_t)t->len++;
	t->n[c] = (struct tnode){ frame, parent, NONE, t->n[parent].child, 0, 0 };
	t->n[parent].child = c;
	*out = c;
	return 0;
}

static int tree_build(const struct tm_profile *p, enum tm_report_view view,
		      const struct tm_report_opts *o, unsigned int depth, struct tree *t)
{
	uint64_t bytes, count;
	uint32_t *path = NULL, n, j, cur;
	size_t i;
	int err = 0;

	t->n = calloc(1, sizeof(*t->n));
	if (!t->n)
		return -ENOMEM;
	t->len = t->cap = 1;
	t->n[0] = (struct tnode){ NONE, NONE, NONE, NONE, 0, 0 };
	for (i = 0; !err && i < p->nsites; i++) {
		const struct tm_site *s = &p->sites[i];

		tm_report__site_metric(s, view, &bytes, &count);
		if (!bytes || !tm_report__site_selected(p, s, view, o))
			continue;
		free(path);
		path = malloc((s->nframes + 1) * sizeof(*path));
		if (!path) {
			err = -ENOMEM;
			break;
		}
		/* The shown frames, outermost first (callers -> callees), or inverted. */
		n = 0;
		for (j = 0; j < s->nframes; j++) {
			uint32_t fi = s->frames[(o->flags & TM_REPORT_INVERTED) ? j : s->nframes - 1 - j];

			if (!frame_hidden(&p->frames[fi], o->flags))
				path[n++] = fi;
		}
		cur = 0;
		t->n[0].bytes += bytes;
		t->n[0].count += count;
		for (j = 0; !err && j < n && j < depth; j++) {
			err = tree_child(p, t, cur, path[j], &cur);
			if (!err) {
				t->n[cur].bytes += bytes;
				t->n[cur].count += count;
			}
		}
	}
	free(path);
	return err;
}

struct tree_print {
	const struct tm_profile *p;
	const struct tree *t;
	FILE *out;
	uint64_t total, min;
	char prefix[3 * 4 * 64 + 1];    /* "│  " is 5 bytes; depth <= 64 levels kept */
	size_t plen;
};

static int cmp_tnode(const void *pa, const void *pb, void *arg)
{
	const struct tree *t = arg;
	const struct tnode *a = &t->n[*(const uint32_t *)pa], *b = &t->n[*(const uint32_t *)pb];
	int c;

	if ((c = CMP(b->bytes, a->bytes)))
		return c;
	return CMP(a->frame, b->frame);
}

static int tree_print(struct tree_print *tp, uint32_t node, unsigned int level)
{
	uint32_t c, *kids, nk = 0, i, small = 0, nsmall = 0;
	uint64_t small_bytes = 0;
	char a[32], b[32];
	unsigned int pm;
	size_t save;
	int err = 0;

	for (c = tp->t->n[node].child; c != NONE; c = tp->t->n[c].next)
		nk++;
	if (!nk)
		return 0;
	kids = malloc(nk * sizeof(*kids));
	if (!kids)
		return -ENOMEM;
	nk = 0;
	for (c = tp->t->n[node].child; c != NONE; c = tp->t->n[c].next) {
		kids[nk++] = c;
		nsmall += tp->t->n[c].bytes < tp->min;
	}
	qsort_r(kids, nk, sizeof(*kids), cmp_tnode, (void *)tp->t);
	for (i = 0; i < nk; i++) {
		const struct tnode *k = &tp->t->n[kids[i]];
		int last;

		if (k->bytes < tp->min) {
			small++;
			small_bytes += k->bytes;
			continue;
		}
		last = !nsmall && (i + 1 == nk || tp->t->n[kids[i + 1]].bytes < tp->min);
		pm = permille(k->bytes, tp->total);
		fmt_human(a, sizeof(a), k->bytes);
		fmt_u64(b, sizeof(b), k->count);
		fprintf(tp->out, "%5u.%u%%  %10s  %9s  %s%s", pm / 10, pm % 10, a, b, tp->prefix,
			last ? "\u2514\u2500 " : "\u251c\u2500 ");
		text_frame(tp->out, &tp->p->frames[k->frame]);
		fputc('\n', tp->out);
		save = tp->plen;
		if (tp->plen + 6 < sizeof(tp->prefix) && level < 64) {
			tp->plen += (size_t)sprintf(tp->prefix + tp->plen, "%s",
						    last ? "   " : "\u2502  ");
			err = tree_print(tp, kids[i], level + 1);
		}
		tp->plen = save;
		tp->prefix[save] = '\0';
		if (err)
			break;
	}
	if (!err && small) {
		pm = permille(small_bytes, tp->total);
		fmt_human(a, sizeof(a), small_bytes);
		fprintf(tp->out, "%5u.%u%%  %10s  %9s  %s\u2514\u2500 (%u smaller)\n", pm / 10, pm % 10,
			a, "", tp->prefix, small);
	}
	free(kids);
	return err;
}

/*
 * The sites of a view merged into one tree, callers above callees (or the
 * allocating frames at the top with --inverted). Nodes below min_bytes (or
 * below 1% of the view when min_bytes is 0) are summed into one line.
 */
static int text_tree(const struct tm_profile *p, FILE *out, enum tm_report_view view,
		     const struct tm_report_opts *o)
{
	struct tree_print tp = { .p = p, .out = out };
	struct tree t = { 0 };
	char a[32];
	int err;

	err = tree_build(p, view, o, o->max_depth ? o->max_depth : TREE_DEPTH_DEFAULT, &t);
	if (err)
		goto out;
	tp.t = &t;
	tp.total = t.n[0].bytes;
	tp.min = o->min_bytes ? o->min_bytes : (tp.total + 99) / 100;
	fmt_human(a, sizeof(a), tp.total);
	fprintf(out, "\nCall tree of %s, %s (%s = 100%%; nodes under %s merged):\n",
		view_titles[view], o->flags & TM_REPORT_INVERTED ?
		"allocating frames first (inverted)" : "callers above callees", a,
		o->min_bytes ? "--min-bytes" : "1%");
	if (!tp.total) {
		fputs("  (empty)\n", out);
		goto out;
	}
	fprintf(out, "%8s  %10s  %9s  %s\n", "%", "bytes", "count", "frame");
	err = tree_print(&tp, 0, 0);
out:
	free(t.n);
	return err;
}

int tm_report__text(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK };
	int err;

	if (!o)
		o = &def;
	if (!out || (unsigned int)o->view >= TM_VIEW__COUNT)
		return -EINVAL;
	err = profile_valid(p);
	if (err)
		return err;
	text_header(p, out);
	text_timeline(p, out);
	err = text_view(p, out, o->view, o);
	if (!err && (o->flags & TM_REPORT_TREE))
		err = text_tree(p, out, o->view, o);
	if (err)
		return err;
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}

size_t tm_report__utf8_len(const unsigned char *s)
{
	return utf8_len(s);
}

size_t tm_report__utf8_decode(const unsigned char *s, uint32_t *cp)
{
	return utf8_decode(s, cp);
}

void tm_report__text_frame(FILE *out, const struct tm_frame *f)
{
	text_frame(out, f);
}

void tm_report__text_str(FILE *out, const char *s)
{
	text_str(out, s);
}

/* ------------------------------------------------------------------ */
/* stats                                                              */

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

static int cmp_by_count(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;
	int c;

	if ((c = CMP(b->count, a->count)))
		return c;
	return cmp_ranked(pa, pb);
}

/*
 * What the allocator was asked for: per allocator, the size histogram the
 * kernel kept (exact: every counted allocation, by power-of-two class), and
 * the sites that allocate most often (the hot spots).
 */
int tm_report__stats(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_ALLOCS, .top_n = 10 };
	uint64_t kc[TM_KIND__COUNT + 1] = { 0 }, kb[TM_KIND__COUNT + 1] = { 0 };
	uint64_t kp[TM_KIND__COUNT + 1] = { 0 }, kl[TM_KIND__COUNT + 1] = { 0 };
	uint64_t kt[TM_KIND__COUNT + 1] = { 0 }, ks[TM_KIND__COUNT + 1] = { 0 };
	uint64_t hmax = 0, hcount = 0, hbytes = 0;
	char a[32], b[32], c[64], d[32], e[32], f[32];
	struct ranking rk;
	unsigned int k, i, bar;
	size_t j;
	int err;

	if (!o)
		o = &def;
	if (!out)
		return -EINVAL;
	err = profile_valid(p);
	if (err)
		return err;
	text_header(p, out);

	for (j = 0; j < p->nsites; j++) {
		const struct tm_site *s = &p->sites[j];

		k = s->kind < TM_KIND__COUNT ? s->kind : TM_KIND__COUNT;
		ks[k]++;
		kc[k] += s->alloc_count;
		kb[k] += s->alloc_bytes;
		kp[k] += clamp_pos(s->peak_bytes);
		kl[k] += clamp_pos(s->live_bytes);
		kt[k] += s->temp_bytes;
	}
	fprintf(out, "\nBy allocator:\n%-16s %7s %14s %14s %14s %14s %14s\n", "allocator", "sites",
		"count", "allocated", "live at peak", "live at end", "temporary");
	for (k = 0; k <= TM_KIND__COUNT; k++) {
		if (!ks[k])
			continue;
		fmt_u64(a, sizeof(a), ks[k]);
		fmt_u64(b, sizeof(b), kc[k]);
		fmt_u64(c, sizeof(c), kb[k]);
		fmt_u64(d, sizeof(d), kp[k]);
		fmt_u64(e, sizeof(e), kl[k]);
		fmt_u64(f, sizeof(f), kt[k]);
		fprintf(out, "%-16s %7s %14s %14s %14s %14s %14s\n",
			k < TM_KIND__COUNT && tm_kind_name(k) ? tm_kind_name(k) : "(other)",
			a, b, c, d, e, f);
	}

	for (i = 0; i < TM_PROFILE_SIZE_BUCKETS; i++) {
		if (p->size_hist[i].count > hmax)
			hmax = p->size_hist[i].count;
		hcount += p->size_hist[i].count;
		hbytes += p->size_hist[i].bytes;
	}
	if (!hcount) {
		fputs("\nAllocation sizes: not in this capture.\n", out);
	} else {
		fmt_u64(a, sizeof(a), hcount);
		fmt_human(b, sizeof(b), hbytes);
		fprintf(out, "\nAllocation sizes (%s allocations, %s):\n%-22s %14s %7s %14s\n", a, b,
			"size [from, to)", "count", "%", "bytes");
		for (i = 0; i < TM_PROFILE_SIZE_BUCKETS; i++) {
			unsigned int pm;

			if (!p->size_hist[i].count)
				continue;
			fmt_size_class(c, sizeof(c), i);
			fmt_u64(d, sizeof(d), p->size_hist[i].count);
			fmt_u64(e, sizeof(e), p->size_hist[i].bytes);
			pm = permille(p->size_hist[i].count, hcount);
			fprintf(out, "%-22s %14s %3u.%u%% %14s  ", c, d, pm / 10, pm % 10, e);
			bar = (unsigned int)((p->size_hist[i].count * 40 + hmax - 1) / hmax);
			while (bar--)
				fputs("\u2587", out);
			fputc('\n', out);
		}
	}

	err = rank_sites(p, TM_VIEW_ALLOCS, o, &rk);
	if (err)
		return err;
	qsort(rk.r, rk.n, sizeof(*rk.r), cmp_by_count);
	fprintf(out, "\nHot spots: %zu of %zu sites by number of allocations:\n%14s %14s  %s\n",
		rk.shown, rk.n, "count", "bytes", "site (innermost frame first)");
	for (j = 0; j < rk.shown; j++) {
		struct tm_report_opts one = *o;

		one.max_depth = o->max_depth ? o->max_depth : 2;
		fmt_u64(a, sizeof(a), rk.r[j].count);
		fmt_u64(b, sizeof(b), rk.r[j].bytes);
		fprintf(out, "%14s %14s  ", a, b);
		text_stack(out, p, rk.r[j].site, &one, 30);
	}
	free(rk.r);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON                                                               */

/* The two-character escapes of RFC 8259; other control characters get \u00XX. */
static const char *json_escape(unsigned char c)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		return NULL;
	}
}

static void json_str(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	const char *esc;
	size_t n;

	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	while (*s) {
		esc = json_escape(*s);
		if (esc) {
			fputs(esc, out);
			s++;
			continue;
		}
		if (*s < 0x20) {
			fprintf(out, "\\u%04x", *s);
			s++;
			continue;
		}
		n = utf8_len(s);
		if (!n) {
			fputs("\\ufffd", out);
			s++;
			continue;
		}
		fwrite(s, 1, n, out);
		s += n;
	}
	fputc('"', out);
}

static void json_frame(FILE *out, const struct tm_frame *f)
{
	fprintf(out, "{\"kind\": \"%s\", \"function\": ",
		f->kind == TM_FRAME_PYTHON ? "python" : "native");
	json_str(out, f->function);
	fputs(", \"file\": ", out);
	json_str(out, f->file);
	if (f->line)
		fprintf(out, ", \"line\": %u", f->line);
	else
		fputs(", \"line\": null", out);
	fputs(", \"module\": ", out);
	json_str(out, f->module);
	if (f->address)
		fprintf(out, ", \"address\": \"0x%" PRIx64 "\"}", f->address);
	else
		fputs(", \"address\": null}", out);
}

static int json_view(const struct tm_profile *p, FILE *out, enum tm_report_view view,
		     const struct tm_report_opts *o)
{
	unsigned int flags = o->flags, depth;
	const struct tm_site *s;
	struct ranking rk;
	const char *kind;
	uint32_t j;
	size_t i;
	int err, first;

	err = rank_sites(p, view, o, &rk);
	if (err)
		return err;
	fprintf(out, "    \"%s\": [", view_names[view]);
	for (i = 0; i < rk.shown; i++) {
		s = rk.r[i].site;
		kind = tm_kind_name(s->kind);
		fprintf(out, "%s\n      {\"bytes\": %" PRIu64 ", \"count\": %" PRIu64
			", \"allocator\": ", i ? "," : "", rk.r[i].bytes, rk.r[i].count);
		json_str(out, kind);
		fprintf(out, ", \"truncated\": %s, \"stack\": [",
			s->flags & (TM_STACK_NATIVE_TRUNCATED | TM_STACK_PY_TRUNCATED) ?
			"true" : "false");
		first = 1;
		depth = 0;
		for (j = 0; j < s->nframes; j++) {
			const struct tm_frame *f = &p->frames[s->frames[j]];

			if (frame_hidden(f, flags))
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
	fputs(first ? "]\n" : "\n  ]\n", out);
}

static void json_counters(FILE *out, const char *key, const struct tm_counter *c, size_t n)
{
	size_t i;

	fprintf(out, "  \"%s\": {", key);
	for (i = 0; i < n; i++) {
		fputs(i ? ", " : "", out);
		json_str(out, c[i].name);
		fprintf(out, ": %" PRIu64, c[i].value);
	}
	fputs("},\n", out);
}

int tm_report__json(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o)
{
	struct tm_report_opts def = { .view = TM_VIEW_PEAK };
	unsigned int v;
	int err;

	if (!o)
		o = &def;
	if (!out)
		return -EINVAL;
	err = profile_valid(p);
	if (err)
		return err;

	fputs("{\n  \"version\": 1,\n", out);
	fprintf(out, "  \"process\": {\"pid\": %d, \"command\": ", p->pid);
	json_str(out, p->command);
	if (p->has_exit_code)
		fprintf(out, ", \"exit_code\": %d", p->exit_code);
	else
		fputs(", \"exit_code\": null", out);
	if (p->has_signal)
		fprintf(out, ", \"signal\": %d", p->signal);
	else
		fputs(", \"signal\": null", out);
	if (p->end_time_ns > p->start_time_ns && p->start_time_ns)
		fprintf(out, ", \"duration_ns\": %" PRIu64, p->end_time_ns - p->start_time_ns);
	else
		fputs(", \"duration_ns\": null", out);
	fputs(", \"cgroup\": ", out);
	json_str(out, p->cgroup);
	fputs("},\n", out);
	if (p->oom.killed) {
		const struct tm_oom *o = &p->oom;

		fprintf(out, "  \"oom\": {\"time_ns\": %" PRIu64 ", \"rss_bytes\": %" PRIu64
			", \"rss_anon_bytes\": %" PRIu64 ", \"rss_file_bytes\": %" PRIu64
			", \"rss_shmem_bytes\": %" PRIu64 ",\n          \"cgroup\": ",
			o->time_ns, o->rss_anon + o->rss_file + o->rss_shmem, o->rss_anon, o->rss_file,
			o->rss_shmem);
		json_str(out, o->cgroup);
		if (o->cgroup_limit)
			fprintf(out, ", \"cgroup_limit_bytes\": %" PRIu64, o->cgroup_limit);
		else
			fputs(", \"cgroup_limit_bytes\": null", out);
		fprintf(out, ", \"cgroup_usage_bytes\": %" PRIu64 "},\n", o->cgroup_usage);
	} else {
		fputs("  \"oom\": null,\n", out);
	}

	fprintf(out, "  \"totals\": {\"peak_bytes\": %" PRIu64 ", \"peak_time_ns\": %" PRIu64
		", \"live_bytes_end\": %" PRId64 ",\n             \"alloc_bytes\": %" PRIu64
		", \"alloc_count\": %" PRIu64 ", \"free_count\": %" PRIu64 "},\n",
		p->peak_bytes, p->peak_time_ns, p->live_bytes_end, p->alloc_bytes,
		p->alloc_count, p->free_count);
	/* 0: every allocation recorded, exact; N: --sample-bytes N, estimates. */
	fprintf(out, "  \"sample_bytes\": %" PRIu64 ",\n", p->sample_bytes);

	json_counters(out, "dropped", p->drops, p->ndrops);
	json_counters(out, "stats", p->stats, p->nstats);

	fputs("  \"views\": {\n", out);
	for (v = 0; v < TM_VIEW__COUNT; v++) {
		err = json_view(p, out, (enum tm_report_view)v, o);
		if (err)
			return err;
		fputs(v + 1 < TM_VIEW__COUNT ? ",\n" : "\n", out);
	}
	fputs("  },\n", out);
	json_timeline(p, out);
	json_sizes(p, out);
	fputs("}\n", out);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
