// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * python.c: find CPython in a process and describe it to the BPF walker;
 * decode line tables; name captured frames; merge hybrid stacks.
 *
 * Layouts. 3.8-3.12 come from one table below (struct py_layout), measured
 * with offsetof() against each version's own headers; the check in
 * tests/python_offsets/ recompiles that measurement and compares it with
 * what tm_python__detect() produces, field by field. 3.13 publishes its
 * layout in the process itself (_Py_DebugOffsets at the start of
 * _PyRuntime); we read that and take from the table only what it lacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "profile/profile.h"
#include "target/python.h"
#include "util/path.h"
#include "target/elf.h"
#include "target/maps.h"

/* ---- layouts ------------------------------------------------------------ */

/* Everything the walker needs that differs between minors. */
struct py_layout {
	unsigned int minor;
	uint32_t flags;                 /* enum tm_py_cfg_flags */
	uint16_t rt_tss_key;            /* _PyRuntimeState.[gilstate.]autoTSSkey */
	uint16_t ts_frame;              /* PyThreadState.frame / cframe / current_frame */
	uint16_t ts_chunk;              /* PyThreadState.datastack_chunk (3.11+) */
	uint16_t cf_current_frame;      /* _PyCFrame.current_frame */
	uint16_t fr_back;               /* f_back / previous */
	uint16_t fr_code;               /* f_code / f_executable */
	uint16_t fr_lasti;              /* f_lasti / prev_instr / instr_ptr */
	uint16_t fr_owner;
	uint16_t fr_is_entry;
	uint16_t co_firstlineno;
	uint16_t co_filename;
	uint16_t co_name;               /* co_qualname from 3.11 */
	uint16_t co_lines;              /* co_lnotab / co_linetable */
	uint16_t co_code;               /* co_code_adaptive (3.11+) */
	uint16_t co_firsttraceable;
	uint16_t co_version;            /* 3.12+ */
	uint32_t interp_code_gen;       /* 3.13: PyInterpreterState.func_state.next_version */
	uint16_t str_ascii_data;        /* sizeof(PyASCIIObject) */
	uint16_t str_compact_data;      /* sizeof(PyCompactUnicodeObject) */
	uint8_t owner_generator;
	uint8_t owner_cstack;
};

#define IFR  TM_PYCFG_IFRAME
#define CFR  TM_PYCFG_CFRAME
#define QN   TM_PYCFG_QUALNAME

/*
 * x86-64, default (GIL, release) builds. For 3.13 only what
 * _Py_DebugOffsets lacks is used: rt_tss_key, co_firsttraceable, co_version,
 * interp_code_gen, the owner values, str_compact_data, and the flags.
 */
static const struct py_layout py_layouts[] = {
	{ .minor = 8, .flags = TM_PYCFG_LASTI_BYTES, .rt_tss_key = 1392, .ts_frame = 24,
	  .fr_back = 24, .fr_code = 32, .fr_lasti = 104,
	  .co_firstlineno = 40, .co_filename = 104, .co_name = 112, .co_lines = 120,
	  .str_ascii_data = 48, .str_compact_data = 72 },
	{ .minor = 9, .flags = TM_PYCFG_LASTI_BYTES, .rt_tss_key = 584, .ts_frame = 24,
	  .fr_back = 24, .fr_code = 32, .fr_lasti = 104,
	  .co_firstlineno = 40, .co_filename = 104, .co_name = 112, .co_lines = 120,
	  .str_ascii_data = 48, .str_compact_data = 72 },
	{ .minor = 10, .flags = 0, .rt_tss_key = 584, .ts_frame = 24,
	  .fr_back = 24, .fr_code = 32, .fr_lasti = 96,
	  .co_firstlineno = 40, .co_filename = 104, .co_name = 112, .co_lines = 120,
	  .str_ascii_data = 48, .str_compact_data = 72 },
	{ .minor = 11, .flags = IFR | CFR | QN | TM_PYCFG_IS_ENTRY, .rt_tss_key = 592,
	  .ts_frame = 56, .cf_current_frame = 8, .ts_chunk = 296,
	  .fr_back = 48, .fr_code = 32, .fr_lasti = 56, .fr_owner = 69, .fr_is_entry = 68,
	  .co_firstlineno = 72, .co_filename = 112, .co_name = 128, .co_lines = 136,
	  .co_code = 184, .co_firsttraceable = 168,
	  .str_ascii_data = 48, .str_compact_data = 72, .owner_generator = 1 },
	{ .minor = 12, .flags = IFR | CFR | QN | TM_PYCFG_CSTACK, .rt_tss_key = 1544,
	  .ts_frame = 56, .cf_current_frame = 0, .ts_chunk = 232,
	  .fr_back = 8, .fr_code = 0, .fr_lasti = 56, .fr_owner = 70,
	  .co_firstlineno = 68, .co_filename = 112, .co_name = 128, .co_lines = 136,
	  .co_code = 192, .co_firsttraceable = 176, .co_version = 92,
	  .str_ascii_data = 40, .str_compact_data = 56, .owner_generator = 1, .owner_cstack = 3 },
	{ .minor = 13, .flags = IFR | QN | TM_PYCFG_CSTACK | TM_PYCFG_GEN_INTERP, .rt_tss_key = 2160,
	  .co_firsttraceable = 184, .co_version = 92, .interp_code_gen = 17000,
	  .str_compact_data = 56, .owner_generator = 1, .owner_cstack = 3 },
};

#undef IFR
#undef CFR
#undef QN

/* Same in every supported version. */
#define PY_OB_TYPE          8
#define PY_BYTES_SIZE       16
#define PY_BYTES_DATA       32
#define PY_STR_LENGTH       16
#define PY_STR_STATE        32
#define PY_STR_KIND_MASK    0x1c
#define PY_STR_KIND_SHIFT   2
#define PY_STR_COMPACT_MASK 0x20
#define PY_STR_ASCII_MASK   0x40
#define PY_TSS_KEY_FIELD    4           /* Py_tss_t._key */

/* CPython 3.13's _Py_DebugOffsets (Include/internal/pycore_runtime.h): all uint64_t. */
struct py_debug_offsets_313 {
	char cookie[8];                 /* "xdebugpy" */
	uint64_t version;
	uint64_t free_threaded;
	struct { uint64_t size, finalizing, interpreters_head; } runtime_state;
	struct {
		uint64_t size, id, next, threads_head, gc, imports_modules, sysdict, builtins,
			 ceval_gil, gil_runtime_state, gil_runtime_state_enabled,
			 gil_runtime_state_locked, gil_runtime_state_holder;
	} interpreter_state;
	struct {
		uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id,
			 datastack_chunk, status;
	} thread_state;
	struct { uint64_t size, previous, executable, instr_ptr, localsplus, owner; } interpreter_frame;
	struct {
		uint64_t size, filename, name, qualname, linetable, firstlineno, argcount,
			 localsplusnames, localspluskinds, co_code_adaptive;
	} code_object;
	struct { uint64_t size, ob_type; } pyobject;
	struct { uint64_t size, tp_name, tp_repr, tp_flags; } type_object;
	struct { uint64_t size, ob_item, ob_size; } tuple_object;
	struct { uint64_t size, ob_item, ob_size; } list_object;
	struct { uint64_t size, ma_keys, ma_values; } dict_object;
	struct { uint64_t size, ob_fval; } float_object;
	struct { uint64_t size, lv_tag, ob_digit; } long_object;
	struct { uint64_t size, ob_size, ob_sval; } bytes_object;
	struct { uint64_t size, state, length, asciiobject_size; } unicode_object;
	struct { uint64_t size, collecting; } gc;
};

_Static_assert(sizeof(struct py_debug_offsets_313) == 584, "3.13 _Py_DebugOffsets");

static const struct py_layout *py_layout_find(unsigned int minor)
{
	size_t i;

	for (i = 0; i < sizeof(py_layouts) / sizeof(py_layouts[0]); i++)
		if (py_layouts[i].minor == minor)
			return &py_layouts[i];
	return NULL;
}

/* ---- target memory and ELF ---------------------------------------------- */

static int py_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	ssize_t got;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = pread(fd, buf, len, (off_t)addr);
	if (got < 0)
		err = -errno;
	else if ((size_t)got != len)
		err = -EFAULT;
	close(fd);
	return err == -EIO ? -EFAULT : err;
}

/* The file CPython or glibc lives in, as the walker can use it: 64-bit x86 ELF. */
static int py_elf_open(const char *path, struct tm_elf *e)
{
	int err = tm_elf__open(path, e);

	if (err)
		return err;
	if (e->ehdr.e_ident[EI_CLASS] != ELFCLASS64 || e->ehdr.e_machine != EM_X86_64) {
		tm_elf__close(e);
		return -ENOEXEC;
	}
	return 0;
}

/* A function's or object's link-time address. */
static int py_elf_sym(const struct tm_elf *e, const char *name, uint64_t *value)
{
	return tm_elf__lookup(e, name, TM_ELF_SYM_FUNC | TM_ELF_SYM_DATA, value, NULL, NULL);
}

/* ---- /proc/PID/maps ------------------------------------------------------ */

/*
 * The lowest mapping of each file in @pid's maps, in address order; calls
 * @fn until it returns non-zero, and returns 0 then, else -ENOENT (or the
 * error reading the maps).
 */
static int py_each_file(pid_t pid, int (*fn)(pid_t, const struct tm_map_entry *, void *), void *arg)
{
	struct tm_maps maps = { 0 };
	size_t i, j;
	int err, ret = -ENOENT;

	err = tm_maps__read(pid, &maps);
	if (err)
		return err;
	for (i = 0; i < maps.nr && ret; i++) {
		const struct tm_map_entry *m = &maps.entries[i];

		if (m->path[0] != '/')
			continue;
		for (j = 0; j < i; j++)
			if (!strcmp(maps.entries[j].path, m->path))
				break;
		if (j == i && fn(pid, m, arg))
			ret = 0;
	}
	tm_maps__free(&maps);
	return ret;
}

/* Open a mapped file as the process sees it (mount namespace, chroot, deleted files). */
static int py_open_mapped(pid_t pid, const struct tm_map_entry *m, struct tm_elf *e, char *used,
			  size_t usedlen)
{
	char path[PATH_MAX + 64];
	int err;

	err = tm_maps__entry_path(pid, m, path, sizeof(path));
	if (!err && used)
		snprintf(used, usedlen, "%s", path);
	return err ? err : py_elf_open(path, e);
}

/* ---- glibc TSD layout ------------------------------------------------------ */

static void py_tsd_default(struct tm_py_cfg *cfg)
{
	/* glibc >= 2.27, x86-64: struct pthread.specific_1stblock / .specific */
	cfg->tsd_first = 0x310;
	cfg->tsd_stride = 16;
	cfg->tsd_data = 8;
	cfg->tsd_per_block = 32;
	cfg->tsd_second = 0x310 + 32 * 16;
	cfg->tsd_max_keys = 1024;
}

struct py_tsd_find {
	struct tm_py_cfg *cfg;
	int found;
};

/*
 * Learn the layout from the target's own pthread_getspecific(). glibc 2.27+
 * compiles its fast path (key < 32) to:
 *   cmp $0x1f,%edi; ja ...; mov %edi,%eax; add $N,%rax; shl $S,%rax;
 *   add %fs:0x10,%rax; mov D(%rax),%rdx
 * i.e. entry = self + (key + N) << S, value at +D.
 */
static int py_tsd_from_libc(pid_t pid, const struct tm_map_entry *m, void *arg)
{
	static const uint8_t fs_self[] = { 0x64, 0x48, 0x03, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00 };
	struct py_tsd_find *t = arg;
	const char *base = tm_basename(m->path);
	struct tm_elf e;
	uint64_t sym, off;
	uint8_t b[32];
	ssize_t got;
	unsigned int n, shift, data;

	if (strncmp(base, "libc.so", 7) && strncmp(base, "libc-", 5))
		return 0;
	if (py_open_mapped(pid, m, &e, NULL, 0))
		return 0;
	if (py_elf_sym(&e, "pthread_getspecific", &sym) || tm_elf__vaddr_to_off(&e, sym, &off)) {
		tm_elf__close(&e);
		return 0;
	}
	got = pread(e.fd, b, sizeof(b), (off_t)off);
	tm_elf__close(&e);
	if (got != (ssize_t)sizeof(b))
		return 0;
	if (b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa)     /* endbr64 */
		memmove(b, b + 4, sizeof(b) - 4);
	if (b[0] != 0x83 || b[1] != 0xff || b[3] != 0x77 || b[5] != 0x89 || b[6] != 0xf8 ||
	    b[7] != 0x48 || b[8] != 0x83 || b[9] != 0xc0 || b[11] != 0x48 || b[12] != 0xc1 ||
	    b[13] != 0xe0 || memcmp(b + 15, fs_self, sizeof(fs_self)) || b[24] != 0x48 ||
	    b[25] != 0x8b || b[26] != 0x50)
		return 1;       /* a libc, but not a layout we know: defaults */
	n = b[10];
	shift = b[14];
	data = b[27];
	if (shift > 6 || (uint64_t)n << shift > 0xffff)
		return 1;
	t->cfg->tsd_per_block = (uint16_t)(b[2] + 1);
	t->cfg->tsd_stride = (uint16_t)(1u << shift);
	t->cfg->tsd_first = (uint16_t)(n << shift);
	t->cfg->tsd_data = (uint16_t)data;
	t->cfg->tsd_second = (uint16_t)(t->cfg->tsd_first + t->cfg->tsd_per_block * t->cfg->tsd_stride);
	t->found = 1;
	return 1;
}

/* ---- detection ------------------------------------------------------------ */

struct py_found {
	uint64_t runtime, code_type, version_sym, bias;
	uint64_t code_gen_sym;          /* 3.12's _Py_next_func_version (in .symtab only), or 0 */
	unsigned int minor;             /* from the file name; 0 = unknown */
	char path[PATH_MAX];
	char open_path[PATH_MAX + 64]; /* where it was opened (tm_maps__entry_path) */
};

static unsigned int py_minor_from_name(const char *base)
{
	const char *p = strstr(base, "python3.");
	char *end;
	unsigned long v;

	if (!p)
		return 0;
	v = strtoul(p + 8, &end, 10);
	if (end == p + 8 || v > 99)
		return 0;
	return (unsigned int)v;
}

/* A libpython3.X.so, or the executable, exporting _PyRuntime and PyCode_Type. */
static int py_find_runtime(pid_t pid, const struct tm_map_entry *m, void *arg)
{
	struct py_found *fd = arg;
	const char *base = tm_basename(m->path);
	char exe[PATH_MAX], link[64];
	struct tm_elf e;
	uint64_t rt, ct, bias;
	ssize_t n;
	int is_exe = 0;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n > 0) {
		size_t dl = strlen(" (deleted)");

		exe[n] = 0;
		/* the link says " (deleted)" as the maps line did; tm_maps drops it */
		if ((m->flags & TM_MAP_DELETED) && (size_t)n > dl && !strcmp(exe + n - dl, " (deleted)"))
			exe[n - dl] = 0;
		is_exe = !strcmp(exe, m->path);
	}
	if (strncmp(base, "libpython3.", 11) && !is_exe)
		return 0;
	if (py_open_mapped(pid, m, &e, fd->open_path, sizeof(fd->open_path)))
		return 0;
	if (py_elf_sym(&e, "_PyRuntime", &rt) || py_elf_sym(&e, "PyCode_Type", &ct) ||
	    tm_elf__load_bias(&e, m->start, m->offset, &bias)) {
		tm_elf__close(&e);
		return 0;
	}
	if (e.ehdr.e_type == ET_EXEC)
		bias = 0;
	fd->runtime = bias + rt;
	fd->code_type = bias + ct;
	fd->bias = bias;
	if (!py_elf_sym(&e, "Py_Version", &fd->version_sym))
		fd->version_sym += bias;
	else
		fd->version_sym = 0;
	if (!py_elf_sym(&e, "_Py_next_func_version", &fd->code_gen_sym))
		fd->code_gen_sym += bias;
	else
		fd->code_gen_sym = 0;
	fd->minor = py_minor_from_name(base);
	if (!fd->minor && is_exe)
		fd->minor = py_minor_from_name(tm_basename(exe));
	snprintf(fd->path, sizeof(fd->path), "%s", m->path);
	tm_elf__close(&e);
	return 1;
}

/* Keys of the walker's per-thread code caches: one per cfg this process writes. */
static uint32_t py_cache_ids;

static void py_cfg_common(struct tm_py_cfg *cfg)
{
	cfg->ob_type = PY_OB_TYPE;
	cfg->bytes_size = PY_BYTES_SIZE;
	cfg->bytes_data = PY_BYTES_DATA;
	cfg->str_length = PY_STR_LENGTH;
	cfg->str_state = PY_STR_STATE;
	cfg->str_kind_mask = PY_STR_KIND_MASK;
	cfg->str_kind_shift = PY_STR_KIND_SHIFT;
	cfg->str_compact_mask = PY_STR_COMPACT_MASK;
	cfg->str_ascii_mask = PY_STR_ASCII_MASK;
}

static void py_cfg_from_layout(struct tm_py_cfg *cfg, const struct py_layout *l)
{
	cfg->flags = l->flags;
	cfg->tss_key = cfg->runtime + l->rt_tss_key;
	cfg->ts_frame = l->ts_frame;
	cfg->ts_chunk = l->ts_chunk;
	cfg->cf_current_frame = l->cf_current_frame;
	cfg->fr_back = l->fr_back;
	cfg->fr_code = l->fr_code;
	cfg->fr_lasti = l->fr_lasti;
	cfg->fr_owner = l->fr_owner;
	cfg->fr_is_entry = l->fr_is_entry;
	cfg->co_firstlineno = l->co_firstlineno;
	cfg->co_filename = l->co_filename;
	cfg->co_name = l->co_name;
	cfg->co_lines = l->co_lines;
	cfg->co_code = l->co_code;
	cfg->co_firsttraceable = l->co_firsttraceable;
	cfg->co_version = l->co_version;
	cfg->str_ascii_data = l->str_ascii_data;
	cfg->str_compact_data = l->str_compact_data;
	cfg->owner_generator = l->owner_generator;
	cfg->owner_cstack = l->owner_cstack;
}

static int py_u16(uint64_t v, uint16_t *out)
{
	if (v > 0xffff)
		return -ERANGE;
	*out = (uint16_t)v;
	return 0;
}

/* 3.13: the layout the process publishes, plus the residual table. */
static int py_cfg_from_debug_offsets(pid_t pid, struct tm_py_cfg *cfg, const struct py_layout *l,
				     char *why, size_t whylen)
{
	struct py_debug_offsets_313 d;
	int err;

	/*
	 * Unreadable or without its cookie: the dynamic loader has mapped the
	 * library's code but not yet its data (a `run` child is held at each new
	 * executable mapping). Not an error yet: the caller tries again later.
	 */
	err = py_read_mem(pid, cfg->runtime, &d, sizeof(d));
	if (err || memcmp(d.cookie, "xdebugpy", 8)) {
		snprintf(why, whylen, "no _Py_DebugOffsets for version 0x%x", cfg->version);
		return -EAGAIN;
	}
	if ((d.version >> 16) != (cfg->version >> 16)) {
		snprintf(why, whylen, "_Py_DebugOffsets for version 0x%x, not 0x%x",
			 (unsigned int)d.version, cfg->version);
		return -ENOTSUP;
	}
	if (d.free_threaded) {
		snprintf(why, whylen, "free-threaded build");
		return -ENOTSUP;
	}
	py_cfg_from_layout(cfg, l);
	cfg->version = (uint32_t)d.version;
	err = py_u16(d.thread_state.current_frame, &cfg->ts_frame);
	err = err ?: py_u16(d.thread_state.interp, &cfg->ts_interp);
	err = err ?: py_u16(d.thread_state.datastack_chunk, &cfg->ts_chunk);
	err = err ?: py_u16(d.interpreter_frame.previous, &cfg->fr_back);
	err = err ?: py_u16(d.interpreter_frame.executable, &cfg->fr_code);
	err = err ?: py_u16(d.interpreter_frame.instr_ptr, &cfg->fr_lasti);
	err = err ?: py_u16(d.interpreter_frame.owner, &cfg->fr_owner);
	err = err ?: py_u16(d.code_object.firstlineno, &cfg->co_firstlineno);
	err = err ?: py_u16(d.code_object.filename, &cfg->co_filename);
	err = err ?: py_u16(d.code_object.qualname, &cfg->co_name);
	err = err ?: py_u16(d.code_object.linetable, &cfg->co_lines);
	err = err ?: py_u16(d.code_object.co_code_adaptive, &cfg->co_code);
	err = err ?: py_u16(d.pyobject.ob_type, &cfg->ob_type);
	err = err ?: py_u16(d.bytes_object.ob_size, &cfg->bytes_size);
	err = err ?: py_u16(d.bytes_object.ob_sval, &cfg->bytes_data);
	err = err ?: py_u16(d.unicode_object.length, &cfg->str_length);
	err = err ?: py_u16(d.unicode_object.state, &cfg->str_state);
	err = err ?: py_u16(d.unicode_object.asciiobject_size, &cfg->str_ascii_data);
	if (err) {
		snprintf(why, whylen, "implausible _Py_DebugOffsets");
		return -ENOTSUP;
	}
	/* PyUnicodeObject is the compact header plus one data pointer. */
	if (d.unicode_object.size != (uint64_t)l->str_compact_data + 8)
		pr_warn("python: pid %d: PyUnicodeObject is %llu bytes, expected %u: non-ASCII names may be wrong\n",
			(int)pid, (unsigned long long)d.unicode_object.size, l->str_compact_data + 8u);
	return 0;
}

static uint16_t py_max_end(uint16_t a, uint32_t off, uint32_t size)
{
	return off + size > a ? (uint16_t)(off + size) : a;
}

/* Bytes of PyThreadState the walker reads at once: what it needs, lowest to highest. */
static uint32_t py_ts_span(const struct tm_py_cfg *cfg)
{
	uint32_t lo = cfg->ts_frame, hi = cfg->ts_frame + 8u;

	if (cfg->flags & TM_PYCFG_GEN_INTERP) {
		lo = cfg->ts_interp < lo ? cfg->ts_interp : lo;
		hi = cfg->ts_interp + 8u > hi ? cfg->ts_interp + 8u : hi;
	}
	if (cfg->ts_chunk) {
		lo = cfg->ts_chunk < lo ? cfg->ts_chunk : lo;
		hi = cfg->ts_chunk + 16u > hi ? cfg->ts_chunk + 16u : hi;
	}
	return hi - lo;
}

/* Bytes the walker must read from a frame and a code object. */
static int py_cfg_spans(struct tm_py_cfg *cfg)
{
	uint16_t fr = 0, co = 0;

	fr = py_max_end(fr, cfg->fr_back, 8);
	fr = py_max_end(fr, cfg->fr_code, 8);
	if (cfg->flags & TM_PYCFG_IFRAME) {
		fr = py_max_end(fr, cfg->fr_lasti, 8);
		fr = py_max_end(fr, cfg->fr_owner, 1);
	} else {
		fr = py_max_end(fr, cfg->fr_lasti, 4);
	}
	if (cfg->flags & TM_PYCFG_IS_ENTRY)
		fr = py_max_end(fr, cfg->fr_is_entry, 1);
	co = py_max_end(co, cfg->ob_type, 8);
	co = py_max_end(co, cfg->co_firstlineno, 4);
	co = py_max_end(co, cfg->co_filename, 8);
	co = py_max_end(co, cfg->co_name, 8);
	co = py_max_end(co, cfg->co_lines, 8);
	if (cfg->flags & TM_PYCFG_IFRAME)
		co = py_max_end(co, cfg->co_firsttraceable, 4);
	if (cfg->co_version)
		co = py_max_end(co, cfg->co_version, 4);
	if (fr > TM_PY_FRAME_SPAN || co > TM_PY_CODE_SPAN || cfg->str_state + 4 > 64)
		return -ERANGE;
	if (py_ts_span(cfg) > TM_PY_TS_SPAN)
		return -ERANGE;
	cfg->fr_span = fr;
	cfg->co_span = co;
	return 0;
}

/* [lo, hi) of every mapping of @path in @pid. */
static int py_file_span(pid_t pid, const char *path, uint64_t *lo, uint64_t *hi)
{
	struct tm_maps maps = { 0 };
	size_t i;
	int err;

	*lo = *hi = 0;
	err = tm_maps__read(pid, &maps);
	if (err)
		return err;
	for (i = 0; i < maps.nr; i++) {
		const struct tm_map_entry *m = &maps.entries[i];

		if (strcmp(m->path, path))
			continue;
		if (!*lo || m->start < *lo)
			*lo = m->start;
		if (m->end > *hi)
			*hi = m->end;
	}
	tm_maps__free(&maps);
	return *lo ? 0 : -ENOENT;
}

int tm_python__detect(pid_t pid, struct tm_py_cfg *cfg, char *desc, size_t desclen)
{
	return tm_python__detect_ex(pid, cfg, NULL, desc, desclen);
}

int tm_python__detect_ex(pid_t pid, struct tm_py_cfg *cfg, struct tm_py_where *where, char *desc,
			 size_t desclen)
{
	struct py_found found = {};
	struct py_tsd_find tsd = { .cfg = cfg };
	const struct py_layout *l;
	char why[128] = "";
	uint32_t hex = 0;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	if (desc && desclen)
		desc[0] = 0;
	err = py_each_file(pid, py_find_runtime, &found);
	if (err)
		return err;
	if (!found.runtime)
		return -ENOENT;

	if (found.version_sym && !py_read_mem(pid, found.version_sym, &hex, sizeof(hex)) &&
	    (hex >> 24) == 3)
		found.minor = (hex >> 16) & 0xff;
	else
		hex = 0;
	if (!found.minor) {
		snprintf(why, sizeof(why), "cannot tell the version");
		err = -ENOTSUP;
		goto out;
	}
	l = py_layout_find(found.minor);
	if (!l) {
		snprintf(why, sizeof(why), "version 3.%u is not supported (3.8-3.13 are)", found.minor);
		err = -ENOTSUP;
		goto out;
	}
	cfg->version = hex ? hex : (uint32_t)TM_PY_VERSION(3, found.minor);
	cfg->runtime = found.runtime;
	cfg->code_type = found.code_type;
	py_cfg_common(cfg);
	if (found.minor >= 13) {
		err = py_cfg_from_debug_offsets(pid, cfg, l, why, sizeof(why));
		if (err)
			goto out;
	} else {
		py_cfg_from_layout(cfg, l);
	}
	cfg->tss_key = cfg->runtime + l->rt_tss_key;
	if (found.minor == 12 && l->co_version)
		cfg->code_gen = found.code_gen_sym;     /* 0 in a stripped build: no cross-event cache */
	else if (l->interp_code_gen && (cfg->flags & TM_PYCFG_GEN_INTERP))
		cfg->code_gen = l->interp_code_gen;
	cfg->cache_id = __atomic_add_fetch(&py_cache_ids, 1, __ATOMIC_RELAXED);
	err = py_cfg_spans(cfg);
	if (err) {
		snprintf(why, sizeof(why), "layout exceeds the walker's read window");
		goto out;
	}

	/* pymalloc's ARENA_SIZE: 256 KiB, 1 MiB from 3.10 (ARENA_BITS 20 with the radix tree) */
	cfg->arena_size = found.minor <= 9 ? 256u << 10 : 1u << 20;
	{
		uint64_t lo, hi;

		if (!py_file_span(pid, found.path, &lo, &hi)) {
			cfg->interp_lo = lo;
			cfg->interp_hi = hi;
		}
	}
	if (where) {
		snprintf(where->path, sizeof(where->path), "%s", found.path);
		snprintf(where->open, sizeof(where->open), "%s", found.open_path);
		where->minor = found.minor;
	}

	py_tsd_default(cfg);
	py_each_file(pid, py_tsd_from_libc, &tsd);
	if (!tsd.found)
		pr_debug("python: pid %d: pthread_getspecific not recognized, assuming glibc's layout\n",
			 (int)pid);
	err = 0;
out:
	if (desc && desclen) {
		char ver[32];

		if (cfg->version & 0xffff)
			snprintf(ver, sizeof(ver), "%u.%u.%u", cfg->version >> 24, (cfg->version >> 16) & 0xff,
				 (cfg->version >> 8) & 0xff);
		else
			snprintf(ver, sizeof(ver), "3.%u", found.minor);
		if (err)
			snprintf(desc, desclen, "CPython in %s: %s", found.path, why);
		else
			snprintf(desc, desclen, "CPython %s in %s (_PyRuntime 0x%llx, TSD 0x%x+%u*key%s, %s)", ver,
				 found.path, (unsigned long long)cfg->runtime, cfg->tsd_first, cfg->tsd_stride,
				 tsd.found ? "" : ", assumed",
				 cfg->code_gen ? "code objects cached across events" : "code objects read every event");
	}
	return err;
}

/* ---- line tables ------------------------------------------------------------ */

/*
 * Each decoder sets *exact when the answer did not depend on bytes past
 * @len, so a table cut at capture time is not trusted beyond its end.
 */

/*
 * Adds a delta read from the table to @line; a sum no source file has (the
 * table or co_firstlineno is corrupt) fails rather than overflowing.
 */
static int py_line_add(int *line, int64_t d)
{
	int64_t sum = (int64_t)*line + d;

	if (sum < -(1LL << 30) || sum > (1LL << 30))
		return -1;
	*line = (int)sum;
	return 0;
}

/* 3.8/3.9 co_lnotab: (bytecode delta, signed line delta) byte pairs. */
static int py_lnotab(const uint8_t *t, size_t len, int first, uint32_t off_bytes, int *exact)
{
	uint64_t addr = 0;
	int line = first;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		addr += t[i];
		if (addr > off_bytes) {
			*exact = 1;
			return line;
		}
		if (py_line_add(&line, (int8_t)t[i + 1]))
			break;
	}
	*exact = 0;
	return i + 1 < len ? -1 : line;
}

/* 3.10 co_linetable: (byte delta, signed line delta; -128 = no line) pairs. */
static int py_linetable310(const uint8_t *t, size_t len, int first, uint32_t off_bytes, int *exact)
{
	uint64_t end = 0;
	int line = first, cur;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		end += t[i];
		if (t[i + 1] == 0x80) {
			cur = -1;
		} else {
			if (py_line_add(&line, (int8_t)t[i + 1]))
				return -1;
			cur = line;
		}
		if (end > off_bytes) {
			*exact = 1;
			return cur;
		}
	}
	*exact = 0;
	return -1;
}

static int py_varint(const uint8_t *t, size_t len, size_t *i, uint32_t *v)
{
	uint32_t val, shift = 0;
	uint8_t b;

	if (*i >= len)
		return -1;
	b = t[(*i)++];
	val = b & 63;
	while (b & 64) {
		if (*i >= len || shift > 24)
			return -1;
		b = t[(*i)++];
		shift += 6;
		val |= (uint32_t)(b & 63) << shift;
	}
	*v = val;
	return 0;
}

static int py_svarint(const uint8_t *t, size_t len, size_t *i, int *v)
{
	uint32_t u;

	if (py_varint(t, len, i, &u))
		return -1;
	*v = (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
	return 0;
}

/*
 * 3.11+ location table: entries of one header byte 1cccclll (code c covers
 * l+1 code units) and a code-dependent payload. 15: no location (the line
 * stays for later entries); 14: long form (svarint line delta, then end
 * line, start and end column varints); 13: svarint line delta, no columns;
 * 10-12: line delta c-10, two column bytes; 0-9: same line, one byte.
 */
static int py_loctable(const uint8_t *t, size_t len, int first, uint32_t idx, int *exact)
{
	uint64_t addr = 0;
	int line = first, cur, d;
	size_t i = 0;
	uint32_t skip;

	*exact = 0;
	while (i < len) {
		uint8_t b = t[i++];
		unsigned int code = (b >> 3) & 15, n = (b & 7) + 1;

		if (!(b & 0x80))
			return -1;      /* not at an entry start: corrupt */
		if (code == 15) {
			cur = -1;
		} else if (code == 14) {
			if (py_svarint(t, len, &i, &d) || py_varint(t, len, &i, &skip) ||
			    py_varint(t, len, &i, &skip) || py_varint(t, len, &i, &skip) ||
			    py_line_add(&line, d))
				return -1;
			cur = line;
		} else if (code == 13) {
			if (py_svarint(t, len, &i, &d) || py_line_add(&line, d))
				return -1;
			cur = line;
		} else if (code >= 10) {
			if (py_line_add(&line, (int)code - 10))
				return -1;
			cur = line;
			i += 2;
		} else {
			cur = line;
			i += 1;
		}
		if (i > len)
			return -1;
		addr += n;
		if (addr > idx) {
			*exact = 1;
			return cur;
		}
	}
	return -1;
}

static int py_addr2line(unsigned int version, const uint8_t *t, size_t len, int first, uint32_t idx,
			int *exact)
{
	unsigned int minor = TM_PY_MINOR(version);
	int line;

	*exact = 0;
	if ((version >> 24) != 3 || minor < 8)
		return -EINVAL;
	if (minor <= 9)
		line = py_lnotab(t, len, first, idx > UINT32_MAX / 2 ? UINT32_MAX : idx * 2, exact);
	else if (minor == 10)
		line = py_linetable310(t, len, first, idx > UINT32_MAX / 2 ? UINT32_MAX : idx * 2, exact);
	else
		line = py_loctable(t, len, first, idx, exact);
	/* A target's co_firstlineno and deltas are its to choose: below 0 is no line, not an error code. */
	return line < 0 ? -1 : line;
}

int tm_pyline__addr2line(unsigned int version, const uint8_t *table, size_t len, int firstlineno,
			 uint32_t idx)
{
	int exact;

	if (!table && len)
		return -EINVAL;
	return py_addr2line(version, table, len, firstlineno, idx, &exact);
}

/* ---- names ------------------------------------------------------------------- */

/* CPython's compact string storage (kind 1, 2 or 4 bytes per char) to UTF-8. */
static int py_str_utf8(const uint8_t *s, size_t bytes, unsigned int kind, char *out, size_t outlen)
{
	size_t i, o = 0;

	if (!outlen)
		return -EINVAL;
	out[0] = 0;
	if (kind != 1 && kind != 2 && kind != 4)
		return -EINVAL;
	for (i = 0; i + kind <= bytes; i += kind) {
		uint32_t c = s[i];
		char buf[4];
		size_t n;

		if (kind >= 2)
			c |= (uint32_t)s[i + 1] << 8;
		if (kind == 4)
			c |= (uint32_t)s[i + 2] << 16 | (uint32_t)s[i + 3] << 24;
		if (c > 0x10ffff || (c >= 0xd800 && c < 0xe000))
			c = 0xfffd;
		if (c < 0x80) {
			buf[0] = (char)c;
			n = 1;
		} else if (c < 0x800) {
			buf[0] = (char)(0xc0 | c >> 6);
			buf[1] = (char)(0x80 | (c & 0x3f));
			n = 2;
		} else if (c < 0x10000) {
			buf[0] = (char)(0xe0 | c >> 12);
			buf[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			buf[2] = (char)(0x80 | (c & 0x3f));
			n = 3;
		} else {
			buf[0] = (char)(0xf0 | c >> 18);
			buf[1] = (char)(0x80 | ((c >> 12) & 0x3f));
			buf[2] = (char)(0x80 | ((c >> 6) & 0x3f));
			buf[3] = (char)(0x80 | (c & 0x3f));
			n = 4;
		}
		if (o + n >= outlen)
			break;
		memcpy(out + o, buf, n);
		o += n;
	}
	out[o] = 0;
	return 0;
}

int tm_python__symbolize(const struct tm_py_code *rec, uint32_t lasti, struct tm_py_sym *out)
{
	size_t nlen, flen, llen;
	int exact, line;

	memset(out, 0, sizeof(*out));
	out->line = -1;
	if (!rec)
		return -EINVAL;
	nlen = rec->name_got < TM_PY_NAME_MAX ? rec->name_got : TM_PY_NAME_MAX;
	flen = rec->file_got < TM_PY_FILE_MAX ? rec->file_got : TM_PY_FILE_MAX;
	llen = rec->lines_got < TM_PY_LINES_MAX ? rec->lines_got : TM_PY_LINES_MAX;
	if (!(rec->flags & TM_PYC_NAME_BAD))
		py_str_utf8(rec->name, nlen, rec->name_kind, out->function, sizeof(out->function));
	if (!(rec->flags & TM_PYC_FILE_BAD))
		py_str_utf8(rec->file, flen, rec->file_kind, out->file, sizeof(out->file));
	if (rec->flags & (TM_PYC_NAME_CUT | TM_PYC_FILE_CUT))
		out->flags |= TM_PYSYM_CUT;
	if (!(rec->flags & TM_PYC_LINES_BAD)) {
		line = py_addr2line(rec->version, rec->lines, llen, rec->firstlineno, lasti, &exact);
		/* Past the end of a cut table the answer is unknown, not the last line. */
		if (line >= 0 && (exact || !(rec->flags & TM_PYC_LINES_CUT)))
			out->line = line;
	}
	return 0;
}

/* Read a compact str the way the BPF side does. */
static int py_read_str(pid_t pid, const struct tm_py_cfg *cfg, uint64_t str, uint8_t *dst, size_t max,
		       uint16_t *got, uint8_t *kind, int *cut)
{
	uint8_t hdr[64];
	uint64_t length, data, bytes;
	uint32_t state, k;
	int err;

	*got = 0;
	*kind = 0;
	*cut = 0;
	if (!str || cfg->str_state + 4u > sizeof(hdr) || cfg->str_length + 8u > sizeof(hdr))
		return -EINVAL;
	err = py_read_mem(pid, str, hdr, cfg->str_state + 4u);
	if (err)
		return err;
	memcpy(&length, hdr + cfg->str_length, 8);
	memcpy(&state, hdr + cfg->str_state, 4);
	k = (state & cfg->str_kind_mask) >> cfg->str_kind_shift;
	if (k != 1 && k != 2 && k != 4)
		return -EINVAL;
	if (state & cfg->str_ascii_mask)
		data = str + cfg->str_ascii_data;
	else if (state & cfg->str_compact_mask)
		data = str + cfg->str_compact_data;
	else
		return -EINVAL;
	if (length > (1u << 20))
		return -EINVAL;
	bytes = length * k;
	if (bytes > max) {
		bytes = max - max % k;
		*cut = 1;
	}
	if (bytes) {
		err = py_read_mem(pid, data, dst, bytes);
		if (err)
			return err;
	}
	*got = (uint16_t)bytes;
	*kind = (uint8_t)k;
	return 0;
}

int tm_python__read_code(pid_t pid, const struct tm_py_cfg *cfg, uint64_t code, struct tm_py_code *rec)
{
	uint8_t co[TM_PY_CODE_SPAN];
	uint64_t type, name, file, lines, size;
	int32_t first;
	int err, cut;

	memset(rec, 0, sizeof(*rec));
	if (!cfg || !code || !cfg->co_span || cfg->co_span > sizeof(co))
		return -EINVAL;
	err = py_read_mem(pid, code, co, cfg->co_span);
	if (err)
		return err;
	memcpy(&type, co + cfg->ob_type, 8);
	if (type != cfg->code_type)
		return -EINVAL;
	memcpy(&first, co + cfg->co_firstlineno, 4);
	memcpy(&name, co + cfg->co_name, 8);
	memcpy(&file, co + cfg->co_filename, 8);
	memcpy(&lines, co + cfg->co_lines, 8);
	rec->version = cfg->version;
	rec->firstlineno = first;
	if (py_read_str(pid, cfg, name, rec->name, TM_PY_NAME_MAX, &rec->name_got, &rec->name_kind, &cut))
		rec->flags |= TM_PYC_NAME_BAD;
	if (cut)
		rec->flags |= TM_PYC_NAME_CUT;
	if (py_read_str(pid, cfg, file, rec->file, TM_PY_FILE_MAX, &rec->file_got, &rec->file_kind, &cut))
		rec->flags |= TM_PYC_FILE_BAD;
	if (cut)
		rec->flags |= TM_PYC_FILE_CUT;
	if (!lines || py_read_mem(pid, lines + cfg->bytes_size, &size, 8) || (int64_t)size < 0) {
		rec->flags |= TM_PYC_LINES_BAD;
		return 0;
	}
	rec->lines_len = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	if (size > TM_PY_LINES_MAX) {
		size = TM_PY_LINES_MAX;
		rec->flags |= TM_PYC_LINES_CUT;
	}
	if (size && py_read_mem(pid, lines + cfg->bytes_data, rec->lines, size))
		rec->flags |= TM_PYC_LINES_BAD;
	else
		rec->lines_got = (uint16_t)size;
	return 0;
}

int tm_python__resolve_frame(tm_py_code_lookup_fn lookup, void *ctx, const struct tm_py_cfg *cfg,
			     uint32_t tgid, const struct tm_py_frame *frame, struct tm_py_sym *out)
{
	struct tm_py_code_key key = {};
	struct tm_py_code *rec;
	int err = -ENOENT;

	memset(out, 0, sizeof(*out));
	out->line = -1;
	rec = malloc(sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	key.tgid = tgid;
	key.fp = TM_PYF_FP(frame->flags);
	key.code = frame->code;
	if (lookup && !lookup(ctx, &key, rec)) {
		err = tm_python__symbolize(rec, frame->lasti, out);
		out->flags |= TM_PYSYM_FROM_MAP;
	} else if (cfg && !tm_python__read_code((pid_t)tgid, cfg, frame->code, rec)) {
		err = tm_python__symbolize(rec, frame->lasti, out);
		out->flags |= TM_PYSYM_FROM_LIVE;
	}
	free(rec);
	return err;
}

/* ---- hybrid stacks ----------------------------------------------------------- */

/* The merge before folding: calls emit(k, index) in order, innermost first. */
#define MERGE_EMIT(k, idx) do { if (o < out_max) { out[o].kind = (k); out[o].index = (uint32_t)(idx); } o++; } while (0)

static size_t py_merge_all(const uint8_t *cls, size_t n_native, const struct tm_py_frame *py, size_t n_py,
			   struct tm_hybrid_frame *out, size_t out_max, int *fallback)
{
	size_t i, j = 0, o = 0, evals = 0, entries = 0, first_eval = n_native;

	for (i = 0; i < n_native; i++) {
		if (cls[i] == TM_NATIVE_EVAL) {
			if (first_eval == n_native)
				first_eval = i;
			evals++;
		}
	}
	for (i = 0; i < n_py; i++)
		if (py[i].flags & TM_PYF_ENTRY)
			entries++;
	if (evals != entries || !n_py) {
		if (fallback && n_py)
			*fallback = evals != entries;
		if (!n_py) {
			for (i = 0; i < n_native; i++)
				MERGE_EMIT(TM_FRAME_NATIVE, i);
		} else {
			for (i = 0; i < first_eval; i++)
				MERGE_EMIT(TM_FRAME_NATIVE, i);
			for (i = 0; i < n_py; i++)
				MERGE_EMIT(TM_FRAME_PYTHON, i);
		}
		return o;
	}
	for (i = 0; i < n_native; i++) {
		if (cls[i] != TM_NATIVE_EVAL) {
			MERGE_EMIT(TM_FRAME_NATIVE, i);
			continue;
		}
		/* This activation: Python frames through the next entry frame. */
		while (j < n_py) {
			int last = py[j].flags & TM_PYF_ENTRY;

			MERGE_EMIT(TM_FRAME_PYTHON, j);
			j++;
			if (last)
				break;
		}
	}
	/*
	 * Frames past the last entry frame: an activation whose entry frame
	 * was cut off (a stack deeper than TM_MAX_PY), or, with no eval
	 * frame in the native stack at all, every Python frame.
	 */
	for (; j < n_py; j++)
		MERGE_EMIT(TM_FRAME_PYTHON, j);
	return o;
}

#undef MERGE_EMIT

int tm_python__merge(const uint8_t *cls, size_t n_native, const struct tm_py_frame *py, size_t n_py,
		     unsigned int flags, struct tm_hybrid_frame *out, size_t out_max, int *fallback)
{
	struct tm_hybrid_frame *all;
	size_t n, i, o = 0, first_py = SIZE_MAX, last_py = 0;

	if ((n_native && !cls) || (n_py && !py) || (out_max && !out))
		return -EINVAL;
	if (fallback)
		*fallback = 0;
	n = py_merge_all(cls, n_native, py, n_py, NULL, 0, NULL);
	all = calloc(n ? n : 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	py_merge_all(cls, n_native, py, n_py, all, n, fallback);
	for (i = 0; i < n; i++) {
		if (all[i].kind != TM_FRAME_PYTHON)
			continue;
		if (first_py == SIZE_MAX)
			first_py = i;
		last_py = i;
	}
	for (i = 0; i < n && o < out_max; i++) {
		/* The interpreter's own frames between two Python frames say nothing the Python ones do not. */
		if ((flags & TM_MERGE_FOLD_INTERP) && all[i].kind == TM_FRAME_NATIVE &&
		    cls[all[i].index] == TM_NATIVE_INTERP && first_py != SIZE_MAX && i > first_py && i < last_py)
			continue;
		out[o++] = all[i];
	}
	free(all);
	return (int)o;
}
