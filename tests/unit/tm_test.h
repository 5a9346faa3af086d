/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tm_test.h: the smallest test harness that does the job. Each unit test is a
 * program; TM_CHECK records failures without stopping; tm_test_done() prints
 * the closing "N passed, N failed" line and returns the exit status.
 */
#ifndef TM_TEST_H
#define TM_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tm_test_passed, tm_test_failed;

#define TM_CHECK(cond) do { \
	if (cond) { tm_test_passed++; } \
	else { tm_test_failed++; fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define TM_CHECK_EQ_U64(a, b) do { \
	uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b); \
	if (_a == _b) { tm_test_passed++; } \
	else { tm_test_failed++; fprintf(stderr, "%s:%d: FAIL: %s == %s (%" PRIu64 " != %" PRIu64 ")\n", \
			__FILE__, __LINE__, #a, #b, _a, _b); } \
} while (0)

#define TM_CHECK_STR(a, b) do { \
	const char *_a = (a), *_b = (b); \
	if (_a && _b && !strcmp(_a, _b)) { tm_test_passed++; } \
	else { tm_test_failed++; fprintf(stderr, "%s:%d: FAIL: %s == %s (\"%s\" != \"%s\")\n", \
			__FILE__, __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); } \
} while (0)

static inline int tm_test_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, tm_test_passed, tm_test_failed);
	return tm_test_failed ? 1 : 0;
}

#endif
