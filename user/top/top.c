// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * top.c: `tidemark top` and the --live view of run and attach (see top.h).
 *
 * Every refresh reads each traced process's counters from the kernel's
 * procs table (one map lookup each) and its RSS from /proc; the process
 * view also builds the process's profile from the kernel's tables, as a
 * report would, and ranks it with report/view.c (growth is report/diff.c's
 * match against the profile taken when the view opened). What is shown is
 * one list of text lines: ncurses draws it, or it is printed as is when
 * stdout is not a terminal. A key redraws from the numbers already read;
 * only the refresh reads the kernel again.
 */
#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "profile/profile.h"
#include "report/diff.h"
#include "report/fmt.h"
#include "report/view.h"
#include "target/cgroup.h"
#include "target/proc.h"
#include "top/top.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"
#include "util/ptable.h"
#include "util/stop.h"

#define NS_PER_S         1000000000ull
#define GROWTH_WINDOW_NS (60 * NS_PER_S)
#define HIST             64 /* one point a second at most: a minute and some */
#define CG_LEN           256
#define LINE_LEN         512
#define MAX_KEY_SAMPLES  4096

struct tproc {
	pid_t pid;
	__u32 inc;
	char comm[64]; /* escaped: another process's name is not a terminal command */
	char cmd[LINE_LEN];
	char cgroup[CG_LEN];
	char container[CG_LEN];
	int64_t live;
	uint64_t peak, peak_time_ns, rss, drops;
	int64_t growth;
	uint64_t hist_t[HIST];
	int64_t hist_live[HIST];
	unsigned int hist_n, hist_head;
	uint64_t start_ns;
	int gone; /* exited: kept until the next refresh so its last numbers show once */
};

struct tcg {
	char path[CG_LEN];
	char container[CG_LEN];
	unsigned int nprocs;
	int64_t live, growth, peak; /* peak: of the sum as refreshes saw it (a lower bound) */
	uint64_t rss;
};

enum host_sort { SORT_LIVE,
		 SORT_PEAK,
		 SORT_RSS,
		 SORT_GROWTH,
		 SORT_PID,
		 SORT_NAME };
enum proc_view { PV_LIVE,
		 PV_ALLOCS,
		 PV_GROWTH,
		 PV__COUNT };
enum line_kind { L_TITLE,
		 L_HEAD,
		 L_ROW,
		 L_NOTE };

struct line {
	enum line_kind kind;
	int mark; /* a row to show in bold (the peak's largest part) */
	char s[LINE_LEN];
};

struct tm_top {
	struct tm_trace *t;
	int own_trace; /* tidemark top's own session (else run's or attach's) */
	int full;      /* allocator probes: stacks and exact heaps */
	const struct tm_top_opts *o;
	int curses; /* drawing with ncurses (else plain text) */
	SCREEN *scr;
	int saved_stderr; /* while ncurses draws, stderr goes to a memfd, shown at the end */
	uint64_t interval_ns, next_ns, start_ns;
	int paused, quit;

	struct tm_ptable procs; /* of struct tproc */
	struct tcg *cgs;
	size_t ncgs, capcgs;

	/* the host view */
	enum host_sort sort;
	int by_cgroup;
	pid_t cursor_pid;
	size_t cursor;        /* row index among the shown rows */
	char filter[64];      /* of processes (host view) or of frames (process view) */
	char host_filter[64]; /* the host view's, kept while a process is open */
	int editing;          /* typing the filter */
	char edit[64];

	/* the process view: pid, or 0 for the host view */
	pid_t open_pid;
	int live_only; /* run/attach --live: there is no host view */
	enum proc_view pview;
	unsigned int flags; /* enum tm_report_flags: TM_REPORT_PYTHON_ONLY */
	uint64_t opened_ns;
	struct tm_profile *base; /* at the opening: what growth is measured from */
	struct tm_profile *cur;
	int open_gone;

	struct line *lines;
	size_t nlines, caplines;
	size_t first_row, nrows; /* where the rows are among the lines */
	size_t scroll;

	uint64_t key_ns[MAX_KEY_SAMPLES];
	size_t nkeys;
};

void tm_top_opts__init(struct tm_top_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->interval = 1.0;
	o->trace.native_depth = TM_MAX_NATIVE;
	o->trace.max_stacks = 65536;
	o->trace.max_procs = 1024;
	o->trace.python = 1;
	o->trace.daemon = 1;
}

int tm_top_opts__check(struct tm_top_opts *o)
{
	if (!o->sel.npids && !o->sel.ncomms && !o->sel.ncgroups) {
		/* Host-wide: the daemon's lite mode; allocator probes on every process would trap every malloc. */
		o->trace.sel_flags = TM_SEL_ALL;
		o->trace.max_allocs = 1024;
		return 0;
	}
	o->trace.max_allocs = TM_DEFAULT_MAX_ALLOCS;
	o->trace.alloc_probes = 1;
	o->trace.max_allocs_per_proc = o->trace.max_allocs / 4;
	o->trace.max_stacks_per_proc = o->trace.max_stacks / 4;
	return 0;
}

/* ---- the numbers ------------------------------------------------------ */

static struct tproc *proc_find(struct tm_top *top, pid_t pid)
{
	return tm_ptable__find(&top->procs, pid);
}

static struct tproc *proc_at(const struct tm_top *top, size_t i)
{
	return tm_ptable__at(&top->procs, i);
}

/*
 * In place: s as the text report prints a string (control bytes and invalid
 * UTF-8 escaped). Names and command lines are other processes' choice;
 * written raw they could drive the terminal.
 */
static void escape(char *s, size_t len)
{
	char raw[LINE_LEN];
	FILE *f;

	snprintf(raw, sizeof(raw), "%s", s);
	f = fmemopen(s, len, "w");
	if (!f) {
		s[0] = 0;
		return;
	}
	tm_report__text_str(f, raw);
	fclose(f);
	s[len - 1] = 0;
}

static void read_names(struct tproc *p)
{
	tm_proc__comm(p->pid, p->comm, sizeof(p->comm));
	escape(p->comm, sizeof(p->comm));
	tm_proc__cmdline(p->pid, p->cmd, sizeof(p->cmd));
	escape(p->cmd, sizeof(p->cmd));
}

/* The pod's container, else the cgroup's last component, as a short name. */
static void container_name(const char *cgroup, char *out, size_t len)
{
	struct tm_container_ids ids;
	const char *slash;

	if (!tm_cgroup__container_ids(cgroup, &ids) && ids.container_id[0]) {
		snprintf(out, len, "%.12s", ids.container_id);
		return;
	}
	slash = strrchr(cgroup, '/');
	snprintf(out, len, "%s", slash && slash[1] ? slash + 1 : "-");
}

static struct tproc *proc_add(struct tm_top *top, pid_t pid, __u32 inc)
{
	struct tproc *p = proc_find(top, pid);

	if (p && p->inc == inc) {
		read_names(p); /* an exec: the same process under a new name; its history stays */
		return p;
	}
	if (p && top->own_trace)
		tm_trace__forget(top->t, pid, p->inc); /* an older incarnation we were not told had ended */
	p = tm_ptable__put(&top->procs, pid);
	if (!p)
		return NULL;
	p->inc = inc;
	p->start_ns = tm_now_ns();
	read_names(p);
	if (tm_cgroup__of_pid(pid, p->cgroup, sizeof(p->cgroup)))
		snprintf(p->cgroup, sizeof(p->cgroup), "?");
	container_name(p->cgroup, p->container, sizeof(p->container));
	escape(p->cgroup, sizeof(p->cgroup));
	escape(p->container, sizeof(p->container));
	return p;
}

/* The loader's notices (top's own session): processes picked at exec or fork, and exits. */
static void on_event(void *ctx, const struct tm_event *ev, const struct tm_proc *final)
{
	struct tm_top *top = ctx;
	struct tproc *p;

	switch (ev->type) {
	case TM_EV_EXEC:
	case TM_EV_FORK:
		proc_add(top, (pid_t)ev->tgid, (__u32)ev->arg);
		break;
	case TM_EV_EXIT:
		if (!final)
			break;
		p = proc_find(top, (pid_t)ev->tgid);
		if (p && p->inc == final->inc) {
			p->live = final->live_bytes;
			p->gone = 1;
		}
		tm_trace__forget(top->t, (pid_t)ev->tgid, final->inc);
		break;
	default:
		break;
	}
}

/* live now minus live at the oldest point of the last minute (or since it was first seen) */
static void note_history(struct tproc *p, uint64_t now)
{
	unsigned int i, oldest;
	uint64_t last = p->hist_n ? p->hist_t[(p->hist_head + HIST - 1) % HIST] : 0;

	if (!p->hist_n || now - last >= NS_PER_S) {
		p->hist_t[p->hist_head] = now;
		p->hist_live[p->hist_head] = p->live;
		p->hist_head = (p->hist_head + 1) % HIST;
		if (p->hist_n < HIST)
			p->hist_n++;
	}
	oldest = (p->hist_head + HIST - p->hist_n) % HIST;
	for (i = 0; i < p->hist_n; i++) {
		unsigned int k = (oldest + i) % HIST;

		if (now - p->hist_t[k] <= GROWTH_WINDOW_NS) {
			p->growth = p->live - p->hist_live[k];
			return;
		}
	}
	p->growth = 0;
}

static struct tcg *cg_get(struct tm_top *top, const struct tproc *p)
{
	size_t i;

	for (i = 0; i < top->ncgs; i++)
		if (!strcmp(top->cgs[i].path, p->cgroup))
			return &top->cgs[i];
	if (tm_grow(&top->cgs, top->ncgs, &top->capcgs, sizeof(top->cgs[0]), 32))
		return NULL;
	memset(&top->cgs[top->ncgs], 0, sizeof(top->cgs[0]));
	snprintf(top->cgs[top->ncgs].path, CG_LEN, "%s", p->cgroup);
	snprintf(top->cgs[top->ncgs].container, CG_LEN, "%s", p->container);
	return &top->cgs[top->ncgs++];
}

static struct tm_profile *build_profile(struct tm_top *top, const struct tproc *p)
{
	struct tm_profile *prof = tm_profile__new();
	struct tm_profile_process pi = {
		.pid = p->pid,
		.command = p->cmd[0] ? p->cmd : p->comm,
		.cgroup = p->cgroup,
		.start_ns = p->start_ns,
		.end_ns = tm_now_ns(),
	};

	if (!prof)
		return NULL;
	if (tm_profile__set_process(prof, &pi) || tm_trace__build_profile(top->t, p->pid, prof)) {
		tm_profile__free(prof);
		return NULL;
	}
	return prof;
}

/* Read every process's counters (and the open one's profile) from the kernel. */
static void collect(struct tm_top *top)
{
	uint64_t now = tm_now_ns();
	size_t i = 0, k;

	while (i < top->procs.n) {
		struct tproc *p = proc_at(top, i);
		struct tm_proc kp;

		if (top->live_only) {
			/* run's child is counted from its exec, under the incarnation it gets then */
			if (tm_trace__proc(top->t, p->pid, &kp)) {
				i++;
				continue;
			}
			if (!kp.exit_time_ns)
				read_names(p); /* run's child: its exec's name */
			p->inc = kp.inc;
			top->open_gone = kp.exit_time_ns != 0;
		} else if (p->gone || tm_trace__proc(top->t, p->pid, &kp) || kp.inc != p->inc) {
			if (p->pid == top->open_pid)
				top->open_gone = 1;
			tm_ptable__remove(&top->procs, p);
			continue;
		}
		p->live = kp.live_bytes;
		p->peak = kp.peak_bytes;
		p->peak_time_ns = kp.peak_time_ns;
		p->rss = tm_proc__rss(p->pid);
		p->drops = 0;
		for (k = 0; k < TM_DROP__COUNT; k++)
			p->drops += kp.drops[k];
		note_history(p, now);
		i++;
	}
	/* cgroups: sums of their processes now */
	for (k = 0; k < top->ncgs; k++) {
		top->cgs[k].nprocs = 0;
		top->cgs[k].live = top->cgs[k].growth = 0;
		top->cgs[k].rss = 0;
	}
	for (i = 0; i < top->procs.n; i++) {
		const struct tproc *p = proc_at(top, i);
		struct tcg *c = cg_get(top, p);

		if (!c)
			continue;
		c->nprocs++;
		c->live += p->live;
		c->growth += p->growth;
		c->rss += p->rss;
	}
	k = 0;
	while (k < top->ncgs) {
		if (!top->cgs[k].nprocs) {
			top->cgs[k] = top->cgs[--top->ncgs];
			continue;
		}
		if (top->cgs[k].live > top->cgs[k].peak)
			top->cgs[k].peak = top->cgs[k].live;
		k++;
	}
	if (top->open_pid && !top->open_gone) {
		struct tproc *p = proc_find(top, top->open_pid);
		struct tm_profile *prof = p ? build_profile(top, p) : NULL;

		if (prof) {
			tm_profile__free(top->cur);
			top->cur = prof;
			/* run's child has no profile before its exec: growth counts from its first */
			if (!top->base)
				top->base = build_profile(top, p);
		}
	}
}

/* ---- the lines -------------------------------------------------------- */

static struct line *add_line(struct tm_top *top, enum line_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct line *add_line(struct tm_top *top, enum line_kind kind, const char *fmt, ...)
{
	struct line *l;
	va_list ap;

	if (tm_grow(&top->lines, top->nlines, &top->caplines, sizeof(*l), 128))
		return NULL;
	l = &top->lines[top->nlines++];
	l->kind = kind;
	l->mark = 0;
	va_start(ap, fmt);
	vsnprintf(l->s, sizeof(l->s), fmt, ap);
	va_end(ap);
	return l;
}

/* Bytes as people read them on a terminal; exact in plain text (for scripts). */
static void fmt_bytes(const struct tm_top *top, char *buf, size_t len, int64_t v)
{
	if (top->curses)
		tm_fmt__human_s64(buf, len, v);
	else
		snprintf(buf, len, "%" PRId64, v);
}

static void fmt_growth(const struct tm_top *top, char *buf, size_t len, int64_t v)
{
	char tmp[24];

	fmt_bytes(top, tmp, sizeof(tmp), v < 0 ? -v : v);
	snprintf(buf, len, "%s%s", v > 0 ? "+" : v < 0 ? "-"
						       : "",
		 tmp);
}

static int64_t sort_value(const struct tm_top *top, int64_t live, int64_t peak, int64_t rss, int64_t growth)
{
	switch (top->sort) {
	case SORT_PEAK:
		return peak;
	case SORT_RSS:
		return rss;
	case SORT_GROWTH:
		return growth;
	default:
		return live;
	}
}

static int cmp_proc(const void *a, const void *b, void *arg)
{
	const struct tproc *x = *(const struct tproc *const *)a, *y = *(const struct tproc *const *)b;
	const struct tm_top *sort_top = arg;
	int64_t vx, vy;
	int c;

	if (sort_top->sort == SORT_PID)
		return (x->pid > y->pid) - (x->pid < y->pid);
	if (sort_top->sort == SORT_NAME) {
		c = strcmp(x->comm, y->comm);
		return c ? c : (x->pid > y->pid) - (x->pid < y->pid);
	}
	vx = sort_value(sort_top, x->live, (int64_t)x->peak, (int64_t)x->rss, x->growth);
	vy = sort_value(sort_top, y->live, (int64_t)y->peak, (int64_t)y->rss, y->growth);
	if (vx != vy)
		return vx < vy ? 1 : -1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int cmp_cg(const void *a, const void *b, void *arg)
{
	const struct tcg *x = *(const struct tcg *const *)a, *y = *(const struct tcg *const *)b;
	const struct tm_top *sort_top = arg;
	int64_t vx, vy;

	if (sort_top->sort == SORT_PID || sort_top->sort == SORT_NAME)
		return strcmp(x->path, y->path);
	vx = sort_value(sort_top, x->live, x->peak, (int64_t)x->rss, x->growth);
	vy = sort_value(sort_top, y->live, y->peak, (int64_t)y->rss, y->growth);
	if (vx != vy)
		return vx < vy ? 1 : -1;
	return strcmp(x->path, y->path);
}

static int proc_passes(const struct tm_top *top, const struct tproc *p)
{
	char pid[16];

	if (!top->filter[0])
		return 1;
	snprintf(pid, sizeof(pid), "%d", (int)p->pid);
	return strstr(p->comm, top->filter) || strstr(p->cmd, top->filter) || strstr(p->cgroup, top->filter) ||
	       !strcmp(pid, top->filter);
}

static const char *const sort_names[] = { "live", "peak", "rss", "growth", "pid", "name" };
static const char *const pview_names[] = { "live now", "allocated", "growth since opened" };

static void host_lines(struct tm_top *top)
{
	const struct tproc **rows = NULL;
	const struct tcg **cgs = NULL;
	char live[32], peak[32], rss[32], growth[32];
	size_t i, n = 0, ndrops = 0;
	int64_t total = 0;

	for (i = 0; i < top->procs.n; i++) {
		total += proc_at(top, i)->live;
		ndrops += proc_at(top, i)->drops != 0;
	}
	fmt_bytes(top, live, sizeof(live), total);
	/* 80 columns: the mode in a word (the man page says what lite counts) */
	add_line(top, L_TITLE, "tidemark top: %zu proc%s, live %s, %s, %.1f s, sort %s%s%s%s", top->procs.n,
		 top->procs.n == 1 ? "" : "s", live, top->full ? "full" : "lite",
		 top->interval_ns / 1e9, sort_names[top->sort], top->paused ? ", PAUSED" : "",
		 top->filter[0] ? ", filter " : "", top->filter);
	if (ndrops)
		add_line(top, L_NOTE, "%zu process%s lost events (full tables): their numbers are lower bounds", ndrops,
			 ndrops == 1 ? "" : "es");
	if (top->by_cgroup) {
		cgs = calloc(top->ncgs + 1, sizeof(*cgs));
		if (!cgs)
			return;
		for (i = 0; i < top->ncgs; i++)
			if (!top->filter[0] || strstr(top->cgs[i].path, top->filter))
				cgs[n++] = &top->cgs[i];
		qsort_r(cgs, n, sizeof(*cgs), cmp_cg, top);
		add_line(top, L_HEAD, "%-22s %5s %10s %10s %10s %10s  %s", "CONTAINER", "PROCS", "LIVE", "PEAK", "RSS",
			 "GROWTH/1m", "CGROUP");
		top->first_row = top->nlines;
		for (i = 0; i < n; i++) {
			fmt_bytes(top, live, sizeof(live), cgs[i]->live);
			fmt_bytes(top, peak, sizeof(peak), cgs[i]->peak);
			fmt_bytes(top, rss, sizeof(rss), (int64_t)cgs[i]->rss);
			fmt_growth(top, growth, sizeof(growth), cgs[i]->growth);
			add_line(top, L_ROW, "%-22.22s %5u %10s %10s %10s %10s  %s", cgs[i]->container, cgs[i]->nprocs,
				 live, peak, rss, growth, cgs[i]->path);
		}
		top->nrows = n;
		free(cgs);
		return;
	}
	rows = calloc(top->procs.n + 1, sizeof(*rows));
	if (!rows)
		return;
	for (i = 0; i < top->procs.n; i++)
		if (proc_passes(top, proc_at(top, i)))
			rows[n++] = proc_at(top, i);
	qsort_r(rows, n, sizeof(*rows), cmp_proc, top);
	add_line(top, L_HEAD, "%7s %-15s %-11s %10s %10s %10s %10s  %s", "PID", "COMMAND", "CONTAINER", "LIVE", "PEAK",
		 "RSS", "GROWTH/1m", "CMDLINE");
	top->first_row = top->nlines;
	for (i = 0; i < n; i++) {
		fmt_bytes(top, live, sizeof(live), rows[i]->live);
		fmt_bytes(top, peak, sizeof(peak), (int64_t)rows[i]->peak);
		fmt_bytes(top, rss, sizeof(rss), (int64_t)rows[i]->rss);
		fmt_growth(top, growth, sizeof(growth), rows[i]->growth);
		add_line(top, L_ROW, "%7d %-15.15s %-11.11s %10s %10s %10s %10s  %s", (int)rows[i]->pid,
			 rows[i]->comm, rows[i]->container, live, peak, rss, growth, rows[i]->cmd);
		if (rows[i]->pid == top->cursor_pid)
			top->cursor = i;
	}
	top->nrows = n;
	if (top->cursor >= n)
		top->cursor = n ? n - 1 : 0;
	if (n)
		top->cursor_pid = rows[top->cursor]->pid;
	free(rows);
}

/* The site's first frame the view shows (innermost), as the text report prints it. */
static void site_label(const struct tm_top *top, const struct tm_profile *p, const struct tm_site *s, char *buf,
		       size_t len)
{
	FILE *f = fmemopen(buf, len, "w");
	uint32_t i;

	buf[0] = 0;
	if (!f)
		return;
	for (i = 0; i < s->nframes; i++) {
		const struct tm_frame *fr = &p->frames[s->frames[i]];

		if (!tm_report__frame_hidden(fr, top->flags)) {
			tm_report__text_frame(f, fr);
			break;
		}
	}
	if (i == s->nframes)
		fputs("(no frame shown)", f);
	fclose(f);
	buf[len - 1] = 0;
}

static void proc_lines(struct tm_top *top)
{
	struct tproc *p = proc_find(top, top->open_pid);
	struct tm_report_opts ro = { .view = TM_VIEW_LEAKS, .flags = top->flags, .filter = top->filter[0] ? top->filter : NULL };
	char live[32], peak[32], rss[32], b1[32], b2[32], label[LINE_LEN];
	const struct tm_profile *cur = top->cur;
	size_t i, n = 0;
	uint64_t now;

	if (!p) {
		add_line(top, L_TITLE, "tidemark top: pid %d has exited", (int)top->open_pid);
		top->first_row = top->nlines;
		top->nrows = 0;
		return;
	}
	fmt_bytes(top, live, sizeof(live), p->live);
	fmt_bytes(top, peak, sizeof(peak), (int64_t)p->peak);
	fmt_bytes(top, rss, sizeof(rss), (int64_t)p->rss);
	now = tm_now_ns();
	add_line(top, L_TITLE, "pid %d %s%s: live %s, peak %s %.0f s ago, rss %s", (int)p->pid, p->comm,
		 top->open_gone ? " (exited)" : "", live, peak,
		 p->peak_time_ns && now > p->peak_time_ns ? (now - p->peak_time_ns) / 1e9 : 0.0, rss);
	add_line(top, L_TITLE, "by %s (%.0f s), frames %s%s%s%s%s", pview_names[top->pview],
		 (tm_now_ns() - top->opened_ns) / 1e9,
		 top->flags & TM_REPORT_PYTHON_ONLY ? "python-only" : "hybrid", top->paused ? ", PAUSED" : "",
		 top->filter[0] ? ", filter " : "", top->filter, top->full ? "" : ", lite: mmap/brk stacks");
	if (p->drops)
		add_line(top, L_NOTE, "%" PRIu64 " events lost (full tables): numbers are lower bounds", p->drops);
	if (!cur) {
		add_line(top, L_NOTE, "no profile yet");
		top->first_row = top->nlines;
		top->nrows = 0;
		return;
	}
	if (top->pview == PV_GROWTH) {
		struct tm_diff_row *rows = NULL;

		add_line(top, L_HEAD, "%10s %10s  %s", "GROWTH", "LIVE", "TOP FRAME");
		top->first_row = top->nlines;
		if (top->base && !tm_diff__rows(top->base, cur, &ro, &rows, &n)) {
			size_t shown = 0;

			for (i = 0; i < n; i++) {
				if (!rows[i].delta)
					continue; /* what did not change is not growth */
				shown++;
				fmt_growth(top, b1, sizeof(b1), rows[i].delta);
				fmt_bytes(top, b2, sizeof(b2), (int64_t)rows[i].after_bytes);
				site_label(top, rows[i].after ? cur : top->base, rows[i].after ? rows[i].after : rows[i].before,
					   label, sizeof(label));
				add_line(top, L_ROW, "%10s %10s  %s", b1, b2, label);
			}
			free(rows);
			n = shown;
		}
	} else {
		struct tm_ranking rk = { 0 };
		int64_t max_peak = 0;

		ro.view = top->pview == PV_LIVE ? TM_VIEW_LEAKS : TM_VIEW_ALLOCS;
		if (top->pview == PV_LIVE)
			add_line(top, L_HEAD, "%10s %8s %10s  %s", "LIVE", "BLOCKS", "AT PEAK", "TOP FRAME (bold: most at the peak)");
		else
			add_line(top, L_HEAD, "%10s %8s  %s", "ALLOCATED", "CALLS", "TOP FRAME");
		top->first_row = top->nlines;
		if (!tm_report__rank(cur, ro.view, &ro, TM_RANK_BYTES, &rk)) {
			for (i = 0; i < rk.n; i++)
				if (rk.r[i].site->peak_bytes > max_peak)
					max_peak = rk.r[i].site->peak_bytes;
			for (i = 0; i < rk.n; i++) {
				const struct tm_site *s = rk.r[i].site;
				struct line *l;

				fmt_bytes(top, b1, sizeof(b1), (int64_t)rk.r[i].bytes);
				site_label(top, cur, s, label, sizeof(label));
				if (top->pview == PV_LIVE) {
					fmt_bytes(top, b2, sizeof(b2), s->peak_bytes > 0 ? s->peak_bytes : 0);
					l = add_line(top, L_ROW, "%10s %8" PRIu64 " %10s %s %s", b1, rk.r[i].count, b2,
						     max_peak && s->peak_bytes == max_peak ? "^" : " ", label);
					if (l && max_peak && s->peak_bytes == max_peak)
						l->mark = 1;
				} else {
					add_line(top, L_ROW, "%10s %8" PRIu64 "  %s", b1, rk.r[i].count, label);
				}
			}
			n = rk.n;
			free(rk.r);
		}
	}
	top->nrows = n;
	if (top->cursor >= n)
		top->cursor = n ? n - 1 : 0;
}

static void build_lines(struct tm_top *top)
{
	top->nlines = 0;
	top->nrows = 0;
	if (top->open_pid)
		proc_lines(top);
	else
		host_lines(top);
}

static const char *footer(const struct tm_top *top)
{
	if (top->editing)
		return "filter: type text, Enter apply, Esc cancel";
	if (top->open_pid)
		return top->live_only ? "v view  y python/hybrid  / filter  space pause  +/- rate  q leave" : "v view  y python/hybrid  / filter  space pause  +/- rate  Esc back  q quit";
	return "l p r g n m sort  Enter open  c cgroup  / filter  spc pause  +/- rate  q quit";
}

/* ---- drawing ---------------------------------------------------------- */

static void draw_curses(struct tm_top *top)
{
	int rows = LINES, cols = COLS, y = 0, body;
	size_t i, head = top->first_row, cursor_line;

	erase();
	for (i = 0; i < head && y < rows - 1; i++, y++) {
		int attr = top->lines[i].kind == L_HEAD ? A_REVERSE : top->lines[i].kind == L_TITLE ? A_BOLD
												    : 0;

		attron(attr);
		mvaddnstr(y, 0, top->lines[i].s, cols);
		if (top->lines[i].kind == L_HEAD)
			for (int x = (int)strlen(top->lines[i].s); x < cols; x++)
				mvaddch(y, x, ' ');
		attroff(attr);
	}
	body = rows - 1 - y;
	if (body < 1)
		body = 1;
	/* keep the cursor's row on screen */
	if (top->cursor < top->scroll)
		top->scroll = top->cursor;
	if (top->cursor >= top->scroll + (size_t)body)
		top->scroll = top->cursor - (size_t)body + 1;
	cursor_line = head + top->cursor;
	for (i = head + top->scroll; i < top->nlines && y < rows - 1; i++, y++) {
		int attr = (i == cursor_line && !top->open_pid) ? A_REVERSE : top->lines[i].mark ? A_BOLD
												 : 0;

		attron(attr);
		mvaddnstr(y, 0, top->lines[i].s, cols);
		attroff(attr);
	}
	if (top->editing) {
		char buf[96];

		snprintf(buf, sizeof(buf), "/%s", top->edit);
		mvaddnstr(rows - 1, 0, buf, cols);
	} else {
		attron(A_REVERSE);
		mvaddnstr(rows - 1, 0, footer(top), cols - 1);
		attroff(A_REVERSE);
	}
	refresh();
}

static void print_plain(struct tm_top *top)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tmv;
	size_t i;

	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tmv));
	printf("# %s\n", when);
	for (i = 0; i < top->nlines; i++)
		printf("%s\n", top->lines[i].s);
	putchar('\n');
	fflush(stdout);
}

static void redraw(struct tm_top *top)
{
	build_lines(top);
	if (top->curses)
		draw_curses(top);
	else
		print_plain(top);
}

/* ---- keys ------------------------------------------------------------- */

static void open_proc(struct tm_top *top, pid_t pid)
{
	struct tproc *p = proc_find(top, pid);

	if (!p)
		return;
	snprintf(top->host_filter, sizeof(top->host_filter), "%s", top->filter);
	top->filter[0] = 0;
	top->open_pid = pid;
	top->open_gone = 0;
	top->pview = PV_LIVE;
	top->cursor = top->scroll = 0;
	top->opened_ns = tm_now_ns();
	tm_profile__free(top->base);
	tm_profile__free(top->cur);
	top->base = build_profile(top, p);
	top->cur = build_profile(top, p);
}

static void close_proc(struct tm_top *top)
{
	tm_profile__free(top->base);
	tm_profile__free(top->cur);
	top->base = top->cur = NULL;
	top->open_pid = 0;
	snprintf(top->filter, sizeof(top->filter), "%s", top->host_filter);
	top->cursor = top->scroll = 0;
}

static void set_interval(struct tm_top *top, double s)
{
	if (s < 0.1)
		s = 0.1;
	if (s > 60)
		s = 60;
	top->interval_ns = (uint64_t)(s * 1e9);
	top->next_ns = tm_now_ns() + top->interval_ns;
}

static int is_move_key(int ch)
{
	return ch == KEY_UP || ch == KEY_DOWN || ch == 'j' || ch == 'k' || ch == KEY_PPAGE || ch == KEY_NPAGE;
}

/* One key; 1 when the screen changes. */
static int handle_key(struct tm_top *top, int ch)
{
	size_t len;

	if (top->editing) {
		len = strlen(top->edit);
		if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
			snprintf(top->filter, sizeof(top->filter), "%s", top->edit);
			top->editing = 0;
			top->cursor = top->scroll = 0;
		} else if (ch == 27) {
			top->editing = 0;
		} else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len) {
			top->edit[len - 1] = 0;
		} else if (ch >= 32 && ch < 127 && len + 1 < sizeof(top->edit)) {
			top->edit[len] = (char)ch;
			top->edit[len + 1] = 0;
		}
		return 1;
	}
	switch (ch) {
	case 'q':
	case 'Q':
		top->quit = 1;
		return 0;
	case '/':
		top->editing = 1;
		snprintf(top->edit, sizeof(top->edit), "%s", top->filter);
		return 1;
	case ' ':
		top->paused = !top->paused;
		return 1;
	case '+':
		set_interval(top, top->interval_ns / 1e9 * 2);
		return 1;
	case '-':
		set_interval(top, top->interval_ns / 1e9 / 2);
		return 1;
	case KEY_UP:
	case 'k':
		if (top->cursor)
			top->cursor--;
		break;
	case KEY_DOWN:
	case 'j':
		if (top->cursor + 1 < top->nrows)
			top->cursor++;
		break;
	case KEY_PPAGE:
		top->cursor = top->cursor > (size_t)LINES ? top->cursor - (size_t)LINES : 0;
		break;
	case KEY_NPAGE:
		top->cursor = top->nrows ? (top->cursor + (size_t)LINES < top->nrows ? top->cursor + (size_t)LINES : top->nrows - 1) : 0;
		break;
	case KEY_RESIZE:
		return 1;
	default:
		break;
	}
	if (top->cursor_pid && !top->open_pid && is_move_key(ch))
		top->cursor_pid = 0; /* host_lines follows the index and names the new pid */
	if (top->open_pid) {
		switch (ch) {
		case 'v':
		case '\t':
			top->pview = (top->pview + 1) % PV__COUNT;
			top->cursor = top->scroll = 0;
			return 1;
		case '1':
		case '2':
		case '3':
			top->pview = (enum proc_view)(ch - '1');
			return 1;
		case 'y':
			top->flags ^= TM_REPORT_PYTHON_ONLY;
			return 1;
		case 27:
		case KEY_BACKSPACE:
		case KEY_LEFT:
		case 127:
			if (!top->live_only)
				close_proc(top);
			return 1;
		default:
			return is_move_key(ch);
		}
	}
	switch (ch) {
	case 'l':
	case 'p':
	case 'r':
	case 'g':
	case 'n':
	case 'm':
		top->sort = ch == 'l' ? SORT_LIVE : ch == 'p' ? SORT_PEAK
					    : ch == 'r'       ? SORT_RSS
					    : ch == 'g'       ? SORT_GROWTH
					    : ch == 'n'       ? SORT_PID
							      : SORT_NAME;
		return 1;
	case 'c':
		top->by_cgroup = !top->by_cgroup;
		top->cursor = top->scroll = 0;
		return 1;
	case '\n':
	case '\r':
	case KEY_ENTER:
	case KEY_RIGHT:
		if (!top->by_cgroup && top->nrows) {
			/* the row under the cursor, as last drawn */
			build_lines(top);
			if (top->cursor_pid)
				open_proc(top, top->cursor_pid);
		}
		return 1;
	default:
		return is_move_key(ch);
	}
}

/* Every key waiting; redraw once if any changed the screen. */
static void read_keys(struct tm_top *top)
{
	uint64_t t0 = 0;
	int ch, changed = 0;

	while ((ch = getch()) != ERR) {
		if (!t0)
			t0 = tm_now_ns();
		changed |= handle_key(top, ch);
		if (top->quit)
			return;
	}
	if (changed) {
		redraw(top);
		if (top->nkeys < MAX_KEY_SAMPLES)
			top->key_ns[top->nkeys++] = tm_now_ns() - t0;
	}
}

/* Due: read the kernel (unless paused) and show it. */
static void tick_refresh(struct tm_top *top)
{
	uint64_t now = tm_now_ns();

	if (now < top->next_ns)
		return;
	top->next_ns = now + top->interval_ns;
	if (!top->paused)
		collect(top);
	/* run --live: CMD writes to the same terminal; repaint all of it */
	if (top->curses && top->live_only)
		clearok(curscr, TRUE);
	if (!top->paused || top->curses)
		redraw(top);
}

/* ---- the terminal ----------------------------------------------------- */

/*
 * What tidemark says on stderr while the screen is drawn would land in the
 * middle of it: it is kept, and printed once the terminal is given back.
 */
static void hold_stderr(struct tm_top *top)
{
	int fd = memfd_create("tidemark-top-stderr", MFD_CLOEXEC);

	top->saved_stderr = -1;
	if (fd < 0)
		return;
	fflush(stderr);
	top->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	if (top->saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0) {
		if (top->saved_stderr >= 0)
			close(top->saved_stderr);
		top->saved_stderr = -1;
	}
	close(fd);
}

static void release_stderr(struct tm_top *top)
{
	char buf[4096];
	ssize_t n;
	int held;

	if (top->saved_stderr < 0)
		return;
	fflush(stderr);
	held = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	dup2(top->saved_stderr, STDERR_FILENO);
	close(top->saved_stderr);
	top->saved_stderr = -1;
	if (held < 0)
		return;
	lseek(held, 0, SEEK_SET);
	while ((n = read(held, buf, sizeof(buf))) > 0)
		if (write(STDERR_FILENO, buf, (size_t)n) != n)
			break;
	close(held);
}

static int start_curses(struct tm_top *top)
{
	top->scr = newterm(NULL, stdout, stdin);
	if (!top->scr) {
		pr_warn("tidemark top: cannot drive this terminal (TERM=%s): set TERM, or pipe the output for plain text\n",
			getenv("TERM") ? getenv("TERM") : "");
		return -ENOTTY;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	top->curses = 1;
	hold_stderr(top);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void stop_curses(struct tm_top *top)
{
	if (!top->curses)
		return;
	endwin();
	delscreen(top->scr);
	top->curses = 0;
	release_stderr(top);
	if (top->nkeys) {
		qsort(top->key_ns, top->nkeys, sizeof(top->key_ns[0]), cmp_u64);
		pr_debug("tidemark top: %zu redraws after keys: median %.3f ms, max %.3f ms (key read to screen written)\n",
			 top->nkeys, top->key_ns[top->nkeys / 2] / 1e6, top->key_ns[top->nkeys - 1] / 1e6);
	}
}

static void top_free(struct tm_top *top)
{
	if (!top)
		return;
	stop_curses(top);
	tm_profile__free(top->base);
	tm_profile__free(top->cur);
	tm_ptable__free(&top->procs);
	free(top->cgs);
	free(top->lines);
	free(top);
}

/* ---- tidemark top's own session ------------------------------------- */

/*
 * The selectors in the kernel (processes that start later), and the
 * processes running now that they select.
 */
static int select_running(struct tm_top *top)
{
	const struct tm_top_opts *o = top->o;
	struct tm_selection s;
	pid_t self = getpid();
	struct dirent *de;
	unsigned int i;
	DIR *dir;
	int err;

	err = tm_selection__load(&s, top->t, &o->sel, o->trace.sel_flags, "tidemark top");
	if (err)
		goto out;
	for (i = 0; i < o->sel.npids; i++) {
		__u32 inc;

		err = tm_trace__watch(top->t, o->sel.pids[i], 0);
		if (err) {
			pr_warn("tidemark top: pid %d: cannot trace it: %s\n", (int)o->sel.pids[i], strerror(-err));
			goto out;
		}
		if (tm_trace__watching(top->t, o->sel.pids[i], &inc))
			proc_add(top, o->sel.pids[i], inc);
	}
	if (!(o->trace.sel_flags & (TM_SEL_ALL | TM_SEL_COMM | TM_SEL_CGROUP)))
		goto out;
	dir = opendir("/proc");
	if (!dir) {
		err = -errno;
		goto out;
	}
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		__u32 inc;

		if (*end || pid <= 0 || pid == self || proc_find(top, (pid_t)pid))
			continue;
		if (!tm_selection__matches(&s, (pid_t)pid) || tm_trace__watch(top->t, (pid_t)pid, 0))
			continue; /* gone, or no room */
		if (tm_trace__watching(top->t, (pid_t)pid, &inc))
			proc_add(top, (pid_t)pid, inc);
	}
	closedir(dir);
out:
	tm_selection__free(&s);
	return err;
}

int tm_top__run(const struct tm_top_opts *o)
{
	struct tm_top *top = calloc(1, sizeof(*top));
	const char *later = "";
	int rc = 1;

	if (!top)
		return 1;
	top->procs = TM_PTABLE_INIT(struct tproc);
	top->o = o;
	top->own_trace = 1;
	top->full = o->trace.alloc_probes;
	tm_stop__on(SIGINT);
	tm_stop__on(SIGTERM);
	tm_stop__on(SIGHUP);
	if (tm_trace__open(&top->t, &o->trace))
		goto out;
	tm_trace__print_verifier_stats(top->t);
	tm_trace__set_event_cb(top->t, on_event, top);
	if (select_running(top))
		goto out;
	if (o->trace.sel_flags & TM_SEL_ALL)
		later = " and every one that starts";
	else if (o->trace.sel_flags)
		later = " and the selected ones that start";
	pr_info("tidemark top: tracing %zu process%s%s (mode %s)\n", top->procs.n, top->procs.n == 1 ? "" : "es", later,
		top->full ? "full" : "lite");
	if (!o->plain && !o->once && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) && start_curses(top))
		goto out;
	top->start_ns = tm_now_ns();
	set_interval(top, o->interval);
	collect(top);
	if (o->sel.npids)
		open_proc(top, o->sel.pids[0]);
	if (top->curses)
		redraw(top);
	while (!tm_stop__requested() && !top->quit) {
		struct pollfd fds[2] = {
			{ .fd = tm_trace__fd(top->t), .events = POLLIN },
			{ .fd = top->curses ? STDIN_FILENO : -1, .events = POLLIN },
		};
		uint64_t now = tm_now_ns();
		int wait_ms = top->next_ns > now ? (int)((top->next_ns - now + 999999) / 1000000) : 0;

		if (poll(fds, 2, wait_ms > 1000 ? 1000 : wait_ms) < 0 && errno != EINTR)
			break;
		tm_trace__poll(top->t, 0);
		if (top->curses)
			read_keys(top);
		if (top->quit)
			break;
		if (tm_now_ns() >= top->next_ns) {
			tick_refresh(top);
			if (o->once)
				break;
		}
		if (tm_trace__reap_pending(top->t))
			tm_trace__reap(top->t);
	}
	rc = 0;
out:
	stop_curses(top);
	/* every probe and link goes with the session: the processes run on as before */
	tm_trace__destroy(top->t);
	top_free(top);
	return rc;
}

/* ---- run --live, attach --live --------------------------------------- */

int tm_top__live_open(struct tm_top **out, struct tm_trace *t, pid_t pid, const char *command, double interval)
{
	struct tm_top *top;
	struct tproc *p;
	__u32 inc = 0;
	int err;

	*out = NULL;
	if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
		pr_warn("tidemark: --live needs a terminal on stdin and stdout: tracing without the view\n");
		return -ENOTTY;
	}
	top = calloc(1, sizeof(*top));
	if (!top)
		return -ENOMEM;
	top->procs = TM_PTABLE_INIT(struct tproc);
	top->t = t;
	top->full = 1;
	top->live_only = 1;
	tm_trace__watching(t, pid, &inc);
	p = proc_add(top, pid, inc);
	if (!p) {
		free(top);
		return -ENOMEM;
	}
	if (command) {
		snprintf(p->cmd, sizeof(p->cmd), "%s", command);
		escape(p->cmd, sizeof(p->cmd));
	}
	err = start_curses(top);
	if (err) {
		top_free(top);
		return err;
	}
	set_interval(top, interval);
	open_proc(top, pid);
	collect(top);
	redraw(top);
	*out = top;
	return 0;
}

int tm_top__live_tick(struct tm_top *top)
{
	if (!top)
		return 0;
	read_keys(top);
	if (top->quit)
		return 1;
	tick_refresh(top);
	return 0;
}

void tm_top__live_close(struct tm_top *top)
{
	top_free(top);
}
