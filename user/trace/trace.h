/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * trace.h: the loader. Owns the BPF skeleton, attaches the allocator uprobes
 * to a target's libc and the syscall tracepoints, keeps /proc/PID/maps
 * snapshots while the target lives, and turns the kernel's maps into a
 * tm_profile. Lifecycle: __open -> __watch -> __attach_libc -> __poll ... ->
 * __build_profile -> __destroy.
 */
#ifndef TIDEMARK_TRACE_H
#define TIDEMARK_TRACE_H

#include <stdint.h>
#include <sys/types.h>

#include "profile/profile.h"
#include "tidemark_common.h"

/* Live blocks tracked at once: the default, and with --trace-python-allocators (one per object). */
#define TM_DEFAULT_MAX_ALLOCS    (1u << 20)
#define TM_DEFAULT_MAX_ALLOCS_PY (8u << 20)
/* Distinct stacks: `import numpy` under PYTHONMALLOC=malloc needs 74,494 (3.11). */
#define TM_DEFAULT_MAX_STACKS (1u << 18)
#define TM_LITE_MAX_STACKS    (1u << 14) /* run and attach --mode lite */

struct tm_trace_opts {
	unsigned int native_depth;        /* frames per native stack, 1..TM_MAX_NATIVE */
	unsigned int max_allocs;          /* live blocks tracked at once */
	unsigned int max_stacks;          /* distinct stacks */
	unsigned int max_procs;           /* processes tracked at once; 0 = the default (1024) */
	unsigned int max_regions;         /* live mappings; 0 = the default (16384) */
	int python;                       /* capture CPython stacks when the target is CPython */
	int python_unloaded;              /* python asked for, no walker loaded (run: not CPython): say so */
	int daemon;                       /* track selected processes from their exec; release them at exit */
	unsigned int sel_flags;           /* enum tm_sel_flags: which selectors the daemon fills in */
	int py_alloc;                     /* also probe PyObject_ and PyMem_ Malloc/Calloc/Realloc/Free */
	int native_all;                   /* keep the interpreter's frames between two Python frames */
	uint64_t sample_bytes;            /* --sample-bytes N (tidemark_sample.h); 0 = every allocation */
	int alloc_probes;                 /* daemon --mode full: libc probes on each process it tracks */
	int lite;                         /* no allocator uprobes at all: their programs are not loaded */
	unsigned int max_allocs_per_proc; /* caps per process (0 = none); beyond: counted proc_cap */
	unsigned int max_stacks_per_proc;
	int children; /* `run`: follow the command's children through fork and exec */
};

struct tm_trace;
struct tidemark_bpf;

/*
 * Which of the object's programs a session loads (before __load): one that is
 * not loaded is not verified. oom_task: the kernel's oom:mark_victim passes the
 * task (6.8+).
 */
void tm_trace__select_programs(struct tidemark_bpf *s, const struct tm_trace_opts *o, int oom_task);

/*
 * Called from tm_trace__poll for every kernel notice (after the loader's own
 * handling). `final` is set for TM_EV_EXIT: the process's last counters.
 */
typedef void (*tm_trace_event_fn)(void *ctx, const struct tm_event *ev, const struct tm_proc *final);

/* Entries in the kernel's maps, counted (for the daemon's own metrics). */
struct tm_occupancy {
	long procs, allocs, regions, aggs, stacks, py_codes;
	long watched;        /* processes the loader keeps maps snapshots for */
	long links;          /* uprobe links held (daemon --mode full) */
	long probe_failures; /* processes whose libc could not be probed in time */
	long unarmed;        /* processes whose probes are still being placed: not counted yet */
};

enum tm_watch_flags {
	/*
	 * `run`: count pid from its next exec, holding it at each new executable
	 * mapping until its maps are read. Its probes must be placed before it
	 * execs: it is counted from its first instruction.
	 */
	TM_WATCH_AT_EXEC = 1u << 0,
	/* The caller places more probes (tm_trace__attach_libc) and then calls tm_trace__arm. */
	TM_WATCH_UNARMED = 1u << 1,
};

int tm_trace__open(struct tm_trace **out, const struct tm_trace_opts *o);
/*
 * Trace pid (flags: enum tm_watch_flags). Counting starts once every probe
 * for it is in place: at once unless TM_WATCH_UNARMED (the daemon's full mode
 * places its libc probes first).
 */
int tm_trace__watch(struct tm_trace *t, pid_t pid, unsigned int flags);
/* Start counting pid (watched with TM_WATCH_UNARMED): its probe set is complete. */
int tm_trace__arm(struct tm_trace *t, pid_t pid);
/* Uprobes on the allocator family in libc_path (glibc's), for pid only. */
int tm_trace__attach_libc(struct tm_trace *t, pid_t pid, const char *libc_path);
struct tm_allocator;
/*
 * Uprobes on every allocator function @a found for pid (target/allocator.h),
 * for pid only; nothing for an allocator it does not know (the caller says so).
 */
int tm_trace__attach_allocator(struct tm_trace *t, pid_t pid, const struct tm_allocator *a);
/*
 * Probes on CPython's allocator functions in @path (libpython3.X.so or a
 * python executable), for pid only. `run` calls it before the exec when it
 * can tell which file the target will map; otherwise it happens when the
 * interpreter is detected.
 */
int tm_trace__attach_python_allocators(struct tm_trace *t, pid_t pid, const char *path);
/*
 * A probe where CPython's finalization starts (Py_FinalizeEx) in @path
 * (libpython3.X.so or a python executable), for pid only: the end of the
 * program, where its leaks are taken. Once per file; `run` calls it before
 * the exec when it can tell the file, otherwise it happens when the
 * interpreter is detected. 0 or -errno (said in one line).
 */
int tm_trace__attach_python_end(struct tm_trace *t, pid_t pid, const char *path);
/* Stop counting pid (its counters hold still while they are read); 0, -ESRCH when it is gone. */
int tm_trace__disarm(struct tm_trace *t, pid_t pid);
/* Wait up to timeout_ms for kernel notices (new executable mappings). */
int tm_trace__poll(struct tm_trace *t, int timeout_ms);
/*
 * The caller reads no more notices: no process is held for its probes from
 * now on, and every one that may be held now is continued. Call it when the
 * poll loop ends (the programs run on until the objects are destroyed, and a
 * followed process may outlive the command). tm_trace__destroy() calls it too.
 */
void tm_trace__release_holds(struct tm_trace *t);
/* The procs map's descriptor (the watchdog's copy: tm_watchdog__give_procs()). */
int tm_trace__procs_fd(struct tm_trace *t);
/* Snapshot /proc/PID/maps now (merged with the earlier ones). */
int tm_trace__refresh_maps(struct tm_trace *t, pid_t pid);
int tm_trace__proc(struct tm_trace *t, pid_t pid, struct tm_proc *out);
/* Fill the profile's totals, drops and sites for pid from the kernel's maps. */
int tm_trace__build_profile(struct tm_trace *t, pid_t pid, struct tm_profile *prof);
/* The same from counters already read (an exit event's): pid's incarnation p->inc. */
int tm_trace__build_profile_from(struct tm_trace *t, pid_t pid, const struct tm_proc *p,
				 struct tm_profile *prof);

/* The daemon's side. */
/* A descriptor that polls readable when kernel notices wait (then call tm_trace__poll). */
int tm_trace__fd(struct tm_trace *t);
void tm_trace__set_event_cb(struct tm_trace *t, tm_trace_event_fn fn, void *ctx);
/* 1 if the loader knows pid (and its incarnation in *inc), else 0. */
int tm_trace__watching(struct tm_trace *t, pid_t pid, __u32 *inc);
/* Forget incarnation inc of pid: its entries go at the next tm_trace__reap. */
int tm_trace__forget(struct tm_trace *t, pid_t pid, __u32 inc);
/*
 * Start keeping user-side state (maps, Python layout, full mode's probes) for
 * incarnation inc of pid, which the kernel already tracks: its exec or fork
 * notice was lost. A no-op when that incarnation is known.
 */
int tm_trace__adopt(struct tm_trace *t, pid_t pid, __u32 inc);
/* The pids in the kernel's procs table (at most cap of them); returns how many. */
long tm_trace__procs(struct tm_trace *t, pid_t *pids, size_t cap);
size_t tm_trace__reap_pending(struct tm_trace *t);
int tm_trace__reap(struct tm_trace *t);
int tm_trace__occupancy(struct tm_trace *t, struct tm_occupancy *o);
int tm_trace__stats(struct tm_trace *t, struct tm_stats *sum);
/* Selection (with tm_trace_opts.daemon and the matching sel_flags bit). */
int tm_trace__select_comm(struct tm_trace *t, const char *comm);
int tm_trace__select_exe(struct tm_trace *t, uint64_t kdev, uint64_t ino);
int tm_trace__select_cgroup(struct tm_trace *t, enum tm_cg_hier hier, uint64_t id);
/*
 * `run` following children: why pid's current image is not fully traced
 * ("" when it is), e.g. a static binary whose allocator cannot be probed.
 */
const char *tm_trace__follow_note(struct tm_trace *t, pid_t pid);
/* What the allocator probes did so far, as the kernel counted. */
struct tm_probe_hits {
	uint64_t hits;   /* uprobe and uretprobe program runs: one trap each */
	uint64_t bpf_ns; /* time spent in those programs */
};
/* 0, or -ENOTSUP when the kernel's BPF run counters could not be turned on. */
int tm_trace__probe_hits(struct tm_trace *t, struct tm_probe_hits *h);
/* Print per-program verified instruction counts (for -v). */
void tm_trace__print_verifier_stats(struct tm_trace *t);
/* -v: each program's runs and time in them since the load (the kernel's BPF run counters). */
void tm_trace__print_run_stats(struct tm_trace *t);
/*
 * Where tm_trace__open() spent its time: CLOCK_MONOTONIC (util/clock.h)
 * nanoseconds, 0 where a step was not seen. btf and maps are taken from
 * libbpf's own log as it passes (its load is one call): the kernel's BTF
 * read, the last map created; after it come CO-RE relocation and the
 * programs' verification.
 */
struct tm_trace_startup {
	uint64_t begin;    /* tm_trace__open() called */
	uint64_t opened;   /* the embedded BPF object parsed (skeleton __open) */
	uint64_t btf;      /* the kernel's BTF read by libbpf */
	uint64_t maps;     /* the last map created */
	uint64_t loaded;   /* every program relocated, verified and loaded */
	uint64_t attached; /* tracepoints attached, ring buffer ready */
};
void tm_trace__startup(const struct tm_trace *t, struct tm_trace_startup *out);
/*
 * Symbolize the files at @paths ahead, in a thread, while the traced
 * command runs (tm_symbolizer__prefetch): the profile built at its end
 * finds them read. 0, or -errno (nothing lost: they are read when needed).
 */
int tm_trace__prefetch_symbols(struct tm_trace *t, const char *const *paths, size_t n);
/* Time spent symbolizing native frames (module and debug file reads included), in ns. */
uint64_t tm_trace__symbolize_ns(const struct tm_trace *t);
void tm_trace__destroy(struct tm_trace *t); /* accepts NULL */
/* The same, finished by a detached child so the caller can exit now (target gone). */
int tm_trace__destroy_detached(struct tm_trace *t);

#endif
