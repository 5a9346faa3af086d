/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * probe_site.h: where to put a uprobe in a function so the kernel emulates
 * the probed instruction instead of single-stepping it (~0.5 us vs ~16 us a
 * hit on a VM). Pure x86-64 byte decoding: no kernel, no root.
 */
#ifndef TIDEMARK_PROBE_SITE_H
#define TIDEMARK_PROBE_SITE_H

#include <stddef.h>
#include <stdint.h>

enum tm_site_rule {
	/* The probe must be at the entry (it has a return probe): only report. */
	TM_SITE_ENTRY,
	/*
	 * The function does nothing for a NULL first argument (free): the probe
	 * may move past a leading `test %rdi,%rdi; je` to the non-NULL path.
	 */
	TM_SITE_AFTER_NULL_TEST,
};

struct tm_probe_site {
	uint32_t offset;      /* bytes from the function's start */
	int emulated;         /* the kernel emulates the instruction at offset */
	char why[96];         /* what was decided, for -v */
};

/* x86-64 register numbers (ModRM encoding), as bits of a `keep` mask. */
enum tm_reg {
	TM_REG_RAX = 1u << 0,
	TM_REG_RCX = 1u << 1,
	TM_REG_RDX = 1u << 2,
	TM_REG_RBX = 1u << 3,
	TM_REG_RSP = 1u << 4,
	TM_REG_RBP = 1u << 5,
	TM_REG_RSI = 1u << 6,
	TM_REG_RDI = 1u << 7,
};

/* Length of the instruction at code[0] if the kernel emulates it, else 0. */
size_t tm_probe_site__emulated_len(const uint8_t *code, size_t len);

/* Choose the probe offset in a function whose first `len` bytes are `code`. */
void tm_probe_site__choose(const uint8_t *code, size_t len, enum tm_site_rule rule,
			   struct tm_probe_site *out);

/*
 * The first emulated instruction on the straight-line path from the entry,
 * for a probe that reads the registers in @keep (enum tm_reg bits) and
 * may have a return probe: every instruction before it must be one this
 * decoder knows to leave rsp, the registers in @keep and the control flow
 * alone (register moves, loads, lea, test, cmp, endbr64). Stops at the
 * first instruction it does not know, and then stays at the entry
 * (out->emulated = 0). CPython's wrappers such as PyObject_Malloc begin
 * `mov %rdi,%rsi; test %rdi,%rdi; js`: the js, 6 bytes in, is emulated.
 */
void tm_probe_site__first_emulated(const uint8_t *code, size_t len, unsigned int keep,
				   struct tm_probe_site *out);

struct tm_allocator;
struct tm_alloc_fn;

/* One allocator function's probe site: its entry probe, and its return probe if it has one. */
struct tm_alloc_site {
	const struct tm_alloc_fn *fn;
	const char *path; /* the object (a tm_allocator's objs) */
	uint64_t off;     /* file offset of the site: an emulated instruction where there is one */
};

/*
 * Where each of @a's functions is probed (free *out): the first instruction
 * the kernel emulates that still has the arguments (and rsp, for the return
 * probe) as they were at the entry; for a free, also past its NULL test.
 * tidemark and bench/empty_probe.c both place their probes here.
 */
int tm_probe_site__alloc_sites(const struct tm_allocator *a, struct tm_alloc_site **out, size_t *n);
int tm_probe_site__has_return(const struct tm_alloc_fn *f);

#endif
