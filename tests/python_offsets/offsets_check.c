// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * offsets_check.c: tm_python__detect() against the interpreter's own headers.
 *
 * Built once per interpreter by check.sh, against that interpreter's headers
 * (-DPy_BUILD_CORE, internal headers), and linked with user/target/python.c built
 * without them. It starts the interpreter, runs detection on the live
 * process, and compares every field of the resulting struct tm_py_cfg with
 * offsetof()/sizeof()/enum values from the headers, and the addresses and
 * the thread-state slot with what the interpreter reports about itself. The
 * layout table in user/target/python.c (and, for 3.13, what _Py_DebugOffsets gave)
 * is thereby checked without being written down a second time.
 *
 * Usage: offsets_check PYTHON    prints one line per field, then "N passed, N failed"
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#if PY_VERSION_HEX >= 0x03090000
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#endif
#include "internal/pycore_pystate.h"
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
#else
#include "frameobject.h"
#endif

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target/python.h"

static int passed, failed;

static void eq(const char *what, unsigned long long got, unsigned long long want)
{
	if (got == want) {
		passed++;
		printf("  ok    %-34s %llu\n", what, got);
	} else {
		failed++;
		printf("  FAIL  %-34s detect %llu, headers/process %llu\n", what, got, want);
	}
}

static unsigned int state_mask(int which)
{
	PyASCIIObject a;
	unsigned int w;

	memset(&a, 0, sizeof(a));
	if (which == 0)
		a.state.kind = 7;
	else if (which == 1)
		a.state.compact = 1;
	else
		a.state.ascii = 1;
	memcpy(&w, &a.state, sizeof(w));
	return w;
}

/*
 * What the interpreter says about itself: _PyRuntime, PyCode_Type, fsbase,
 * its tstate and interp, and two code objects made one after the other.
 */
static const char child_code[] =
	"import ctypes, sys\n"
	"api = ctypes.pythonapi\n"
	"rt = ctypes.addressof(ctypes.c_char.in_dll(api, '_PyRuntime'))\n"
	"api.PyGILState_GetThisThreadState.restype = ctypes.c_void_p\n"
	"ts = api.PyGILState_GetThisThreadState()\n"
	"get = getattr(api, 'PyInterpreterState_Get', None)\n"     /* 3.9+ */
	"interp = 0\n"
	"if get:\n"
	"    get.restype = ctypes.c_void_p\n"
	"    interp = get()\n"
	"fs = ctypes.c_uint64()\n"
	"ctypes.CDLL(None).syscall(158, 0x1003, ctypes.byref(fs))\n"   /* arch_prctl(ARCH_GET_FS) */
	"c1 = compile('a = 1', 'c1', 'exec')\n"
	"c2 = compile('b = 2', 'c2', 'exec')\n"
	"print(rt, id(type(c1)), fs.value, ts, interp, id(c1), id(c2), flush=True)\n"
	"sys.stdin.readline()\n";

static int read_mem(pid_t pid, unsigned long long addr, void *buf, size_t len)
{
	char path[64];
	FILE *f;
	size_t got;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	f = fopen(path, "rb");
	if (!f)
		return -1;
	if (fseeko(f, (off_t)addr, SEEK_SET)) {
		fclose(f);
		return -1;
	}
	got = fread(buf, 1, len, f);
	fclose(f);
	return got == len ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned long long rt = 0, ct = 0, fs = 0, ts = 0, slot = 0, interp = 0, c1 = 0, c2 = 0;
	int in[2], out[2], err, status, minor = (PY_VERSION_HEX >> 16) & 0xff;
	struct tm_py_cfg c;
	char desc[512];
	uint32_t tss[2];
	FILE *from;
	pid_t pid;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PYTHON\n", argv[0]);
		return 2;
	}
	if (pipe(in) || pipe(out))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(argv[1], argv[1], "-c", child_code, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	from = fdopen(out[0], "r");
	if (!from || fscanf(from, "%llu %llu %llu %llu %llu %llu %llu", &rt, &ct, &fs, &ts, &interp, &c1, &c2) != 7) {
		fprintf(stderr, "offsets_check: %s did not report itself\n", argv[1]);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return 1;
	}

	err = tm_python__detect(pid, &c, desc, sizeof(desc));
	printf("%s: headers %s, detect: %s\n", argv[1], PY_VERSION, desc);
	eq("detect() return", (unsigned long long)(long long)err, 0);

	/* process */
	eq("version (major.minor)", c.version >> 16, PY_VERSION_HEX >> 16);
	eq("runtime = &_PyRuntime", c.runtime, rt);
	eq("code_type = &PyCode_Type", c.code_type, ct);
	if (!read_mem(pid, c.tss_key, tss, sizeof(tss)) && tss[0]) {
		unsigned long long at = fs + c.tsd_first + (unsigned long long)tss[1] * c.tsd_stride + c.tsd_data;

		if (tss[1] >= c.tsd_per_block || read_mem(pid, at, &slot, sizeof(slot)))
			slot = 0;
	}
	eq("TSS slot = PyGILState_GetThisThreadState()", slot, ts);

	/* runtime and thread state */
#if PY_VERSION_HEX >= 0x030C0000
	eq("tss_key - runtime (autoTSSkey)", c.tss_key - c.runtime, offsetof(_PyRuntimeState, autoTSSkey));
#else
	eq("tss_key - runtime (autoTSSkey)", c.tss_key - c.runtime,
	   offsetof(_PyRuntimeState, gilstate.autoTSSkey));
#endif
#if PY_VERSION_HEX >= 0x030D0000
	eq("ts_frame (current_frame)", c.ts_frame, offsetof(PyThreadState, current_frame));
#elif PY_VERSION_HEX >= 0x030B0000
	eq("ts_frame (cframe)", c.ts_frame, offsetof(PyThreadState, cframe));
	eq("cf_current_frame", c.cf_current_frame, offsetof(_PyCFrame, current_frame));
#else
	eq("ts_frame (frame)", c.ts_frame, offsetof(PyThreadState, frame));
#endif

	/* frames */
#if PY_VERSION_HEX >= 0x030B0000
	eq("fr_back (previous)", c.fr_back, offsetof(_PyInterpreterFrame, previous));
	eq("fr_owner", c.fr_owner, offsetof(_PyInterpreterFrame, owner));
	eq("owner_generator", c.owner_generator, FRAME_OWNED_BY_GENERATOR);
#  if PY_VERSION_HEX >= 0x030D0000
	eq("fr_code (f_executable)", c.fr_code, offsetof(_PyInterpreterFrame, f_executable));
	eq("fr_lasti (instr_ptr)", c.fr_lasti, offsetof(_PyInterpreterFrame, instr_ptr));
#  else
	eq("fr_code (f_code)", c.fr_code, offsetof(_PyInterpreterFrame, f_code));
	eq("fr_lasti (prev_instr)", c.fr_lasti, offsetof(_PyInterpreterFrame, prev_instr));
#  endif
#  if PY_VERSION_HEX >= 0x030C0000
	eq("owner_cstack", c.owner_cstack, FRAME_OWNED_BY_CSTACK);
#  else
	eq("fr_is_entry", c.fr_is_entry, offsetof(_PyInterpreterFrame, is_entry));
#  endif
#else
	eq("fr_back (f_back)", c.fr_back, offsetof(PyFrameObject, f_back));
	eq("fr_code (f_code)", c.fr_code, offsetof(PyFrameObject, f_code));
	eq("fr_lasti (f_lasti)", c.fr_lasti, offsetof(PyFrameObject, f_lasti));
#endif
	eq("flags: IFRAME", !!(c.flags & TM_PYCFG_IFRAME), minor >= 11);
	eq("flags: CFRAME", !!(c.flags & TM_PYCFG_CFRAME), minor == 11 || minor == 12);
	eq("flags: LASTI_BYTES", !!(c.flags & TM_PYCFG_LASTI_BYTES), minor <= 9);
	eq("flags: IS_ENTRY", !!(c.flags & TM_PYCFG_IS_ENTRY), minor == 11);
	eq("flags: CSTACK", !!(c.flags & TM_PYCFG_CSTACK), minor >= 12);
	eq("flags: QUALNAME", !!(c.flags & TM_PYCFG_QUALNAME), minor >= 11);

	/* code objects */
	eq("ob_type", c.ob_type, offsetof(PyObject, ob_type));
	eq("co_firstlineno", c.co_firstlineno, offsetof(PyCodeObject, co_firstlineno));
	eq("co_filename", c.co_filename, offsetof(PyCodeObject, co_filename));
#if PY_VERSION_HEX >= 0x030B0000
	eq("co_name (co_qualname)", c.co_name, offsetof(PyCodeObject, co_qualname));
	eq("co_lines (co_linetable)", c.co_lines, offsetof(PyCodeObject, co_linetable));
	eq("co_code (co_code_adaptive)", c.co_code, offsetof(PyCodeObject, co_code_adaptive));
	eq("co_firsttraceable", c.co_firsttraceable, offsetof(PyCodeObject, _co_firsttraceable));
#elif PY_VERSION_HEX >= 0x030A0000
	eq("co_name", c.co_name, offsetof(PyCodeObject, co_name));
	eq("co_lines (co_linetable)", c.co_lines, offsetof(PyCodeObject, co_linetable));
#else
	eq("co_name", c.co_name, offsetof(PyCodeObject, co_name));
	eq("co_lines (co_lnotab)", c.co_lines, offsetof(PyCodeObject, co_lnotab));
#endif

	/* bytes and str */
	eq("bytes_size", c.bytes_size, offsetof(PyBytesObject, ob_base.ob_size));
	eq("bytes_data", c.bytes_data, offsetof(PyBytesObject, ob_sval));
	eq("str_length", c.str_length, offsetof(PyASCIIObject, length));
	eq("str_state", c.str_state, offsetof(PyASCIIObject, state));
	eq("str_ascii_data", c.str_ascii_data, sizeof(PyASCIIObject));
	eq("str_compact_data", c.str_compact_data, sizeof(PyCompactUnicodeObject));
	eq("str_kind_mask", c.str_kind_mask, state_mask(0));
	eq("str_kind_shift", c.str_kind_shift, (unsigned int)__builtin_ctz(state_mask(0)));
	eq("str_compact_mask", c.str_compact_mask, state_mask(1));
	eq("str_ascii_mask", c.str_ascii_mask, state_mask(2));

	/* the data stack (3.11+): chunk and top, side by side */
#if PY_VERSION_HEX >= 0x030B0000
	eq("ts_chunk (datastack_chunk)", c.ts_chunk, offsetof(PyThreadState, datastack_chunk));
	eq("datastack_top right after it", offsetof(PyThreadState, datastack_top), c.ts_chunk + 8);
#else
	eq("ts_chunk: none before 3.11", c.ts_chunk, 0);
#endif

	/*
	 * The code counter (3.12+): what a new code object takes as co_version.
	 * Two code objects made in a row must have consecutive versions and
	 * the counter must be the next one.
	 */
#if PY_VERSION_HEX >= 0x030C0000
	{
		uint32_t v1 = 0, v2 = 0, gen = 0;
		unsigned long long at = c.code_gen, in = 0;

		eq("co_version", c.co_version, offsetof(PyCodeObject, co_version));
		if (c.flags & TM_PYCFG_GEN_INTERP) {
			eq("ts_interp (interp)", c.ts_interp, offsetof(PyThreadState, interp));
			if (read_mem(pid, ts + c.ts_interp, &in, sizeof(in)))
				in = 0;
			eq("tstate->interp = PyInterpreterState_Get()", in, interp);
			at = interp + c.code_gen;
#  if PY_VERSION_HEX >= 0x030D0000
			eq("code_gen (func_state.next_version)", c.code_gen,
			   offsetof(PyInterpreterState, func_state.next_version));
#  endif
		}
		eq("code_gen found", !!c.code_gen, 1);
		if (read_mem(pid, c1 + c.co_version, &v1, 4) || read_mem(pid, c2 + c.co_version, &v2, 4) ||
		    read_mem(pid, at, &gen, 4))
			v1 = v2 = gen = 0;
		eq("two new code objects: consecutive co_version", v2, v1 + 1);
		eq("the counter: the next co_version", gen, v2 + 1);
	}
#else
	eq("co_version: none before 3.12", c.co_version, 0);
	eq("code_gen: none before 3.12", c.code_gen, 0);
#endif

	/* the walker reads these spans: every field must fall inside */
	eq("fr_span within TM_PY_FRAME_SPAN", c.fr_span && c.fr_span <= TM_PY_FRAME_SPAN, 1);
	eq("co_span within TM_PY_CODE_SPAN", c.co_span && c.co_span <= TM_PY_CODE_SPAN, 1);

	close(in[1]);
	waitpid(pid, &status, 0);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
