// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * session.c: the work of `tidemark run` and `tidemark attach` (see session.h).
 *
 * Both follow the loader's lifecycle: open and load the BPF objects
 * (trace/), watch the target and put the allocator probes on it, then poll
 * the ring buffer every 20 ms while sampling the timeline, and at the end
 * build the profile from the kernel's tables, write the capture and print
 * the summary. `run` forks the command held on a pipe until its probes are
 * in place, so it is traced from its first instruction.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "profile/capture.h"
#include "profile/profile.h"
#include "profile/timeline.h"
#include "report/postmortem.h"
#include "report/fmt.h"
#include "report/progress.h"
#include "report/report.h"
#include "session.h"
#include "target/allocator.h"
#include "target/cgroup.h"
#include "target/elf.h"
#include "target/maps.h"
#include "target/pidns.h"
#include "report/fmt.h"
#include "trace/calib.h"
#include "trace/kernel.h"
#include "trace/trace.h"
#include "trace/watchdog.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"
#include "util/path.h"
#include "util/stop.h"
#include "target/proc.h"
#include "top/top.h"
#include "util/outfile.h"

void tm_session_opts__init(struct tm_session_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->trace.native_depth = TM_MAX_NATIVE;
	o->trace.max_allocs = 0; /* set by tm_session_opts__check() unless --max-allocs */
	o->trace.max_stacks = 0; /* set by tm_session_opts__check() unless --max-stacks */
	o->trace.python = 1;
	o->top = 5;
	o->mode = -1;
}

int tm_session_opts__check(const char *cmd, struct tm_session_opts *o)
{
	if (o->mode < 0)
		o->mode = o->trace.sample_bytes ? TM_PROFILE_SAMPLED : TM_PROFILE_EXACT;
	if (o->mode == TM_PROFILE_EXACT && o->trace.sample_bytes) {
		pr_warn("tidemark %s: --sample-bytes records samples, --mode exact every allocation: "
			"drop one (--sample-bytes alone means --mode sampled)\n",
			cmd);
		return -EINVAL;
	}
	if (o->mode == TM_PROFILE_SAMPLED && !o->trace.sample_bytes)
		o->trace.sample_bytes = TM_SESSION_SAMPLE_BYTES;
	if (o->mode == TM_PROFILE_LITE) {
		if (o->trace.sample_bytes || o->trace.py_alloc) {
			pr_warn("tidemark %s: --mode lite places no allocator probes: --sample-bytes and "
				"--trace-python-allocators go with --mode exact or sampled\n",
				cmd);
			return -EINVAL;
		}
		o->trace.lite = 1;
		if (!o->trace.max_allocs)
			o->trace.max_allocs = 1024; /* no allocator probes: nothing goes in allocs */
		/*
		 * Lite's stacks are those of mmap, munmap, mremap and brk calls:
		 * `import numpy` makes 53, not the 75k of its mallocs. A hash
		 * table's buckets are allocated and zeroed when it is created,
		 * populated or not: 262144 stacks' cost 0.02 s of every start.
		 */
		if (!o->trace.max_stacks)
			o->trace.max_stacks = TM_LITE_MAX_STACKS;
	}
	if (!o->trace.max_stacks)
		o->trace.max_stacks = TM_DEFAULT_MAX_STACKS;
	if (!o->trace.max_allocs)
		o->trace.max_allocs = o->trace.py_alloc ? TM_DEFAULT_MAX_ALLOCS_PY : TM_DEFAULT_MAX_ALLOCS;
	if (o->live_interval && !o->live) {
		pr_warn("tidemark %s: --interval is the refresh of --live: add --live, or drop --interval\n", cmd);
		return -EINVAL;
	}
	if (o->live && !o->live_interval)
		o->live_interval = 1.0;
	if (o->trace.py_alloc && !o->trace.python) {
		pr_warn("tidemark %s: --trace-python-allocators needs Python stacks: drop --no-python\n", cmd);
		return -EINVAL;
	}
	return 0;
}

int tm_session__preflight(const char *cmd)
{
	int err = tm_kernel__preflight(cmd);

	if (err)
		return err;
	/*
	 * BPF keys processes by their pids in the initial namespace; ours,
	 * and those in /proc here, would be another namespace's: every
	 * lookup would miss and a busy process would show nothing.
	 */
	if (tm_pidns__self_is_init() == -EXDEV) {
		pr_warn("tidemark %s: runs inside a PID namespace, whose pids are not the ones BPF sees: "
			"run it in the host's PID namespace (docker run --pid=host, or nsenter -t 1 -p)\n",
			cmd);
		return -ENOTSUP;
	}
	return 0;
}

/* Find CMD on PATH the way execvp will. */
static int resolve_cmd(const char *cmd, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return access(out, X_OK) ? -errno : 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchrnul(path, ':');
		int n = (int)(colon - path);

		snprintf(buf, sizeof(buf), "%.*s/%s", n ? n : 1, n ? path : ".", cmd);
		if (!access(buf, X_OK)) {
			snprintf(out, len, "%s", buf);
			return 0;
		}
		path = *colon ? colon + 1 : colon;
	}
	return -ENOENT;
}

/*
 * The ELF that runs for @exe: @exe itself, or the interpreter its #! line
 * names (through `env NAME` too). 0, or -ENOENT.
 */
static int exec_elf(const char *exe, char *out, size_t len)
{
	char line[PATH_MAX], interp[PATH_MAX];
	FILE *f;

	f = fopen(exe, "r");
	if (!f)
		return -errno;
	if (fgets(line, sizeof(line), f) && line[0] == '#' && line[1] == '!') {
		char *p = line + 2, *sp;

		fclose(f);
		while (*p == ' ')
			p++;
		p[strcspn(p, "\n")] = 0;
		sp = strchr(p, ' ');
		if (sp && !strcmp(basename(p), "env")) {
			char *arg = sp + 1;

			arg[strcspn(arg, " ")] = 0;
			if (resolve_cmd(arg, interp, sizeof(interp)))
				return -ENOENT;
		} else {
			if (sp)
				*sp = 0;
			snprintf(interp, sizeof(interp), "%s", p);
		}
		return exec_elf(interp, out, len);
	}
	fclose(f);
	snprintf(out, len, "%s", exe);
	return 0;
}

/*
 * Say which allocator @a is when it is not glibc's, and what is not
 * counted when tidemark does not know it: one line at the start, and the
 * same in the report (@prof).
 */
static void say_allocator(const char *cmd, const struct tm_allocator *a, struct tm_profile *prof)
{
	char line[PATH_MAX + 256];

	tm_allocator__describe(a, line, sizeof(line));
	if (a->family == TM_ALLOC_NONE || a->family == TM_ALLOC_OTHER) {
		pr_warn("tidemark %s: %s\n", cmd, line);
		prof->allocator_note = tm_profile__str(prof, line);
	} else if (a->family != TM_ALLOC_GLIBC) {
		pr_info("tidemark %s: %s\n", cmd, line);
	}
}

/* The allocator CMD will call: resolved from its ELF (or its #! interpreter's) before it runs. */
static int target_allocator(const char *exe, struct tm_allocator *a)
{
	char elf[PATH_MAX];
	int err;

	err = exec_elf(exe, elf, sizeof(elf));
	err = err ?: tm_allocator__resolve(a, elf, getenv("LD_PRELOAD"), NULL, "");
	if (err)
		pr_debug("tidemark run: %s: cannot read it as ELF: %s\n", exe, strerror(-err));
	return err;
}

/*
 * The file holding CPython's allocator functions that CMD will map: a
 * python linked statically exports them itself; otherwise its
 * libpython3.X.so, found as the dynamic loader will find it.
 */
static int python_elf(const char *exe, char *out, size_t len)
{
	char elf[PATH_MAX];
	int err;

	err = exec_elf(exe, elf, sizeof(elf));
	if (err)
		return err;
	if (!tm_elf__find_symbol(elf, "PyObject_Malloc", NULL, NULL, NULL)) {
		snprintf(out, len, "%s", elf);
		return 0;
	}
	return tm_elf__find_needed(elf, "libpython3.", out, len);
}

/*
 * More readers of PyObject_Malloc's allocator pointer than this: its body was
 * inlined into its callers (tm_elf__slot_refs: 4-6 in pyenv's builds, 162 in
 * Debian's LTO python3.11), which make objects without passing its probe.
 */
#define PY_INLINED_REFS 32

/* --trace-python-allocators on an interpreter that inlines PyObject_Malloc: say so before it runs. */
static void warn_py_inlined(const char *cmd, const char *py)
{
	unsigned long refs;

	if (tm_elf__slot_refs(py, "PyObject_Malloc", 48, &refs) || refs <= PY_INLINED_REFS)
		return;
	pr_warn("tidemark %s: %s inlines PyObject_Malloc into its callers (a link-time-optimised build, "
		"such as Debian's python3.11): most objects are made where --trace-python-allocators cannot "
		"see them, and they are undercounted; drop the option (pymalloc's arenas are then counted) "
		"or use an interpreter built without LTO\n",
		cmd, py);
}

/*
 * Whether CMD will be a CPython: its ELF (or its #! interpreter's) is one, or
 * it goes by a python name, or its #! line names one (a pyenv or virtualenv
 * shim is a shell script that execs the interpreter).
 */
static int runs_python(const char *cmd, const char *exe)
{
	char py[PATH_MAX], line[256] = "";
	FILE *f;

	if (!python_elf(exe, py, sizeof(py)) || !strncmp(tm_basename(cmd), "python", 6))
		return 1;
	f = fopen(exe, "r");
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return line[0] == '#' && line[1] == '!' && strstr(line, "python");
}

/* argv joined by spaces, as /proc/PID/cmdline would show it once CMD runs. */
static void join_argv(char **argv, char *buf, size_t len)
{
	size_t n = 0;
	int i;

	buf[0] = 0;
	for (i = 0; argv[i] && n < len - 1; i++)
		n += snprintf(buf + n, len - n, "%s%s", i ? " " : "", argv[i]);
}

/*
 * --in-cgroup DIR: its cgroup.procs, opened for writing, never created: DIR
 * must be a directory of a cgroup (v1 or v2) filesystem that has one.
 */
static int open_cgroup_procs(const char *dir)
{
	struct statfs sfs;
	int dfd, fd, err = 0;

	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		err = -errno;
		pr_warn("tidemark run: --in-cgroup %s: %s (give a cgroup directory, e.g. under /sys/fs/cgroup)\n",
			dir, strerror(-err));
		return err;
	}
	if (fstatfs(dfd, &sfs) || (sfs.f_type != CGROUP_SUPER_MAGIC && sfs.f_type != CGROUP2_SUPER_MAGIC)) {
		pr_warn("tidemark run: --in-cgroup %s is not a cgroup directory (not on a cgroup filesystem): "
			"give one under /sys/fs/cgroup\n",
			dir);
		close(dfd);
		return -ENOTDIR;
	}
	fd = openat(dfd, "cgroup.procs", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_warn("tidemark run: --in-cgroup %s: cannot open its cgroup.procs: %s\n", dir, strerror(-err));
	}
	close(dfd);
	return fd < 0 ? err : fd;
}

/* Put pid into the cgroup whose cgroup.procs is open as fd. */
static int join_cgroup(const char *dir, int fd, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);

	if (write(fd, buf, (size_t)n) != n) {
		int err = errno ? -errno : -EIO;

		pr_warn("tidemark run: cannot join cgroup %s: %s\n", dir, strerror(-err));
		return err;
	}
	return 0;
}

/* Where an OOM post-mortem of run's child goes: --output-dir, else next to the capture (else here). */
static int open_postmortem_dir(const struct tm_session_opts *o, const struct tm_outfile *capture, int *dirfd,
			       char *dir, size_t len)
{
	char buf[PATH_MAX];

	if (o->output_dir) {
		snprintf(dir, len, "%s", o->output_dir);
		return tm_outdir__open("tidemark run", o->output_dir, TM_OUTDIR_CREATE | TM_OUTDIR_STRICT, dirfd);
	}
	if (capture->stream) {
		/* -o /dev/null: not into /dev */
		snprintf(dir, len, ".");
		*dirfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else {
		snprintf(buf, sizeof(buf), "%s", capture->path);
		snprintf(dir, len, "%s", dirname(buf));
		*dirfd = fcntl(capture->dirfd, F_DUPFD_CLOEXEC, 0);
	}
	return *dirfd < 0 ? -errno : 0;
}

/* The child was OOM-killed: its post-mortem goes into the directory open_postmortem_dir() chose. */
static void write_postmortem(const struct tm_profile *prof, int dirfd, const char *dir)
{
	char base[PATH_MAX + 300];

	if (dirfd >= 0 && !tm_postmortem__write(dirfd, dir, prof, base, sizeof(base)))
		tm_postmortem__say("tidemark run", prof, base);
}

/*
 * One timeline point when one is due: the live heap the kernel counts and
 * the RSS the kernel reports. Nothing before the process is counted (a `run`
 * child before its exec). `final` records the end whatever the interval.
 */
static void sample(struct tm_trace *t, struct tm_timeline *tl, pid_t pid, uint64_t start_ns, int final)
{
	uint64_t now = tm_now_ns() - start_ns;
	struct tm_sample s;
	struct tm_proc p;

	if (!tl->s || (!final && !tm_timeline__due(tl, now)) || tm_trace__proc(t, pid, &p))
		return;
	s.time_ns = now;
	s.heap_bytes = p.live_bytes;
	s.rss_bytes = tm_proc__rss(pid);
	tm_timeline__add(tl, &s);
}

/* Warn when CPython made objects where the probes could not see them. */
static void warn_py_arena_untraced(const struct tm_profile *prof)
{
	size_t i;

	for (i = 0; i < prof->ndrops; i++)
		if (!strcmp(prof->drops[i].name, tm_drop_name(TM_DROP_PY_ARENA_UNTRACED)) && prof->drops[i].value)
			pr_warn("tidemark: %llu pymalloc arenas were mapped outside the probed PyObject_/PyMem_ calls: "
				"this interpreter makes objects where uprobes cannot see (an LTO build such as Debian's "
				"python3.11 inlines PyObject_Malloc into its callers): small objects are undercounted\n",
				(unsigned long long)prof->drops[i].value);
}

/*
 * `run` following children: every process of the tree but the root's final
 * image, from its fork or exec to its exit or next exec. Each gets its own
 * profile, built from its last counters when its image ends (the loader's
 * maps snapshot of it is still the right one then).
 */
struct tree_proc {
	pid_t pid, ppid;
	__u32 inc;
	uint64_t start_ns;
	int live; /* counted in the tree's sum */
	char command[512];
};

struct tree {
	struct tm_trace *t;
	struct tm_profile *root; /* the root's profile: takes each finished process */
	pid_t root_pid;
	__u32 root_inc; /* the root's current image */
	uint64_t start_ns;
	struct tree_proc *p;
	size_t n, cap;
	/* the sampled sum */
	struct tm_sample *samples;
	size_t nsamples, capsamples;
	uint64_t last_ns, peak_bytes, peak_time_ns;
	uint64_t interval_ns; /* between two samples: doubles each time the samples fill up */
	struct tm_tree_share *at_peak;
	size_t nat_peak;
	uint32_t mode;    /* --mode: each process's profile says it too */
	uint64_t nimages; /* images traced, the root's included */
	uint64_t unheld;  /* children the kernel could not hold: lost fork/exec notices */
	char note[1024];  /* what was not followed, said once at the end */
	size_t nnotes;
	/* the status line: what the images that have ended counted (allocations, drops, the largest peak) */
	uint64_t ended_allocs, ended_dropped, ended_peak;
};

#define TREE_INTERVAL_NS (20 * 1000 * 1000ULL)

static struct tree_proc *tree_find(struct tree *tr, pid_t pid, __u32 inc)
{
	size_t i;

	for (i = 0; i < tr->n; i++)
		if (tr->p[i].pid == pid && tr->p[i].inc == inc)
			return &tr->p[i];
	return NULL;
}

/* A new image of the tree, zeroed but for pid and inc; NULL when out of memory. */
static struct tree_proc *tree_add(struct tree *tr, pid_t pid, __u32 inc)
{
	struct tree_proc *tp;

	if (tm_grow(&tr->p, tr->n, &tr->cap, sizeof(*tp), 16))
		return NULL;
	tp = &tr->p[tr->n++];
	memset(tp, 0, sizeof(*tp));
	tp->pid = pid;
	tp->inc = inc;
	return tp;
}

static void tree_note(struct tree *tr, pid_t pid, const char *command, const char *why)
{
	size_t len = strlen(tr->note);

	tr->nnotes++;
	if (len < sizeof(tr->note) - 1)
		snprintf(tr->note + len, sizeof(tr->note) - len, "%spid %d (%.80s): %s", len ? "; " : "", pid,
			 command, why);
}

/* A followed image has ended (exit, or exec: final->exit_time_ns == 0): its profile, into the root's. */
static void tree_end(struct tree *tr, struct tree_proc *tp, const struct tm_proc *final)
{
	struct tm_profile_process pi = { .pid = tp->pid, .command = tp->command };
	const char *note = tm_trace__follow_note(tr->t, tp->pid);
	struct tm_profile *prof = tm_profile__new();
	int err;

	tp->live = 0;
	tr->ended_allocs += tm_progress__allocs(final);
	tr->ended_dropped += tm_progress__dropped(final);
	if (final->peak_bytes > tr->ended_peak)
		tr->ended_peak = final->peak_bytes;
	if (!prof)
		return;
	pi.start_ns = tp->start_ns;
	pi.end_ns = tm_now_ns();
	pi.ended = final->exit_time_ns != 0;
	pi.wait_status = final->exit_code;
	err = tm_profile__set_process(prof, &pi);
	err = err ?: tm_trace__build_profile_from(tr->t, tp->pid, final, prof);
	if (err) {
		pr_warn("tidemark run: pid %d (%s): cannot build its profile: %s\n", tp->pid, tp->command,
			strerror(-err));
		tm_profile__free(prof);
		return;
	}
	prof->mode = tr->mode;
	prof->ppid = tp->ppid;
	tm_postmortem__fill(prof, final); /* a worker the OOM killer chose: its own post-mortem */
	prof->execed = !final->exit_time_ns;
	if (note[0]) {
		prof->allocator_note = tm_profile__str(prof, note);
		tree_note(tr, tp->pid, tp->command, note);
	}
	/* A copy that only exec'd (a shell's or subprocess's fork): nothing of its own to show. */
	if (prof->execed && !prof->alloc_count && !prof->peak_bytes) {
		tm_profile__free(prof);
		return;
	}
	if (tm_profile__add_proc(tr->root, prof))
		tm_profile__free(prof);
}

static void tree_event(void *ctx, const struct tm_event *ev, const struct tm_proc *final)
{
	struct tree *tr = ctx;
	pid_t pid = (pid_t)ev->tgid;
	struct tree_proc *tp;

	switch (ev->type) {
	case TM_EV_CHILD:
	case TM_EV_CHILD_EXEC:
		tr->nimages++;
		if (pid == tr->root_pid) {
			tr->root_inc = (__u32)ev->arg; /* the root exec'd again: its last image is the root */
			break;
		}
		tp = tree_add(tr, pid, (__u32)ev->arg);
		if (!tp)
			break;
		tp->ppid = (pid_t)(ev->arg >> 32);
		tp->start_ns = tm_now_ns();
		tp->live = 1;
		tm_proc__cmdline(pid, tp->command, sizeof(tp->command));
		break;
	case TM_EV_EXIT:
		if (!final)
			break;
		if (pid == tr->root_pid && (__u32)ev->arg == tr->root_inc) {
			if (final->exit_time_ns)
				break; /* the root's end: finish() builds it */
			/* the root's image before an exec: a process of its own in the tree */
			tp = tree_add(tr, pid, (__u32)ev->arg);
			if (!tp)
				break;
			tp->start_ns = tr->start_ns;
			snprintf(tp->command, sizeof(tp->command), "%s", tr->root->command ? tr->root->command : "?");
		}
		tp = tree_find(tr, pid, (__u32)ev->arg);
		if (tp && tp->live)
			tree_end(tr, tp, final);
		else if (tp && pid == tr->root_pid)
			tree_end(tr, tp, final);
		break;
	default:
		break;
	}
}

static int by_bytes_desc(const void *a, const void *b)
{
	const struct tm_tree_share *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1
							     : x->pid - y->pid;
}

/* The tree's live heap now: the sum over every live image, and a new peak with its shares. */
static void tree_sample(struct tree *tr, int final)
{
	uint64_t now = tm_now_ns() - tr->start_ns, sum = 0;
	struct tm_tree_share *sh;
	struct tm_sample *ns;
	struct tm_proc p;
	size_t i, n = 0;

	if (!final && tr->nsamples && now - tr->last_ns < tr->interval_ns)
		return;
	sh = calloc(tr->n + 1, sizeof(*sh));
	if (!sh)
		return;
	if (!tm_trace__proc(tr->t, tr->root_pid, &p) && p.inc == tr->root_inc && p.live_bytes > 0) {
		sh[n++] = (struct tm_tree_share){ .pid = tr->root_pid, .bytes = p.live_bytes };
		sum += (uint64_t)p.live_bytes;
	}
	for (i = 0; i < tr->n; i++) {
		if (!tr->p[i].live || tm_trace__proc(tr->t, tr->p[i].pid, &p) || p.inc != tr->p[i].inc ||
		    p.live_bytes <= 0)
			continue;
		sh[n++] = (struct tm_tree_share){ .pid = tr->p[i].pid, .bytes = p.live_bytes };
		sum += (uint64_t)p.live_bytes;
	}
	tr->last_ns = now;
	if (tr->nsamples == TM_TIMELINE_MAX) {
		/* full: each pair becomes its larger sample (the peak stays one), and the interval doubles */
		for (i = 0; i < tr->nsamples / 2; i++) {
			const struct tm_sample *a = &tr->samples[2 * i], *b = &tr->samples[2 * i + 1];

			tr->samples[i] = a->heap_bytes > b->heap_bytes ? *a : *b;
		}
		tr->nsamples /= 2;
		tr->interval_ns *= 2;
	}
	if (tr->nsamples == tr->capsamples && tr->nsamples < TM_TIMELINE_MAX) {
		size_t cap = tr->capsamples ? 2 * tr->capsamples : 256;

		ns = realloc(tr->samples, cap * sizeof(*ns));
		if (ns) {
			tr->samples = ns;
			tr->capsamples = cap;
		}
	}
	if (tr->nsamples < tr->capsamples)
		tr->samples[tr->nsamples++] = (struct tm_sample){ .time_ns = now, .heap_bytes = (int64_t)sum };
	if (sum > tr->peak_bytes || !tr->at_peak) {
		qsort(sh, n, sizeof(*sh), by_bytes_desc);
		free(tr->at_peak);
		tr->at_peak = sh;
		tr->nat_peak = n;
		tr->peak_bytes = sum;
		tr->peak_time_ns = now;
		return;
	}
	free(sh);
}

/* Image i of the tree (i == tr->n: the root's current one), when it is live: its counters now. */
static int tree_image(const struct tree *tr, struct tm_trace *t, size_t i, struct tm_proc *p)
{
	pid_t pid = i < tr->n ? tr->p[i].pid : tr->root_pid;
	__u32 inc = i < tr->n ? tr->p[i].inc : tr->root_inc;

	if (i < tr->n && !tr->p[i].live)
		return -ESRCH;
	if (tm_trace__proc(t, pid, p))
		return -ESRCH;
	return p->inc == inc ? 0 : -ESRCH;
}

/*
 * The status line, when one is due: what the kernel counts for pid now; with
 * children followed (tr), the tree's: the sum of its live heaps now,
 * allocations and drops summed over every image (ended ones included), and
 * as the peak the larger of the tree's sampled peak (run's summary,
 * --tree-total) and the largest exact peak of one of its images, which the
 * tree's peak is at least and 20 ms samples can step over.
 */
static void progress(struct tm_trace *t, struct tm_progress *pg, pid_t pid, const struct tree *tr)
{
	uint64_t now = tm_now_ns(), allocs, dropped, peak;
	int64_t live = 0;
	struct tm_proc p;
	size_t i;

	if (!tm_progress__due(pg, now))
		return;
	if (!tr) {
		if (!tm_trace__proc(t, pid, &p))
			tm_progress__update(pg, now, &p);
		return;
	}
	allocs = tr->ended_allocs;
	dropped = tr->ended_dropped;
	peak = tr->peak_bytes > tr->ended_peak ? tr->peak_bytes : tr->ended_peak;
	for (i = 0; i <= tr->n; i++) {
		if (tree_image(tr, t, i, &p))
			continue;
		allocs += tm_progress__allocs(&p);
		dropped += tm_progress__dropped(&p);
		live += p.live_bytes > 0 ? p.live_bytes : 0;
		if (p.peak_bytes > peak)
			peak = p.peak_bytes;
	}
	tm_progress__show(pg, now, allocs, live, peak > (uint64_t)live ? peak : (uint64_t)live, dropped);
}

static int by_start(const void *a, const void *b)
{
	const struct tm_profile *x = *(const struct tm_profile *const *)a, *y = *(const struct tm_profile *const *)b;

	if (x->start_time_ns != y->start_time_ns)
		return x->start_time_ns < y->start_time_ns ? -1 : 1;
	return x->pid - y->pid;
}

/* The tree into the root's profile (which takes its arrays), and the one line on what was not followed. */
static void tree_finish(struct tree *tr, struct tm_profile *prof)
{
	struct tm_stats st;
	char line[160];
	size_t i;

	/*
	 * Images still running when the root ended (daemons it left behind):
	 * their counters as they are, held still while they are read (as
	 * attach's target), so each one's header and views agree.
	 */
	for (i = 0; i < tr->n; i++) {
		struct tm_proc p;

		if (!tr->p[i].live)
			continue;
		tm_trace__disarm(tr->t, tr->p[i].pid);
		if (!tm_trace__proc(tr->t, tr->p[i].pid, &p) && p.inc == tr->p[i].inc)
			tree_end(tr, &tr->p[i], &p);
	}
	if (!tm_trace__stats(tr->t, &st)) {
		tr->unheld = st.stats[TM_STAT_LOST_FORK] + st.stats[TM_STAT_LOST_EXEC];
		if (tr->unheld) {
			snprintf(line, sizeof(line), "%llu processes could not be held for their probes (the ring buffer "
						     "was full): their numbers are missing or low",
				 (unsigned long long)tr->unheld);
			tree_note(tr, 0, "?", line);
		}
		if (st.stats[TM_STAT_PROCS_FULL]) {
			snprintf(line, sizeof(line), "%llu processes not followed: the process table is full (--max-procs)",
				 (unsigned long long)st.stats[TM_STAT_PROCS_FULL]);
			tree_note(tr, 0, "?", line);
		}
	}
	if (!prof->nprocs && !tr->nnotes)
		return; /* one process: the capture is as it always was */
	/* in order of start (they ended in any order) */
	qsort(prof->procs, prof->nprocs, sizeof(*prof->procs), by_start);
	prof->tree.peak_bytes = tr->peak_bytes;
	prof->tree.peak_time_ns = tr->peak_time_ns;
	prof->tree.interval_ns = tr->interval_ns;
	prof->tree.at_peak = tr->at_peak;
	prof->tree.nat_peak = tr->nat_peak;
	prof->tree.samples = tr->samples;
	prof->tree.nsamples = tr->nsamples;
	prof->tree.nprocs = 1 + prof->nprocs;
	if (tr->note[0])
		prof->tree.note = tm_profile__str(prof, tr->note);
	tr->at_peak = NULL;
	tr->samples = NULL;
}

static void tree_free(struct tree *tr)
{
	free(tr->p);
	free(tr->samples);
	free(tr->at_peak);
}

/* run's summary of a tree: how many processes, the tree's peak, what was not followed. */
static void say_tree(const struct tm_profile *prof)
{
	char peak[32];

	tm_fmt__human(peak, sizeof(peak), prof->tree.peak_bytes);
	pr_info("tidemark: traced %llu processes (the command and %zu more; tidemark report --tree-total); "
		"the tree's live heap peaked at %s (sampled every %llu ms)\n",
		(unsigned long long)prof->tree.nprocs, prof->nprocs, peak,
		(unsigned long long)(prof->tree.interval_ns / 1000000));
}

/* A cost of a run's wall time at or above which the cheaper modes are suggested. */
#define COST_SUGGEST_SHARE 0.2

/*
 * What tracing cost the target, on stderr: the probe hits the kernel
 * counted and the time they added, hits x what a hit costs on this host
 * (trace/calib.h: trap and empty program) plus the time in tidemark's
 * programs beyond that, as a share of the traced time; when large, the
 * cheaper mode. An estimate: a trap's cost varies with the cache.
 */
static void say_cost(struct tm_trace *t, const struct tm_session_opts *o, uint64_t wall_ns)
{
	struct tm_probe_hits h;
	char hits[32], add[32], bpf[32], wall[32];
	double hit_ns, est;
	int measured;

	tm_trace__print_run_stats(t);
	if (tm_log_level < TM_LOG_INFO)
		return;
	if (tm_trace__probe_hits(t, &h)) {
		pr_info("tidemark: probe hits not counted (the kernel's BPF run counters could not be turned on)\n");
		return;
	}
	tm_fmt__u64(hits, sizeof(hits), h.hits);
	if (!h.hits) {
		pr_info("tidemark: 0 probe hits%s\n",
			o->mode == TM_PROFILE_LITE ? " (lite: syscall tracepoints only, no trap per call)" : "");
		return;
	}
	if (tm_calib__hit_ns(&hit_ns, &measured, 0)) {
		pr_info("tidemark: %s probe hits (what a hit costs here could not be measured: -v says why)\n", hits);
		return;
	}
	est = (double)h.hits * hit_ns + (double)h.bpf_ns;
	if (wall_ns && est > wall_ns && !measured) {
		double kept = hit_ns;

		/* Most likely kept from a busier moment of this boot: measured again, and kept instead. */
		if (!tm_calib__hit_ns(&hit_ns, &measured, 1)) {
			pr_info("tidemark: the cost of a hit kept from earlier in this boot (%.2f us) put the estimate "
				"above the run's wall time: measured again\n",
				kept / 1e3);
			est = (double)h.hits * hit_ns + (double)h.bpf_ns;
		} else {
			hit_ns = kept;
		}
	}
	tm_fmt__secs(add, sizeof(add), (uint64_t)est);
	tm_fmt__secs(bpf, sizeof(bpf), h.bpf_ns);
	tm_fmt__secs(wall, sizeof(wall), wall_ns);
	pr_info("tidemark: %s probe hits added about %s to the traced program (%.2f us a hit on this host%s, "
		"%s of it in tidemark's programs): %.0f%% of its %s\n",
		hits, add, hit_ns / 1e3, measured ? ", measured now" : "", bpf, wall_ns ? 100.0 * est / wall_ns : 0.0,
		wall);
	if (wall_ns && est > wall_ns) {
		char cache[4200];

		tm_calib__cache_path(cache, sizeof(cache));
		pr_info("tidemark: that is more than the run's wall time: its threads ran on several CPUs at "
			"once, or the cost of a hit was measured%s while this host was busier (delete %s to "
			"measure it again)\n",
			measured ? " just now" : " earlier in this boot", cache);
	}
	if (!wall_ns || est < COST_SUGGEST_SHARE * wall_ns)
		return;
	if (o->mode == TM_PROFILE_EXACT && h.bpf_ns > (double)h.hits * hit_ns)
		pr_info("tidemark: --mode sampled records a sample of the calls (their stacks are most of "
			"this time); --mode lite places no probe per call (mappings, heap growth, arenas, "
			"large blocks)\n");
	else
		pr_info("tidemark: --mode lite places no probe per call: it sees mappings, heap growth, "
			"pymalloc arenas and large blocks, at the cost of a syscall tracepoint\n");
}

/*
 * `attach` counts what is allocated since: a free of a block from before is
 * not a loss. Such frees are told apart from the drops (free_unmatched
 * counts them in a run) as freed_before_attach.
 */
static void attach_frees_apart(struct tm_profile *prof)
{
	const char *unmatched = tm_drop_name(TM_DROP_FREE_UNMATCHED);
	size_t i;

	for (i = 0; i < prof->ndrops; i++) {
		if (!strcmp(prof->drops[i].name, unmatched)) {
			tm_profile__set_counter(prof, 0, "freed_before_attach", prof->drops[i].value);
			prof->drops[i].value = 0;
			return;
		}
	}
}

/* Build, write (to @out, opened before tracing) and summarise the capture of the process @pi describes. */
static int finish(struct tm_trace *t, struct tm_profile *prof, const struct tm_profile_process *pi,
		  const struct tm_session_opts *o, struct tm_timeline *tl, struct tm_outfile *out, struct tree *tr)
{
	struct tm_report_opts ro = { .view = TM_VIEW_PEAK, .top_n = o->top, .flags = o->summary_flags };
	uint64_t t_build = tm_now_ns(), t_write, t_done;
	struct tm_proc p;
	int err;

	err = tm_profile__set_process(prof, pi);
	if (!err)
		err = tm_trace__proc(t, pi->pid, &p);
	if (!err)
		err = tm_trace__build_profile_from(t, pi->pid, &p, prof);
	if (err) {
		pr_warn("tidemark: pid %d was never counted: %s\n", pi->pid, strerror(-err));
		return err;
	}
	prof->mode = (uint32_t)o->mode;
	tm_postmortem__fill(prof, &p);
	if (prof->attached)
		attach_frees_apart(prof);
	warn_py_arena_untraced(prof);
	/* The peak itself, which 10 ms sampling may step over (RSS unknown there: 0). */
	if (prof->peak_bytes && tl->s) {
		struct tm_sample pk = { prof->peak_time_ns, (int64_t)prof->peak_bytes, 0 };

		tm_timeline__insert(tl, &pk);
	}
	err = tm_timeline__to_profile(tl, prof);
	if (err) {
		pr_warn("tidemark: timeline: %s\n", strerror(-err));
		return err;
	}
	if (tr)
		tree_finish(tr, prof);
	t_write = tm_now_ns();
	err = tm_outfile__commit(out, tm_capture__write_file(prof, out->f));
	if (err)
		return err; /* said why */
	t_done = tm_now_ns();
	/* the summary's process table says it; without a summary, a warning does */
	if (prof->tree.note && tm_log_level < TM_LOG_INFO)
		pr_warn("tidemark: not fully followed: %s\n", prof->tree.note);
	if (tm_log_level >= TM_LOG_INFO) {
		tm_report__text(prof, stderr, &ro);
		if (prof->nprocs || prof->tree.note)
			say_tree(prof);
		if (out->stream)
			pr_info("tidemark: wrote the capture to %s\n", out->path);
		else
			pr_info("tidemark: wrote %s (tidemark report %s)\n", out->path, out->path);
	}
	/* Where the time after tracing goes (the user waits for it): -v says. */
	pr_debug("tidemark: after tracing: profile built in %.3f s (%.3f s of it symbolizing native frames), "
		 "capture written in %.3f s, summary in %.3f s\n",
		 (t_write - t_build) / 1e9, tm_trace__symbolize_ns(t) / 1e9, (t_done - t_write) / 1e9,
		 (tm_now_ns() - t_done) / 1e9);
	return 0;
}

/*
 * The traced program's executable and its libc (the allocator's home: most
 * stacks pass through it), read on the other CPU while the program runs:
 * the profile built at its end does not wait for libc6-dbg's inflation.
 */
static void prefetch_symbols(struct tm_trace *t, const struct tm_allocator *a)
{
	const char *paths[2];
	size_t n = 0;

	if (!a->nobjs)
		return;
	paths[n++] = a->objs[0];
	if (a->provider > 0)
		paths[n++] = a->objs[a->provider];
	tm_trace__prefetch_symbols(t, paths, n);
}

/* d - a in seconds, 0 when either end was not seen */
static double secs(uint64_t a, uint64_t d)
{
	return a && d > a ? (d - a) / 1e9 : 0;
}

/*
 * -v: where the start-up went, from `run` until the command is let go:
 * @begin run called, @target the command's allocator read, @t's own
 * steps (tm_trace__open), @probed its probes placed.
 */
static void say_startup(struct tm_trace *t, uint64_t begin, uint64_t target, uint64_t probed)
{
	struct tm_trace_startup su;
	uint64_t btf, maps;

	tm_trace__startup(t, &su);
	/* a libbpf that did not say: its steps count as the next one's */
	btf = su.btf ?: su.opened;
	maps = su.maps ?: btf;
	pr_debug("tidemark: start-up %.3f s: command's allocator read %.3f s, heap populated and BPF object opened %.3f s, "
		 "kernel BTF read %.3f s, maps created %.3f s, programs relocated and verified %.3f s, "
		 "tracepoints attached %.3f s, probes placed on the command %.3f s, other %.3f s\n",
		 secs(begin, tm_now_ns()), secs(begin, target), secs(su.begin, su.opened), secs(su.opened, btf),
		 secs(btf, maps), secs(maps, su.loaded), secs(su.loaded, su.attached), secs(su.attached, probed),
		 secs(begin, tm_now_ns()) - secs(begin, target) - secs(su.begin, probed));
}

/* Open the capture before anything is traced: -o FILE, or tidemark-PID.tdm in the current directory. */
static int open_capture(const char *who, const struct tm_session_opts *o, pid_t pid, struct tm_outfile *out)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "tidemark-%d.tdm", (int)pid);
	return tm_outfile__open(out, who, o->output ? o->output : buf);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * `run`'s child is held at each new executable mapping until we continue it,
 * and a follower at its fork: should we die, the watchdog does. Started
 * before the BPF objects exist, so that it holds none of them; given the
 * procs map once they do (give_procs). *keep: tm_watchdog__stand_down() lets
 * it go; a close makes it continue what may be held. @child 0: `attach`.
 */
static int start_watchdog(const char *cmd, pid_t child, const char *what, int *keep)
{
	int pidfd = child ? pidfd_open_(child) : -1, err;

	err = child && pidfd < 0 ? -errno : tm_watchdog__start(pidfd, keep);
	if (pidfd >= 0)
		close(pidfd);
	if (err)
		pr_warn("tidemark %s: cannot start the watchdog that continues %s should tidemark die: %s\n", cmd, what,
			strerror(-err));
	return err;
}

static void give_procs(const char *cmd, struct tm_trace *t, int keep)
{
	int err = tm_watchdog__give_procs(keep, tm_trace__procs_fd(t));

	if (err)
		pr_warn("tidemark %s: the watchdog has no view of the held processes (%s): should tidemark die, %s\n",
			cmd, strerror(-err),
			strcmp(cmd, "run") ? "a child held at its fork would stay stopped"
					   : "it continues the command's process group only");
}

/*
 * Fork the child that will exec @exe, held until one byte 'g' arrives on
 * *go_fd (EOF: the tracer gave up, it exits 127). Its pid, or -1.
 */
static pid_t spawn_held(const char *exe, char **argv, int *go_fd, int live)
{
	int pipefd[2];
	pid_t child;

	if (pipe2(pipefd, O_CLOEXEC)) {
		pr_warn("tidemark run: pipe: %s\n", strerror(errno));
		return -1;
	}
	child = fork();
	if (child < 0) {
		pr_warn("tidemark run: fork: %s\n", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (child == 0) {
		char go = 0;

		close(pipefd[1]);
		if (read(pipefd[0], &go, 1) != 1 || go != 'g')
			_exit(127);
		if (live) {
			/* the live view reads the keys: CMD's stdin is /dev/null */
			int null = open("/dev/null", O_RDONLY);

			if (null >= 0 && null != STDIN_FILENO) {
				dup2(null, STDIN_FILENO);
				close(null);
			}
		}
		execvp(exe, argv);
		fprintf(stderr, "tidemark run: cannot execute %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(pipefd[0]);
	*go_fd = pipefd[1];
	return child;
}

/* The probes on the held child: its exec and exit, its allocator, CPython's if asked. */
static int probe_child(struct tm_trace *t, const struct tm_session_opts *o, pid_t child, const char *exe,
		       const struct tm_allocator *alloc)
{
	int err;

	tm_trace__print_verifier_stats(t);
	err = tm_trace__watch(t, child, TM_WATCH_AT_EXEC);
	if (!err && o->mode != TM_PROFILE_LITE)
		err = tm_trace__attach_allocator(t, child, alloc);
	if (err)
		return err;
	if (o->trace.python) {
		char py[PATH_MAX];

		/*
		 * Before the exec, so that every object is seen and a short program's
		 * end is not missed; else when the interpreter shows up.
		 */
		if (!python_elf(exe, py, sizeof(py))) {
			tm_trace__attach_python_end(t, child, py);
			if (o->trace.py_alloc) {
				warn_py_inlined("run", py);
				tm_trace__attach_python_allocators(t, child, py);
			}
		} else if (o->trace.py_alloc) {
			pr_debug("tidemark run: %s: cannot tell its libpython before it runs\n", exe);
		}
	}
	return 0;
}

int tm_session__run(const struct tm_session_opts *o, char **argv)
{
	struct tm_trace *t = NULL;
	struct tm_profile *prof = NULL;
	struct tm_timeline tl = { 0 };
	struct tm_profile_process pi = { 0 };
	struct tm_outfile out = { 0 };
	struct tm_allocator alloc = { .provider = -1 };
	struct tree tr = { 0 };
	struct tm_top *live = NULL;
	struct tm_progress pg = { 0 };
	char exe[PATH_MAX], cgroup[PATH_MAX], cmdline[4096], pm_dir[PATH_MAX];
	int go_fd = -1, watchdog = -1, status = 0, err, rc = 1, cg_fd = -1, pm_dirfd = -1;
	struct tm_trace_opts topts;
	struct tm_proc final;
	uint64_t exited_ns, begin_ns = tm_now_ns(), target_ns, probed_ns;
	pid_t child = -1;

	if (resolve_cmd(argv[0], exe, sizeof(exe))) {
		pr_warn("tidemark run: %s: command not found\n", argv[0]);
		return 127;
	}
	/* Everything run will write or join is opened before anything is traced. */
	if (o->output && open_capture("tidemark run", o, 0, &out))
		return 1;
	if (o->output_dir && open_postmortem_dir(o, &out, &pm_dirfd, pm_dir, sizeof(pm_dir)))
		goto out;
	if (o->in_cgroup) {
		cg_fd = open_cgroup_procs(o->in_cgroup);
		if (cg_fd < 0)
			goto out;
	}
	target_allocator(exe, &alloc);
	target_ns = tm_now_ns();

	child = spawn_held(exe, argv, &go_fd, o->live);
	if (child < 0)
		goto out;
	if (start_watchdog("run", child, exe, &watchdog))
		goto out;
	/* the default name needs the child's pid: it waits for us meanwhile */
	if (!o->output && open_capture("tidemark run", o, child, &out))
		goto out;
	if (pm_dirfd < 0 && open_postmortem_dir(o, &out, &pm_dirfd, pm_dir, sizeof(pm_dir)))
		goto out;
	if (cg_fd >= 0 && join_cgroup(o->in_cgroup, cg_fd, child))
		goto out;

	/* Ctrl-C reaches the child (same process group); we report once it exits. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);

	prof = tm_profile__new();
	if (!prof)
		goto out;
	if (o->mode != TM_PROFILE_LITE)
		say_allocator("run", &alloc, prof);
	/*
	 * The CPython walker is most of what the verifier checks (~37,000
	 * instructions in each of two programs): loaded only for a command
	 * that will be a CPython (runs_python).
	 */
	topts = o->trace;
	if (topts.python && !runs_python(argv[0], exe)) {
		pr_debug("tidemark run: %s is not CPython: no Python stack walker loaded\n", exe);
		topts.python = 0;
		topts.python_unloaded = 1;
	}
	err = tm_trace__open(&t, &topts);
	if (!err) {
		give_procs("run", t, watchdog);
		err = probe_child(t, o, child, exe, &alloc);
	}
	if (err)
		goto out;
	probed_ns = tm_now_ns();

	pi.pid = child;
	join_argv(argv, cmdline, sizeof(cmdline));
	pi.command = cmdline;
	if (!tm_cgroup__of_pid(child, cgroup, sizeof(cgroup)))
		pi.cgroup = cgroup;
	if (tm_timeline__init(&tl, TM_TIMELINE_MAX, TM_TIMELINE_INTERVAL_NS))
		pr_warn("tidemark: no memory for the timeline; the capture will have none\n");
	pi.start_ns = tm_now_ns();
	if (o->trace.children) {
		tr.t = t;
		tr.root = prof;
		tr.root_pid = child;
		tr.start_ns = pi.start_ns;
		tr.interval_ns = TREE_INTERVAL_NS;
		tr.mode = (uint32_t)o->mode;
		tm_trace__watching(t, child, &tr.root_inc);
		tm_trace__set_event_cb(t, tree_event, &tr);
		if (tm_profile__set_process(prof, &pi))
			goto out;
	}
	if (o->live)
		tm_top__live_open(&live, t, child, cmdline, o->live_interval);
	say_startup(t, begin_ns, target_ns, probed_ns);
	prefetch_symbols(t, &alloc);
	if (write(go_fd, "g", 1) != 1) {
		pr_warn("tidemark run: cannot start %s: %s\n", exe, strerror(errno));
		goto out;
	}
	close(go_fd);
	go_fd = -1;
	/* the live view owns the terminal: no status line under it */
	tm_progress__init(&pg, stderr, tm_log_level >= TM_LOG_INFO && !live, pi.start_ns);

	for (;;) {
		pid_t r = waitpid(child, &status, WNOHANG);

		if (r == child)
			break;
		if (r < 0 && errno != EINTR) {
			pr_warn("tidemark run: waitpid: %s\n", strerror(errno));
			goto out;
		}
		tm_trace__poll(t, 20);
		sample(t, &tl, child, pi.start_ns, 0);
		if (o->trace.children)
			tree_sample(&tr, 0);
		progress(t, &pg, child, o->trace.children ? &tr : NULL);
		if (live && tm_top__live_tick(live)) {
			tm_top__live_close(live); /* q: the view goes, the trace goes on */
			live = NULL;
			pr_info("tidemark run: live view closed; tracing %s until it exits\n", exe);
		}
	}
	tm_progress__clear(&pg);
	tm_top__live_close(live);
	live = NULL;
	/* the exit as the kernel saw it (sched_process_exit), for -v's count of what came after */
	exited_ns = !tm_trace__proc(t, child, &final) && final.exit_time_ns ? final.exit_time_ns : tm_now_ns();
	tm_trace__poll(t, 0);
	/* a follower that outlives the command is not held again: nobody would continue it */
	tm_trace__release_holds(t);
	sample(t, &tl, child, pi.start_ns, 1);
	if (o->trace.children)
		tree_sample(&tr, 1);
	child = -1;
	tm_watchdog__stand_down(watchdog); /* nothing left to hold: it goes now */
	watchdog = -1;
	pi.end_ns = tm_now_ns();
	pi.ended = 1;
	pi.wait_status = status;
	if (finish(t, prof, &pi, o, &tl, &out, o->trace.children ? &tr : NULL))
		goto out;
	/* the root's post-mortem holds the whole tree; each child killed has its own too */
	if (prof->oom.killed)
		write_postmortem(prof, pm_dirfd, pm_dir);
	for (size_t i = 0; i < prof->nprocs; i++)
		if (prof->procs[i]->oom.killed)
			write_postmortem(prof->procs[i], pm_dirfd, pm_dir);
	say_cost(t, o, pi.end_ns - pi.start_ns);
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	/* The child is gone: its probes can come off after we have returned. */
	tm_trace__destroy_detached(t);
	t = NULL;
	pr_debug("tidemark run: %.3f s from the command's exit to ours\n", (tm_now_ns() - exited_ns) / 1e9);
out:
	tm_top__live_close(live);
	if (go_fd >= 0)
		close(go_fd); /* the child sees EOF and exits 127 */
	if (watchdog >= 0)
		close(watchdog);
	if (child > 0)
		waitpid(child, NULL, 0);
	tm_trace__destroy(t);
	tm_outfile__abort(&out);
	if (cg_fd >= 0)
		close(cg_fd);
	if (pm_dirfd >= 0)
		close(pm_dirfd);
	tm_timeline__free(&tl);
	tm_profile__free(prof);
	tm_allocator__free(&alloc);
	tree_free(&tr);
	return rc;
}

/* Whether the attach's target has exited; if it has, says so in one line. */
static bool attach_target_gone(int pidfd, pid_t pid)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

	if (poll(&pfd, 1, 0) <= 0)
		return false;
	pr_warn("tidemark attach: pid %d exited while tidemark was loading its probes: nothing was traced\n",
		(int)pid);
	return true;
}

int tm_session__attach(const struct tm_session_opts *o)
{
	struct tm_trace *t = NULL;
	struct tm_profile *prof = NULL;
	struct tm_timeline tl = { 0 };
	struct tm_maps maps = { 0 };
	struct tm_profile_process pi = { .pid = o->pid };
	struct tm_outfile out = { 0 };
	struct tm_allocator alloc = { .provider = -1 };
	struct tree tr = { 0 };
	struct tm_top *live = NULL;
	struct tm_progress pg = { 0 };
	char cgroup[PATH_MAX], cmdline[4096], state;
	uint64_t deadline = 0;
	int pidfd = -1, watchdog = -1, err, rc = 1;
	unsigned long pflags;
	struct tm_proc p;

	if (tm_proc__stat(o->pid, &state, &pflags)) {
		pr_warn("tidemark attach: pid %d not found\n", o->pid);
		return 1;
	}
	if (pflags & TM_PF_KTHREAD) {
		pr_warn("tidemark attach: pid %d is a kernel thread: it has no user-space allocations to trace\n",
			o->pid);
		return 1;
	}
	if (state == 'Z' || state == 'X') {
		pr_warn("tidemark attach: pid %d has exited (a zombie its parent has not reaped): nothing to trace\n",
			o->pid);
		return 1;
	}
	/* The capture is opened before anything is traced. */
	if (open_capture("tidemark attach", o, o->pid, &out))
		return 1;
	pidfd = pidfd_open_(o->pid);
	err = tm_maps__read(o->pid, &maps);
	if (pidfd < 0 || err) {
		pr_warn("tidemark attach: pid %d not found (it exited)\n", o->pid);
		goto out;
	}
	if (tm_allocator__of_pid(&alloc, o->pid, &maps))
		pr_debug("tidemark attach: pid %d: cannot read its executable\n", o->pid);
	/*
	 * No malloc found may mean the target died while its objects were read (its memory is torn
	 * down before its exit is signalled): wait a moment for that before saying "no malloc".
	 */
	if (alloc.family == TM_ALLOC_NONE || alloc.family == TM_ALLOC_OTHER) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

		poll(&pfd, 1, 200);
	}
	if (attach_target_gone(pidfd, o->pid))
		goto out;
	if (o->trace.py_alloc) {
		char py[PATH_MAX];

		if (tm_maps__find_module(&maps, "libpython3.", py, sizeof(py)))
			snprintf(py, sizeof(py), "/proc/%d/exe", (int)o->pid);
		warn_py_inlined("attach", py);
	}

	tm_stop__on(SIGINT);
	tm_stop__on(SIGTERM);
	prof = tm_profile__new();
	if (!prof)
		goto out;
	if (o->mode != TM_PROFILE_LITE)
		say_allocator("attach", &alloc, prof);
	/* Its children are held at their fork for their probes: should we die there, the watchdog continues them. */
	if (o->trace.children && start_watchdog("attach", 0, "its children", &watchdog))
		goto out;
	err = tm_trace__open(&t, &o->trace);
	if (err)
		goto out;
	if (watchdog >= 0)
		give_procs("attach", t, watchdog);
	tm_trace__print_verifier_stats(t);
	tm_proc__cmdline(o->pid, cmdline, sizeof(cmdline));
	pi.command = cmdline;
	if (tm_pidns__of_pid(o->pid, &pi.ns_pid))
		pi.ns_pid = 0;
	if (!tm_cgroup__of_pid(o->pid, cgroup, sizeof(cgroup)))
		pi.cgroup = cgroup;
	if (tm_timeline__init(&tl, TM_TIMELINE_MAX, TM_TIMELINE_INTERVAL_NS))
		pr_warn("tidemark: no memory for the timeline; the capture will have none\n");
	pi.start_ns = tm_now_ns();
	if (attach_target_gone(pidfd, o->pid))
		goto out;
	/* Counted from when every probe is in place: a free missed before would inflate the peak. */
	err = tm_trace__watch(t, o->pid, TM_WATCH_UNARMED);
	if (err && !attach_target_gone(pidfd, o->pid))
		pr_warn("tidemark attach: pid %d: cannot start counting it: %s\n", o->pid, strerror(-err));
	if (err)
		goto out;
	if (o->mode != TM_PROFILE_LITE)
		err = tm_trace__attach_allocator(t, o->pid, &alloc);
	if (err) {
		attach_target_gone(pidfd, o->pid);
		goto out;
	}
	/* What was live before the attach, as the kernel counts it: the report states it. */
	prof->attached = 1;
	prof->attach_rss_anon = tm_proc__rss_anon(o->pid);
	err = tm_trace__arm(t, o->pid);
	/* Arming a pid that is already gone succeeds: it would leave a capture of nothing. */
	if (err == -ESRCH || (!err && attach_target_gone(pidfd, o->pid))) {
		if (err)
			pr_warn("tidemark attach: pid %d exited while tidemark was loading its probes: "
				"nothing was traced\n",
				o->pid);
		err = -ESRCH;
		goto out;
	}
	if (err) {
		pr_warn("tidemark attach: pid %d: cannot start counting: %s\n", o->pid, strerror(-err));
		goto out;
	}
	if (o->trace.children) {
		/* the processes it starts from now on (those running already are not its own: not followed) */
		tr.t = t;
		tr.root = prof;
		tr.root_pid = o->pid;
		tr.start_ns = pi.start_ns;
		tr.interval_ns = TREE_INTERVAL_NS;
		tr.mode = (uint32_t)o->mode;
		tm_trace__watching(t, o->pid, &tr.root_inc);
		tm_trace__set_event_cb(t, tree_event, &tr);
		if (tm_profile__set_process(prof, &pi))
			goto out;
	}
	if (o->duration > 0)
		deadline = pi.start_ns + (uint64_t)(o->duration * 1e9);
	pr_info("tidemark: attached to pid %d; %s to stop\n", o->pid, o->live ? "q or Ctrl-C" : "Ctrl-C");
	prefetch_symbols(t, &alloc);
	if (o->live)
		tm_top__live_open(&live, t, o->pid, cmdline, o->live_interval);
	/* the live view owns the terminal: no status line under it */
	tm_progress__init(&pg, stderr, tm_log_level >= TM_LOG_INFO && !live, pi.start_ns);

	while (!tm_stop__requested()) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

		if (poll(&pfd, 1, 0) > 0)
			break; /* the target exited */
		if (deadline && tm_now_ns() >= deadline)
			break;
		tm_trace__poll(t, 20);
		sample(t, &tl, o->pid, pi.start_ns, 0);
		if (o->trace.children)
			tree_sample(&tr, 0);
		progress(t, &pg, o->pid, o->trace.children ? &tr : NULL);
		if (live && tm_top__live_tick(live))
			break; /* q: as Ctrl-C */
	}
	tm_progress__clear(&pg);
	tm_top__live_close(live);
	live = NULL;
	tm_trace__poll(t, 0);
	tm_trace__release_holds(t); /* its children are not held again: nobody would continue them */
	tm_watchdog__stand_down(watchdog);
	watchdog = -1;
	sample(t, &tl, o->pid, pi.start_ns, 1);
	if (o->trace.children)
		tree_sample(&tr, 1);
	pi.end_ns = tm_now_ns();
	/* A target that lives on: its counters hold still while they are read, so the header and views agree. */
	tm_trace__disarm(t, o->pid);
	if (!tm_trace__proc(t, o->pid, &p) && p.exit_time_ns) {
		pi.ended = 1;
		pi.wait_status = p.exit_code;
	}
	if (finish(t, prof, &pi, o, &tl, &out, o->trace.children ? &tr : NULL))
		goto out;
	say_cost(t, o, pi.end_ns - pi.start_ns);
	rc = 0;
out:
	tm_top__live_close(live);
	if (watchdog >= 0)
		close(watchdog); /* it continues whatever may still be held */
	if (pidfd >= 0)
		close(pidfd);
	tm_outfile__abort(&out);
	tm_maps__free(&maps);
	tm_trace__destroy(t); /* detaches every probe */
	tm_timeline__free(&tl);
	tm_profile__free(prof);
	tm_allocator__free(&alloc);
	tree_free(&tr);
	return rc;
}
