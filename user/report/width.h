/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * width.h: the text reports within TM_TEXT_WIDTH terminal columns. A line
 * that would run past the edge breaks at a space (never inside a number)
 * and goes on under a continuation prefix; a frame's source path is
 * shortened from the left ("...pkg/mod.py") before its line wraps.
 */
#ifndef TIDEMARK_WIDTH_H
#define TIDEMARK_WIDTH_H

#include <stddef.h>
#include <stdio.h>

#include "profile/profile.h"

#define TM_TEXT_WIDTH 120

/* Terminal columns of UTF-8 text: one per code point, two for East Asian wide ones and emoji. */
int tm_width__cols(const char *s);

/*
 * Print @s (printable already: escaped, no newline) from column @col,
 * breaking before the edge; each new line starts with @cont (spaces, or a
 * tree's rules). Returns the column after the last character.
 */
int tm_width__put(FILE *out, const char *s, int col, const char *cont);

/*
 * @s (a command line, a note: anything a process put there) escaped as the
 * text report prints strings, then put as tm_width__put() does. Without the
 * memory to fit it, escaped as it is (the column returned is then
 * TM_TEXT_WIDTH).
 */
int tm_width__put_str(FILE *out, const char *s, int col, const char *cont);

/*
 * tm_report__text_frame(), fitted: the frame from column @col, its path
 * shortened from the left so that it and @reserve more columns fit, then
 * wrapped under @cont if still too long. Returns the column after it.
 */
int tm_width__frame(FILE *out, const struct tm_frame *f, int col, int reserve, const char *cont);

/* @n spaces, as a continuation prefix: a static string, @n clamped to TM_TEXT_WIDTH. */
const char *tm_width__spaces(int n);

#endif /* TIDEMARK_WIDTH_H */
