/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tidemark_common.h: the one contract between the BPF programs and the
 * user-space loader. Fixed-width types only, explicit padding, sizes
 * asserted; no pointers, no `long`, no `bool`.
 */
#ifndef TIDEMARK_COMMON_H
#define TIDEMARK_COMMON_H

#ifdef __BPF__
/* vmlinux.h supplies __u32/__u64 on the BPF side. */
#else
#include <linux/types.h>
#endif

/* Deepest native stack captured per event; deeper stacks are cut and flagged. */
#define TM_MAX_NATIVE 32
/* Python frames per event (issue #3); the slot exists now so the key is stable. */
#define TM_MAX_PY 48

/* Byte-weighted sampling (--sample-bytes N): the tables' shapes. See tidemark_sample.h. */
/* Exp(1) quantiles: Q steps, in units of 2^-TM_SAMPLE_Q_SHIFT. */
#define TM_SAMPLE_Q_BITS  12
#define TM_SAMPLE_Q       (1u << TM_SAMPLE_Q_BITS)
#define TM_SAMPLE_Q_SHIFT 20
/* x / (1 - exp(-x)) over [0, TM_SAMPLE_X_MAX): G steps, in units of 2^-TM_SAMPLE_G_SHIFT. */
#define TM_SAMPLE_X_MAX   16
#define TM_SAMPLE_G       1024
#define TM_SAMPLE_G_SHIFT 16
/* Largest N: keeps every product below 2^64 (N * q <= 2^57, N * g <= 2^52). */
#define TM_SAMPLE_MAX_N   (1ULL << 32)
/* A gap drawn from the tail (the first quantile step) adds ln(Q) and draws again, this often at most. */
#define TM_SAMPLE_TAIL_MAX 4

/* What made an allocation. The order is the capture file's numbering: append only. */
enum tm_kind {
	TM_KIND_MALLOC,
	TM_KIND_CALLOC,
	TM_KIND_REALLOC,
	TM_KIND_REALLOCARRAY,
	TM_KIND_POSIX_MEMALIGN,
	TM_KIND_ALIGNED_ALLOC,
	TM_KIND_MEMALIGN,
	TM_KIND_VALLOC,
	TM_KIND_PVALLOC,
	TM_KIND_FREE,
	TM_KIND_MMAP,
	TM_KIND_MUNMAP,
	TM_KIND_MREMAP,
	TM_KIND_BRK,
	/* CPython's allocators (--trace-python-allocators); the *_FREE ones name probes only. */
	TM_KIND_PYOBJECT_MALLOC,
	TM_KIND_PYOBJECT_CALLOC,
	TM_KIND_PYOBJECT_REALLOC,
	TM_KIND_PYOBJECT_FREE,
	TM_KIND_PYMEM_MALLOC,
	TM_KIND_PYMEM_CALLOC,
	TM_KIND_PYMEM_REALLOC,
	TM_KIND_PYMEM_FREE,
	TM_KIND__COUNT,
};

/* Kinds whose stacks start at the syscall's own instruction pointer, not a return address. */
static inline int tm_kind_is_syscall(unsigned int kind)
{
	return kind == TM_KIND_MMAP || kind == TM_KIND_MUNMAP || kind == TM_KIND_MREMAP || kind == TM_KIND_BRK;
}

/* realloc-like: the first argument is a block that the call frees or moves. */
static inline int tm_kind_is_realloc(unsigned int kind)
{
	return kind == TM_KIND_REALLOC || kind == TM_KIND_REALLOCARRAY || kind == TM_KIND_PYOBJECT_REALLOC ||
	       kind == TM_KIND_PYMEM_REALLOC;
}

/*
 * One BPF program serves every allocator entry, one every free and one each
 * syscall entry and exit: the probe's BPF cookie says which function it is
 * on, so the verifier walks each program once instead of once per function.
 * An allocator entry's cookie is its kind in the low byte and, in the next,
 * where its size is (enum tm_args).
 */
enum tm_args {
	TM_ARGS_SIZE,           /* malloc(size), valloc(size) */
	TM_ARGS_ALIGN_SIZE,     /* aligned_alloc(align, size), memalign(align, size) */
	TM_ARGS_N_SIZE,         /* calloc(n, size): n * size */
	TM_ARGS_PTR_SIZE,       /* realloc(ptr, size) */
	TM_ARGS_PTR_N_SIZE,     /* reallocarray(ptr, n, size) */
	TM_ARGS_OUT_ALIGN_SIZE, /* posix_memalign(&out, align, size) */
	TM_ARGS_PAGES,          /* pvalloc(size): whole pages */
	/* mimalloc's mi_heap_*(heap, ...): a heap first, then the plain form's arguments */
	TM_ARGS_HEAP_SIZE,       /* mi_heap_malloc(heap, size) */
	TM_ARGS_HEAP_N_SIZE,     /* mi_heap_calloc(heap, n, size) */
	TM_ARGS_HEAP_PTR_SIZE,   /* mi_heap_realloc(heap, ptr, size) */
	TM_ARGS_HEAP_PTR_N_SIZE, /* mi_heap_reallocn(heap, ptr, n, size) */
};

/*
 * An allocator entry's cookie bit above its layout: the function resizes in
 * place or not at all and returns the block's new size, not an address
 * (jemalloc's xallocx(ptr, size, extra, flags)); the block stays at ptr.
 */
#define TM_ALLOC_IN_PLACE (1ULL << 16)

static inline unsigned int tm_kind_args(unsigned int kind)
{
	switch (kind) {
	case TM_KIND_CALLOC:
	case TM_KIND_PYOBJECT_CALLOC:
	case TM_KIND_PYMEM_CALLOC:
		return TM_ARGS_N_SIZE;
	case TM_KIND_REALLOC:
	case TM_KIND_PYOBJECT_REALLOC:
	case TM_KIND_PYMEM_REALLOC:
		return TM_ARGS_PTR_SIZE;
	case TM_KIND_REALLOCARRAY:
		return TM_ARGS_PTR_N_SIZE;
	case TM_KIND_POSIX_MEMALIGN:
		return TM_ARGS_OUT_ALIGN_SIZE;
	case TM_KIND_ALIGNED_ALLOC:
	case TM_KIND_MEMALIGN:
		return TM_ARGS_ALIGN_SIZE;
	case TM_KIND_PVALLOC:
		return TM_ARGS_PAGES;
	default:
		return TM_ARGS_SIZE;
	}
}

static inline __u64 tm_alloc_cookie(unsigned int kind)
{
	return kind | (tm_kind_args(kind) << 8);
}

/* The cookie of a kind's mi_heap_* form, its heap first (malloc, calloc, realloc, reallocarray). */
static inline __u64 tm_alloc_heap_cookie(unsigned int kind)
{
	unsigned int args = TM_ARGS_HEAP_SIZE;

	switch (tm_kind_args(kind)) {
	case TM_ARGS_N_SIZE: args = TM_ARGS_HEAP_N_SIZE; break;
	case TM_ARGS_PTR_SIZE: args = TM_ARGS_HEAP_PTR_SIZE; break;
	case TM_ARGS_PTR_N_SIZE: args = TM_ARGS_HEAP_PTR_N_SIZE; break;
	default: break;
	}
	return kind | ((__u64)args << 8);
}

/* A free probe's cookie. */
enum tm_free_flags {
	TM_FREE_PTR_ARG2 = 1 << 0, /* the block is the second argument: _PyObject_Free(ctx, p) */
	/*
	 * Any block it frees may go on to a probed free() (a wrapper, CPython's
	 * frees): the pointer is always remembered. Without it, only blocks of
	 * 64 KiB and more, which free() may hand to munmap.
	 */
	TM_FREE_WRAPPER = 1 << 1,
};

/* A syscall entry's cookie: its kind, and in the next byte how many arguments it reads. */
static inline __u64 tm_sys_cookie(unsigned int kind)
{
	__u64 nargs = 4; /* mmap's addr, len, prot, flags; mremap's addr, old_len, new_len, flags */

	if (kind == TM_KIND_BRK)
		nargs = 1;
	else if (kind == TM_KIND_MUNMAP)
		nargs = 2;
	return kind | (nargs << 8);
}

/*
 * Everything the tracer could not record, counted. Every report prints the
 * non-zero ones. Append only: the capture stores them by name.
 */
enum tm_drop {
	TM_DROP_ALLOC_MAP_FULL,    /* live-allocation table full: allocation unseen */
	TM_DROP_STACK_MAP_FULL,    /* stack table full: allocation counted under no stack */
	TM_DROP_AGG_MAP_FULL,      /* per-stack table full: allocation unseen */
	TM_DROP_REGION_MAP_FULL,   /* mmap region table full: mapping unseen */
	TM_DROP_FREE_UNMATCHED,    /* free of an address never seen allocated */
	TM_DROP_ADDR_REUSED,       /* an address came back from malloc while still live: a free was missed */
	TM_DROP_STACK_UNREADABLE,  /* the user stack could not be read: frames lost */
	TM_DROP_UNMAP_SPLIT,       /* an munmap hit more regions than one event can split */
	TM_DROP_INFLIGHT,          /* no per-thread slot for an allocator call in flight */
	TM_DROP_PY_UNREADABLE,     /* the Python stack could not be read: Python frames lost */
	/*
	 * --trace-python-allocators: a pymalloc arena was mapped outside any
	 * traced call of CPython's allocators, so objects are made without them (an
	 * interpreter that inlines its allocator, or calls before the probes
	 * were placed). The arena is not counted: its objects are not seen.
	 */
	TM_DROP_PY_ARENA_UNTRACED,
	/*
	 * The daemon's per-process caps (--max-allocs-per-proc, --max-stacks-per-proc):
	 * a block not tracked, or an allocation counted under TM_STACK_OVER_CAP.
	 */
	TM_DROP_PROC_CAP,
	/*
	 * Bytes of the allocations counted by alloc_map_full and agg_map_full:
	 * blocks not tracked live, so the live heap, the peak and every site's
	 * live and peak bytes are lower bounds by at most this much.
	 */
	TM_DROP_UNTRACKED_BYTES,
	/*
	 * Not a loss: frees of blocks that a full table could not track (their
	 * allocation is counted above), told apart from free_unmatched up to the
	 * number of such blocks.
	 */
	TM_DROP_FREE_UNTRACKED,
	TM_DROP__COUNT,
};

/* Informational counters: not losses. */
enum tm_stat {
	TM_STAT_NESTED,           /* allocator calls made inside another traced one (realloc -> malloc) */
	TM_STAT_MMAP_IN_ALLOC,    /* mmap/munmap/brk made by the allocator itself: not double counted */
	TM_STAT_STACKS_NEW,       /* distinct stacks interned */
	TM_STAT_STACKS_TRUNCATED, /* stacks deeper than the capture limit */
	TM_STAT_PROCS_FULL,       /* the daemon could not start tracking a process: procs is full */
	TM_STAT_UNWIND_STOPPED,   /* a syscall's walk through libc's frames stopped inside libc */
	/*
	 * Notices to user space lost because the ring buffer was full (user
	 * space did not drain it in time), one counter per kind of notice.
	 * What each loss costs: exec_map, a late /proc/PID/maps snapshot (frames
	 * of a library mapped and gone meanwhile stay unnamed); exit, the
	 * process's entry stays in procs until the daemon's sweep finds it;
	 * exec and fork, the daemon learns of the process at that sweep;
	 * oom, the post-mortem is still written at the exit.
	 */
	TM_STAT_LOST_EXEC_MAP,
	TM_STAT_LOST_OOM,
	TM_STAT_LOST_EXIT,
	TM_STAT_LOST_EXEC,
	TM_STAT_LOST_FORK,
	TM_STAT__COUNT,
};

/* The stack id a process's allocations get once it has as many stacks as its cap allows. */
#define TM_STACK_OVER_CAP 2ULL
/*
 * ... and once the stacks table is full (stack_map_full): still counted, in
 * every total and the peak, under one row that says which flag to raise.
 */
#define TM_STACK_TABLE_FULL 3ULL

enum tm_stack_flags {
	TM_STACK_NATIVE_TRUNCATED = 1u << 0,
	TM_STACK_PY_TRUNCATED = 1u << 1,
};

/* One Python frame as captured in BPF: decoded to file:line in user space. */
struct tm_py_frame {
	__u64 code;      /* PyCodeObject address in the target */
	__u32 lasti;     /* instruction index in code units */
	__u32 flags;     /* TM_PYF_*: activation boundaries, for hybrid stacks */
};

/* An interned stack. Keyed in the `stacks` map by its 64-bit hash (which covers the tgid). */
struct tm_stack {
	__u32 tgid;
	__u16 n_native;
	__u16 n_py;
	__u32 flags;     /* enum tm_stack_flags */
	__u32 kind;      /* enum tm_kind of the first event seen with this stack */
	__u64 native[TM_MAX_NATIVE];          /* innermost first: allocation site first */
	struct tm_py_frame py[TM_MAX_PY];     /* innermost first */
};

/*
 * `inc` (incarnation) tells apart two processes that had the same tgid: it is
 * the owning tm_proc's, so a reused pid never finds a dead process's entries.
 */
struct tm_agg_key {
	__u32 tgid;
	__u32 inc;
	__u64 stack_id;
};

/*
 * Per-(process, stack) aggregates. `peak_*` hold the stack's live value at the
 * process's latest peak when `gen` equals that process's `peak_gen`; otherwise
 * the stack has not changed since the peak and its live value *is* its value at
 * the peak. `end_*` and `end_gen` do the same for the end of the program
 * (tm_proc.end_gen: CPython's finalization). See tm_agg_touch() in
 * bpf/tidemark.bpf.c.
 */
struct tm_agg {
	__u64 alloc_bytes;      /* freed = allocated - live: not kept, one atomic less a free */
	__u64 alloc_count;
	__s64 live_bytes;
	__s64 live_count;
	__s64 peak_bytes;
	__s64 peak_count;
	__u64 gen;
	__u64 temp_bytes;       /* freed before their thread allocated again */
	__u64 temp_count;
	/* Live at the end of the program, when end_gen is the process's. */
	__s64 end_bytes;
	__s64 end_count;
	__u64 end_gen;
};

struct tm_alloc_key {
	__u32 tgid;
	__u32 inc;              /* as in tm_agg_key */
	__u64 addr;
};

/*
 * A live block. Under --sample-bytes, size and count are what the block
 * stands for (tidemark_sample.h), so its free takes back exactly that.
 */
struct tm_alloc {
	__u64 size;
	__u64 stack_id;
	__u64 count;            /* allocations it stands for: 1 unless sampled */
};

/* An anonymous mapping (mmap, mremap or brk growth) being tracked. */
struct tm_region {
	__u64 len;
	__u64 stack_id;
};

/*
 * Per traced process: the live heap, its peak, and what it lost. Totals
 * allocated and freed are the sums of its tm_agg entries, made in user space.
 */
enum tm_proc_flags {
	/*
	 * Stop the process (SIGSTOP) at each new executable mapping until the
	 * loader has read its maps (it sends SIGCONT): a process that dies a
	 * moment later still gets its frames named. Only for `run`'s child.
	 */
	TM_PROC_HOLD_FOR_MAPS = 1u << 0,
	/*
	 * Counting: every allocator probe placed for the process is in place.
	 * Until then its events are not counted at all (a free missed while
	 * the probe set is incomplete would leave its block live and inflate
	 * the peak). `run` arms its child at the exec (the probes go on before
	 * it); `attach` and the daemon's full mode arm after the last link,
	 * through the `arm` program; the daemon's lite mode has no probes to
	 * wait for and arms at the exec or fork.
	 */
	TM_PROC_ARMED = 1u << 1,
	/*
	 * Its dynamic loader is its libc (musl): the loader's span is not the
	 * loader's own, so it does not exclude mappings (set before the exec).
	 */
	TM_PROC_LDSO_IS_LIBC = 1u << 2,
	/*
	 * `run` following children: a process just forked by a traced one,
	 * stopped (SIGSTOP) on its way back from fork to user space, before its
	 * first instruction, until the loader has placed its probes (TM_EV_CHILD).
	 */
	TM_PROC_HOLD_AT_START = 1u << 3,
};

/* What else the `arm` program does to a process that is not counted (tm_arm_args.how). */
enum tm_arm_how {
	/*
	 * Start over: zero its totals, peak and drops (the caller has reaped
	 * its blocks, mappings and stacks). The daemon's full mode, when a
	 * process turns out to call another allocator than the libc probed
	 * at its exec: what was counted under that guess (jemalloc's start-up
	 * arenas as mappings) is not its heap.
	 */
	TM_ARM_RESTART = 1u << 0,
	/* Its dynamic loader is its libc (musl, found after its exec): see TM_PROC_LDSO_IS_LIBC. */
	TM_ARM_LDSO_IS_LIBC = 1u << 1,
};

/* What the `arm` program is run with (BPF_PROG_TEST_RUN): start or stop counting one process. */
struct tm_arm_args {
	__u32 tgid;
	__u32 inc; /* the incarnation meant: another one is left alone (-ESRCH) */
	__u32 on;  /* 1: count from now on; 0: stop counting until armed again */
	__u32 how; /* enum tm_arm_how, done before `on` takes effect; only on a process not counted */
};

/*
 * The code of an allocator library (jemalloc, tcmalloc, mimalloc, musl's
 * libc) in one process: mappings it makes outside a traced call (its start-up
 * reservation, its purges) are its own reservations, not the program's heap.
 */
struct tm_code_range {
	__u64 lo; /* [lo, hi) */
	__u64 hi;
};

/*
 * Unwinding libc's own frames at a syscall (lite mode: no frame pointers in
 * Debian's libc). One row a code range of a libc file, from its .eh_frame
 * (user/target/unwind.c): the rows of every libc file in use share
 * unwind_rows' one value (a power of two: an index is masked, not checked); a process's entry in unwind_procs says where its libc
 * is mapped and which rows are its.
 */
#define TM_UNWIND_ROWS_MAX (1u << 17) /* 1 MiB; Debian 12's libc needs 28,269 rows */
#define TM_UNWIND_FRAMES   16         /* libc frames walked at most (stdio to mmap: ~10) */

enum tm_unwind_cfa {
	TM_UNWIND_STOP = 0, /* not expressible here (a DWARF expression, a signal frame, no FDE) */
	TM_UNWIND_CFA_RSP = 1,
	TM_UNWIND_CFA_RBP = 2,
};

struct tm_unwind_row {
	__u32 pc;      /* link-time address where the row starts; it holds up to the next row's */
	__u16 cfa_off; /* CFA = (rsp or rbp) + cfa_off; the return address is at CFA - 8 */
	__u8 cfa_reg;  /* enum tm_unwind_cfa */
	__u8 rbp_slot; /* the caller's rbp is at CFA - 8 * rbp_slot; 0: rbp still holds it */
};

/* unwind_rows' one value: every libc file's rows, each file's after the last */
struct tm_unwind_rows {
	struct tm_unwind_row rows[TM_UNWIND_ROWS_MAX];
};

struct tm_unwind_proc {
	__u64 lo; /* [lo, hi): libc's code in this process (runtime addresses) */
	__u64 hi;
	__u64 bias;  /* runtime address - link-time address */
	__u32 first; /* its rows: unwind_rows[first, first + n) */
	__u32 n;
};

/* What `run` tells the kernel about a child before its exec (pending_exec). */
struct tm_pending {
	__u32 inc;              /* its incarnation; 0: a followed child (vfork), numbered at its exec */
	__u32 flags;            /* enum tm_proc_flags */
	__u32 ppid;             /* the traced process that made it (followed children); 0 = run's own */
	__u32 pad;
};

/* Power-of-two size classes up to 2^47 and above (the last is open-ended). */
#define TM_SIZE_BUCKETS 48

struct tm_proc {
	__s64 live_bytes;
	__u64 peak_bytes;
	__u64 peak_gen;
	__u64 peak_time_ns;     /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 brk_cur;          /* the program break as last seen; 0 until then */
	__u64 region_lo;        /* bounds of every region ever tracked: munmaps */
	__u64 region_hi;        /* outside them skip the region search */
	__u64 ldso_lo;          /* the dynamic loader's mappings: its own mmaps */
	__u64 ldso_hi;          /* (library .bss, its startup malloc) are not the program's heap */
	__u64 exit_time_ns;     /* 0 while it runs */
	__s32 exit_code;        /* wait(2) status word, valid when exit_time_ns != 0 */
	__u32 inc;              /* incarnation: unique per tracked process, never 0 */
	/* Set by the kernel's OOM killer choosing this process (oom:mark_victim). */
	__u64 oom_time_ns;      /* CLOCK_MONOTONIC; 0 = not OOM-killed */
	__u64 oom_rss_anon;     /* bytes resident at that moment, as the kernel counts them */
	__u64 oom_rss_file;
	__u64 oom_rss_shmem;
	__u64 oom_memcg_id;     /* kernfs id (inode) of the memory cgroup that ran out; 0 = none */
	__u64 oom_memcg_limit;  /* its limit in bytes; 0 = unlimited (a system-wide OOM) */
	__u64 oom_memcg_usage;  /* its usage in bytes at the kill */
	__u32 flags;            /* enum tm_proc_flags */
	__u32 py_gen;           /* py_cfg_gen (BPF) when py_cfgs was last looked up for it */
	__u32 py_has;           /* ... and whether it had an entry: a CPython to walk */
	__u32 ppid;             /* followed children: the traced process that forked it; 0 = none */
	__s64 n_allocs;         /* its entries in allocs, kept only under a per-process cap */
	__u64 n_stacks;         /* ... and in stacks */
	/*
	 * The end of the program, when it is not the exit: bumped where CPython's
	 * finalization starts (py_finalize_enter); 0 = not seen, the end is the exit.
	 */
	__u64 end_gen;
	/* CLOCK_MONOTONIC of the latest bump. */
	__u64 end_time_ns;
	__u64 drops[TM_DROP__COUNT];
	/* Allocations by size: bucket i holds sizes in [2^i, 2^(i+1)), bucket 0 also 0. */
	__u64 size_count[TM_SIZE_BUCKETS];
	__u64 size_bytes[TM_SIZE_BUCKETS];
};

/* Global informational counters, one copy per CPU, summed by the loader. Drops are per process. */
struct tm_stats {
	__u64 stats[TM_STAT__COUNT];
};

/* Ring-buffer notifications to the loader (rare events only). */
enum tm_event_type {
	TM_EV_EXEC_MAP = 1,  /* a new executable mapping: refresh /proc/PID/maps */
	TM_EV_NEW_STACK = 2, /* a stack was interned: name its code objects while they live */
	TM_EV_OOM = 3,       /* the OOM killer chose tgid: its procs entry holds the oom_* fields */
	TM_EV_EXIT = 4,      /* tgid's last thread exited; arg = inc. A tm_exit_event. */
	TM_EV_EXEC = 5,      /* the daemon started tracking tgid at its exec; arg = inc */
	TM_EV_FORK = 6,      /* the daemon started tracking tgid, forked by a traced process; arg = inc | ppid << 32 */
	/*
	 * `run` following children: a traced process forked tgid, which is held
	 * before its first instruction until the loader places its probes and
	 * continues it (TM_PROC_HOLD_AT_START). arg = inc | ppid << 32.
	 */
	TM_EV_CHILD = 7,
	/*
	 * `run` following children: a followed process (or a vfork child of
	 * one) exec'd; tgid is held, not counted until the loader has probed
	 * its new image and armed it. arg = inc | ppid << 32. An exec of a
	 * process already traced first ends its old image with TM_EV_EXIT.
	 */
	TM_EV_CHILD_EXEC = 8,
};

struct tm_event {
	__u32 type;
	__u32 tgid;
	__u64 arg;
};

/* TM_EV_EXIT: the process's final counters (the daemon drops its procs entry at exit). */
struct tm_exit_event {
	struct tm_event ev;
	struct tm_proc proc;
};

/*
 * The daemon's selection, checked in the kernel at every exec: a process is
 * traced when any selector matches (none given: every process).
 */
enum tm_sel_flags {
	TM_SEL_ALL = 1u << 0,
	TM_SEL_COMM = 1u << 1,     /* sel_comm: task comm, 16 bytes, NUL padded */
	TM_SEL_EXE = 1u << 2,      /* sel_exe: (device, inode) of the executable */
	TM_SEL_CGROUP = 1u << 3,   /* sel_cgroup: a cgroup or any ancestor of it */
};

struct tm_sel_exe {
	__u64 dev;              /* the kernel's dev_t: major << 20 | minor */
	__u64 ino;
};

/* Which hierarchy a sel_cgroup id is from: ids of different hierarchies may collide. */
enum tm_cg_hier {
	TM_CG_V2 = 0,              /* the unified (default) hierarchy */
	TM_CG_V1_MEMORY = 1,       /* the v1 memory controller's */
};

struct tm_sel_cgroup {
	__u32 hier;             /* enum tm_cg_hier */
	__u32 pad;
	__u64 id;               /* kernfs id: the directory's inode number */
};

/* Reaping: entries of (tgid, inc) are deleted by the `reap` program. Key of the reap map. */
struct tm_reap_key {
	__u32 tgid;
	__u32 inc;
};

_Static_assert(sizeof(struct tm_py_frame) == 16, "tm_py_frame layout");
_Static_assert(sizeof(struct tm_stack) == 16 + 8 * TM_MAX_NATIVE + 16 * TM_MAX_PY, "tm_stack layout");
_Static_assert(sizeof(struct tm_agg_key) == 16, "tm_agg_key layout");
_Static_assert(sizeof(struct tm_agg) == 96, "tm_agg layout");
_Static_assert(sizeof(struct tm_alloc_key) == 16, "tm_alloc_key layout");
_Static_assert(sizeof(struct tm_alloc) == 24, "tm_alloc layout");
_Static_assert(sizeof(struct tm_proc) == 192 + 8 * TM_DROP__COUNT + 16 * TM_SIZE_BUCKETS,
	       "tm_proc layout");
_Static_assert(sizeof(struct tm_exit_event) == 16 + sizeof(struct tm_proc), "tm_exit_event layout");
_Static_assert(sizeof(struct tm_sel_exe) == 16, "tm_sel_exe layout");
_Static_assert(sizeof(struct tm_sel_cgroup) == 16, "tm_sel_cgroup layout");
_Static_assert(sizeof(struct tm_reap_key) == 8, "tm_reap_key layout");
_Static_assert(sizeof(struct tm_unwind_row) == 8, "tm_unwind_row layout");
_Static_assert(sizeof(struct tm_unwind_proc) == 32, "tm_unwind_proc layout");
_Static_assert(sizeof(struct tm_pending) == 16, "tm_pending layout");
_Static_assert(sizeof(struct tm_arm_args) == 16, "tm_arm_args layout");
_Static_assert(sizeof(struct tm_event) == 16, "tm_event layout");

#endif /* TIDEMARK_COMMON_H */
