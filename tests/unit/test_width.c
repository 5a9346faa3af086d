// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_width: the 120-column fitter and the progress line, to the byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_test.h"
#include "report/progress.h"
#include "report/width.h"

/* What tm_width__put() prints for s from column col under cont. */
static char *put(const char *s, int col, const char *cont)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	tm_width__put(f, s, col, cont);
	fclose(f);
	return buf;
}

static void test_cols(void)
{
	TM_CHECK_EQ_U64(tm_width__cols(""), 0);
	TM_CHECK_EQ_U64(tm_width__cols("abc"), 3);
	TM_CHECK_EQ_U64(tm_width__cols("\xc3\xa9t\xc3\xa9"), 3);        /* été */
	TM_CHECK_EQ_U64(tm_width__cols("\xe6\x97\xa5\xe6\x9c\xac"), 4); /* 日本: wide */
	TM_CHECK_EQ_U64(tm_width__cols("\xf0\x9f\x90\x8d"), 2);         /* an emoji */
	TM_CHECK_EQ_U64(tm_width__cols("\xff"), 1);                     /* not UTF-8 */
	TM_CHECK_EQ_U64(strlen(tm_width__spaces(7)), 7);
	TM_CHECK_EQ_U64(strlen(tm_width__spaces(500)), TM_TEXT_WIDTH);
}

static void test_put(void)
{
	char line[200], *got;

	/* Fits: as it is. */
	got = put("short", 100, "  ");
	TM_CHECK_STR(got, "short");
	free(got);
	/* Breaks at the last space that fits; the rest goes on under cont, no trailing blank. */
	got = put("aaaa bbbb cccc", 110, "    ");
	TM_CHECK_STR(got, "aaaa bbbb\n    cccc");
	free(got);
	/* No space: after a '/' or '_' past a third of the room. */
	got = put("xxxx/yyyyyyyyyy", 110, "  ");
	TM_CHECK_STR(got, "xxxx/\n  yyyyyyyyyy");
	free(got);
	/* Never inside a number: 12345678 moves down whole. */
	got = put("abcd12345678", 112, "  ");
	TM_CHECK_STR(got, "abcd\n  12345678");
	free(got);
	/* A word with no place to break: cut at the edge, the rest on the next line. */
	memset(line, 'w', 150);
	line[150] = 0;
	got = put(line, 4, "    ");
	TM_CHECK_EQ_U64(strlen(got), 116 + 1 + 4 + 34);
	TM_CHECK(got[116] == '\n' && !strncmp(got + 117, "    w", 5));
	free(got);
	/* ... unless it is a number, which goes on past the edge whole. */
	memset(line, '7', 150);
	got = put(line, 4, "    ");
	TM_CHECK_STR(got, line);
	free(got);
}

/* A process's string: escaped first (a tab is four columns then), then fitted as put. */
static void test_put_str(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	TM_CHECK_EQ_U64(tm_width__put_str(m, "ab\tcd efgh", 108, "   "), 3 + 4);
	fclose(m);
	TM_CHECK_STR(buf, "ab\\x09cd\n   efgh");
	free(buf);
}

static void test_frame(void)
{
	struct tm_frame f = { .kind = TM_FRAME_NATIVE, .line = 58, .function = "start" };
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	f.file = "/very/long/path/to/the/source/file.c";
	f.module = "/lib/libc.so.6";

	/* 120 - 70 = 50 columns: "start " 6, ":58 (libc.so.6)" 15, the path gets 29 of its 36. */
	TM_CHECK_EQ_U64(tm_width__frame(m, &f, 70, 0, "  "), 120);
	fclose(m);
	TM_CHECK_STR(buf, "start .../path/to/the/source/file.c:58 (libc.so.6)");
	free(buf);
}

static void test_progress(void)
{
	struct tm_proc p = { 0 };
	char line[256];

	tm_progress__format(line, sizeof(line), 12449000000ull, 45210, 11324620, 12582912, 3);
	TM_CHECK_STR(line, "tidemark: 12.4 s | 45,210 allocs/s | live 10.8 MiB | peak 12.0 MiB | not recorded 3");
	tm_progress__format(line, sizeof(line), 0, 0, -4096, 0, 0);
	TM_CHECK_STR(line, "tidemark: 0.0 s | 0 allocs/s | live -4.0 KiB | peak 0 B | not recorded 0");
	p.size_count[0] = 2;
	p.size_count[TM_SIZE_BUCKETS - 1] = 5;
	p.drops[0] = 1;
	p.drops[TM_DROP__COUNT - 1] = 4;
	TM_CHECK_EQ_U64(tm_progress__allocs(&p), 7);
	TM_CHECK_EQ_U64(tm_progress__dropped(&p), 5);
}

int main(void)
{
	test_cols();
	test_put();
	test_put_str();
	test_frame();
	test_progress();
	return tm_test_done("test_width");
}
