/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#include "trace/probe_site.h"
#include "tm_test.h"

/* CPython's allocator wrappers, as objdump shows them (pyenv 3.8/3.12 builds, Debian's 3.11). */
static void test_first_emulated(void)
{
	/* mov %rdi,%rsi; test %rdi,%rdi; js: size stays in rdi, rsp untouched */
	static const uint8_t pyobject_malloc[] = { 0x48, 0x89, 0xfe, 0x48, 0x85, 0xff, 0x78, 0x18, 0x48, 0x8b };
	/* mov %rsi,%rdx; test %rsi,%rsi; js */
	static const uint8_t pyobject_realloc[] = { 0x48, 0x89, 0xf2, 0x48, 0x85, 0xf6, 0x78, 0x18 };
	static const uint8_t pyobject_calloc[] = { 0x48, 0x85, 0xf6, 0x74, 0x14 };
	/* 3.8: mov %rdi,%rsi; mov _PyObject(%rip),%rdi; jmp *...(%rip): rdi is overwritten */
	static const uint8_t pyobject_free38[] = { 0x48, 0x89, 0xfe, 0x48, 0x8b, 0x3d, 0x56, 0x0c, 0x25, 0x00,
						   0xff, 0x25, 0x70, 0x0c, 0x25, 0x00 };
	/* 3.12: mov ...(%rip),%rax; mov %rdi,%rsi; mov 0xb0(%rax),%rdi; jmp *0xd0(%rax) */
	static const uint8_t pyobject_free312[] = { 0x48, 0x8b, 0x05, 0x19, 0x48, 0x37, 0x00, 0x48, 0x89, 0xfe,
						    0x48, 0x8b, 0xb8, 0xb0, 0x00, 0x00, 0x00, 0xff, 0xa0, 0xd0 };
	/* pymalloc's _PyObject_Free(ctx, p): test %rsi,%rsi; je rel32 */
	static const uint8_t pymalloc_free[] = { 0x48, 0x85, 0xf6, 0x0f, 0x84, 0xb7, 0x00, 0x00, 0x00 };
	/* Debian 3.11 (LTO): two rip-relative loads, cmp $imm32,%rax, jne rel32 */
	static const uint8_t deb_free[] = { 0x48, 0x8b, 0x05, 0x09, 0x96, 0x45, 0x00, 0x48, 0x8b, 0x15, 0xe2,
					    0x95, 0x45, 0x00, 0x48, 0x3d, 0xe0, 0x0f, 0x50, 0x00, 0x0f, 0x85,
					    0xb4, 0x01, 0x00, 0x00 };
	static const uint8_t push_rbx[] = { 0x53, 0x48, 0x89, 0xfb };
	/* sub $8,%rsp before the branch: moving rsp is not stepped over */
	static const uint8_t sub_rsp[] = { 0x48, 0x83, 0xec, 0x08, 0x74, 0x02 };
	/* mov %rdi,%rsp would move the stack: not stepped over */
	static const uint8_t mov_rsp[] = { 0x48, 0x89, 0xfc, 0x74, 0x02 };
	/* SIB without base (disp32) and a lea: lengths 8 and 4 */
	static const uint8_t sib[] = { 0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0, 0x48, 0x8d, 0x46, 0xff, 0x74, 0x02 };
	/*
	 * jemalloc 5.3's free (Debian): mov %rdi,%rax; mov (%rip),%rdx; mov %rdi,%rcx;
	 * shr $26,%rax; and $imm32,%rcx; and $0xf0,%eax; add %fs:0,%rax; add %rdx,%rax;
	 * cmp 0x1b0(%rax),%rcx; jne rel32: ten instructions that keep rdi, then a branch.
	 */
	static const uint8_t je_free[] = { 0x48, 0x89, 0xf8, 0x48, 0x8b, 0x15, 0x0e, 0x53, 0x0a, 0x00, 0x48, 0x89,
					   0xf9, 0x48, 0xc1, 0xe8, 0x1a, 0x48, 0x81, 0xe1, 0x00, 0x00, 0x00, 0xc0,
					   0x25, 0xf0, 0x00, 0x00, 0x00, 0x64, 0x48, 0x03, 0x04, 0x25, 0x00, 0x00,
					   0x00, 0x00, 0x48, 0x01, 0xd0, 0x48, 0x3b, 0x88, 0xb0, 0x01, 0x00, 0x00,
					   0x0f, 0x85, 0x10, 0x00, 0x00, 0x00 };
	/* jemalloc's rallocx: xor %ecx,%ecx; jmp rel32 */
	static const uint8_t je_rallocx[] = { 0x31, 0xc9, 0xe9, 0xe9, 0x1c, 0xff, 0xff };
	/* and %rdi,%rdi would write rdi: not stepped over for a probe reading it */
	static const uint8_t and_rdi[] = { 0x48, 0x21, 0xff, 0x74, 0x02 };
	struct tm_probe_site s;

	tm_probe_site__first_emulated(je_free, sizeof(je_free), TM_REG_RDI, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 48);
	tm_probe_site__first_emulated(je_rallocx, sizeof(je_rallocx), TM_REG_RDI | TM_REG_RSI, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 2);
	tm_probe_site__first_emulated(and_rdi, sizeof(and_rdi), TM_REG_RDI, &s);
	TM_CHECK(!s.emulated && s.offset == 0);

	tm_probe_site__first_emulated(pyobject_malloc, sizeof(pyobject_malloc), TM_REG_RDI, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 6);
	/* The same bytes for a probe that also reads rsi: the first mov overwrites it. */
	tm_probe_site__first_emulated(pyobject_malloc, sizeof(pyobject_malloc), TM_REG_RDI | TM_REG_RSI, &s);
	TM_CHECK(!s.emulated && s.offset == 0);

	tm_probe_site__first_emulated(pyobject_realloc, sizeof(pyobject_realloc), TM_REG_RDI | TM_REG_RSI, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 6);
	tm_probe_site__first_emulated(pyobject_calloc, sizeof(pyobject_calloc), TM_REG_RDI | TM_REG_RSI, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 3);

	tm_probe_site__first_emulated(pyobject_free38, sizeof(pyobject_free38), TM_REG_RDI, &s);
	TM_CHECK(!s.emulated && s.offset == 0);
	tm_probe_site__first_emulated(pyobject_free312, sizeof(pyobject_free312), TM_REG_RDI, &s);
	TM_CHECK(!s.emulated && s.offset == 0);
	tm_probe_site__first_emulated(pymalloc_free, sizeof(pymalloc_free), TM_REG_RSI, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 3);
	tm_probe_site__first_emulated(deb_free, sizeof(deb_free), TM_REG_RDI, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 20);
	/* Cut in the middle of an instruction: no site. */
	tm_probe_site__first_emulated(deb_free, 18, TM_REG_RDI, &s);
	TM_CHECK(!s.emulated && s.offset == 0);

	tm_probe_site__first_emulated(push_rbx, sizeof(push_rbx), TM_REG_RDI, &s);
	TM_CHECK(s.emulated && s.offset == 0);
	tm_probe_site__first_emulated(sub_rsp, sizeof(sub_rsp), TM_REG_RDI, &s);
	TM_CHECK(!s.emulated && s.offset == 0);
	tm_probe_site__first_emulated(mov_rsp, sizeof(mov_rsp), TM_REG_RDI, &s);
	TM_CHECK(!s.emulated && s.offset == 0);
	tm_probe_site__first_emulated(sib, sizeof(sib), TM_REG_RDI, &s);
	TM_CHECK(s.emulated);
	TM_CHECK_EQ_U64(s.offset, 12);
	/* ... unless the lea's destination (rax) is a register the probe reads. */
	tm_probe_site__first_emulated(sib, sizeof(sib), TM_REG_RAX, &s);
	TM_CHECK(!s.emulated);
}

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

	test_first_emulated();
	return tm_test_done("probe_site");
}
