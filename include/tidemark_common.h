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
	TM_DROP__COUNT,
};

/* Informational counters: not losses. */
enum tm_stat {
	TM_STAT_NESTED,            /* allocator calls made inside another traced one (realloc -> malloc) */
	TM_STAT_MMAP_IN_ALLOC,     /* mmap/munmap/brk made by the allocator itself: not double counted */
	TM_STAT_STACKS_NEW,        /* distinct stacks interned */
	TM_STAT_STACKS_TRUNCATED,  /* stacks deeper than the capture limit */
	TM_STAT__COUNT,
};

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

struct tm_agg_key {
	__u32 tgid;
	__u32 pad;
	__u64 stack_id;
};

/*
 * Per-(process, stack) aggregates. `peak_*` hold the stack's live value at the
 * process's latest peak when `gen` equals that process's `peak_gen`; otherwise
 * the stack has not changed since the peak and its live value *is* its value at
 * the peak. See tm_agg_touch() in bpf/tidemark.bpf.c.
 */
struct tm_agg {
	__u64 alloc_bytes;      /* freed = allocated - live: not kept, one atomic less a free */
	__u64 alloc_count;
	__s64 live_bytes;
	__s64 live_count;
	__s64 peak_bytes;
	__s64 peak_count;
	__u64 gen;
};

struct tm_alloc_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr;
};

struct tm_alloc {
	__u64 size;
	__u64 stack_id;
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
	__u32 py_gen;           /* py_cfg_gen (BPF) when py_cfgs was last looked up for it */
	__u32 py_has;           /* ... and whether it had an entry: a CPython to walk */
	__u32 pad;
	__u64 drops[TM_DROP__COUNT];
};

/* Global informational counters, one copy per CPU, summed by the loader. Drops are per process. */
struct tm_stats {
	__u64 stats[TM_STAT__COUNT];
};

/* Ring-buffer notifications to the loader (rare events only). */
enum tm_event_type {
	TM_EV_EXEC_MAP = 1,     /* a new executable mapping: refresh /proc/PID/maps */
	TM_EV_NEW_STACK = 2,    /* a stack was interned: name its code objects while they live */
};

struct tm_event {
	__u32 type;
	__u32 tgid;
	__u64 arg;
};

_Static_assert(sizeof(struct tm_py_frame) == 16, "tm_py_frame layout");
_Static_assert(sizeof(struct tm_stack) == 16 + 8 * TM_MAX_NATIVE + 16 * TM_MAX_PY, "tm_stack layout");
_Static_assert(sizeof(struct tm_agg_key) == 16, "tm_agg_key layout");
_Static_assert(sizeof(struct tm_agg) == 56, "tm_agg layout");
_Static_assert(sizeof(struct tm_alloc_key) == 16, "tm_alloc_key layout");
_Static_assert(sizeof(struct tm_alloc) == 16, "tm_alloc layout");
_Static_assert(sizeof(struct tm_proc) == 96 + 8 * TM_DROP__COUNT, "tm_proc layout");
_Static_assert(sizeof(struct tm_event) == 16, "tm_event layout");

#endif /* TIDEMARK_COMMON_H */
