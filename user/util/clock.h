/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * clock.h: the one clock tidemark keeps time on. CLOCK_MONOTONIC in
 * nanoseconds is what bpf_ktime_get_ns() returns, so times taken here and
 * times the BPF side records compare directly.
 */
#ifndef TIDEMARK_UTIL_CLOCK_H
#define TIDEMARK_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t tm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
