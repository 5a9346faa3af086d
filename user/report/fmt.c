// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fmt.c: numbers for people (see fmt.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report/fmt.h"

/* sign, then v with a comma every three digits */
static void fmt_thousands(char *buf, size_t len, uint64_t v, const char *sign)
{
	char digits[32], *d = digits + sizeof(digits);
	int group = 0;

	*--d = '\0';
	do {
		if (group == 3) {
			*--d = ',';
			group = 0;
		}
		*--d = (char)('0' + v % 10);
		v /= 10;
		group++;
	} while (v);
	snprintf(buf, len, "%s%s", sign, d);
}

void tm_fmt__u64(char *buf, size_t len, uint64_t v)
{
	fmt_thousands(buf, len, v, "");
}

void tm_fmt__s64(char *buf, size_t len, int64_t v)
{
	fmt_thousands(buf, len, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0 ? "-" : "");
}

void tm_fmt__delta(char *buf, size_t len, int64_t v)
{
	fmt_thousands(buf, len, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0 ? "-" : v > 0 ? "+" : "");
}

/* v / unit in tenths, rounded half up, without overflow for unit <= 2^60. */
static uint64_t div_tenths(uint64_t v, uint64_t unit)
{
	return v / unit * 10 + ((v % unit) * 10 + unit / 2) / unit;
}

static void fmt_human_mag(char *buf, size_t len, uint64_t v, int negative)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	uint64_t unit = 1024, tenths;
	unsigned int u = 0;
	const char *sign = negative ? "-" : "";

	if (v < 1024) {
		snprintf(buf, len, "%s%" PRIu64 " B", sign, v);
		return;
	}
	while (u + 1 < sizeof(units) / sizeof(units[0]) && v >= unit * 1024) {
		unit *= 1024;
		u++;
	}
	tenths = div_tenths(v, unit);
	/* 1023.96 KiB rounds to 1024.0 KiB: say 1.0 MiB instead. */
	if (tenths >= 10240 && u + 1 < sizeof(units) / sizeof(units[0])) {
		unit *= 1024;
		u++;
		tenths = div_tenths(v, unit);
	}
	snprintf(buf, len, "%s%" PRIu64 ".%u %s", sign, (uint64_t)(tenths / 10),
		 (unsigned int)(tenths % 10), units[u]);
}

void tm_fmt__human(char *buf, size_t len, uint64_t v)
{
	fmt_human_mag(buf, len, v, 0);
}

void tm_fmt__human_s64(char *buf, size_t len, int64_t v)
{
	fmt_human_mag(buf, len, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
}

void tm_fmt__secs(char *buf, size_t len, uint64_t ns)
{
	snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 " s", ns / 1000000000, ns / 1000000 % 1000);
}

unsigned int tm_fmt__permille(uint64_t part, uint64_t total)
{
	/* Scale both down until the arithmetic fits; the ratio barely moves. */
	while (total > UINT64_MAX / 4000) {
		part >>= 1;
		total >>= 1;
	}
	if (!total)
		return 0;
	return (unsigned int)((part * 2000 + total) / (total * 2));
}

/* ------------------------------------------------------------------ */

void tm_fmt__change_pct(char *buf, size_t len, uint64_t before, uint64_t after)
{
	uint64_t d = after > before ? after - before : before - after;
	uint64_t t;

	if (!before) {
		snprintf(buf, len, after ? "new" : "0.0%%");
		return;
	}
	while (d > UINT64_MAX / 2000) {
		d >>= 1;
		before >>= 1;
	}
	t = (d * 2000 / (before ? before : 1) + 1) / 2;
	snprintf(buf, len, "%s%" PRIu64 ".%" PRIu64 "%%", after < before ? "-" : "+", t / 10, t % 10);
}
