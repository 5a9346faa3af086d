// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trace.c: the libbpf loader. See trace.h for the lifecycle.
 */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "target/allocator.h"
#include "target/elf.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/heap.h"
#include "util/log.h"
#include "util/outfile.h"
#include "target/maps.h"
#include "trace/kernel.h"
#include "trace/map_read.h"
#include "trace/probe_site.h"
#include "target/python.h"
#include "trace/sample.h"
#include "target/symbolize.h"
#include "target/unwind.h"
#include "util/demangle.h"
#include "trace/trace.h"
#include "trace/watchdog.h"
#include "tidemark.skel.h"
#include "util/hash.h"
#include "util/path.h"

/* One watched process: what it maps, as seen over its life. */
struct tm_watch {
	pid_t pid;
	__u32 inc;                 /* its incarnation in the kernel's maps; 0 until known */
	struct tm_maps maps;
	int python;                /* 1: CPython configured; -1: not one we can walk */
	int at_exec;               /* `run`: counted from its exec, so from its first allocation */
	int hold;                  /* stopped at new executable mappings: continue it */
	int armed;                 /* its procs entry is armed (TM_PROC_ARMED): counted */
	int py_pending;            /* a CPython not ready to be read yet: try again */
	char py_why[160];          /* why, said at the end if it never became ready */
	struct tm_py_cfg py_cfg;
	/* The interpreter ELF whose allocator functions are probed for this pid (dev/ino); 0 = none. */
	dev_t py_alloc_dev;
	ino_t py_alloc_ino;
	/* The interpreter ELF whose Py_FinalizeEx is probed for this pid (the program's end); 0 = none. */
	dev_t py_end_dev;
	ino_t py_end_ino;
	/* The libc whose allocator functions are probed for this pid; 0 = none yet. */
	dev_t libc_dev;
	ino_t libc_ino;
	/* Its allocator library, when not glibc: its own mappings are not the heap (alloc_code). */
	ino_t own_ino;
	int own_set;
	/* `run` following children, the daemon's full mode: why this image is not fully traced; "" = it is. */
	char note[400];
	uint64_t sites_sig;        /* the allocator sites its links are on (sites_sig()); 0 = none */
	int gone;                  /* its process exited: its links are a dead task's */
	/* Its allocator is probed (late_seen starts with its scope); objects checked since (dlopen). */
	int alloc_known;
	ino_t *late_seen;
	size_t nlate_seen;
	char *late_note; /* the first allocator library it loaded later: said once, kept for the report */
	/* The daemon's full mode: its allocator was resolved (1), and is not glibc's (2). */
	int own_alloc;
	/* Where the kernel was told its libc's code is (unwind_procs); 0 = not told. */
	uint64_t uw_lo;
	/* Its uprobes: they go when the process does (the daemon's churn). */
	struct bpf_link **links; /* one perf event each */
	size_t nlinks, caplinks;
	int *mlinks; /* uprobe_multi links (tm_kernel__uprobe_multi): many each */
	size_t nmlinks, capmlinks;
	size_t nprobes; /* uprobes placed, either way */
};

/* The probe sites of the libc probed last by the daemon (libc_sites()). */
struct libc_cache {
	dev_t dev;
	ino_t ino;
	struct tm_allocator a;
	struct tm_alloc_site *sites;
	size_t n;
};

/* A libc file whose .eh_frame rows are in unwind_rows (unwind_refresh()). */
struct unwind_file {
	dev_t dev;
	ino_t ino;
	int err;          /* its rows could not be loaded: not tried again */
	__u32 first, n;   /* unwind_rows[first, first + n) */
	uint64_t x_vaddr; /* its executable PT_LOAD: p_vaddr, p_offset */
	uint64_t x_off;
};

/* The syscalls whose anonymous memory is counted: their sys_enter_ and sys_exit_ tracepoints. */
#define TM_SYSCALLS 4
static const struct {
	const char *name;
	unsigned int kind;
} syscalls[TM_SYSCALLS] = {
	{ "mmap", TM_KIND_MMAP },
	{ "munmap", TM_KIND_MUNMAP },
	{ "mremap", TM_KIND_MREMAP },
	{ "brk", TM_KIND_BRK },
};

/* The calls that make a process: tp_child_start is on the return of each (`run` following children). */
#define TM_FORK_CALLS 4
static const char *const fork_calls[TM_FORK_CALLS] = { "clone", "clone3", "fork", "vfork" };

struct tm_trace {
	struct tidemark_bpf *skel;
	struct ring_buffer *rb;
	struct tm_watch *watch;    /* grows; pointers into it last until the next watch */
	size_t nwatch, capwatch;
	size_t max_watch;          /* 0 = unbounded */
	struct tm_symbolizer *sym;
	int python;                /* capture CPython stacks */
	int python_unloaded;       /* tm_trace_opts.python_unloaded */
	tm_trace_event_fn on_event;
	void *on_event_ctx;
	size_t nreap;              /* keys in reap_set */
	int py_alloc;              /* probe CPython's PyObject_ and PyMem_ allocators */
	int native_all;            /* keep the interpreter's frames between Python frames */
	int no_oom;                /* the kernel's oom:mark_victim cannot be used (before 6.8) */
	uint64_t sample_bytes;     /* --sample-bytes: the profiles say their counts are estimates */
	int alloc_probes;          /* the daemon's full mode: libc probes on every tracked process */
	/* Probe where CPython's finalization starts: not in the lite daemon, which places no uprobes. */
	int end_probe;
	char host_libc[PATH_MAX];  /* our own libc: what a process exec'd in our root will map */
	/* tm_allocator__pid_key()s found to call glibc's malloc: not resolved again */
	uint64_t glibc_keys[64];
	size_t nglibc_keys;
	struct libc_cache libc_cache;
	uint64_t probe_failures; /* processes whose libc could not be probed (gone too soon) */
	int children;            /* `run` follows the command's children (TM_EV_CHILD*) */
	int stats_fd;            /* holds the kernel's BPF run counters on (probe hits); -1 = off */
	int placing_fd;          /* the placement lock, shared while this run places probes; -1 = none */
	int lite;                /* --mode lite: no allocator probes, on children neither */
	int python_told;         /* a CPython without the walker was said on stderr once */
	int holds_released;      /* tm_trace__release_holds() was called: nothing is held any more */
	/* tp_sys_enter and tp_sys_exit on each syscall; tp_child_start on each fork call's return */
	struct bpf_link *sys_links[2 * TM_SYSCALLS];
	struct bpf_link *child_links[TM_FORK_CALLS];
	/* syscall stacks are walked out of libc (unwind_native) */
	int unwind;
	/* libc files whose rows are in unwind_rows, the first free row, the value as last written */
	struct unwind_file *uw_files;
	size_t nuw_files;
	__u32 uw_next;
	struct tm_unwind_rows *uw_rows;
	int umulti; /* uprobes go in uprobe_multi links (tm_kernel__uprobe_multi) */
	struct tm_trace_startup startup;
	uint64_t sym_ns; /* in tm_symbolizer__resolve() */
};

/* The open whose steps libbpf's log marks (tm_trace__open is not re-entered). */
static struct tm_trace_startup *startup_marks;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	va_list again;
	int len;

	/* libbpf 1.1's words as it reads the kernel's BTF and creates each map, during one load */
	if (startup_marks && level == LIBBPF_DEBUG) {
		if (strstr(fmt, "created successfully"))
			startup_marks->maps = tm_now_ns();
		else if (strstr(fmt, "loading kernel BTF"))
			startup_marks->btf = tm_now_ns();
	}
	/* libbpf's warnings always; its info and debug (thousands of lines) only with -vv. */
	if (level != LIBBPF_WARN && tm_log_level < TM_LOG_LIBBPF)
		return 0;
	va_copy(again, ap);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	if (len >= (int)sizeof(line)) {
		/* a verifier log comes as one message: whole, or its end (the error) is lost */
		len = vfprintf(stderr, fmt, again);
		va_end(again);
		return len;
	}
	va_end(again);
	/* A probe on a process that has exited: the caller says so in its own one line. */
	if (tm_log_level < TM_LOG_LIBBPF && strstr(line, "No such process"))
		return 0;
	return fputs(line, stderr);
}

static struct tm_watch *watch_find(struct tm_trace *t, pid_t pid)
{
	size_t i;

	for (i = 0; i < t->nwatch; i++)
		if (t->watch[i].pid == pid)
			return &t->watch[i];
	return NULL;
}

/*
 * The rows of the libc at @path (dev/ino @st): read and put in unwind_rows
 * once per file, whichever processes map it. NULL when they cannot be.
 */
static struct unwind_file *unwind_file(struct tm_trace *t, const char *path, const struct stat *st)
{
	struct tm_unwind_table tab = { 0 };
	struct tm_elf e = { .fd = -1 };
	struct unwind_file *f;
	size_t i;
	int err;

	for (i = 0; i < t->nuw_files; i++)
		if (t->uw_files[i].dev == st->st_dev && t->uw_files[i].ino == st->st_ino)
			return t->uw_files[i].err ? NULL : &t->uw_files[i];
	f = realloc(t->uw_files, (t->nuw_files + 1) * sizeof(*f));
	if (!f)
		return NULL;
	t->uw_files = f;
	f = &t->uw_files[t->nuw_files++];
	memset(f, 0, sizeof(*f));
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	err = tm_elf__open(path, &e);
	for (i = 0; !err && i < e.nr_loads; i++) {
		if (e.loads[i].flags & PF_X) {
			f->x_vaddr = e.loads[i].vaddr;
			f->x_off = e.loads[i].offset;
			break;
		}
	}
	tm_elf__close(&e);
	err = err ?: tm_unwind__load(path, &tab);
	if (!err && t->uw_next + tab.n > TM_UNWIND_ROWS_MAX)
		err = -ENOSPC;
	if (!err && !t->uw_rows) {
		t->uw_rows = calloc(1, sizeof(*t->uw_rows));
		if (!t->uw_rows)
			err = -ENOMEM;
	}
	if (!err) {
		__u32 zero = 0;

		/* the whole value again (once per libc file): the kernel's copy is what we hold */
		memcpy(&t->uw_rows->rows[t->uw_next], tab.rows, tab.n * sizeof(*tab.rows));
		if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.unwind_rows), &zero, t->uw_rows, BPF_ANY))
			err = -errno;
	}
	if (err) {
		/* stacks of its syscalls stop in libc, as before; said once per file */
		pr_warn("tidemark: %s: cannot read its call frame rows (%s): stacks of memory mapped inside it "
			"name libc's function, not its caller\n",
			path, strerror(-err));
		f->err = err;
		tm_unwind__free(&tab);
		return NULL;
	}
	f->first = t->uw_next;
	f->n = (__u32)tab.n;
	t->uw_next += f->n;
	pr_debug("tidemark: %s: %zu FDEs, %u call frame rows (%zu bytes) for the walk out of libc\n", path,
		 tab.nfde, f->n, tab.n * sizeof(*tab.rows));
	tm_unwind__free(&tab);
	return f;
}

/*
 * Tell the kernel where @w's libc code is and which rows are its, so a
 * syscall made inside libc is traced back to its caller (unwind_step()).
 * @now: the process's mappings just read.
 */
static void unwind_refresh(struct tm_trace *t, struct tm_watch *w, const struct tm_maps *now)
{
	int fd = bpf_map__fd(t->skel->maps.unwind_procs);
	struct tm_unwind_proc up = { 0 };
	const struct tm_map_entry *x = NULL;
	char path[PATH_MAX + 64];
	struct unwind_file *f;
	__u32 key = (__u32)w->pid;
	struct stat st;
	size_t i;
	int err;

	err = tm_maps__find_module(now, "libc.so.6", path, sizeof(path));
	if (!err && stat(path, &st))
		err = -errno;
	if (err) {
		if (err != -ENOENT) /* one is mapped: its syscalls' stacks will stop in it */
			pr_debug("tidemark: pid %d: its libc.so.6 cannot be opened (%s): no walk out of it\n", w->pid,
				 strerror(-err));
		goto none;
	}
	for (i = 0; i < now->nr; i++) {
		const struct tm_map_entry *e = &now->entries[i];

		if (e->inode == st.st_ino && e->perms[2] == 'x' && (!x || e->start < x->start))
			x = e;
	}
	if (!x)
		goto none;
	if (w->uw_lo == x->start)
		return; /* told already */
	f = unwind_file(t, path, &st);
	if (!f)
		goto none;
	up.lo = x->start;
	up.hi = x->end;
	up.bias = x->start - (f->x_vaddr + (x->offset - f->x_off));
	up.first = f->first;
	up.n = f->n;
	if (bpf_map_update_elem(fd, &key, &up, BPF_ANY)) {
		pr_debug("tidemark: pid %d: unwind_procs: %s\n", w->pid, strerror(errno));
		goto none;
	}
	w->uw_lo = x->start;
	return;
none:
	/* no libc (yet, or any more after an exec): nothing stale to walk with */
	if (w->uw_lo) {
		bpf_map_delete_elem(fd, &key);
		w->uw_lo = 0;
	}
}

int tm_trace__refresh_maps(struct tm_trace *t, pid_t pid)
{
	struct tm_watch *w = watch_find(t, pid);
	struct tm_maps now = { 0 };
	int err;

	if (!w)
		return -ENOENT;
	err = tm_maps__read(pid, &now);
	if (err)
		return err;   /* gone: keep what we had */
	if (t->unwind)
		unwind_refresh(t, w, &now);
	err = tm_maps__merge(&w->maps, &now);
	w->maps.pid = pid;
	/* a container's files are reached through /proc/PID/root: open them while it lives */
	if (!err)
		err = tm_symbolizer__open_modules(t->sym, &now, pid);
	tm_maps__free(&now);
	return err;
}

/* Are @path's allocator functions already probed for @w's process? */
static int watch_has_py_alloc(const struct tm_watch *w, const char *path)
{
	struct stat st;

	return w->py_alloc_ino && !stat(path, &st) && st.st_dev == w->py_alloc_dev && st.st_ino == w->py_alloc_ino;
}

/*
 * Configure the CPython walker for pid once its interpreter is mapped: at
 * attach, or for `run` on the exec and each new executable mapping (a
 * libpython is mapped by ld.so after the exec).
 */
static void try_python(struct tm_trace *t, struct tm_watch *w)
{
	struct tm_py_where where;
	char desc[256] = "";
	__u32 key = (__u32)w->pid;
	int err;

	if ((!t->python && !t->python_unloaded) || w->python)
		return;
	err = tm_python__detect_ex(w->pid, &w->py_cfg, &where, desc, sizeof(desc));
	if (err == -ENOENT)
		return;   /* not (yet) a CPython */
	if (!t->python) {
		if (err == -EAGAIN)
			return;
		w->python = -1;
		/* A tree may start many: said in full once, and in each one's own note (its section). */
		if (!t->python_told++)
			pr_warn("tidemark: pid %d is CPython (%s), but the command run is not, so no Python stack "
				"walker was loaded: its stacks are native only (run the interpreter as the command, "
				"or attach to it)\n",
				w->pid, where.path);
		else
			pr_debug("tidemark: pid %d is CPython (%s): native stacks only\n", w->pid, where.path);
		if (t->children) {
			size_t len = strlen(w->note);

			snprintf(w->note + len, sizeof(w->note) - len,
				 "%sCPython, but the command run is not: no Python stack walker was loaded, its "
				 "stacks are native only",
				 len ? "; " : "");
		}
		/* Its end needs no walker: its leaks are still taken where its finalization starts. */
		if (!err && t->end_probe)
			tm_trace__attach_python_end(t, w->pid, where.open);
		return;
	}
	if (err == -EAGAIN) {
		w->py_pending = 1;
		snprintf(w->py_why, sizeof(w->py_why), "%s", desc);
		return;
	}
	w->py_pending = 0;
	if (err) {
		w->python = -1;
		pr_warn("tidemark: pid %d: %s: Python frames are not captured\n", w->pid,
			desc[0] ? desc : strerror(-err));
		return;
	}
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.py_cfgs), &key, &w->py_cfg, BPF_ANY)) {
		w->python = -1;
		pr_warn("tidemark: pid %d: cannot configure the Python walker: %s\n", w->pid, strerror(errno));
		return;
	}
	/* After the update: BPF looks the entry up again once it sees the new generation. */
	__atomic_add_fetch(&t->skel->data->py_cfg_gen, 1, __ATOMIC_SEQ_CST);
	w->python = 1;
	pr_debug("tidemark: pid %d: %s\n", w->pid, desc);
	/* `run` probed it before the exec when it could tell which file it would be */
	if (t->end_probe)
		tm_trace__attach_python_end(t, w->pid, where.open);
	if (t->py_alloc) {
		/* `run` probed it before the exec when it could tell which file it would be */
		if (!watch_has_py_alloc(w, where.open)) {
			if (w->at_exec)
				pr_info("tidemark: pid %d: probing %s's allocators only now: objects made before are "
					"not counted (see py_arena_untraced)\n", w->pid, where.path);
			tm_trace__attach_python_allocators(t, w->pid, where.open);
		}
	}
}

static void probe_libc(struct tm_trace *t, struct tm_watch *w, int predict);
static void own_code_refresh(struct tm_trace *t, struct tm_watch *w);
static void watch_drop_links(struct tm_watch *w);
static void retry_python(struct tm_trace *t);
static void check_late_allocator(struct tm_watch *w);
static void late_scope(struct tm_watch *w, const struct tm_allocator *a);

static struct tm_watch *watch_add(struct tm_trace *t, pid_t pid)
{
	struct tm_watch *w;

	if (t->max_watch && t->nwatch >= t->max_watch)
		return NULL;
	if (tm_grow(&t->watch, t->nwatch, &t->capwatch, sizeof(*w), 16))
		return NULL;
	w = &t->watch[t->nwatch++];
	memset(w, 0, sizeof(*w));
	w->pid = pid;
	return w;
}

/*
 * Start (on) or stop counting w's process: its probe set is whole, or about
 * to change. In place in the kernel (the `arm` program), so no counter
 * updated meanwhile is lost. @how (enum tm_arm_how) is done first, on a
 * process not counted.
 */
static int watch_arm_how(struct tm_trace *t, struct tm_watch *w, int on, __u32 how)
{
	struct tm_arm_args a = { .tgid = (__u32)w->pid, .inc = w->inc, .on = on ? 1 : 0, .how = how };
	LIBBPF_OPTS(bpf_test_run_opts, ro, .ctx_in = &a, .ctx_size_in = sizeof(a));

	if (bpf_prog_test_run_opts(bpf_program__fd(t->skel->progs.arm), &ro))
		return -errno;
	if (ro.retval)
		return (int)ro.retval; /* -ESRCH: its entry is gone (it exited); -EBUSY: @how on a counted one */
	w->armed = on;
	return 0;
}

static int watch_arm(struct tm_trace *t, struct tm_watch *w, int on)
{
	return watch_arm_how(t, w, on, 0);
}

int tm_trace__arm(struct tm_trace *t, pid_t pid)
{
	struct tm_watch *w = watch_find(t, pid);

	return w ? watch_arm(t, w, 1) : -ENOENT;
}

/* The daemon's kernel side tracks pid under incarnation inc from now: fresh user-side state. */
static struct tm_watch *watch_restart(struct tm_trace *t, pid_t pid, __u32 inc)
{
	struct tm_watch *w = watch_find(t, pid);

	if (w) {
		tm_maps__free(&w->maps);
		memset(&w->py_cfg, 0, sizeof(w->py_cfg));
		w->python = 0;
		w->py_pending = 0;
		w->own_alloc = 0;
		w->uw_lo = 0; /* a new image: its libc is told again */
		w->note[0] = 0;
	} else {
		w = watch_add(t, pid);
	}
	if (w) {
		w->inc = inc;
		w->armed = !t->alloc_probes; /* as tp_exec and tp_fork left its entry */
	}
	return w;
}

/*
 * Which probe sites @a puts where: (device, inode, offset) of each. Two images
 * with the same signature need the same probes, and a task's probes outlive
 * its exec (the kernel filters them by task), so an exec into a program with
 * the same allocator keeps them: unregistering a uprobe waits for an RCU grace
 * period, the most expensive step of following an exec.
 */
static uint64_t sites_sig(const struct tm_allocator *a)
{
	struct tm_alloc_site *sites;
	uint64_t h = 1469598103934665603ULL;
	struct stat st;
	size_t n, i;

	if (tm_probe_site__alloc_sites(a, &sites, &n))
		return 0;
	for (i = 0; i < n; i++) {
		if (stat(sites[i].path, &st)) {
			h = 0;
			break;
		}
		h = tm_hash(h, &st.st_dev, sizeof(st.st_dev));
		h = tm_hash(h, &st.st_ino, sizeof(st.st_ino));
		h = tm_hash(h, &sites[i].off, sizeof(sites[i].off));
		h = tm_hash(h, &sites[i].fn->kind, sizeof(sites[i].fn->kind));
	}
	free(sites);
	return n ? h : 0;
}

/*
 * Why pid's allocator @a (none, or one tidemark does not know) is not
 * probed, and what is counted instead: said with the executable's own name,
 * not the /proc path it was read through.
 */
static void describe_unprobed(pid_t pid, const struct tm_allocator *a, char *buf, size_t len)
{
	char proc_exe[64], exe[PATH_MAX], desc[300];
	ssize_t n;
	size_t plen;

	tm_allocator__describe(a, desc, sizeof(desc));
	snprintf(proc_exe, sizeof(proc_exe), "/proc/%d/exe", (int)pid);
	plen = strlen(proc_exe);
	n = readlink(proc_exe, exe, sizeof(exe) - 1);
	if (n > 0 && !strncmp(desc, proc_exe, plen)) {
		exe[n] = 0;
		snprintf(buf, len, "%.200s%s", exe, desc + plen);
	} else {
		snprintf(buf, len, "%s", desc);
	}
}

/*
 * `run` following children: a traced process forked pid (TM_EV_CHILD), or a
 * followed process exec'd (TM_EV_CHILD_EXEC). It is held before its first
 * instruction: probe its allocator (a fork child's is its parent's, mapped
 * already; a new image's is resolved as its dynamic loader will find it),
 * configure the Python walker, count it, and continue it.
 */
static void follow_child(struct tm_trace *t, const struct tm_event *ev)
{
	pid_t pid = (pid_t)ev->tgid;
	int exec = ev->type == TM_EV_CHILD_EXEC, err;
	struct tm_allocator a = { .provider = -1 };
	struct tm_watch *w = watch_find(t, pid);
	int gone = w && w->gone;
	uint64_t sig, t0 = tm_now_ns(), t1, t2, t3;

	if (w) {
		tm_maps__free(&w->maps);
		memset(&w->py_cfg, 0, sizeof(w->py_cfg));
		w->python = 0;
		w->py_pending = 0;
		w->own_ino = 0;
		w->own_set = 0;
	} else {
		w = watch_add(t, pid);
	}
	if (!w) {
		kill(pid, SIGCONT);
		return;
	}
	w->inc = (__u32)ev->arg;
	w->gone = 0;
	w->hold = 1;
	w->at_exec = exec;
	w->armed = !exec; /* a fork child is counted at once: it has not run yet */
	w->note[0] = 0;
	tm_trace__refresh_maps(t, pid);
	/* at the exec only the executable and the dynamic loader are mapped: resolve as ld.so will */
	err = t->lite ? 0 : tm_allocator__of_pid(&a, pid, exec ? NULL : &w->maps);
	t1 = tm_now_ns();
	if (t->lite) {
		/* --mode lite: its mappings only, as for the command itself */
	} else if (err) {
		snprintf(w->note, sizeof(w->note), "its executable cannot be read (%s): only its mappings are counted",
			 strerror(-err));
	} else if (a.family == TM_ALLOC_NONE || a.family == TM_ALLOC_OTHER || !a.nprobes) {
		describe_unprobed(pid, &a, w->note, sizeof(w->note));
	} else if (!exec || gone || !w->nprobes || !(sig = sites_sig(&a)) || sig != w->sites_sig) {
		/* a fork child is a new task (and a reused pid another): earlier probes are not its own */
		watch_drop_links(w);
		err = tm_trace__attach_allocator(t, pid, &a);
		if (err)
			snprintf(w->note, sizeof(w->note), "its allocator could not be probed (%s)", strerror(-err));
	} else {
		/* an exec keeping its probes: a new program, whose later allocator libraries are news again */
		late_scope(w, &a);
	}
	tm_allocator__free(&a);
	if (w->note[0])
		pr_debug("tidemark run: pid %d: %s\n", pid, w->note);
	t2 = tm_now_ns();
	try_python(t, w);
	if (!w->armed)
		watch_arm(t, w, 1);
	kill(pid, SIGCONT);
	t3 = tm_now_ns();
	pr_debug("tidemark run: pid %d (%s) held %.1f ms: maps and allocator %.1f, probes %.1f, Python and arming %.1f\n",
		 pid, exec ? "exec" : "fork", (double)(t3 - t0) / 1e6, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
		 (double)(t3 - t2) / 1e6);
}

const char *tm_trace__follow_note(struct tm_trace *t, pid_t pid)
{
	struct tm_watch *w = watch_find(t, pid);

	return w ? w->note : "";
}

static int handle_event(void *ctx, void *data, size_t len)
{
	struct tm_trace *t = ctx;
	const struct tm_event *ev = data;
	const struct tm_proc *final = NULL;
	struct tm_watch *w;

	if (len < sizeof(*ev))
		return 0;
	switch (ev->type) {
	case TM_EV_EXEC:
	case TM_EV_FORK:
		/* the daemon's kernel side started (or restarted) tracking tgid at its exec or fork */
		watch_restart(t, (pid_t)ev->tgid, (__u32)ev->arg);
		__attribute__((fallthrough));   /* and its maps, now */
	case TM_EV_EXEC_MAP:
		tm_trace__refresh_maps(t, (pid_t)ev->tgid);
		w = watch_find(t, (pid_t)ev->tgid);
		if (w)
			try_python(t, w);
		if (w)
			own_code_refresh(t, w);
		if (w && ev->type == TM_EV_EXEC_MAP)
			check_late_allocator(w);
		if (w && t->alloc_probes) {
			probe_libc(t, w, ev->type == TM_EV_EXEC);
			/* Whether or not its libc could be probed: what can be counted is, from now on. */
			if (!w->armed)
				watch_arm(t, w, 1);
		}
		/* After the maps are read: a SIGSTOP still pending is cancelled by this. */
		if (w && w->hold)
			kill((pid_t)ev->tgid, SIGCONT);
		break;
	case TM_EV_CHILD:
	case TM_EV_CHILD_EXEC:
		/* the caller first, while it is held: what it reads of the process (its command) is there */
		if (t->on_event)
			t->on_event(t->on_event_ctx, ev, NULL);
		follow_child(t, ev);
		/*
		 * Placing a child's probes takes milliseconds, a tree's many: an
		 * interpreter started meanwhile is not kept waiting for the poll's end.
		 */
		retry_python(t);
		return 0;
	case TM_EV_EXIT:
		if (len < sizeof(struct tm_exit_event))
			return 0;
		final = &((const struct tm_exit_event *)data)->proc;
		w = watch_find(t, (pid_t)ev->tgid);
		if (w && w->inc == (__u32)ev->arg && final->exit_time_ns)
			w->gone = 1;
		break;
	default:
		break;
	}
	if (t->on_event)
		t->on_event(t->on_event_ctx, ev, final);
	return 0;
}

/* [lo, hi) of the mappings of a module whose file name starts with prefix. */
static int module_span(const struct tm_maps *m, const char *prefix, uint64_t *lo, uint64_t *hi)
{
	size_t i;

	*lo = *hi = 0;
	for (i = 0; i < m->nr; i++) {
		const struct tm_map_entry *e = &m->entries[i];
		const char *base = tm_basename(e->path);

		if (strncmp(base, prefix, strlen(prefix)))
			continue;
		if (!*lo || e->start < *lo)
			*lo = e->start;
		if (e->end > *hi)
			*hi = e->end;
	}
	return *lo ? 0 : -ENOENT;
}

void tm_trace__select_programs(struct tidemark_bpf *s, const struct tm_trace_opts *o, int oom_task)
{
	/*
	 * The allocator probes: a `run` or `attach` target's, the daemon's full
	 * mode, CPython's allocators; none in --mode lite (syscall tracepoints only).
	 */
	int uprobes = !o->lite && (!o->daemon || o->alloc_probes || o->py_alloc);

	bpf_program__set_autoload(s->progs.alloc_enter, uprobes);
	bpf_program__set_autoload(s->progs.alloc_exit, uprobes);
	bpf_program__set_autoload(s->progs.free_enter, uprobes);
	bpf_program__set_autoload(s->progs.syscall_wrapper_enter, uprobes);
	/* the daemon's: following forks of what it selected, and deleting what it forgot */
	bpf_program__set_autoload(s->progs.reap, o->daemon);
	/* and `run`'s, unless --no-children: a fork of a traced process, held at its first return */
	bpf_program__set_autoload(s->progs.tp_fork, o->daemon || o->children);
	bpf_program__set_autoload(s->progs.tp_child_start, !o->daemon && o->children);
	bpf_program__set_autoload(s->progs.tp_oom_victim, oom_task);
}

/*
 * The syscall tracepoints: two programs, each placed on four tracepoints with
 * a cookie; and, following children, one on the return of each fork call.
 */
static int attach_syscalls(struct tm_trace *t)
{
	char tp[32];
	size_t i;

	for (i = 0; i < TM_SYSCALLS; i++) {
		LIBBPF_OPTS(bpf_tracepoint_opts, eo, .bpf_cookie = tm_sys_cookie(syscalls[i].kind));
		struct bpf_link *l;

		snprintf(tp, sizeof(tp), "sys_enter_%s", syscalls[i].name);
		l = bpf_program__attach_tracepoint_opts(t->skel->progs.tp_sys_enter, "syscalls", tp, &eo);
		if (!l)
			goto fail;
		t->sys_links[2 * i] = l;
		snprintf(tp, sizeof(tp), "sys_exit_%s", syscalls[i].name);
		l = bpf_program__attach_tracepoint(t->skel->progs.tp_sys_exit, "syscalls", tp);
		if (!l)
			goto fail;
		t->sys_links[2 * i + 1] = l;
	}
	for (i = 0; t->children && i < TM_FORK_CALLS; i++) {
		snprintf(tp, sizeof(tp), "sys_exit_%s", fork_calls[i]);
		t->child_links[i] = bpf_program__attach_tracepoint(t->skel->progs.tp_child_start, "syscalls", tp);
		if (!t->child_links[i])
			goto fail;
	}
	return 0;
fail:
	return -errno;
}

/*
 * libbpf's load reads the kernel's BTF (5.5 MB on 6.18) into one buffer and
 * copies it into another: ~2,700 page faults, ~30 ms of every start on this
 * VM (util/heap.h). So the heap grows once by twice that, populated in one
 * call, and keeps it: large blocks come from the heap rather than fresh
 * mappings (glibc's most, 32 MiB), and it is never trimmed. libbpf's
 * buffers, then the profile's, reuse those pages.
 */
static void heap_prefault(void)
{
	struct stat st;

	if (stat("/sys/kernel/btf/vmlinux", &st) || st.st_size <= 0 || st.st_size > (64 << 20))
		return;
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	tm_heap__populate(2 * (size_t)st.st_size + (2u << 20));
}

/*
 * Removal yields to placement. Removing a perf-event probe holds the
 * kernel's event_mutex across a grace period, and placing one needs it: a
 * run started while earlier runs' detached removers worked waited once for
 * every probe it placed (five back-to-back runs of a 10-child shell: 0.40 s
 * to 4.71 s). uprobe_multi links (6.10+) take no such lock, but the syscall
 * tracepoints and every uprobe before 6.10 do. So `run` and `attach` hold
 * this file's flock shared from their first probe to their end (taken once
 * their BPF is loaded, which needs no such lock), and a remover
 * takes it exclusive for each removal: a run waits for the one removal in
 * flight at most, and a remover for the runs placing probes (60 s at most).
 * The daemon does not take it: it places probes for as long as it lives.
 */
#define TM_PLACING_DIR     "/run/tidemark"
#define TM_PLACING_LOCK    "probes.lock"
#define TM_REMOVER_WAIT_MS 60000

/* The lock file opened and flock()ed with @how (LOCK_SH, waiting; 0: not locked): its fd, or -1. */
static int placing_lock(int how)
{
	int dirfd, fd;

	if (access("/run", W_OK) || tm_outdir__open("tidemark: probe placement lock", TM_PLACING_DIR,
						    TM_OUTDIR_CREATE | TM_OUTDIR_STRICT, &dirfd))
		return -1;
	fd = openat(dirfd, TM_PLACING_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	close(dirfd);
	if (fd < 0 || (how && flock(fd, how))) {
		pr_debug("tidemark: the probe placement lock " TM_PLACING_DIR "/" TM_PLACING_LOCK ": %s\n",
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * A remover's turn: the lock exclusive, once no run is placing probes (or it
 * waited long enough). First a pause: flock hands nothing over, so a run
 * blocked on the lock while the last removal went on takes it only if it
 * runs before the remover asks again.
 */
static void removal_turn(int fd, int *waited_ms)
{
	usleep(5000);
	while (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK && *waited_ms < TM_REMOVER_WAIT_MS) {
		usleep(10000);
		*waited_ms += 10;
	}
}

/*
 * Every probe of @t removed one at a time, each in its turn (removal_turn):
 * what tm_trace__destroy() then finds is only what holds no probe.
 */
static void remove_yielding(struct tm_trace *t)
{
	int fd = placing_lock(0), waited = 0;
	size_t i, k;

	if (fd < 0)
		return;
	for (i = 0; i < t->nwatch; i++) {
		struct tm_watch *w = &t->watch[i];

		for (k = 0; k < w->nlinks; k++) {
			removal_turn(fd, &waited);
			bpf_link__destroy(w->links[k]);
			flock(fd, LOCK_UN);
		}
		w->nlinks = 0;
		for (k = 0; k < w->nmlinks; k++) {
			removal_turn(fd, &waited);
			close(w->mlinks[k]);
			flock(fd, LOCK_UN);
		}
		w->nmlinks = 0;
	}
	for (i = 0; i < 2 * TM_SYSCALLS + TM_FORK_CALLS; i++) {
		struct bpf_link **l = i < 2 * TM_SYSCALLS ? &t->sys_links[i] : &t->child_links[i - 2 * TM_SYSCALLS];

		if (!*l)
			continue;
		removal_turn(fd, &waited);
		bpf_link__destroy(*l);
		*l = NULL;
		flock(fd, LOCK_UN);
	}
	close(fd);
}

int tm_trace__open(struct tm_trace **out, const struct tm_trace_opts *o)
{
	struct tm_maps self = { 0 };
	uint64_t lo, hi;
	struct tm_trace *t;
	int err;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->stats_fd = -1;
	t->placing_fd = -1;
	t->startup.begin = tm_now_ns();
	heap_prefault();
	t->sym = tm_symbolizer__new();
	if (!t->sym) {
		err = -ENOMEM;
		goto fail;
	}
	libbpf_set_print(libbpf_print);

	t->skel = tidemark_bpf__open();
	if (!t->skel) {
		err = -errno;
		pr_warn("tidemark: cannot open the BPF object: %s\n", strerror(-err));
		goto fail;
	}
	t->startup.opened = tm_now_ns();
	t->skel->rodata->native_depth = o->native_depth;
	t->skel->rodata->trace_python = o->python;
	t->skel->rodata->daemon_mode = o->daemon;
	t->skel->rodata->sel_flags = o->sel_flags;
	t->python = o->python;
	t->python_unloaded = o->python_unloaded;
	t->skel->rodata->sample_bytes = o->sample_bytes;
	if (o->sample_bytes)
		tm_sample__fill_tables((__u32 *)t->skel->rodata->sample_q, (__u32 *)t->skel->rodata->sample_g);
	t->sample_bytes = o->sample_bytes;
	t->skel->rodata->trace_py_alloc = o->python && o->py_alloc;
	t->py_alloc = o->python && o->py_alloc;
	t->max_watch = o->max_procs;
	t->alloc_probes = o->alloc_probes;
	t->end_probe = !o->daemon || o->alloc_probes; /* the lite daemon places no uprobes */
	t->skel->rodata->arm_by_loader = o->daemon && o->alloc_probes;
	/* no allocator uprobe names the caller of the allocator's mmap: walk out of libc to it */
	t->unwind = o->lite || (o->daemon && !o->alloc_probes);
	t->skel->rodata->unwind_native = t->unwind;
	t->skel->rodata->max_allocs_per_proc = o->max_allocs_per_proc;
	t->skel->rodata->max_stacks_per_proc = o->max_stacks_per_proc;
	if (o->max_procs)
		bpf_map__set_max_entries(t->skel->maps.procs, o->max_procs);
	if (o->max_regions)
		bpf_map__set_max_entries(t->skel->maps.regions, o->max_regions);
	t->children = !o->daemon && o->children;
	t->skel->rodata->follow_children = t->children;
	if (t->children) {
		struct rlimit rl;

		/* Each process's end travels in the ring (~1 KiB): room for a tree's worth between two polls. */
		bpf_map__set_max_entries(t->skel->maps.events, 1u << 20);
		/* ~20 uprobe links a process, kept until the end (closing one waits for RCU) */
		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	t->lite = o->lite;
	/* Tracepoints: the programs filter by tgid through the procs map. */
	err = tm_kernel__tracefs();
	if (err)
		goto fail;
	if (!tm_kernel__oom_victim_task()) {
		pr_debug("tidemark: this kernel's oom:mark_victim does not pass the task (before 6.8): "
			 "no OOM post-mortems (the report counts oom_no_tracepoint)\n");
		t->no_oom = 1;
	}
	tm_trace__select_programs(t->skel, o, !t->no_oom);
	t->umulti = tm_kernel__uprobe_multi();
	if (t->umulti) {
		struct bpf_program *up[] = { t->skel->progs.alloc_enter, t->skel->progs.alloc_exit,
					     t->skel->progs.free_enter, t->skel->progs.syscall_wrapper_enter,
					     t->skel->progs.py_finalize_enter };

		/* placed by uprobe_multi links only (a program of that type cannot go on a perf event) */
		for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++)
			bpf_program__set_expected_attach_type(up[i], (enum bpf_attach_type)tm_kernel__uprobe_multi_type());
	}
	t->native_all = o->native_all;
	if (!tm_maps__read(getpid(), &self)) {
		/* Our dynamic loader is the one a `run` child starts with: its size bounds the child's. */
		if (!module_span(&self, "ld-linux", &lo, &hi))
			t->skel->rodata->ldso_size = hi - lo;
		/* Our libc's path as mapped (no /proc/PID/root prefix): the daemon's guess at an exec. */
		self.pid = 0;
		if (o->alloc_probes)
			tm_maps__find_module(&self, "libc.so.6", t->host_libc, sizeof(t->host_libc));
	}
	tm_maps__free(&self);
	bpf_map__set_max_entries(t->skel->maps.allocs, o->max_allocs);
	/*
	 * Preallocated, a table costs ~96 bytes an entry up front, and filling
	 * them is on the user's clock: 0.25-0.6 s of every run's start for the
	 * default 1 M live blocks, and the 65536 stacks' table another 0.05-0.16
	 * s, on this 2-CPU machine under load. So entries are allocated as blocks
	 * go live (measured ~8% slower on py_churn.py, within noise here).
	 */
	bpf_map__set_map_flags(t->skel->maps.allocs, BPF_F_NO_PREALLOC);
	/*
	 * Both grow as stacks are seen (BPF_F_NO_PREALLOC), so the default can
	 * hold `import numpy` (75k stacks) and costs only what is used. An aggs
	 * entry is one (process, stack): at most one per stack, and the two
	 * rows each process may have for stacks that found no room.
	 */
	bpf_map__set_max_entries(t->skel->maps.stacks, o->max_stacks);
	bpf_map__set_max_entries(t->skel->maps.aggs,
				 o->max_stacks + 2 * bpf_map__max_entries(t->skel->maps.procs));

	startup_marks = &t->startup;
	err = tidemark_bpf__load(t->skel);
	startup_marks = NULL;
	t->startup.loaded = tm_now_ns();
	if (err) {
		if (err == -EPERM)
			pr_warn("tidemark: loading BPF was refused: needs CAP_BPF and CAP_PERFMON (run as root)\n");
		else if (err == -EACCES)
			pr_warn("tidemark: the kernel's verifier rejected the BPF programs (run with -v for its log)\n");
		else
			pr_warn("tidemark: loading BPF failed: %s (run with -v for the verifier log)\n",
				strerror(-err));
		goto fail;
	}
	{
		LIBBPF_OPTS(bpf_test_run_opts, ro);

		/* Before any process is held: the kernel's number for us, which getpid() may not be. */
		if (bpf_prog_test_run_opts(bpf_program__fd(t->skel->progs.hello), &ro)) {
			err = -errno;
			pr_warn("tidemark: running the BPF setup program failed: %s\n", strerror(-err));
			goto fail;
		}
	}
	/*
	 * The kernel's run counters (per program: runs and time), on while we
	 * hold this: the probe hits and what they cost, said at the end. The
	 * counting costs two clock reads a run; without it (a kernel that
	 * refuses) nothing but that summary is lost. Not for the daemon: it
	 * would hold them on for every BPF program on the host, for good.
	 */
	t->stats_fd = o->daemon ? -ENOTSUP : bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (t->stats_fd < 0 && !o->daemon)
		pr_debug("tidemark: the kernel's BPF run counters cannot be turned on (%s): probe hits will not be "
			 "counted\n",
			 strerror(errno));
	/* Loaded and verified meanwhile: a removal in flight has had that long to end. */
	if (!o->daemon)
		t->placing_fd = placing_lock(LOCK_SH);
	err = tidemark_bpf__attach(t->skel);
	err = err ?: attach_syscalls(t);
	if (err) {
		pr_warn("tidemark: attaching tracepoints failed: %s\n", strerror(-err));
		goto fail;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), handle_event, t, NULL);
	if (!t->rb) {
		err = -errno;
		pr_warn("tidemark: ring buffer: %s\n", strerror(-err));
		goto fail;
	}
	t->startup.attached = tm_now_ns();
	*out = t;
	return 0;
fail:
	tm_trace__destroy(t);
	return err;
}

int tm_trace__watch(struct tm_trace *t, pid_t pid, unsigned int flags)
{
	int at_exec = !!(flags & TM_WATCH_AT_EXEC);
	__u32 key = (__u32)pid;
	struct tm_pending pend = { 0 };
	struct tm_proc zero = { 0 };
	struct tm_watch *w;
	uint64_t lo, hi;

	w = watch_add(t, pid);
	if (!w)
		return -ENOSPC;
	/* Numbers shared with tp_exec through the mmap()ed .bss; inc 0 means "none". */
	zero.inc = __sync_add_and_fetch(&t->skel->bss->next_inc, 1);
	w->inc = zero.inc;
	w->hold = at_exec;
	w->at_exec = at_exec;
	if (at_exec) {
		/*
		 * tp_exec gives the entry the incarnation it finds here, holds it for
		 * its maps, and counts from its first instruction: the caller places
		 * the probes before it lets the child exec.
		 */
		pend.inc = zero.inc;
		pend.flags = TM_PROC_HOLD_FOR_MAPS | TM_PROC_ARMED;
		w->armed = 1;
		if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.pending_exec), &key, &pend, BPF_ANY))
			return -errno;
		return 0;
	}
	/* Written whole before anything counts (unarmed): a later copy would overwrite counters. */
	tm_trace__refresh_maps(t, pid);
	if (!module_span(&w->maps, "ld-linux", &lo, &hi)) {
		zero.ldso_lo = lo;
		zero.ldso_hi = hi;
	}
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.procs), &key, &zero, BPF_NOEXIST))
		return -errno;
	try_python(t, w);
	if (t->alloc_probes)
		probe_libc(t, w, 0);
	if (flags & TM_WATCH_UNARMED)
		return 0;
	return watch_arm(t, w, 1);
}

/* The program for an allocator function's entry, and the cookie that tells it which one it is on. */
static struct bpf_program *entry_prog(struct tidemark_bpf *s, const struct tm_alloc_fn *f, __u64 *cookie)
{
	*cookie = 0;
	/* mimalloc's mi_heap_* forms: the plain kinds' layouts, one argument later */
	if (f->flags & TM_AFN_HEAP) {
		switch (f->kind) {
		case TM_KIND_MALLOC:
		case TM_KIND_CALLOC:
		case TM_KIND_REALLOC:
		case TM_KIND_REALLOCARRAY: *cookie = tm_alloc_heap_cookie(f->kind); return s->progs.alloc_enter;
		default: return NULL;
		}
	}
	/* xallocx: a realloc's layout, in place or not at all */
	if (f->flags & TM_AFN_IN_PLACE) {
		*cookie = tm_alloc_cookie(f->kind) | TM_ALLOC_IN_PLACE;
		return s->progs.alloc_enter;
	}
	switch (f->kind) {
	case TM_KIND_FREE:
		*cookie = f->flags & TM_AFN_WRAPS_FREE ? TM_FREE_WRAPPER : 0;
		return s->progs.free_enter;
	case TM_KIND_MMAP:
	case TM_KIND_MREMAP:
	case TM_KIND_BRK:
		return s->progs.syscall_wrapper_enter;
	default:
		if (f->kind >= TM_KIND__COUNT || tm_kind_is_syscall(f->kind))
			return NULL;
		*cookie = tm_alloc_cookie(f->kind);
		return s->progs.alloc_enter;
	}
}

/* Keep a uprobe link with the process it is for (its watch): it goes when the process does. */
static int add_link(struct tm_trace *t, pid_t pid, struct bpf_link *l)
{
	struct tm_watch *w = watch_find(t, pid);

	if (!l)
		return -errno;
	if (!w || tm_grow(&w->links, w->nlinks, &w->caplinks, sizeof(*w->links), 32)) {
		bpf_link__destroy(l);
		return w ? -ENOMEM : -ENOENT;   /* every caller watches pid first */
	}
	w->links[w->nlinks++] = l;
	w->nprobes++;
	return 0;
}

/* The same for a uprobe_multi link's descriptor @fd (or -errno) holding @n uprobes. */
static int add_mlink(struct tm_trace *t, pid_t pid, int fd, size_t n)
{
	struct tm_watch *w = watch_find(t, pid);

	if (fd < 0)
		return fd;
	if (!w || tm_grow(&w->mlinks, w->nmlinks, &w->capmlinks, sizeof(*w->mlinks), 8)) {
		close(fd);
		return w ? -ENOMEM : -ENOENT;
	}
	w->mlinks[w->nmlinks++] = fd;
	w->nprobes += n;
	return 0;
}

/* One uprobe to place on a process: where, which program, its cookie, entry or return. */
struct uprobe_req {
	struct bpf_program *prog;
	const char *path;
	const char *fn; /* the function, for messages */
	uint64_t off;
	uint64_t cookie;
	int ret;
	int done;
};

struct uprobe_set {
	struct uprobe_req *v;
	size_t n, cap;
};

static int uset_add(struct uprobe_set *u, struct bpf_program *prog, const char *path, const char *fn, uint64_t off,
		    uint64_t cookie, int ret)
{
	if (tm_grow(&u->v, u->n, &u->cap, sizeof(*u->v), 32))
		return -ENOMEM;
	u->v[u->n++] = (struct uprobe_req){ prog, path, fn, off, cookie, ret, 0 };
	return 0;
}

/*
 * One uprobe_multi link per program, file and direction: a process's dozen
 * allocator probes in two or three links, placed in one system call each
 * and removed with one grace period each, under no kernel-wide lock.
 * Return probes first: a return that finds no entry is ignored, an entry
 * whose return is not there yet would be left pending.
 */
static int place_multi(struct tm_trace *t, pid_t pid, struct uprobe_set *u, size_t *failed)
{
	uint64_t *offs = calloc(u->n, sizeof(*offs)), *cookies = calloc(u->n, sizeof(*cookies));
	int pass, err = offs && cookies ? 0 : -ENOMEM;
	size_t i, j, k, nlinks = 0;

	for (pass = 1; pass >= 0 && !err; pass--) {
		for (i = 0; i < u->n && !err; i++) {
			struct uprobe_req *r = &u->v[i];

			if (r->done || r->ret != pass)
				continue;
			for (j = i, k = 0; j < u->n; j++) {
				struct uprobe_req *q = &u->v[j];

				if (q->done || q->ret != pass || q->prog != r->prog || strcmp(q->path, r->path))
					continue;
				q->done = 1;
				offs[k] = q->off;
				cookies[k++] = q->cookie;
			}
			err = add_mlink(t, pid,
					tm_kernel__uprobe_multi_link(bpf_program__fd(r->prog), r->path, offs, cookies, k,
								     r->ret, pid),
					k);
			if (err)
				*failed = i;
			nlinks += !err;
		}
	}
	free(offs);
	free(cookies);
	if (!err)
		pr_debug("attach: pid %d: %zu uprobes in %zu uprobe_multi links\n", (int)pid, u->n, nlinks);
	return err;
}

/* Place every uprobe of @u on @pid; on failure, *failed is the request that failed. */
static int place_uprobes(struct tm_trace *t, pid_t pid, struct uprobe_set *u, size_t *failed)
{
	size_t i;
	int err = 0;

	*failed = 0;
	if (t->umulti)
		return place_multi(t, pid, u, failed);
	for (i = 0; i < u->n && !err; i++) {
		const struct uprobe_req *r = &u->v[i];
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = r->cookie, .retprobe = r->ret);

		err = add_link(t, pid, bpf_program__attach_uprobe_opts(r->prog, pid, r->path, r->off, &uo));
		if (err)
			*failed = i;
	}
	return err;
}

static void watch_drop_links(struct tm_watch *w)
{
	size_t i;

	for (i = 0; i < w->nlinks; i++)
		bpf_link__destroy(w->links[i]);
	free(w->links);
	w->links = NULL;
	w->nlinks = w->caplinks = 0;
	for (i = 0; i < w->nmlinks; i++)
		close(w->mlinks[i]);
	free(w->mlinks);
	w->mlinks = NULL;
	w->nmlinks = w->capmlinks = 0;
	w->nprobes = 0;
	w->libc_dev = 0;
	w->libc_ino = 0;
	w->py_alloc_dev = 0;
	w->py_alloc_ino = 0;
	free(w->late_seen);
	free(w->late_note);
	w->late_seen = NULL;
	w->late_note = NULL;
	w->nlate_seen = 0;
	w->alloc_known = 0;
	w->py_end_dev = 0;
	w->py_end_ino = 0;
}

static int late_seen_add(struct tm_watch *w, ino_t ino)
{
	ino_t *v = realloc(w->late_seen, (w->nlate_seen + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	w->late_seen = v;
	w->late_seen[w->nlate_seen++] = ino;
	return 0;
}

/* Its allocator @a is probed: the objects of its scope are its own, only what it loads later is news. */
static void late_scope(struct tm_watch *w, const struct tm_allocator *a)
{
	size_t n;

	free(w->late_seen);
	free(w->late_note);
	w->late_seen = NULL;
	w->late_note = NULL;
	w->nlate_seen = 0;
	for (n = 0; n < a->nobjs; n++) {
		struct stat st;

		if (!stat(a->objs[n], &st))
			late_seen_add(w, st.st_ino);
	}
	w->alloc_known = 1;
}

/*
 * An allocator library the process mapped after its allocator was probed
 * (dlopen of libjemalloc to call its mallocx, a plugin bringing its own):
 * its calls are not traced. Said once, on stderr and in the report. Each
 * newly mapped object is read once.
 */
static void check_late_allocator(struct tm_watch *w)
{
	char path[PATH_MAX + 64], line[PATH_MAX + 320];
	enum tm_alloc_family f;
	size_t i, k;

	if (!w->alloc_known || w->late_note)
		return;
	for (i = 0; i < w->maps.nr; i++) {
		const struct tm_map_entry *e = &w->maps.entries[i];
		int seen = 0;

		if (e->perms[2] != 'x' || e->path[0] != '/' || !e->inode)
			continue;
		for (k = 0; k < w->nlate_seen && !seen; k++)
			seen = w->late_seen[k] == (ino_t)e->inode;
		if (seen || late_seen_add(w, (ino_t)e->inode))
			continue;
		if (tm_maps__entry_path(w->pid, e, path, sizeof(path)))
			continue;
		f = tm_allocator__object_family(path);
		if (f == TM_ALLOC_NONE)
			continue;
		tm_allocator__describe_late(f, e->path, line, sizeof(line));
		pr_warn("tidemark: pid %d: %s\n", (int)w->pid, line);
		w->late_note = strdup(line);
		return;
	}
}


static int attach_sites(struct tm_trace *t, pid_t pid, const struct tm_alloc_site *sites, size_t n)
{
	struct uprobe_set u = { 0 };
	size_t i, failed = 0;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		const struct tm_alloc_site *s = &sites[i];
		__u64 cookie = 0;
		struct bpf_program *prog = entry_prog(t->skel, s->fn, &cookie);

		err = uset_add(&u, prog, s->path, s->fn->name, s->off, cookie, 0);
		/* where the entry probe is: the site keeps rsp, so [rsp] is the return address */
		if (!err && tm_probe_site__has_return(s->fn))
			err = uset_add(&u, t->skel->progs.alloc_exit, s->path, s->fn->name, s->off, 0, 1);
	}
	err = err ?: place_uprobes(t, pid, &u, &failed);
	if (!err || !n) {
		free(u.v);
		return err;
	}
	if ((err == -ESRCH || err == -ENOENT) && t->alloc_probes)
		pr_debug("tidemark daemon: pid %d exited before its probes were placed\n", pid);
	else if (err == -ESRCH || err == -ENOENT) /* attach says it, once, in its own words */
		pr_debug("attach: pid %d exited before its probes were placed\n", pid);
	else if (failed < u.n)
		pr_warn("attach: uprobe on %s in %s failed: %s\n", u.v[failed].fn, u.v[failed].path, strerror(-err));
	else
		pr_warn("attach: uprobes in %s failed: %s\n", sites[0].path, strerror(-err));
	free(u.v);
	return err;
}

/* Tell the kernel where pid's allocator library is, once it is mapped (see alloc_code). */
static void own_code_refresh(struct tm_trace *t, struct tm_watch *w)
{
	struct tm_code_range r = { 0 };
	__u32 key = (__u32)w->pid;
	size_t i;

	if (!w->own_ino || w->own_set)
		return;
	for (i = 0; i < w->maps.nr; i++) {
		const struct tm_map_entry *e = &w->maps.entries[i];

		if (e->inode != w->own_ino || e->perms[2] != 'x')
			continue;
		if (!r.lo || e->start < r.lo)
			r.lo = e->start;
		if (e->end > r.hi)
			r.hi = e->end;
	}
	if (!r.lo)
		return; /* not mapped yet */
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.alloc_code), &key, &r, BPF_ANY))
		pr_warn("tidemark: pid %d: cannot tell the kernel where its allocator is: %s; its own "
			"mappings may be counted\n",
			w->pid, strerror(errno));
	else
		w->own_set = 1;
}

int tm_trace__attach_allocator(struct tm_trace *t, pid_t pid, const struct tm_allocator *a)
{
	struct tm_watch *w = watch_find(t, pid);
	struct tm_alloc_site *sites;
	size_t n;
	int err;

	if (!w)
		return -ENOENT;
	if (a->family == TM_ALLOC_NONE || a->family == TM_ALLOC_OTHER || !a->nprobes)
		return 0; /* mappings only: the caller says so */
	err = tm_probe_site__alloc_sites(a, &sites, &n);
	if (err)
		return err;
	err = attach_sites(t, pid, sites, n);
	free(sites);
	if (err)
		return err;
	w->sites_sig = sites_sig(a);
	late_scope(w, a);
	/* A library of its own (not glibc, not inside the executable): its mappings outside calls are its own. */
	if (a->family != TM_ALLOC_GLIBC && a->provider > 0) {
		struct stat st;

		if (!stat(a->objs[a->provider], &st)) {
			w->own_ino = st.st_ino;
			w->own_set = 0;
			own_code_refresh(t, w);
		}
	}
	/* musl's dynamic loader is its libc: AT_BASE's span would hide libc's mmap calls. */
	if (a->family == TM_ALLOC_MUSL && !a->is_static) {
		struct tm_pending pend;
		__u32 key = (__u32)pid;
		int fd = bpf_map__fd(t->skel->maps.pending_exec);

		if (!bpf_map_lookup_elem(fd, &key, &pend)) {
			pend.flags |= TM_PROC_LDSO_IS_LIBC;
			bpf_map_update_elem(fd, &key, &pend, BPF_EXIST);
		} else if (!w->armed) {
			/* past its exec already (the daemon): its procs entry took AT_BASE's span */
			watch_arm_how(t, w, 0, TM_ARM_LDSO_IS_LIBC);
		}
	}
	return 0;
}

/*
 * Where each allocator function of one libc is probed. Worked out once per
 * file: the daemon probes every process it tracks, and reading libc's
 * symbol table each time would be most of the cost of that.
 */
static int libc_sites(struct tm_trace *t, const char *libc)
{
	struct libc_cache *c = &t->libc_cache;
	struct stat st;
	int err;

	if (stat(libc, &st))
		return -errno;
	if (c->ino && c->dev == st.st_dev && c->ino == st.st_ino)
		return 0;
	tm_allocator__free(&c->a);
	free(c->sites);
	memset(c, 0, sizeof(*c));
	err = tm_allocator__resolve_one(&c->a, libc);
	if (!err && c->a.family != TM_ALLOC_GLIBC)
		err = -ENOENT;
	err = err ?: tm_probe_site__alloc_sites(&c->a, &c->sites, &c->n);
	if (err) {
		tm_allocator__free(&c->a);
		return err;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	return 0;
}

int tm_trace__attach_libc(struct tm_trace *t, pid_t pid, const char *libc)
{
	struct libc_cache *c = &t->libc_cache;
	struct tm_alloc_site *mine;
	size_t i;
	int err;

	err = libc_sites(t, libc);
	if (err == -ENOENT)
		pr_warn("attach: %s has none of malloc/free: is it glibc?\n", libc);
	if (err)
		return err;
	/*
	 * The sites were worked out on the first file with this device and
	 * inode; probe them on this process's own path to it (a container's
	 * libc through /proc/PID/root goes with the process that named it).
	 */
	mine = calloc(c->n, sizeof(*mine));
	if (!mine)
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		mine[i] = c->sites[i];
		mine[i].path = libc;
	}
	err = attach_sites(t, pid, mine, c->n);
	free(mine);
	return err;
}

/* Exited (a zombie has no executable any more) or reaped. */
static int process_gone(pid_t pid)
{
	char exe[32], buf[8];

	if (kill(pid, 0) && errno == ESRCH)
		return 1;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	return readlink(exe, buf, sizeof(buf)) < 0 && errno == ENOENT;
}

/*
 * Start w's count over, at the daemon's switch to its own allocator: what
 * was counted under the libc guess (the mappings jemalloc made for its
 * arenas before its probes were in place) is not its heap. Its blocks,
 * mappings and stacks are reaped, its totals zeroed (TM_ARM_RESTART); it
 * must not be counted meanwhile.
 */
static int restart_count(struct tm_trace *t, struct tm_watch *w)
{
	struct tm_reap_key k = { .tgid = (__u32)w->pid, .inc = w->inc };
	__u32 one = 1;
	int err;

	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.reap_set), &k, &one, BPF_ANY))
		return -errno;
	t->nreap++;
	err = tm_trace__reap(t);
	return err ?: watch_arm_how(t, w, 0, TM_ARM_RESTART);
}

/*
 * The daemon's full mode for a process whose malloc is not glibc's (a
 * preloaded or linked jemalloc, tcmalloc, mimalloc; musl, dynamic or
 * static; a static glibc): its allocator is resolved as `attach` does,
 * with @maps (once its loader has mapped libc, the executable's needs are
 * mapped too, preloads first) or, at its exec, as its loader will (NULL).
 * Its own probes then replace those predicted on libc, and what was counted
 * under that guess is dropped: counting starts over. Each executable and
 * LD_PRELOAD found to use a shared glibc is remembered, so a churn of one
 * program is resolved once. One whose malloc cannot be probed is said once,
 * and its report says so: only its mappings count. Returns 1 when its own
 * allocator is probed.
 */
static int probe_own_allocator(struct tm_trace *t, struct tm_watch *w, const struct tm_maps *maps)
{
	char line[PATH_MAX + 256];
	struct tm_allocator a;
	uint64_t key = 0;
	size_t i;
	int err, was_armed = w->armed;

	if (w->own_alloc)
		return w->own_alloc == 2;
	w->own_alloc = 1;
	if (!tm_allocator__pid_key(w->pid, &key))
		for (i = 0; i < t->nglibc_keys && i < 64; i++)
			if (t->glibc_keys[i] == key)
				return 0;
	if (tm_allocator__of_pid(&a, w->pid, maps))
		return 0;
	if (a.family == TM_ALLOC_GLIBC && !a.is_static) {
		if (key)
			t->glibc_keys[t->nglibc_keys++ % 64] = key;
		tm_allocator__free(&a); /* glibc's probes, as before */
		return 0;
	}
	if (a.family == TM_ALLOC_NONE || a.family == TM_ALLOC_OTHER || !a.nprobes) {
		describe_unprobed(w->pid, &a, w->note, sizeof(w->note));
		pr_info("tidemark daemon: pid %d: %s\n", (int)w->pid, w->note);
		tm_allocator__free(&a); /* mappings only (with libc's probes, if it maps one) */
		return 0;
	}
	if (w->armed)
		watch_arm(t, w, 0);
	watch_drop_links(w);
	err = was_armed ? restart_count(t, w) : 0;
	err = err ?: tm_trace__attach_allocator(t, w->pid, &a);
	if (err) {
		t->probe_failures++;
		watch_drop_links(w);
	} else {
		tm_allocator__describe(&a, line, sizeof(line));
		pr_info("tidemark daemon: pid %d: %s\n", (int)w->pid, line);
		w->own_alloc = 2;
	}
	tm_allocator__free(&a);
	return w->own_alloc == 2;
}

/*
 * Its image has no glibc of its own to guess at: no glibc dynamic loader
 * (a static executable, musl's loader, which is its libc) and no libc.so.6.
 * Everything its allocator needs is mapped at its exec already.
 */
static int libc_free_image(const struct tm_watch *w)
{
	char path[PATH_MAX + 64];

	return tm_maps__find_module(&w->maps, "ld-linux", path, sizeof(path)) == -ENOENT &&
	       tm_maps__find_module(&w->maps, "libc.so.6", path, sizeof(path)) == -ENOENT;
}

/*
 * The daemon's full mode: the allocator probes, for this process only, on
 * the libc it maps. At its exec (predict) the libc is not mapped yet: the
 * probes go on our own libc as seen from its root, which nearly every
 * program maps, so that they are in place when the dynamic loader maps it
 * (a probe on a file is installed in each mapping made later). Each new
 * executable mapping checks that the libc mapped is the one probed. What
 * the process allocates before its probes are in place is not seen: its
 * frees count as free_unmatched (not under --sample-bytes). An image with
 * no glibc to guess at (static, musl) is resolved at once instead.
 */
static void probe_libc(struct tm_trace *t, struct tm_watch *w, int predict)
{
	char path[PATH_MAX + 64];
	struct timespec t0, t1;
	pid_t pid = w->pid;
	struct stat st;
	int err;

	if (w->own_alloc == 2)
		return; /* its own allocator is probed */
	if (!w->own_alloc && libc_free_image(w)) {
		/* at its exec, resolved as its loader will; a fork child's maps are its parent's */
		probe_own_allocator(t, w, predict ? NULL : &w->maps);
		return;
	}
	err = tm_maps__find_module(&w->maps, "libc.so.6", path, sizeof(path));
	if (!err && !predict && probe_own_allocator(t, w, &w->maps))
		return;
	if (err && err != -ENOENT) {
		/* it maps a libc we cannot open: its allocations would go uncounted, silently */
		t->probe_failures++;
		if (process_gone(pid)) {
			/* not a libc we cannot open: a process gone before its notice was read */
			pr_debug("tidemark daemon: pid %d exited before its allocator probes were placed\n", (int)pid);
			return;
		}
		pr_warn("tidemark daemon: pid %d: cannot open the libc.so.6 it maps (%s): its malloc/free "
			"are not traced; run tidemark as root in the host's mount namespace\n",
			(int)pid,
			strerror(-err));
		return;
	}
	if (err) {
		if (!predict || !t->host_libc[0])
			return;
		/* a guess: a container without that path is probed when its own libc is mapped */
		snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, t->host_libc);
	}
	if (stat(path, &st))
		return;
	if (w->libc_ino && st.st_dev == w->libc_dev && st.st_ino == w->libc_ino)
		return;   /* probed already (the probes outlive an exec of the same task) */
	if (w->libc_ino) {
		/* An exec into a program with another libc: the new set goes live whole too (the caller arms). */
		if (w->armed)
			watch_arm(t, w, 0);
		watch_drop_links(w);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = tm_trace__attach_libc(t, pid, path);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* ~0.5 ms a probe on this kind of machine (the kernel's uprobe registration): ~8 ms a process */
	pr_debug("tidemark daemon: pid %d: allocator probes placed in %.1f ms\n", (int)pid,
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	if (err) {
		t->probe_failures++;
		watch_drop_links(w);   /* none half-placed */
		return;
	}
	w->libc_dev = st.st_dev;
	w->libc_ino = st.st_ino;
}

/*
 * CPython's allocator functions, all in .dynsym of libpython3.X.so or a
 * static python. PyMem_RawMalloc & co. are not here: they are malloc & co.
 * underneath, which the libc probes already see.
 */
struct py_alloc_fn {
	const char *name;
	enum tm_kind kind;
	unsigned int keep;      /* argument registers the program reads (enum tm_reg) */
	const char *impl;       /* pymalloc's function behind a wrapper with no emulated site */
};

#define RDI TM_REG_RDI
#define RSI TM_REG_RSI
static const struct py_alloc_fn py_alloc_fns[] = {
	{ "PyObject_Malloc", TM_KIND_PYOBJECT_MALLOC, RDI, NULL },
	{ "PyObject_Calloc", TM_KIND_PYOBJECT_CALLOC, RDI | RSI, NULL },
	{ "PyObject_Realloc", TM_KIND_PYOBJECT_REALLOC, RDI | RSI, NULL },
	{ "PyObject_Free", TM_KIND_PYOBJECT_FREE, RDI, "_PyObject_Free" },
	{ "PyMem_Malloc", TM_KIND_PYMEM_MALLOC, RDI, NULL },
	{ "PyMem_Calloc", TM_KIND_PYMEM_CALLOC, RDI | RSI, NULL },
	{ "PyMem_Realloc", TM_KIND_PYMEM_REALLOC, RDI | RSI, NULL },
	{ "PyMem_Free", TM_KIND_PYMEM_FREE, RDI, "_PyObject_Free" },
};
#undef RDI
#undef RSI

/* Where to probe one function: its file offset and the site inside it. */
static int py_site(const char *path, const char *name, unsigned int keep, uint64_t *off, uint64_t *vaddr,
		   struct tm_probe_site *site)
{
	uint8_t code[32] = { 0 };
	uint64_t size;
	int err;

	err = tm_elf__find_symbol(path, name, off, vaddr, &size);
	if (err)
		return err;
	err = tm_elf__read_code(path, *off, code, size && size < sizeof(code) ? size : sizeof(code));
	if (err)
		return err;
	tm_probe_site__first_emulated(code, size && size < sizeof(code) ? size : sizeof(code), keep, site);
	return 0;
}

/*
 * The free side: the wrapper where it has an emulated site; else pymalloc's
 * own _PyObject_Free(ctx, p), which PyObject_Free and PyMem_Free jump to
 * (pyenv's wrappers overwrite rdi before their first emulated
 * instruction); else the wrapper's entry, single-stepped.
 */
static int attach_py_free(struct tm_trace *t, struct uprobe_set *u, const char *path, const struct py_alloc_fn *f,
			  uint64_t *done, size_t *ndone)
{
	uint64_t cookie = TM_FREE_WRAPPER;
	struct tm_probe_site site, impl_site;
	uint64_t off, vaddr, ioff, ivaddr;
	const char *name = f->name;
	size_t j;
	int err;

	err = py_site(path, f->name, f->keep, &off, &vaddr, &site);
	if (err)
		return err;
	if (!site.emulated && f->impl && !py_site(path, f->impl, TM_REG_RSI, &ioff, &ivaddr, &impl_site) &&
	    impl_site.emulated) {
		pr_debug("attach: %s: %s; probing %s instead\n", f->name, site.why, f->impl);
		name = f->impl;
		off = ioff;
		vaddr = ivaddr;
		site = impl_site;
		cookie |= TM_FREE_PTR_ARG2;
	}
	for (j = 0; j < *ndone; j++)
		if (done[j] == vaddr)
			return 0;       /* PyMem_Free shares PyObject_Free's _PyObject_Free */
	done[(*ndone)++] = vaddr;
	pr_debug("attach: %-16s at %s+0x%" PRIx64 "+%u: %s\n", name, path, off, site.offset, site.why);
	if (!site.emulated)
		pr_warn("tidemark: %s in %s: every call single-steps its first instruction (~20x the cost of a "
			"probe)\n", f->name, path);
	return uset_add(u, t->skel->progs.free_enter, path, name, off + site.offset, cookie, 0);
}

int tm_trace__attach_python_allocators(struct tm_trace *t, pid_t pid, const char *path)
{
	uint64_t done[sizeof(py_alloc_fns) / sizeof(py_alloc_fns[0])];
	struct tm_watch *w = watch_find(t, pid);
	struct uprobe_set u = { 0 };
	size_t ndone = 0, i, failed;
	struct stat st;
	int err;

	if (!w)
		return -ENOENT;
	if (stat(path, &st))
		return -errno;
	for (i = 0; i < sizeof(py_alloc_fns) / sizeof(py_alloc_fns[0]); i++) {
		const struct py_alloc_fn *f = &py_alloc_fns[i];
		struct tm_probe_site site;
		uint64_t off, vaddr;

		if (f->kind == TM_KIND_PYOBJECT_FREE || f->kind == TM_KIND_PYMEM_FREE) {
			err = attach_py_free(t, &u, path, f, done, &ndone);
			if (err)
				goto fail;
			continue;
		}
		err = py_site(path, f->name, f->keep, &off, &vaddr, &site);
		if (err)
			goto fail;
		pr_debug("attach: %-16s at %s+0x%" PRIx64 "+%u: %s\n", f->name, path, off, site.offset, site.why);
		if (!site.emulated)
			pr_warn("tidemark: %s in %s: every call single-steps its first instruction (~20x the cost "
				"of a probe)\n", f->name, path);
		/*
		 * The return probe goes where the entry one does: the kernel takes the
		 * return address at [rsp], which the site keeps as it was at the entry.
		 */
		err = uset_add(&u, t->skel->progs.alloc_enter, path, f->name, off + site.offset, tm_alloc_cookie(f->kind),
			       0);
		err = err ?: uset_add(&u, t->skel->progs.alloc_exit, path, f->name, off + site.offset, 0, 1);
		if (err)
			goto fail;
	}
	err = place_uprobes(t, pid, &u, &failed);
	if (err) {
		pr_warn("tidemark: probing %s in %s failed: %s\n", failed < u.n ? u.v[failed].fn : "PyObject_Malloc",
			path, strerror(-err));
		free(u.v);
		return err;
	}
	free(u.v);
	w->py_alloc_dev = st.st_dev;
	w->py_alloc_ino = st.st_ino;
	return 0;
fail:
	free(u.v);
	if (err == -ENOENT)
		pr_warn("tidemark: %s has no %s: not a CPython interpreter; Python allocators are not traced\n",
			path, py_alloc_fns[i].name);
	else
		pr_warn("tidemark: probing %s in %s failed: %s\n", py_alloc_fns[i].name, path, strerror(-err));
	return err;
}

int tm_trace__attach_python_end(struct tm_trace *t, pid_t pid, const char *path)
{
	struct tm_watch *w = watch_find(t, pid);
	struct uprobe_set u = { 0 };
	struct stat st;
	size_t failed;
	uint64_t off;
	int err;

	if (!w)
		return -ENOENT;
	if (stat(path, &st))
		return -errno;
	if (w->py_end_ino && st.st_dev == w->py_end_dev && st.st_ino == w->py_end_ino)
		return 0;
	err = tm_elf__find_symbol(path, "Py_FinalizeEx", &off, NULL, NULL);
	if (err) {
		pr_warn("tidemark: %s has no Py_FinalizeEx: pid %d's leaks are what is live at its exit\n", path,
			pid);
		return err;
	}
	err = uset_add(&u, t->skel->progs.py_finalize_enter, path, "Py_FinalizeEx", off, 0, 0);
	err = err ?: place_uprobes(t, pid, &u, &failed);
	free(u.v);
	if (err) {
		if (err != -ESRCH && err != -ENOENT)
			pr_warn("tidemark: probing Py_FinalizeEx in %s failed: %s: pid %d's leaks are at its exit\n",
				path, strerror(-err), pid);
		return err;
	}
	pr_debug("attach: Py_FinalizeEx     at %s+0x%" PRIx64 ": the program's end\n", path, off);
	w->py_end_dev = st.st_dev;
	w->py_end_ino = st.st_ino;
	return 0;
}

int tm_trace__disarm(struct tm_trace *t, pid_t pid)
{
	struct tm_watch *w = watch_find(t, pid);

	return w ? watch_arm(t, w, 0) : -ENOENT;
}

/* CPythons not ready to be read when last tried: again now (their first Python frames are at stake). */
static void retry_python(struct tm_trace *t)
{
	size_t i;

	for (i = 0; i < t->nwatch; i++)
		if (t->watch[i].py_pending && !t->watch[i].python)
			try_python(t, &t->watch[i]);
}

int tm_trace__poll(struct tm_trace *t, int timeout_ms)
{
	int n = ring_buffer__poll(t->rb, timeout_ms);

	retry_python(t);
	return n == -EINTR ? 0 : n;
}

void tm_trace__release_holds(struct tm_trace *t)
{
	if (t->holds_released)
		return;
	t->holds_released = 1;
	/* First the flag (see hold_cancelled() in bpf/tidemark.bpf.c), then the SIGCONTs. */
	__atomic_store_n(&t->skel->bss->holds_off, 1, __ATOMIC_SEQ_CST);
	tm_watchdog__continue_held(bpf_map__fd(t->skel->maps.procs));
}

int tm_trace__procs_fd(struct tm_trace *t)
{
	return bpf_map__fd(t->skel->maps.procs);
}

int tm_trace__proc(struct tm_trace *t, pid_t pid, struct tm_proc *out)
{
	__u32 key = (__u32)pid;

	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.procs), &key, out))
		return -errno;
	return 0;
}

static void sum_stats(struct tm_trace *t, struct tm_stats *sum)
{
	int ncpu = libbpf_num_possible_cpus(), i, k;
	struct tm_stats *per;
	__u32 zero = 0;

	memset(sum, 0, sizeof(*sum));
	if (ncpu <= 0)
		return;
	per = calloc(ncpu, sizeof(*per));
	if (!per)
		return;
	if (!bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.stats), &zero, per)) {
		for (i = 0; i < ncpu; i++) {
			for (k = 0; k < TM_STAT__COUNT; k++)
				sum->stats[k] += per[i].stats[k];
		}
	}
	free(per);
}

/* Does @addr lie in an executable mapping the process has had? (Unknown maps: trust it.) */
static int in_code(const struct tm_maps *m, uint64_t addr)
{
	const struct tm_map_entry *e;

	if (!m->nr)
		return 1;
	e = tm_maps__find(m, addr);
	return e && e->perms[2] == 'x';
}

/*
 * The frames one profile build has made, by what they were made from: stacks
 * share their frames, and each is symbolized and interned once. A native
 * frame is (address, is a return address), a Python one (code object, frame
 * pointer tag, instruction index): the tag bit keeps them apart.
 */
#define MEMO_PY (1ULL << 63)

struct frame_memo_ent {
	uint64_t a, b;
	int32_t idx; /* the profile's frame index, or -errno */
	uint8_t cls; /* enum tm_native_class of a native frame */
	uint8_t used;
};

struct frame_memo {
	struct frame_memo_ent *tab;
	size_t n, cap; /* at most half full */
};

static struct frame_memo_ent *memo_slot(struct frame_memo_ent *tab, size_t cap, uint64_t a, uint64_t b)
{
	uint64_t h = TM_HASH_INIT;
	size_t i;

	h = tm_hash(h, &a, sizeof(a));
	h = tm_hash(h, &b, sizeof(b));
	for (i = h & (cap - 1); tab[i].used && (tab[i].a != a || tab[i].b != b); i = (i + 1) & (cap - 1))
		;
	return &tab[i];
}

static const struct frame_memo_ent *memo_find(const struct frame_memo *m, uint64_t a, uint64_t b)
{
	const struct frame_memo_ent *e;

	if (!m->cap)
		return NULL;
	e = memo_slot(m->tab, m->cap, a, b);
	return e->used ? e : NULL;
}

/* Remember a frame; a table that cannot grow only costs the next lookup its speed. */
static void memo_add(struct frame_memo *m, uint64_t a, uint64_t b, int idx, uint8_t cls)
{
	struct frame_memo_ent *e;

	if (2 * (m->n + 1) > m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 4096, i;
		struct frame_memo_ent *tab = calloc(cap, sizeof(*tab));

		if (!tab)
			return;
		for (i = 0; i < m->cap; i++)
			if (m->tab[i].used)
				*memo_slot(tab, cap, m->tab[i].a, m->tab[i].b) = m->tab[i];
		free(m->tab);
		m->tab = tab;
		m->cap = cap;
	}
	e = memo_slot(m->tab, m->cap, a, b);
	*e = (struct frame_memo_ent){ .a = a, .b = b, .idx = idx, .cls = cls, .used = 1 };
	m->n++;
}

/*
 * Symbolize one native address into the profile; returns the frame index or
 * -errno. *cls says what it is to the hybrid merge (enum tm_native_class).
 */
static int native_frame(struct tm_trace *t, struct tm_watch *w, struct tm_profile *prof,
			uint64_t addr, int retaddr, uint8_t *cls)
{
	struct tm_frame f = { .kind = TM_FRAME_NATIVE, .address = addr };
	struct tm_sym sym;
	char fn[1100], dm[1024];
	uint64_t t0 = tm_now_ns();
	int err;

	*cls = w->python == 1 && addr >= w->py_cfg.interp_lo && addr < w->py_cfg.interp_hi ?
	       TM_NATIVE_INTERP : TM_NATIVE_OTHER;
	err = tm_symbolizer__resolve(t->sym, &w->maps, w->pid, addr, retaddr ? TM_SYM_RETADDR : 0, &sym);
	t->sym_ns += tm_now_ns() - t0;
	if (!err) {
		/* the interpreter's eval loop: its activations become Python frames */
		if (sym.function && !strncmp(sym.function, "_PyEval_EvalFrameDefault", 24))
			*cls = TM_NATIVE_EVAL;
		if (sym.function) {
			const char *name = sym.function;

			/* C++ and Rust as people read them; pprof keeps the symbol as linked */
			if (tm_demangle(sym.function, dm, sizeof(dm)) == 1) {
				name = dm;
				f.system_name = sym.function;
			}
			snprintf(fn, sizeof(fn), "%s+0x%" PRIx64, name, sym.offset);
			f.function = tm_profile__str(prof, sym.file ? name : fn);
		} else if (sym.module) {
			/*
			 * No symbol: named module+0xOFFSET, the link-time address
			 * addr2line and gdb take (the file offset when the module
			 * could not be read), never a runtime address that moves.
			 */
			const struct tm_map_entry *e = tm_maps__find(&w->maps, addr);
			uint64_t off = sym.vaddr;

			if (!off && e)
				off = addr - e->start + e->offset;
			snprintf(fn, sizeof(fn), "%s+0x%" PRIx64, tm_basename(sym.module), off);
			f.function = tm_profile__str(prof, fn);
		}
		f.file = tm_profile__str(prof, sym.file);
		f.line = sym.line;
		f.module = tm_profile__str(prof, sym.module);
	}
	return tm_profile__add_frame(prof, &f);
}

/* The code objects BPF captured: the py_codes map. */
static int py_codes_lookup(void *ctx, const struct tm_py_code_key *key, struct tm_py_code *rec)
{
	struct tm_trace *t = ctx;

	return bpf_map__lookup_elem(t->skel->maps.py_codes, key, sizeof(*key), rec, sizeof(*rec), 0);
}

/* native_frame(), once per distinct (address, kind) of one build */
static int native_frame_memo(struct tm_trace *t, struct tm_watch *w, struct tm_profile *prof,
			     struct frame_memo *m, uint64_t addr, int retaddr, uint8_t *cls)
{
	const struct frame_memo_ent *e = memo_find(m, addr, (uint64_t)retaddr);
	int idx;

	if (e) {
		*cls = e->cls;
		return e->idx;
	}
	idx = native_frame(t, w, prof, addr, retaddr, cls);
	memo_add(m, addr, (uint64_t)retaddr, idx, *cls);
	return idx;
}

static int python_frame(struct tm_trace *t, struct tm_watch *w, struct tm_profile *prof,
			const struct tm_py_frame *pf)
{
	struct tm_frame f = { .kind = TM_FRAME_PYTHON, .address = pf->code };
	struct tm_py_sym sym;

	if (!tm_python__resolve_frame(py_codes_lookup, t, w->python == 1 ? &w->py_cfg : NULL,
				      (uint32_t)w->pid, pf, &sym)) {
		f.function = tm_profile__str(prof, sym.function[0] ? sym.function : NULL);
		f.file = tm_profile__str(prof, sym.file[0] ? sym.file : NULL);
		f.line = sym.line > 0 ? (uint32_t)sym.line : 0;
	}
	return tm_profile__add_frame(prof, &f);
}

/* python_frame(), once per distinct (code object, frame tag, instruction) of one build */
static int python_frame_memo(struct tm_trace *t, struct tm_watch *w, struct tm_profile *prof,
			     struct frame_memo *m, const struct tm_py_frame *pf)
{
	uint64_t b = MEMO_PY | (uint64_t)TM_PYF_FP(pf->flags) << 32 | pf->lasti;
	const struct frame_memo_ent *e = memo_find(m, pf->code, b);
	int idx;

	if (e)
		return e->idx;
	idx = python_frame(t, w, prof, pf);
	memo_add(m, pf->code, b, idx, 0);
	return idx;
}

int tm_trace__build_profile(struct tm_trace *t, pid_t pid, struct tm_profile *prof)
{
	struct tm_proc p;
	int err;

	err = tm_trace__proc(t, pid, &p);
	if (err)
		return err;
	return tm_trace__build_profile_from(t, pid, &p, prof);
}

/* One profile build: what the sites of one process are made with. */
struct build {
	struct tm_trace *t;
	struct tm_watch *w;
	struct tm_profile *prof;
	const struct tm_proc *p;
	pid_t pid;
	struct frame_memo memo;
	uint32_t *frames; /* TM_MAX_NATIVE + TM_MAX_PY */
	uint64_t no_code; /* allocations whose stacks held no code of the process */
	size_t table;     /* entries of the aggregates table, every process's */
	/* the process's aggregates (done: its site is built) */
	struct tm_agg_key *keys;
	struct tm_agg *aggs;
	uint8_t *done;
	size_t n, cap;
	size_t *by_stack;    /* open addressing over keys[].stack_id: index + 1; 0 is free */
	size_t by_stack_cap; /* a power of two, at least twice n */
};

/* The site of aggregate @a (key @key) and its stack @st (NULL: none to read) into the profile. */
static int build_site(struct build *b, const struct tm_agg_key *key, const struct tm_agg *a,
		      const struct tm_stack *st)
{
	struct tm_trace *t = b->t;
	struct tm_watch *w = b->w;
	struct tm_profile *prof = b->prof;
	const struct tm_proc *p = b->p;
	uint32_t *frames = b->frames;
	struct tm_site s = { 0 };
	uint32_t n = 0, i;

	s.alloc_bytes = a->alloc_bytes;
	s.alloc_count = a->alloc_count;
	s.live_bytes = a->live_bytes;
	s.live_count = a->live_count;
	s.free_bytes = a->alloc_bytes - (uint64_t)a->live_bytes;
	s.free_count = a->alloc_count - (uint64_t)a->live_count;
	s.temp_bytes = a->temp_bytes;
	s.temp_count = a->temp_count;
	s.exit_bytes = a->live_bytes;
	s.exit_count = a->live_count;
	/* As the peak: saved only if it changed after the end (tm_agg_touch) */
	if (p->end_gen && a->end_gen == p->end_gen) {
		s.live_bytes = a->end_bytes;
		s.live_count = a->end_count;
	}
	prof->live_bytes_end += s.live_bytes;
	prof->live_bytes_exit += s.exit_bytes;
	prof->alloc_bytes += s.alloc_bytes;
	prof->alloc_count += s.alloc_count;
	prof->free_count += s.free_count;
	/* See tm_agg_touch(): saved only if it changed after the latest peak. */
	if (a->gen == p->peak_gen) {
		s.peak_bytes = a->peak_bytes;
		s.peak_count = a->peak_count;
	} else {
		s.peak_bytes = a->live_bytes;
		s.peak_count = a->live_count;
	}
	if (key->stack_id == TM_STACK_OVER_CAP || key->stack_id == TM_STACK_TABLE_FULL) {
		const char *what = "[stacks after the stack table filled: raise --max-stacks]";
		struct tm_frame f = { .kind = TM_FRAME_NATIVE };

		if (key->stack_id == TM_STACK_OVER_CAP)
			what = "[stacks over the per-process cap]";
		f.function = tm_profile__str(prof, what);
		int idx = tm_profile__add_frame(prof, &f);

		if (idx >= 0)
			frames[n++] = (uint32_t)idx;
	} else if (st) {
		uint32_t nat[TM_MAX_NATIVE], nn = 0;
		uint8_t cls[TM_MAX_NATIVE];
		struct tm_hybrid_frame hy[TM_MAX_NATIVE + TM_MAX_PY];
		int fallback = 0, nh;

		s.kind = st->kind;
		s.flags = st->flags;
		for (i = 0; i < st->n_native && i < TM_MAX_NATIVE; i++) {
			/* frame 0 of a syscall stack is the instruction pointer itself */
			int retaddr = !(i == 0 && tm_kind_is_syscall(st->kind));
			int idx;

			if (!st->native[i])
				break; /* the end of a frame-pointer chain */
			/*
			 * A syscall's own ip is in libc's wrapper; its caller is the site.
			 * When what was taken for the caller is not code (an inline
			 * syscall in a function that keeps a frame), the ip names it.
			 */
			if (i == 0 && tm_kind_is_syscall(st->kind) && st->n_native > 1 && st->native[1] &&
			    in_code(&w->maps, st->native[1]))
				continue;
			/* Not code of the process (a non-leaf syscall wrapper's [rsp]): never a frame. */
			if (!in_code(&w->maps, st->native[i]))
				continue;
			idx = native_frame_memo(t, w, prof, &b->memo, st->native[i], retaddr, &cls[nn]);
			if (idx >= 0)
				nat[nn++] = (uint32_t)idx;
		}
		/* Python frames take the place of the eval loop's native frames. */
		nh = st->n_py ? tm_python__merge(cls, nn, st->py, st->n_py < TM_MAX_PY ? st->n_py : TM_MAX_PY,
						 t->native_all ? 0 : TM_MERGE_FOLD_INTERP, hy,
						 TM_MAX_NATIVE + TM_MAX_PY, &fallback)
			      : -1;
		if (nh < 0) {
			for (i = 0; i < nn; i++)
				frames[n++] = nat[i];
		} else {
			for (i = 0; i < (uint32_t)nh; i++) {
				int idx = hy[i].kind == TM_FRAME_PYTHON ? python_frame_memo(t, w, prof, &b->memo, &st->py[hy[i].index]) : (int)nat[hy[i].index];

				if (idx >= 0)
					frames[n++] = (uint32_t)idx;
			}
		}
	}
	if (!n && key->stack_id != TM_STACK_OVER_CAP && key->stack_id != TM_STACK_TABLE_FULL) {
		struct tm_frame f = { .kind = TM_FRAME_NATIVE,
				      .function = tm_profile__str(prof, "[no frame in the process's code]") };
		int idx = tm_profile__add_frame(prof, &f);

		if (idx >= 0)
			frames[n++] = (uint32_t)idx;
		b->no_code += a->alloc_count;
	}
	s.nframes = n;
	s.frames = frames;
	return tm_profile__add_site(prof, &s);
}

/* Keep the process's aggregates (every process's are in the table). */
static int build_collect(void *ctx, const void *kp, const void *vp)
{
	const struct tm_agg_key *key = kp;
	struct build *b = ctx;

	b->table++;
	if (key->tgid != (__u32)b->pid || key->inc != b->p->inc)
		return 0;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 1024;
		struct tm_agg_key *k = realloc(b->keys, cap * sizeof(*k));
		struct tm_agg *a;

		if (!k)
			return -ENOMEM;
		b->keys = k;
		a = realloc(b->aggs, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		b->aggs = a;
		b->cap = cap;
	}
	b->keys[b->n] = *key;
	b->aggs[b->n] = *(const struct tm_agg *)vp;
	b->n++;
	return 0;
}

static size_t *by_stack_slot(const struct build *b, __u64 id)
{
	size_t i = tm_hash(TM_HASH_INIT, &id, sizeof(id)) & (b->by_stack_cap - 1);

	while (b->by_stack[i] && b->keys[b->by_stack[i] - 1].stack_id != id)
		i = (i + 1) & (b->by_stack_cap - 1);
	return &b->by_stack[i];
}

/* Streaming the stacks table: a stack one of the process's sites names makes that site. */
static int build_from_stack(void *ctx, const void *kp, const void *vp)
{
	struct build *b = ctx;
	size_t j = *by_stack_slot(b, *(const __u64 *)kp);
	int err;

	if (!j-- || b->done[j])
		return 0;
	b->done[j] = 1;
	err = build_site(b, &b->keys[j], &b->aggs[j], vp);
	return err < 0 ? err : 0;
}

/*
 * Stream the whole stacks table rather than look each stack up when the
 * process owns at least 1/STREAM_SHARE of the aggregates (the stacks table
 * holds about as many entries): a lookup is a system call (~4 us here), a
 * streamed stack ~1 KiB of copy (~0.3 us). Below STREAM_MIN sites lookups
 * are quick whatever the share.
 */
#define STREAM_SHARE 8
#define STREAM_MIN   1024

int tm_trace__build_profile_from(struct tm_trace *t, pid_t pid, const struct tm_proc *pp, struct tm_profile *prof)
{
	int aggs_fd = bpf_map__fd(t->skel->maps.aggs), stacks_fd = bpf_map__fd(t->skel->maps.stacks);
	struct tm_watch *w = watch_find(t, pid);
	uint64_t t0 = tm_now_ns();
	const struct tm_proc p = *pp;
	struct build b = { .t = t, .w = w, .prof = prof, .p = &p, .pid = pid };
	int err, k, batched = 0, stream = 0;
	struct tm_stack *st;
	struct tm_stats sum;
	size_t j;

	if (!w)
		return -ENOENT;
	if (w->py_pending && !w->python)
		pr_warn("tidemark: pid %d: %s: Python frames were not captured\n", pid, w->py_why);
	if (w->late_note && !prof->allocator_note)
		prof->allocator_note = tm_profile__str(prof, w->late_note);
	/* the daemon's full mode: a process whose malloc could not be probed (`run` says its own) */
	if (t->alloc_probes && w->note[0] && !prof->allocator_note)
		prof->allocator_note = tm_profile__str(prof, w->note);
	st = malloc(sizeof(*st));
	b.frames = calloc(TM_MAX_NATIVE + TM_MAX_PY, sizeof(*b.frames));
	if (!st || !b.frames) {
		err = -ENOMEM;
		goto out;
	}

	prof->peak_bytes = p.peak_bytes;
	prof->peak_time_ns = p.peak_time_ns && p.peak_time_ns > prof->start_time_ns ?
			     p.peak_time_ns - prof->start_time_ns : 0;
	prof->sample_bytes = t->sample_bytes;
	/* The end of the program: CPython's finalization when it was seen (py_finalize_enter), else the exit. */
	prof->end_moment = p.end_gen ? TM_END_FINALIZE : TM_END_EXIT;
	prof->end_moment_ns = p.end_gen && p.end_time_ns > prof->start_time_ns ? p.end_time_ns - prof->start_time_ns
									       : 0;
	/*
	 * The process's totals are the sums of its stacks' (added below): what
	 * was live too, so the header and every view agree even when the
	 * counters moved while the table was read (a live `attach` target).
	 */
	prof->alloc_bytes = prof->alloc_count = prof->free_count = 0;
	prof->live_bytes_end = prof->live_bytes_exit = 0;
	for (k = 0; k < TM_DROP__COUNT; k++)
		tm_profile__set_counter(prof, 1, tm_drop_name(k), p.drops[k]);
	/* Not recorded for want of a kernel feature: the report says so among the drops. */
	if (t->no_oom)
		tm_profile__set_counter(prof, 1, "oom_no_tracepoint", 1);
	_Static_assert(TM_SIZE_BUCKETS == TM_PROFILE_SIZE_BUCKETS, "size classes differ");
	for (k = 0; k < TM_SIZE_BUCKETS; k++) {
		prof->size_hist[k].count = p.size_count[k];
		prof->size_hist[k].bytes = p.size_bytes[k];
	}
	sum_stats(t, &sum);
	for (k = 0; k < TM_STAT__COUNT; k++)
		tm_profile__set_counter(prof, 0, tm_stat_name(k), sum.stats[k]);

	/* Every process's aggregates in a few system calls; this one's are kept. */
	err = tm_map_read__each(aggs_fd, sizeof(struct tm_agg_key), sizeof(struct tm_agg), build_collect, &b,
				&batched);
	if (err) {
		pr_warn("tidemark: pid %d: cannot read its allocation sites: %s\n", pid, strerror(-err));
		goto out;
	}
	b.done = calloc(b.n ? b.n : 1, 1);
	if (!b.done) {
		err = -ENOMEM;
		goto out;
	}
	stream = b.n >= STREAM_MIN && b.n * STREAM_SHARE >= b.table;
	if (stream) {
		for (b.by_stack_cap = 1024; b.by_stack_cap < 2 * b.n; b.by_stack_cap *= 2)
			;
		b.by_stack = calloc(b.by_stack_cap, sizeof(*b.by_stack));
		if (!b.by_stack) {
			err = -ENOMEM;
			goto out;
		}
		for (j = 0; j < b.n; j++)
			*by_stack_slot(&b, b.keys[j].stack_id) = j + 1;
		err = tm_map_read__each(stacks_fd, sizeof(__u64), sizeof(struct tm_stack), build_from_stack, &b,
					NULL);
		if (err) {
			pr_warn("tidemark: pid %d: cannot read its stacks: %s\n", pid, strerror(-err));
			goto out;
		}
	}
	/* Sites whose stacks were not streamed: looked up one by one (or none to read) */
	for (j = 0; j < b.n; j++) {
		const struct tm_agg_key *key = &b.keys[j];
		const struct tm_stack *sp = NULL;

		if (b.done[j])
			continue;
		if (!stream && key->stack_id != TM_STACK_OVER_CAP && key->stack_id != TM_STACK_TABLE_FULL &&
		    !bpf_map_lookup_elem(stacks_fd, &key->stack_id, st))
			sp = st;
		err = build_site(&b, key, &b.aggs[j], sp);
		if (err < 0)
			goto out;
	}
	/* Their stacks were read, but nothing in them was code: unreadable, as far as the report goes. */
	if (b.no_code)
		tm_profile__set_counter(prof, 1, tm_drop_name(TM_DROP_STACK_UNREADABLE),
					p.drops[TM_DROP_STACK_UNREADABLE] + b.no_code);
	pr_debug("tidemark: pid %d: %zu sites (of %zu in the table, %s), their stacks %s, %zu distinct frames: "
		 "profile built in %.3f s\n",
		 pid, b.n, b.table, batched ? "read in batches" : "read one by one",
		 stream ? "streamed" : "looked up", b.memo.n, (tm_now_ns() - t0) / 1e9);
	err = 0;
out:
	free(b.memo.tab);
	free(b.keys);
	free(b.aggs);
	free(b.done);
	free(b.by_stack);
	free(b.frames);
	free(st);
	return err;
}

void tm_trace__set_event_cb(struct tm_trace *t, tm_trace_event_fn fn, void *ctx)
{
	t->on_event = fn;
	t->on_event_ctx = ctx;
}

int tm_trace__watching(struct tm_trace *t, pid_t pid, __u32 *inc)
{
	struct tm_watch *w = watch_find(t, pid);

	if (!w)
		return 0;
	if (inc)
		*inc = w->inc;
	return 1;
}

int tm_trace__forget(struct tm_trace *t, pid_t pid, __u32 inc)
{
	struct tm_reap_key k = { .tgid = (__u32)pid, .inc = inc };
	__u32 key = (__u32)pid, one = 1;
	struct tm_watch *w = watch_find(t, pid);
	struct tm_proc p;
	int live, err = 0;

	/* A newer incarnation under the same pid keeps the user-side state (maps, Python). */
	live = !tm_trace__proc(t, pid, &p) && p.inc != inc;
	if (w && !live) {
		tm_maps__free(&w->maps);
		watch_drop_links(w);
		*w = t->watch[--t->nwatch];
	}
	if (!live) {
		/* No incarnation left: the procs entry (kept when the ring was full) and the walker's layout. */
		if (!tm_trace__proc(t, pid, &p) && p.inc == inc)
			bpf_map_delete_elem(bpf_map__fd(t->skel->maps.procs), &key);
		bpf_map_delete_elem(bpf_map__fd(t->skel->maps.py_cfgs), &key);
		bpf_map_delete_elem(bpf_map__fd(t->skel->maps.alloc_code), &key);
		bpf_map_delete_elem(bpf_map__fd(t->skel->maps.unwind_procs), &key);
	}
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.reap_set), &k, &one, BPF_ANY))
		err = -errno;
	else
		t->nreap++;
	if (!live) {
		k.inc = 0;   /* (tgid, 0): its Python code names may go too */
		if (!bpf_map_update_elem(bpf_map__fd(t->skel->maps.reap_set), &k, &one, BPF_ANY))
			t->nreap++;
	}
	return err;
}

int tm_trace__adopt(struct tm_trace *t, pid_t pid, __u32 inc)
{
	struct tm_watch *w = watch_find(t, pid);
	int err;

	if (w && w->inc == inc)
		return 0;
	w = watch_restart(t, pid, inc);
	if (!w)
		return -ENOSPC;
	err = tm_trace__refresh_maps(t, pid);
	try_python(t, w);
	if (t->alloc_probes) {
		probe_libc(t, w, 0);
		if (!w->armed) /* as at its exec: what can be counted is, from now on */
			watch_arm(t, w, 1);
	}
	return err;
}

long tm_trace__procs(struct tm_trace *t, pid_t *pids, size_t cap)
{
	int fd = bpf_map__fd(t->skel->maps.procs);
	__u32 key, next, *prev = NULL;
	size_t n = 0;

	while (n < cap && bpf_map_get_next_key(fd, prev, &next) == 0) {
		pids[n++] = (pid_t)next;
		key = next;
		prev = &key;
	}
	return (long)n;
}

int tm_trace__fd(struct tm_trace *t)
{
	return ring_buffer__epoll_fd(t->rb);
}

size_t tm_trace__reap_pending(struct tm_trace *t)
{
	return t->nreap;
}

int tm_trace__reap(struct tm_trace *t)
{
	LIBBPF_OPTS(bpf_test_run_opts, ro);
	int set = bpf_map__fd(t->skel->maps.reap_set), err;
	struct tm_reap_key k, next, *prev = NULL;

	if (!t->nreap)
		return 0;
	err = bpf_prog_test_run_opts(bpf_program__fd(t->skel->progs.reap), &ro);
	if (err)
		return -errno;
	/* Empty the set (deleting the current key restarts the walk: nothing is skipped). */
	while (bpf_map_get_next_key(set, prev, &next) == 0) {
		k = next;
		if (bpf_map_delete_elem(set, &k))
			prev = &k;
		else
			prev = NULL;
	}
	t->nreap = 0;
	return 0;
}

static long map_count(int fd, size_t key_size)
{
	char key[64], next[64];
	void *prev = NULL;
	long n = 0;

	if (key_size > sizeof(key))
		return -EINVAL;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

int tm_trace__occupancy(struct tm_trace *t, struct tm_occupancy *o)
{
	struct tidemark_bpf *s = t->skel;

	o->procs = map_count(bpf_map__fd(s->maps.procs), sizeof(__u32));
	o->allocs = map_count(bpf_map__fd(s->maps.allocs), sizeof(struct tm_alloc_key));
	o->regions = map_count(bpf_map__fd(s->maps.regions), sizeof(struct tm_alloc_key));
	o->aggs = map_count(bpf_map__fd(s->maps.aggs), sizeof(struct tm_agg_key));
	o->stacks = map_count(bpf_map__fd(s->maps.stacks), sizeof(__u64));
	o->py_codes = map_count(bpf_map__fd(s->maps.py_codes), sizeof(struct tm_py_code_key));
	o->watched = t->nwatch;
	o->links = 0;
	o->unarmed = 0;
	for (size_t i = 0; i < t->nwatch; i++) {
		o->links += (long)t->watch[i].nprobes;
		o->unarmed += !t->watch[i].armed;
	}
	o->probe_failures = (long)t->probe_failures;
	return 0;
}

int tm_trace__select_comm(struct tm_trace *t, const char *comm)
{
	char key[16] = { 0 };
	__u32 one = 1;

	snprintf(key, sizeof(key), "%s", comm);
	return bpf_map_update_elem(bpf_map__fd(t->skel->maps.sel_comm), key, &one, BPF_ANY) ? -errno : 0;
}

int tm_trace__select_exe(struct tm_trace *t, uint64_t kdev, uint64_t ino)
{
	struct tm_sel_exe k = { .dev = kdev, .ino = ino };
	__u32 one = 1;

	return bpf_map_update_elem(bpf_map__fd(t->skel->maps.sel_exe), &k, &one, BPF_ANY) ? -errno : 0;
}

int tm_trace__select_cgroup(struct tm_trace *t, enum tm_cg_hier hier, uint64_t id)
{
	struct tm_sel_cgroup k = { .hier = hier, .id = id };
	__u32 one = 1;

	return bpf_map_update_elem(bpf_map__fd(t->skel->maps.sel_cgroup), &k, &one, BPF_ANY) ? -errno : 0;
}

int tm_trace__stats(struct tm_trace *t, struct tm_stats *sum)
{
	sum_stats(t, sum);
	return 0;
}

int tm_trace__probe_hits(struct tm_trace *t, struct tm_probe_hits *h)
{
	struct bpf_program *prog;

	memset(h, 0, sizeof(*h));
	if (t->stats_fd < 0)
		return -ENOTSUP;
	for (prog = bpf_object__next_program(t->skel->obj, NULL); prog;
	     prog = bpf_object__next_program(t->skel->obj, prog)) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		/* uprobes and uretprobes only: a tracepoint runs for every process on the host, and does not trap */
		if (fd < 0 || bpf_program__type(prog) != BPF_PROG_TYPE_KPROBE ||
		    bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		h->hits += info.run_cnt;
		h->bpf_ns += info.run_time_ns;
	}
	return 0;
}

void tm_trace__print_run_stats(struct tm_trace *t)
{
	struct bpf_program *prog;

	if (t->stats_fd < 0)
		return;
	bpf_object__for_each_program(prog, t->skel->obj)
	{
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || !info.run_cnt)
			continue;
		/* a tracepoint's runs are every process's on the host, most leaving at the first lookup */
		pr_debug("bpf: %-22s ran %llu times, %llu ns in all (%.0f ns a run)\n", bpf_program__name(prog),
			 (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns,
			 (double)info.run_time_ns / info.run_cnt);
	}
}

void tm_trace__startup(const struct tm_trace *t, struct tm_trace_startup *out)
{
	*out = t->startup;
}

int tm_trace__prefetch_symbols(struct tm_trace *t, const char *const *paths, size_t n)
{
	int err = tm_symbolizer__prefetch(t->sym, paths, n);

	if (err)
		pr_debug("tidemark: reading symbols ahead: %s\n", strerror(-err));
	return err;
}

uint64_t tm_trace__symbolize_ns(const struct tm_trace *t)
{
	return t->sym_ns;
}

void tm_trace__print_verifier_stats(struct tm_trace *t)
{
	struct bpf_program *prog;
	unsigned long verified = 0, xlated = 0, n = 0;

	bpf_object__for_each_program(prog, t->skel->obj) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		pr_debug("bpf: %-22s %6u instructions verified, %6u xlated\n", bpf_program__name(prog),
			 info.verified_insns, info.xlated_prog_len / 8);
		verified += info.verified_insns;
		xlated += info.xlated_prog_len / 8;
		n++;
	}
	pr_debug("bpf: %lu programs loaded, %lu instructions verified in all, %lu xlated\n", n, verified, xlated);
}

/*
 * Removing a uprobe waits for a grace period under a kernel-wide lock (~0.12 s
 * each here, serialised: ~2.4 s for tidemark's 19 links; bcc's memleak is
 * known for the same). When the target is gone nobody needs to wait for it:
 * a detached child holding the same descriptors does the removal, and the
 * caller exits at once. Returns 0 in the caller, or -errno if it could not
 * fork (then the removal was done here, synchronously).
 */
/* What tm_trace__destroy_detached() handed to its child: kept, not leaked. */
static struct tm_trace *volatile handed_over;

int tm_trace__destroy_detached(struct tm_trace *t)
{
	pid_t parent = getpid(), pid;
	struct pollfd gone;
	int fd;

	if (!t)
		return 0;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		tm_trace__destroy(t);
		return err;
	}
	if (pid > 0) {
		/*
		 * The descriptors are the child's now; the caller just exits. The
		 * objects stay allocated (freeing them here would close what the
		 * child still tears down), held by a pointer so that
		 * LeakSanitizer does not count them as lost.
		 */
		handed_over = t;
		return 0;
	}
	setsid();
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	/*
	 * The caller's exit closes its copies of the same descriptors: one that
	 * is the last copy of a probe removes it there, on the user's clock
	 * (measured: 2.3 s of exit for a python3.11 -c pass). So the removal
	 * starts once the caller is gone; 10 s at most, should its pid be reused.
	 */
	gone.fd = (int)syscall(SYS_pidfd_open, parent, 0);
	gone.events = POLLIN;
	if (gone.fd >= 0) {
		poll(&gone, 1, 10000);
		close(gone.fd);
	}
	/* The run's shared hold is over (the description is the caller's too, and it has gone). */
	if (t->placing_fd >= 0) {
		flock(t->placing_fd, LOCK_UN);
		close(t->placing_fd);
		t->placing_fd = -1;
	}
	remove_yielding(t);
	tm_trace__destroy(t);
	_exit(0);
}

void tm_trace__destroy(struct tm_trace *t)
{
	size_t i;

	if (!t)
		return;
	if (t->skel && t->skel->bss)
		tm_trace__release_holds(t);
	ring_buffer__free(t->rb);
	for (i = 0; i < 2 * TM_SYSCALLS; i++)
		bpf_link__destroy(t->sys_links[i]);
	for (i = 0; i < TM_FORK_CALLS; i++)
		bpf_link__destroy(t->child_links[i]);
	for (i = 0; i < t->nwatch; i++) {
		tm_maps__free(&t->watch[i].maps);
		watch_drop_links(&t->watch[i]);
	}
	tidemark_bpf__destroy(t->skel);
	if (t->stats_fd >= 0)
		close(t->stats_fd);
	if (t->placing_fd >= 0)
		close(t->placing_fd);
	tm_allocator__free(&t->libc_cache.a);
	free(t->libc_cache.sites);
	free(t->uw_files);
	free(t->uw_rows);
	free(t->watch);
	tm_symbolizer__free(t->sym);
	free(t);
}
