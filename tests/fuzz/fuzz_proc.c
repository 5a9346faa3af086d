/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz_proc: libFuzzer target for the parsers of /proc text other than maps
 * (fuzz_maps has those): /proc/PID/cgroup (tm_cgroup__parse_proc), statm
 * (tm_proc__parse_statm) and cmdline (tm_proc__join_cmdline). A process
 * under trace writes none of these, but a container runtime or a hostile
 * mount can make them say anything. The input is NUL-terminated for the
 * text parsers, as tm_proc__read() hands them over.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target/cgroup.h"
#include "target/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), out[64], big[4096];
	struct tm_statm m;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	if (!tm_cgroup__parse_proc(text, out, sizeof(out)) && !memchr(out, 0, sizeof(out)))
		abort();
	if (!tm_cgroup__parse_proc(text, big, sizeof(big)) && !memchr(big, 0, sizeof(big)))
		abort();
	if (!tm_proc__parse_statm(text, &m) && m.shared > m.resident)
		abort();
	/* cmdline: the bytes as read, NULs and all */
	memcpy(text, data, size);
	tm_proc__join_cmdline(text, size);
	if (size > 1 && memchr(text, 0, size - 1))
		abort();
	free(text);
	return 0;
}
