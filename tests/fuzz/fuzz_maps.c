/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz_maps: libFuzzer target for tm_maps__parse, the parser of
 * /proc/PID/maps text. Beyond "no crash", every accepted input must give
 * sorted, non-overlapping, well-formed entries that lookups and merges keep
 * consistent.
 *
 * Built and run by `make fuzz` (tests/fuzz/run.sh), linked with libtidemark.a.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target/maps.h"

static const char base_text[] =
	"1000-5000 r-xp 00010000 08:01 1 /lib/liba.so\n"
	"8000-9000 rw-p 00000000 00:00 0 [heap]\n"
	"7f0000000000-7f0000100000 r-xp 00000000 08:01 3 /usr/lib/libc.so.6\n";

static void check_sorted(const struct tm_maps *m)
{
	size_t i;

	for (i = 0; i < m->nr; i++) {
		const struct tm_map_entry *e = &m->entries[i];

		if (e->start >= e->end || !e->path || strlen(e->perms) != 4)
			abort();
		if (i && m->entries[i - 1].end > e->start)
			abort();
		if (tm_maps__find(m, e->start) != e || tm_maps__find(m, e->end - 1) != e)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tm_maps m = {}, merged = {};
	char path[256];
	size_t i;

	if (tm_maps__parse((const char *)data, size, &m))
		return 0;
	check_sorted(&m);

	/* newest wins: every byte of the new snapshot maps to its own entry */
	if (tm_maps__parse(base_text, sizeof(base_text) - 1, &merged))
		abort();
	if (tm_maps__merge(&merged, &m))
		goto out;
	check_sorted(&merged);
	for (i = 0; i < m.nr; i++) {
		const struct tm_map_entry *e = tm_maps__find(&merged, m.entries[i].start);

		if (!e || e->start != m.entries[i].start || e->end != m.entries[i].end ||
		    strcmp(e->path, m.entries[i].path))
			abort();
	}
	/* and merging it again is idempotent */
	i = merged.nr;
	if (!tm_maps__merge(&merged, &m) && merged.nr != i)
		abort();

	m.pid = 1;
	tm_maps__find_module(&m, "lib", path, sizeof(path));
	tm_maps__find_module(&m, "", path, 8);
out:
	tm_maps__free(&merged);
	tm_maps__free(&m);
	return 0;
}
