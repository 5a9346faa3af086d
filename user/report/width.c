// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * width.c: the text reports within TM_TEXT_WIDTH columns (see width.h).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/view.h"
#include "report/width.h"
#include "util/path.h"

/* The narrowest a wrapped line may get: past it, a line runs over rather than into a column of one word. */
#define MIN_ROOM 16

static int wide(uint32_t cp)
{
	return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
	       (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	       (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd);
}

/* Columns of the next character of s, its length in *n. */
static int char_cols(const char *s, size_t *n)
{
	uint32_t cp;

	*n = tm_report__utf8_decode((const unsigned char *)s, &cp);
	if (!*n) {
		*n = 1; /* not UTF-8: the terminal shows one replacement */
		return 1;
	}
	return wide(cp) ? 2 : 1;
}

int tm_width__cols(const char *s)
{
	int cols = 0;
	size_t n;

	while (*s) {
		cols += char_cols(s, &n);
		s += n;
	}
	return cols;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int tm_width__put(FILE *out, const char *s, int col, const char *cont)
{
	int ccols = tm_width__cols(cont);

	for (;;) {
		int room = TM_TEXT_WIDTH - col, used = 0, c;
		size_t n, fit = 0, brk = 0, soft = 0;

		/* How much of s fits, the last space in it, and the last place a path or name may break. */
		while (s[fit]) {
			c = char_cols(s + fit, &n);
			if (used + c > room)
				break;
			used += c;
			if (s[fit] == ' ')
				brk = fit;
			else if (strchr("/_.,:-", s[fit]) && s[fit + 1] && !is_digit(s[fit + 1]))
				soft = fit + 1;
			fit += n;
		}
		if (!s[fit]) {
			fputs(s, out);
			return col + used;
		}
		if (!brk && soft > fit / 3)
			brk = soft; /* after a '/' or '_': the name goes on, nothing dropped */
		if (!brk) {
			/* no space: break where it ran over, but not inside a number */
			brk = fit;
			while (brk && is_digit(s[brk - 1]) && is_digit(s[brk]))
				brk--;
		}
		if (!brk && (col <= ccols || room < MIN_ROOM)) {
			/* nothing fits even on a fresh line: the word as it is, to its end */
			while (s[brk] && s[brk] != ' ')
				brk++;
		}
		n = brk;
		while (n && s[n - 1] == ' ')
			n--; /* no trailing blanks */
		fwrite(s, 1, n, out);
		s += brk;
		while (*s == ' ')
			s++;
		if (!*s)
			return col + tm_width__cols(s);
		fputc('\n', out);
		fputs(cont, out);
		col = ccols;
	}
}

const char *tm_width__spaces(int n)
{
	static char sp[TM_TEXT_WIDTH + 1];

	if (!sp[0])
		memset(sp, ' ', TM_TEXT_WIDTH);
	if (n < 0)
		n = 0;
	return sp + TM_TEXT_WIDTH - (n > TM_TEXT_WIDTH ? TM_TEXT_WIDTH : n);
}

/* An escaped string into a buffer; NULL without memory. */
static char *escaped(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	tm_report__text_str(f, s);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

int tm_width__put_str(FILE *out, const char *s, int col, const char *cont)
{
	char *esc = escaped(s);

	if (!esc) {
		tm_report__text_str(out, s);
		return TM_TEXT_WIDTH;
	}
	col = tm_width__put(out, esc, col, cont);
	free(esc);
	return col;
}

/*
 * The end of an escaped path that fits in @room columns with "..." before
 * it, from a '/' ("/pkg/mod.py"); at least the last component.
 */
static const char *path_tail(const char *path, int room)
{
	const char *base = strrchr(path, '/'), *p;

	base = base ? base + 1 : path;
	for (p = path; p < base; p++)
		if (p[0] == '/' && 3 + tm_width__cols(p) <= room)
			return p;
	return base - 1 >= path && base[-1] == '/' ? base - 1 : base;
}

int tm_width__frame(FILE *out, const struct tm_frame *f, int col, int reserve, const char *cont)
{
	char *fn = NULL, *file = NULL, *mod = NULL, *label = NULL, line[16] = "", addr[24];
	const char *show;
	size_t len = 0;
	int other, room, said;
	FILE *m;

	if (f->line)
		snprintf(line, sizeof(line), ":%u", f->line);
	snprintf(addr, sizeof(addr), "0x%" PRIx64, f->address);
	fn = f->function ? escaped(f->function) : NULL;
	file = f->file ? escaped(f->file) : NULL;
	/* the module said once: not again after a "module+0xOFFSET" name */
	said = f->module && f->kind != TM_FRAME_PYTHON && !tm_report__named_by_module(f);
	mod = said ? escaped(tm_basename(f->module)) : NULL;
	m = open_memstream(&label, &len);
	if ((f->function && !fn) || (f->file && !file) || (said && !mod) || !m) {
		/* no memory to fit it: as it is */
		if (m)
			fclose(m);
		free(label);
		tm_report__text_frame(out, f);
		col = TM_TEXT_WIDTH;
		goto out;
	}
	if (f->kind == TM_FRAME_PYTHON) {
		other = (int)strlen(line) + 1 + tm_width__cols(fn ? fn : "<unknown>");
		room = TM_TEXT_WIDTH - col - reserve - other;
		show = file ? file : "<unknown>";
		if (tm_width__cols(show) > room && file)
			fprintf(m, "...%s", path_tail(show, room));
		else
			fputs(show, m);
		fprintf(m, "%s %s", line, fn ? fn : "<unknown>");
	} else {
		other = tm_width__cols(fn ? fn : addr) + (file ? 1 + (int)strlen(line) : 0) +
			(mod ? 3 + tm_width__cols(mod) : 0);
		room = TM_TEXT_WIDTH - col - reserve - other;
		fputs(fn ? fn : addr, m);
		if (file) {
			if (tm_width__cols(file) > room)
				fprintf(m, " ...%s%s", path_tail(file, room), line);
			else
				fprintf(m, " %s%s", file, line);
		}
		if (mod)
			fprintf(m, " (%s)", mod);
	}
	if (fclose(m)) {
		free(label);
		label = NULL;
	}
	if (label)
		col = tm_width__put(out, label, col, cont);
out:
	free(label);
	free(fn);
	free(file);
	free(mod);
	return col;
}
