/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * test_report.c: the text and JSON reports, number for number. The JSON is
 * checked three ways: a strict well-formedness checker below, exact
 * substrings for values and order, and (when python3 is installed) Python's
 * own parser against the schema.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tidemark_common.h"
#include "profile/profile.h"
#include "report/report.h"
#include "target/cgroup.h"
#include "tm_test.h"

static char *render(const struct tm_profile *p, const struct tm_report_opts *o, int json, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		*ret = -errno;
		return NULL;
	}
	*ret = json ? tm_report__json(p, f, o) : tm_report__text(p, f, o);
	fclose(f);
	return buf;
}

/* Sites chosen so that each view has a different order, with ties. */
static struct tm_profile *build(void)
{
	struct tm_profile *p = tm_profile__new();
	struct tm_frame f[] = {
		{ TM_FRAME_NATIVE, 42, "make_buffer", "main.c", "/usr/bin/prog", 0x401234 },
		{ TM_FRAME_NATIVE, 0, "process_file", NULL, "/usr/lib/libfoo.so.1", 0x7f0000001000 },
		{ TM_FRAME_NATIVE, 120, "main", "main.c", "/usr/bin/prog", 0x401000 },
		{ TM_FRAME_NATIVE, 0, NULL, NULL, NULL, 0xdeadbeef },
		{ TM_FRAME_PYTHON, 12, "load_data", "app.py", NULL, 0x7f00aa000000 },
		{ TM_FRAME_PYTHON, 0, "we\"ird\\na\nme\x01 \xc3\xa9 \xff", "tab\there.py", NULL, 0 },
	};
	uint32_t s0[] = { 0, 1, 2 }, s1[] = { 4, 5, 3 }, s2[] = { 3 }, s3[] = { 1, 2 }, s4[10];
	struct tm_site sites[] = {
		{ .nframes = 3, .frames = s0, .kind = TM_KIND_MALLOC, .alloc_bytes = 8388608,
		  .alloc_count = 2, .live_bytes = 4194304, .live_count = 1, .peak_bytes = 3000,
		  .peak_count = 2 },
		{ .nframes = 3, .frames = s1, .kind = TM_KIND_CALLOC, .flags = TM_STACK_PY_TRUNCATED,
		  .alloc_bytes = 3000, .alloc_count = 3, .peak_bytes = 1000, .peak_count = 1 },
		{ .nframes = 1, .frames = s2, .kind = TM_KIND_MMAP, .alloc_bytes = 4096,
		  .alloc_count = 1, .live_bytes = 4096, .live_count = 1 },
		{ .nframes = 2, .frames = s3, .kind = TM_KIND_REALLOC, .alloc_bytes = 3000,
		  .alloc_count = 1, .live_bytes = 1000, .live_count = 2, .peak_bytes = 1000,
		  .peak_count = 1, .temp_bytes = 2000, .temp_count = 1 },
		{ .nframes = 10, .frames = s4, .kind = 99, .alloc_bytes = 10, .alloc_count = 1 },
		/* Nothing in any view: never shown. */
		{ .nframes = 1, .frames = s2, .kind = TM_KIND_BRK, .live_bytes = -8 },
	};
	char fn[16];
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		tm_profile__add_frame(p, &f[i]);
	for (i = 0; i < 10; i++) {
		struct tm_frame g = { TM_FRAME_NATIVE, 0, fn, NULL, "/usr/bin/prog", 0x500000 + i };

		snprintf(fn, sizeof(fn), "fn%zu", i);
		s4[i] = (uint32_t)tm_profile__add_frame(p, &g);
	}
	for (i = 0; i < sizeof(sites) / sizeof(sites[0]); i++)
		tm_profile__add_site(p, &sites[i]);
	p->pid = 4242;
	p->command = tm_profile__str(p, "./prog --in \"a b\"\\x\n\x01 \xc3\xa9");
	p->has_exit_code = 1;
	p->exit_code = 0;
	p->start_time_ns = 1000000000000ULL;
	p->end_time_ns = 1003100000000ULL;
	p->peak_bytes = 12897345;
	p->peak_time_ns = 1204000000;
	p->live_bytes_end = 1024;
	p->alloc_bytes = 41943040;
	p->alloc_count = 12345;
	p->free_count = 12000;
	p->size_hist[0].count = 1;
	p->size_hist[0].bytes = 1;
	p->size_hist[6].count = 2;
	p->size_hist[6].bytes = 200;
	tm_profile__set_counter(p, 1, "stack_map_full", 12);
	tm_profile__set_counter(p, 1, "free_unmatched", 3);
	tm_profile__set_counter(p, 0, "stacks_new", 6);
	return p;
}

static const char expected_header[] =
	"tidemark report: ./prog --in \"a b\"\\\\x\\x0a\\x01 \xc3\xa9 (pid 4242)\n"
	"  lower bound:  each row at the peak (the totals and the peak are exact), by an amount not "
	"counted: 12 allocations\n"
	"                counted in one row of their own (the stack table was full); raise --max-stacks\n"
	"  status:       exited with code 0\n"
	"  duration:     3.100 s\n"
	"  peak:         12.3 MiB (12,897,345 bytes) at 1.204 s\n"
	"  live at end:  1.0 KiB (1,024 bytes)\n"
	"  allocated:    40.0 MiB (41,943,040 bytes) in 12,345 allocations\n"
	"  frees:        12,000\n"
	"Dropped / not recorded: stack_map_full 12, free_unmatched 3\n";

static const char expected_peak[] =
	"\n"
	"3 allocation sites by bytes live at the peak (4.9 KiB in all):\n"
	"\n"
	"rank  bytes     size       %  count  allocation site (innermost frame first)\n"
	"   1  3,000  2.9 KiB   60.0%      2  make_buffer main.c:42 (prog)  [malloc]\n"
	"                                       process_file (libfoo.so.1)\n"
	"                                       main main.c:120 (prog)\n"
	"\n"
	"   2  1,000   1000 B   20.0%      1  app.py:12 load_data  [calloc]\n"
	"                                       tab\\x09here.py we\"ird\\\\na\\x0ame\\x01 \xc3\xa9 \\xff\n"
	"                                       0xdeadbeef\n"
	"                                       ... (stack truncated at the capture depth)\n"
	"\n"
	"   3  1,000   1000 B   20.0%      1  process_file (libfoo.so.1)  [realloc]\n"
	"                                       main main.c:120 (prog)\n";

static void test_text_views(void)
{
	struct tm_profile *p = build();
	struct tm_report_opts o = { .view = TM_VIEW_PEAK, .top_n = 0 };
	char *out, expected[4096];
	const char *a, *b, *c;
	int ret;

	/* The whole peak report, byte for byte. */
	out = render(p, &o, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	snprintf(expected, sizeof(expected), "%s%s", expected_header, expected_peak);
	TM_CHECK_STR(out, expected);
	free(out);

	/* Leaks: live bytes at the end; count is live_count. */
	o.view = TM_VIEW_LEAKS;
	out = render(p, &o, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(strstr(out, "3 allocation sites by bytes still live at the end (4.0 MiB in all):\n") != NULL);
	a = strstr(out, "   1  4,194,304  4.0 MiB   99.9%      1  make_buffer main.c:42 (prog)  [malloc]\n");
	b = strstr(out, "   2      4,096  4.0 KiB    0.1%      1  0xdeadbeef  [mmap]\n");
	c = strstr(out, "   3      1,000   1000 B    0.0%      2  process_file (libfoo.so.1)  [realloc]\n");
	TM_CHECK(a && b && c && a < b && b < c);
	TM_CHECK(strstr(out, "load_data") == NULL);
	free(out);

	/* Allocs: equal bytes are ordered by count; a deep stack is cut at 7 frames. */
	o.view = TM_VIEW_ALLOCS;
	out = render(p, &o, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(strstr(out, "5 allocation sites by bytes allocated (8.0 MiB in all):\n") != NULL);
	a = strstr(out, "   3      3,000  2.9 KiB    0.0%      3  app.py:12 load_data  [calloc]\n");
	b = strstr(out, "   4      3,000  2.9 KiB    0.0%      1  process_file (libfoo.so.1)  [realloc]\n");
	c = strstr(out, "   5         10     10 B    0.0%      1  fn0 (prog)  [allocator 99]\n"
			"                                           fn1 (prog)\n");
	TM_CHECK(a && b && c && a < b && b < c);
	TM_CHECK(strstr(out, "fn6 (prog)\n                                           ... 3 more frames\n") != NULL);
	TM_CHECK(strstr(out, "fn7") == NULL);
	free(out);

	/* top_n keeps the largest; the title says how many there were. */
	o.view = TM_VIEW_PEAK;
	o.top_n = 1;
	out = render(p, &o, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(strstr(out, "Top 1 of 3 allocation sites by bytes live at the peak (4.9 KiB in all):\n") != NULL);
	TM_CHECK(strstr(out, "   1  3,000  2.9 KiB   60.0%      2  make_buffer") != NULL);
	TM_CHECK(strstr(out, "\n   2  ") == NULL);
	free(out);

	/*
	 * Python only: native frames are hidden, and said to be; the sites
	 * that now print the same are one row, their bytes and allocators summed.
	 */
	o.top_n = 2;
	o.flags = TM_REPORT_PYTHON_ONLY;
	out = render(p, &o, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(strstr(out, "2 allocation sites by bytes live at the peak (4.9 KiB in all):\n") != NULL);
	TM_CHECK(strstr(out, "   1  4,000  3.9 KiB   80.0%      3  (no Python frames)  "
			     "[malloc, realloc, mmap]\n") != NULL);
	TM_CHECK(strstr(out, "0xdeadbeef") == NULL);
	TM_CHECK(strstr(out, "app.py:12 load_data  [calloc]\n") != NULL);
	free(out);

	/* NULL options: the peak view, every site. */
	out = render(p, NULL, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK_STR(out, expected);
	free(out);
	tm_profile__free(p);
}

static void header_line(struct tm_profile *p, const char *want)
{
	char *out;
	int ret;

	out = render(p, NULL, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	if (!out || !strstr(out, want)) {
		TM_CHECK(!"header line");
		fprintf(stderr, "  want: %s\n  in:\n%s", want, out ? out : "(null)");
	} else {
		TM_CHECK(1);
	}
	free(out);
}

static void test_text_header(void)
{
	struct tm_profile *p = tm_profile__new();

	/* Nothing known, nothing recorded: still a complete report. */
	header_line(p, "tidemark report: (unknown command) (pid 0)\n"
		       "  status:       unknown (still running when tracing stopped?)\n"
		       "  peak:         0 B (0 bytes)\n"
		       "  live at end:  0 B (0 bytes)\n"
		       "  allocated:    0 B (0 bytes) in 0 allocations\n"
		       "  frees:        0\n"
		       "Dropped / not recorded: nothing dropped\n"
		       "\n"
		       "No allocation sites with bytes live at the peak.\n");

	p->has_signal = 1;
	p->signal = 9;
	header_line(p, "  status:       killed by signal 9 (SIGKILL)\n");
	p->signal = 64;
	header_line(p, "  status:       killed by signal 64\n");

	/* Unit boundaries and rounding. */
	p->peak_bytes = 1023;
	header_line(p, "  peak:         1023 B (1,023 bytes) at 0.000 s\n");
	p->peak_bytes = 1024;
	header_line(p, "  peak:         1.0 KiB (1,024 bytes)");
	p->peak_bytes = 1535;
	header_line(p, "  peak:         1.5 KiB (1,535 bytes)");
	p->peak_bytes = 1048575;   /* 1023.999 KiB */
	header_line(p, "  peak:         1.0 MiB (1,048,575 bytes)");
	p->peak_bytes = 5ULL << 30;
	header_line(p, "  peak:         5.0 GiB (5,368,709,120 bytes)");
	p->peak_bytes = UINT64_MAX;
	header_line(p, "  peak:         16.0 EiB (18,446,744,073,709,551,615 bytes)");
	p->live_bytes_end = -1536;
	header_line(p, "  live at end:  -1.5 KiB (-1,536 bytes)\n");
	p->live_bytes_end = INT64_MIN;
	header_line(p, "  live at end:  -8.0 EiB (-9,223,372,036,854,775,808 bytes)\n");
	p->alloc_count = 1;
	header_line(p, " in 1 allocation\n");
	tm_profile__free(p);
}

/* ------------------------------------------------------------------ */
/* a strict JSON checker (RFC 8259), enough to reject anything malformed */

static const char *js_value(const char *s, int depth);

static const char *js_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

static const char *js_string(const char *s)
{
	const unsigned char *u;
	int i, n;

	if (*s++ != '"')
		return NULL;
	while (*s != '"') {
		u = (const unsigned char *)s;
		if (*u < 0x20)
			return NULL;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
						return NULL;
				s += 5;
			} else if (*s && strchr("\"\\/bfnrt", *s)) {
				s++;
			} else {
				return NULL;
			}
			continue;
		}
		if (*u < 0x80) {
			s++;
			continue;
		}
		/* UTF-8: lead byte, then continuation bytes. */
		n = *u >= 0xf0 ? 4 : *u >= 0xe0 ? 3 : *u >= 0xc2 ? 2 : 0;
		if (!n || *u > 0xf4)
			return NULL;
		for (i = 1; i < n; i++)
			if ((u[i] & 0xc0) != 0x80)
				return NULL;
		s += n;
	}
	return s + 1;
}

static const char *js_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return NULL;
	if (*s == '.') {
		if (*++s < '0' || *s > '9')
			return NULL;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return NULL;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return s;
}

static const char *js_value(const char *s, int depth)
{
	if (depth > 64)
		return NULL;
	s = js_ws(s);
	if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';

		s = js_ws(s + 1);
		if (*s == close)
			return s + 1;
		for (;;) {
			if (close == '}') {
				s = js_string(js_ws(s));
				if (!s)
					return NULL;
				s = js_ws(s);
				if (*s++ != ':')
					return NULL;
			}
			s = js_value(s, depth + 1);
			if (!s)
				return NULL;
			s = js_ws(s);
			if (*s == close)
				return s + 1;
			if (*s++ != ',')
				return NULL;
		}
	}
	if (*s == '"')
		return js_string(s);
	if (!strncmp(s, "true", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	if (!strncmp(s, "null", 4))
		return s + 4;
	return js_number(s);
}

static int json_valid(const char *s)
{
	s = s ? js_value(s, 0) : NULL;
	return s && !*js_ws(s);
}

static void test_json_checker(void)
{
	/* The checker itself must reject what it is there to catch. */
	TM_CHECK(json_valid("{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\n\"]}"));
	TM_CHECK(!json_valid("{\"a\": [1, 2,]}"));
	TM_CHECK(!json_valid("{\"a\" 1}"));
	TM_CHECK(!json_valid("{\"a\": \"tab\there\"}"));
	TM_CHECK(!json_valid("{\"a\": \"\\x41\"}"));
	TM_CHECK(!json_valid("{\"a\": \"\xff\"}"));
	TM_CHECK(!json_valid("{\"a\": 01}"));
	TM_CHECK(!json_valid("{} {}"));
	TM_CHECK(!json_valid("{\"a\": 0x10}"));
}

/* Python's json module against the schema, when python3 is there. */
static const char py_check[] =
	"import json, sys\n"
	"d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
	"assert set(d) >= {'version', 'process', 'totals', 'dropped', 'views'}\n"
	"assert d['version'] == 1\n"
	"assert d['process']['pid'] == 4242 and d['process']['exit_code'] == 0\n"
	"assert d['process']['signal'] is None\n"
	"assert d['process']['command'] == './prog --in \"a b\"\\\\x\\n\\x01 \\u00e9'\n"
	"assert d['totals'] == {'peak_bytes': 12897345, 'peak_time_ns': 1204000000,\n"
	"    'live_bytes_end': 1024, 'alloc_bytes': 41943040, 'alloc_count': 12345,\n"
	"    'free_count': 12000}\n"
	"assert len(d['dropped']) == 14 and d['dropped']['stack_map_full'] == 12\n"
	"assert d['exact'] is False and d['lower_bounds'][0]['flag'] == '--max-stacks'\n"
	"assert d['lower_bounds'][0]['events'] == 12 and d['lower_bounds'][0]['by_at_most_bytes'] is None\n"
	"assert d['sample_bytes'] == 0\n"
	"assert list(d['views']) == ['peak', 'leaks', 'allocs', 'temporary']\n"
	"assert d['timeline'] == {'time_ns': [], 'heap_bytes': [], 'rss_bytes': []}\n"
	"assert d['sizes'] == [{'from': 0, 'count': 1, 'bytes': 1}, {'from': 64, 'count': 2, 'bytes': 200}]\n"
	"keys = ['kind', 'function', 'file', 'line', 'module', 'address']\n"
	"out = []\n"
	"for name, view in d['views'].items():\n"
	"    for s in view:\n"
	"        assert isinstance(s['bytes'], int) and isinstance(s['count'], int)\n"
	"        for f in s['stack']:\n"
	"            assert list(f) == keys, f\n"
	"            assert f['kind'] in ('native', 'python')\n"
	"        out.append('%s %d %d %s' % (name, s['bytes'], s['count'],\n"
	"            ','.join(str(f['function']) for f in s['stack'][:2])))\n"
	"f = d['views']['peak'][1]['stack'][1]\n"
	"assert f['function'] == 'we\"ird\\\\na\\nme\\x01 \\u00e9 \\ufffd', repr(f)\n"
	"assert f['file'] == 'tab\\there.py' and f['line'] is None and f['address'] is None\n"
	"print(';'.join(out))\n";

static const char py_expected[] =
	"peak 3000 2 make_buffer,process_file;"
	"peak 1000 1 load_data,we\"ird\\na\nme\x01 \xc3\xa9 \xef\xbf\xbd;"
	"peak 1000 1 process_file,main;"
	"leaks 4194304 1 make_buffer,process_file;"
	"leaks 4096 1 None;"
	"leaks 1000 2 process_file,main;"
	"allocs 8388608 2 make_buffer,process_file;"
	"allocs 4096 1 None;"
	"allocs 3000 3 load_data,we\"ird\\na\nme\x01 \xc3\xa9 \xef\xbf\xbd;"
	"allocs 3000 1 process_file,main;"
	"allocs 10 1 fn0,fn1;"
	"temporary 2000 1 process_file,main\n";

static void python_check(const char *json)
{
	char path[] = "/tmp/tm_test_report.XXXXXX", cmd[256], out[2048];
	size_t n;
	FILE *f;
	int fd, status;

	if (system("python3 -c '' >/dev/null 2>&1") != 0) {
		printf("test_report: skipping the python3 cross-check: python3 not found\n");
		return;
	}
	fd = mkstemp(path);
	if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t)strlen(json)) {
		TM_CHECK(!"write temporary JSON file");
		return;
	}
	close(fd);
	/* The script goes in through the environment: no quoting to get wrong. */
	setenv("TM_PY_CHECK", py_check, 1);
	snprintf(cmd, sizeof(cmd), "python3 -c 'import os; exec(os.environ[\"TM_PY_CHECK\"])' %s", path);
	f = popen(cmd, "r");
	TM_CHECK(f != NULL);
	if (!f)
		goto out;
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	status = pclose(f);
	TM_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	TM_CHECK_STR(out, py_expected);
out:
	unlink(path);
}

static void test_json(void)
{
	struct tm_profile *p = build();
	struct tm_report_opts o = { .view = TM_VIEW_LEAKS, .top_n = 0 };
	const char *a, *b, *c;
	char *out;
	int ret;

	out = render(p, &o, 1, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(json_valid(out));
	TM_CHECK(!strncmp(out, "{\n  \"version\": 1,\n", 18));
	TM_CHECK(strstr(out, "\"process\": {\"pid\": 4242, \"command\": "
			     "\"./prog --in \\\"a b\\\"\\\\x\\n\\u0001 \xc3\xa9\", "
			     "\"exit_code\": 0, \"signal\": null, \"duration_ns\": 3100000000, \"cgroup\": null, "
			     "\"ns_pid\": null, \"pod_uid\": null, \"container_id\": null}") != NULL);
	TM_CHECK(strstr(out, "\"totals\": {\"peak_bytes\": 12897345, \"peak_time_ns\": 1204000000, "
			     "\"live_bytes_end\": 1024,\n             \"alloc_bytes\": 41943040, "
			     "\"alloc_count\": 12345, \"free_count\": 12000}") != NULL);
	/* Every drop reason, zero or not. */
	TM_CHECK(strstr(out, "\"dropped\": {\"alloc_map_full\": 0, \"stack_map_full\": 12, "
			     "\"agg_map_full\": 0, \"region_map_full\": 0, \"free_unmatched\": 3, "
			     "\"addr_reused\": 0, \"stack_unreadable\": 0, \"unmap_split\": 0, "
			     "\"inflight\": 0, \"py_unreadable\": 0, \"py_arena_untraced\": 0, \"proc_cap\": 0, "
			     "\"untracked_bytes\": 0, \"free_untracked\": 0}") != NULL);
	TM_CHECK(strstr(out, "\"stats\": {\"nested\": 0, \"mmap_in_alloc\": 0, \"stacks_new\": 6, "
			     "\"stacks_truncated\": 0, \"procs_full\": 0, \"unwind_stopped\": 0, \"lost_exec_map\": 0, "
			     "\"lost_oom\": 0, "
			     "\"lost_exit\": 0, \"lost_exec\": 0, \"lost_fork\": 0}") != NULL);

	/* All three views whatever o.view says, each in its own order. */
	a = strstr(out, "\"peak\": [\n      {\"bytes\": 3000, \"count\": 2, \"allocator\": \"malloc\", "
			"\"allocators\": [\"malloc\"], \"truncated\": false, \"stack\": [\n        {\"kind\": \"native\", "
			"\"function\": \"make_buffer\", \"file\": \"main.c\", \"line\": 42, "
			"\"module\": \"/usr/bin/prog\", \"address\": \"0x401234\"},");
	b = strstr(out, "\"leaks\": [\n      {\"bytes\": 4194304, \"count\": 1, ");
	c = strstr(out, "\"allocs\": [\n      {\"bytes\": 8388608, \"count\": 2, ");
	TM_CHECK(a && b && c && a < b && b < c);
	TM_CHECK(strstr(out, "{\"bytes\": 1000, \"count\": 1, \"allocator\": \"calloc\", "
			     "\"allocators\": [\"calloc\"], \"truncated\": true, \"stack\": [\n        {\"kind\": \"python\", "
			     "\"function\": \"load_data\", \"file\": \"app.py\", \"line\": 12, "
			     "\"module\": null, \"address\": \"0x7f00aa000000\"},\n        "
			     "{\"kind\": \"python\", \"function\": "
			     "\"we\\\"ird\\\\na\\nme\\u0001 \xc3\xa9 \\ufffd\", \"file\": \"tab\\there.py\", "
			     "\"line\": null, \"module\": null, \"address\": null},") != NULL);
	TM_CHECK(strstr(out, "{\"kind\": \"native\", \"function\": null, \"file\": null, "
			     "\"line\": null, \"module\": null, \"address\": \"0xdeadbeef\"}") != NULL);
	TM_CHECK(strstr(out, "{\"bytes\": 10, \"count\": 1, \"allocator\": null,") != NULL);
	/* The full stack in JSON: no cut at 7 frames. */
	TM_CHECK(strstr(out, "\"function\": \"fn9\"") != NULL);
	python_check(out);
	free(out);

	/* top_n limits every view. */
	o.top_n = 1;
	out = render(p, &o, 1, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(json_valid(out));
	TM_CHECK(strstr(out, "\"bytes\": 3000, \"count\": 2") != NULL);
	TM_CHECK(strstr(out, "\"bytes\": 4194304") != NULL);
	TM_CHECK(strstr(out, "\"bytes\": 8388608") != NULL);
	TM_CHECK(strstr(out, "\"bytes\": 1000") == NULL);
	TM_CHECK(strstr(out, "\"bytes\": 4096") == NULL);
	free(out);

	/* Python only: native frames leave every stack. */
	o.top_n = 0;
	o.flags = TM_REPORT_PYTHON_ONLY;
	out = render(p, &o, 1, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(json_valid(out));
	TM_CHECK(strstr(out, "\"kind\": \"native\"") == NULL);
	TM_CHECK(strstr(out, "{\"bytes\": 4000, \"count\": 3, \"allocator\": \"malloc\", "
			     "\"allocators\": [\"malloc\", \"realloc\", \"mmap\"], "
			     "\"truncated\": false, \"stack\": []}") != NULL);
	free(out);
	tm_profile__free(p);

	/* An empty profile: every key still there, unknowns are null. */
	p = tm_profile__new();
	out = render(p, NULL, 1, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(json_valid(out));
	TM_CHECK(strstr(out, "\"process\": {\"pid\": 0, \"command\": null, \"exit_code\": null, "
			     "\"signal\": null, \"duration_ns\": null, \"cgroup\": null, \"ns_pid\": null, "
			     "\"pod_uid\": null, \"container_id\": null}") != NULL);
	TM_CHECK(strstr(out, "\"views\": {\n    \"peak\": [],\n    \"leaks\": [],\n"
			     "    \"allocs\": [],\n    \"temporary\": []\n  },\n"
			     "  \"timeline\": {\"time_ns\": [],\n               \"heap_bytes\": [],\n"
			     "               \"rss_bytes\": []},\n  \"sizes\": []\n}\n") != NULL);
	free(out);
	p->has_signal = 1;
	p->signal = 11;
	out = render(p, NULL, 1, &ret);
	TM_CHECK(strstr(out, "\"exit_code\": null, \"signal\": 11") != NULL);
	free(out);
	tm_profile__free(p);
}

static void test_errors(void)
{
	struct tm_profile *p = build();
	struct tm_report_opts o = { .view = TM_VIEW__COUNT };
	enum tm_report_view v = TM_VIEW_PEAK;
	char *out;
	FILE *full;
	int ret;

	out = render(p, &o, 0, &ret);
	TM_CHECK_EQ_U64(ret, -EINVAL);
	free(out);
	TM_CHECK_EQ_U64(tm_report__text(p, NULL, NULL), -EINVAL);
	TM_CHECK_EQ_U64(tm_report__json(NULL, stdout, NULL), -EINVAL);

	/* A writer that fails is reported, not ignored. */
	full = fopen("/dev/full", "w");
	if (full) {
		TM_CHECK_EQ_U64(tm_report__text(p, full, NULL), -EIO);
		fclose(full);
	} else {
		printf("test_report: skipping the write-error check: no /dev/full\n");
	}

	/* A site that names a frame that does not exist. */
	p->sites[0].frames[0] = 999;
	out = render(p, NULL, 1, &ret);
	TM_CHECK_EQ_U64(ret, -EINVAL);
	free(out);

	TM_CHECK_EQ_U64(tm_report__view_parse("leaks", &v), 0);
	TM_CHECK_EQ_U64(v, TM_VIEW_LEAKS);
	TM_CHECK_EQ_U64(tm_report__view_parse("allocs", &v), 0);
	TM_CHECK_EQ_U64(v, TM_VIEW_ALLOCS);
	TM_CHECK_EQ_U64(tm_report__view_parse("peak", &v), 0);
	TM_CHECK_EQ_U64(v, TM_VIEW_PEAK);
	TM_CHECK_EQ_U64(tm_report__view_parse("Peak", &v), -EINVAL);
	TM_CHECK_EQ_U64(tm_report__view_parse(NULL, &v), -EINVAL);
	TM_CHECK_STR(tm_report__view_name(TM_VIEW_LEAKS), "leaks");
	TM_CHECK(tm_report__view_name(TM_VIEW__COUNT) == NULL);
	tm_profile__free(p);
}

/* Sums past 2^64 saturate; percentages and units stay right. */
static void test_big_numbers(void)
{
	struct tm_profile *p = tm_profile__new();
	struct tm_report_opts o = { .view = TM_VIEW_ALLOCS };
	struct tm_site s = { .kind = TM_KIND_MMAP, .alloc_count = 1 };
	char *out;
	int ret;

	s.alloc_bytes = UINT64_MAX / 4 * 3;
	tm_profile__add_site(p, &s);
	s.alloc_bytes = UINT64_MAX / 4;
	tm_profile__add_site(p, &s);
	s.alloc_bytes = UINT64_MAX / 4;
	tm_profile__add_site(p, &s);
	out = render(p, &o, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	/* Three sites that print the same: one row, its sum saturated. */
	TM_CHECK(strstr(out, "1 allocation site by bytes allocated (16.0 EiB in all):\n") != NULL);
	TM_CHECK(strstr(out, "   1  18,446,744,073,709,551,615  16.0 EiB  100.0%      3  (no stack)  [mmap]\n") != NULL);
	free(out);
	tm_profile__free(p);
}

/* The tree, filters, depth, the temporary view and the timeline chart. */
static void test_text_extras(void)
{
	struct tm_profile *p = build();
	struct tm_report_opts o = { .view = TM_VIEW_ALLOCS, .flags = TM_REPORT_TREE };
	char *out;
	int ret, i;

	out = render(p, &o, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	/* Same-label frames merge: main -> process_file holds the malloc and the realloc site. */
	TM_CHECK(strstr(out, "Call tree of bytes allocated, callers above callees (8.0 MiB = 100%; "
			     "nodes under 1% merged):\n"
			     "       %       bytes      count  frame\n"
			     "   99.9%     8.0 MiB          3  \u251c\u2500 main main.c:120 (prog)\n"
			     "   99.9%     8.0 MiB          3  \u2502  \u2514\u2500 process_file (libfoo.so.1)\n"
			     "   99.9%     8.0 MiB          2  \u2502     \u2514\u2500 make_buffer main.c:42 (prog)\n"
			     "    0.1%     6.9 KiB             \u2514\u2500 (2 smaller)\n") != NULL);
	free(out);

	o.flags |= TM_REPORT_INVERTED;
	o.max_depth = 2;
	out = render(p, &o, 0, &ret);
	TM_CHECK(strstr(out, "allocating frames first (inverted)") != NULL);
	TM_CHECK(strstr(out, "   99.9%     8.0 MiB          2  \u251c\u2500 make_buffer main.c:42 (prog)\n"
			     "   99.9%     8.0 MiB          2  \u2502  \u2514\u2500 process_file (libfoo.so.1)\n"
			     "    0.1%     9.9 KiB             \u2514\u2500 (4 smaller)\n") != NULL);
	/* --max-depth also bounds the table's stacks. */
	TM_CHECK(strstr(out, "fn1 (prog)\n                                           ... 8 more frames") != NULL);
	free(out);

	/* --min-bytes: a floor for the table and the tree alike. */
	o.flags = TM_REPORT_TREE;
	o.max_depth = 0;
	o.min_bytes = 4096;
	out = render(p, &o, 0, &ret);
	TM_CHECK(strstr(out, "2 allocation sites by bytes allocated (8.0 MiB in all)") != NULL);
	TM_CHECK(strstr(out, "nodes under --min-bytes merged") != NULL);
	TM_CHECK(strstr(out, "smaller") == NULL);
	TM_CHECK(strstr(out, "  100.0%     8.0 MiB          2  \u251c\u2500 main main.c:120 (prog)\n") != NULL);
	free(out);

	/* --filter: a substring of a shown frame's function or file. */
	o.min_bytes = 0;
	o.flags = 0;
	o.filter = "load_data";
	out = render(p, &o, 0, &ret);
	TM_CHECK(strstr(out, "1 allocation site by bytes allocated (2.9 KiB in all)") != NULL);
	free(out);
	o.filter = "tab\there";
	out = render(p, &o, 0, &ret);
	TM_CHECK(strstr(out, "1 allocation site by bytes allocated (2.9 KiB in all)") != NULL);
	free(out);
	/* Hidden frames do not match: the C frame main is not in a Python-only view. */
	o.filter = "main";
	o.flags = TM_REPORT_PYTHON_ONLY;
	out = render(p, &o, 0, &ret);
	TM_CHECK(strstr(out, "No allocation sites with bytes allocated.") != NULL);
	free(out);
	/* The same selection applies to JSON. */
	o.flags = 0;
	o.filter = "make_buffer";
	out = render(p, &o, 1, &ret);
	TM_CHECK(strstr(out, "\"allocs\": [\n      {\"bytes\": 8388608,") != NULL);
	TM_CHECK(strstr(out, "\"bytes\": 4096") == NULL);
	free(out);
	o.filter = NULL;

	/* The temporary view. */
	o.view = TM_VIEW_TEMPORARY;
	out = render(p, &o, 0, &ret);
	TM_CHECK(strstr(out, "1 allocation site by bytes in temporary allocations (2.0 KiB in all)") != NULL);
	TM_CHECK(strstr(out, "   1  2,000  2.0 KiB  100.0%      1  process_file (libfoo.so.1)  [realloc]") != NULL);
	free(out);

	/* stats: per allocator, sizes, hot spots. */
	out = NULL;
	{
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);

		TM_CHECK_EQ_U64(tm_report__stats(p, f, NULL), 0);
		fclose(f);
	}
	TM_CHECK(strstr(out, "malloc                 1              2      8,388,608          "
			     "3,000      4,194,304              0\n") != NULL);
	TM_CHECK(strstr(out, "realloc                1              1          3,000          "
			     "1,000          1,000          2,000\n") != NULL);
	TM_CHECK(strstr(out, "(other)                1              1             10") != NULL);
	TM_CHECK(strstr(out, "Allocation sizes (3 allocations, 201 B):\n") != NULL);
	TM_CHECK(strstr(out, "[0 B, 2 B)                          1  33.3%              1  ") != NULL);
	TM_CHECK(strstr(out, "[64 B, 128 B)                       2  66.7%            200  ") != NULL);
	TM_CHECK(strstr(out, "Hot spots: 5 of 5 sites by number of allocations:\n") != NULL);
	TM_CHECK(strstr(out, "             3          3,000  app.py:12 load_data  [calloc]") != NULL);
	free(out);

	/* The timeline: rises to the peak at 1.204 s of 3.1 s, then falls; the caret marks it. */
	for (i = 0; i <= 31; i++) {
		struct tm_sample sm = { (uint64_t)i * 100000000, i <= 12 ? i * 1000000 : 1024, 4096 };

		tm_profile__add_sample(p, &sm);
	}
	o.view = TM_VIEW_PEAK;
	out = render(p, &o, 0, &ret);
	TM_CHECK(strstr(out, "Live heap over time (32 samples; highest RSS sampled 4.0 KiB):\n"
			     "    12.3 MiB | ") != NULL);
	TM_CHECK(strstr(out, "\u2588") != NULL);
	{
		const char *caret = strstr(out, "^ peak at 1.204 s\n");
		const char *line = caret;

		while (line && line > out && line[-1] != '\n')
			line--;
		/* 1.204 s of 3.1 s in 64 columns: column 24 (48.4 ms a column), after "  " + 10 + "  ". */
		TM_CHECK(caret && caret - line == 14 + 24);
	}
	TM_CHECK(strstr(out, "0 s") != NULL && strstr(out, "3.100 s\n") != NULL);
	free(out);
	tm_profile__free(p);
}

/* An OOM post-mortem says so, with the cgroup's numbers, in both formats. */
static void test_oom(void)
{
	struct tm_profile *p = build();
	char *out;
	int ret;

	p->cgroup = tm_profile__str(p, "/tm-test");
	p->oom.killed = 1;
	p->oom.time_ns = 2500000000ull;
	p->oom.rss_anon = 200ull << 20;
	p->oom.rss_file = 3ull << 20;
	p->oom.rss_shmem = 0;
	p->oom.cgroup = tm_profile__str(p, "/tm-test");
	p->oom.cgroup_limit = 256ull << 20;
	p->oom.cgroup_usage = 255ull << 20;
	out = render(p, NULL, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(strstr(out, "  cgroup:       /tm-test\n") != NULL);
	TM_CHECK(strstr(out, "  status:       OOM-killed at 2.500 s (memory cgroup /tm-test: usage 255.0 MiB of "
			     "limit 256.0 MiB)\n") != NULL);
	TM_CHECK(strstr(out, "  RSS at kill:  203.0 MiB (anonymous 200.0 MiB, file 3.0 MiB, shmem 0 B)\n") != NULL);
	free(out);
	out = render(p, NULL, 1, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(json_valid(out));
	TM_CHECK(strstr(out, "\"duration_ns\": 3100000000, \"cgroup\": \"/tm-test\", \"ns_pid\": null, "
			     "\"pod_uid\": null, \"container_id\": null}") != NULL);
	TM_CHECK(strstr(out, "\"oom\": {\"time_ns\": 2500000000, \"rss_bytes\": 212860928, "
			     "\"rss_anon_bytes\": 209715200, \"rss_file_bytes\": 3145728, \"rss_shmem_bytes\": 0,\n"
			     "          \"cgroup\": \"/tm-test\", \"cgroup_limit_bytes\": 268435456, "
			     "\"cgroup_usage_bytes\": 267386880,\n          \"memory_max_bytes\": null, "
			     "\"memory_current_bytes\": null, \"memory_peak_bytes\": null, \"oom_kill\": null},\n") != NULL);
	free(out);

	/* A v2 group's own files, read after the kill (no memory.peak before 5.19) */
	p->oom.cg_have = TM_CG_HAVE_MAX | TM_CG_HAVE_CURRENT | TM_CG_HAVE_OOM_KILL;
	p->oom.cg_max = 256ull << 20;
	p->oom.cg_current = 1ull << 20;
	p->oom.cg_oom_kill = 1;
	out = render(p, NULL, 0, &ret);
	TM_CHECK(strstr(out, "  cgroup now:   memory.max 256.0 MiB, memory.current 1.0 MiB, oom_kill 1\n") != NULL);
	free(out);
	out = render(p, NULL, 1, &ret);
	TM_CHECK(json_valid(out));
	TM_CHECK(strstr(out, "\"memory_max_bytes\": 268435456, \"memory_current_bytes\": 1048576, "
			     "\"memory_peak_bytes\": null, \"oom_kill\": 1}") != NULL);
	free(out);
	p->oom.cg_have |= TM_CG_HAVE_PEAK;
	p->oom.cg_peak = 256ull << 20;
	out = render(p, NULL, 0, &ret);
	TM_CHECK(strstr(out, "memory.current 1.0 MiB, memory.peak 256.0 MiB, oom_kill 1\n") != NULL);
	free(out);

	/* A container's process: its pid in its namespace, its pod and container from the cgroup */
	p->ns_pid = 7;
	p->cgroup = tm_profile__str(p, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
				       "8d5f6f1e_3c2b_4a8e_9f10_2b7c1d4e5a6f.slice/cri-containerd-"
				       "4f2b9c1d0e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c.scope");
	out = render(p, NULL, 0, &ret);
	TM_CHECK(strstr(out, " (pid 4242; pid 7 in its PID namespace)\n") != NULL);
	TM_CHECK(strstr(out, "  container:    pod 8d5f6f1e-3c2b-4a8e-9f10-2b7c1d4e5a6f\n"
			     "                container "
			     "4f2b9c1d0e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c\n") != NULL);
	free(out);
	out = render(p, NULL, 1, &ret);
	TM_CHECK(json_valid(out));
	TM_CHECK(strstr(out, "\"ns_pid\": 7, \"pod_uid\": \"8d5f6f1e-3c2b-4a8e-9f10-2b7c1d4e5a6f\", "
			     "\"container_id\": \"4f2b9c1d0e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c\"}") != NULL);
	free(out);
	p->ns_pid = 0;
	p->oom.cgroup_limit = 0;
	out = render(p, NULL, 0, &ret);
	TM_CHECK(strstr(out, "OOM-killed at 2.500 s (system-wide)\n") != NULL);
	free(out);
	tm_profile__free(p);
}

/*
 * One row per printed stack: sites that differ only in what is not printed
 * (the code object's or the return address's value) are one row, summed;
 * a Python row leads with its line, the native frame it called under it.
 */
static void test_rows(void)
{
	struct tm_profile *p = tm_profile__new(), *rows = NULL;
	struct tm_report_opts o = { .view = TM_VIEW_PEAK };
	struct tm_frame f[] = {
		{ TM_FRAME_PYTHON, 7, "work", "job.py", NULL, 0x1000 },
		{ TM_FRAME_PYTHON, 7, "work", "job.py", NULL, 0x2000 },
		{ TM_FRAME_NATIVE, 0, "PyByteArray_Resize+0x2c3", NULL, "/usr/bin/python3.11", 0x4a0000 },
		{ TM_FRAME_NATIVE, 0, "_multiarray_umath.so+0x1a2b3", NULL, "/x/_multiarray_umath.so", 0x7f0000 },
		{ TM_FRAME_NATIVE, 0, "_multiarray_umath.so+0x1a2b3", NULL, "/x/_multiarray_umath.so", 0x7f8000 },
	};
	uint32_t a[] = { 2, 0 }, b[] = { 2, 1 }, c[] = { 3, 0 }, d[] = { 4, 1 };
	uint32_t *fr[] = { a, b, c, d };
	const uint32_t kind[] = { TM_KIND_MALLOC, TM_KIND_REALLOC, TM_KIND_CALLOC, TM_KIND_CALLOC };
	const int64_t peak[] = { 100, 50, 7, 3 };
	const uint64_t alloc[] = { 100, 70, 7, 3 }, nalloc[] = { 1, 2, 1, 1 };
	char *out;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		TM_CHECK(tm_profile__add_frame(p, &f[i]) == (int)i);
	for (i = 0; i < 4; i++) {
		struct tm_site s = { .nframes = 2, .frames = fr[i], .kind = kind[i] };

		s.peak_bytes = peak[i];
		s.peak_count = 1;
		s.alloc_bytes = alloc[i];
		s.alloc_count = nalloc[i];
		TM_CHECK(tm_profile__add_site(p, &s) == (int)i);
	}

	TM_CHECK_EQ_U64(tm_report__rows(p, 0, &rows), 0);
	TM_CHECK_EQ_U64(rows ? rows->nsites : 0, 2);
	if (rows && rows->nsites == 2) {
		TM_CHECK_EQ_U64(rows->sites[0].peak_bytes, 150);
		TM_CHECK_EQ_U64(rows->sites[0].alloc_count, 3);
		TM_CHECK_EQ_U64(rows->sites[0].kinds, (1u << TM_KIND_MALLOC) | (1u << TM_KIND_REALLOC));
		TM_CHECK_EQ_U64(rows->sites[1].peak_bytes, 10);
	}
	tm_report__rows_free(rows);
	TM_CHECK_EQ_U64(tm_report__rows(p, TM_REPORT_PYTHON_ONLY, &rows), 0);
	TM_CHECK_EQ_U64(rows ? rows->nsites : 0, 1);
	if (rows && rows->nsites == 1)
		TM_CHECK_EQ_U64(rows->sites[0].alloc_bytes, 180);
	tm_report__rows_free(rows);

	out = render(p, &o, 0, &ret);
	TM_CHECK_EQ_U64(ret, 0);
	TM_CHECK(strstr(out, "2 allocation sites by bytes live at the peak (160 B in all):\n") != NULL);
	TM_CHECK(strstr(out, "   1    150  150 B   93.8%      2  job.py:7 work  [malloc, realloc]\n"
			     "                                       PyByteArray_Resize+0x2c3 (python3.11)\n") != NULL);
	/* No symbol: module+0xOFFSET, the module not said twice. */
	TM_CHECK(strstr(out, "   2     10   10 B    6.3%      2  job.py:7 work  [calloc]\n"
			     "                                       _multiarray_umath.so+0x1a2b3\n") != NULL);
	free(out);
	tm_profile__free(p);
}

int main(void)
{
	test_rows();
	test_text_extras();
	test_oom();
	test_text_views();
	test_text_header();
	test_json_checker();
	test_json();
	test_errors();
	test_big_numbers();
	return tm_test_done("test_report");
}
