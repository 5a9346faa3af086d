/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * python_common.h: what the BPF Python stack walker (bpf/python.bpf.h) and
 * user space (user/target/python.c) share.
 *
 * User space finds a CPython 3.8-3.13 interpreter in a process, fills one
 * struct tm_py_cfg with its addresses and struct layouts, and stores it in
 * the `py_cfgs` map under the process's tgid. The BPF walker has no notion
 * of versions: every offset and every behaviour switch it uses comes from
 * the cfg. Names of code objects come back through the `py_codes` map,
 * keyed by struct tm_py_code_key, valued struct tm_py_code.
 *
 * Fixed-width types only, explicit padding, sizes asserted.
 */
#ifndef TIDEMARK_PYTHON_COMMON_H
#define TIDEMARK_PYTHON_COMMON_H

#ifdef __BPF__
/* vmlinux.h supplies __u8 ... __u64 on the BPF side. */
#else
#include <linux/types.h>
#endif

/* PY_VERSION_HEX style: 3.11 is 0x030b0000; only major.minor matter to the walker. */
#define TM_PY_VERSION(major, minor) (((major) << 24) | ((minor) << 16))
#define TM_PY_MINOR(version)        (((version) >> 16) & 0xff)

/*
 * Bytes the walker needs from a frame and from a code object, starting at
 * the object's address. The cfg's fr_span/co_span are at most these; user
 * space checks.
 */
#define TM_PY_FRAME_SPAN 128
#define TM_PY_CODE_SPAN  192

/*
 * From 3.11 frames are pushed one after another on the thread's data
 * stack, a chain of chunks of which PyThreadState names the newest. The
 * walker reads a frame in that chunk as part of a window: one
 * bpf_probe_read_user() of up to TM_PY_WINDOW bytes ending where the
 * frame's span ends and starting no lower than the chunk, which holds the
 * frames below it. A read costs ~25 ns plus ~0.007 ns a byte on the
 * machines measured, so a 4 KiB window of ~30 frames costs about two
 * single-frame reads. Other frames are read with what lies below them in
 * their page when they lie just below the frame before (3.8-3.10 frame
 * objects made in a row, older chunks), else alone (generators, the C
 * stack's entry frames).
 */
#define TM_PY_WINDOW     4096
#define TM_PY_PAGE       4096   /* x86-64: a page is mapped whole or not at all */

/* Bytes of PyThreadState read at once: the frame pointer, interp, data stack. */
#define TM_PY_TS_SPAN    256

/* Raw frames visited per event, counting skipped ones (CSTACK, incomplete). */
#define TM_PY_WALK_MAX   128

/* tm_py_cfg.flags: how this interpreter's frames look. */
enum tm_py_cfg_flags {
	TM_PYCFG_IFRAME      = 1u << 0,  /* 3.11+: _PyInterpreterFrame chain (owner, instruction pointer) */
	TM_PYCFG_CFRAME      = 1u << 1,  /* 3.11/3.12: tstate->cframe->current_frame */
	TM_PYCFG_LASTI_BYTES = 1u << 2,  /* 3.8/3.9: int f_lasti counts bytes, not code units */
	TM_PYCFG_IS_ENTRY    = 1u << 3,  /* 3.11: bool is_entry marks an activation's first frame */
	TM_PYCFG_CSTACK      = 1u << 4,  /* 3.12+: owner == owner_cstack frames separate activations */
	TM_PYCFG_QUALNAME    = 1u << 5,  /* 3.11+: co_name points at co_qualname */
	TM_PYCFG_GEN_INTERP  = 1u << 6,  /* code_gen is an offset into tstate->interp, not an address */
};

/*
 * One traced Python process. Addresses are runtime addresses in the target;
 * offsets are bytes from the start of the named object. 0 in an offset
 * field that the flags do not call for means "unused".
 */
struct tm_py_cfg {
	__u32 version;          /* PY_VERSION_HEX of the interpreter (at least major.minor) */
	__u32 flags;            /* enum tm_py_cfg_flags */
	__u64 runtime;          /* &_PyRuntime */
	__u64 code_type;        /* &PyCode_Type: a frame's code object must have this ob_type */
	__u64 tss_key;          /* &autoTSSkey: Py_tss_t {int _is_initialized; pthread_key_t _key;} */

	/*
	 * glibc's pthread_getspecific(), x86-64: the thread pointer (fsbase) is
	 * the struct pthread. Keys below tsd_per_block live in
	 * tp + tsd_first + key * tsd_stride; the rest in the second-level array
	 * at tp + tsd_second, one pointer per block of tsd_per_block entries.
	 * The value sits at + tsd_data inside an entry.
	 */
	__u16 tsd_first;        /* offsetof(struct pthread, specific_1stblock): 0x310 */
	__u16 tsd_second;       /* offsetof(struct pthread, specific): 0x510 */
	__u16 tsd_stride;       /* sizeof(struct pthread_key_data): 16 */
	__u16 tsd_data;         /* offsetof(struct pthread_key_data, data): 8 */
	__u16 tsd_per_block;    /* PTHREAD_KEY_2NDLEVEL_SIZE: 32 */
	__u16 tsd_max_keys;     /* PTHREAD_KEYS_MAX: 1024 */

	/* PyThreadState */
	__u16 ts_frame;         /* frame (<=3.10), cframe (3.11/3.12), current_frame (3.13) */
	__u16 cf_current_frame; /* _PyCFrame.current_frame (TM_PYCFG_CFRAME) */

	/* PyFrameObject (<=3.10) or _PyInterpreterFrame (3.11+) */
	__u16 fr_span;          /* bytes read per frame, from offset 0; <= TM_PY_FRAME_SPAN */
	__u16 fr_back;          /* f_back / previous */
	__u16 fr_code;          /* f_code / f_executable */
	__u16 fr_lasti;         /* int f_lasti (<=3.10); prev_instr / instr_ptr (3.11+) */
	__u16 fr_owner;         /* char owner (TM_PYCFG_IFRAME) */
	__u16 fr_is_entry;      /* bool is_entry (TM_PYCFG_IS_ENTRY) */

	/* PyCodeObject */
	__u16 co_span;          /* bytes read per code object, from offset 0; <= TM_PY_CODE_SPAN */
	__u16 ob_type;          /* PyObject.ob_type */
	__u16 co_firstlineno;   /* int */
	__u16 co_filename;      /* PyUnicodeObject * */
	__u16 co_name;          /* co_qualname (TM_PYCFG_QUALNAME) or co_name */
	__u16 co_lines;         /* co_lnotab (<=3.9) or co_linetable: PyBytesObject * */
	__u16 co_code;          /* 3.11+: co_code_adaptive, the instruction array inside the object */
	__u16 co_firsttraceable; /* 3.11+: int _co_firsttraceable */

	/* PyBytesObject, PyASCIIObject / PyCompactUnicodeObject */
	__u16 bytes_size;       /* ob_size */
	__u16 bytes_data;       /* ob_sval */
	__u16 str_length;       /* length in code points */
	__u16 str_state;        /* the state bit field, read as a u32 */
	__u16 str_ascii_data;   /* sizeof(PyASCIIObject): compact ASCII data */
	__u16 str_compact_data; /* sizeof(PyCompactUnicodeObject): compact non-ASCII data */
	__u32 str_kind_mask;    /* 0x1c: kind = (state & mask) >> str_kind_shift */
	__u32 str_compact_mask; /* 0x20 */
	__u32 str_ascii_mask;   /* 0x40 */
	__u8 str_kind_shift;    /* 2 */

	/* enum _frameowner */
	__u8 owner_generator;   /* FRAME_OWNED_BY_GENERATOR: 1 */
	__u8 owner_cstack;      /* FRAME_OWNED_BY_CSTACK: 3 (TM_PYCFG_CSTACK) */

	/*
	 * Set by BPF when the code_gen counter contradicted a code object (a
	 * co_version not below it): the counter is not where the cfg says, so
	 * the walker stops trusting it. User space stores 0.
	 */
	__u8 code_gen_bad;
	/*
	 * Written by BPF: the pthread key + 1, cached once CPython created the
	 * key (it never changes while the interpreter lives). One aligned
	 * store, so readers see 0 or the whole value. User space stores 0.
	 */
	__u32 tss_key1;
	/*
	 * pymalloc's arenas: their size, and the span the interpreter's ELF is
	 * mapped at (an arena's mmap returns into it). With
	 * --trace-python-allocators arenas are not memory of their own: the
	 * objects in them are counted at PyObject_Malloc & co.
	 */
	__u32 arena_size;
	__u64 interp_lo;
	__u64 interp_hi;

	/*
	 * The interpreter's count of the code objects it has made (3.12:
	 * _Py_next_func_version; 3.13: interp->func_state.next_version; each new
	 * code object takes it as co_version and bumps it). Nothing can take a
	 * dead code object's address as a code object without bumping it, so
	 * while it holds still, what the walker learned about a code address
	 * stays true. 0: the interpreter has none (3.8-3.11) or it was not found
	 * (a stripped 3.12): the walker then trusts what it learned for one walk.
	 */
	__u64 code_gen;         /* address, or offset from the PyInterpreterState (TM_PYCFG_GEN_INTERP) */
	__u16 ts_interp;        /* PyThreadState.interp (TM_PYCFG_GEN_INTERP) */
	__u16 co_version;       /* PyCodeObject.co_version (3.12+): fingerprints, code_gen checks */
	__u16 ts_chunk;         /* 3.11+: PyThreadState.datastack_chunk; datastack_top follows */
	__u16 pad1;
	/*
	 * Unique per cfg user space writes: the walker's per-thread code cache
	 * is keyed by it, so nothing learned in a process image outlives it
	 * (task storage survives exec).
	 */
	__u32 cache_id;
	__u32 pad2;
};

_Static_assert(sizeof(struct tm_py_cfg) == 152, "tm_py_cfg layout");

/*
 * tm_py_frame.flags (include/tidemark_common.h). The low 8 bits describe
 * the frame; the high 24 bits hold a fingerprint of the code object so that
 * a code address reused by another function after the first one died does
 * not share names with it (see struct tm_py_code_key).
 */
enum tm_py_frame_flags {
	/*
	 * The oldest Python frame of one C-level activation of the eval loop
	 * (_PyEval_EvalFrameDefault). In a native stack each eval activation
	 * stands for the Python frames from the previous TM_PYF_ENTRY frame
	 * (exclusive) to this one (inclusive). Every frame on 3.8-3.10.
	 */
	TM_PYF_ENTRY = 1u << 0,
	/* A generator or coroutine frame (3.11+, owner == generator). */
	TM_PYF_GENERATOR = 1u << 1,
};

/*
 * The fingerprint: 3.12+ the low 24 bits of co_version, which CPython
 * numbers its code objects by, so that code objects made fewer than 2^24
 * apart never share one. Before, a hash of co_firstlineno and the name and
 * file name pointers: a new function at a dead one's address whose name
 * and file name strings also took the dead ones' addresses, on the same
 * first line, would share it.
 */
#define TM_PYF_FP_SHIFT 8
#define TM_PYF_FP_MASK  0xffffffu
#define TM_PYF_FP(flags) ((flags) >> TM_PYF_FP_SHIFT)

/* Captured bytes per code object (first sight, in BPF). */
#define TM_PY_NAME_MAX  128     /* raw string bytes: 128 ASCII chars, 32 UCS-4 chars */
#define TM_PY_FILE_MAX  256
#define TM_PY_LINES_MAX 2048    /* line table bytes; longer tables are cut */

struct tm_py_code_key {
	__u32 tgid;
	__u32 fp;               /* TM_PYF_FP(frame.flags) */
	__u64 code;             /* PyCodeObject address */
};

enum tm_py_code_flags {
	TM_PYC_NAME_CUT  = 1u << 0,  /* name longer than TM_PY_NAME_MAX bytes */
	TM_PYC_FILE_CUT  = 1u << 1,
	TM_PYC_LINES_CUT = 1u << 2,  /* lines_got < lines_len */
	TM_PYC_NAME_BAD  = 1u << 3,  /* unreadable or not a compact string */
	TM_PYC_FILE_BAD  = 1u << 4,
	TM_PYC_LINES_BAD = 1u << 5,
};

/*
 * A code object's names and line table, copied by BPF the first time a
 * stack containing it is interned. Strings are raw CPython storage:
 * kind 1 = Latin-1, 2 = UCS-2, 4 = UCS-4, little endian; user space
 * converts to UTF-8.
 */
struct tm_py_code {
	__u32 version;          /* cfg.version: how to decode `lines` */
	__s32 firstlineno;
	__u32 lines_len;        /* full length of the line table */
	__u16 lines_got;        /* bytes in lines[] */
	__u16 name_got;         /* bytes in name[] */
	__u16 file_got;         /* bytes in file[] */
	__u8 name_kind;
	__u8 file_kind;
	__u32 flags;            /* enum tm_py_code_flags */
	__u8 name[TM_PY_NAME_MAX];
	__u8 file[TM_PY_FILE_MAX];
	__u8 lines[TM_PY_LINES_MAX];
};

_Static_assert(sizeof(struct tm_py_code_key) == 16, "tm_py_code_key layout");
_Static_assert(sizeof(struct tm_py_code) == 24 + TM_PY_NAME_MAX + TM_PY_FILE_MAX + TM_PY_LINES_MAX,
	       "tm_py_code layout");

#endif /* TIDEMARK_PYTHON_COMMON_H */
