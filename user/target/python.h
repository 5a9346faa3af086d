/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * python.h: CPython 3.8-3.13 support in user space.
 *
 *   detection      tm_python__detect(): is this process CPython, where is its
 *                  runtime, which struct layout: a struct tm_py_cfg for the
 *                  BPF walker (map py_cfgs, key = tgid)
 *   line tables    tm_pyline__addr2line(): co_lnotab (3.8/3.9), co_linetable
 *                  (3.10) and the location table (3.11+)
 *   names          tm_python__resolve_frame(): a captured tm_py_frame to
 *                  function, file and line, from the py_codes map (filled in
 *                  BPF at first sight) or from the live process
 *   hybrid stacks  tm_python__merge(): Python frames in place of the
 *                  interpreter's eval-loop activations in a native stack
 *
 * All functions return 0 (or a count) or -errno.
 */
#ifndef TIDEMARK_PYTHON_H
#define TIDEMARK_PYTHON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tidemark_common.h"
#include "python_common.h"

/*
 * Find a CPython interpreter in @pid (a mapped libpython3.X.so, or an
 * executable that exports _PyRuntime) and fill @cfg for the BPF walker.
 * @desc (may be NULL) receives one human-readable line, e.g.
 * "CPython 3.11.7 in /usr/lib/libpython3.11.so.1.0".
 * Returns 0; -ENOENT when the process is not CPython (or not yet: retry after
 * it maps a new executable file); -EAGAIN when the interpreter is mapped but
 * its data is not yet (the dynamic loader is at work: retry shortly); -ENOTSUP for a CPython this build cannot
 * walk (version, free-threaded build), with the reason in @desc; other
 * -errno when /proc or the ELF file cannot be read.
 */
int tm_python__detect(pid_t pid, struct tm_py_cfg *cfg, char *desc, size_t desclen);

/* Where the interpreter lives, for probes on its allocator functions. */
struct tm_py_where {
	char path[4096];        /* the ELF holding _PyRuntime, as /proc/PID/maps names it */
	char open[4160];        /* a path that opens that file from here (tm_maps__entry_path) */
	unsigned int minor;     /* 3.minor */
};

/* tm_python__detect(), and also where the interpreter is (@where may be NULL). */
int tm_python__detect_ex(pid_t pid, struct tm_py_cfg *cfg, struct tm_py_where *where, char *desc,
			 size_t desclen);

/*
 * The source line of instruction @idx (in 2-byte code units) of a code object
 * whose line table is @table (co_lnotab for 3.8/3.9, co_linetable for 3.10+)
 * and whose co_firstlineno is @firstlineno. @version is PY_VERSION_HEX style
 * (TM_PY_VERSION(3, 11)); only major.minor matter.
 * Returns the line (>= 0), -1 when the instruction has no line (or lies past
 * the table), -EINVAL for an unsupported version.
 */
int tm_pyline__addr2line(unsigned int version, const uint8_t *table, size_t len, int firstlineno,
			 uint32_t idx);

/* What a Python frame resolves to. Strings are UTF-8, "" when unknown. */
struct tm_py_sym {
	char function[256];     /* co_qualname (3.11+), co_name before */
	char file[1024];        /* co_filename */
	int line;               /* -1 when unknown */
	uint32_t flags;         /* enum tm_py_sym_flags */
};

enum tm_py_sym_flags {
	TM_PYSYM_FROM_MAP  = 1u << 0,   /* from py_codes (captured in BPF) */
	TM_PYSYM_FROM_LIVE = 1u << 1,   /* read from the live process */
	TM_PYSYM_CUT       = 1u << 2,   /* a name was cut at the capture limit */
};

/*
 * Where the code objects BPF captured are kept (the py_codes map, in
 * trace/): fill @rec for @key and return 0, or return non-zero. A callback,
 * so that this module needs no libbpf.
 */
typedef int (*tm_py_code_lookup_fn)(void *ctx, const struct tm_py_code_key *key, struct tm_py_code *rec);

/*
 * Name and line of @frame (a tm_stack.py[] entry of process @tgid). Looks the
 * code object up with @lookup (skipped if NULL); failing that, reads it from
 * the live process with @cfg (skipped if NULL).
 * Returns 0, or -ENOENT when neither source knows the code object.
 */
int tm_python__resolve_frame(tm_py_code_lookup_fn lookup, void *ctx, const struct tm_py_cfg *cfg,
			     uint32_t tgid, const struct tm_py_frame *frame, struct tm_py_sym *out);

/* The same, from a py_codes record already in hand. Pure: no I/O. */
int tm_python__symbolize(const struct tm_py_code *rec, uint32_t lasti, struct tm_py_sym *out);

/*
 * Read code object @code of process @pid as BPF would have recorded it
 * (names and at most TM_PY_LINES_MAX bytes of line table): a fallback for
 * code objects py_codes does not hold. Returns 0, -EFAULT, -EINVAL.
 */
int tm_python__read_code(pid_t pid, const struct tm_py_cfg *cfg, uint64_t code, struct tm_py_code *rec);

/* One frame of a hybrid stack: native[index] or py[index]. */
struct tm_hybrid_frame {
	uint32_t kind;          /* enum tm_frame_kind (profile.h): 0 native, 1 Python */
	uint32_t index;
};

/* What a native frame of a hybrid stack is, for tm_python__merge(). */
enum tm_native_class {
	TM_NATIVE_OTHER = 0,    /* anything else: the program, a C extension, libc */
	TM_NATIVE_EVAL = 1,     /* in the eval loop (_PyEval_EvalFrameDefault, its .cold part) */
	TM_NATIVE_INTERP = 2,   /* elsewhere in the interpreter's ELF (libpython3.X.so, a static python) */
};

enum tm_merge_flags {
	/*
	 * Leave out the interpreter's own frames (TM_NATIVE_INTERP) that lie
	 * between two Python frames: call machinery such as
	 * _PyFunction_Vectorcall. Those below the innermost Python frame (what
	 * allocated: PyBytes_FromStringAndSize) and above the outermost stay.
	 */
	TM_MERGE_FOLD_INTERP = 1u << 0,
};

/*
 * Merge a native stack and a Python stack, both innermost first. @cls[i]
 * classifies native[i] (enum tm_native_class). Each eval activation,
 * innermost first, is replaced by its Python frames: those up to and
 * including the next frame flagged TM_PYF_ENTRY. When the number of eval
 * activations differs from the number of TM_PYF_ENTRY frames (stripped or
 * inlined eval loop, a frame caught half pushed), falls back to: native
 * frames before the first eval frame, then all Python frames, and sets
 * *fallback = 1. Python frames past the last entry frame (an activation
 * cut off at TM_MAX_PY frames; every frame when the native stack shows no
 * eval activation) come after the native frames. @flags: enum tm_merge_flags.
 * Writes at most @out_max entries to @out and returns how many, or -EINVAL,
 * -ENOMEM.
 */
int tm_python__merge(const uint8_t *cls, size_t n_native, const struct tm_py_frame *py, size_t n_py,
		     unsigned int flags, struct tm_hybrid_frame *out, size_t out_max, int *fallback);

#endif /* TIDEMARK_PYTHON_H */
