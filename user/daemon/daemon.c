// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * daemon.c: `tidemark daemon` (see daemon.h).
 *
 * One thread, one loop: poll the ring buffer and the HTTP clients, and once a
 * second sweep for processes whose exit we could not be told about, release
 * the kernel's entries of the exited ones, and fold per-cgroup peaks.
 * Memory of our own is bounded: one record per tracked process (at most
 * --max-procs), a fixed ring of recent exits, at most MAX_CGROUPS cgroups.
 *
 * Back-pressure. Clients never hold the loop (http.h: non-blocking, with
 * deadlines and a cap). When the loop itself stops (SIGSTOP, a starved CPU)
 * the kernel keeps tracing but its notices overflow the ring: each lost one
 * is counted by kind in BPF (lost_*), and an exit that could not be told
 * leaves the process's entry in `procs` with its exit time set. A gap in
 * the loop longer than STALL_NS is reported, and then (or whenever the lost
 * counters moved, and every RECONCILE_TICKS seconds anyway) the whole procs
 * table is read: the dead are handled as exits and reaped, the live ones we
 * never heard of are adopted. So procs never stays full of the dead.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target/cgroup.h"
#include "target/pidns.h"
#include "daemon/daemon.h"
#include "daemon/http.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/outfile.h"
#include "util/ptable.h"
#include "util/stop.h"
#include "report/postmortem.h"
#include "report/pprof.h"
#include "profile/profile.h"
#include "report/report.h"
#include "target/proc.h"

#define MAX_CGROUPS     1024
#define EXITED_RING     64
#define CG_LEN          256
#define STALL_NS        1000000000ull /* a loop turn longer than this is a stalled drain */
#define RECONCILE_TICKS 10            /* read the whole procs table at least this often (s) */
/* Exit-to-record latency histogram (seconds), for /metrics. */
static const double lat_le[] = { 0.001, 0.01, 0.1, 1, 10 };
#define LAT_BUCKETS (sizeof(lat_le) / sizeof(lat_le[0]))

struct dproc {
	pid_t pid;
	__u32 inc;
	char comm[16];
	char cgroup[CG_LEN];
	char cmd[256]; /* its command line, read while it lives */
	pid_t ns_pid;  /* its pid in its own PID namespace; 0 = the same as pid */
	uint64_t start_ns;
	int gone_ticks; /* sweeps since kill(pid, 0) said it is gone */
};

struct cgstat {
	char path[CG_LEN];
	uint64_t exited, oom_kills;
	int64_t peak_live; /* highest sum of its processes' live heaps seen by a sweep */
};

struct exited {
	pid_t pid;
	pid_t ns_pid; /* 0 = the same */
	char comm[16];
	char cgroup[CG_LEN];
	uint64_t peak, oom;
	int32_t status;
	int32_t replaced; /* exec'd into another program, not exited */
};

struct daemon {
	const struct tm_daemon_opts *o;
	struct tm_trace *t;
	struct tm_ptable procs; /* of struct dproc */
	struct cgstat *cgs;
	size_t ncgs;
	uint64_t cgs_dropped;
	struct exited ring[EXITED_RING];
	uint64_t nexited, oom_total, postmortems, periodic_written;
	uint64_t files_failed; /* post-mortems and periodic files not written (each said why) */
	struct tm_http *http;
	pid_t self;
	uint64_t start_ns;
	int outdir;              /* --output-dir, opened once (util/outfile.h) */
	struct written *written; /* the periodic files we wrote, oldest first */
	size_t nwritten, capwritten;
	/* back-pressure */
	uint64_t stalls, stall_max_ns; /* loop turns longer than STALL_NS, and the longest */
	uint64_t recovered_exits;      /* exits found in procs: their notice was lost */
	uint64_t adopted;              /* live processes found in procs we had not been told of */
	uint64_t lost_seen;            /* sum of the kernel's lost_* counters at the last reconcile */
	uint64_t lat_count, lat_sum_ns, lat_max_ns, lat_bucket[LAT_BUCKETS];
	struct tm_selection sel; /* the selectors, as the kernel has them */
};

/* A periodic file this daemon wrote: pruning removes only these, and only if still ours. */
struct written {
	char name[64];
	ino_t ino;
	time_t when;
};

void tm_daemon_opts__init(struct tm_daemon_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = TM_MODE_LITE;
	o->max_series = 100;
	o->pprof_keep = 60;
	o->cap_allocs = o->cap_stacks = -1;
	o->trace.native_depth = TM_MAX_NATIVE;
	o->trace.max_allocs = 1024; /* lite: no allocator probes, nothing goes in allocs */
	o->trace.max_stacks = TM_DEFAULT_MAX_STACKS;
	o->trace.max_procs = 1024;
	o->trace.python = 1;
	o->trace.daemon = 1;
}

int tm_daemon_opts__check(struct tm_daemon_opts *o)
{
	/* No selector: everything. Only --pid: just those (sel_flags 0: nothing new is picked up). */
	if (!o->sel.npids && !o->trace.sel_flags)
		o->trace.sel_flags = TM_SEL_ALL;
	if (o->mode == TM_MODE_FULL) {
		if (o->trace.sel_flags & TM_SEL_ALL) {
			pr_warn("tidemark daemon: --mode full needs a selection (--pid, --comm, --exe or --cgroup): "
				"allocator probes on every process would make every malloc on the host trap\n");
			return -EINVAL;
		}
		/* Live blocks, as run's; each process gets a quarter of the tables unless told otherwise. */
		o->trace.max_allocs = TM_DEFAULT_MAX_ALLOCS;
		o->trace.alloc_probes = 1;
		o->trace.max_allocs_per_proc = o->cap_allocs >= 0 ? (unsigned int)o->cap_allocs : o->trace.max_allocs / 4;
		o->trace.max_stacks_per_proc = o->cap_stacks >= 0 ? (unsigned int)o->cap_stacks : o->trace.max_stacks / 4;
	} else if (o->trace.sample_bytes || o->cap_allocs >= 0 || o->cap_stacks >= 0) {
		pr_warn("tidemark daemon: --sample-bytes and the per-process caps go with --mode full "
			"(lite mode has no allocator probes)\n");
		return -EINVAL;
	}
	if (o->pprof_every && !o->output_dir) {
		pr_warn("tidemark daemon: --pprof-every writes into --output-dir: give one\n");
		return -EINVAL;
	}
	if ((o->token_file || o->listen_group || o->metrics_cmdline) && !o->listen) {
		pr_warn("tidemark daemon: --token-file, --listen-group and --metrics-cmdline go with --listen\n");
		return -EINVAL;
	}
	return 0;
}

static struct dproc *dproc_find(struct daemon *d, pid_t pid)
{
	return tm_ptable__find(&d->procs, pid);
}

static struct dproc *dproc_at(struct daemon *d, size_t i)
{
	return tm_ptable__at(&d->procs, i);
}

/*
 * Start tracking (pid, inc); @ppid: the traced process that forked it, 0 for
 * an exec. A forked child gone before its /proc was read (the loop was busy)
 * is named after its parent, whose command and cgroup it had at the fork.
 */
static struct dproc *dproc_add(struct daemon *d, pid_t pid, __u32 inc, pid_t ppid)
{
	struct dproc *p = dproc_find(d, pid), *parent;

	/* an older incarnation we were never told had ended: its entries go */
	if (p && p->inc != inc)
		tm_trace__forget(d->t, pid, p->inc);
	p = tm_ptable__put(&d->procs, pid);
	if (!p)
		return NULL;
	p->inc = inc;
	p->start_ns = tm_now_ns();
	tm_proc__comm(pid, p->comm, sizeof(p->comm));
	tm_proc__cmdline(pid, p->cmd, sizeof(p->cmd));
	if (tm_pidns__of_pid(pid, &p->ns_pid) || p->ns_pid == pid)
		p->ns_pid = 0;
	if (tm_cgroup__of_pid(pid, p->cgroup, sizeof(p->cgroup)))
		snprintf(p->cgroup, sizeof(p->cgroup), "?");
	parent = ppid && !p->comm[0] ? dproc_find(d, ppid) : NULL;
	if (parent) {
		snprintf(p->comm, sizeof(p->comm), "%s", parent->comm);
		snprintf(p->cmd, sizeof(p->cmd), "%s", parent->cmd);
		snprintf(p->cgroup, sizeof(p->cgroup), "%s", parent->cgroup);
	}
	return p;
}

static struct cgstat *cgstat_get(struct daemon *d, const char *path)
{
	size_t i;

	for (i = 0; i < d->ncgs; i++)
		if (!strcmp(d->cgs[i].path, path))
			return &d->cgs[i];
	if (d->ncgs >= MAX_CGROUPS) {
		d->cgs_dropped++;
		return NULL;
	}
	snprintf(d->cgs[d->ncgs].path, CG_LEN, "%s", path);
	return &d->cgs[d->ncgs++];
}

/* The profile of (pid, final->inc), symbolized while the loader still has its maps. */
static struct tm_profile *profile_of(struct daemon *d, const struct dproc *dp, const struct tm_proc *p)
{
	struct tm_profile *prof = tm_profile__new();
	struct tm_profile_process pi = {
		.pid = dp->pid,
		.ns_pid = dp->ns_pid,
		.command = dp->cmd[0] ? dp->cmd : dp->comm,
		.cgroup = dp->cgroup,
		.start_ns = dp->start_ns,
		.end_ns = p->exit_time_ns ? p->exit_time_ns : tm_now_ns(),
		.ended = p->exit_time_ns != 0,
		.wait_status = p->exit_code,
	};

	if (!prof)
		return NULL;
	if (tm_profile__set_process(prof, &pi) || tm_trace__build_profile_from(d->t, dp->pid, p, prof)) {
		tm_profile__free(prof);
		return NULL;
	}
	tm_postmortem__fill(prof, p);
	return prof;
}

/* A process (incarnation final->inc of pid) is over: post-mortem if OOM-killed, summary, release. */
static void handle_exit(struct daemon *d, pid_t pid, const struct tm_proc *final)
{
	struct dproc *dp = dproc_find(d, pid);
	struct dproc copy = { .pid = pid, .inc = final->inc, .cgroup = "?" };
	struct exited *e;
	struct cgstat *cg;

	if (dp && dp->inc == final->inc)
		copy = *dp;
	if (final->oom_time_ns) {
		struct tm_profile *prof = profile_of(d, &copy, final);
		char base[PATH_MAX + 300];

		d->oom_total++;
		if (prof && d->outdir >= 0 &&
		    !tm_postmortem__write(d->outdir, d->o->output_dir, prof, base, sizeof(base))) {
			d->postmortems++;
			pr_info("tidemark daemon: pid %d (%s) in %s was OOM-killed\n", pid, copy.comm, copy.cgroup);
			tm_postmortem__say("tidemark daemon", prof, base);
		} else if (prof && d->outdir >= 0) {
			d->files_failed++;
		} else if (!prof) {
			pr_warn("tidemark daemon: pid %d was OOM-killed, but its profile could not be built\n", pid);
		}
		tm_profile__free(prof);
	}
	e = &d->ring[d->nexited++ % EXITED_RING];
	e->pid = pid;
	e->ns_pid = copy.ns_pid;
	snprintf(e->comm, sizeof(e->comm), "%s", copy.comm);
	snprintf(e->cgroup, sizeof(e->cgroup), "%s", copy.cgroup);
	e->peak = final->peak_bytes;
	e->oom = final->oom_time_ns != 0;
	e->status = final->exit_code;
	e->replaced = final->exit_time_ns == 0;
	cg = cgstat_get(d, copy.cgroup);
	if (cg) {
		cg->exited++;
		cg->oom_kills += final->oom_time_ns != 0;
		/* a process shorter than a sweep still shows in its cgroup's peak (as a lower bound) */
		if ((int64_t) final->peak_bytes > cg->peak_live)
			cg->peak_live = (int64_t) final->peak_bytes;
	}
	tm_trace__forget(d->t, pid, final->inc);
	dp = dproc_find(d, pid);
	if (dp && dp->inc == final->inc)
		tm_ptable__remove(&d->procs, dp);
}

/* How long a process's exit waited in the ring before we recorded it. */
static void note_latency(struct daemon *d, uint64_t exit_ns)
{
	uint64_t now = tm_now_ns(), lat = now > exit_ns ? now - exit_ns : 0;
	size_t i;

	d->lat_count++;
	d->lat_sum_ns += lat;
	if (lat > d->lat_max_ns)
		d->lat_max_ns = lat;
	for (i = 0; i < LAT_BUCKETS; i++)
		if (lat <= (uint64_t)(lat_le[i] * 1e9))
			d->lat_bucket[i]++;
}

static void on_event(void *ctx, const struct tm_event *ev, const struct tm_proc *final)
{
	struct daemon *d = ctx;
	struct dproc *dp;

	switch (ev->type) {
	case TM_EV_EXEC:
	case TM_EV_FORK:
		dp = dproc_add(d, (pid_t)ev->tgid, (__u32)ev->arg,
			       ev->type == TM_EV_FORK ? (pid_t)(ev->arg >> 32) : 0);
		if (dp)
			pr_debug("tidemark daemon: tracking pid %d (%s) in %s\n", dp->pid, dp->comm, dp->cgroup);
		break;
	case TM_EV_OOM:
		dp = dproc_find(d, (pid_t)ev->tgid);
		pr_debug("tidemark daemon: the OOM killer chose pid %u (%s)\n", ev->tgid, dp ? dp->comm : "?");
		break;
	case TM_EV_EXIT:
		if (!final)
			break;
		if (final->exit_time_ns)
			note_latency(d, final->exit_time_ns);
		handle_exit(d, (pid_t)ev->tgid, final);
		break;
	default:
		break;
	}
}

/* Processes that exited without an exit event (the ring was full): their procs entry says. */
static void sweep(struct daemon *d)
{
	size_t i = 0;

	while (i < d->procs.n) {
		struct dproc *dp = dproc_at(d, i);
		struct tm_proc p;

		if (kill(dp->pid, 0) == 0 || errno != ESRCH) {
			i++;
			continue;
		}
		if (!tm_trace__proc(d->t, dp->pid, &p) && p.inc == dp->inc) {
			if (p.exit_time_ns && tm_now_ns() - p.exit_time_ns < 1000000000ull) {
				i++;
				continue; /* just exited: its notice is on its way */
			}
			d->recovered_exits++;        /* its exit notice was lost: the entry stayed */
			handle_exit(d, dp->pid, &p); /* removes dp */
			continue;
		}
		/* no entry: its exit event is on its way; give it a few sweeps */
		if (++dp->gone_ticks > 3) {
			tm_trace__forget(d->t, dp->pid, dp->inc);
			tm_ptable__remove(&d->procs, dp);
			continue;
		}
		i++;
	}
}

/*
 * The kernel's procs table against what we know (see the top of this file).
 * An entry whose process exited over a second ago is one whose exit could
 * not be told (BPF sends the notice and deletes the entry in one go).
 */
static void reconcile(struct daemon *d)
{
	size_t cap = d->o->trace.max_procs ? d->o->trace.max_procs : 1024;
	pid_t *pids = calloc(cap, sizeof(*pids));
	uint64_t now = tm_now_ns();
	long n, i;

	if (!pids)
		return;
	n = tm_trace__procs(d->t, pids, cap);
	for (i = 0; i < n; i++) {
		pid_t pid = pids[i];
		struct dproc *dp;
		struct tm_proc p;

		if (tm_trace__proc(d->t, pid, &p) || (p.exit_time_ns && now - p.exit_time_ns < 1000000000ull))
			continue; /* gone meanwhile, or just exited: its notice is on its way */
		if (p.exit_time_ns || (kill(pid, 0) && errno == ESRCH)) {
			if (!p.exit_time_ns)
				p.exit_time_ns = now; /* added as it exited (scan_running): no status */
			d->recovered_exits++;
			handle_exit(d, pid, &p);
			continue;
		}
		dp = dproc_find(d, pid);
		if (!dp || dp->inc != p.inc) {
			if (tm_trace__adopt(d->t, pid, p.inc) == -ENOSPC)
				continue;
			if (dproc_add(d, pid, p.inc, 0))
				d->adopted++;
		}
	}
	free(pids);
}

static uint64_t lost_total(struct daemon *d)
{
	struct tm_stats st;
	uint64_t sum = 0;
	int k;

	tm_trace__stats(d->t, &st);
	for (k = TM_STAT_LOST_EXEC_MAP; k <= TM_STAT_LOST_FORK; k++)
		sum += st.stats[k];
	return sum;
}

/* ---- periodic pprof files (--pprof-every) ---------------------------- */

#define PERIODIC_PREFIX "profile-"
#define PERIODIC_SUFFIX ".pb.gz"

static void remember(struct daemon *d, const char *name, ino_t ino, time_t when)
{
	struct written *w;

	if (d->nwritten == d->capwritten) {
		size_t cap = d->capwritten ? d->capwritten * 2 : 64;

		w = realloc(d->written, cap * sizeof(*w));
		if (!w) {
			pr_warn("tidemark daemon: no memory to remember %s: it will not be pruned\n", name);
			return;
		}
		d->written = w;
		d->capwritten = cap;
	}
	w = &d->written[d->nwritten++];
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->ino = ino;
	w->when = when;
}

/* Write one profile per traced process: DIR/profile-<UTC time>-<pid>.pb.gz, atomically. */
static void write_periodic(struct daemon *d)
{
	struct tm_report_opts ro = { .view = TM_VIEW_PEAK, .top_n = 0 };
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	gmtime_r(&now, &tm);
	for (i = 0; i < d->procs.n; i++) {
		const struct dproc *dp = dproc_at(d, i);
		struct tm_profile *prof;
		struct tm_outfile of;
		struct tm_proc p;
		char name[64];

		if (tm_trace__proc(d->t, dp->pid, &p) || p.inc != dp->inc)
			continue;
		prof = profile_of(d, dp, &p);
		if (!prof)
			continue;
		snprintf(name, sizeof(name), PERIODIC_PREFIX "%04d%02d%02dT%02d%02d%02dZ-%d" PERIODIC_SUFFIX,
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, dp->pid);
		if (!tm_outfile__openat(&of, "tidemark daemon", d->outdir, d->o->output_dir, name) &&
		    !tm_outfile__commit(&of, tm_pprof__write(prof, of.f, &ro))) {
			d->periodic_written++;
			remember(d, name, of.ino, now);
		} else {
			d->files_failed++;
		}
		tm_profile__free(prof);
	}
}

/*
 * Remove the periodic files we wrote more than --pprof-keep periods ago: by
 * the name and inode we remember, never by a pattern (another user's
 * profile-*.pb.gz in a shared directory is not ours), and not one a user
 * has replaced since.
 */
static void prune_periodic(struct daemon *d)
{
	time_t cut = time(NULL) - (time_t)(d->o->pprof_keep * d->o->pprof_every);
	size_t i, n;

	for (i = 0; i < d->nwritten && d->written[i].when < cut; i++) {
		struct stat st;

		if (!fstatat(d->outdir, d->written[i].name, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode) &&
		    st.st_ino == d->written[i].ino)
			unlinkat(d->outdir, d->written[i].name, 0);
	}
	n = i;
	memmove(d->written, d->written + n, (d->nwritten - n) * sizeof(*d->written));
	d->nwritten -= n;
}

/* ---- selection of the processes already running --------------------- */

static int scan_running(struct daemon *d)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		__u32 inc;

		if (*end || pid <= 0 || pid == d->self || !tm_selection__matches(&d->sel, (pid_t)pid))
			continue;
		if (tm_trace__watch(d->t, (pid_t)pid, 0))
			continue; /* gone, or no room */
		if (tm_trace__watching(d->t, (pid_t)pid, &inc) && dproc_add(d, (pid_t)pid, inc, 0))
			n++;
	}
	closedir(dir);
	return n;
}

/* ---- metrics ------------------------------------------------------- */

static void prom_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

/*
 * cgroup="PATH", and the pod and container it names (Kubernetes, a container
 * runtime) as labels of their own, only where it names them.
 */
static void prom_cgroup(FILE *out, const char *path)
{
	struct tm_container_ids ids;

	fputs("cgroup=\"", out);
	prom_label(out, path);
	fputc('"', out);
	if (tm_cgroup__container_ids(path, &ids))
		return;
	if (ids.pod_uid[0])
		fprintf(out, ",pod_uid=\"%s\"", ids.pod_uid); /* hex digits and dashes only */
	if (ids.container_id[0])
		fprintf(out, ",container_id=\"%s\"", ids.container_id);
}

static uint64_t self_rss(void)
{
	return tm_proc__rss(getpid());
}

/* Kernel memory of our maps, as the kernel charges it (fdinfo "memlock"). */
static uint64_t bpf_map_bytes(void)
{
	DIR *dir = opendir("/proc/self/fdinfo");
	struct dirent *de;
	uint64_t sum = 0;

	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		char path[300], line[256];
		int is_map = 0;
		uint64_t mem = 0;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "map_type:", 9))
				is_map = 1;
			else if (!strncmp(line, "memlock:", 8))
				mem = strtoull(line + 8, NULL, 10);
		}
		fclose(f);
		if (is_map)
			sum += mem;
	}
	closedir(dir);
	return sum;
}

struct pmetric {
	const struct dproc *dp;
	struct tm_proc p;
	uint64_t rss, drops;
};

static int cmp_live_desc(const void *a, const void *b)
{
	const struct pmetric *x = a, *y = b;

	return (x->p.live_bytes < y->p.live_bytes) - (x->p.live_bytes > y->p.live_bytes);
}

static void metric_head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct cgsum {
	const char *path;
	int64_t live;
	uint64_t rss, drops, n;
};

static int64_t cgsum_live(const struct cgsum *s)
{
	return s->live;
}

static int64_t cgsum_rss(const struct cgsum *s)
{
	return (int64_t)s->rss;
}

static int64_t cgsum_n(const struct cgsum *s)
{
	return (int64_t)s->n;
}

static int64_t cgsum_drops(const struct cgsum *s)
{
	return (int64_t)s->drops;
}

/* The per-cgroup sums, one series each, in the order /metrics has always listed them. */
static const struct {
	const char *name, *type, *help;
	int64_t (*value)(const struct cgsum *s);
} cg_series[] = {
	{ "tidemark_cgroup_live_heap_bytes", "gauge", "Sum of live_heap_bytes of the cgroup's traced processes.",
	  cgsum_live },
	{ "tidemark_cgroup_rss_bytes", "gauge", "Sum of the RSS of the cgroup's traced processes.", cgsum_rss },
	{ "tidemark_cgroup_processes", "gauge", "Traced processes in the cgroup now.", cgsum_n },
	{ "tidemark_cgroup_dropped_total", "counter", "Events not recorded for the cgroup's live processes.",
	  cgsum_drops },
};

static struct cgsum *cgsum_get(struct cgsum *s, size_t *n, size_t cap, const char *path)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (!strcmp(s[i].path, path))
			return &s[i];
	if (*n >= cap)
		return NULL;
	memset(&s[*n], 0, sizeof(s[*n]));
	s[*n].path = path;
	return &s[(*n)++];
}

/* Live values of every tracked process, largest heap first. Caller frees. */
static struct pmetric *collect(struct daemon *d, size_t *n)
{
	struct pmetric *m = calloc(d->procs.n ? d->procs.n : 1, sizeof(*m));
	size_t i, k = 0;
	int j;

	if (!m)
		return NULL;
	for (i = 0; i < d->procs.n; i++) {
		struct pmetric *x = &m[k];

		x->dp = dproc_at(d, i);
		if (tm_trace__proc(d->t, x->dp->pid, &x->p) || x->p.inc != x->dp->inc)
			continue;
		x->rss = tm_proc__rss(x->dp->pid);
		for (j = 0; j < TM_DROP__COUNT; j++)
			x->drops += x->p.drops[j];
		k++;
	}
	qsort(m, k, sizeof(*m), cmp_live_desc);
	*n = k;
	return m;
}

/* Fold each cgroup's summed live heap into its peak (called by the sweep and by scrapes). */
static void fold_cgroup_peaks(struct daemon *d, const struct pmetric *m, size_t n)
{
	struct cgsum sums[64];
	size_t ns = 0, i;

	for (i = 0; i < n; i++) {
		struct cgsum *s = cgsum_get(sums, &ns, 64, m[i].dp->cgroup);

		if (s)
			s->live += m[i].p.live_bytes;
	}
	for (i = 0; i < ns; i++) {
		struct cgstat *cg = cgstat_get(d, sums[i].path);

		if (cg && sums[i].live > cg->peak_live)
			cg->peak_live = sums[i].live;
	}
}

/* What the loop went through: stalls, exit-to-record latency, recovered notices, HTTP clients. */
static void write_backpressure(struct daemon *d, FILE *out)
{
	struct tm_http_stats hs = { 0 };
	size_t i;

	metric_head(out, "tidemark_drain_stalls_total", "counter",
		    "Turns of the daemon's loop longer than 1 s (stopped or starved): the ring may have overflowed.");
	fprintf(out, "tidemark_drain_stalls_total %" PRIu64 "\n", d->stalls);
	metric_head(out, "tidemark_drain_stall_longest_seconds", "gauge", "The longest such turn.");
	fprintf(out, "tidemark_drain_stall_longest_seconds %.3f\n", d->stall_max_ns / 1e9);
	metric_head(out, "tidemark_exit_record_latency_seconds", "histogram",
		    "From a traced process's exit (in the kernel) to the daemon recording it.");
	for (i = 0; i < LAT_BUCKETS; i++)
		fprintf(out, "tidemark_exit_record_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", lat_le[i],
			d->lat_bucket[i]);
	fprintf(out, "tidemark_exit_record_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", d->lat_count);
	fprintf(out, "tidemark_exit_record_latency_seconds_sum %.9f\n", d->lat_sum_ns / 1e9);
	fprintf(out, "tidemark_exit_record_latency_seconds_count %" PRIu64 "\n", d->lat_count);
	metric_head(out, "tidemark_exit_record_latency_max_seconds", "gauge", "The longest of those latencies.");
	fprintf(out, "tidemark_exit_record_latency_max_seconds %.9f\n", d->lat_max_ns / 1e9);
	metric_head(out, "tidemark_exits_recovered_total", "counter",
		    "Exits found in the kernel's procs table because their notice was lost (then reaped).");
	fprintf(out, "tidemark_exits_recovered_total %" PRIu64 "\n", d->recovered_exits);
	metric_head(out, "tidemark_processes_adopted_total", "counter",
		    "Traced processes found in the kernel's procs table whose start notice was lost.");
	fprintf(out, "tidemark_processes_adopted_total %" PRIu64 "\n", d->adopted);
	if (d->http)
		tm_http__stats(d->http, &hs);
	metric_head(out, "tidemark_http_connections_open", "gauge", "HTTP clients connected now.");
	fprintf(out, "tidemark_http_connections_open %u\n", hs.open);
	metric_head(out, "tidemark_http_connections_total", "counter",
		    "HTTP connections: served (answered in full, any status; unauthorized counts the 401/403 and "
		    "bad the 400/405 among them), refused (over the cap: 503), timed_out (dropped at the deadline).");
	fprintf(out, "tidemark_http_connections_total{outcome=\"served\"} %" PRIu64 "\n", hs.served);
	fprintf(out, "tidemark_http_connections_total{outcome=\"refused\"} %" PRIu64 "\n", hs.refused_full);
	fprintf(out, "tidemark_http_connections_total{outcome=\"timed_out\"} %" PRIu64 "\n", hs.timed_out);
	fprintf(out, "tidemark_http_connections_total{outcome=\"unauthorized\"} %" PRIu64 "\n", hs.unauthorized);
	fprintf(out, "tidemark_http_connections_total{outcome=\"bad\"} %" PRIu64 "\n", hs.bad);
}

static void write_metrics(struct daemon *d, FILE *out)
{
	unsigned int max = d->o->max_series ? d->o->max_series : 100;
	struct tm_occupancy occ = { 0 };
	struct tm_stats st;
	struct pmetric *m;
	struct cgsum *sums;
	size_t n = 0, ns = 0, i;
	struct {
		int64_t live;
		uint64_t peak, rss, drops, n;
	} other = { 0 };
	static const char *const names[] = { "live_heap_bytes", "peak_heap_bytes", "rss_bytes", "dropped_total" };
	static const char *const helps[] = {
		"Bytes the process holds in traced allocations now (lite: mappings and heap growth).",
		"Highest live_heap_bytes of the process so far.",
		"Resident set size, from /proc/PID/statm.",
		"Events the tracer could not record for the process, all reasons.",
	};
	int k;

	m = collect(d, &n);
	sums = calloc(max + 1, sizeof(*sums));
	if (!m || !sums) {
		free(m);
		free(sums);
		return;
	}
	fold_cgroup_peaks(d, m, n);
	/* Per process: the `max` largest heaps get their own series, the rest add up under pid="other". */
	for (k = 0; k < 4; k++) {
		char name[96];

		snprintf(name, sizeof(name), "tidemark_process_%s", names[k]);
		metric_head(out, name, k == 3 ? "counter" : "gauge", helps[k]);
		for (i = 0; i < n && i < max; i++) {
			uint64_t v = k == 0 ? (uint64_t)m[i].p.live_bytes : k == 1 ? m[i].p.peak_bytes
								    : k == 2       ? m[i].rss
										   : m[i].drops;

			fprintf(out, "%s{pid=\"%d\",comm=\"", name, m[i].dp->pid);
			prom_label(out, m[i].dp->comm);
			if (d->o->metrics_cmdline) {
				fputs("\",cmdline=\"", out);
				prom_label(out, m[i].dp->cmd);
			}
			fputs("\",", out);
			prom_cgroup(out, m[i].dp->cgroup);
			if (m[i].dp->ns_pid) /* in a container: its own pid too */
				fprintf(out, ",ns_pid=\"%d\"", m[i].dp->ns_pid);
			fprintf(out, "} %lld\n", k == 0 ? (long long)m[i].p.live_bytes : (long long)v);
		}
		if (n > max) {
			memset(&other, 0, sizeof(other));
			for (i = max; i < n; i++) {
				other.live += m[i].p.live_bytes;
				other.peak += m[i].p.peak_bytes;
				other.rss += m[i].rss;
				other.drops += m[i].drops;
			}
			fprintf(out, "%s{pid=\"other\",comm=\"\",%scgroup=\"\"} %lld\n", name,
				d->o->metrics_cmdline ? "cmdline=\"\"," : "",
				(long long)(k == 0 ? other.live : (int64_t)(k == 1 ? other.peak : k == 2 ? other.rss
													 : other.drops)));
		}
	}

	/* Per cgroup (at most `max` of them, the rest under cgroup="other"). */
	for (i = 0; i < n; i++) {
		struct cgsum *s = cgsum_get(sums, &ns, max, m[i].dp->cgroup);

		if (!s)
			s = cgsum_get(sums, &ns, max + 1, "other");
		if (!s)
			continue;
		s->live += m[i].p.live_bytes;
		s->rss += m[i].rss;
		s->drops += m[i].drops;
		s->n++;
	}
	for (k = 0; k < (int)(sizeof(cg_series) / sizeof(cg_series[0])); k++) {
		metric_head(out, cg_series[k].name, cg_series[k].type, cg_series[k].help);
		for (i = 0; i < ns; i++) {
			fprintf(out, "%s{", cg_series[k].name);
			prom_cgroup(out, sums[i].path);
			fprintf(out, "} %" PRId64 "\n", cg_series[k].value(&sums[i]));
		}
	}
	metric_head(out, "tidemark_cgroup_peak_heap_bytes", "gauge",
		    "Highest sum of the cgroup's live heaps seen (sampled once a second and at scrapes).");
	metric_head(out, "tidemark_cgroup_oom_kills_total", "counter", "Traced processes of the cgroup the OOM killer chose.");
	metric_head(out, "tidemark_cgroup_exited_total", "counter", "Traced processes of the cgroup that exited.");
	for (i = 0; i < d->ncgs && i < max; i++) {
		const struct cgstat *c = &d->cgs[i];

		fputs("tidemark_cgroup_peak_heap_bytes{", out);
		prom_cgroup(out, c->path);
		fprintf(out, "} %" PRId64 "\n", c->peak_live);
		fputs("tidemark_cgroup_oom_kills_total{", out);
		prom_cgroup(out, c->path);
		fprintf(out, "} %" PRIu64 "\n", c->oom_kills);
		fputs("tidemark_cgroup_exited_total{", out);
		prom_cgroup(out, c->path);
		fprintf(out, "} %" PRIu64 "\n", c->exited);
	}

	/* The daemon itself: what it costs and how full its tables are. */
	tm_trace__occupancy(d->t, &occ);
	metric_head(out, "tidemark_daemon_rss_bytes", "gauge", "The daemon's own resident set size.");
	fprintf(out, "tidemark_daemon_rss_bytes %" PRIu64 "\n", self_rss());
	metric_head(out, "tidemark_daemon_bpf_map_bytes", "gauge", "Kernel memory of the daemon's BPF maps.");
	fprintf(out, "tidemark_daemon_bpf_map_bytes %" PRIu64 "\n", bpf_map_bytes());
	metric_head(out, "tidemark_map_entries", "gauge", "Entries in the daemon's BPF maps.");
	fprintf(out, "tidemark_map_entries{map=\"procs\"} %ld\n", occ.procs);
	fprintf(out, "tidemark_map_entries{map=\"allocs\"} %ld\n", occ.allocs);
	fprintf(out, "tidemark_map_entries{map=\"regions\"} %ld\n", occ.regions);
	fprintf(out, "tidemark_map_entries{map=\"aggs\"} %ld\n", occ.aggs);
	fprintf(out, "tidemark_map_entries{map=\"stacks\"} %ld\n", occ.stacks);
	fprintf(out, "tidemark_map_entries{map=\"py_codes\"} %ld\n", occ.py_codes);
	metric_head(out, "tidemark_periodic_profiles_written_total", "counter",
		    "pprof files written by --pprof-every.");
	fprintf(out, "tidemark_periodic_profiles_written_total %" PRIu64 "\n", d->periodic_written);
	metric_head(out, "tidemark_uprobe_links", "gauge", "Allocator probes held (--mode full: ~17 per traced process).");
	fprintf(out, "tidemark_uprobe_links %ld\n", occ.links);
	metric_head(out, "tidemark_probe_failures_total", "counter",
		    "Processes whose allocator probes could not be placed (gone first).");
	fprintf(out, "tidemark_probe_failures_total %ld\n", occ.probe_failures);
	metric_head(out, "tidemark_processes_unarmed", "gauge",
		    "Traced processes whose allocator probes are still being placed: counted once all are.");
	fprintf(out, "tidemark_processes_unarmed %ld\n", occ.unarmed);
	metric_head(out, "tidemark_processes_tracked", "gauge", "Processes traced now.");
	fprintf(out, "tidemark_processes_tracked %zu\n", d->procs.n);
	metric_head(out, "tidemark_processes_exited_total", "counter", "Traced processes that exited (or exec'd anew).");
	fprintf(out, "tidemark_processes_exited_total %" PRIu64 "\n", d->nexited);
	metric_head(out, "tidemark_oom_kills_total", "counter", "Traced processes the OOM killer chose.");
	fprintf(out, "tidemark_oom_kills_total %" PRIu64 "\n", d->oom_total);
	metric_head(out, "tidemark_postmortems_written_total", "counter", "OOM post-mortems written to --output-dir.");
	fprintf(out, "tidemark_postmortems_written_total %" PRIu64 "\n", d->postmortems);
	metric_head(out, "tidemark_file_writes_failed_total", "counter",
		    "Post-mortems and periodic profiles not written (refused or failed; the log says why).");
	fprintf(out, "tidemark_file_writes_failed_total %" PRIu64 "\n", d->files_failed);
	metric_head(out, "tidemark_cgroups_untracked_total", "counter", "Cgroups beyond the daemon's table: not summarised.");
	fprintf(out, "tidemark_cgroups_untracked_total %" PRIu64 "\n", d->cgs_dropped);
	tm_trace__stats(d->t, &st);
	metric_head(out, "tidemark_kernel_events_total", "counter", "The BPF side's informational counters.");
	for (k = 0; k < TM_STAT__COUNT; k++)
		if (k < TM_STAT_LOST_EXEC_MAP || k > TM_STAT_LOST_FORK)
			fprintf(out, "tidemark_kernel_events_total{what=\"%s\"} %llu\n", tm_stat_name(k),
				(unsigned long long)st.stats[k]);
	metric_head(out, "tidemark_ring_lost_total", "counter",
		    "Notices the kernel could not hand over because the ring buffer was full, by kind.");
	for (k = TM_STAT_LOST_EXEC_MAP; k <= TM_STAT_LOST_FORK; k++)
		fprintf(out, "tidemark_ring_lost_total{notice=\"%s\"} %llu\n", tm_stat_name(k) + 5,
			(unsigned long long)st.stats[k]);
	write_backpressure(d, out);
	free(m);
	free(sums);
}

static int handle_http(void *ctx, const char *path, int authorized, FILE *body, const char **ctype)
{
	struct daemon *d = ctx;
	long pid;
	char *end;

	/*
	 * Default deny: only the index and /metrics (which names processes by pid,
	 * comm and cgroup, as /proc shows anyone, unless --metrics-cmdline) are
	 * public. Reports carry command lines, function names and addresses.
	 */
	if (!authorized && strcmp(path, "/") && (strcmp(path, "/metrics") || d->o->metrics_cmdline))
		return 401;
	if (!strcmp(path, "/metrics")) {
		*ctype = "text/plain; version=0.0.4; charset=utf-8";
		write_metrics(d, body);
		return 200;
	}
	if (!strcmp(path, "/")) {
		fputs("tidemark daemon\n  /metrics              Prometheus text metrics\n"
		      "  /report/pid/PID       live heap of one process, JSON v1\n"
		      "  /pprof/pid/PID        the same as pprof\n  /pprof/cgroup/PATH    per cgroup as pprof\n"
		      "  /exited               the latest processes that exited\n"
		      "All but /metrics need an authenticated client: the Unix socket, or\n"
		      "'Authorization: Bearer <token>' with the daemon's --token-file.\n",
		      body);
		return 200;
	}
	if (!strcmp(path, "/exited")) {
		uint64_t i, first = d->nexited > EXITED_RING ? d->nexited - EXITED_RING : 0;

		for (i = first; i < d->nexited; i++) {
			const struct exited *e = &d->ring[i % EXITED_RING];

			fprintf(body, "pid=%d", e->pid);
			if (e->ns_pid)
				fprintf(body, " ns_pid=%d", e->ns_pid);
			fprintf(body, " comm=%s cgroup=%s peak=%" PRIu64 " status=%d%s%s\n", e->comm,
				e->cgroup, e->peak, e->status, e->oom ? " oom-killed" : "", e->replaced ? " exec" : "");
		}
		return 200;
	}
	if (!strncmp(path, "/report/pid/", 12) || !strncmp(path, "/pprof/pid/", 11)) {
		int pprof = path[1] == 'p';
		struct tm_report_opts ro = { .view = TM_VIEW_PEAK, .top_n = 0 };
		struct tm_profile *prof;
		struct dproc *dp;
		struct tm_proc p;

		pid = strtol(path + (pprof ? 11 : 12), &end, 10);
		dp = *end || pid <= 0 ? NULL : dproc_find(d, (pid_t)pid);
		if (!dp || tm_trace__proc(d->t, dp->pid, &p) || p.inc != dp->inc) {
			fputs("no such traced process\n", body);
			return 404;
		}
		prof = profile_of(d, dp, &p);
		if (!prof)
			return 500;
		if (pprof) {
			*ctype = "application/octet-stream";
			tm_pprof__write(prof, body, &ro);
		} else {
			*ctype = "application/json";
			tm_report__json(prof, body, &ro);
		}
		tm_profile__free(prof);
		return 200;
	}
	if (!strncmp(path, "/pprof/cgroup/", 14)) {
		/*
		 * Every live traced process whose cgroup is PATH (or below it), as
		 * one profile. PATH as a user writes it: under a cgroup mount
		 * (/sys/fs/cgroup/..., v1 memory or v2: matched in that hierarchy)
		 * or inside the memory hierarchy, as /proc/PID/cgroup shows it.
		 */
		const char *cg = path + 13;     /* keeps the leading '/' */
		struct tm_report_opts ro = { .view = TM_VIEW_PEAK, .top_n = 0 };
		struct tm_profile *all = tm_profile__new(), *prof;
		char rel[CG_LEN], pcg[CG_LEN];
		enum tm_cg_hier hier;
		size_t i, n = 0;
		struct tm_proc p;
		uint64_t id;
		int by_hier;

		if (!all)
			return 500;
		by_hier = !tm_cgroup__resolve(cg, &hier, &id, rel, sizeof(rel));
		if (by_hier)
			cg = rel;
		all->command = tm_profile__str(all, cg);
		all->cgroup = tm_profile__str(all, cg);
		all->start_time_ns = d->start_ns;
		all->end_time_ns = tm_now_ns();
		for (i = 0; i < d->procs.n; i++) {
			const struct dproc *dp = dproc_at(d, i);

			if (by_hier && (tm_cgroup__of_pid_in(dp->pid, hier, pcg, sizeof(pcg)) ||
					!tm_cgroup__under(cg, pcg)))
				continue;
			if (!by_hier && !tm_cgroup__under(cg, dp->cgroup))
				continue;
			if (tm_trace__proc(d->t, dp->pid, &p) || p.inc != dp->inc)
				continue;
			prof = profile_of(d, dp, &p);
			if (!prof)
				continue;
			if (!tm_profile__merge_sites(all, prof)) {
				all->peak_bytes += prof->peak_bytes;
				all->live_bytes_end += prof->live_bytes_end;
				all->live_bytes_exit += prof->live_bytes_exit;
				if (prof->end_moment != TM_END_EXIT) /* a CPython past its finalization */
					all->end_moment = prof->end_moment;
				all->alloc_bytes += prof->alloc_bytes;
				all->alloc_count += prof->alloc_count;
				all->free_count += prof->free_count;
				n++;
			}
			tm_profile__free(prof);
		}
		if (!n) {
			tm_profile__free(all);
			fputs("no traced process in that cgroup\n", body);
			return 404;
		}
		*ctype = "application/octet-stream";
		tm_pprof__write(all, body, &ro);
		tm_profile__free(all);
		return 200;
	}
	fputs("not found; see /\n", body);
	return 404;
}

/* ---- setup ---------------------------------------------------------- */

int tm_daemon__run(const struct tm_daemon_opts *o)
{
	struct daemon d = { .o = o, .procs = TM_PTABLE_INIT(struct dproc), .outdir = -1 };
	uint64_t deadline = 0, next_tick = 0, next_pprof = 0, last_turn, ticks = 0;
	int rc = 1, n, stalled = 0;

	d.self = getpid();
	d.start_ns = tm_now_ns();
	d.cgs = calloc(MAX_CGROUPS, sizeof(*d.cgs));
	if (!d.cgs)
		return 1;
	/* made 0700 when missing; a directory others could fill with links is refused */
	if (o->output_dir &&
	    tm_outdir__open("tidemark daemon", o->output_dir, TM_OUTDIR_CREATE | TM_OUTDIR_STRICT, &d.outdir))
		goto out;
	if (o->listen) {
		struct tm_http_opts ho = { .listen = o->listen, .token_file = o->token_file, .unix_group = o->listen_group };

		/* each refusal is explained where it is found */
		if (tm_http__listen(&d.http, &ho))
			goto out;
	}
	tm_stop__on(SIGINT);
	tm_stop__on(SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	if (tm_trace__open(&d.t, &o->trace))
		goto out;
	tm_trace__print_verifier_stats(d.t);
	tm_trace__set_event_cb(d.t, on_event, &d);
	if (tm_selection__load(&d.sel, d.t, &o->sel, o->trace.sel_flags, "tidemark daemon"))
		goto out;
	n = scan_running(&d);
	pr_info("tidemark daemon: tracing %d running process%s%s (mode %s%s)\n", n, n == 1 ? "" : "es",
		o->trace.sel_flags ? " and the selected ones that start" : "",
		o->mode == TM_MODE_FULL ? "full" : "lite", o->trace.sample_bytes ? ", sampled" : "");
	if (d.http && tm_http__port(d.http))
		pr_info("tidemark daemon: listening on %s (port %d)%s\n", o->listen, tm_http__port(d.http),
			o->token_file ? "" : "; per-process endpoints need --token-file");
	else if (d.http)
		pr_info("tidemark daemon: listening on %s (mode %s)\n", o->listen, o->listen_group ? "0660" : "0600");
	if (o->duration > 0)
		deadline = d.start_ns + (uint64_t)(o->duration * 1e9);

	last_turn = tm_now_ns();
	while (!tm_stop__requested()) {
		struct pollfd fds[2] = {
			{ .fd = tm_trace__fd(d.t), .events = POLLIN },
			{ .fd = d.http ? tm_http__fd(d.http) : -1, .events = POLLIN },
		};
		uint64_t now, lost;

		if (poll(fds, 2, 200) < 0 && errno != EINTR)
			break;
		/* turn to turn, at the same point: a stop anywhere in the loop shows */
		now = tm_now_ns();
		if (now - last_turn > STALL_NS) {
			d.stalls++;
			if (now - last_turn > d.stall_max_ns)
				d.stall_max_ns = now - last_turn;
			pr_warn("tidemark daemon: the drain stalled for %.1f s (stopped or starved of CPU); checking "
				"the kernel's process table for notices lost meanwhile\n",
				(now - last_turn) / 1e9);
			stalled = 1;
		}
		last_turn = now;
		tm_trace__poll(d.t, 0);
		/* never waits on a client; also drops those past their deadline */
		if (d.http)
			tm_http__serve(d.http, handle_http, &d);
		now = tm_now_ns();
		if (now >= next_tick) {
			size_t nm;
			struct pmetric *m;

			next_tick = now + 1000000000ull;
			lost = lost_total(&d);
			if (stalled || lost != d.lost_seen || ++ticks % RECONCILE_TICKS == 0) {
				tm_trace__poll(d.t, 0); /* what is in the ring first: it is not lost */
				reconcile(&d);
				d.lost_seen = lost;
				stalled = 0;
			}
			sweep(&d);
			if (tm_trace__reap_pending(d.t))
				tm_trace__reap(d.t);
			m = collect(&d, &nm);
			if (m)
				fold_cgroup_peaks(&d, m, nm);
			free(m);
		}
		if (o->pprof_every && now >= next_pprof) {
			if (next_pprof) { /* not at start: a profile of nothing yet */
				write_periodic(&d);
				prune_periodic(&d);
			}
			next_pprof = now + (uint64_t)(o->pprof_every * 1e9);
		}
		if (deadline && now >= deadline)
			break;
	}
	tm_trace__poll(d.t, 0);
	rc = 0;
out:
	tm_selection__free(&d.sel);
	tm_http__close(d.http);
	tm_trace__destroy(d.t);
	tm_ptable__free(&d.procs);
	free(d.cgs);
	free(d.written);
	if (d.outdir >= 0)
		close(d.outdir);
	return rc;
}
