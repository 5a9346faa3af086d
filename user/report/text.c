// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * text.c: the text report (report.h): the header, the heap timeline, the
 * ranked sites of one view and, with --tree, the call tree.
 *
 * Fixed formats and integer arithmetic (fmt.h): tests and scripts parse
 * this output. Every string goes through the view core's labels, which
 * escape control characters, so no terminal escape gets through.
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
#include "report/fmt.h"
#include "report/procs.h"
#include "report/report.h"
#include "report/text.h"
#include "report/width.h"
#include "target/cgroup.h"

/* "  status:       ": where a header field's value begins */
#define HEADER_VALUE_COL 16

/* Caller frames printed under a site's innermost one in the text report. */
#define TEXT_CALLERS 6

#define CMP(a, b) (((a) > (b)) - ((a) < (b)))

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

/* "status: OOM-killed at ... (memory cgroup ...)", "RSS at kill: ...", then "exit:". */
static void text_oom(const struct tm_oom *o, FILE *out)
{
	char a[64], b[64];

	tm_fmt__secs(a, sizeof(a), o->time_ns);
	fprintf(out, "OOM-killed at %s", a);
	if (o->cgroup_limit) {
		fputs(" (memory cgroup ", out);
		tm_report__text_str(out, o->cgroup ? o->cgroup : "?");
		tm_fmt__human(a, sizeof(a), o->cgroup_usage);
		tm_fmt__human(b, sizeof(b), o->cgroup_limit);
		fprintf(out, ": usage %s of limit %s)\n", a, b);
	} else {
		fputs(" (system-wide)\n", out);
	}
	if (o->cg_have) {
		static const struct {
			uint32_t bit;
			const char *name;
		} f[] = {
			{ TM_CG_HAVE_MAX, "memory.max" },
			{ TM_CG_HAVE_CURRENT, "memory.current" },
			{ TM_CG_HAVE_PEAK, "memory.peak" },
		};
		const uint64_t v[] = { o->cg_max, o->cg_current, o->cg_peak };
		const char *sep = "";
		size_t i;

		fputs("  cgroup now:  ", out);
		for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
			if (!(o->cg_have & f[i].bit))
				continue;
			if (f[i].bit == TM_CG_HAVE_MAX && !v[i])
				snprintf(a, sizeof(a), "max");
			else
				tm_fmt__human(a, sizeof(a), v[i]);
			fprintf(out, "%s %s %s", sep, f[i].name, a);
			sep = ",";
		}
		if (o->cg_have & TM_CG_HAVE_OOM_KILL)
			fprintf(out, "%s oom_kill %" PRIu64, sep, o->cg_oom_kill);
		fputc('\n', out);
	}
	tm_fmt__human(a, sizeof(a), o->rss_anon + o->rss_file + o->rss_shmem);
	tm_fmt__human(b, sizeof(b), o->rss_anon);
	fprintf(out, "  RSS at kill:  %s (anonymous %s", a, b);
	tm_fmt__human(a, sizeof(a), o->rss_file);
	tm_fmt__human(b, sizeof(b), o->rss_shmem);
	fprintf(out, ", file %s, shmem %s)\n", a, b);
	fputs("  exit:         ", out);
}

/* How the process ended. */
static void text_exit(const struct tm_profile *p, FILE *out)
{
	const char *sig;

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
}

/*
 * First after the title: which printed numbers are lower bounds, by at most
 * how much, why, and the flag that fixes it. Nothing when all are exact.
 */
static void text_lower_bounds(const struct tm_profile *p, FILE *out)
{
	struct tm_lower_bound lb[TM_LOWER_BOUNDS_MAX];
	size_t i, n = tm_report__lower_bounds(p, lb);
	char a[64], b[64], c[64];

	for (i = 0; i < n; i++) {
		tm_fmt__u64(c, sizeof(c), lb[i].events);
		fprintf(out, "  lower bound:  %s", lb[i].numbers);
		if (lb[i].by_known) {
			tm_fmt__human(a, sizeof(a), lb[i].by_at_most);
			tm_fmt__u64(b, sizeof(b), lb[i].by_at_most);
			fprintf(out, ", by at most %s (%s bytes)", a, b);
		} else {
			fputs(", by an amount not counted", out);
		}
		fprintf(out, ": %s %s", c, lb[i].reason);
		if (lb[i].flag)
			fprintf(out, "; raise %s", lb[i].flag);
		fputc('\n', out);
	}
}

static void header_lines(const struct tm_profile *p, FILE *out)
{
	char a[64], b[64];
	size_t i;
	int any = 0;

	fputs("tidemark report: ", out);
	tm_report__text_str(out, p->command ? p->command : "(unknown command)");
	if (p->ns_pid)
		fprintf(out, " (pid %d; pid %d in its PID namespace)\n", p->pid, p->ns_pid);
	else
		fprintf(out, " (pid %d)\n", p->pid);
	text_lower_bounds(p, out);

	if (p->cgroup) {
		struct tm_container_ids ids;

		fputs("  cgroup:       ", out);
		tm_report__text_str(out, p->cgroup);
		fputc('\n', out);
		if (!tm_cgroup__container_ids(p->cgroup, &ids)) {
			fputs("  container:   ", out);
			if (ids.pod_uid[0])
				fprintf(out, " pod %s", ids.pod_uid);
			/* a pod's uid and a 64-digit container id do not fit one 120-column line */
			if (ids.container_id[0])
				fprintf(out, "%s%*scontainer %s", ids.pod_uid[0] ? "\n" : "",
					ids.pod_uid[0] ? HEADER_VALUE_COL : 1, "", ids.container_id);
			fputc('\n', out);
		}
	}
	fputs("  status:       ", out);
	if (p->oom.killed)
		text_oom(&p->oom, out);
	text_exit(p, out);
	if (p->end_time_ns > p->start_time_ns && p->start_time_ns) {
		tm_fmt__secs(a, sizeof(a), p->end_time_ns - p->start_time_ns);
		fprintf(out, "  duration:     %s\n", a);
	}

	tm_fmt__human(a, sizeof(a), p->peak_bytes);
	tm_fmt__u64(b, sizeof(b), p->peak_bytes);
	fprintf(out, "  peak:         %s (%s bytes)", a, b);
	if (p->peak_bytes) {
		tm_fmt__secs(a, sizeof(a), p->peak_time_ns);
		fprintf(out, " at %s", a);
	}
	fputc('\n', out);

	tm_fmt__human_s64(a, sizeof(a), p->live_bytes_end);
	tm_fmt__s64(b, sizeof(b), p->live_bytes_end);
	fprintf(out, "  live at end:  %s (%s bytes)", a, b);
	if (p->end_moment == TM_END_FINALIZE) {
		/* Which moment the end was: the leaks view is taken there. */
		tm_fmt__secs(a, sizeof(a), p->end_moment_ns);
		fprintf(out, " at %s, when CPython's finalization began\n", a);
		tm_fmt__human_s64(a, sizeof(a), p->live_bytes_exit);
		tm_fmt__s64(b, sizeof(b), p->live_bytes_exit);
		fprintf(out, "  live at exit: %s (%s bytes), after finalization freed module globals", a, b);
		fputs(" (report --at-exit)\n", out);
	} else {
		fputc('\n', out);
	}
	if (p->attached) {
		uint64_t before = tm_profile__counter(p, 0, "freed_before_attach");

		tm_fmt__human(a, sizeof(a), p->attach_rss_anon);
		tm_fmt__u64(b, sizeof(b), p->attach_rss_anon);
		fputs("  attached:     only what was allocated since the attach is counted; ", out);
		fprintf(out, "about %s (%s bytes) was live before it (resident anonymous memory at the attach)", a, b);
		tm_fmt__u64(a, sizeof(a), before);
		fprintf(out, "; %s %s allocated before it %s freed since (not losses)\n", a,
			before == 1 ? "block" : "blocks", before == 1 ? "was" : "were");
	}

	tm_fmt__human(a, sizeof(a), p->alloc_bytes);
	tm_fmt__u64(b, sizeof(b), p->alloc_bytes);
	fprintf(out, "  allocated:    %s (%s bytes) in ", a, b);
	tm_fmt__u64(a, sizeof(a), p->alloc_count);
	fprintf(out, "%s %s\n", a, p->alloc_count == 1 ? "allocation" : "allocations");

	tm_fmt__u64(a, sizeof(a), p->free_count);
	fprintf(out, "  frees:        %s\n", a);
	/* exact, the default, goes unsaid (the JSON always names the mode) */
	if (p->mode != TM_PROFILE_EXACT && tm_profile_mode__name(p->mode)) {
		fprintf(out, "  mode:         %s: %s\n", tm_profile_mode__name(p->mode), tm_profile_mode__sees(p->mode));
		if (tm_profile_mode__misses(p->mode))
			fprintf(out, "  not seen:     %s\n", tm_profile_mode__misses(p->mode));
	}
	if (p->sample_bytes) {
		tm_fmt__human(a, sizeof(a), p->sample_bytes);
		tm_fmt__u64(b, sizeof(b), p->sample_bytes);
		fprintf(out, "  sampled:      one point per %s (%s bytes) allocated; bytes and counts are "
			"estimates, frees of unrecorded blocks are not counted\n", a, b);
	}

	if (p->allocator_note) {
		fputs("  allocator:    ", out);
		tm_report__text_str(out, p->allocator_note);
		fputc('\n', out);
	}

	fputs("Dropped / not recorded: ", out);
	for (i = 0; i < p->ndrops; i++) {
		if (!p->drops[i].value || tm_report__drop_shown_apart(p->drops[i].name))
			continue;
		tm_fmt__u64(a, sizeof(a), p->drops[i].value);
		fputs(any ? ", " : "", out);
		tm_report__text_str(out, p->drops[i].name);
		fprintf(out, " %s", a);
		any = 1;
	}
	fputs(any ? "\n" : "nothing dropped\n", out);
	for (i = 0; i < p->ndrops; i++) {
		const char *meaning = tm_report__not_a_loss(p->drops[i].name);

		if (!p->drops[i].value || !meaning)
			continue;
		tm_fmt__u64(a, sizeof(a), p->drops[i].value);
		fprintf(out, "Not a loss: %s %s: %s\n", p->drops[i].name, a, meaning);
	}
}

/*
 * The header within TM_TEXT_WIDTH: a field ("  cgroup:       /a/b") goes on
 * under its value, any other line two columns in.
 */
void tm_text__header(const struct tm_profile *p, FILE *out)
{
	char *buf = NULL, *line, *nl;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m) {
		header_lines(p, out);
		return;
	}
	header_lines(p, m);
	if (fclose(m)) {
		free(buf);
		header_lines(p, out);
		return;
	}
	for (line = buf; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		tm_width__put(out, line, 0, tm_width__spaces(strncmp(line, "  ", 2) ? 4 : HEADER_VALUE_COL));
		fputc('\n', out);
	}
	free(buf);
}

static const char *const view_titles[] = {
	[TM_VIEW_PEAK] = "bytes live at the peak",
	[TM_VIEW_LEAKS] = "bytes still live at the end",
	[TM_VIEW_ALLOCS] = "bytes allocated",
	[TM_VIEW_TEMPORARY] = "bytes in temporary allocations",
};

/* The allocator, after the innermost frame: "  [calloc]". */
static void text_kind(char *buf, size_t len, const struct tm_site *s)
{
	char kinds[256];

	tm_report__row_kinds(s, kinds, sizeof(kinds));
	snprintf(buf, len, "  [%s]", kinds);
}

/*
 * The order a row's frames are printed in: innermost first, except that a
 * stack with a Python frame leads with the innermost one, the native frames
 * it called shown under it (marked by *under), then its callers.
 */
static uint32_t row_frame(const struct tm_profile *p, const struct tm_site *s, uint32_t k,
			  int *under)
{
	uint32_t lead;

	*under = 0;
	for (lead = 0; lead < s->nframes; lead++)
		if (p->frames[s->frames[lead]].kind == TM_FRAME_PYTHON)
			break;
	if (lead == 0 || lead == s->nframes || k > lead)
		return k;
	if (k == 0)
		return lead;
	*under = 1;
	return k - 1;
}

void tm_text__stack(FILE *out, const struct tm_profile *p, const struct tm_site *s,
		    const struct tm_report_opts *o, int indent)
{
	unsigned int shown = 0, hidden = 0, flags = o->flags;
	unsigned int depth = o->max_depth ? o->max_depth : 1 + TEXT_CALLERS;
	/* a frame's wrapped lines go on two columns in, under the frame */
	const char *cont = tm_width__spaces(indent + 4);
	const char *under_cont = tm_width__spaces(indent + 6);
	char kind[272];
	int col = indent, reserve, under;
	uint32_t k;

	text_kind(kind, sizeof(kind), s);
	reserve = (int)strlen(kind);
	for (k = 0; k < s->nframes; k++) {
		const struct tm_frame *f = &p->frames[s->frames[row_frame(p, s, k, &under)]];

		if (tm_report__frame_hidden(f, flags))
			continue;
		if (shown >= depth) {
			hidden++;
			continue;
		}
		if (shown == 1)
			tm_width__put(out, kind, col, cont);
		if (shown) {
			fprintf(out, "\n%*s  %s", indent, "", under ? "  " : "");
			col = indent + (under ? 4 : 2);
		}
		col = tm_width__frame(out, f, col, shown ? 0 : reserve, under ? under_cont : cont);
		shown++;
	}
	if (!shown)
		col += fprintf(out, "%s", flags & TM_REPORT_PYTHON_ONLY ? "(no Python frames)" : "(no stack)");
	if (shown <= 1)
		tm_width__put(out, kind, col, cont);
	if (hidden)
		fprintf(out, "\n%*s  ... %u more %s", indent, "", hidden,
			hidden == 1 ? "frame" : "frames");
	if (s->flags & (TM_STACK_NATIVE_TRUNCATED | TM_STACK_PY_TRUNCATED))
		fprintf(out, "\n%*s  ... (stack truncated at the capture depth)", indent, "");
	fputc('\n', out);
}

/*
 * When --filter or --min-bytes leave sites out, 100% is what they keep: say
 * so, with what the whole view holds, under the line that gives the total.
 */
static int text_base_note(const struct tm_profile *p, FILE *out, enum tm_report_view view,
			  const struct tm_report_opts *o)
{
	struct tm_report_opts sel = *o, all = *o;
	struct tm_ranking kept, whole;
	int filter = o->filter && *o->filter, err;
	char a[32], b[32], c[32], d[32];

	if (!o->min_bytes && !filter)
		return 0;
	sel.top_n = 0;
	all.top_n = 0;
	all.filter = NULL;
	all.min_bytes = 0;
	err = tm_report__rank(p, view, &sel, TM_RANK_BYTES, &kept);
	if (err)
		return err;
	free(kept.r);
	err = tm_report__rank(p, view, &all, TM_RANK_BYTES, &whole);
	if (err)
		return err;
	free(whole.r);
	if (kept.n == whole.n)
		return 0; /* nothing left out: the base is the view's */
	fputc('(', out);
	if (filter) {
		fputs("--filter '", out);
		tm_report__text_str_except(out, o->filter, "'");
		fputc('\'', out);
	}
	if (o->min_bytes) {
		tm_fmt__u64(a, sizeof(a), o->min_bytes);
		fprintf(out, "%s--min-bytes %s", filter ? " and " : "", a);
	}
	tm_fmt__u64(a, sizeof(a), kept.n);
	tm_fmt__u64(b, sizeof(b), whole.n);
	tm_fmt__u64(c, sizeof(c), kept.total);
	tm_fmt__u64(d, sizeof(d), whole.total);
	fprintf(out, " keep%s %s of the view's %s sites, %s of its %s bytes%s)\n", filter && o->min_bytes ? "" : "s", a,
		b, c, d, kept.n ? ": the percentages are of those" : "");
	return 0;
}

static int text_view(const struct tm_profile *p, FILE *out, enum tm_report_view view,
		     const struct tm_report_opts *o)
{
	char bytes[32], human[32], count[32], total[32];
	int wbytes = 5, whuman = 4, wcount = 5, indent;
	struct tm_ranking rk;
	unsigned int pm;
	size_t i;
	int err;

	err = tm_report__rank(p, view, o, TM_RANK_BYTES, &rk);
	if (err)
		return err;

	fputc('\n', out);
	if (!rk.n) {
		fprintf(out, "No allocation sites with %s.\n", view_titles[view]);
		err = text_base_note(p, out, view, o);
		goto out;
	}
	tm_fmt__human(total, sizeof(total), rk.total);
	if (rk.shown < rk.n)
		fprintf(out, "Top %zu of %zu allocation sites by %s (%s in all):\n",
			rk.shown, rk.n, view_titles[view], total);
	else
		fprintf(out, "%zu allocation %s by %s (%s in all):\n",
			rk.n, rk.n == 1 ? "site" : "sites", view_titles[view], total);
	err = text_base_note(p, out, view, o);
	if (err)
		goto out;
	fputc('\n', out);

	/* Columns as wide as their widest entry, so the stacks line up. */
	for (i = 0; i < rk.shown; i++) {
		tm_fmt__u64(bytes, sizeof(bytes), rk.r[i].bytes);
		tm_fmt__human(human, sizeof(human), rk.r[i].bytes);
		tm_fmt__u64(count, sizeof(count), rk.r[i].count);
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
		tm_fmt__u64(bytes, sizeof(bytes), rk.r[i].bytes);
		tm_fmt__human(human, sizeof(human), rk.r[i].bytes);
		tm_fmt__u64(count, sizeof(count), rk.r[i].count);
		pm = tm_fmt__permille(rk.r[i].bytes, rk.total);
		if (i)
			fputc('\n', out);
		fprintf(out, "%4zu  %*s  %*s  %3u.%u%%  %*s  ", i + 1, wbytes, bytes, whuman, human,
			pm / 10, pm % 10, wcount, count);
		tm_text__stack(out, p, rk.r[i].site, o, indent);
	}
out:
	free(rk.r);
	return err;
}

/* ------------------------------------------------------------------ */
/* text: the timeline                                                 */

#define CHART_COLS 64

/*
 * A column without a sample (-1) lies on the straight line between the
 * columns around it, as the flame graph page draws it; after the last
 * sample, the last value holds.
 */
static void fill_gaps(int64_t col[CHART_COLS])
{
	int k, prev = -1, next;

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
	char a[32], b[32], c[48];
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
	fill_gaps(col);
	tm_fmt__human(a, sizeof(a), top);
	tm_fmt__secs(b, sizeof(b), span);
	tm_fmt__human(c, sizeof(c), rss);
	fprintf(out, "\nLive heap over time (%zu samples; highest RSS sampled %s):\n", p->nsamples, c);
	fprintf(out, "  %10s |", a);
	for (k = 0; k < CHART_COLS; k++) {
		int level = 0;

		if (col[k] > 0 && top)
			level = 1 + (int)((uint64_t)col[k] * 7 / top);
		fputs(blocks[level > 8 ? 8 : level], out);
	}
	fputs("|\n", out);
	fprintf(out, "  %10s  0 s%*s%s\n", "", CHART_COLS - 3 - (int)strlen(b), "", b);
	if (peak_col < 0)
		return;
	/* The caret under the peak's column, its label on whichever side has room. */
	tm_fmt__secs(a, sizeof(a), p->peak_time_ns);
	snprintf(c, sizeof(c), "peak at %s", a);
	if (peak_col + 2 + (int)strlen(c) <= CHART_COLS + 1 || peak_col < (int)strlen(c) + 1)
		fprintf(out, "  %10s  %*s^ %s\n", "", peak_col, "", c);
	else
		fprintf(out, "  %10s  %*s%s ^\n", "", peak_col - (int)strlen(c) - 1, "", c);
}

/* ------------------------------------------------------------------ */
/* text: the call tree                                                */

#define TREE_DEPTH_DEFAULT 16
/* "%5u.%u%%  %10s  %9s  ": where a node's rules begin */
#define TREE_LABEL_COL 33

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

static int tree_child(const struct tm_profile *p, struct tree *t, uint32_t parent, uint32_t frame,
		      uint32_t *out)
{
	uint32_t c;
	struct tnode *nn;

	for (c = t->n[parent].child; c != NONE; c = t->n[c].next) {
		if (tm_report__same_label(&p->frames[t->n[c].frame], &p->frames[frame])) {
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

			if (!tm_report__frame_hidden(&p->frames[fi], o->flags))
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
	char a[32], b[32], cont[TREE_LABEL_COL + sizeof(tp->prefix) + 8];
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
		pm = tm_fmt__permille(k->bytes, tp->total);
		tm_fmt__human(a, sizeof(a), k->bytes);
		tm_fmt__u64(b, sizeof(b), k->count);
		fprintf(tp->out, "%5u.%u%%  %10s  %9s  %s%s", pm / 10, pm % 10, a, b, tp->prefix,
			last ? "\u2514\u2500 " : "\u251c\u2500 ");
		/* a wrapped label goes on under its own rules */
		snprintf(cont, sizeof(cont), "%*s%s%s", TREE_LABEL_COL, "", tp->prefix, last ? "     " : "\u2502    ");
		tm_width__frame(tp->out, &tp->p->frames[k->frame], TREE_LABEL_COL + tm_width__cols(tp->prefix) + 3,
				0, cont);
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
		pm = tm_fmt__permille(small_bytes, tp->total);
		tm_fmt__human(a, sizeof(a), small_bytes);
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
	tm_fmt__human(a, sizeof(a), tp.total);
	fprintf(out, "\nCall tree of %s, %s (%s = 100%%; nodes under %s merged):\n",
		view_titles[view], o->flags & TM_REPORT_INVERTED ?
		"allocating frames first (inverted)" : "callers above callees", a,
		o->min_bytes ? "--min-bytes" : "1%");
	err = text_base_note(p, out, view, o);
	if (err)
		goto out;
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
	struct tm_profile *rows = NULL;
	int err;

	err = tm_report__begin(p, out, o, &def, &o);
	err = err ?: tm_report__rows(p, o->flags, &rows);
	if (err)
		return err;
	tm_text__header(p, out);
	text_timeline(p, out);
	err = text_view(rows, out, o->view, o);
	if (!err && (o->flags & TM_REPORT_TREE))
		err = text_tree(rows, out, o->view, o);
	tm_report__rows_free(rows);
	if (err)
		return err;
	if (tm_procs__is_tree(p))
		tm_procs__table(p, out);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
