/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fmt.h: numbers as the text outputs print them. Integer arithmetic only,
 * no locale: tests and scripts parse these, so they never change with the
 * machine. Each writes a NUL-terminated string of at most len bytes.
 */
#ifndef TIDEMARK_FMT_H
#define TIDEMARK_FMT_H

#include <stddef.h>
#include <stdint.h>

/* 12897345 -> "12,897,345"; -5 -> "-5" */
void tm_fmt__u64(char *buf, size_t len, uint64_t v);
void tm_fmt__s64(char *buf, size_t len, int64_t v);
/* A change: "+12,897,345", "-5", "0". */
void tm_fmt__delta(char *buf, size_t len, int64_t v);
/* 12897345 -> "12.3 MiB": binary units, one decimal, rounded half up; below 1 KiB "512 B". */
void tm_fmt__human(char *buf, size_t len, uint64_t v);
void tm_fmt__human_s64(char *buf, size_t len, int64_t v);
/* nanoseconds -> "1.204 s" (truncated to the millisecond) */
void tm_fmt__secs(char *buf, size_t len, uint64_t ns);
/* part/total in tenths of a percent, rounded half up; 0 when total is 0. */
unsigned int tm_fmt__permille(uint64_t part, uint64_t total);
/* after against before: "+12.5%", "-3.0%", "new" (from 0), "0.0%" (0 to 0). */
void tm_fmt__change_pct(char *buf, size_t len, uint64_t before, uint64_t after);

#endif /* TIDEMARK_FMT_H */
