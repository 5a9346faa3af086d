/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * python.bpf.h: the Python stack of the calling thread, read from BPF.
 *
 * Include after vmlinux.h, <bpf/bpf_helpers.h> and tidemark_common.h. It
 * adds three maps (py_cfgs, py_codes, py_scratch) and two functions:
 *
 *   tm_py_capture(st, tgid)    every event: fill st->py[] and st->n_py
 *   tm_py_record_codes(st)     when st was interned for the first time:
 *                              copy names and line tables of its code objects
 *
 * Which thread state. Each OS thread finds its own PyThreadState in the
 * pthread TSS slot that CPython registers under autoTSSkey (the value
 * PyGILState_GetThisThreadState() returns). It is set for the thread's
 * whole life, including while it has released the GIL; CPython's own
 * "current" pointers (gilstate.tstate_current, _Py_tss_tstate) name the GIL
 * holder or NULL for such a thread. We emulate glibc's pthread_getspecific
 * on the thread pointer (task->thread.fsbase) with the layout in the cfg.
 * Reading our own thread's frame chain from its own probe is race-free: the
 * thread is stopped in the probe and no other thread pushes its frames.
 *
 * Which frames. 3.11+ frames owned by the C stack (3.12+ activation
 * markers) and incomplete frames (pushed, not yet started: CPython hides
 * them too; this also drops 3.13's __init__ shim) are skipped. A frame is
 * recorded only if its code object's ob_type is PyCode_Type.
 *
 * Cost per event, in a Python process: one py_cfgs lookup, one task
 * storage lookup, then user reads (bpf_probe_read_user(), ~25 ns each on
 * the machines measured; bytes add little: 4 KiB costs about two 8-byte
 * reads):
 *   - to the top frame: the TSS slot (the pthread key is cached in the cfg
 *     after the first event), one read of PyThreadState for the frame
 *     pointer, interp (3.13) and the data stack's newest chunk, and
 *     cframe->current_frame on 3.11/3.12;
 *   - the interpreter's code counter, 3.12/3.13 (see the code cache);
 *   - frames, in windows (tm_py__read_window()): from 3.11 a frame on the
 *     data stack comes with up to 4 KiB of the frames below it, ~30 small
 *     ones, in one read; an entry frame on the C stack (3.12+) or a
 *     generator's costs a read of its own. 3.8-3.10 frame objects cost a
 *     read each, unless made one after the other (recursion);
 *   - code objects: none while the counter holds still; else, and on
 *     3.8-3.11 always, one read per distinct code object per event.
 * Then ~10 ns of instructions per frame; no per-frame map lookups.
 * bench/python.sh on 3.12 (medians of three runs against the two reads a
 * frame before, same sitting): 639 -> 310 ns per event at depth 5,
 * 1660 -> 693 ns at depth 30, 3190 -> 704 ns at depth 30 through 30
 * different functions. 3.8-3.11 read every code object at every event:
 * 2-2.4 us there for those 30 functions. In other processes: one py_cfgs
 * lookup, which tidemark.bpf.c skips (py_walkable()) until user space
 * changes py_cfgs.
 *
 * The code cache. Per thread, 128 sets of two (code address -> is it code,
 * fingerprint, _co_firsttraceable), each entry valid under the key it was
 * filled with only (tm_py__walk_key()). With the code counter that key is
 * the counter's value: CPython takes a dead code object's address for a
 * new one at once (at start-up a module's code object regularly lands
 * where a compiled `<string>` was), but init_code() bumps the counter for
 * every code object it makes, so nothing can become code at a cached
 * address without the key moving. Without it, the key is new for every
 * walk: a code object is read once per walk, however many frames run it.
 *
 * Names: choice (a), in BPF. A process may exit right after allocating, so
 * names cannot wait for user space. But checking "first sight" per frame
 * would cost a py_codes lookup per frame per event; instead the stack
 * interner calls tm_py_record_codes() only for a stack it sees for the
 * first time: one py_codes lookup per frame there, and for a code object
 * not yet recorded about 8 reads (code object, two string headers, two
 * strings, line table size and bytes) and one update. A known stack costs
 * nothing. Stacks are keyed by frames whose flags carry a fingerprint of
 * the code object (TM_PYF_FP_SHIFT: 3.12+ its co_version, before a hash of
 * its first line and name and file pointers), and so is py_codes, so a
 * code address reused by another function after the first one was freed
 * makes a new stack and a new record instead of a wrong name. Before 3.12
 * a function that takes a dead one's address, first line, and name and
 * file string addresses (look-alike functions made and dropped in a loop)
 * shares its fingerprint: tests/integration/test_python.py measures it.
 *
 * Scratch memory (~13 KiB a thread: a window, the code cache, a record)
 * lives in task storage, not a per-CPU array: uprobe programs are
 * preemptible, and another thread on this CPU could clobber a per-CPU
 * buffer between a read and its use.
 *
 * Races tolerated. None on the walk itself (see above): a code object on
 * the walking thread's chain is referenced by its frame and cannot die
 * during the walk, so what the walk caches is true until the counter
 * moves. The counter is read with a plain load: a code object made by
 * another thread reaches this thread's frames only through the GIL, so
 * after its bump (and x86-64 keeps loads in order). CPython stops counting
 * at 0 (after 2^32 code objects); the walker then keys by walk again. An
 * embedded 3.13 that finalizes and initializes again can restart the
 * counter: a thread that walked nothing in between and whose next walk
 * sees exactly the value its last one saw could trust a stale entry. The
 * cached pthread key and code_gen_bad are written by BPF without a lock;
 * every writer writes the same value. A frame whose code object is not
 * readable ends the walk with -EFAULT, keeping the frames read so far and
 * flagging the stack truncated.
 */
#ifndef TIDEMARK_PYTHON_BPF_H
#define TIDEMARK_PYTHON_BPF_H

#include "python_common.h"

#define TM_PY_EFAULT 14
#define TM_PY_ENOMEM 12
#define TM_PY_ERANGE 34

/* tgid -> interpreter layout; filled by user space (tm_python__detect). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct tm_py_cfg);
} py_cfgs SEC(".maps");

/* (tgid, fingerprint, code) -> names and line table; user space sizes it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct tm_py_code_key);
	__type(value, struct tm_py_code);
} py_codes SEC(".maps");

/*
 * The code cache (see the top): what the walk needs from a code object, per
 * thread, in sets of two by address. Keys: cache_id << 32 | the counter, or
 * TM_PY_KEY_WALK | a per-thread walk number; 0 matches none.
 */
#define TM_PY_CODE_SETS   128
#define TM_PY_NOT_CODE    0x80000000u
#define TM_PY_KEY_WALK    (1ULL << 63)

struct tm_py_code_slot {
	__u64 code;
	__u64 key;              /* the walk key it was filled under */
	__u32 fp;               /* fingerprint, or TM_PY_NOT_CODE */
	__s32 first;            /* _co_firsttraceable (3.11+) */
};

struct tm_py_scratch {
	struct tm_py_code_slot cache[TM_PY_CODE_SETS * 2];
	__u64 seq;              /* walks by this thread: per-walk cache keys */
	/*
	 * The walk's window bookkeeping lives here rather than in struct
	 * tm_py_walk on the stack: the verifier tracks stack values across
	 * bpf_loop() iterations, and offsets that differ at every step would
	 * keep its states from converging.
	 */
	__u64 win_lo;           /* win holds target bytes [win_lo, win_lo + win_len) */
	__u64 win_len;
	__u64 stk_lo, stk_hi;   /* the newest data stack chunk: [chunk, datastack_top) */
	__u64 prev_f;           /* the frame visited last */
	__u32 act_start;        /* first recorded frame of the current activation */
	__u32 pad;
	/* a frame window; the slack lets a frame at any offset be read as a whole span */
	__u8 win[TM_PY_WINDOW + TM_PY_FRAME_SPAN];
	__u8 ts[TM_PY_TS_SPAN];
	__u8 code[TM_PY_CODE_SPAN];
	__u8 str[64];
	struct tm_py_code rec;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tm_py_scratch);
} py_scratch SEC(".maps");

/* Fields at cfg-given offsets inside a scratch window; out of range reads 0. */
static __always_inline __u64 tm_py__u64(const __u8 *buf, __u32 off, __u32 span)
{
	if (off > span - 8)
		return 0;
	return *(const __u64 *)(buf + off);
}

static __always_inline __u32 tm_py__u32(const __u8 *buf, __u32 off, __u32 span)
{
	if (off > span - 4)
		return 0;
	return *(const __u32 *)(buf + off);
}

static __always_inline __u8 tm_py__u8(const __u8 *buf, __u32 off, __u32 span)
{
	if (off > span - 1)
		return 0;
	return buf[off];
}

/* Read a code object's head into s->code: 0, or -EFAULT. */
static __always_inline int tm_py__read_code(const struct tm_py_cfg *c, struct tm_py_scratch *s, __u64 co)
{
	__u32 len = c->co_span;

	if (len > TM_PY_CODE_SPAN)
		len = TM_PY_CODE_SPAN;
	if (!co || bpf_probe_read_user(s->code, len, (const void *)co))
		return -TM_PY_EFAULT;
	return 0;
}

/* 24 bits that differ between code objects that could share an address over time (TM_PYF_FP_SHIFT). */
static __always_inline __u32 tm_py__fingerprint(const struct tm_py_cfg *c, const __u8 *code)
{
	/* read unconditionally: "co_version && in range" folds into one check the verifier cannot follow */
	__u32 x = tm_py__u32(code, c->co_version, TM_PY_CODE_SPAN);

	if (c->co_version && x)         /* 0: not 3.12+, or CPython ran out of versions */
		return x & TM_PYF_FP_MASK;
	x = tm_py__u32(code, c->co_firstlineno, TM_PY_CODE_SPAN) * 0x9e3779b1u;
	x ^= (__u32)(tm_py__u64(code, c->co_filename, TM_PY_CODE_SPAN) >> 4);
	x ^= (__u32)(tm_py__u64(code, c->co_name, TM_PY_CODE_SPAN) >> 4) * 0x85ebca6bu;
	x ^= x >> 16;
	return x & TM_PYF_FP_MASK;
}

struct tm_py_walk {
	struct tm_stack *st;
	struct tm_py_cfg *cfg;
	struct tm_py_scratch *s;
	__u64 frame;            /* next frame to visit; 0 = end of chain */
	__u64 key;              /* code cache key of this walk */
	int err;
	int done;
};

/*
 * The cache key of this walk: cache_id and the interpreter's code counter
 * when it has one we can read (counter 0: it ran out, CPython stops
 * counting), else a key no other walk uses. @interp: the thread's
 * PyThreadState.interp, or 0.
 */
static __always_inline __u64 tm_py__walk_key(const struct tm_py_cfg *c, struct tm_py_scratch *s, __u64 interp)
{
	__u64 at = c->code_gen;
	__u32 gen = 0;

	if (at && !c->code_gen_bad) {
		if (c->flags & TM_PYCFG_GEN_INTERP)
			at = interp ? interp + at : 0;
		if (at && !bpf_probe_read_user(&gen, sizeof(gen), (const void *)at) && gen)
			return (__u64)(c->cache_id & 0x7fffffff) << 32 | gen;
	}
	return TM_PY_KEY_WALK | ++s->seq;
}

/*
 * Read frame @f, and with it up to TM_PY_WINDOW bytes below it, which may
 * hold the frames after it:
 *   - in the thread's newest data stack chunk (3.11+), down to the chunk's
 *     start: it is all mapped;
 *   - else, when @f lies a little below the frame visited last (3.8-3.10
 *     frame objects made in a row, an older chunk), down to @f's page,
 *     which is mapped if @f is;
 *   - else (a generator's frame, an entry frame on the C stack) @f alone.
 * 0, or -EFAULT.
 */
static __always_inline int tm_py__read_window(const struct tm_py_cfg *c, struct tm_py_scratch *s, __u64 f)
{
	__u64 hi = f + c->fr_span, lo = f, len;

	if (f >= s->stk_lo && hi <= s->stk_hi && hi >= f) {
		lo = hi - s->stk_lo > TM_PY_WINDOW ? hi - TM_PY_WINDOW : s->stk_lo;
	} else if (f < s->prev_f && s->prev_f - f <= TM_PY_WINDOW) {
		lo = f & ~(__u64)(TM_PY_PAGE - 1);
		if (hi - lo > TM_PY_WINDOW)
			lo = hi - TM_PY_WINDOW;
	}
	len = hi - lo;
	s->win_len = 0;
	if (hi < f || len > TM_PY_WINDOW)
		return -TM_PY_EFAULT;
	if (bpf_probe_read_user(s->win, len, (const void *)lo)) {
		/* a page below @f swapped out, say: @f alone may still be there */
		if (lo == f)
			return -TM_PY_EFAULT;
		lo = f;
		len = hi - f;
		/*
		 * One register for the check and the read: 6.1's verifier does not
		 * carry a bound from one fill of a spilled value to another (6.8+ do).
		 */
		barrier_var(len);
		if (len > TM_PY_WINDOW || bpf_probe_read_user(s->win, len, (const void *)lo))
			return -TM_PY_EFAULT;
	}
	s->win_lo = lo;
	s->win_len = len;
	return 0;
}

static long tm_py__walk_step(__u32 i, void *data)
{
	struct tm_py_walk *w = data;
	struct tm_py_cfg *c = w->cfg;
	struct tm_py_scratch *s = w->s;
	struct tm_stack *st = w->st;
	struct tm_py_code_slot *slot;
	__u64 f = w->frame, co, off;
	__u32 idx, flags = 0, n, span = c->fr_span, set;
	const __u8 *fb;
	__u8 owner = 0;

	(void)i;
	if (!f) {
		w->done = 1;
		return 1;
	}
	/* Frames below this one on the data stack are usually in the window already. */
	off = f - s->win_lo;
	if (f < s->win_lo || s->win_len < span || off > s->win_len - span) {
		if (tm_py__read_window(c, s, f)) {
			w->err = -TM_PY_EFAULT;
			w->done = 1;
			return 1;
		}
		off = f - s->win_lo;
	}
	if (off > TM_PY_WINDOW)
		return 1;       /* cannot happen; bounds the offset for the verifier */
	fb = s->win + off;
	s->prev_f = f;

	w->frame = tm_py__u64(fb, c->fr_back, TM_PY_FRAME_SPAN);
	co = tm_py__u64(fb, c->fr_code, TM_PY_FRAME_SPAN);

	if (c->flags & TM_PYCFG_IFRAME) {
		owner = tm_py__u8(fb, c->fr_owner, TM_PY_FRAME_SPAN);
		if ((c->flags & TM_PYCFG_CSTACK) && owner == c->owner_cstack) {
			/* An activation's base: the frame recorded last was its oldest. */
			n = st->n_py;
			if (n > s->act_start && n - 1 < TM_MAX_PY)
				st->py[n - 1].flags |= TM_PYF_ENTRY;
			s->act_start = n;
			return 0;
		}
	}

	/* Two ways a set, the one used last first: two hot code objects may share a set. */
	set = (((__u32)(co >> 4) ^ (__u32)(co >> 13)) & (TM_PY_CODE_SETS - 1)) * 2;
	slot = &s->cache[set];
	if (slot->code != co || slot->key != w->key) {
		struct tm_py_code_slot *way1 = &s->cache[set + 1], tmp = *way1;

		*way1 = *slot;
		*slot = tmp;
		if (slot->code == co && slot->key == w->key)
			goto hit;
		if (tm_py__read_code(c, s, co)) {
			w->err = -TM_PY_EFAULT;
			w->done = 1;
			return 1;
		}
		slot->code = co;
		slot->key = w->key;
		/* 3.13: f_executable may be None */
		if (tm_py__u64(s->code, c->ob_type, TM_PY_CODE_SPAN) != c->code_type) {
			slot->fp = TM_PY_NOT_CODE;
		} else {
			slot->fp = tm_py__fingerprint(c, s->code);
			slot->first = (__s32)tm_py__u32(s->code, c->co_firsttraceable, TM_PY_CODE_SPAN);
			if (!(w->key & TM_PY_KEY_WALK)) {
				/*
				 * A live code object was made before this walk read the
				 * counter, so its co_version is below it. If not, the
				 * counter is not where the cfg says: never trust it again.
				 */
				__u32 v = tm_py__u32(s->code, c->co_version, TM_PY_CODE_SPAN);

				if (v && v >= (__u32)w->key) {
					c->code_gen_bad = 1;
					slot->key = 0;
				}
			}
		}
	}
hit:
	if (slot->fp & TM_PY_NOT_CODE)
		return 0;

	if (c->flags & TM_PYCFG_IFRAME) {
		__u64 ip = tm_py__u64(fb, c->fr_lasti, TM_PY_FRAME_SPAN);
		__s64 d = (__s64)(ip - (co + c->co_code)) >> 1;  /* code units; no signed div in BPF */
		/* _PyFrame_IsIncomplete(): pushed but not started; CPython hides it too. */
		if (owner != c->owner_generator && d < slot->first)
			return 0;
		if (d < 0)
			d = 0;
		idx = d > 0x7fffffff ? 0x7fffffff : (__u32)d;
		if (owner == c->owner_generator)
			flags |= TM_PYF_GENERATOR;
		if ((c->flags & TM_PYCFG_IS_ENTRY) && tm_py__u8(fb, c->fr_is_entry, TM_PY_FRAME_SPAN))
			flags |= TM_PYF_ENTRY;
	} else {
		__s32 lasti = (__s32)tm_py__u32(fb, c->fr_lasti, TM_PY_FRAME_SPAN);

		if (lasti < 0)          /* -1: not started yet */
			lasti = 0;
		idx = (c->flags & TM_PYCFG_LASTI_BYTES) ? (__u32)lasti / 2 : (__u32)lasti;
		flags |= TM_PYF_ENTRY;  /* one eval activation per frame before 3.11 */
	}

	n = st->n_py;
	if (n >= TM_MAX_PY) {
		st->flags |= TM_STACK_PY_TRUNCATED;
		w->done = 1;
		return 1;
	}
	st->py[n].code = co;
	st->py[n].lasti = idx;
	st->py[n].flags = flags | (slot->fp & TM_PYF_FP_MASK) << TM_PYF_FP_SHIFT;
	st->n_py = n + 1;
	return 0;
}

/*
 * Fill st->py[] (innermost first) and st->n_py with the calling thread's
 * Python frames, and set TM_STACK_PY_TRUNCATED in st->flags when there are
 * more than TM_MAX_PY of them. Leaves st->n_py = 0 and returns 0 when @tgid
 * is not a traced Python process, or the thread has no Python state.
 * Returns -EFAULT (keeping the frames read so far, flagged truncated) when
 * target memory could not be read, -ENOMEM without scratch memory.
 * Works in any program type that may call bpf_get_current_task_btf():
 * uprobes, tracepoints, fentry.
 */
static __always_inline int tm_py_capture(struct tm_stack *st, __u32 tgid)
{
	struct tm_py_cfg *c = bpf_map_lookup_elem(&py_cfgs, &tgid);
	struct task_struct *task;
	struct tm_py_scratch *s;
	struct tm_py_walk w = {};
	__u64 tp, slot, ts = 0, f, interp = 0;
	__u64 lo, hi, len;
	__u32 key;

	st->n_py = 0;
	if (!c)
		return 0;
	task = bpf_get_current_task_btf();
	s = bpf_task_storage_get(&py_scratch, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return -TM_PY_ENOMEM;
	tp = task->thread.fsbase;

	if (c->tss_key1) {
		key = c->tss_key1 - 1;
	} else {
		struct { __s32 initialized; __u32 key; } k;

		if (bpf_probe_read_user(&k, sizeof(k), (const void *)c->tss_key))
			return -TM_PY_EFAULT;
		if (!k.initialized)
			return 0;       /* interpreter not initialized yet */
		key = k.key;
		if (key < 0xffffffffu)
			c->tss_key1 = key + 1;
	}

	if (key < c->tsd_per_block) {
		slot = tp + c->tsd_first + (__u64)key * c->tsd_stride + c->tsd_data;
	} else {
		__u64 blk = 0;

		if (key >= c->tsd_max_keys || !c->tsd_per_block)
			return -TM_PY_ERANGE;
		if (bpf_probe_read_user(&blk, sizeof(blk),
					(const void *)(tp + c->tsd_second + (__u64)(key / c->tsd_per_block) * 8)))
			return -TM_PY_EFAULT;
		if (!blk)
			return 0;
		slot = blk + (__u64)(key % c->tsd_per_block) * c->tsd_stride + c->tsd_data;
	}
	if (bpf_probe_read_user(&ts, sizeof(ts), (const void *)slot))
		return -TM_PY_EFAULT;
	if (!ts)
		return 0;               /* this thread never ran Python */

	/* The frame pointer, interp, the data stack's newest chunk: one read. */
	lo = c->ts_frame;
	hi = lo + 8;
	if (c->flags & TM_PYCFG_GEN_INTERP) {
		lo = c->ts_interp < lo ? c->ts_interp : lo;
		hi = c->ts_interp + 8 > hi ? c->ts_interp + 8 : hi;
	}
	if (c->ts_chunk) {
		lo = c->ts_chunk < lo ? c->ts_chunk : lo;
		hi = c->ts_chunk + 16 > hi ? c->ts_chunk + 16 : hi;
	}
	len = hi - lo;
	if (len > TM_PY_TS_SPAN)
		return -TM_PY_ERANGE;
	if (bpf_probe_read_user(s->ts, len, (const void *)(ts + lo)))
		return -TM_PY_EFAULT;
	f = tm_py__u64(s->ts, c->ts_frame - lo, TM_PY_TS_SPAN);
	if (c->flags & TM_PYCFG_GEN_INTERP)
		interp = tm_py__u64(s->ts, c->ts_interp - lo, TM_PY_TS_SPAN);
	s->stk_lo = 0;
	s->stk_hi = 0;
	if (c->ts_chunk) {
		s->stk_lo = tm_py__u64(s->ts, c->ts_chunk - lo, TM_PY_TS_SPAN);
		s->stk_hi = tm_py__u64(s->ts, c->ts_chunk + 8 - lo, TM_PY_TS_SPAN);
	}
	s->win_lo = 0;
	s->win_len = 0;
	s->act_start = 0;
	s->prev_f = 0;
	if (f && (c->flags & TM_PYCFG_CFRAME) &&
	    bpf_probe_read_user(&f, sizeof(f), (const void *)(f + c->cf_current_frame)))
		return -TM_PY_EFAULT;
	if (!f)
		return 0;               /* no Python frame (yet, or any more) */

	w.st = st;
	w.cfg = c;
	w.s = s;
	w.frame = f;
	w.key = tm_py__walk_key(c, s, interp);
	bpf_loop(TM_PY_WALK_MAX, tm_py__walk_step, &w, 0);
	if (!w.done && w.frame)
		st->flags |= TM_STACK_PY_TRUNCATED;     /* more skipped frames than the walk visits */
	if (w.err)
		st->flags |= TM_STACK_PY_TRUNCATED;
	return w.err;
}

/*
 * Copy a compact str's storage into dst (at most max bytes, whole
 * characters). Returns the bytes copied, or -EFAULT / -ERANGE with
 * *kind = 0. *cut is set when the string was longer.
 */
static __always_inline int tm_py__read_str(const struct tm_py_cfg *c, struct tm_py_scratch *s, __u64 str,
					   __u8 *dst, __u32 max, __u8 *kind, int *cut)
{
	__u32 hdr = c->str_state + 4, state, k;
	__u64 length, data, bytes;

	*kind = 0;
	*cut = 0;
	if (hdr > sizeof(s->str))
		hdr = sizeof(s->str);
	if (!str || bpf_probe_read_user(s->str, hdr, (const void *)str))
		return -TM_PY_EFAULT;
	length = tm_py__u64(s->str, c->str_length, sizeof(s->str));
	state = tm_py__u32(s->str, c->str_state, sizeof(s->str));
	k = (state & c->str_kind_mask) >> c->str_kind_shift;
	if (k != 1 && k != 2 && k != 4)
		return -TM_PY_ERANGE;
	if (state & c->str_ascii_mask)
		data = str + c->str_ascii_data;
	else if (state & c->str_compact_mask)
		data = str + c->str_compact_data;
	else
		return -TM_PY_ERANGE;   /* legacy string: never a code object's name */
	bytes = length * k;
	if (bytes > max) {
		bytes = max;
		*cut = 1;
	}
	bytes &= ~(__u64)(k - 1);
	if (bytes > max)
		return -TM_PY_ERANGE;
	if (bytes && bpf_probe_read_user(dst, bytes, (const void *)data))
		return -TM_PY_EFAULT;
	*kind = k;
	return (int)bytes;
}

struct tm_py_rec_walk {
	const struct tm_stack *st;
	const struct tm_py_cfg *cfg;
	struct tm_py_scratch *s;
	__u32 n;
	int err;
};

static long tm_py__record_step(__u32 i, void *data)
{
	struct tm_py_rec_walk *w = data;
	const struct tm_py_cfg *c = w->cfg;
	struct tm_py_scratch *s = w->s;
	struct tm_py_code *rec = &s->rec;
	const struct tm_py_frame *pf;
	struct tm_py_code_key key = {};
	__u64 lines, size = 0;
	int got, cut;

	if (i >= w->n || i >= TM_MAX_PY)
		return 1;
	barrier_var(i);         /* keep clang from bounding a copy of i only */
	if (i >= TM_MAX_PY)
		return 1;
	pf = &w->st->py[i];
	key.tgid = w->st->tgid;
	key.fp = TM_PYF_FP(pf->flags);
	key.code = pf->code;
	if (bpf_map_lookup_elem(&py_codes, &key))
		return 0;
	if (tm_py__read_code(c, s, key.code)) {
		w->err = -TM_PY_EFAULT;
		return 0;
	}
	rec->version = c->version;
	rec->firstlineno = (__s32)tm_py__u32(s->code, c->co_firstlineno, TM_PY_CODE_SPAN);
	rec->flags = 0;

	got = tm_py__read_str(c, s, tm_py__u64(s->code, c->co_name, TM_PY_CODE_SPAN),
			      rec->name, TM_PY_NAME_MAX, &rec->name_kind, &cut);
	rec->name_got = got > 0 ? got : 0;
	if (got < 0)
		rec->flags |= TM_PYC_NAME_BAD;
	if (cut)
		rec->flags |= TM_PYC_NAME_CUT;

	got = tm_py__read_str(c, s, tm_py__u64(s->code, c->co_filename, TM_PY_CODE_SPAN),
			      rec->file, TM_PY_FILE_MAX, &rec->file_kind, &cut);
	rec->file_got = got > 0 ? got : 0;
	if (got < 0)
		rec->flags |= TM_PYC_FILE_BAD;
	if (cut)
		rec->flags |= TM_PYC_FILE_CUT;

	rec->lines_len = 0;
	rec->lines_got = 0;
	lines = tm_py__u64(s->code, c->co_lines, TM_PY_CODE_SPAN);
	if (!lines || bpf_probe_read_user(&size, sizeof(size), (const void *)(lines + c->bytes_size)) ||
	    (__s64)size < 0) {
		rec->flags |= TM_PYC_LINES_BAD;
	} else {
		rec->lines_len = size > 0xffffffffu ? 0xffffffffu : (__u32)size;
		if (size > TM_PY_LINES_MAX) {
			size = TM_PY_LINES_MAX;
			rec->flags |= TM_PYC_LINES_CUT;
		}
		if (size && bpf_probe_read_user(rec->lines, size, (const void *)(lines + c->bytes_data)))
			rec->flags |= TM_PYC_LINES_BAD;
		else
			rec->lines_got = size;
	}
	bpf_map_update_elem(&py_codes, &key, rec, BPF_NOEXIST);
	return 0;
}

/*
 * Record names and line tables for the code objects of @st's Python frames
 * that py_codes does not know yet. Call it from the event that interned @st
 * for the first time (the frames must still be live). Returns 0, or
 * -EFAULT if some code object could not be read (the others are recorded).
 */
static __always_inline int tm_py_record_codes(const struct tm_stack *st)
{
	struct tm_py_rec_walk w = {};
	__u32 tgid = st->tgid;

	if (!st->n_py)
		return 0;
	w.cfg = bpf_map_lookup_elem(&py_cfgs, &tgid);
	if (!w.cfg)
		return 0;
	w.s = bpf_task_storage_get(&py_scratch, bpf_get_current_task_btf(), 0,
				   BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!w.s)
		return -TM_PY_ENOMEM;
	w.st = st;
	w.n = st->n_py;
	bpf_loop(TM_MAX_PY, tm_py__record_step, &w, 0);
	return w.err;
}

/*
 * Is an anonymous mmap of @len bytes returning to @ra one of pymalloc's
 * arenas? Arenas have one size per version, and _PyObject_ArenaMmap lives
 * in the interpreter's ELF: libc's mmap wrapper is a leaf, so [rsp] at the
 * syscall is its caller.
 */
static __always_inline int tm_py_is_arena(__u32 tgid, __u64 len, __u64 ra)
{
	struct tm_py_cfg *c = bpf_map_lookup_elem(&py_cfgs, &tgid);

	return c && c->arena_size && len == c->arena_size && ra >= c->interp_lo && ra < c->interp_hi;
}

#endif /* TIDEMARK_PYTHON_BPF_H */
