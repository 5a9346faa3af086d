// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * timeline.c: bounded sampling of the live heap and RSS (see timeline.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "profile/timeline.h"

int tm_timeline__init(struct tm_timeline *tl, size_t max, uint64_t interval_ns)
{
	if (!tl || max < 2 || !interval_ns)
		return -EINVAL;
	tl->s = calloc(max, sizeof(*tl->s));
	if (!tl->s)
		return -ENOMEM;
	tl->n = 0;
	tl->max = max;
	tl->interval_ns = interval_ns;
	tl->next_ns = 0;
	return 0;
}

void tm_timeline__free(struct tm_timeline *tl)
{
	if (!tl)
		return;
	free(tl->s);
	tl->s = NULL;
	tl->n = 0;
}

int tm_timeline__due(const struct tm_timeline *tl, uint64_t t)
{
	return tl && tl->s && t >= tl->next_ns;
}

/* Halve the points: each pair keeps its higher heap (the later one on a tie). */
static void merge_pairs(struct tm_timeline *tl)
{
	size_t i, j = 0;

	for (i = 0; i + 1 < tl->n; i += 2)
		tl->s[j++] = tl->s[i].heap_bytes > tl->s[i + 1].heap_bytes ? tl->s[i] : tl->s[i + 1];
	if (i < tl->n)
		tl->s[j++] = tl->s[i];
	tl->n = j;
}

int tm_timeline__add(struct tm_timeline *tl, const struct tm_sample *s)
{
	if (!tl || !tl->s || !s)
		return -EINVAL;
	if (tl->n && s->time_ns < tl->s[tl->n - 1].time_ns)
		return -EINVAL;
	if (tl->n == tl->max) {
		merge_pairs(tl);
		tl->interval_ns *= 2;
	}
	tl->s[tl->n++] = *s;
	tl->next_ns = s->time_ns + tl->interval_ns;
	return 0;
}

int tm_timeline__insert(struct tm_timeline *tl, const struct tm_sample *s)
{
	size_t i;

	if (!tl || !tl->s || !s)
		return -EINVAL;
	if (tl->n == tl->max) {
		merge_pairs(tl);
		tl->interval_ns *= 2;
	}
	for (i = tl->n; i > 0 && tl->s[i - 1].time_ns > s->time_ns; i--)
		tl->s[i] = tl->s[i - 1];
	tl->s[i] = *s;
	tl->n++;
	return 0;
}

int tm_timeline__to_profile(const struct tm_timeline *tl, struct tm_profile *p)
{
	size_t i;
	int err;

	if (!tl || !p)
		return -EINVAL;
	for (i = 0; i < tl->n; i++) {
		err = tm_profile__add_sample(p, &tl->s[i]);
		if (err)
			return err;
	}
	return 0;
}

