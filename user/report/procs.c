// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * procs.c: the processes of a traced tree (procs.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/fmt.h"
#include "report/json_writer.h"
#include "report/procs.h"
#include "report/width.h"

int tm_procs__is_tree(const struct tm_profile *p)
{
	return p->nprocs || p->tree.note || p->tree.nsamples;
}

static const char *ended(const struct tm_profile *p, char *buf, size_t len)
{
	if (p->execed)
		return "exec'd";
	if (p->has_signal)
		snprintf(buf, len, "signal %d", p->signal);
	else if (p->has_exit_code)
		snprintf(buf, len, "exit %d", p->exit_code);
	else
		snprintf(buf, len, "running");
	return buf;
}

/*
 * @s (a command line, a note: anything a process put there) escaped, from
 * column @col, within TM_TEXT_WIDTH: wrapped at its spaces under @cont
 * spaces. Then the end of the line.
 */
static void put_fitted(FILE *out, const char *s, int col, int cont)
{
	tm_width__put_str(out, s, col, tm_width__spaces(cont));
	fputc('\n', out);
}

/* Indented 4: never read as a ranked site row (those start within 3 columns). */
static void table_row(const struct tm_profile *p, FILE *out)
{
	char peak[32], live[32], how[32];
	int col;

	tm_fmt__human(peak, sizeof(peak), p->peak_bytes);
	tm_fmt__human_s64(live, sizeof(live), p->live_bytes_end);
	if (p->ppid)
		col = fprintf(out, "    %7d %7d ", p->pid, p->ppid);
	else
		col = fprintf(out, "    %7d %7s ", p->pid, "-");
	col += fprintf(out, "%10s %10s  %-9s ", peak, live, ended(p, how, sizeof(how)));
	put_fitted(out, p->command ? p->command : "(unknown command)", col, col);
}

void tm_procs__table(const struct tm_profile *p, FILE *out)
{
	size_t i;

	fprintf(out, "\nProcesses (%zu traced; tidemark report --pid PID shows one, --tree-total the tree):\n\n",
		1 + p->nprocs);
	fprintf(out, "    %7s %7s %10s %10s  %-9s %s\n", "pid", "ppid", "peak", "leaks", "ended", "command");
	table_row(p, out);
	for (i = 0; i < p->nprocs; i++)
		table_row(p->procs[i], out);
	if (p->tree.note)
		put_fitted(out, p->tree.note, fprintf(out, "Not fully followed: "), 4);
}

int tm_procs__text_total(const struct tm_profile *p, FILE *out)
{
	const struct tm_tree *t = &p->tree;
	const struct tm_profile *q;
	char a[32], b[32], *line = NULL;
	size_t i;

	if (asprintf(&line, "%s (pid %d, %zu processes)", p->command ? p->command : "(unknown command)", p->pid,
		     1 + p->nprocs) < 0)
		line = NULL;
	put_fitted(out, line ? line : "?", fprintf(out, "tidemark report: the tree of "), 4);
	free(line);
	tm_fmt__human(a, sizeof(a), t->peak_bytes);
	tm_fmt__u64(b, sizeof(b), t->peak_bytes);
	if (asprintf(&line, "%s (%s bytes) at %" PRIu64 ".%03" PRIu64 " s: the most its live heaps held at once, "
			    "sampled every %" PRIu64 " ms",
		     a, b, t->peak_time_ns / 1000000000, t->peak_time_ns / 1000000 % 1000, t->interval_ns / 1000000) < 0)
		line = NULL;
	put_fitted(out, line ? line : "?", fprintf(out, "  tree peak:    "), 16);
	free(line);
	fprintf(out, "\nHeld at the tree's peak (%zu processes holding anything):\n\n", t->nat_peak);
	fprintf(out, "    %7s %14s  %s\n", "pid", "bytes", "command");
	for (i = 0; i < t->nat_peak; i++) {
		q = tm_profile__find_pid(p, t->at_peak[i].pid);
		tm_fmt__s64(a, sizeof(a), t->at_peak[i].bytes);
		put_fitted(out, q && q->command ? q->command : "?", fprintf(out, "    %7d %14s  ", t->at_peak[i].pid, a),
			   4 + 7 + 1 + 14 + 2);
	}
	tm_procs__table(p, out);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}

static void json_tree(const struct tm_profile *p, FILE *out)
{
	const struct tm_tree *t = &p->tree;
	size_t i;

	fprintf(out, "  \"tree\": {\"processes\": %zu, \"peak_bytes\": %" PRIu64 ", \"peak_time_ns\": %" PRIu64 ", \"interval_ns\": %" PRIu64 ", \"note\": ",
		1 + p->nprocs, t->peak_bytes, t->peak_time_ns, t->interval_ns);
	tm_json__str(out, t->note);
	fputs(",\n           \"at_peak\": [", out);
	for (i = 0; i < t->nat_peak; i++)
		fprintf(out, "%s{\"pid\": %d, \"bytes\": %" PRId64 "}", i ? ", " : "", t->at_peak[i].pid,
			t->at_peak[i].bytes);
	fputs("],\n           \"time_ns\": [", out);
	for (i = 0; i < t->nsamples; i++)
		fprintf(out, "%s%" PRIu64, i ? ", " : "", t->samples[i].time_ns);
	fputs("],\n           \"heap_bytes\": [", out);
	for (i = 0; i < t->nsamples; i++)
		fprintf(out, "%s%" PRId64, i ? ", " : "", t->samples[i].heap_bytes);
	fputs("]},\n", out);
}

int tm_procs__json(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o,
		   int (*views)(const struct tm_profile *, FILE *, const struct tm_report_opts *))
{
	size_t i;
	int err;

	json_tree(p, out);
	fputs("  \"processes\": [", out);
	for (i = 0; i < p->nprocs; i++) {
		const struct tm_profile *q = p->procs[i];

		fputs(i ? ",\n    {\n" : "\n    {\n", out);
		fprintf(out, "      \"ppid\": %d, \"execed\": %s,\n", q->ppid, q->execed ? "true" : "false");
		tm_json__profile_header(out, q, 6);
		err = views(q, out, o);
		if (err)
			return err;
		fputs("\n    }", out);
	}
	fputs(p->nprocs ? "\n  ]" : "]", out);
	return 0;
}

/* Add src's counters to dst's of the same name (every profile has every known one). */
static int add_counters(struct tm_profile *dst, const struct tm_profile *src, int is_drop)
{
	const struct tm_counter *c = is_drop ? src->drops : src->stats, *d;
	size_t n = is_drop ? src->ndrops : src->nstats, nd, i, j;
	int err = 0;

	for (i = 0; !err && i < n; i++) {
		uint64_t v = c[i].value;

		d = is_drop ? dst->drops : dst->stats;
		nd = is_drop ? dst->ndrops : dst->nstats;
		for (j = 0; j < nd; j++)
			if (d[j].name && c[i].name && !strcmp(d[j].name, c[i].name))
				v += d[j].value;
		err = tm_profile__set_counter(dst, is_drop, c[i].name, v);
	}
	return err;
}

int tm_procs__merged(const struct tm_profile *p, struct tm_profile **out)
{
	struct tm_profile *m = tm_profile__new();
	const struct tm_profile *q;
	char name[300];
	size_t i;
	int err = 0;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->pid = p->pid;
	m->command = tm_profile__str(m, p->command);
	m->has_exit_code = p->has_exit_code;
	m->exit_code = p->exit_code;
	m->has_signal = p->has_signal;
	m->signal = p->signal;
	m->start_time_ns = p->start_time_ns;
	m->end_time_ns = p->end_time_ns;
	m->cgroup = tm_profile__str(m, p->cgroup);
	m->sample_bytes = p->sample_bytes;
	/* the tree's peak: the sites each show their own process's */
	m->peak_bytes = p->tree.peak_bytes;
	m->peak_time_ns = p->tree.peak_time_ns;
	for (i = 0; !err && i <= p->nprocs; i++) {
		struct tm_frame root = { .kind = TM_FRAME_PROCESS };

		q = i ? p->procs[i - 1] : p;
		snprintf(name, sizeof(name), "pid %d: %.256s", q->pid, q->command ? q->command : "?");
		root.function = name;
		root.line = (uint32_t)q->pid;
		m->live_bytes_end += q->live_bytes_end;
		m->alloc_bytes += q->alloc_bytes;
		m->alloc_count += q->alloc_count;
		m->free_count += q->free_count;
		for (size_t b = 0; b < TM_PROFILE_SIZE_BUCKETS; b++) {
			m->size_hist[b].count += q->size_hist[b].count;
			m->size_hist[b].bytes += q->size_hist[b].bytes;
		}
		err = tm_profile__merge_sites_under(m, q, &root);
		err = err ?: add_counters(m, q, 1);
		err = err ?: add_counters(m, q, 0);
	}
	if (err) {
		tm_profile__free(m);
		return err;
	}
	*out = m;
	return 0;
}
