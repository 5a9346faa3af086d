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
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tidemark_common.h"
#include "report.h"

/* Caller frames printed under a site's innermost one in the text report. */
#define TEXT_CALLERS 6

static const char *const view_names[] = {
	[TM_VIEW_PEAK] = "peak",
	[TM_VIEW_LEAKS] = "leaks",
	[TM_VIEW_ALLOCS] = "allocs",
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

static void site_metric(const struct tm_site *s, enum tm_report_view view,
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

static int rank_sites(const struct tm_profile *p, enum tm_report_view view,
		      unsigned int top_n, struct ranking *rk)
{
	uint64_t bytes, count;
	size_t i;

	memset(rk, 0, sizeof(*rk));
	rk->r = calloc(p->nsites ? p->nsites : 1, sizeof(*rk->r));
	if (!rk->r)
		return -ENOMEM;
	for (i = 0; i < p->nsites; i++) {
		site_metric(&p->sites[i], view, &bytes, &count);
		if (!bytes)
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

static int frame_hidden(const struct tm_frame *f, unsigned int flags)
{
	return (flags & TM_REPORT_PYTHON_ONLY) && f->kind != TM_FRAME_PYTHON;
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

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
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
	return n;
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
		       unsigned int flags, int indent)
{
	unsigned int shown = 0, hidden = 0;
	uint32_t i;

	for (i = 0; i < s->nframes; i++) {
		const struct tm_frame *f = &p->frames[s->frames[i]];

		if (frame_hidden(f, flags))
			continue;
		if (shown > TEXT_CALLERS) {
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
		     unsigned int top_n, unsigned int flags)
{
	char bytes[32], human[32], count[32], total[32];
	int wbytes = 5, whuman = 4, wcount = 5, indent;
	struct ranking rk;
	unsigned int pm;
	size_t i;
	int err;

	err = rank_sites(p, view, top_n, &rk);
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
		text_stack(out, p, rk.r[i].site, flags, indent);
	}
out:
	free(rk.r);
	return 0;
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
	err = text_view(p, out, o->view, o->top_n, o->flags);
	if (err)
		return err;
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
		     unsigned int top_n, unsigned int flags)
{
	const struct tm_site *s;
	struct ranking rk;
	const char *kind;
	uint32_t j;
	size_t i;
	int err, first;

	err = rank_sites(p, view, top_n, &rk);
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
		for (j = 0; j < s->nframes; j++) {
			const struct tm_frame *f = &p->frames[s->frames[j]];

			if (frame_hidden(f, flags))
				continue;
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

	json_counters(out, "dropped", p->drops, p->ndrops);
	json_counters(out, "stats", p->stats, p->nstats);

	fputs("  \"views\": {\n", out);
	for (v = 0; v < TM_VIEW__COUNT; v++) {
		err = json_view(p, out, (enum tm_report_view)v, o->top_n, o->flags);
		if (err)
			return err;
		fputs(v + 1 < TM_VIEW__COUNT ? ",\n" : "\n", out);
	}
	fputs("  }\n}\n", out);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
