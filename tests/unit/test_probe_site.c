/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#include "probe_site.h"
#include "tm_test.h"

int main(void)
{
	struct tm_probe_site s;
	/* glibc 2.36 prologues, as objdump shows them */
	static const uint8_t malloc_[] = { 0x41, 0x54, 0x55, 0x53 };                 /* push %r12 */
	static const uint8_t free_[] = { 0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0, 0, 0, 0x55, 0x48 };
	static const uint8_t free8[] = { 0x48, 0x85, 0xff, 0x74, 0x10, 0x53 };      /* je rel8 */
	static const uint8_t memalign_[] = { 0x80, 0x3d, 0x71, 0x0e, 0x14, 0x00, 0x00 }; /* cmpb rip */
	static const uint8_t test_then_mov[] = { 0x48, 0x85, 0xff, 0x74, 0x10, 0x48, 0x89, 0xf8 };
	static const uint8_t nopl[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const uint8_t endbr[] = { 0xf3, 0x0f, 0x1e, 0xfa };

	tm_probe_site__choose(malloc_, sizeof(malloc_), TM_SITE_ENTRY, &s);
	TM_CHECK(s.emulated && s.offset == 0);

	tm_probe_site__choose(free_, sizeof(free_), TM_SITE_AFTER_NULL_TEST, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 9);

	tm_probe_site__choose(free8, sizeof(free8), TM_SITE_AFTER_NULL_TEST, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 5);

	/* Same bytes, but the function has a return probe: it must stay at the entry. */
	tm_probe_site__choose(free_, sizeof(free_), TM_SITE_ENTRY, &s);
	TM_CHECK(!s.emulated && s.offset == 0);

	tm_probe_site__choose(memalign_, sizeof(memalign_), TM_SITE_AFTER_NULL_TEST, &s);
	TM_CHECK(!s.emulated && s.offset == 0);

	/* No emulated instruction after the test: fall back to the entry. */
	tm_probe_site__choose(test_then_mov, sizeof(test_then_mov), TM_SITE_AFTER_NULL_TEST, &s);
	TM_CHECK(!s.emulated && s.offset == 0);

	TM_CHECK_EQ_U64(tm_probe_site__emulated_len(nopl, sizeof(nopl)), 5);
	TM_CHECK_EQ_U64(tm_probe_site__emulated_len(endbr, sizeof(endbr)), 0);
	TM_CHECK_EQ_U64(tm_probe_site__emulated_len(malloc_, 1), 0);   /* truncated REX push */
	return tm_test_done("probe_site");
}
