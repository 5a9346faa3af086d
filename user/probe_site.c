/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * probe_site.c: choose emulated uprobe sites.
 *
 * The x86 uprobe code (arch/x86/kernel/uprobes.c) emulates, instead of
 * single-stepping out of line: `push reg` (with or without REX.B), nop
 * (0x90, 0x66 0x90, and 0x0f 0x1f /0 on 6.12+ kernels), and the relative
 * branches jmp, call and jcc. Everything else -- including `test`, `cmp` and
 * rip-relative memory operands -- traps a second time to single-step.
 */
#include <stdio.h>
#include <string.h>

#include "probe_site.h"

/* Length of a `0f 1f /0` multi-byte nop from its ModRM byte on. */
static size_t nopl_len(const uint8_t *m, size_t avail)
{
	uint8_t modrm, mod, rm;
	size_t n = 1;

	if (!avail)
		return 0;
	modrm = m[0];
	mod = modrm >> 6;
	rm = modrm & 7;
	if (((modrm >> 3) & 7) != 0)
		return 0;
	if (mod != 3 && rm == 4)
		n += 1;         /* SIB */
	if (mod == 1)
		n += 1;
	else if (mod == 2 || (mod == 0 && rm == 5))
		n += 4;
	return n <= avail ? n : 0;
}

size_t tm_probe_site__emulated_len(const uint8_t *c, size_t len)
{
	size_t p = 0;

	if (!len)
		return 0;
	/* 66 prefixes only in nops (66 90, 66 0f 1f ..., 66 66 2e 0f 1f ... excluded) */
	while (p < len && c[p] == 0x66)
		p++;
	if (p >= len)
		return 0;
	if (p) {
		if (c[p] == 0x90)
			return p + 1;
		if (p + 1 < len && c[p] == 0x0f && c[p + 1] == 0x1f) {
			size_t n = nopl_len(c + p + 2, len - p - 2);

			return n ? p + 2 + n : 0;
		}
		return 0;
	}
	if (c[0] >= 0x50 && c[0] <= 0x57)             /* push r64 */
		return 1;
	if (c[0] == 0x41 && len > 1 && c[1] >= 0x50 && c[1] <= 0x57)  /* push r8-r15 */
		return 2;
	if (c[0] == 0x90)                             /* nop */
		return 1;
	if (c[0] == 0x0f && len > 1 && c[1] == 0x1f) {   /* nopl */
		size_t n = nopl_len(c + 2, len - 2);

		return n ? 2 + n : 0;
	}
	if (c[0] == 0xeb || (c[0] >= 0x70 && c[0] <= 0x7f))   /* jmp/jcc rel8 */
		return len >= 2 ? 2 : 0;
	if (c[0] == 0xe8 || c[0] == 0xe9)             /* call/jmp rel32 */
		return len >= 5 ? 5 : 0;
	if (c[0] == 0x0f && len > 1 && c[1] >= 0x80 && c[1] <= 0x8f)  /* jcc rel32 */
		return len >= 6 ? 6 : 0;
	return 0;
}

void tm_probe_site__choose(const uint8_t *c, size_t len, enum tm_site_rule rule,
			   struct tm_probe_site *out)
{
	size_t je;

	memset(out, 0, sizeof(*out));
	if (tm_probe_site__emulated_len(c, len)) {
		out->emulated = 1;
		snprintf(out->why, sizeof(out->why), "entry instruction is emulated");
		return;
	}
	if (rule == TM_SITE_AFTER_NULL_TEST && len >= 3 && c[0] == 0x48 && c[1] == 0x85 && c[2] == 0xff) {
		/* test %rdi,%rdi; je NULL-path: the fall-through is the non-NULL path */
		if (len >= 5 && c[3] == 0x74)
			je = 5;
		else if (len >= 9 && c[3] == 0x0f && c[4] == 0x84)
			je = 9;
		else
			je = 0;
		if (je && tm_probe_site__emulated_len(c + je, len - je)) {
			out->offset = (uint32_t)je;
			out->emulated = 1;
			snprintf(out->why, sizeof(out->why),
				 "+%zu, after `test %%rdi,%%rdi; je`: NULL never reaches it", je);
			return;
		}
	}
	snprintf(out->why, sizeof(out->why),
		 "entry instruction (%02x %02x %02x) is single-stepped: no emulated site keeps the meaning",
		 c[0], len > 1 ? c[1] : 0, len > 2 ? c[2] : 0);
}
