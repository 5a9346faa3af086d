/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * timeline.h: the live heap and RSS over time, in bounded memory.
 *
 * The loader samples while the trace runs. A timeline holds at most `max`
 * points: when it is full, neighbouring pairs merge into whichever of the
 * two had more live heap (so no high point is ever lost) and the sampling
 * interval doubles. A run of any length therefore keeps an even spread of
 * points over its whole duration. Pure logic: no kernel, no root.
 */
#ifndef TIDEMARK_TIMELINE_H
#define TIDEMARK_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

#define TM_TIMELINE_MAX 2048
#define TM_TIMELINE_INTERVAL_NS (10 * 1000 * 1000ULL)

struct tm_timeline {
	struct tm_sample *s;
	size_t n, max;
	uint64_t interval_ns;   /* between two samples, now */
	uint64_t next_ns;       /* the next sample is due then (time since start) */
};

/* max >= 2; returns 0 or -errno. */
int tm_timeline__init(struct tm_timeline *tl, size_t max, uint64_t interval_ns);
void tm_timeline__free(struct tm_timeline *tl);
/* Is a sample due at t (ns since start)? */
int tm_timeline__due(const struct tm_timeline *tl, uint64_t t);
/* Add a point (time must not go back); merges pairs when full. 0 or -EINVAL. */
int tm_timeline__add(struct tm_timeline *tl, const struct tm_sample *s);
/*
 * Put a point where its time says, whatever the interval: the peak the kernel
 * saw, which sampling alone may step over. 0 or -EINVAL.
 */
int tm_timeline__insert(struct tm_timeline *tl, const struct tm_sample *s);
/* Append every point to the profile's timeline. */
int tm_timeline__to_profile(const struct tm_timeline *tl, struct tm_profile *p);

#endif
