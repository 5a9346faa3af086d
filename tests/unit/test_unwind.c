/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * test_unwind: the .eh_frame row table (user/target/unwind.c).
 *  - This host's libc, row by row, against binutils' reading of the same
 *    section (`readelf --debug-dump=frames-interp`): every row readelf
 *    prints, at its first and its last address, and every FDE's end.
 *  - malloc's own rows, named: at its first instruction CFA = rsp+8.
 *  - A hand-made .eh_frame with each pointer encoding the parser takes, a
 *    "zPLR" CIE, remember/restore_state, rbp-based frames, an expression
 *    (a stop), a signal-frame CIE (stops) and an unsupported encoding.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/elf.h"
#include "target/unwind.h"
#include "tm_test.h"

static char libc_path[4096];

static int find_libc(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *base = strrchr(info->dlpi_name, '/');

	(void)size;
	(void)data;
	base = base ? base + 1 : info->dlpi_name;
	if (!libc_path[0] && !strncmp(base, "libc.so", 7))
		snprintf(libc_path, sizeof(libc_path), "%s", info->dlpi_name);
	return 0;
}

/* readelf's cell for a row, as a row of ours. */
static struct tm_unwind_row expect_row(const char *cfa, const char *rbp, const char *ra, int signal)
{
	struct tm_unwind_row r = { 0 };
	unsigned int off;

	if (signal || strcmp(ra, "c-8"))
		return r;
	if (sscanf(cfa, "rsp+%u", &off) == 1)
		r.cfa_reg = TM_UNWIND_CFA_RSP;
	else if (sscanf(cfa, "rbp+%u", &off) == 1)
		r.cfa_reg = TM_UNWIND_CFA_RBP;
	else
		return r;
	r.cfa_off = (uint16_t)off;
	if (rbp && !strncmp(rbp, "c-", 2)) {
		r.rbp_slot = (uint8_t)(atoi(rbp + 2) / 8);
	} else if (rbp && strcmp(rbp, "u")) {
		memset(&r, 0, sizeof(r));
	}
	return r;
}

static int same(const struct tm_unwind_row *a, const struct tm_unwind_row *b)
{
	if (!a)
		return b->cfa_reg == TM_UNWIND_STOP;
	if (a->cfa_reg == TM_UNWIND_STOP || b->cfa_reg == TM_UNWIND_STOP)
		return a->cfa_reg == b->cfa_reg;
	return a->cfa_reg == b->cfa_reg && a->cfa_off == b->cfa_off && a->rbp_slot == b->rbp_slot;
}

#define MAX_COLS 24
#define MAX_ENDS 16384

static void test_libc_against_readelf(void)
{
	struct tm_unwind_table t;
	char cmd[4200], line[1024], cols[MAX_COLS][32], cie_sig[64][16] = { 0 };
	uint64_t ends[MAX_ENDS], begins[MAX_ENDS], pc_hi = 0, prev_loc = 0;
	struct tm_unwind_row prev = { 0 };
	size_t nends = 0, nbegins = 0, ncols = 0, i, j, rows_checked = 0, bad = 0, fdes = 0, unaligned = 0;
	int signal = 0, have_prev = 0, ncies = 0;
	FILE *f;

	TM_CHECK(tm_unwind__load(libc_path, &t) == 0);
	if (!t.n)
		return;
	printf("# %s: %zu FDEs (%zu skipped), %zu rows (%zu bytes)\n", libc_path, t.nfde, t.nfde_skipped, t.n,
	       t.n * sizeof(*t.rows));
	TM_CHECK(t.n <= TM_UNWIND_ROWS_MAX);
	TM_CHECK(t.nfde > 1000);
	TM_CHECK_EQ_U64(t.nfde_skipped, 0);
	for (i = 1; i < t.n; i++)
		if (t.rows[i].pc <= t.rows[i - 1].pc)
			bad++;
	TM_CHECK_EQ_U64(bad, 0); /* sorted, one row per pc */

	snprintf(cmd, sizeof(cmd), "readelf --debug-dump=frames-interp '%s' 2>/dev/null", libc_path);
	f = popen(cmd, "r");
	TM_CHECK(f != NULL);
	if (!f)
		goto out;
		/*
	 * A row is checked when the next one (or the FDE's end) says where it
	 * stops: at its first address and its last.
	 */
#define FLUSH(upto) \
	do { \
		if (have_prev && (upto) > prev_loc) { \
			const struct tm_unwind_row *a = tm_unwind__find(&t, prev_loc), \
						   *b = tm_unwind__find(&t, (upto)-1); \
			if (!same(a, &prev) || !same(b, &prev)) { \
				if (bad++ < 5) \
					printf("# row at %#lx..%#lx: want reg %u off %u rbp %u\n", \
					       (unsigned long)prev_loc, (unsigned long)(upto), \
					       prev.cfa_reg, prev.cfa_off, prev.rbp_slot); \
			} \
			rows_checked++; \
		} \
		have_prev = 0; \
	} while (0)
	bad = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long off, lo, hi, cie;
		char aug[32], tok[MAX_COLS][32];
		int n;

		if (sscanf(line, "%lx %*x %*x CIE \"%31[^\"]\"", &off, aug) == 2) {
			if (ncies < 64) {
				snprintf(cie_sig[ncies], sizeof(cie_sig[0]), "%lx%s", off, strchr(aug, 'S') ? "S" : "");
				ncies++;
			}
			pc_hi = 0;
			continue;
		}
		if (sscanf(line, "%lx %*x %*x FDE cie=%lx pc=%lx..%lx", &off, &cie, &lo, &hi) == 4) {
			char want[24];

			FLUSH(pc_hi);
			pc_hi = hi;
			fdes++;
			signal = 0;
			snprintf(want, sizeof(want), "%lxS", cie);
			for (n = 0; n < ncies; n++)
				if (!strcmp(cie_sig[n], want))
					signal = 1;
			if (nends < MAX_ENDS && hi > lo) {
				ends[nends++] = hi;
				begins[nbegins++] = lo;
			}
			/* an FDE with no row of its own: the CIE's rsp+8 */
			prev = expect_row("rsp+8", "u", "c-8", signal);
			prev_loc = lo;
			have_prev = hi > lo;
			ncols = 0;
			continue;
		}
		if (strstr(line, "LOC") && strstr(line, "CFA")) {
			have_prev = 0; /* the table says the first row itself */
			n = sscanf(line, "%31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s",
				   cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8],
				   cols[9], cols[10], cols[11], cols[12], cols[13], cols[14], cols[15]);
			ncols = n > 0 ? (size_t)n : 0;
			continue;
		}
		if (!pc_hi || !ncols)
			continue;
		n = sscanf(line, "%31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s",
			   tok[0], tok[1], tok[2], tok[3], tok[4], tok[5], tok[6], tok[7], tok[8], tok[9], tok[10],
			   tok[11], tok[12], tok[13], tok[14], tok[15]);
		if (n < 3 || strlen(tok[0]) != 16)
			continue;
		if ((size_t)n != ncols) {
			/* a cell with a space, "r9 (r9)": a register held in another, which rows cannot say */
			FLUSH(strtoull(tok[0], NULL, 16));
			unaligned++;
			continue;
		}
		{
			uint64_t loc = strtoull(tok[0], NULL, 16);
			const char *rbp = NULL, *ra = NULL;

			FLUSH(loc);
			for (j = 2; j < ncols; j++) {
				if (!strcmp(cols[j], "rbp"))
					rbp = tok[j];
				if (!strcmp(cols[j], "ra"))
					ra = tok[j];
			}
			prev = expect_row(tok[1], rbp, ra ? ra : "u", signal);
			prev_loc = loc;
			have_prev = 1;
		}
	}
	FLUSH(pc_hi);
	pclose(f);
	printf("# readelf: %zu FDEs, %zu rows checked, %zu differ, %zu not compared (a register in another)\n",
	       fdes, rows_checked, bad, unaligned);
	TM_CHECK_EQ_U64(fdes, t.nfde);
	TM_CHECK(rows_checked > 10000);
	TM_CHECK_EQ_U64(bad, 0);

	/* where an FDE ends and none begins, the walk stops */
	bad = 0;
	for (i = 0; i < nends; i++) {
		const struct tm_unwind_row *r = tm_unwind__find(&t, ends[i]);
		int begun = 0;

		for (j = 0; j < nbegins && !begun; j++)
			begun = begins[j] == ends[i];
		if (!begun && r && r->cfa_reg != TM_UNWIND_STOP)
			bad++;
	}
	TM_CHECK_EQ_U64(bad, 0);
out:
	tm_unwind__free(&t);
}

/* malloc by name: its first instruction, and a row after its pushes. */
static void test_libc_malloc(void)
{
	struct tm_elf e = { .fd = -1 };
	struct tm_unwind_table t;
	const struct tm_unwind_row *r;
	uint64_t addr = 0, size = 0, i;
	int deeper = 0;

	TM_CHECK(tm_unwind__load(libc_path, &t) == 0);
	TM_CHECK(tm_elf__open(libc_path, &e) == 0);
	TM_CHECK(tm_elf__lookup(&e, "malloc", TM_ELF_SYM_FUNC, &addr, &size, NULL) == 0);
	tm_elf__close(&e);
	r = tm_unwind__find(&t, addr);
	TM_CHECK(r != NULL);
	if (r) {
		TM_CHECK_EQ_U64(r->cfa_reg, TM_UNWIND_CFA_RSP);
		TM_CHECK_EQ_U64(r->cfa_off, 8);
		TM_CHECK_EQ_U64(r->rbp_slot, 0);
	}
	/* somewhere inside, it has pushed registers: a CFA above rsp+8 */
	for (i = addr; i < addr + size; i++) {
		r = tm_unwind__find(&t, i);
		if (r && r->cfa_reg == TM_UNWIND_CFA_RSP && r->cfa_off > 8)
			deeper = 1;
	}
	TM_CHECK(deeper);
	tm_unwind__free(&t);
}

/* ---- a hand-made .eh_frame ---------------------------------------------- */

struct blob {
	uint8_t b[4096];
	size_t n;
};

static void put(struct blob *x, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		x->b[x->n++] = (uint8_t)(v >> (8 * i));
}

static void put_uleb(struct blob *x, uint64_t v)
{
	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		x->b[x->n++] = b | (v ? 0x80 : 0);
	} while (v);
}

static void put_sleb(struct blob *x, int64_t v)
{
	int more = 1;

	while (more) {
		uint8_t b = v & 0x7f;

		v >>= 7;
		more = !((v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40)));
		x->b[x->n++] = b | (more ? 0x80 : 0);
	}
}

static void pad_to(struct blob *x, size_t start)
{
	while ((x->n - start) % 8 != 4)
		x->b[x->n++] = 0; /* DW_CFA_nop */
	/* the length field counts what follows it */
	x->b[start] = (uint8_t)(x->n - start - 4);
	x->b[start + 1] = (uint8_t)((x->n - start - 4) >> 8);
}

/* A CIE with augmentation @aug, FDE pointer encoding @enc; returns its offset. */
static size_t add_cie(struct blob *x, const char *aug, uint8_t enc)
{
	size_t start = x->n, i;

	put(x, 0, 4);
	put(x, 0, 4); /* CIE id */
	put(x, 1, 1); /* version */
	for (i = 0; i <= strlen(aug); i++)
		put(x, (uint8_t)aug[i], 1);
	put_uleb(x, 1);  /* code alignment */
	put_sleb(x, -8); /* data alignment */
	put(x, 16, 1);   /* return address column */
	if (!strcmp(aug, "zPLR")) {
		put_uleb(x, 7);
		put(x, 0x9b, 1); /* personality: indirect pcrel sdata4 */
		put(x, 0x1234, 4);
		put(x, 0x1b, 1); /* LSDA: pcrel sdata4 */
		put(x, enc, 1);
	} else {
		put_uleb(x, strlen(aug) - 1);
		for (i = 1; aug[i]; i++)
			if (aug[i] == 'R')
				put(x, enc, 1);
	}
	/* def_cfa rsp+8; offset ra at cfa-8 */
	put(x, 0x0c, 1);
	put_uleb(x, 7);
	put_uleb(x, 8);
	put(x, 0x80 | 16, 1);
	put_uleb(x, 1);
	pad_to(x, start);
	return start;
}

/* The pointer @v in encoding @enc at the blob's end (which is at @vaddr + x->n). */
static void put_ptr(struct blob *x, uint64_t vaddr, uint64_t v, uint8_t enc)
{
	if ((enc & 0x70) == 0x10)
		v -= vaddr + x->n;
	switch (enc & 0x0f) {
	case 0x00:
	case 0x04:
	case 0x0c:
		put(x, v, 8);
		break;
	case 0x01:
		put_uleb(x, v);
		break;
	case 0x02:
	case 0x0a:
		put(x, v, 2);
		break;
	case 0x03:
	case 0x0b:
		put(x, v, 4);
		break;
	case 0x09:
		put_sleb(x, (int64_t)v);
		break;
	}
}

/*
 * An FDE for [lo, lo + 0x40) of CIE @cie: push rbp (rsp+16, rbp at
 * cfa-16) at +1, mov rsp,rbp (CFA = rbp+16) at +4, remember, leave
 * (rsp+8) at +0x20, restore at +0x21 (rbp+16 again).
 */
static void add_fde(struct blob *x, uint64_t vaddr, size_t cie, uint64_t lo, uint8_t enc, int z)
{
	size_t start = x->n;

	put(x, 0, 4);
	put(x, x->n - cie, 4); /* CIE pointer: back from here */
	put_ptr(x, vaddr, lo, enc);
	put_ptr(x, vaddr, 0x40, enc & 0x0f);
	if (z)
		put_uleb(x, 0);
	put(x, 0x41, 1); /* advance_loc 1 */
	put(x, 0x0e, 1); /* def_cfa_offset 16 */
	put_uleb(x, 16);
	put(x, 0x80 | 6, 1); /* offset rbp, 2 * -8 */
	put_uleb(x, 2);
	put(x, 0x02, 1); /* advance_loc1 3 */
	put(x, 3, 1);
	put(x, 0x0d, 1); /* def_cfa_register rbp */
	put_uleb(x, 6);
	put(x, 0x0a, 1); /* remember_state */
	put(x, 0x03, 1); /* advance_loc2 0x1c */
	put(x, 0x1c, 2);
	put(x, 0x0c, 1); /* def_cfa rsp+8 */
	put_uleb(x, 7);
	put_uleb(x, 8);
	put(x, 0xc0 | 6, 1); /* restore rbp */
	put(x, 0x04, 1);     /* advance_loc4 1 */
	put(x, 1, 4);
	put(x, 0x0b, 1); /* restore_state */
	put(x, 0x41, 1); /* advance_loc 1 */
	put(x, 0x0f, 1); /* def_cfa_expression, 2 bytes */
	put_uleb(x, 2);
	put(x, 0x7707, 2);
	pad_to(x, start);
}

static void check_fde_rows(const struct tm_unwind_table *t, uint64_t lo, int signal)
{
	static const struct {
		uint64_t at;
		uint8_t reg;
		uint16_t off;
		uint8_t slot;
	} want[] = {
		{ 0x00, TM_UNWIND_CFA_RSP, 8, 0 },
		{ 0x01, TM_UNWIND_CFA_RSP, 16, 2 },
		{ 0x03, TM_UNWIND_CFA_RSP, 16, 2 },
		{ 0x04, TM_UNWIND_CFA_RBP, 16, 2 },
		{ 0x1f, TM_UNWIND_CFA_RBP, 16, 2 },
		{ 0x20, TM_UNWIND_CFA_RSP, 8, 0 },
		{ 0x21, TM_UNWIND_CFA_RBP, 16, 2 },
		{ 0x22, TM_UNWIND_STOP, 0, 0 },
		{ 0x3f, TM_UNWIND_STOP, 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct tm_unwind_row *r = tm_unwind__find(t, lo + want[i].at);
		struct tm_unwind_row w = { .cfa_reg = signal ? 0 : want[i].reg,
					   .cfa_off = signal ? 0 : want[i].off,
					   .rbp_slot = signal ? 0 : want[i].slot };

		TM_CHECK(r != NULL);
		if (r && !same(r, &w))
			printf("# fde %#lx +%#lx: got reg %u off %u slot %u\n", (unsigned long)lo,
			       (unsigned long)want[i].at, r->cfa_reg, r->cfa_off, r->rbp_slot);
		TM_CHECK(r && same(r, &w));
	}
}

static void test_blob(void)
{
	/* every encoding the parser applies, each its own CIE and FDE, 0x100 apart */
	static const uint8_t encs[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x09, 0x0a, 0x0b, 0x0c,
					0x10 | 0x0b, 0x10 | 0x0c, 0x10 | 0x0a, 0x10 | 0x09 };
	const uint64_t vaddr = 0x7000, base = 0x1000;
	struct tm_unwind_table t;
	struct blob x = { .n = 0 };
	size_t i, cie;

	for (i = 0; i < sizeof(encs); i++) {
		cie = add_cie(&x, i % 3 ? "zR" : "zPLR", encs[i]);
		add_fde(&x, vaddr, cie, base + 0x100 * i, encs[i], 1);
	}
	/* a signal frame: all its rows stop */
	cie = add_cie(&x, "zRS", 0x1b);
	add_fde(&x, vaddr, cie, 0x3000, 0x1b, 1);
	/* datarel: not handled, the FDE is skipped (its range stops) */
	cie = add_cie(&x, "zR", 0x33);
	add_fde(&x, vaddr, cie, 0x4000, 0x33, 1);
	put(&x, 0, 4); /* terminator */

	TM_CHECK(tm_unwind__parse(x.b, x.n, vaddr, &t) == 0);
	TM_CHECK_EQ_U64(t.nfde, sizeof(encs) + 2);
	TM_CHECK_EQ_U64(t.nfde_skipped, 1);
	for (i = 0; i < sizeof(encs); i++)
		check_fde_rows(&t, base + 0x100 * i, 0);
	check_fde_rows(&t, 0x3000, 1);
	TM_CHECK(tm_unwind__find(&t, base - 1) == NULL);
	TM_CHECK(tm_unwind__find(&t, 0x4000) && tm_unwind__find(&t, 0x4000)->cfa_reg == TM_UNWIND_STOP);
	/* between FDEs: stop */
	TM_CHECK(tm_unwind__find(&t, base + 0x40)->cfa_reg == TM_UNWIND_STOP);
	tm_unwind__free(&t);

	/* malformed: a length past the end, a CIE pointer before the section */
	{
		uint8_t bad1[8] = { 0x40, 0, 0, 0, 0, 0, 0, 0 };
		uint8_t bad2[16] = { 12, 0, 0, 0, 0x40, 0, 0, 0 };

		TM_CHECK(tm_unwind__parse(bad1, sizeof(bad1), 0, &t) == -EINVAL);
		TM_CHECK(tm_unwind__parse(bad2, sizeof(bad2), 0, &t) == -EINVAL);
		TM_CHECK(tm_unwind__parse(bad1, 0, 0, &t) == 0 && t.n == 0);
	}
}

int main(void)
{
	dl_iterate_phdr(find_libc, NULL);
	test_blob();
	if (libc_path[0]) {
		test_libc_against_readelf();
		test_libc_malloc();
	} else {
		printf("# skip: libc not found among this process's objects\n");
	}
	return tm_test_done("test_unwind");
}
