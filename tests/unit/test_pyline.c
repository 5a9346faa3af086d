// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_pyline: tm_pyline__addr2line() against CPython itself.
 *
 * Hand-made tables first (no interpreter needed), then, for every installed
 * CPython 3.8-3.13, the cases gen_pyline_cases.py dumps: CPython's own
 * PyCode_Addr2Line() at every instruction of a sample and of stdlib code
 * objects. Zero mismatches allowed. A version with no interpreter on this
 * machine is skipped, and says so.
 *
 * Usage: test_pyline [GEN_SCRIPT]   (default tests/unit/gen_pyline_cases.py)
 * Interpreters: $TM_PYTHONS (space separated), else $PYENV_ROOT (or
 * ~/.pyenv)/versions/<ver>/bin/python3 and /usr/bin/python3.<minor>.
 */
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <unistd.h>

#include "tm_test.h"
#include "target/python.h"

static void test_handmade(void)
{
	/* 3.8 lnotab: +6 bytes -> +1 line, +10 bytes -> -2 lines (int8), then +200 bytes -> +0. */
	static const uint8_t lnotab[] = { 6, 1, 10, 0xfe, 200, 0 };
	/* 3.10: 4 bytes on line+0, 4 bytes "no line" (-128), 6 bytes on line+3. */
	static const uint8_t lt310[] = { 4, 0, 4, 0x80, 6, 3 };
	/*
	 * 3.11: short form (code 0) 2 units; one-line code 11 (+1) 1 unit; no
	 * location (15) 1 unit; no-column code 13 with svarint -2 (v=5) 3 units;
	 * long form 14 with +70 (v=140: 0x4c|0x40, 0x02) and 3 varints, 1 unit.
	 */
	static const uint8_t lt311[] = {
		0x80 | (0 << 3) | 1, 0x00,
		0x80 | (11 << 3) | 0, 0x01, 0x02,
		0x80 | (15 << 3) | 0,
		0x80 | (13 << 3) | 2, 0x05,
		0x80 | (14 << 3) | 0, 0x4c | 0x40, 0x02, 0x00, 0x01, 0x02,
	};
	unsigned int v38 = TM_PY_VERSION(3, 8), v310 = TM_PY_VERSION(3, 10), v311 = TM_PY_VERSION(3, 11);

	TM_CHECK_EQ_U64(tm_pyline__addr2line(v38, lnotab, sizeof(lnotab), 10, 0), 10);
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v38, lnotab, sizeof(lnotab), 10, 2), 10);  /* byte 4 */
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v38, lnotab, sizeof(lnotab), 10, 3), 11);  /* byte 6 */
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v38, lnotab, sizeof(lnotab), 10, 8), 9);   /* byte 16 */
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v38, lnotab, sizeof(lnotab), 10, 500), 9);

	TM_CHECK_EQ_U64(tm_pyline__addr2line(v310, lt310, sizeof(lt310), 20, 1), 20);
	TM_CHECK(tm_pyline__addr2line(v310, lt310, sizeof(lt310), 20, 2) == -1);
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v310, lt310, sizeof(lt310), 20, 4), 23);
	TM_CHECK(tm_pyline__addr2line(v310, lt310, sizeof(lt310), 20, 7) == -1);      /* past the end */

	TM_CHECK_EQ_U64(tm_pyline__addr2line(v311, lt311, sizeof(lt311), 30, 0), 30);
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v311, lt311, sizeof(lt311), 30, 1), 30);
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v311, lt311, sizeof(lt311), 30, 2), 31);
	TM_CHECK(tm_pyline__addr2line(v311, lt311, sizeof(lt311), 30, 3) == -1);
	/* "no location" leaves the running line alone: 31 - 2 = 29, not -1 - 2. */
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v311, lt311, sizeof(lt311), 30, 4), 29);
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v311, lt311, sizeof(lt311), 30, 6), 29);
	TM_CHECK_EQ_U64(tm_pyline__addr2line(v311, lt311, sizeof(lt311), 30, 7), 99);
	TM_CHECK(tm_pyline__addr2line(v311, lt311, sizeof(lt311), 30, 8) == -1);
	/* Truncated or corrupt tables never read past their end. */
	TM_CHECK(tm_pyline__addr2line(v311, lt311, 9, 30, 7) == -1);
	TM_CHECK(tm_pyline__addr2line(v311, lt311 + 1, sizeof(lt311) - 1, 30, 0) == -1);
	TM_CHECK(tm_pyline__addr2line(TM_PY_VERSION(3, 7), lt311, sizeof(lt311), 30, 0) == -EINVAL);
	TM_CHECK(tm_pyline__addr2line(v311, NULL, 0, 30, 0) == -1);
	{
		/*
		 * A corrupt line number (the fuzzer's 436148223 + 1993958806) is
		 * no line, never a signed overflow: svarint 2^30-1 twice, and
		 * +127 pairs from a first line near INT_MAX.
		 */
		static const uint8_t big311[] = "\xe8\x7e\x7f\x7f\x7f\x7f\x01" /* 0x80 | 13 << 3 */
						"\xe8\x7e\x7f\x7f\x7f\x7f\x01";
		static const uint8_t big38[] = { 0x02, 0x7f, 0x02, 0x7f };

		TM_CHECK(tm_pyline__addr2line(v311, big311, sizeof(big311) - 1, 436148223, 1) == -1);
		TM_CHECK(tm_pyline__addr2line(v311, big311, sizeof(big311) - 1, 0x7fffff00, 0) == -1);
		TM_CHECK(tm_pyline__addr2line(v38, big38, sizeof(big38), 0x7fffffc0, 9) == -1);
		TM_CHECK(tm_pyline__addr2line(v310, big38, sizeof(big38), 0x7fffffc0, 1) == -1);
		TM_CHECK_EQ_U64(tm_pyline__addr2line(v38, big38, sizeof(big38), 0x7fffffc0, 0), 0x7fffffc0);
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Run the generator under @python and check every case. Returns the number
 * of mismatches, -1 if it did not run, -2 if it is not CPython 3.8-3.13.
 */
static long check_interpreter(const char *python, const char *script, unsigned int *ver_out)
{
	char cmd[8192];
	size_t cap = 1 << 16, len = 0;
	char *line = malloc(cap);
	uint8_t *table = malloc(cap);
	unsigned long codes = 0, offsets = 0;
	long bad = 0, shown = 0;
	unsigned int version = 0;
	FILE *p;
	int c;

	if (!line || !table) {
		free(line);
		free(table);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "'%s' '%s'", python, script);
	p = popen(cmd, "r");
	if (!p) {
		free(line);
		free(table);
		return -1;
	}
	for (;;) {
		/* getline-alike that keeps the buffer: lines can be long */
		len = 0;
		while ((c = fgetc(p)) != EOF && c != '\n') {
			if (len + 2 > cap) {
				char *n = realloc(line, cap * 2);

				if (!n)
					break;
				line = n;
				cap *= 2;
				table = realloc(table, cap);
				if (!table)
					break;
			}
			line[len++] = (char)c;
		}
		if (!table)
			break;
		line[len] = 0;
		if (c == EOF && !len)
			break;
		if (line[0] == 'V') {
			version = (unsigned int)strtoul(line + 2, NULL, 16);
			if ((version >> 24) != 3 || TM_PY_MINOR(version) < 8 || TM_PY_MINOR(version) > 13) {
				version = 0;
				break;
			}
		} else if (line[0] == 'C') {
			char *s = line + 2, *end;
			long first = strtol(s, &end, 10);
			size_t tlen = 0, n, i;

			s = end + 1;
			if (*s == '-') {
				s++;
			} else {
				while (hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
					table[tlen++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
					s += 2;
				}
			}
			n = strtoul(s, &end, 10);
			s = end;
			for (i = 0; i < n; i++) {
				long want = strtol(s, &end, 10);
				int got;

				if (end == s)
					break;
				s = end;
				got = tm_pyline__addr2line(version, table, tlen, (int)first, (uint32_t)i);
				if (got != want) {
					if (shown++ < 5)
						fprintf(stderr, "  mismatch: 0x%x first %ld idx %zu: got %d, CPython %ld\n",
							version, first, i, got, want);
					bad++;
				}
				offsets++;
			}
			codes++;
		}
		if (c == EOF)
			break;
	}
	free(line);
	free(table);
	if (!version) {
		pclose(p);      /* the generator may die of SIGPIPE: we stopped reading */
		return -2;
	}
	if (pclose(p) != 0 || !codes)
		return -1;
	*ver_out = version;
	printf("  %u.%u.%u (%s): %lu code objects, %lu offsets, %ld mismatches\n", version >> 24,
	       (version >> 16) & 0xff, (version >> 8) & 0xff, python, codes, offsets, bad);
	TM_CHECK_EQ_U64(bad, 0);
	return bad;
}

int main(int argc, char **argv)
{
	const char *script = argc > 1 ? argv[1] : "tests/unit/gen_pyline_cases.py";
	const char *env = getenv("TM_PYTHONS");
	int seen[14] = { 0 };
	char pattern[4096];
	glob_t g = { 0 };
	size_t i;
	unsigned int minor;

	test_handmade();

	if (access(script, R_OK)) {
		printf("test_pyline: SKIP interpreter cases: %s not found (pass its path)\n", script);
		return tm_test_done("test_pyline");
	}
	if (env) {
		char *copy = strdup(env), *save = NULL, *tok;

		for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			unsigned int v = 0;
			long r = check_interpreter(tok, script, &v);

			if (r == -2)
				printf("  %s: SKIP: not CPython 3.8-3.13\n", tok);
			else if (r < 0)
				printf("  %s: SKIP: did not run or produced nothing\n", tok);
			else
				seen[TM_PY_MINOR(v)] = 1;
		}
		free(copy);
	} else {
		const char *root = getenv("PYENV_ROOT"), *home = getenv("HOME");

		if (root)
			snprintf(pattern, sizeof(pattern), "%s/versions/3.*/bin/python3", root);
		else
			snprintf(pattern, sizeof(pattern), "%s/.pyenv/versions/3.*/bin/python3", home ? home : "/root");
		glob(pattern, 0, NULL, &g);
		glob("/usr/bin/python3.[0-9]*", GLOB_APPEND, NULL, &g);
		for (i = 0; i < g.gl_pathc; i++) {
			const char *p = g.gl_pathv[i], *b = strrchr(p, '/');
			unsigned int v = 0;

			long r;

			if (strchr(b, '-'))     /* python3.X-config */
				continue;
			r = check_interpreter(p, script, &v);
			if (r == -2)
				continue;       /* before 3.8 or after 3.13: not ours */
			if (r < 0)
				printf("  %s: SKIP: did not run or produced nothing\n", p);
			else
				seen[TM_PY_MINOR(v)] = 1;
		}
		globfree(&g);
	}
	for (minor = 8; minor <= 13; minor++)
		if (!seen[minor])
			printf("  3.%u: SKIP: no interpreter found\n", minor);
	return tm_test_done("test_pyline");
}
