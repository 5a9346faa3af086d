// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * unwind.c: .eh_frame's CIEs and FDEs run into rows (see unwind.h).
 *
 * Each FDE's program (its CIE's initial instructions first) is run as the
 * DWARF 5 spec's section 6.4 says; a row is emitted each time the location
 * advances, then rows with the same rule as the one before are merged.
 * Only what x86-64 code needs is kept: the CFA rule, and the rules of rbp
 * (DWARF register 6) and of the return address column. Register numbers
 * other than those are read and ignored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "target/elf.h"
#include "target/unwind.h"

#define DW_REG_RBP 6
#define DW_REG_RSP 7

enum {
	DW_EH_PE_absptr = 0x00,
	DW_EH_PE_uleb128 = 0x01,
	DW_EH_PE_udata2 = 0x02,
	DW_EH_PE_udata4 = 0x03,
	DW_EH_PE_udata8 = 0x04,
	DW_EH_PE_sleb128 = 0x09,
	DW_EH_PE_sdata2 = 0x0a,
	DW_EH_PE_sdata4 = 0x0b,
	DW_EH_PE_sdata8 = 0x0c,
	DW_EH_PE_pcrel = 0x10,
	DW_EH_PE_datarel = 0x30,
	DW_EH_PE_indirect = 0x80,
	DW_EH_PE_omit = 0xff,
};

/* A cursor over [p, end). Every read checks the end; `bad` sticks. */
struct cur {
	const uint8_t *p, *end, *base; /* base: the section's first byte, at vaddr */
	uint64_t vaddr;
	int bad;
};

static uint64_t rd_n(struct cur *c, size_t n)
{
	uint64_t v = 0;
	size_t i;

	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = 1;
		return 0;
	}
	for (i = 0; i < n; i++)
		v |= (uint64_t)c->p[i] << (8 * i); /* little-endian: x86-64 */
	c->p += n;
	return v;
}

/* LEB128: unsigned, or signed (sign-extended from the last byte's bit 6). */
static uint64_t rd_leb(struct cur *c, bool is_signed)
{
	uint64_t v = 0;
	unsigned int shift = 0;
	uint8_t b;

	do {
		b = (uint8_t)rd_n(c, 1);
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while ((b & 0x80) && !c->bad);
	if (is_signed && shift < 64 && (b & 0x40))
		v |= ~0ULL << shift;
	return v;
}

static uint64_t rd_uleb(struct cur *c)
{
	return rd_leb(c, false);
}

static int64_t rd_sleb(struct cur *c)
{
	return (int64_t)rd_leb(c, true);
}

/* The link-time address of the cursor's position. */
static uint64_t here(const struct cur *c)
{
	return c->vaddr + (uint64_t)(c->p - c->base);
}

/*
 * A pointer in encoding @enc. Only absptr and pcrel apply (what GCC and
 * clang emit for x86-64); another application, or an indirect one, sets
 * *unsupported and returns 0.
 */
static uint64_t rd_ptr(struct cur *c, uint8_t enc, int *unsupported)
{
	uint64_t at = here(c), v;

	switch (enc & 0x0f) {
	case DW_EH_PE_absptr:
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		v = rd_n(c, 8);
		break;
	case DW_EH_PE_uleb128:
		v = rd_uleb(c);
		break;
	case DW_EH_PE_udata2:
		v = rd_n(c, 2);
		break;
	case DW_EH_PE_udata4:
		v = rd_n(c, 4);
		break;
	case DW_EH_PE_sleb128:
		v = (uint64_t)rd_sleb(c);
		break;
	case DW_EH_PE_sdata2:
		v = (uint64_t)(int64_t)(int16_t)rd_n(c, 2);
		break;
	case DW_EH_PE_sdata4:
		v = (uint64_t)(int64_t)(int32_t)rd_n(c, 4);
		break;
	default:
		c->bad = 1;
		return 0;
	}
	switch (enc & 0x70) {
	case 0:
		break;
	case DW_EH_PE_pcrel:
		v += at;
		break;
	default:
		*unsupported = 1;
	}
	if (enc & DW_EH_PE_indirect)
		*unsupported = 1;
	return v;
}

struct cie {
	uint64_t code_align;
	int64_t data_align;
	uint64_t ra_reg;
	uint8_t fde_enc;
	int has_z;
	int signal;
	int unsupported;
	const uint8_t *insns, *insns_end;
};

static int parse_cie(struct cur *c, struct cie *cie)
{
	const char *aug;
	uint8_t version;
	size_t i;

	memset(cie, 0, sizeof(*cie));
	cie->fde_enc = DW_EH_PE_absptr;
	version = (uint8_t)rd_n(c, 1);
	if (version != 1 && version != 3)
		return -EINVAL;
	aug = (const char *)c->p;
	while (c->p < c->end && *c->p)
		c->p++;
	rd_n(c, 1);
	if (c->bad)
		return -EINVAL;
	if (aug[0] == 'e' && aug[1] == 'h')
		rd_n(c, 8); /* the old GCC's "eh" data, a pointer */
	cie->code_align = rd_uleb(c);
	cie->data_align = rd_sleb(c);
	cie->ra_reg = version == 1 ? rd_n(c, 1) : rd_uleb(c);
	if (aug[0] == 'z') {
		uint64_t alen = rd_uleb(c);
		struct cur a = *c;

		if (c->bad || alen > (uint64_t)(c->end - c->p))
			return -EINVAL;
		a.end = c->p + alen;
		cie->has_z = 1;
		for (i = 1; aug[i] && !a.bad; i++) {
			uint8_t enc;

			switch (aug[i]) {
			case 'R':
				cie->fde_enc = (uint8_t)rd_n(&a, 1);
				break;
			case 'L':
				rd_n(&a, 1); /* the LSDA's encoding: the FDE's augmentation data, skipped whole */
				break;
			case 'P':
				enc = (uint8_t)rd_n(&a, 1);
				if (enc != DW_EH_PE_omit) {
					int ignored = 0;

					rd_ptr(&a, enc & ~DW_EH_PE_indirect, &ignored);
				}
				break;
			case 'S':
				cie->signal = 1;
				break;
			case 'B':
				break; /* AArch64's B-key: no data */
			default:
				/* unknown: the length still lets the rest be read; its FDEs are not trusted */
				cie->unsupported = 1;
				i = strlen(aug) - 1;
			}
		}
		if (a.bad)
			return -EINVAL;
		c->p += alen;
	} else if (aug[0]) {
		cie->unsupported = 1; /* no length to skip what we do not know */
	}
	if (c->bad || !cie->code_align)
		return -EINVAL;
	cie->insns = c->p;
	cie->insns_end = c->end;
	return 0;
}

static void skip_block(struct cur *c)
{
	uint64_t n = rd_uleb(c);

	if (c->bad || n > (uint64_t)(c->end - c->p))
		c->bad = 1;
	else
		c->p += n;
}

/* v * f, wrapping as the hardware does: a hostile factor is a wrong rule, never undefined behaviour */
static int64_t scaled(uint64_t v, int64_t f)
{
	return (int64_t)(v * (uint64_t)f);
}

/* A register rule, as far as a row needs it. */
enum rule { R_SAME,
	    R_OFFSET,
	    R_OTHER };

struct state {
	uint64_t cfa_reg;
	int64_t cfa_off;
	int cfa_expr;
	enum rule rbp, ra;
	int64_t rbp_off, ra_off;
};

#define REMEMBER_MAX 8

struct run {
	struct state s, init, stack[REMEMBER_MAX];
	int depth;
	int overflow; /* remember_state nested too deep: stop from there */
	uint64_t loc;
};

struct rows {
	struct tm_unwind_row *v;
	size_t n, cap;
	size_t fde_first; /* the current FDE's first row */
	int err;
};

static void push_row(struct rows *r, uint64_t pc, const struct tm_unwind_row *row)
{
	struct tm_unwind_row *v;

	if (r->err)
		return;
	if (pc > UINT32_MAX || r->n >= TM_UNWIND_ROWS_MAX * 4ULL) {
		r->err = -E2BIG;
		return;
	}
	if (r->n > r->fde_first && r->v[r->n - 1].pc == pc) {
		r->v[r->n - 1] = *row; /* an advance by 0: the later rule holds */
		r->v[r->n - 1].pc = (uint32_t)pc;
		return;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;

		v = realloc(r->v, cap * sizeof(*v));
		if (!v) {
			r->err = -ENOMEM;
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n] = *row;
	r->v[r->n].pc = (uint32_t)pc;
	r->n++;
}

static struct tm_unwind_row to_row(const struct run *x, const struct cie *cie)
{
	const struct state *s = &x->s;
	struct tm_unwind_row row = { 0 };

	if (cie->signal || x->overflow || s->cfa_expr || s->cfa_off < 8 || s->cfa_off > UINT16_MAX)
		return row;
	if (s->cfa_reg == DW_REG_RSP)
		row.cfa_reg = TM_UNWIND_CFA_RSP;
	else if (s->cfa_reg == DW_REG_RBP)
		row.cfa_reg = TM_UNWIND_CFA_RBP;
	else
		return row;
	if (s->ra != R_OFFSET || s->ra_off != -8) {
		row.cfa_reg = TM_UNWIND_STOP;
		return row;
	}
	if (s->rbp == R_OFFSET) {
		if (s->rbp_off >= 0 || s->rbp_off < -8 * (int64_t)UINT8_MAX || s->rbp_off % 8) {
			row.cfa_reg = TM_UNWIND_STOP;
			return row;
		}
		row.rbp_slot = (uint8_t)(-s->rbp_off / 8);
	} else if (s->rbp == R_OTHER) {
		row.cfa_reg = TM_UNWIND_STOP;
		return row;
	}
	row.cfa_off = (uint16_t)s->cfa_off;
	return row;
}

static void set_rule(struct state *s, uint64_t reg, uint64_t ra_reg, enum rule rule, int64_t off)
{
	if (reg == DW_REG_RBP) {
		s->rbp = rule;
		s->rbp_off = off;
	} else if (reg == ra_reg) {
		s->ra = rule;
		s->ra_off = off;
	}
}

static void restore_rule(struct run *x, uint64_t reg, uint64_t ra_reg)
{
	if (reg == DW_REG_RBP) {
		x->s.rbp = x->init.rbp;
		x->s.rbp_off = x->init.rbp_off;
	} else if (reg == ra_reg) {
		x->s.ra = x->init.ra;
		x->s.ra_off = x->init.ra_off;
	}
}

/*
 * Run the instructions in @c. With @rows, emit a row at each advance (the
 * FDE's program); without, this is the CIE's initial program. -EINVAL on an
 * opcode we do not know (the caller stops the whole FDE), 0 otherwise.
 */
static int run_program(struct cur *c, const struct cie *cie, struct run *x, struct rows *rows, uint64_t end)
{
	int unsupported = 0;

	while (c->p < c->end && !c->bad) {
		uint8_t op = (uint8_t)rd_n(c, 1), lo = op & 0x3f;
		uint64_t reg, adv = 0, newloc = 0;
		int advance = 0;
		int64_t off;

		switch (op >> 6) {
		case 1: /* DW_CFA_advance_loc */
			adv = lo;
			advance = 1;
			break;
		case 2: /* DW_CFA_offset */
			off = scaled(rd_uleb(c), cie->data_align);
			set_rule(&x->s, lo, cie->ra_reg, R_OFFSET, off);
			continue;
		case 3: /* DW_CFA_restore */
			restore_rule(x, lo, cie->ra_reg);
			continue;
		}
		switch (op >> 6 ? 0x100 : op) {
		case 0x100: /* the advance_loc above */
			break;
		case 0x00: /* nop */
			break;
		case 0x01: /* set_loc */
			newloc = rd_ptr(c, cie->fde_enc, &unsupported);
			if (unsupported || newloc < x->loc)
				return -EINVAL;
			adv = newloc - x->loc;
			advance = 2;
			break;
		case 0x02: /* advance_loc1 */
			adv = rd_n(c, 1);
			advance = 1;
			break;
		case 0x03: /* advance_loc2 */
			adv = rd_n(c, 2);
			advance = 1;
			break;
		case 0x04: /* advance_loc4 */
			adv = rd_n(c, 4);
			advance = 1;
			break;
		case 0x05: /* offset_extended */
			reg = rd_uleb(c);
			off = scaled(rd_uleb(c), cie->data_align);
			set_rule(&x->s, reg, cie->ra_reg, R_OFFSET, off);
			break;
		case 0x11: /* offset_extended_sf */
			reg = rd_uleb(c);
			off = scaled((uint64_t)rd_sleb(c), cie->data_align);
			set_rule(&x->s, reg, cie->ra_reg, R_OFFSET, off);
			break;
		case 0x2f: /* GNU_negative_offset_extended */
			reg = rd_uleb(c);
			off = scaled(0 - rd_uleb(c), cie->data_align);
			set_rule(&x->s, reg, cie->ra_reg, R_OFFSET, off);
			break;
		case 0x06: /* restore_extended */
			restore_rule(x, rd_uleb(c), cie->ra_reg);
			break;
		case 0x07: /* undefined */
		case 0x08: /* same_value */
			reg = rd_uleb(c);
			/* an undefined return address ends the stack (_start): a stop either way */
			set_rule(&x->s, reg, cie->ra_reg, op == 0x08 && reg == DW_REG_RBP ? R_SAME : R_OTHER, 0);
			break;
		case 0x09: /* register */
			reg = rd_uleb(c);
			rd_uleb(c);
			set_rule(&x->s, reg, cie->ra_reg, R_OTHER, 0);
			break;
		case 0x0a: /* remember_state */
			if (x->depth < REMEMBER_MAX)
				x->stack[x->depth] = x->s;
			else
				x->overflow = 1;
			x->depth++;
			break;
		case 0x0b: /* restore_state */
			if (x->depth <= 0)
				return -EINVAL;
			x->depth--;
			if (x->depth < REMEMBER_MAX)
				x->s = x->stack[x->depth];
			break;
		case 0x0c: /* def_cfa */
			x->s.cfa_reg = rd_uleb(c);
			x->s.cfa_off = (int64_t)rd_uleb(c);
			x->s.cfa_expr = 0;
			break;
		case 0x12: /* def_cfa_sf */
			x->s.cfa_reg = rd_uleb(c);
			x->s.cfa_off = scaled((uint64_t)rd_sleb(c), cie->data_align);
			x->s.cfa_expr = 0;
			break;
		case 0x0d: /* def_cfa_register */
			x->s.cfa_reg = rd_uleb(c);
			break;
		case 0x0e: /* def_cfa_offset */
			x->s.cfa_off = (int64_t)rd_uleb(c);
			break;
		case 0x13: /* def_cfa_offset_sf */
			x->s.cfa_off = scaled((uint64_t)rd_sleb(c), cie->data_align);
			break;
		case 0x0f: /* def_cfa_expression: the PLT's, computed from rip */
			x->s.cfa_expr = 1;
			skip_block(c);
			break;
		case 0x10: /* expression */
		case 0x16: /* val_expression */
			reg = rd_uleb(c);
			skip_block(c);
			set_rule(&x->s, reg, cie->ra_reg, R_OTHER, 0);
			break;
		case 0x14: /* val_offset */
		case 0x15: /* val_offset_sf */
			reg = rd_uleb(c);
			rd_uleb(c);
			set_rule(&x->s, reg, cie->ra_reg, R_OTHER, 0);
			break;
		case 0x2e: /* GNU_args_size: what the callee pops, not the frame */
			rd_uleb(c);
			break;
		default:
			return -EINVAL;
		}
		if (advance && rows) {
			struct tm_unwind_row row = to_row(x, cie);
			uint64_t step = advance == 1 ? adv * cie->code_align : adv;

			if (x->loc < end)
				push_row(rows, x->loc, &row);
			x->loc += step;
		} else if (advance) {
			return -EINVAL; /* an advance in a CIE's initial instructions */
		}
	}
	return c->bad ? -EINVAL : 0;
}

/* One FDE at @c (past its CIE pointer), of CIE @cie: its rows, then a stop where it ends. */
static int parse_fde(struct cur *c, const struct cie *cie, struct rows *rows)
{
	const struct tm_unwind_row stop = { 0 };
	int unsupported = cie->unsupported;
	uint64_t begin, range;
	struct cur init;
	struct run x;
	int err;

	begin = rd_ptr(c, cie->fde_enc, &unsupported);
	range = rd_ptr(c, cie->fde_enc & 0x0f, &unsupported);
	if (c->bad)
		return -EINVAL;
	if (cie->has_z)
		skip_block(c);
	if (c->bad)
		return -EINVAL;
	if (!range)
		return 0;
	if (unsupported || begin + range < begin)
		return -ENOTSUP;
	rows->fde_first = rows->n;
	memset(&x, 0, sizeof(x));
	init = *c;
	init.p = cie->insns;
	init.end = cie->insns_end;
	x.s.cfa_reg = DW_REG_RSP;
	x.s.cfa_off = 8;
	x.s.ra = R_OTHER;
	err = run_program(&init, cie, &x, NULL, 0);
	if (err)
		return -ENOTSUP;
	x.init = x.s;
	x.depth = 0;
	x.loc = begin;
	err = run_program(c, cie, &x, rows, begin + range);
	if (err) {
		/* what was read holds; from the opcode we do not know to the end, stop */
		x.overflow = 1;
	}
	if (x.loc < begin + range) {
		struct tm_unwind_row row = to_row(&x, cie);

		push_row(rows, x.loc, &row);
	}
	push_row(rows, begin + range, &stop);
	return rows->err;
}

static int row_cmp(const void *a, const void *b)
{
	const struct tm_unwind_row *x = a, *y = b;

	return x->pc < y->pc ? -1 : x->pc > y->pc;
}

int tm_unwind__parse(const void *data, size_t len, uint64_t vaddr, struct tm_unwind_table *out)
{
	struct rows rows = { 0 };
	struct cur c = { .p = data, .end = (const uint8_t *)data + len, .base = data, .vaddr = vaddr };
	size_t i, n;
	int err = 0;

	memset(out, 0, sizeof(*out));
	while (c.p < c.end) {
		const uint8_t *body;
		uint64_t length = rd_n(&c, 4), id;
		struct cur e;
		struct cie cie;

		if (c.bad) {
			err = -EINVAL;
			break;
		}
		if (!length)
			break; /* the terminator */
		if (length == 0xffffffffu) {
			length = rd_n(&c, 8);
			if (c.bad) {
				err = -EINVAL;
				break;
			}
		}
		if (length > (uint64_t)(c.end - c.p)) {
			err = -EINVAL;
			break;
		}
		body = c.p;
		e = c;
		e.end = body + length;
		c.p = body + length;
		id = rd_n(&e, 4);
		if (!id)
			continue; /* a CIE: read when an FDE names it */
		/* an FDE: its CIE pointer counts back from the pointer's own position */
		if (id > (uint64_t)(body - (const uint8_t *)data)) {
			err = -EINVAL;
			break;
		}
		{
			struct cur ci = c;
			const uint8_t *cp = body - id;
			uint64_t clen;

			ci.p = cp;
			clen = rd_n(&ci, 4);
			if (clen == 0xffffffffu)
				clen = rd_n(&ci, 8);
			if (ci.bad || clen > (uint64_t)(c.end - ci.p) || clen < 4) {
				err = -EINVAL;
				break;
			}
			ci.end = ci.p + clen;
			if (rd_n(&ci, 4) != 0 || parse_cie(&ci, &cie)) {
				err = -EINVAL;
				break;
			}
		}
		out->nfde++;
		err = parse_fde(&e, &cie, &rows);
		if (err == -ENOTSUP) {
			out->nfde_skipped++;
			err = 0;
		} else if (err) {
			break;
		}
	}
	if (!err)
		err = rows.err;
	if (err) {
		free(rows.v);
		memset(out, 0, sizeof(*out));
		return err;
	}
	/*
	 * FDEs in address order, rows in order within each; a stable sort keeps
	 * an FDE's first row after the stop of one that ends where it begins.
	 */
	if (rows.n)
		qsort(rows.v, rows.n, sizeof(*rows.v), row_cmp);
	for (i = 0, n = 0; i < rows.n; i++) {
		struct tm_unwind_row r = rows.v[i];

		if (n && rows.v[n - 1].pc == r.pc) {
			/* one FDE's end is the next one's start: the start wins */
			if (r.cfa_reg != TM_UNWIND_STOP || rows.v[n - 1].cfa_reg == TM_UNWIND_STOP)
				rows.v[n - 1] = r;
			if (n >= 2 && !memcmp((const uint8_t *)&rows.v[n - 2] + 4, (const uint8_t *)&rows.v[n - 1] + 4, 4))
				n--;
			continue;
		}
		if (n && !memcmp((const uint8_t *)&rows.v[n - 1] + 4, (const uint8_t *)&r + 4, 4))
			continue; /* the same rule goes on */
		rows.v[n++] = r;
	}
	if (n > TM_UNWIND_ROWS_MAX) {
		free(rows.v);
		return -E2BIG;
	}
	out->rows = rows.v;
	out->n = n;
	return 0;
}

int tm_unwind__load(const char *path, struct tm_unwind_table *out)
{
	struct tm_elf e = { .fd = -1 };
	const void *data;
	uint64_t addr;
	size_t size;
	int err;

	memset(out, 0, sizeof(*out));
	err = tm_elf__open(path, &e);
	if (err)
		return err;
	if (e.ehdr.e_machine != EM_X86_64)
		err = -ENOTSUP;
	else
		err = tm_elf__section(&e, ".eh_frame", &addr, &data, &size);
	if (!err)
		err = tm_unwind__parse(data, size, addr, out);
	tm_elf__close(&e);
	return err;
}

void tm_unwind__free(struct tm_unwind_table *t)
{
	if (!t)
		return;
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

const struct tm_unwind_row *tm_unwind__find(const struct tm_unwind_table *t, uint64_t pc)
{
	size_t lo = 0, hi = t->n;

	/* the last row whose pc <= pc: what the kernel side's search finds */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->rows[mid].pc <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &t->rows[lo - 1] : NULL;
}
