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

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "target/allocator.h"
#include "target/elf.h"
#include "trace/probe_site.h"
#include "util/log.h"

/* Bytes of a ModRM operand (ModRM, SIB, displacement) starting at m; 0 if cut short. */
static size_t modrm_len(const uint8_t *m, size_t avail)
{
	uint8_t mod, rm;
	size_t n = 1;

	if (!avail)
		return 0;
	mod = m[0] >> 6;
	rm = m[0] & 7;
	if (mod != 3 && rm == 4) {
		if (avail < 2)
			return 0;
		n += 1;         /* SIB */
		if (mod == 0 && (m[1] & 7) == 5)
			n += 4; /* no base register: disp32 */
	}
	if (mod == 1)
		n += 1;
	else if (mod == 2 || (mod == 0 && rm == 5))
		n += 4;
	return n <= avail ? n : 0;
}

/* Length of a `0f 1f /0` multi-byte nop from its ModRM byte on. */
static size_t nopl_len(const uint8_t *m, size_t avail)
{
	if (!avail || ((m[0] >> 3) & 7) != 0)
		return 0;
	return modrm_len(m, avail);
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

/*
 * Length of a straight-line instruction we can step over when looking for
 * an emulated site, with the registers it writes in *writes (bit n for
 * register n, r8-r15 included); 0 for anything else. Known: endbr64, and,
 * with an optional fs/gs segment and REX prefix: mov (89, 8b), lea (8d),
 * test (84, 85), cmp (38-3b, 3d), the ALU operations add/or/and/sub/xor
 * in their r/m-register (01 03 09 0b 21 23 29 2b 31 33), accumulator
 * (05 0d 25 2d 35) and immediate (80/81/83) forms, and shifts by an
 * immediate (c1 /4 /5 /7). None of them branches or moves rsp unless rsp
 * is its destination, which *writes shows. (jemalloc's free begins with
 * `mov; mov; shr; and; add %fs:0,...`: its first branch is emulated.)
 */
static size_t plain_len(const uint8_t *c, size_t len, unsigned int *writes)
{
	uint8_t rex = 0, op, modrm;
	unsigned int reg, rm, sub;
	size_t p = 0, n, imm = 0;

	*writes = 0;
	if (len >= 4 && c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa)
		return 4;
	if (p < len && (c[p] == 0x64 || c[p] == 0x65))
		p++; /* fs/gs: a memory operand's segment */
	if (p < len && (c[p] & 0xf0) == 0x40)
		rex = c[p++];
	if (p >= len)
		return 0;
	op = c[p++];
	switch (op) {
	case 0x3d: /* cmp $imm32, %eax/%rax */
		return p + 4 <= len ? p + 4 : 0;
	case 0x05:
	case 0x0d:
	case 0x25:
	case 0x2d:
	case 0x35: /* op $imm32, %eax/%rax */
		*writes = TM_REG_RAX;
		return p + 4 <= len ? p + 4 : 0;
	case 0x01:
	case 0x03:
	case 0x09:
	case 0x0b:
	case 0x21:
	case 0x23:
	case 0x29:
	case 0x2b:
	case 0x31:
	case 0x33:
	case 0x38: case 0x39: case 0x3a: case 0x3b: case 0x84: case 0x85:
	case 0x80:
	case 0x81:
	case 0x83:
	case 0x89:
	case 0x8b:
	case 0x8d:
	case 0xc1:
		break;
	default:
		return 0;
	}
	if (p >= len)
		return 0;
	modrm = c[p];
	n = modrm_len(c + p, len - p);
	if (!n)
		return 0;
	p += n;
	reg = ((modrm >> 3) & 7) | (rex & 4 ? 8 : 0);
	rm = (modrm & 7) | (rex & 1 ? 8 : 0);
	sub = (modrm >> 3) & 7;
	switch (op) {
	case 0x01:
	case 0x09:
	case 0x21:
	case 0x29:
	case 0x31:
	case 0x89: /* op reg, r/m: a register when mod == 3 */
		if ((modrm >> 6) == 3)
			*writes = 1u << rm;
		break;
	case 0x8d:                                    /* lea: a memory operand only */
		if ((modrm >> 6) == 3)
			return 0;
		/* fall through */
	case 0x03:
	case 0x0b:
	case 0x23:
	case 0x2b:
	case 0x33:
	case 0x8b: /* op r/m, reg */
		*writes = 1u << reg;
		break;
	case 0x80:
	case 0x81:
	case 0x83: /* group 1: /7 (cmp) writes nothing */
		imm = op == 0x81 ? 4 : 1;
		if (sub != 7 && (modrm >> 6) == 3)
			*writes = 1u << rm;
		break;
	case 0xc1: /* shl, shr, sar by an immediate */
		if (sub != 4 && sub != 5 && sub != 7)
			return 0;
		imm = 1;
		if ((modrm >> 6) == 3)
			*writes = 1u << rm;
		break;
	default:                                      /* test, cmp */
		break;
	}
	p += imm;
	return p <= len ? p : 0;
}

void tm_probe_site__first_emulated(const uint8_t *c, size_t len, unsigned int keep,
				   struct tm_probe_site *out)
{
	unsigned int writes;
	size_t off = 0, n;
	int i;

	memset(out, 0, sizeof(*out));
	/* A return probe reads the return address at [rsp]: rsp must be the entry's. */
	keep |= TM_REG_RSP;
	for (i = 0; i < 16 && off < len; i++) {
		if (tm_probe_site__emulated_len(c + off, len - off)) {
			out->offset = (uint32_t)off;
			out->emulated = 1;
			if (off)
				snprintf(out->why, sizeof(out->why),
					 "+%zu, after %d instructions that keep the arguments and rsp", off, i);
			else
				snprintf(out->why, sizeof(out->why), "entry instruction is emulated");
			return;
		}
		n = plain_len(c + off, len - off, &writes);
		if (!n || (writes & keep))
			break;
		off += n;
	}
	snprintf(out->why, sizeof(out->why),
		 "entry instruction (%02x %02x %02x) is single-stepped: no emulated site keeps the arguments",
		 len ? c[0] : 0, len > 1 ? c[1] : 0, len > 2 ? c[2] : 0);
}

/* The registers an entry program reads (enum tm_reg): the probe may move past what keeps them. */
static unsigned int kept_regs(const struct tm_alloc_fn *f)
{
	/* a heap first: the plain form's arguments, one register later */
	if (f->flags & TM_AFN_HEAP) {
		switch (f->kind) {
		case TM_KIND_MALLOC: return TM_REG_RSI;
		case TM_KIND_CALLOC:
		case TM_KIND_REALLOC: return TM_REG_RSI | TM_REG_RDX;
		default: return TM_REG_RSI | TM_REG_RDX | TM_REG_RCX;
		}
	}
	switch (f->kind) {
	case TM_KIND_CALLOC:
	case TM_KIND_REALLOC:
		return TM_REG_RDI | TM_REG_RSI;
	case TM_KIND_REALLOCARRAY:
		return TM_REG_RDI | TM_REG_RSI | TM_REG_RDX;
	case TM_KIND_POSIX_MEMALIGN:
		return TM_REG_RDI | TM_REG_RDX;
	case TM_KIND_ALIGNED_ALLOC:
	case TM_KIND_MEMALIGN:
		return TM_REG_RSI;
	case TM_KIND_MMAP:
	case TM_KIND_MREMAP:
	case TM_KIND_BRK:
		return TM_REG_RBP; /* and rsp: [rsp] is the caller */
	default:
		return TM_REG_RDI;
	}
}

int tm_probe_site__has_return(const struct tm_alloc_fn *f)
{
	return f->kind != TM_KIND_FREE && !(f->flags & TM_AFN_SYSCALL);
}

/*
 * Where each of @a's functions is probed: the first instruction the kernel
 * emulates that still has the arguments (and rsp, for the return probe) as
 * they were at the entry; for a free, also past its NULL test.
 */
int tm_probe_site__alloc_sites(const struct tm_allocator *a, struct tm_alloc_site **out, size_t *nout)
{
	struct tm_alloc_site *v;
	size_t i, n = 0;
	int err;

	*out = NULL;
	*nout = 0;
	v = calloc(a->nprobes ? a->nprobes : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < a->nprobes; i++) {
		const struct tm_alloc_probe *pr = &a->probes[i];
		const char *path = a->objs[pr->obj];
		size_t len = pr->size && pr->size < 64 ? pr->size : 64;
		struct tm_probe_site site;
		uint8_t code[64] = { 0 };

		err = tm_elf__read_code(path, pr->file_off, code, len);
		if (err) {
			free(v);
			return err;
		}
		site.emulated = 0;
		if (pr->fn->kind == TM_KIND_FREE)
			tm_probe_site__choose(code, len, TM_SITE_AFTER_NULL_TEST, &site);
		if (!site.emulated)
			tm_probe_site__first_emulated(code, len, kept_regs(pr->fn), &site);
		pr_debug("attach: %-14s at %s+0x%" PRIx64 "+%u: %s\n", pr->fn->name, path, pr->file_off,
			 site.offset, site.why);
		v[n].fn = pr->fn;
		v[n].path = path;
		v[n].off = pr->file_off + site.offset;
		n++;
	}
	*out = v;
	*nout = n;
	return 0;
}
