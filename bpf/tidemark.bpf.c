// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tidemark.bpf.c: exact heap accounting for traced processes, in the kernel.
 *
 * What it traces
 *   - uprobes on the libc allocator family (malloc ... pvalloc) with a return
 *     probe each, and a plain uprobe on free placed after its NULL test;
 *   - with --trace-python-allocators, uprobes on CPython's PyObject_ and
 *     PyMem_ Malloc/Calloc/Realloc (entry + return) and their Free;
 *   - in a CPython, one uprobe where Py_FinalizeEx starts: the program's end;
 *   - syscalls:{sys_enter,sys_exit}_{mmap,munmap,mremap,brk} for anonymous
 *     private memory that the program maps itself;
 *   - sched:sched_process_exec to start counting a `tidemark run` child at
 *     its exec, and sched:sched_process_exit to record how it ended; for
 *     the daemon and `run`, sched_process_fork to follow a traced process's
 *     children; for `run`, the return of clone/clone3/fork/vfork in the new
 *     child, which holds it before its first instruction until its probes
 *     are placed (once per process created: nothing on the hot path).
 *
 * Programs are few, and each is verified once: every allocator entry is
 * alloc_enter, every free free_enter, the four syscall entries tp_sys_enter
 * and their exits tp_sys_exit, told apart by the BPF cookie the loader puts on
 * each probe (tm_alloc_cookie, tm_sys_cookie: uprobe and tracepoint cookies
 * exist since Linux 5.15); the four fork calls' exits are tp_child_start.
 * The stack capture with the CPython walk is ~37,000 verifier instructions,
 * so it is in two programs only (alloc_enter and tp_sys_enter), and in none
 * when CPython stacks are off.
 *
 * What it keeps
 *   allocs   (tgid, address) -> size, stack           one per live block
 *   regions  (tgid, address) -> length, stack         one per live mapping
 *   aggs     (tgid, stack)   -> totals, live, live-at-peak, live-at-end
 *   procs    tgid            -> live heap, peak, peak generation, drops
 *   stacks   stack id        -> frames                interned once
 * The value-at-peak of every stack is kept without copying maps on a new
 * peak: each peak bumps the process's peak_gen, and the first change to a
 * stack entry after a newer peak saves its live value first (tm_agg_touch).
 * The end of a CPython program (its finalization, which frees module
 * globals before the exit) is kept the same way, by end_gen.
 *
 * Cost per event (the trap itself is ~0.5 us and not ours to save)
 *   malloc entry: task storage, one user read ([rsp]), the frame-pointer walk
 *   (one read a frame), the Python walk in a CPython (python.bpf.h), one
 *   stacks lookup; return: one allocs update, one aggs
 *   lookup, one procs lookup. free: task storage,
 *   one allocs lookup + delete, aggs, procs.
 *   syscall entry in lite mode (no uprobe names the allocator's caller): the
 *   walk out of libc by its call frame rows, ~0.76 us per mmap made in libc
 *   (a row search and one or two reads a frame; bench/unwind.sh).
 *   Nothing is sent to user space per event: only rare notices (exec, a new
 *   executable mapping, fork, exit, OOM) go through the ring buffer. One that
 *   finds it full (user space stopped or slow) is counted by kind (lost_*); a
 *   lost exit leaves the process's procs entry, exit time set, for the
 *   daemon to find.
 *
 * Counted once
 *   An allocator call made inside a traced one is not counted again: its
 *   stack pointer lies at or below the outer call's (realloc -> malloc,
 *   PyObject_Malloc of more than 512 bytes -> malloc, pymalloc's arena
 *   mmap, glibc's large-block mmap). A free has no return probe, so an
 *   inner free that finds its block already gone (PyObject_Free -> free)
 *   is recognised by the outer call in flight or by the pointer the outer
 *   free just took, and is not a loss. With Python allocators traced,
 *   pymalloc arenas are never memory of their own: those mapped outside a
 *   traced call are dropped and counted (py_arena_untraced).
 *
 * Counting starts when the probe set is whole
 *   Probes are placed one at a time; a free missed while malloc's probe is
 *   already live leaves its block live and inflates the peak. So nothing of a
 *   process is counted (allocator calls, mmap/munmap/mremap/brk) until its
 *   entry is armed (TM_PROC_ARMED), once its last probe is in place: a flag in
 *   the procs entry each program reads anyway, so no extra helper call. A call
 *   entered before arming is not counted at its return either (no call_sp).
 *   The daemon's full mode guesses glibc at a process's exec; one that turns
 *   out to call jemalloc (say) is disarmed, its entries reaped and its totals
 *   zeroed by `arm` (TM_ARM_RESTART), and armed again on the new probes: what
 *   jemalloc mapped for itself meanwhile is not counted. A syscall entered
 *   before that disarm and returning after the reset is counted after it (the
 *   unregistering of the old probes in between makes that rare).
 *
 * Races it tolerates
 *   - Threads of one process update the same counters concurrently; counts
 *     and live bytes use atomic adds. The value-at-peak bookkeeping is not a
 *     transaction: an allocation racing the allocation that sets a new peak
 *     on another CPU may be counted in or out of that peak's per-stack
 *     snapshot. Totals and the peak value itself are exact.
 *   - realloc frees the old block at its entry, not its return, so another
 *     thread that gets the old address from malloc in between cannot have its
 *     entry deleted by our realloc's return; a failed realloc restores it.
 *   - A missed uretprobe (longjmp out of a hook) cannot wedge a thread: the
 *     in-flight call is keyed by stack pointer, not by a nesting counter.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "tidemark_common.h"
#include "python_common.h"

#define tm_sample_rand() bpf_get_prandom_u32()
#include "tidemark_sample.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Knobs set by the loader before load. */
const volatile __u32 native_depth = TM_MAX_NATIVE; /* 0..TM_MAX_NATIVE */
const volatile __u32 trace_python = 0;
/* CPython allocator probes are attached: pymalloc arenas are not counted (see sys_enter). */
const volatile __u32 trace_py_alloc = 0;
/* Span of the dynamic loader's mappings (ld-linux-x86-64.so.2), from the loader's own. */
const volatile __u64 ldso_size = 0;
/* `tidemark daemon`: start tracking selected processes at their exec, forget them at exit. */
const volatile __u32 daemon_mode = 0;
const volatile __u32 sel_flags = 0;         /* enum tm_sel_flags */
/* --sample-bytes N: record allocator calls with probability 1 - exp(-size/N); 0 = every one. */
const volatile __u64 sample_bytes = 0;
const volatile __u32 sample_q[TM_SAMPLE_Q + 1];
const volatile __u32 sample_g[TM_SAMPLE_G + 1];
/* The daemon's per-process caps on live blocks and stacks; 0 = none (then nothing is counted). */
const volatile __u32 max_allocs_per_proc = 0;
const volatile __u32 max_stacks_per_proc = 0;
/*
 * The daemon's full mode: a process starts counting only when user space has
 * placed its allocator probes and armed it (TM_PROC_ARMED); otherwise at its
 * exec or fork.
 */
const volatile __u32 arm_by_loader = 0;
/*
 * Walk syscall stacks out of libc by its call frame rows (unwind_libc()):
 * where no allocator uprobe sees the caller (lite mode, the lite daemon).
 */
const volatile __u32 unwind_native = 0;
/* `run` follows its command's children through fork and exec (not with --no-children). */
const volatile __u32 follow_children = 0;

/* The loader's tgid as the kernel numbers it (a PID namespace renumbers getpid()); see hello. */
__u32 loader_tgid = 0;

/*
 * Set once nobody will continue a held process any more: by the loader when
 * it stops reading events (tm_trace__release_holds()), and by tp_exit when
 * the loader itself exits (before its descriptors close and its watchdog
 * wakes). A hold checks it after its stop: see hold_cancelled().
 */
__u32 holds_off = 0;

/* The last incarnation handed out; user space takes numbers from it too (atomically). */
__u32 next_inc = 0;

#define MAP_SHARED	0x01
#define MAP_PRIVATE	0x02
#define MAP_FIXED	0x10
#define MAP_ANONYMOUS	0x20
#define MAP_STACK	0x20000

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct tm_proc);
} procs SEC(".maps");

/*
 * libc's call frame rows (user/target/unwind.c), every libc file's in one
 * value, and where each process's libc is and which rows are its: lite
 * mode's walk from a syscall inside libc out to the program's code.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tm_unwind_rows);
} unwind_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct tm_unwind_proc);
} unwind_procs SEC(".maps");

/* tgid -> its allocator library's code, when that is not glibc (struct tm_code_range). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct tm_code_range);
} alloc_code SEC(".maps");

/* tgids whose counting starts at their next exec (`tidemark run`) -> incarnation, flags. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct tm_pending);
} pending_exec SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, struct tm_alloc_key);
	__type(value, struct tm_alloc);
} allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tm_alloc_key);
	__type(value, struct tm_region);
} regions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tm_agg_key);
	__type(value, struct tm_agg);
} aggs SEC(".maps");

/* Values are 1 KiB; only the stacks seen are allocated. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct tm_stack);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tm_stats);
} stats SEC(".maps");

/* The daemon's selection (enum tm_sel_flags says which are in use). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[16]);
	__type(value, __u32);
} sel_comm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct tm_sel_exe);
	__type(value, __u32);
} sel_exe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct tm_sel_cgroup);
	__type(value, __u32);
} sel_cgroup SEC(".maps");

/* Incarnations whose entries the `reap` program deletes; filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tm_reap_key);
	__type(value, __u32);
} reap_set SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/*
 * Per-thread state. Task storage, not a per-CPU scratch: uprobe programs run
 * preemptible (migrate-disabled only), so another thread on this CPU could
 * clobber a per-CPU buffer in the middle of building a stack.
 */
struct tm_thread {
	/* allocator call in flight (entry seen, return not yet) */
	__u64 call_sp;          /* rsp at the outermost call's entry; 0 = none */
	__u64 size;
	__u64 arg;              /* realloc: old pointer; posix_memalign: memptr */
	__u64 stack_id;
	struct tm_alloc old;    /* realloc: the old block, removed at entry */
	__u32 kind;
	__u32 has_old;
	__u32 unsampled;        /* --sample-bytes: this call is not recorded */
	__u64 weight;           /* ... or recorded as this many bytes */
	__u64 wcount;           /* ... and allocations */
	__u32 sample_started;   /* sample_left has been drawn */
	__s64 sample_left;      /* bytes this thread allocates before its next sample point */
	/* syscall in flight */
	__u64 sys_addr;
	__u64 sys_len;
	__u64 sys_new_len;
	__u64 sys_flags;
	__u64 sys_stack;
	__u32 sys_kind;         /* TM_KIND_MMAP/MUNMAP/MREMAP/BRK, 0 = none */
	__u32 sys_skip;         /* made by the allocator: not counted */
	__u32 sys_notify;       /* a new executable mapping: tell the loader */
	/* the call in flight is an xallocx: it returns a size, the block stays at arg */
	__u32 in_place;
	/* entry of a syscall wrapper that keeps a frame (musl's mmap): its caller, as it was there */
	__u64 wrap_sp;
	__u64 wrap_ra;
	__u64 wrap_fp;
	/* the walk out of libc at a syscall (unwind_libc()): the caller's return address, rsp, rbp */
	__u64 uw_ra;
	__u64 uw_sp;
	__u64 uw_fp;
	__u64 last_free;        /* this thread's latest free of a block an inner free() or munmap may return */
	__u64 last_alloc;       /* block of this thread's latest counted allocation */
	struct tm_stack scratch;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tm_thread);
} threads SEC(".maps");

#include "python.bpf.h"

/*
 * Bumped by user space after each change to py_cfgs. A process looks its
 * entry up again only when this moved, so one that is not CPython costs a
 * compare per event rather than a hash lookup. Starts at 1: a new process
 * (py_gen 0) looks once.
 */
__u32 py_cfg_gen = 1;

static __always_inline int py_walkable(struct tm_proc *p, __u32 tgid)
{
	__u32 gen = py_cfg_gen;

	/* gen is read before the lookup: a change racing it is seen at the next event */
	if (p->py_gen != gen) {
		p->py_has = bpf_map_lookup_elem(&py_cfgs, &tgid) != NULL;
		p->py_gen = gen;
	}
	return p->py_has;
}

static __always_inline void count_drop(struct tm_proc *p, enum tm_drop why)
{
	if (p && why < TM_DROP__COUNT)
		__sync_fetch_and_add(&p->drops[why], 1);
}

static __always_inline void count_stat(enum tm_stat what)
{
	__u32 zero = 0;
	struct tm_stats *s = bpf_map_lookup_elem(&stats, &zero);

	if (s && what < TM_STAT__COUNT)
		__sync_fetch_and_add(&s->stats[what], 1);
}

/* A notice that found the ring full: counted by kind, never silent. */
static __always_inline void count_lost(__u32 type)
{
	switch (type) {
	case TM_EV_EXEC_MAP: count_stat(TM_STAT_LOST_EXEC_MAP); break;
	case TM_EV_OOM: count_stat(TM_STAT_LOST_OOM); break;
	case TM_EV_EXIT: count_stat(TM_STAT_LOST_EXIT); break;
	case TM_EV_EXEC: count_stat(TM_STAT_LOST_EXEC); break;
	case TM_EV_FORK: count_stat(TM_STAT_LOST_FORK); break;
	}
}

static __always_inline long notify(__u32 type, __u32 tgid, __u64 arg)
{
	struct tm_event ev = { .type = type, .tgid = tgid, .arg = arg };
	long err = bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);

	if (err)
		count_lost(type);
	return err;
}

/*
 * After a hold's stop: will anybody continue this process? Not once holds_off
 * is set. Whoever sets it then continues every process that may be held (the
 * loader each one it follows, the watchdog the process group), so a stop sent
 * before that SIGCONT is cancelled by it, and one sent after it sees the flag
 * here: both signals take this process's siglock, which orders them, and the
 * flag was set before that SIGCONT was sent.
 *
 * The flag, not the held task's parent: a process `run` follows is the
 * loader's child only if it is the command itself. Its children's parent is
 * the program, so a check of the parent cancelled every hold of theirs at a
 * new executable mapping, and a spawned CPython ran on until the loader,
 * busy placing its siblings' probes, got to its libpython: often after the
 * program had ended, so none of its stacks had a Python frame.
 */
static __always_inline int hold_cancelled(void)
{
	return *(volatile __u32 *)&holds_off;
}

/*
 * A new executable mapping (or the exec itself): tell the loader, and for a
 * process held for its maps, stop it until the loader continues it. The stop
 * comes first so the loader's SIGCONT can never come before it (a SIGCONT
 * cancels a pending stop); if the loader cannot be told, or will not continue
 * it (hold_cancelled()), cancel it ourselves.
 */
static __always_inline void notify_exec_map(struct tm_proc *p, __u32 tgid, __u64 addr)
{
	int hold = p && (p->flags & TM_PROC_HOLD_FOR_MAPS) && !hold_cancelled();
	long lost;

	if (hold)
		bpf_send_signal(19 /* SIGSTOP */);
	lost = notify(TM_EV_EXEC_MAP, tgid, addr);
	if (hold && (lost || hold_cancelled()))
		bpf_send_signal(18 /* SIGCONT */);
}

/*
 * Counting for this process? Its probe set is complete (TM_PROC_ARMED).
 * A flag in the entry every program looks up anyway: no helper call more.
 */
static __always_inline int armed(const struct tm_proc *p)
{
	return p->flags & TM_PROC_ARMED;
}

static __always_inline struct tm_thread *this_thread(void)
{
	return bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/*
 * Capture and intern the current stack. `first` is the innermost frame the
 * caller already knows (the return address at a uprobe entry, or the user
 * instruction pointer at a syscall). Frames past it come from the frame
 * pointer chain: at a function's first instruction rbp still belongs to the
 * caller, so bpf_get_stack()'s first return address is the caller's caller.
 */
#define FNV_PRIME 0x100000001b3ULL

static __always_inline __u64 intern_stack(void *ctx, struct tm_thread *t, struct tm_proc *p,
					  __u32 tgid, __u64 first, __u64 second, __u64 fp, __u64 sp, __u32 kind)
{
	struct tm_stack *st = &t->scratch;
	struct { __u64 next, ret; } fr;
	__u32 n, i;
	__u64 h;

	st->tgid = tgid;
	st->flags = 0;
	st->kind = kind;
	st->n_py = 0;
	/* FNV-1a over the frames, seeded with tgid and incarnation: stack ids are per process. */
	h = (0xcbf29ce484222325ULL ^ tgid ^ ((__u64)kind << 32)) * FNV_PRIME;
	h = (h ^ p->inc) * FNV_PRIME;
	st->native[0] = first;
	h = (h ^ first) * FNV_PRIME;
	n = 1;
	if (second) {
		st->native[1] = second;
		h = (h ^ second) * FNV_PRIME;
		n = 2;
	}
	/*
	 * The frame-pointer chain, from the rbp the probed function inherited
	 * (its caller's frame: the first return address read is the caller's
	 * caller). A frame pointer must lie on this thread's stack above rsp and
	 * climb: anything else is a general register in code built without frame
	 * pointers (Debian's libc), and reading it could fault, which costs
	 * microseconds. So the walk stops without reading.
	 *
	 * The hash is folded in as the walk goes, so nothing after the loop
	 * depends on how far it got: the verifier can then prune its exits
	 * (hashing afterwards over `n` frames made it verify 170k instructions).
	 */
	for (i = 0; i < TM_MAX_NATIVE; i++) {
		if (n >= native_depth || n >= TM_MAX_NATIVE)
			break;
		if (fp < sp || fp - sp > (8u << 20) || (fp & 7))
			break;
		if (bpf_probe_read_user(&fr, sizeof(fr), (void *)fp) || !fr.ret)
			break;
		st->native[n & (TM_MAX_NATIVE - 1)] = fr.ret;
		h = (h ^ fr.ret) * FNV_PRIME;
		n++;
		if (fr.next <= fp)
			break;
		fp = fr.next;
	}
	st->n_native = n;
	if (n >= TM_MAX_NATIVE)
		st->flags |= TM_STACK_NATIVE_TRUNCATED;

	/* The thread's CPython stack, when the process is a CPython we know (python.bpf.h). */
	if (trace_python && py_walkable(p, tgid)) {
		if (tm_py_capture(st, tgid))
			count_drop(p, TM_DROP_PY_UNREADABLE);
		for (i = 0; i < TM_MAX_PY; i++) {
			if (i >= st->n_py)
				break;
			h = (h ^ st->py[i].code) * FNV_PRIME;
			h = (h ^ (((__u64)st->py[i].lasti << 32) | st->py[i].flags)) * FNV_PRIME;
		}
	}
	if (!h)
		h = 1;

	if (!bpf_map_lookup_elem(&stacks, &h)) {
		if (max_stacks_per_proc && p->n_stacks >= max_stacks_per_proc) {
			count_drop(p, TM_DROP_PROC_CAP);
			return TM_STACK_OVER_CAP;
		}
		if (bpf_map_update_elem(&stacks, &h, st, BPF_NOEXIST) == 0) {
			if (max_stacks_per_proc)
				__sync_fetch_and_add(&p->n_stacks, 1);
			count_stat(TM_STAT_STACKS_NEW);
			/* Name its code objects now: the process may be gone when we report. */
			if (trace_python && st->n_py)
				tm_py_record_codes(st);
			if (st->flags)
				count_stat(TM_STAT_STACKS_TRUNCATED);
		} else if (!bpf_map_lookup_elem(&stacks, &h)) {
			/* Still counted, under one row per process: totals and peak stay exact. */
			count_drop(p, TM_DROP_STACK_MAP_FULL);
			return TM_STACK_TABLE_FULL;
		}
	}
	return h;
}

/*
 * Before a stack entry changes: if the process reached a newer peak since
 * the entry last changed, its live value now is its value at that peak.
 */
static __always_inline void tm_agg_touch(struct tm_agg *a, struct tm_proc *p)
{
	__u64 gen = p->peak_gen, end = p->end_gen;

	if (a->gen != gen) {
		a->peak_bytes = a->live_bytes;
		a->peak_count = a->live_count;
		a->gen = gen;
	}
	/* The same for the end of the program (py_finalize_enter): one compare until it comes. */
	if (a->end_gen != end) {
		a->end_bytes = a->live_bytes;
		a->end_count = a->live_count;
		a->end_gen = end;
	}
}

static __always_inline struct tm_agg *agg_get(__u32 tgid, __u64 stack_id, struct tm_proc *p)
{
	struct tm_agg_key k = { .tgid = tgid, .inc = p->inc, .stack_id = stack_id };
	struct tm_agg *a = bpf_map_lookup_elem(&aggs, &k);

	if (a)
		return a;
	{
		struct tm_agg zero = {};

		/* A new entry was zero at every earlier peak and at the end: mark it current. */
		zero.gen = p->peak_gen;
		zero.end_gen = p->end_gen;
		bpf_map_update_elem(&aggs, &k, &zero, BPF_NOEXIST);
	}
	a = bpf_map_lookup_elem(&aggs, &k);
	if (!a)
		count_drop(p, TM_DROP_AGG_MAP_FULL);
	return a;
}

/* The size class of an allocation: floor(log2(size)), capped at the last bucket. */
static __always_inline __u32 size_bucket(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r < TM_SIZE_BUCKETS ? r : TM_SIZE_BUCKETS - 1;
}

/*
 * A block becomes live: `size` bytes standing for `count` allocations
 * (more than one only under --sample-bytes), of `real` bytes each for the
 * size classes. `is_new` is 0 when a failed realloc gives back the block
 * its entry took away: live again, but not a second allocation.
 * Returns 0, or -1 when there is no stack entry to count it under.
 */
static __always_inline int account_alloc(__u32 tgid, struct tm_proc *p, __u64 stack_id, __u64 size,
					 __u64 count, __u64 real, int is_new)
{
	struct tm_agg *a = agg_get(tgid, stack_id, p);
	__s64 live;
	__u64 peak;
	int i;

	if (!a)
		return -1;
	tm_agg_touch(a, p);
	if (is_new) {
		__u32 b = size_bucket(real);

		__sync_fetch_and_add(&a->alloc_bytes, size);
		__sync_fetch_and_add(&a->alloc_count, count);
		__sync_fetch_and_add(&p->size_count[b], count);
		__sync_fetch_and_add(&p->size_bytes[b], size);
	}
	__sync_fetch_and_add(&a->live_bytes, size);
	__sync_fetch_and_add(&a->live_count, count);
	live = __sync_fetch_and_add(&p->live_bytes, size) + size;

	/* Raise the peak; a bounded compare-and-swap keeps it monotonic across CPUs. */
	peak = p->peak_bytes;
	for (i = 0; i < 4; i++) {
		__u64 seen;

		if (live <= 0 || (__u64)live <= peak)
			break;
		seen = __sync_val_compare_and_swap(&p->peak_bytes, peak, (__u64)live);
		if (seen == peak) {
			__sync_fetch_and_add(&p->peak_gen, 1);
			p->peak_time_ns = bpf_ktime_get_ns();
			break;
		}
		peak = seen;
	}
	return 0;
}

/* An allocation whose block the full allocs table cannot hold: allocated, never live. */
static __always_inline void account_untracked(__u32 tgid, struct tm_proc *p, __u64 stack_id, __u64 size,
					      __u64 count, __u64 real)
{
	struct tm_agg *a = agg_get(tgid, stack_id, p);
	__u32 b = size_bucket(real);

	if (!a)
		return;
	__sync_fetch_and_add(&a->alloc_bytes, size);
	__sync_fetch_and_add(&a->alloc_count, count);
	__sync_fetch_and_add(&p->size_count[b], count);
	__sync_fetch_and_add(&p->size_bytes[b], size);
}

/*
 * A free that finds no block: when a full table left blocks untracked,
 * the first that many are theirs (free_untracked, not a loss); 1 if so.
 */
static __always_inline int free_of_untracked(struct tm_proc *p)
{
	__u64 untracked = p->drops[TM_DROP_ALLOC_MAP_FULL] + p->drops[TM_DROP_AGG_MAP_FULL];

	if (p->drops[TM_DROP_FREE_UNTRACKED] >= untracked)
		return 0;
	count_drop(p, TM_DROP_FREE_UNTRACKED);
	return 1;
}

/*
 * `blocks` is 0 when a mapping only shrinks (partial munmap): it still counts
 * as one; more than 1 for a sampled block. `temp`: the block dies before its
 * thread allocated anything else.
 */
static __always_inline void account_free_n(__u32 tgid, struct tm_proc *p, __u64 stack_id, __u64 size,
					   __s64 blocks, int temp)
{
	struct tm_agg_key k = { .tgid = tgid, .inc = p->inc, .stack_id = stack_id };
	struct tm_agg *a = bpf_map_lookup_elem(&aggs, &k);

	/* No entry: the allocation was never counted (agg_map_full), so neither is its free. */
	if (!a)
		return;
	tm_agg_touch(a, p);
	__sync_fetch_and_add(&a->live_bytes, -(__s64)size);
	__sync_fetch_and_add(&a->live_count, -blocks);
	__sync_fetch_and_add(&p->live_bytes, -(__s64)size);
	if (temp) {
		__sync_fetch_and_add(&a->temp_bytes, size);
		__sync_fetch_and_add(&a->temp_count, blocks);
	}
}

static __always_inline void account_free(__u32 tgid, struct tm_proc *p, __u64 stack_id, __u64 size)
{
	account_free_n(tgid, p, stack_id, size, 1, 0);
}

/* Record a live block; an address still live means a free was missed. */
static __always_inline void record_block(__u32 tgid, struct tm_proc *p, __u64 addr, __u64 size, __u64 count,
					 __u64 real, __u64 stack_id, int is_new)
{
	struct tm_alloc_key k = { .tgid = tgid, .inc = p->inc, .addr = addr };
	struct tm_alloc v = { .size = size, .stack_id = stack_id, .count = count };
	long err;

	if (max_allocs_per_proc && p->n_allocs >= max_allocs_per_proc) {
		count_drop(p, TM_DROP_PROC_CAP);
		return;
	}
	err = bpf_map_update_elem(&allocs, &k, &v, BPF_NOEXIST);
	if (!err && max_allocs_per_proc)
		__sync_fetch_and_add(&p->n_allocs, 1);
	if (err == -17 /* EEXIST */) {
		struct tm_alloc *old = bpf_map_lookup_elem(&allocs, &k);

		if (old) {
			account_free_n(tgid, p, old->stack_id, old->size, old->count, 0);
			count_drop(p, TM_DROP_ADDR_REUSED);
		}
		err = bpf_map_update_elem(&allocs, &k, &v, BPF_ANY);
	}
	if (err) {
		/*
		 * Not tracked live, but allocated all the same: the totals and the
		 * site's allocations do not need the table. Live and peak are lower
		 * bounds by at most untracked_bytes.
		 */
		count_drop(p, TM_DROP_ALLOC_MAP_FULL);
		__sync_fetch_and_add(&p->drops[TM_DROP_UNTRACKED_BYTES], size);
		if (is_new)
			account_untracked(tgid, p, stack_id, size, count, real);
		return;
	}
	/* Uncounted blocks must not be found by free(): it would uncount them. */
	if (account_alloc(tgid, p, stack_id, size, count, real, is_new)) {
		__sync_fetch_and_add(&p->drops[TM_DROP_UNTRACKED_BYTES], size);
		if (!bpf_map_delete_elem(&allocs, &k) && max_allocs_per_proc)
			__sync_fetch_and_add(&p->n_allocs, -1);
	}
}

/* Remove the live block found at k (its value v, copied to *out) and uncount it; 1 if it was ours to remove. */
static __always_inline int take_block(__u32 tgid, struct tm_proc *p, struct tm_alloc_key *k, struct tm_alloc *v,
				      struct tm_alloc *out, int temp)
{
	*out = *v;
	if (bpf_map_delete_elem(&allocs, k))
		return 0;   /* another thread freed it first: double free in the target */
	if (max_allocs_per_proc)
		__sync_fetch_and_add(&p->n_allocs, -1);
	account_free_n(tgid, p, out->stack_id, out->size, (__s64)out->count, temp);
	return 1;
}

/* Forget a live block; returns 1 if it was known. */
static __always_inline int forget_block(__u32 tgid, struct tm_proc *p, __u64 addr, struct tm_alloc *out)
{
	struct tm_alloc_key k = { .tgid = tgid, .inc = p->inc, .addr = addr };
	struct tm_alloc *v = bpf_map_lookup_elem(&allocs, &k);

	return v ? take_block(tgid, p, &k, v, out, 0) : 0;
}

/* ---- allocator entry/return ------------------------------------------- */

/*
 * --sample-bytes: is this allocation of `size` bytes recorded? One
 * subtraction when it is not; when it is, the next gap and its weight
 * (tidemark_sample.h). A size of 0 holds no sample point: never recorded.
 */
static __always_inline int sample_take(struct tm_thread *t, __u64 size)
{
	__s64 left;

	if (!size)
		return 0;
	left = t->sample_left;
	if (!t->sample_started) {
		left = (__s64)tm_sample_gap(sample_q, sample_bytes);
		t->sample_started = 1;
	}
	left -= (__s64)size;
	if (left > 0) {
		t->sample_left = left;
		return 0;
	}
	t->sample_left = (__s64)tm_sample_gap(sample_q, sample_bytes);
	t->weight = tm_sample_weight(sample_g, sample_bytes, size);
	t->wcount = tm_sample_count(t->weight, size);
	return 1;
}

static __always_inline int alloc_begin(struct pt_regs *ctx, __u32 kind, __u64 size, __u64 arg, __u32 in_place)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tm_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct tm_thread *t;
	__u64 sp = PT_REGS_SP(ctx), ra = 0;

	/* Not armed: a call that starts now is not counted, its return neither (no call_sp). */
	if (!p || !armed(p))
		return 0;
	t = this_thread();
	if (!t) {
		count_drop(p, TM_DROP_INFLIGHT);
		return 0;
	}
	/*
	 * Called from inside the call in flight: a deeper stack pointer, or the
	 * same one when glibc tail-calls (realloc(NULL, n) jumps to malloc).
	 */
	if (t->call_sp && sp <= t->call_sp) {
		count_stat(TM_STAT_NESTED);
		return 0;
	}
	t->call_sp = sp;
	t->kind = kind;
	t->size = size;
	t->arg = arg;
	t->has_old = 0;
	t->in_place = in_place;
	/* Sampled out: still in flight (its inner calls and mmaps are not counted), but no stack. */
	if (sample_bytes)
		t->unsampled = !sample_take(t, size);
	if (!sample_bytes || !t->unsampled) {
		if (bpf_probe_read_user(&ra, sizeof(ra), (void *)sp))
			count_drop(p, TM_DROP_STACK_UNREADABLE);
		t->stack_id = intern_stack(ctx, t, p, tgid, ra, 0, PT_REGS_FP(ctx), sp, kind);
	}
	/*
	 * Read back from the thread, not kept in registers: values the verifier
	 * knows (arg is 0 for malloc) would make it walk the stack capture once
	 * per allocator function again.
	 */
	kind = *(volatile __u32 *)&t->kind;
	size = *(volatile __u64 *)&t->size;
	arg = *(volatile __u64 *)&t->arg;

	/*
	 * realloc/reallocarray: the old block is gone from here on, unless it
	 * fails. realloc(p, 0) frees p (glibc, jemalloc: NULL comes back) or
	 * gives a new block of 0 bytes for it (mimalloc, tcmalloc, musl): gone
	 * either way, and no restore when NULL comes back. Its inner free(),
	 * if any, finds the block gone and is a nested call.
	 */
	if (tm_kind_is_realloc(kind) && arg) {
		struct tm_alloc_key k = { .tgid = tgid, .inc = p->inc, .addr = arg };
		struct tm_alloc *v = bpf_map_lookup_elem(&allocs, &k);

		/* realloc(p, 0) right after p's malloc: temporary, as a free() would be */
		if (v && take_block(tgid, p, &k, v, &t->old, !size && t->last_alloc == arg))
			t->has_old = 1;
		else if (!sample_bytes && !free_of_untracked(p)) /* sampled: most blocks are unknown by design */
			count_drop(p, TM_DROP_FREE_UNMATCHED);
		if (!size && t->last_alloc == arg)
			t->last_alloc = 0;
	}
	return 0;
}

static __always_inline int alloc_return(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tm_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct tm_thread *t;
	__u64 ret = PT_REGS_RC(ctx);
	__u64 addr = ret;

	if (!p)
		return 0;
	t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);
	/* After `ret` the stack pointer is 8 above the entry's: ours, not a nested one. */
	if (!t || !t->call_sp || PT_REGS_SP(ctx) != t->call_sp + 8)
		return 0;
	t->call_sp = 0;

	/* xallocx returns the block's new real size: below what was asked, it did not reach it. */
	if (t->in_place)
		ret = addr = ret >= t->size ? t->arg : 0; /* not reached: as a realloc that failed */
	if (tm_kind_is_realloc(t->kind) && !ret) {
		/* A failure: p lives on. (realloc(p, 0) returns NULL too, but size is 0: p is freed.) */
		if (t->has_old && t->size)
			record_block(tgid, p, t->arg, t->old.size, t->old.count, 0, t->old.stack_id, 0);
		return 0;
	}
	if (sample_bytes && t->unsampled) {
		t->last_alloc = 0;   /* the thread allocated: no earlier block is temporary now */
		return 0;
	}
	if (t->kind == TM_KIND_POSIX_MEMALIGN) {
		if ((int)ret != 0)
			return 0;
		if (bpf_probe_read_user(&addr, sizeof(addr), (void *)t->arg)) {
			count_drop(p, TM_DROP_STACK_UNREADABLE);
			return 0;
		}
	}
	if (!addr)
		return 0;
	if (sample_bytes)
		record_block(tgid, p, addr, t->weight, t->wcount, t->size, t->stack_id, 1);
	else
		record_block(tgid, p, addr, t->size, 1, t->size, t->stack_id, 1);
	t->last_alloc = addr;
	return 0;
}

/* n * size, or 0 on overflow (the call then fails and allocates nothing). BPF has no 128-bit multiply. */
static __always_inline __u64 mul_or_zero(__u64 n, __u64 size)
{
	__u64 a = n, b = size, hi, lo, total;

	if ((a >> 32) && (b >> 32))
		return 0;
	if (a >> 32) {
		a = size;
		b = n;
	}
	hi = a * (b >> 32);
	if (hi >> 32)
		return 0;
	lo = a * (b & 0xffffffffULL);
	total = (hi << 32) + lo;
	if (total < (hi << 32))
		return 0;
	return total;
}

/*
 * The entry of every allocator function, libc's and CPython's: the probe's
 * cookie (tm_alloc_cookie) names the function and where its size is.
 *
 * mimalloc's mi_heap_* functions take a heap first, then the arguments of
 * the function without it (TM_ARGS_HEAP_*). The block is the same as any
 * other; mi_heap_destroy's wholesale free is not seen (README, "Allocators").
 *
 * jemalloc's xallocx(ptr, size, extra, flags) resizes in place or not at all
 * (TM_ALLOC_IN_PLACE): a block that reaches size is counted as size bytes
 * (extra is a wish, not a request), a new allocation at the same address, as
 * rallocx would be; alloc_return() reads its returned size.
 */
SEC("uprobe")
int BPF_KPROBE(alloc_enter)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	/* all read first: a load from ctx at a chosen offset is one the verifier refuses */
	__u64 a0 = PT_REGS_PARM1(ctx), a1 = PT_REGS_PARM2(ctx), a2 = PT_REGS_PARM3(ctx), a3 = PT_REGS_PARM4(ctx);
	__u64 size = a0, n = 1, arg = 0;
	__u32 in_place = !!(cookie & TM_ALLOC_IN_PLACE);

	barrier_var(a1);
	barrier_var(a2);
	barrier_var(a3);

	switch ((cookie >> 8) & 0xff) {
	case TM_ARGS_ALIGN_SIZE:
		size = a1;
		break;
	case TM_ARGS_N_SIZE:
		n = a0;
		size = a1;
		break;
	case TM_ARGS_PTR_SIZE:
		arg = a0;
		size = a1;
		break;
	case TM_ARGS_PTR_N_SIZE:
		arg = a0;
		n = a1;
		size = a2;
		break;
	case TM_ARGS_OUT_ALIGN_SIZE:
		arg = a0; /* where the block's address goes */
		size = a2;
		break;
	case TM_ARGS_PAGES:
		size = (a0 + 4095) & ~4095ULL; /* pvalloc rounds up to whole pages */
		break;
	case TM_ARGS_HEAP_SIZE:
		size = a1;
		break;
	case TM_ARGS_HEAP_N_SIZE:
		n = a1;
		size = a2;
		break;
	case TM_ARGS_HEAP_PTR_SIZE:
		arg = a1;
		size = a2;
		break;
	case TM_ARGS_HEAP_PTR_N_SIZE:
		arg = a1;
		n = a2;
		size = a3;
		break;
	}
	if (in_place && (!arg || !size))
		return 0; /* undefined behaviour in xallocx's contract: nothing to count */
	if (n != 1) {
		__u64 total = mul_or_zero(n, size);

		if (!total && n && size)
			return 0; /* fails with ENOMEM, allocates nothing, ptr untouched */
		size = total;
	}
	return alloc_begin(ctx, cookie & 0xff, size, arg, in_place);
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_exit)
{
	return alloc_return(ctx);
}

/*
 * A block is gone at its free's entry; a free needs no return probe.
 * Blocks of @big bytes or more (0: all) may reach an inner free() (pymalloc hands
 * them to malloc) or an munmap (glibc's mmapped chunks): the pointer is
 * remembered so that those are recognised.
 */
static __always_inline int free_common(struct pt_regs *ctx, __u64 ptr, __u64 big)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tm_alloc_key k = { .tgid = tgid, .addr = ptr };
	struct tm_alloc *v, old;
	struct tm_proc *p;
	struct tm_thread *t;
	int temp = 0;

	if (!ptr)
		return 0;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p || !armed(p))
		return 0;
	k.inc = p->inc;
	v = bpf_map_lookup_elem(&allocs, &k);
	/* Sampled: most blocks were never recorded, by design; nothing else to do for them. */
	if (!v && sample_bytes)
		return 0;
	t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);
	if (!v) {
		/*
		 * Not a loss when a traced call in flight owns it: realloc's entry,
		 * or the PyObject_Free that is calling this free(), took the block.
		 */
		if (t && ((t->call_sp && PT_REGS_SP(ctx) <= t->call_sp) || t->last_free == ptr)) {
			count_stat(TM_STAT_NESTED);
			return 0;
		}
		if (!free_of_untracked(p))
			count_drop(p, TM_DROP_FREE_UNMATCHED);
		return 0;
	}
	/* Temporary, as memray counts it: the thread's latest allocation, freed before another. */
	if (t && t->last_alloc == ptr) {
		t->last_alloc = 0;
		temp = 1;
	}
	if (!take_block(tgid, p, &k, v, &old, temp))
		return 0;
	if ((old.size >= big || !old.size) && t)
		t->last_free = ptr;
	return 0;
}

/*
 * free() and every other function that frees a block (operator delete,
 * free_sized, sdallocx, mi_free, PyObject_Free, _PyObject_Free(ctx, p), ...),
 * told apart by the cookie (enum tm_free_flags). free() is probed after its
 * NULL test (see user/trace/probe_site.c); large blocks go back to the kernel
 * with munmap. A wrapper may hand the pointer on to a probed free(), so it is
 * always remembered.
 */
SEC("uprobe")
int BPF_KPROBE(free_enter)
{
	__u64 how = bpf_get_attach_cookie(ctx);
	/* both read first: a load from ctx at a chosen offset is one the verifier refuses */
	__u64 a0 = PT_REGS_PARM1(ctx), a1 = PT_REGS_PARM2(ctx);

	barrier_var(a0);
	barrier_var(a1);
	return free_common(ctx, how & TM_FREE_PTR_ARG2 ? a1 : a0, how & TM_FREE_WRAPPER ? 0 : 64 * 1024);
}

/*
 * The entry of a syscall wrapper that is not a leaf function (musl's mmap
 * and mremap push registers and reserve a frame): [rsp] is its caller here,
 * not at the syscall. sys_enter takes it from here.
 */
SEC("uprobe")
int BPF_KPROBE(syscall_wrapper_enter)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tm_thread *t;
	__u64 ra = 0;

	if (!bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	t = this_thread();
	if (!t || bpf_probe_read_user(&ra, sizeof(ra), (void *)PT_REGS_SP(ctx)))
		return 0;
	t->wrap_sp = PT_REGS_SP(ctx);
	t->wrap_ra = ra;
	t->wrap_fp = PT_REGS_FP(ctx);
	return 0;
}

/*
 * CPython's allocators (--trace-python-allocators) are probed with alloc_enter
 * and free_enter, where user/trace/probe_site.c finds an emulated instruction
 * that still has the arguments in place (PyObject_Malloc+6 in pyenv builds).
 * pymalloc serves requests up to 512 bytes itself and passes larger ones (and
 * 0) to malloc, which is then an inner call and not counted twice. Any block
 * PyObject_Free or PyMem_Free frees may go on to free(): those pymalloc passed
 * to malloc, and those CPython made with PyMem_RawMalloc and frees through
 * these; pymalloc's own _PyObject_Free(ctx, p), which both jump to, is probed
 * where those wrappers have no emulated instruction before they overwrite rdi.
 */

/* ---- the end of a CPython program -------------------------------------- */

/*
 * Py_FinalizeEx's entry (3.8-3.13, shared and static builds alike: Py_RunMain,
 * Py_Exit and embedders call it): the program has finished, and what is live
 * now is what it kept; finalization goes on to free module globals before the
 * exit. The bump makes tm_agg_touch() save each stack's live value at its
 * first change from here on: nothing is copied now, O(1) per later event.
 * Threads still running (finalization waits for them) keep changing their
 * stacks after this moment, as a racing allocation can at a peak.
 */
SEC("uprobe")
int BPF_KPROBE(py_finalize_enter)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tm_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (!p || !armed(p))
		return 0;
	p->end_time_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&p->end_gen, 1);
	return 0;
}

/* ---- anonymous mappings ------------------------------------------------ */

/* Regions one munmap may cut at once; more are counted as TM_DROP_UNMAP_SPLIT. */
#define UNMAP_MAX 4

struct unmap_ctx {
	__u32 tgid;
	__u32 inc;
	__u32 n;
	__u32 pad0;
	__u64 start;
	__u64 end;
	struct tm_alloc_key keys[UNMAP_MAX];
	struct tm_region vals[UNMAP_MAX];
	__u32 overflow;
	__u32 pad;
};

static long unmap_collect(struct bpf_map *map, struct tm_alloc_key *k, struct tm_region *r, struct unmap_ctx *c)
{
	__u32 i = c->n;

	if (k->tgid != c->tgid || k->inc != c->inc || k->addr >= c->end || k->addr + r->len <= c->start)
		return 0;
	if (i >= UNMAP_MAX) {
		c->overflow = 1;
		return 1;
	}
	c->keys[i] = *k;
	c->vals[i] = *r;
	c->n = i + 1;
	return 0;
}

static __always_inline void region_add(__u32 tgid, struct tm_proc *p, __u64 addr, __u64 len, __u64 stack_id)
{
	struct tm_alloc_key k = { .tgid = tgid, .inc = p->inc, .addr = addr };
	struct tm_region r = { .len = len, .stack_id = stack_id };

	if (bpf_map_update_elem(&regions, &k, &r, BPF_ANY)) {
		count_drop(p, TM_DROP_REGION_MAP_FULL);
		return;
	}
	if (!p->region_lo || addr < p->region_lo)
		p->region_lo = addr;
	if (addr + len > p->region_hi)
		p->region_hi = addr + len;
	if (account_alloc(tgid, p, stack_id, len, 1, len, 1))
		bpf_map_delete_elem(&regions, &k);
}

/* Put back what is left of a region cut by an unmap; it stays live, no new allocation. */
static __always_inline void region_keep(__u32 tgid, struct tm_proc *p, __u64 addr, __u64 len, __u64 stack_id)
{
	struct tm_alloc_key k = { .tgid = tgid, .inc = p->inc, .addr = addr };
	struct tm_region r = { .len = len, .stack_id = stack_id };

	if (bpf_map_update_elem(&regions, &k, &r, BPF_ANY))
		count_drop(p, TM_DROP_REGION_MAP_FULL);
}

/* Remove [start, start+len) from the tracked regions, splitting where it cuts. */
static __always_inline void region_unmap(__u32 tgid, struct tm_proc *p, __u64 start, __u64 len)
{
	struct tm_alloc_key k = { .tgid = tgid, .inc = p->inc, .addr = start };
	struct tm_region *r;
	struct unmap_ctx uc, *c = &uc;
	__u32 i;

	len = (len + 4095) & ~4095ULL;
	if (!len || start >= p->region_hi || start + len <= p->region_lo)
		return;
	r = bpf_map_lookup_elem(&regions, &k);
	if (r && r->len == len) {
		__u64 stack_id = r->stack_id;

		if (bpf_map_delete_elem(&regions, &k) == 0)
			account_free(tgid, p, stack_id, len);
		return;
	}

	/* Slow path (partial or multi-region unmap): scan this process's regions. */
	c->tgid = tgid;
	c->inc = p->inc;
	c->n = 0;
	c->start = start;
	c->end = start + len;
	c->overflow = 0;
	bpf_for_each_map_elem(&regions, unmap_collect, c, 0);
	if (c->overflow)
		count_drop(p, TM_DROP_UNMAP_SPLIT);
	for (i = 0; i < UNMAP_MAX; i++) {
		__u64 rs, re, cs, ce;

		if (i >= c->n)
			break;
		rs = c->keys[i].addr;
		re = rs + c->vals[i].len;
		cs = rs > c->start ? rs : c->start;
		ce = re < c->end ? re : c->end;
		if (bpf_map_delete_elem(&regions, &c->keys[i]))
			continue;
		account_free_n(tgid, p, c->vals[i].stack_id, ce - cs, rs < cs || ce < re ? 0 : 1, 0);
		if (rs < cs)
			region_keep(tgid, p, rs, cs - rs, c->vals[i].stack_id);
		if (ce < re)
			region_keep(tgid, p, ce, re - ce, c->vals[i].stack_id);
	}
}

/*
 * The walk out of libc at a syscall. Debian's libc keeps no frame pointers,
 * so each of its frames is undone by its row: the last one at or below the
 * pc (a binary search over the process's rows), CFA = rsp or rbp + offset,
 * the return address at CFA - 8, the caller's rbp where the row says.
 *
 * Its cost to the verifier is kept flat: it is a global function, verified
 * once on its own (inline, each way out of bpf_loop()'s callback made the
 * verifier walk the stack capture after it again: 4,699 instructions became
 * 23,057), and the search halves without a branch (a compare and a branch
 * a step is 2^18 paths).
 */
struct unwind_walk {
	__u64 ip, sp, fp;         /* the frame being undone */
	__u64 ra, out_sp, out_fp; /* the answer: the caller's return address, its rsp and rbp */
	__u64 lo, hi, bias;       /* the process's libc code, runtime - link-time */
	__u32 first, n;           /* its rows */
	__u32 tgid;
	__u32 walking; /* 0: the first step */
	__u32 stopped; /* a stop inside libc: the answer is [rsp]'s (TM_STAT_UNWIND_STOPPED) */
	__u32 pad;
};

/*
 * The index of the last of rows [first, first + n) at or below pc (first
 * when none is: the caller checks). A global function, verified once: the
 * halving is 18 steps without a branch (base moves by half when the row
 * there starts at or below pc, told by the sign of the difference).
 */
__noinline __u32 unwind_find(__u32 first, __u32 n, __u64 pc)
{
	const struct tm_unwind_rows *rows;
	__u64 base = 0, len = n, half, up;
	__u32 zero = 0, k;

	rows = bpf_map_lookup_elem(&unwind_rows, &zero);
	if (!rows)
		return first;
	for (k = 0; k < 18; k++) {
		half = len / 2;
		up = ((pc - (__u64)rows->rows[(first + base + half) & (TM_UNWIND_ROWS_MAX - 1)].pc) >> 63) ^ 1;
		base += up * half;
		len -= half;
	}
	return first + (__u32)base;
}

static long unwind_step(__u32 i, struct unwind_walk *w)
{
	const struct tm_unwind_rows *rows;
	const struct tm_unwind_row *r;
	__u64 pc, cfa, ra = 0, fp = w->fp;
	__u32 zero = 0;

	if (!w->walking) {
		struct tm_unwind_proc *u;

		/* the answer until the walk finds a better one: glibc's syscall wrappers are leaves, [rsp] */
		bpf_probe_read_user(&ra, sizeof(ra), (void *)w->sp);
		w->ra = ra;
		w->out_sp = w->sp;
		w->out_fp = w->fp;
		u = bpf_map_lookup_elem(&unwind_procs, &w->tgid);
		if (!u || w->ip < u->lo || w->ip >= u->hi)
			return 1;
		w->lo = u->lo;
		w->hi = u->hi;
		w->bias = u->bias;
		w->first = u->first;
		w->n = u->n;
		w->walking = 1;
		w->stopped = 1;       /* until it leaves libc */
		pc = w->ip - w->bias; /* where the syscall returns to */
	} else {
		pc = w->ip - w->bias - 1; /* inside the call that returns here */
	}
	rows = bpf_map_lookup_elem(&unwind_rows, &zero);
	if (pc >> 32 || !rows)
		return 1;
	r = &rows->rows[unwind_find(w->first, w->n, pc) & (TM_UNWIND_ROWS_MAX - 1)];
	if (r->pc > pc || r->cfa_reg == TM_UNWIND_STOP)
		return 1;
	cfa = (r->cfa_reg == TM_UNWIND_CFA_RBP ? w->fp : w->sp) + r->cfa_off;
	ra = 0;
	if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)) || !ra)
		return 1;
	if (r->rbp_slot && bpf_probe_read_user(&fp, sizeof(fp), (void *)(cfa - 8 * (__u64)r->rbp_slot)))
		return 1;
	w->ip = ra;
	w->sp = cfa;
	w->fp = fp;
	if (ra >= w->lo && ra < w->hi)
		return 0; /* still libc's: undo the next frame */
	w->ra = ra;
	w->out_sp = cfa;
	w->out_fp = fp;
	w->stopped = 0;
	return 1;
}

/*
 * From a syscall at ip (rsp sp, rbp fp) out of libc: the caller's return
 * address, rsp and rbp in the thread's uw_ra, uw_sp, uw_fp; [rsp], sp and
 * fp themselves when ip is not in libc or the walk stops. Returns 1 when it
 * stopped inside libc.
 */
__noinline int unwind_libc(__u64 ip, __u64 sp, __u64 fp)
{
	struct tm_thread *t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);
	struct unwind_walk uw = { .ip = ip, .sp = sp, .fp = fp, .ra = 0, .out_sp = sp, .out_fp = fp };

	if (!t)
		return 0;
	uw.tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_loop(TM_UNWIND_FRAMES, unwind_step, &uw, 0);
	t->uw_ra = uw.ra;
	t->uw_sp = uw.out_sp;
	t->uw_fp = uw.out_fp;
	return uw.stopped;
}

/* Syscall entry: stash the arguments and, for what we count, the stack. */
static __always_inline int sys_enter(void *ctx, __u32 kind, __u64 addr, __u64 len, __u64 new_len, __u64 flags)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tm_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct task_struct *task;
	struct pt_regs *regs;
	struct tm_thread *t;
	__u64 ip, sp, fp, ra = 0, wsp;
	int wrapped;

	if (!p)
		return 0;
	t = this_thread();
	if (!t)
		return 0;
	wsp = t->wrap_sp; /* this syscall's wrapper entry, if it was probed */
	t->wrap_sp = 0;
	t->sys_kind = kind;
	t->sys_addr = addr;
	t->sys_len = len;
	t->sys_new_len = new_len;
	t->sys_flags = flags;
	t->sys_stack = 0;
	t->sys_notify = kind == TM_KIND_MMAP && (new_len & 4 /* PROT_EXEC */) && !(flags & MAP_ANONYMOUS);
	/* Not armed: nothing is counted yet, but new code is still announced and the break followed. */
	if (!armed(p)) {
		t->sys_skip = 1;
		return 0;
	}
	/* Made by a traced allocator (malloc's own mmap, sbrk): already counted there. */
	t->sys_skip = t->call_sp != 0;
	if (kind == TM_KIND_MUNMAP && t->last_free && t->last_free >= addr && t->last_free < addr + len) {
		t->sys_skip = 1;   /* free() returning a large block to the kernel */
		t->last_free = 0;
	}
	if (t->sys_skip) {
		count_stat(TM_STAT_MMAP_IN_ALLOC);
		return 0;
	}
	if (kind == TM_KIND_BRK && !addr)
		return 0;   /* brk(0) asks where the break is: nothing moves, no stack needed */
	if (kind == TM_KIND_MMAP || kind == TM_KIND_MREMAP || kind == TM_KIND_BRK) {
		if (kind == TM_KIND_MMAP &&
		    (!(flags & MAP_ANONYMOUS) || !(flags & MAP_PRIVATE) || (flags & (MAP_SHARED | MAP_STACK)) ||
		     new_len == 0 /* PROT_NONE: a reservation, not memory */)) {
			/* not counted; a MAP_FIXED one still replaces what was there */
			t->sys_kind = (flags & MAP_FIXED) ? TM_KIND_MUNMAP : 0;
			if (t->sys_notify)
				t->sys_kind = TM_KIND_MMAP;
			return 0;
		}
		task = bpf_get_current_task_btf();
		regs = (struct pt_regs *)bpf_task_pt_regs(task);
		ip = BPF_CORE_READ(regs, ip);
		fp = BPF_CORE_READ(regs, bp);
		if (ip >= p->ldso_lo && ip < p->ldso_hi) {
			t->sys_kind = 0;   /* the dynamic loader's own mapping */
			return 0;
		}
		sp = BPF_CORE_READ(regs, sp);
		wrapped = wsp > sp && wsp - sp < 4096;
		if (wrapped) {
			/* inside a wrapper that keeps a frame: its entry saw the caller */
			ra = t->wrap_ra;
			fp = t->wrap_fp;
			sp = wsp;
		} else {
			if (unwind_native) {
				struct tm_stats *stat;
				__u32 zero = 0;
				int stopped;

				/* out of libc to the program's code, else [rsp] */
				stopped = unwind_libc(ip, sp, fp);
				ra = t->uw_ra;
				fp = t->uw_fp;
				sp = t->uw_sp;
				stat = bpf_map_lookup_elem(&stats, &zero);
				if (stat)
					__sync_fetch_and_add(&stat->stats[TM_STAT_UNWIND_STOPPED], stopped);
			} else {
				/* glibc's syscall wrappers are leaf functions: [rsp] is their caller. */
				bpf_probe_read_user(&ra, sizeof(ra), (void *)sp);
			}
		}
		{
			struct tm_code_range *own = bpf_map_lookup_elem(&alloc_code, &tgid);

			/*
			 * The allocator's own reservation outside a traced call (jemalloc's
			 * start-up arena): called from its code, or made by its code with an
			 * inline syscall (musl's brk for malloc's metadata).
			 */
			if (own && ((ra >= own->lo && ra < own->hi) || (!wrapped && ip >= own->lo && ip < own->hi))) {
				t->sys_kind = 0;
				count_stat(TM_STAT_MMAP_IN_ALLOC);
				return 0;
			}
		}
		/*
		 * A pymalloc arena mapped outside a traced PyObject_Malloc (or kin) call: the
		 * objects in it are made on paths we do not see (see TM_DROP_PY_ARENA_UNTRACED).
		 */
		if (trace_py_alloc && kind == TM_KIND_MMAP && tm_py_is_arena(tgid, len, ra)) {
			t->sys_kind = 0;
			count_drop(p, TM_DROP_PY_ARENA_UNTRACED);
			return 0;
		}
		/* the kind read back, not the register the checks above narrowed (see alloc_begin) */
		t->sys_stack = intern_stack(ctx, t, p, tgid, ip, ra, fp, sp, *(volatile __u32 *)&t->sys_kind);
	}
	return 0;
}

static __always_inline int sys_exit(long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tm_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct tm_thread *t;
	__u32 kind;

	if (!p)
		return 0;
	t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);
	if (!t || !t->sys_kind)
		return 0;
	kind = t->sys_kind;
	t->sys_kind = 0;

	if (kind == TM_KIND_BRK) {
		__u64 old = p->brk_cur;

		p->brk_cur = ret;
		if (t->sys_skip || !old || !t->sys_addr)
			return 0;
		if ((__u64)ret > old)
			region_add(tgid, p, old, ret - old, t->sys_stack);
		else if ((__u64)ret < old)
			region_unmap(tgid, p, ret, old - ret);
		return 0;
	}
	if (ret < 0 && ret > -4096)
		return 0;
	if (t->sys_notify) {
		t->sys_notify = 0;
		notify_exec_map(p, tgid, ret);
		if ((t->sys_flags & MAP_FIXED) && !t->sys_skip)
			region_unmap(tgid, p, ret, t->sys_len);
		return 0;
	}
	if (t->sys_skip)
		return 0;
	if (kind == TM_KIND_MUNMAP) {
		/* munmap, or an mmap(MAP_FIXED) of something we do not count */
		region_unmap(tgid, p, t->sys_addr, t->sys_len);
	} else if (kind == TM_KIND_MMAP) {
		if (t->sys_flags & MAP_FIXED)
			region_unmap(tgid, p, ret, t->sys_len);
		region_add(tgid, p, ret, (t->sys_len + 4095) & ~4095ULL, t->sys_stack);
	} else if (kind == TM_KIND_MREMAP) {
		region_unmap(tgid, p, t->sys_addr, t->sys_len);
		region_add(tgid, p, ret, (t->sys_new_len + 4095) & ~4095ULL, t->sys_stack);
	}
	return 0;
}

/*
 * One program on sys_enter_{mmap,munmap,mremap,brk}, one on their sys_exit:
 * the records share a layout, and the entry's cookie (tm_sys_cookie) names
 * the syscall and how many arguments it reads. A record holds only its
 * syscall's arguments, and the kernel refuses a program that reads past the
 * shortest record (brk's one) there: the others come from the syscall's
 * registers (x86-64: rdi, rsi, rdx, r10), as the record does.
 */
SEC("tracepoint")
int tp_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 nargs = (cookie >> 8) & 0xff;
	__u64 len = 0, arg2 = 0, arg3 = 0;
	struct pt_regs *regs;

	if (nargs >= 2) {
		regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		len = BPF_CORE_READ(regs, si);
		if (nargs >= 4) {
			arg2 = BPF_CORE_READ(regs, dx);  /* mmap: prot, 0 (PROT_NONE) a reservation; mremap: new_len */
			arg3 = BPF_CORE_READ(regs, r10); /* flags */
		}
	}
	return sys_enter(ctx, cookie & 0xff, ctx->args[0], len, arg2, arg3);
}

SEC("tracepoint")
int tp_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sys_exit(ctx->ret);
}

/* ---- process lifecycle ------------------------------------------------- */

/* A new process's entry, too large for the BPF stack: written as is, then filled in. */
static struct tm_proc proc_zero;

/* A fresh entry for a process that has just exec'd: where its dynamic loader is, a new incarnation. */
static __always_inline void proc_at_exec(struct task_struct *task, struct tm_proc *p)
{
	int i;

	/* AT_BASE in the new image's auxv: where the kernel put the dynamic loader. */
	for (i = 0; i < 48; i += 2) {
		__u64 type = BPF_CORE_READ(task, mm, saved_auxv[i]);

		if (type == 0 /* AT_NULL */)
			break;
		if (type == 7 /* AT_BASE */ && !(p->flags & TM_PROC_LDSO_IS_LIBC)) {
			p->ldso_lo = BPF_CORE_READ(task, mm, saved_auxv[i + 1]);
			p->ldso_hi = p->ldso_lo ? p->ldso_lo + ldso_size : 0;
			break;
		}
	}
	if (!p->inc)
		p->inc = __sync_add_and_fetch(&next_inc, 1);
}

/* Is cg, or one of its first 8 ancestors, in sel_cgroup? */
static __always_inline int cgroup_selected(struct cgroup *cg, __u32 hier)
{
	struct tm_sel_cgroup k = { .hier = hier };
	int i;

	for (i = 0; i < 8 && cg; i++) {
		k.id = BPF_CORE_READ(cg, kn, id);
		if (bpf_map_lookup_elem(&sel_cgroup, &k))
			return 1;
		cg = BPF_CORE_READ(cg, self.parent, cgroup);
	}
	return 0;
}

/* The daemon's selection, at exec: comm and executable are the new image's. */
static __always_inline int selected(struct task_struct *task)
{
	if (sel_flags & TM_SEL_ALL)
		return 1;
	if (sel_flags & TM_SEL_COMM) {
		char comm[16] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (bpf_map_lookup_elem(&sel_comm, comm))
			return 1;
	}
	if (sel_flags & TM_SEL_EXE) {
		struct tm_sel_exe k = {
			.dev = BPF_CORE_READ(task, mm, exe_file, f_inode, i_sb, s_dev),
			.ino = BPF_CORE_READ(task, mm, exe_file, f_inode, i_ino),
		};

		if (bpf_map_lookup_elem(&sel_exe, &k))
			return 1;
	}
	if (sel_flags & TM_SEL_CGROUP) {
		int memcg_id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		struct cgroup *cg;

		if (cgroup_selected(BPF_CORE_READ(task, cgroups, dfl_cgrp), TM_CG_V2))
			return 1;
		if (memcg_id >= 0 && memcg_id < 12) {
			cg = BPF_CORE_READ(task, cgroups, subsys[memcg_id], cgroup);
			if (cgroup_selected(cg, TM_CG_V1_MEMORY))
				return 1;
		}
	}
	return 0;
}

/* Hand a process's final counters to user space; 0 when they are on their way. */
static __always_inline int send_exit(__u32 tgid, struct tm_proc *p)
{
	struct tm_exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost(TM_EV_EXIT);
		return -1;
	}
	e->ev.type = TM_EV_EXIT;
	e->ev.tgid = tgid;
	e->ev.arg = p->inc;
	/* A helper, not an inline copy: the struct is past what clang copies inline (1 KiB). Once a process. */
	if (bpf_probe_read_kernel(&e->proc, sizeof(e->proc), p)) {
		bpf_ringbuf_discard(e, 0);
		return -1;
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * Tell the loader about a followed process and hold it until the loader
 * continues it (once its probes are placed). The event is reserved before the
 * stop is sent and submitted after, so the loader's SIGCONT always comes after
 * the stop; without room in the ring the process is not held (it runs
 * unprobed, and the loader says so at the end). Nor once the loader stops
 * continuing processes (hold_cancelled()).
 */
static __always_inline void hold_and_notify(__u32 type, __u32 tgid, __u64 arg)
{
	struct tm_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost(type == TM_EV_CHILD ? TM_EV_FORK : TM_EV_EXEC);
		return;
	}
	e->type = type;
	e->tgid = tgid;
	e->arg = arg;
	if (!hold_cancelled()) {
		bpf_send_signal(19 /* SIGSTOP */);
		if (hold_cancelled())
			bpf_send_signal(18 /* SIGCONT */);
	}
	bpf_ringbuf_submit(e, 0);
}

/*
 * `run` following children: a traced process (or a vfork child of one) exec'd.
 * The old image's counters go to the loader as an exit; the new image is a new
 * incarnation, not counted until the loader has probed it and armed it.
 */
static __always_inline int follow_exec(struct task_struct *task, __u32 tgid, struct tm_pending *pp)
{
	__u32 ppid = pp ? pp->ppid : 0;
	struct tm_proc *p;

	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p && !pp)
		return 0;
	if (pp)
		bpf_map_delete_elem(&pending_exec, &tgid);
	if (p) {
		ppid = p->ppid;
		send_exit(tgid, p); /* lost: counted (lost_exit); the loader still has its last counters */
	}
	if (bpf_map_update_elem(&procs, &tgid, &proc_zero, BPF_ANY)) {
		count_stat(TM_STAT_PROCS_FULL);
		return 0;
	}
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	p->ppid = ppid;
	p->flags = TM_PROC_HOLD_FOR_MAPS;
	proc_at_exec(task, p);
	hold_and_notify(TM_EV_CHILD_EXEC, tgid, p->inc | (__u64)ppid << 32);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int tp_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	struct tm_pending pend = {}, *pp;
	struct tm_proc *p;

	if (daemon_mode) {
		/* A traced process stays traced across exec: its old image's data end here. */
		p = bpf_map_lookup_elem(&procs, &tgid);
		if (!p && !selected(task))
			return 0;
		if (p && send_exit(tgid, p))
			return 0;   /* no room to say so: keep the old incarnation rather than orphan it */
		/* The old image's interpreter layout means nothing in the new one. */
		bpf_map_delete_elem(&py_cfgs, &tgid);
		if (bpf_map_update_elem(&procs, &tgid, &proc_zero, BPF_ANY)) {
			count_stat(TM_STAT_PROCS_FULL);
			return 0;
		}
	} else {
		pp = bpf_map_lookup_elem(&pending_exec, &tgid);
		if (follow_children && (!pp || !pp->inc)) {
			/* its interpreter layout is the old image's: the loader configures the new one */
			bpf_map_delete_elem(&py_cfgs, &tgid);
			return follow_exec(task, tgid, pp);
		}
		if (!pp)
			return 0;
		pend = *pp;
		bpf_map_delete_elem(&pending_exec, &tgid);
		bpf_map_update_elem(&procs, &tgid, &proc_zero, BPF_NOEXIST);
	}
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	p->inc = pend.inc;
	/* `run` sets its own flags; the daemon's full mode arms once the probes are placed */
	p->flags = daemon_mode ? (arm_by_loader ? 0 : TM_PROC_ARMED) : pend.flags;
	proc_at_exec(task, p);
	if (daemon_mode)
		notify(TM_EV_EXEC, tgid, p->inc);
	else
		notify_exec_map(p, tgid, 0);
	return 0;
}

/*
 * The daemon, and `run` unless --no-children, follow a traced process into the
 * processes it forks (not its threads): the child is counted from its first
 * instruction under its own incarnation, so it has its own report. What it
 * inherits was the parent's allocation, not its own: only what it allocates
 * itself is counted. `run` holds the child before that first instruction
 * (TM_PROC_HOLD_AT_START, see child_start) while its own probes are placed:
 * the parent's are for the parent's pid only. A child sharing the parent's
 * memory (vfork, posix_spawn) is followed from its exec.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	struct tm_pending pend = { .ppid = ptgid };
	struct tm_proc *pp, *p;
	__u64 lo, hi, brk;

	if ((!daemon_mode && !follow_children) || ctgid == ptgid)
		return 0;
	pp = bpf_map_lookup_elem(&procs, &ptgid);
	if (!pp)
		return 0;
	if (!daemon_mode && BPF_CORE_READ(child, mm) == BPF_CORE_READ(parent, mm)) {
		bpf_map_update_elem(&pending_exec, &ctgid, &pend, BPF_ANY);
		return 0;
	}
	lo = pp->ldso_lo;
	hi = pp->ldso_hi;
	brk = pp->brk_cur;
	/* A dead process's entry under this pid (its exit found the ring full): report it first. */
	p = bpf_map_lookup_elem(&procs, &ctgid);
	if (p && send_exit(ctgid, p))
		return 0;
	if (bpf_map_update_elem(&procs, &ctgid, &proc_zero, BPF_ANY)) {
		count_stat(TM_STAT_PROCS_FULL);
		return 0;
	}
	p = bpf_map_lookup_elem(&procs, &ctgid);
	if (!p)
		return 0;
	p->inc = __sync_add_and_fetch(&next_inc, 1);
	p->ldso_lo = lo;        /* the same mappings as the parent's, at the same addresses */
	p->ldso_hi = hi;
	p->brk_cur = brk;
	if (daemon_mode) {
		p->flags = arm_by_loader ? 0 : TM_PROC_ARMED; /* full mode: once its own probes are placed */
		notify(TM_EV_FORK, ctgid, p->inc | (__u64)ptgid << 32);
	} else {
		/* Counted at once: it cannot run before the loader continues it. */
		p->ppid = ptgid;
		p->flags = TM_PROC_ARMED | TM_PROC_HOLD_FOR_MAPS | TM_PROC_HOLD_AT_START |
			   (pp->flags & TM_PROC_LDSO_IS_LIBC);
	}
	return 0;
}

/*
 * The new child's return from fork, in its own context, before its first
 * instruction: the one place a stop can be sent to it (tp_fork runs in the
 * parent's). The syscall tracepoints fire on that return too (ret_from_fork
 * leaves through syscall_exit_to_user_mode, Linux 5.8+). One program, which
 * the loader places on the exits of clone, clone3, fork and vfork.
 */
SEC("tracepoint")
int tp_child_start(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct tm_proc *p;

	if (!follow_children || ctx->ret != 0 || (__u32)id != tgid)
		return 0;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p || !(p->flags & TM_PROC_HOLD_AT_START))
		return 0;
	__sync_fetch_and_and(&p->flags, ~TM_PROC_HOLD_AT_START);
	hold_and_notify(TM_EV_CHILD, tgid, p->inc | (__u64)p->ppid << 32);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int tp_exit(struct trace_event_raw_sched_process_template *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct task_struct *task;
	struct tm_proc *p;

	/*
	 * The loader: nobody continues a held process from now on (its events
	 * stop here). Its main thread only: a helper thread of the loader that
	 * ends (the symbolizer's read-ahead) is no exit of the loader. At the
	 * loader's exit_group the main thread passes here before the last of
	 * its threads closes the descriptors the watchdog waits on.
	 */
	if (tgid == loader_tgid && (__u32)id == tgid)
		holds_off = 1;
	/* A vfork child of a followed process that never exec'd: its pid may be reused by anyone. */
	if (follow_children && (__u32)id == tgid)
		bpf_map_delete_elem(&pending_exec, &tgid);
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	task = bpf_get_current_task_btf();
	/* Only the last thread out speaks for the process. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	p->exit_code = BPF_CORE_READ(task, signal, group_exit_code) ?: BPF_CORE_READ(task, exit_code);
	p->exit_time_ns = bpf_ktime_get_ns();
	/*
	 * The daemon keeps nothing of a process in procs after it exits: the
	 * final counters travel in the event, its other entries (keyed by this
	 * incarnation) wait for `reap`, and a new process under the same pid
	 * starts clean. Without room in the ring the entry stays, and user
	 * space finds it on its sweep of processes that are gone.
	 */
	if (daemon_mode && !send_exit(tgid, p))
		bpf_map_delete_elem(&procs, &tgid);
	/*
	 * `run` keeps the root's entry (the loader reads it at the end); a
	 * followed child's counters travel in the event and its entry goes, so a
	 * long build's thousands of processes never fill procs. Without room in
	 * the ring it stays, and the loader reads it at the end.
	 */
	if (follow_children && !send_exit(tgid, p) && p->ppid)
		bpf_map_delete_elem(&procs, &tgid);
	return 0;
}

/*
 * The OOM killer chose a task (Linux 6.8+ passes the task itself; the loader
 * leaves this program out on older kernels). What the kernel counted at that
 * moment is what the post-mortem needs: the victim is gone by the time user
 * space reads anything, and the OOM reaper frees its memory right away.
 */
#define TM_PAGE_SHIFT 12
#define TM_PAGE_COUNTER_MAX (0x7fffffffffffffffULL >> TM_PAGE_SHIFT)

/* Linux 6.1 counts an mm's pages in one struct of atomics; 6.2 made it an array of percpu_counters. */
struct mm_rss_stat___61 {
	atomic_long_t count[4];
};

struct mm_struct___61 {
	struct mm_rss_stat___61 rss_stat;
};

/*
 * Pages of an mm's RSS counter @i (MM_FILEPAGES 0, MM_ANONPAGES 1, MM_SHMEMPAGES 3).
 * Asked of mm_struct's field, not of struct mm_rss_stat's existence: a type
 * missing from vmlinux sends libbpf through the modules' BTF, which takes
 * CAP_SYS_ADMIN.
 */
#define tm_mm_rss_is_61()   bpf_core_field_exists(((struct mm_struct___61 *)0)->rss_stat.count)
#define tm_mm_rss_61(mm, i) BPF_CORE_READ((struct mm_struct___61 *)(mm), rss_stat.count[i].counter)
#define tm_mm_rss(mm, i)    ((__u64)(tm_mm_rss_is_61() ? tm_mm_rss_61(mm, i) : BPF_CORE_READ(mm, rss_stat[i].count)))

SEC("tp_btf/mark_victim")
int BPF_PROG(tp_oom_victim, struct task_struct *task, unsigned int uid)
{
	int memcg_id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct mem_cgroup *memcg = NULL;
	struct mm_struct *mm;
	__u64 best = ~0ULL;
	struct tm_proc *p;
	int i;

	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	p->oom_time_ns = bpf_ktime_get_ns();
	mm = BPF_CORE_READ(task, mm);
	if (mm) {
		/* The same (per-CPU-approximate) counts /proc/PID/status and the tracepoint's text show. */
		p->oom_rss_file = tm_mm_rss(mm, 0) << TM_PAGE_SHIFT;
		p->oom_rss_anon = tm_mm_rss(mm, 1) << TM_PAGE_SHIFT;
		p->oom_rss_shmem = tm_mm_rss(mm, 3) << TM_PAGE_SHIFT;
	}
	/*
	 * Which memory cgroup ran out: of the task's memory cgroup and its
	 * ancestors, the limited one closest to its limit. None limited: a
	 * system-wide OOM; the task's own group is named, without a limit.
	 */
	if (memcg_id >= 0 && memcg_id < 12)
		memcg = (struct mem_cgroup *)BPF_CORE_READ(task, cgroups, subsys[memcg_id]);
	if (memcg) {
		p->oom_memcg_id = BPF_CORE_READ(memcg, css.cgroup, kn, id);
		p->oom_memcg_usage = (__u64)BPF_CORE_READ(memcg, memory.usage.counter) << TM_PAGE_SHIFT;
		p->oom_memcg_limit = 0;
	}
	for (i = 0; i < 8 && memcg; i++) {
		__u64 max = BPF_CORE_READ(memcg, memory.max);
		__u64 usage = BPF_CORE_READ(memcg, memory.usage.counter);

		if (max < TM_PAGE_COUNTER_MAX) {
			__u64 room = usage < max ? max - usage : 0;

			if (room < best) {
				best = room;
				p->oom_memcg_id = BPF_CORE_READ(memcg, css.cgroup, kn, id);
				p->oom_memcg_limit = max << TM_PAGE_SHIFT;
				p->oom_memcg_usage = usage << TM_PAGE_SHIFT;
			}
		}
		memcg = (struct mem_cgroup *)BPF_CORE_READ(memcg, css.parent);
	}
	notify(TM_EV_OOM, tgid, p->inc);
	return 0;
}

/* ---- reaping (the daemon) ---------------------------------------------- */

static __always_inline int reaping(__u32 tgid, __u32 inc)
{
	struct tm_reap_key k = { .tgid = tgid, .inc = inc };

	return bpf_map_lookup_elem(&reap_set, &k) != NULL;
}

static long reap_alloc(struct bpf_map *map, struct tm_alloc_key *k, void *v, void *ctx)
{
	if (reaping(k->tgid, k->inc))
		bpf_map_delete_elem(&allocs, k);
	return 0;
}

static long reap_region(struct bpf_map *map, struct tm_alloc_key *k, void *v, void *ctx)
{
	if (reaping(k->tgid, k->inc))
		bpf_map_delete_elem(&regions, k);
	return 0;
}

/* Stack ids are seeded with the incarnation: a dead one's stacks are its own. */
static long reap_agg(struct bpf_map *map, struct tm_agg_key *k, void *v, void *ctx)
{
	__u64 stack_id = k->stack_id;

	if (reaping(k->tgid, k->inc)) {
		bpf_map_delete_elem(&stacks, &stack_id);
		bpf_map_delete_elem(&aggs, k);
	}
	return 0;
}

/* Stacks interned without an aggregate (a brk that moved nothing): swept once the tgid is gone. */
static long reap_stack(struct bpf_map *map, __u64 *id, struct tm_stack *st, void *ctx)
{
	__u32 tgid = st->tgid;
	__u64 key = *id;

	if (reaping(tgid, 0) && !bpf_map_lookup_elem(&procs, &tgid))
		bpf_map_delete_elem(&stacks, &key);
	return 0;
}

/* Code names are per tgid; user space marks (tgid, 0) when no incarnation of it lives on. */
static long reap_code(struct bpf_map *map, struct tm_py_code_key *k, void *v, void *ctx)
{
	__u32 tgid = k->tgid;

	if (reaping(tgid, 0) && !bpf_map_lookup_elem(&procs, &tgid))
		bpf_map_delete_elem(&py_codes, k);
	return 0;
}

/*
 * Run by the daemon (BPF_PROG_TEST_RUN) every few seconds: one pass over
 * each map in the kernel instead of a syscall per key from user space.
 */
SEC("syscall")
int reap(void *ctx)
{
	bpf_for_each_map_elem(&allocs, reap_alloc, NULL, 0);
	bpf_for_each_map_elem(&regions, reap_region, NULL, 0);
	bpf_for_each_map_elem(&aggs, reap_agg, NULL, 0);
	bpf_for_each_map_elem(&py_codes, reap_code, NULL, 0);
	bpf_for_each_map_elem(&stacks, reap_stack, NULL, 0);
	return 0;
}

/* ---- control, run by the loader (BPF_PROG_TEST_RUN) --------------------- */

/* Once after load: the loader's tgid as the kernel numbers it, for tp_exit (holds_off). */
SEC("syscall")
int hello(void *ctx)
{
	loader_tgid = bpf_get_current_pid_tgid() >> 32;
	return 0;
}

/*
 * Start (or stop) counting one process: the flag is set with an atomic OR in
 * place, so no counter the programs are updating is overwritten, as copying
 * the entry out and back from user space would.
 */
SEC("syscall")
int arm(struct tm_arm_args *a)
{
	__u32 tgid = a->tgid;
	struct tm_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (!p || p->inc != a->inc)
		return -3 /* ESRCH */;
	if (a->how && armed(p))
		return -16 /* EBUSY: its counters are being updated */;
	if (a->how & TM_ARM_LDSO_IS_LIBC) {
		__sync_fetch_and_or(&p->flags, TM_PROC_LDSO_IS_LIBC);
		p->ldso_lo = 0;
		p->ldso_hi = 0;
	}
	if (a->how & TM_ARM_RESTART) {
		/* peak_gen and end_gen only grow: a stack's saved values stay keyed to them */
		p->live_bytes = 0;
		p->peak_bytes = 0;
		p->peak_time_ns = 0;
		p->n_allocs = 0;
		p->n_stacks = 0;
		__builtin_memset(p->drops, 0, sizeof(p->drops));
		__builtin_memset(p->size_count, 0, sizeof(p->size_count));
		__builtin_memset(p->size_bytes, 0, sizeof(p->size_bytes));
	}
	if (a->on)
		__sync_fetch_and_or(&p->flags, TM_PROC_ARMED);
	else
		__sync_fetch_and_and(&p->flags, ~TM_PROC_ARMED);
	return 0;
}
