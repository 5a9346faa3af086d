// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * progress.c: the status line of run and attach (see progress.h).
 */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "report/fmt.h"
#include "report/progress.h"
#include "util/log.h"

void tm_progress__init(struct tm_progress *pg, FILE *out, int enable, uint64_t start_ns)
{
	memset(pg, 0, sizeof(*pg));
	pg->start_ns = start_ns;
	pg->last_ns = start_ns;
	if (enable && out && isatty(fileno(out)))
		pg->out = out;
}

void tm_progress__format(char *buf, size_t len, uint64_t elapsed_ns, uint64_t allocs_per_s, int64_t live,
			 uint64_t peak, uint64_t dropped)
{
	char e[32], r[32], l[32], p[32], d[32];

	/* whole tenths, so that the line does not jitter */
	tm_fmt__u64(e, sizeof(e), elapsed_ns / 1000000000ull);
	tm_fmt__u64(r, sizeof(r), allocs_per_s);
	tm_fmt__human_s64(l, sizeof(l), live);
	tm_fmt__human(p, sizeof(p), peak);
	tm_fmt__u64(d, sizeof(d), dropped);
	snprintf(buf, len, "tidemark: %s.%" PRIu64 " s | %s allocs/s | live %s | peak %s | not recorded %s", e,
		 (uint64_t)(elapsed_ns / 100000000u % 10), r, l, p, d);
}

uint64_t tm_progress__allocs(const struct tm_proc *p)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < TM_SIZE_BUCKETS; i++)
		n += p->size_count[i];
	return n;
}

uint64_t tm_progress__dropped(const struct tm_proc *p)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < TM_DROP__COUNT; i++)
		n += p->drops[i];
	return n;
}

int tm_progress__due(const struct tm_progress *pg, uint64_t now_ns)
{
	return pg->out && now_ns >= pg->last_ns + TM_PROGRESS_INTERVAL_NS;
}

void tm_progress__show(struct tm_progress *pg, uint64_t now_ns, uint64_t allocs, int64_t live, uint64_t peak,
		       uint64_t dropped)
{
	uint64_t dt;
	char line[256];

	if (!tm_progress__due(pg, now_ns))
		return;
	dt = now_ns - pg->last_ns;
	tm_progress__format(line, sizeof(line), now_ns - pg->start_ns,
			    allocs > pg->last_allocs ? (allocs - pg->last_allocs) * 1000000000ull / dt : 0, live, peak,
			    dropped);
	fprintf(pg->out, "\r%s\033[K", line);
	fflush(pg->out);
	pg->last_ns = now_ns;
	pg->last_allocs = allocs;
	pg->shown = 1;
	if (pg->out == stderr)
		tm_log_status_line = 1;
}

void tm_progress__update(struct tm_progress *pg, uint64_t now_ns, const struct tm_proc *p)
{
	tm_progress__show(pg, now_ns, tm_progress__allocs(p), p->live_bytes, p->peak_bytes, tm_progress__dropped(p));
}

void tm_progress__clear(struct tm_progress *pg)
{
	if (!pg->out || !pg->shown)
		return;
	fputs("\r\033[K", pg->out);
	fflush(pg->out);
	pg->shown = 0;
	if (pg->out == stderr)
		tm_log_status_line = 0;
}
