// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_python: the pure parts of user/target/python.c: naming a captured record, hybrid merge. */
#include <errno.h>

#include "tm_test.h"
#include "profile/profile.h"
#include "target/python.h"

static void test_symbolize(void)
{
	/* 3.11 table: 2 units on line first+0, then 2 units on first+1 (one-line form, code 11). */
	static const uint8_t lines[] = { 0x80 | 1, 0x00, 0x80 | (11 << 3) | 1, 0x01, 0x02 };
	static const uint8_t gruesse[] = { 'g', 'r', 0xfc, 0xdf, 'e' };             /* Latin-1 */
	static const uint8_t file16[] = { 0xfd, 0x51, 0x70, 0x65, '.', 0, 'p', 0, 'y', 0 }; /* 函数.py */
	static const uint8_t name32[] = { 0x00, 0x00, 0x02, 0x00 };                  /* U+20000 */
	struct tm_py_code rec = {};
	struct tm_py_sym sym;

	rec.version = TM_PY_VERSION(3, 11);
	rec.firstlineno = 10;
	memcpy(rec.name, gruesse, sizeof(gruesse));
	rec.name_got = sizeof(gruesse);
	rec.name_kind = 1;
	memcpy(rec.file, file16, sizeof(file16));
	rec.file_got = sizeof(file16);
	rec.file_kind = 2;
	memcpy(rec.lines, lines, sizeof(lines));
	rec.lines_got = rec.lines_len = sizeof(lines);

	TM_CHECK_EQ_U64(tm_python__symbolize(&rec, 3, &sym), 0);
	TM_CHECK_STR(sym.function, "gr\xc3\xbc\xc3\x9f" "e");
	TM_CHECK_STR(sym.file, "\xe5\x87\xbd\xe6\x95\xb0.py");
	TM_CHECK_EQ_U64(sym.line, 11);
	TM_CHECK_EQ_U64(tm_python__symbolize(&rec, 0, &sym), 0);
	TM_CHECK_EQ_U64(sym.line, 10);

	memcpy(rec.name, name32, sizeof(name32));
	rec.name_got = sizeof(name32);
	rec.name_kind = 4;
	tm_python__symbolize(&rec, 0, &sym);
	TM_CHECK_STR(sym.function, "\xf0\xa0\x80\x80");

	/* A table cut at capture: past its end the line is unknown, not the last one seen. */
	rec.flags = TM_PYC_LINES_CUT;
	rec.lines_len = 4000;
	tm_python__symbolize(&rec, 3, &sym);
	TM_CHECK_EQ_U64(sym.line, 11);
	tm_python__symbolize(&rec, 9, &sym);
	TM_CHECK(sym.line == -1);

	/* 3.8 lnotab cut: the running line is only trusted when the table ended the search. */
	rec.version = TM_PY_VERSION(3, 8);
	rec.lines[0] = 4;
	rec.lines[1] = 1;
	rec.lines_got = 2;
	tm_python__symbolize(&rec, 1, &sym);        /* byte 2 < 4: line 10, decided */
	TM_CHECK_EQ_U64(sym.line, 10);
	tm_python__symbolize(&rec, 5, &sym);        /* byte 10: would need more table */
	TM_CHECK(sym.line == -1);

	/* Unreadable parts stay empty. */
	rec.flags = TM_PYC_NAME_BAD | TM_PYC_FILE_BAD | TM_PYC_LINES_BAD;
	tm_python__symbolize(&rec, 0, &sym);
	TM_CHECK_STR(sym.function, "");
	TM_CHECK_STR(sym.file, "");
	TM_CHECK(sym.line == -1);
}

static void test_merge(void)
{
	/* native, innermost first: wrapper, eval, C callback trampoline, eval, main */
	static const uint8_t is_eval[] = { 0, 1, 0, 1, 0 };
	struct tm_py_frame py[3] = {
		{ .code = 0x100, .flags = 0 },
		{ .code = 0x200, .flags = TM_PYF_ENTRY },
		{ .code = 0x300, .flags = TM_PYF_ENTRY },
	};
	struct tm_hybrid_frame out[8];
	int fb = -1, n;

	n = tm_python__merge(is_eval, 5, py, 3, TM_MERGE_FOLD_INTERP, out, 8, &fb);
	TM_CHECK_EQ_U64(n, 6);
	TM_CHECK_EQ_U64(fb, 0);
	TM_CHECK(out[0].kind == TM_FRAME_NATIVE && out[0].index == 0);
	TM_CHECK(out[1].kind == TM_FRAME_PYTHON && out[1].index == 0);
	TM_CHECK(out[2].kind == TM_FRAME_PYTHON && out[2].index == 1);
	TM_CHECK(out[3].kind == TM_FRAME_NATIVE && out[3].index == 2);
	TM_CHECK(out[4].kind == TM_FRAME_PYTHON && out[4].index == 2);
	TM_CHECK(out[5].kind == TM_FRAME_NATIVE && out[5].index == 4);

	/* One eval activation too few in the native stack: Python-only order after the leaf. */
	py[1].flags = 0;
	py[0].flags = TM_PYF_ENTRY;
	py[1].flags = TM_PYF_ENTRY;
	n = tm_python__merge((const uint8_t[]){ 0, 1, 0, 0, 0 }, 5, py, 3, 0, out, 8, &fb);
	TM_CHECK_EQ_U64(n, 4);
	TM_CHECK_EQ_U64(fb, 1);
	TM_CHECK(out[0].kind == TM_FRAME_NATIVE && out[0].index == 0);
	TM_CHECK(out[1].kind == TM_FRAME_PYTHON && out[1].index == 0);
	TM_CHECK(out[3].kind == TM_FRAME_PYTHON && out[3].index == 2);

	/* No Python frames: the native stack as is. */
	n = tm_python__merge(is_eval, 5, NULL, 0, TM_MERGE_FOLD_INTERP, out, 8, &fb);
	TM_CHECK_EQ_U64(n, 5);
	TM_CHECK_EQ_U64(fb, 0);

	/* Output capacity is respected. */
	n = tm_python__merge(is_eval, 5, py, 3, 0, out, 2, &fb);
	TM_CHECK_EQ_U64(n, 2);
	TM_CHECK(tm_python__merge(NULL, 5, py, 3, 0, out, 8, &fb) == -EINVAL);
}

/*
 * Folding: the interpreter's frames between two Python frames go; those
 * below the innermost (what allocated) and above the outermost stay, and
 * so does a C extension between two Python frames.
 */
static void test_merge_fold(void)
{
	/*
	 * native, innermost first (3.10-style, one activation per Python frame):
	 * PyBytes_FromStringAndSize (interp), eval, _PyFunction_Vectorcall (interp),
	 * eval, numpy callback (other), eval, Py_RunMain (interp), main (other)
	 */
	static const uint8_t cls[] = { TM_NATIVE_INTERP, TM_NATIVE_EVAL, TM_NATIVE_INTERP, TM_NATIVE_EVAL,
				       TM_NATIVE_OTHER, TM_NATIVE_EVAL, TM_NATIVE_INTERP, TM_NATIVE_OTHER };
	static const struct tm_py_frame py[3] = {
		{ .code = 0x100, .flags = TM_PYF_ENTRY },
		{ .code = 0x200, .flags = TM_PYF_ENTRY },
		{ .code = 0x300, .flags = TM_PYF_ENTRY },
	};
	/* (kind, index) expected, folded */
	static const uint32_t want[][2] = {
		{ TM_FRAME_NATIVE, 0 }, { TM_FRAME_PYTHON, 0 }, { TM_FRAME_PYTHON, 1 }, { TM_FRAME_NATIVE, 4 },
		{ TM_FRAME_PYTHON, 2 }, { TM_FRAME_NATIVE, 6 }, { TM_FRAME_NATIVE, 7 },
	};
	struct tm_hybrid_frame out[16];
	int fb = -1, n, i, ok = 1;

	n = tm_python__merge(cls, 8, py, 3, TM_MERGE_FOLD_INTERP, out, 16, &fb);
	TM_CHECK_EQ_U64(n, 7);
	TM_CHECK_EQ_U64(fb, 0);
	for (i = 0; i < n && i < 7; i++)
		ok &= out[i].kind == want[i][0] && out[i].index == want[i][1];
	TM_CHECK(ok);

	/* Unfolded (--native-all): all 8 natives' places, the evals replaced. */
	n = tm_python__merge(cls, 8, py, 3, 0, out, 16, &fb);
	TM_CHECK_EQ_U64(n, 8);
	TM_CHECK(out[2].kind == TM_FRAME_NATIVE && out[2].index == 2);

	/* The cut respects out_max after folding: the first 3 of the folded stack. */
	n = tm_python__merge(cls, 8, py, 3, TM_MERGE_FOLD_INTERP, out, 3, &fb);
	TM_CHECK_EQ_U64(n, 3);
	TM_CHECK(out[2].kind == TM_FRAME_PYTHON && out[2].index == 1);

	/* 3.11+: two Python frames in one activation, interp frames between activations. */
	{
		static const uint8_t cls2[] = { TM_NATIVE_INTERP, TM_NATIVE_EVAL, TM_NATIVE_INTERP,
						TM_NATIVE_INTERP, TM_NATIVE_EVAL, TM_NATIVE_INTERP };
		static const struct tm_py_frame py2[3] = {
			{ .code = 0x100, .flags = 0 },
			{ .code = 0x200, .flags = TM_PYF_ENTRY },
			{ .code = 0x300, .flags = TM_PYF_ENTRY },
		};

		n = tm_python__merge(cls2, 6, py2, 3, TM_MERGE_FOLD_INTERP, out, 16, &fb);
		TM_CHECK_EQ_U64(n, 5);
		TM_CHECK(out[0].kind == TM_FRAME_NATIVE && out[0].index == 0);
		TM_CHECK(out[1].kind == TM_FRAME_PYTHON && out[2].kind == TM_FRAME_PYTHON &&
			 out[3].kind == TM_FRAME_PYTHON && out[3].index == 2);
		TM_CHECK(out[4].kind == TM_FRAME_NATIVE && out[4].index == 5);
	}

	/*
	 * A 3.11+ stack cut at TM_MAX_PY frames inside one activation: no entry
	 * frame, and no eval frame in a native stack without frame pointers.
	 * The Python frames must still come out (they once vanished here).
	 */
	{
		static const struct tm_py_frame cut[2] = { { .code = 0x100 }, { .code = 0x200 } };

		n = tm_python__merge((const uint8_t[]){ TM_NATIVE_INTERP }, 1, cut, 2, TM_MERGE_FOLD_INTERP, out,
				     16, &fb);
		TM_CHECK_EQ_U64(n, 3);
		TM_CHECK_EQ_U64(fb, 0);
		TM_CHECK(out[0].kind == TM_FRAME_NATIVE && out[1].kind == TM_FRAME_PYTHON && out[1].index == 0 &&
			 out[2].kind == TM_FRAME_PYTHON && out[2].index == 1);
		/* ... and the frames after the last entry of a matched stack too */
		n = tm_python__merge((const uint8_t[]){ TM_NATIVE_OTHER, TM_NATIVE_EVAL }, 2,
				     (const struct tm_py_frame[]){ { .code = 1, .flags = TM_PYF_ENTRY }, { .code = 2 } },
				     2, 0, out, 16, &fb);
		TM_CHECK_EQ_U64(n, 3);
		TM_CHECK(out[2].kind == TM_FRAME_PYTHON && out[2].index == 1);
	}

	/* Fallback (activations do not match): nothing lies between Python frames, nothing folds. */
	n = tm_python__merge((const uint8_t[]){ TM_NATIVE_INTERP, TM_NATIVE_EVAL, TM_NATIVE_INTERP }, 3, py, 3,
			     TM_MERGE_FOLD_INTERP, out, 16, &fb);
	TM_CHECK_EQ_U64(n, 4);
	TM_CHECK_EQ_U64(fb, 1);
	TM_CHECK(out[0].kind == TM_FRAME_NATIVE && out[1].kind == TM_FRAME_PYTHON);
}

int main(void)
{
	test_symbolize();
	test_merge();
	test_merge_fold();
	return tm_test_done("test_python");
}
