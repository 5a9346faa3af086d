/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * test_flamegraph.c: the flame graph page. The embedded JSON is cut out of
 * the HTML the way a browser would (up to the first "</script"), parsed by
 * the small strict parser below and checked number for number; hostile
 * names must survive the round trip unchanged and never end the script
 * element. A diff of two hand-built profiles checks how stacks are matched.
 * What the page's JavaScript draws is checked in a real browser by
 * tests/integration/test_flamegraph.py.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "tidemark_common.h"
#include "report/flamegraph.h"
#include "profile/profile.h"
#include "tm_test.h"

/* ------------------------------------------------------------------ */
/* a strict JSON parser, just enough to walk the data                 */

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	char *s;                /* J_STR: decoded UTF-8; J_NUM: the literal */
	size_t n;               /* J_ARR, J_OBJ: items */
	struct jv *items;
	char **keys;            /* J_OBJ */
};

static void jfree(struct jv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		jfree(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
}

static const char *jws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
		s++;
	return s;
}

static int hex4(const char *s, unsigned int *out)
{
	unsigned int v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned int cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string after its opening quote; NULL on anything RFC 8259 forbids. */
static const char *jstring(const char *s, struct jv *v)
{
	size_t cap = strlen(s) + 1, n = 0;
	unsigned int cp, lo;
	char *o = malloc(cap);

	if (!o)
		return NULL;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20)
			goto bad;   /* includes the end of the input */
		if (*s != '\\') {
			o[n++] = *s++;
			continue;
		}
		s++;
		switch (*s++) {
		case '"': o[n++] = '"'; break;
		case '\\': o[n++] = '\\'; break;
		case '/': o[n++] = '/'; break;
		case 'b': o[n++] = '\b'; break;
		case 'f': o[n++] = '\f'; break;
		case 'n': o[n++] = '\n'; break;
		case 'r': o[n++] = '\r'; break;
		case 't': o[n++] = '\t'; break;
		case 'u':
			if (hex4(s, &cp))
				goto bad;
			s += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				s += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				goto bad;
			}
			n += put_utf8(o + n, cp);
			break;
		default:
			goto bad;
		}
	}
	o[n] = 0;
	v->t = J_STR;
	v->s = o;
	return s + 1;
bad:
	free(o);
	return NULL;
}

static const char *jvalue(const char *s, struct jv *v, int depth);

static const char *jlist(const char *s, struct jv *v, int obj, int depth)
{
	char close = obj ? '}' : ']';
	struct jv key;

	v->t = obj ? J_OBJ : J_ARR;
	s = jws(s);
	if (*s == close)
		return s + 1;
	for (;;) {
		size_t cap = v->n + 1;

		v->items = realloc(v->items, cap * sizeof(*v->items));
		if (obj)
			v->keys = realloc(v->keys, cap * sizeof(*v->keys));
		if (!v->items || (obj && !v->keys))
			return NULL;
		memset(&v->items[v->n], 0, sizeof(*v->items));
		if (obj) {
			v->keys[v->n] = NULL;
			memset(&key, 0, sizeof(key));
			s = jws(s);
			if (*s != '"' || !(s = jstring(s + 1, &key)))
				return NULL;
			v->keys[v->n] = key.s;
			s = jws(s);
			if (*s++ != ':')
				return NULL;
		}
		v->n++;
		s = jvalue(s, &v->items[v->n - 1], depth + 1);
		if (!s)
			return NULL;
		s = jws(s);
		if (*s == close)
			return s + 1;
		if (*s++ != ',')
			return NULL;
	}
}

static const char *jvalue(const char *s, struct jv *v, int depth)
{
	const char *start;

	if (depth > 64)
		return NULL;
	s = jws(s);
	switch (*s) {
	case '{':
		return jlist(s + 1, v, 1, depth);
	case '[':
		return jlist(s + 1, v, 0, depth);
	case '"':
		return jstring(s + 1, v);
	case 'n':
		v->t = J_NULL;
		return strncmp(s, "null", 4) ? NULL : s + 4;
	case 't':
		v->t = J_TRUE;
		return strncmp(s, "true", 4) ? NULL : s + 4;
	case 'f':
		v->t = J_FALSE;
		return strncmp(s, "false", 5) ? NULL : s + 5;
	}
	/* Integers only: the page's data has no fractions. */
	start = s;
	if (*s == '-')
		s++;
	if (*s < '0' || *s > '9' || (*s == '0' && s[1] >= '0' && s[1] <= '9'))
		return NULL;
	while (*s >= '0' && *s <= '9')
		s++;
	v->t = J_NUM;
	v->s = strndup(start, (size_t)(s - start));
	return v->s ? s : NULL;
}

/* Parse all of s; 0 or -EINVAL. */
static int jparse(const char *s, struct jv *v)
{
	memset(v, 0, sizeof(*v));
	s = jvalue(s, v, 0);
	return s && !*jws(s) ? 0 : -EINVAL;
}

static const struct jv jnone = { .t = J_NULL };

static const struct jv *jget(const struct jv *o, const char *key)
{
	size_t i;

	if (o->t == J_OBJ)
		for (i = 0; i < o->n; i++)
			if (!strcmp(o->keys[i], key))
				return &o->items[i];
	return &jnone;
}

static const struct jv *jat(const struct jv *a, size_t i)
{
	return a->t == J_ARR && i < a->n ? &a->items[i] : &jnone;
}

/* A number as int64 (the tests' numbers fit); INT64_MIN when it is not one. */
static int64_t jnum(const struct jv *v)
{
	return v->t == J_NUM ? strtoll(v->s, NULL, 10) : INT64_MIN;
}

static const char *jstr(const struct jv *v)
{
	return v->t == J_STR ? v->s : NULL;
}

/* Does array a hold exactly these n integers? */
static int jints(const struct jv *a, const int64_t *want, size_t n)
{
	size_t i;

	if (a->t != J_ARR || a->n != n)
		return 0;
	for (i = 0; i < n; i++)
		if (jnum(&a->items[i]) != want[i])
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* rendering                                                          */

struct page {
	char *html;
	size_t len;
	char *data;             /* the JSON, as the browser sees it */
	struct jv d;
	int rc, parsed;
};

static const char data_open[] = "<script type=\"application/json\" id=\"tm-data\">";

static void page_free(struct page *pg)
{
	free(pg->html);
	free(pg->data);
	if (pg->parsed)
		jfree(&pg->d);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0, l = strlen(needle);

	for (hay = strstr(hay, needle); hay; hay = strstr(hay + l, needle))
		n++;
	return n;
}

/* Render (before NULL: a plain page) and cut the data out as an HTML parser would. */
static void render(struct page *pg, const struct tm_profile *before, const struct tm_profile *p,
		   const struct tm_report_opts *o)
{
	FILE *f;
	const char *start, *end;

	memset(pg, 0, sizeof(*pg));
	f = open_memstream(&pg->html, &pg->len);
	if (!f) {
		pg->rc = -errno;
		return;
	}
	pg->rc = before ? tm_flamegraph__write_diff(before, p, f, o) : tm_flamegraph__write(p, f, o);
	fclose(f);
	TM_CHECK(pg->rc == 0);
	if (pg->rc)
		return;
	TM_CHECK_EQ_U64(count(pg->html, data_open), 1);
	start = strstr(pg->html, data_open);
	if (!start)
		return;
	start += strlen(data_open);
	/* An HTML parser ends a script element at the first "</script", whatever the case. */
	end = strcasestr(start, "</script");
	TM_CHECK(end != NULL);
	if (!end)
		return;
	pg->data = strndup(start, (size_t)(end - start));
	TM_CHECK(pg->data != NULL);
	pg->parsed = pg->data && jparse(pg->data, &pg->d) == 0;
	TM_CHECK(pg->parsed);
}

/* Sites with values in a site array: peak, leaks, allocs, temporary (bytes, count). */
static int site_is(const struct jv *site, const int64_t *stack, size_t nstack, int64_t flags,
		   const int64_t *vals, size_t nvals)
{
	size_t i;

	if (site->t != J_ARR || site->n != 2 + nvals)
		return 0;
	if (!jints(jat(site, 0), stack, nstack) || jnum(jat(site, 1)) != flags)
		return 0;
	for (i = 0; i < nvals; i++)
		if (jnum(jat(site, 2 + i)) != vals[i])
			return 0;
	return 1;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* a profile with hostile names                                       */

static const char evil_fn[] = "load</script><script>alert(1)</script><!--x";
static const char evil_file[] = "app \"q\" \\ 'x'.py";
/* e-acute, U+2028, U+2029, a control byte, a byte that is not UTF-8, and HTML's specials */
static const char odd_fn[] = "caf\xc3\xa9 \xe2\x80\xa8 \xe2\x80\xa9 \x01 \xff & > ' \xf0\x9f\x94\xa5";
static const char odd_fn_decoded[] = "caf\xc3\xa9 \xe2\x80\xa8 \xe2\x80\xa9 \x01 \xef\xbf\xbd & > ' \xf0\x9f\x94\xa5";
static const char evil_cmd[] = "./prog </title><script>x()</script> \"q\" & caf\xc3\xa9 \xff";

static struct tm_profile *build(void)
{
	struct tm_profile *p = tm_profile__new();
	struct tm_frame f[] = {
		{ TM_FRAME_NATIVE, 42, "make_buffer", "main.c", "/usr/bin/prog", 0x401234 },
		{ TM_FRAME_NATIVE, 120, "main", "main.c", "/usr/bin/prog", 0x401000 },
		{ TM_FRAME_PYTHON, 12, evil_fn, evil_file, NULL, 0x7f00aa000000 },
		{ TM_FRAME_NATIVE, 0, NULL, NULL, "/usr/lib/libfoo.so.1", 0xdeadbeef },
		{ TM_FRAME_PYTHON, 0, odd_fn, "t.py", NULL, 0 },
	};
	uint32_t s0[] = { 0, 1 }, s1[] = { 2, 4, 1 }, s2[] = { 3 };
	struct tm_site sites[] = {
		{ .nframes = 2, .frames = s0, .kind = TM_KIND_MALLOC, .peak_bytes = 3000, .peak_count = 2,
		  .live_bytes = 4096, .live_count = 1, .alloc_bytes = 8192, .alloc_count = 2,
		  .temp_bytes = 100, .temp_count = 1 },
		{ .nframes = 3, .frames = s1, .kind = TM_KIND_CALLOC, .flags = TM_STACK_PY_TRUNCATED,
		  .peak_bytes = 1000, .peak_count = 1, .alloc_bytes = 3000, .alloc_count = 3 },
		{ .nframes = 1, .frames = s2, .kind = TM_KIND_MMAP, .live_bytes = 4096, .live_count = 1,
		  .alloc_bytes = 4096, .alloc_count = 1 },
		/* Nothing in any view: left out. */
		{ .nframes = 1, .frames = s2, .kind = TM_KIND_BRK, .live_bytes = -8, .live_count = -1 },
	};
	struct tm_sample smp[] = { { 0, 0, 1000 }, { 1000000, 5000, 20000 }, { 2000000, 4000, 30000 } };
	size_t i;

	for (i = 0; i < N(f); i++)
		TM_CHECK(tm_profile__add_frame(p, &f[i]) == (int)i);
	for (i = 0; i < N(sites); i++)
		TM_CHECK(tm_profile__add_site(p, &sites[i]) == (int)i);
	for (i = 0; i < N(smp); i++)
		TM_CHECK(tm_profile__add_sample(p, &smp[i]) == 0);
	p->pid = 4242;
	p->command = tm_profile__str(p, evil_cmd);
	p->has_exit_code = 1;
	p->exit_code = 3;
	p->start_time_ns = 1000000000000ULL;
	p->end_time_ns = 1003100000000ULL;
	p->peak_bytes = 12897345;
	p->peak_time_ns = 1204000000;
	p->live_bytes_end = -1024;
	p->alloc_bytes = 41943040;
	p->alloc_count = 12345;
	p->free_count = 12000;
	tm_profile__set_counter(p, 1, "stack_map_full", 12);
	tm_profile__set_counter(p, 1, "free_unmatched", 3);
	tm_profile__set_counter(p, 0, "stacks_new", 6);
	return p;
}

static void test_page(void)
{
	struct tm_profile *p = build();
	struct tm_report_opts o = { .view = TM_VIEW_LEAKS, .top_n = 1 };
	const struct jv *d, *fr, *sites, *smp;
	struct page pg;

	render(&pg, NULL, p, &o);
	if (!pg.parsed)
		goto out;
	TM_CHECK(!strncmp(pg.html, "<!DOCTYPE html>\n", 16));
	TM_CHECK(pg.len > 7 && !strcmp(pg.html + pg.len - 8, "</html>\n"));
	TM_CHECK(strlen(pg.html) == pg.len);
	TM_CHECK(!strstr(pg.html, "@@"));   /* every marker filled in */
	TM_CHECK(strstr(pg.html, "<title>tidemark: ./prog &lt;/title&gt;&lt;script&gt;x()&lt;/script&gt; "
			"&quot;q&quot; &amp; caf\xc3\xa9 \xef\xbf\xbd</title>") != NULL);
	/* The data cannot open or close anything: no '<' at all, no raw U+2028/U+2029. */
	TM_CHECK(!strchr(pg.data, '<'));
	TM_CHECK(!strstr(pg.data, "\xe2\x80\xa8") && !strstr(pg.data, "\xe2\x80\xa9"));
	TM_CHECK(strstr(pg.data, "\"load\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"
			"\\u003c/script\\u003e\\u003c!--x\"") != NULL);
	TM_CHECK(strstr(pg.data, "\"caf\xc3\xa9 \\u2028 \\u2029 \\u0001 \\ufffd \\u0026 \\u003e ' "
			"\xf0\x9f\x94\xa5\"") != NULL);

	d = &pg.d;
	TM_CHECK_EQ_U64(jnum(jget(d, "version")), 1);
	TM_CHECK_STR(jstr(jget(d, "page")), "profile");
	TM_CHECK_STR(jstr(jget(d, "view")), "leaks");
	TM_CHECK(jget(d, "python_only")->t == J_FALSE);
	TM_CHECK(jget(d, "views")->n == 4);
	TM_CHECK_STR(jstr(jat(jget(d, "views"), 3)), "temporary");
	TM_CHECK(jget(d, "before")->t == J_NULL);

	TM_CHECK_EQ_U64(jnum(jget(jget(d, "process"), "pid")), 4242);
	TM_CHECK_STR(jstr(jget(jget(d, "process"), "command")),
		     "./prog </title><script>x()</script> \"q\" & caf\xc3\xa9 \xef\xbf\xbd");
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "process"), "exit_code")), 3);
	TM_CHECK(jget(jget(d, "process"), "signal")->t == J_NULL);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "process"), "duration_ns")), 3100000000ULL);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "totals"), "peak_bytes")), 12897345);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "totals"), "peak_time_ns")), 1204000000);
	TM_CHECK(jnum(jget(jget(d, "totals"), "live_bytes_end")) == -1024);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "totals"), "alloc_bytes")), 41943040);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "totals"), "alloc_count")), 12345);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "totals"), "free_count")), 12000);
	/* Every drop counter, zero or not: the page shows the nonzero ones. */
	TM_CHECK_EQ_U64(jget(d, "dropped")->n, TM_DROP__COUNT);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "dropped"), "stack_map_full")), 12);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "dropped"), "free_unmatched")), 3);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "dropped"), "alloc_map_full")), 0);
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "stats"), "stacks_new")), 6);

	smp = jget(d, "samples");
	TM_CHECK_EQ_U64(smp->n, 3);
	TM_CHECK(jints(jat(smp, 1), (int64_t[]){ 1000000, 5000, 20000 }, 3));
	TM_CHECK(jints(jat(smp, 2), (int64_t[]){ 2000000, 4000, 30000 }, 3));

	fr = jget(d, "frames");
	TM_CHECK_EQ_U64(fr->n, 5);
	TM_CHECK(jnum(jat(jat(fr, 0), 0)) == 0);
	TM_CHECK_STR(jstr(jat(jat(fr, 0), 1)), "make_buffer");
	TM_CHECK_STR(jstr(jat(jat(fr, 0), 2)), "main.c");
	TM_CHECK_EQ_U64(jnum(jat(jat(fr, 0), 3)), 42);
	TM_CHECK_STR(jstr(jat(jat(fr, 0), 4)), "/usr/bin/prog");
	TM_CHECK_STR(jstr(jat(jat(fr, 0), 5)), "0x401234");
	TM_CHECK(jnum(jat(jat(fr, 2), 0)) == 1);
	TM_CHECK_STR(jstr(jat(jat(fr, 2), 1)), evil_fn);
	TM_CHECK_STR(jstr(jat(jat(fr, 2), 2)), evil_file);
	TM_CHECK(jat(jat(fr, 2), 4)->t == J_NULL);
	TM_CHECK_STR(jstr(jat(jat(fr, 2), 5)), "0x7f00aa000000");
	TM_CHECK(jat(jat(fr, 3), 1)->t == J_NULL && jat(jat(fr, 3), 2)->t == J_NULL);
	TM_CHECK_STR(jstr(jat(jat(fr, 3), 5)), "0xdeadbeef");
	TM_CHECK_STR(jstr(jat(jat(fr, 4), 1)), odd_fn_decoded);
	TM_CHECK(jnum(jat(jat(fr, 4), 3)) == 0 && jat(jat(fr, 4), 5)->t == J_NULL);

	/* Every site that scores anywhere, whatever top_n says; stacks outermost first. */
	sites = jget(d, "sites");
	TM_CHECK_EQ_U64(sites->n, 3);
	TM_CHECK(site_is(jat(sites, 0), (int64_t[]){ 1, 0 }, 2, 0,
			 (int64_t[]){ 3000, 2, 4096, 1, 8192, 2, 100, 1 }, 8));
	TM_CHECK(site_is(jat(sites, 1), (int64_t[]){ 1, 4, 2 }, 3, 1,
			 (int64_t[]){ 1000, 1, 0, 0, 3000, 3, 0, 0 }, 8));
	TM_CHECK(site_is(jat(sites, 2), (int64_t[]){ 3 }, 1, 0,
			 (int64_t[]){ 0, 0, 4096, 1, 4096, 1, 0, 0 }, 8));
	page_free(&pg);

	/*
	 * Python frames only: native ones leave every stack, the numbers stay;
	 * the two sites with no Python frame now print the same: one row, summed.
	 */
	o.flags = TM_REPORT_PYTHON_ONLY;
	render(&pg, NULL, p, &o);
	if (!pg.parsed)
		goto out;
	TM_CHECK(jget(&pg.d, "python_only")->t == J_TRUE);
	sites = jget(&pg.d, "sites");
	TM_CHECK_EQ_U64(sites->n, 2);
	TM_CHECK(site_is(jat(sites, 0), NULL, 0, 0, (int64_t[]){ 3000, 2, 8192, 2, 12288, 3, 100, 1 }, 8));
	TM_CHECK(site_is(jat(sites, 1), (int64_t[]){ 4, 2 }, 2, 1, (int64_t[]){ 1000, 1, 0, 0, 3000, 3, 0, 0 }, 8));

	/* NULL options: the peak view. */
	page_free(&pg);
	render(&pg, NULL, p, NULL);
	if (pg.parsed)
		TM_CHECK_STR(jstr(jget(&pg.d, "view")), "peak");
out:
	page_free(&pg);
	tm_profile__free(p);
}

/* The page must work with no network: nothing it loads, nothing it links. */
static void test_self_contained(void)
{
	struct tm_profile *p = tm_profile__new();
	const char *s;
	struct page pg;

	render(&pg, NULL, p, NULL);
	if (!pg.parsed)
		goto out;
	for (s = strstr(pg.html, "http"); s; s = strstr(s + 4, "http"))
		if (strncmp(s, "http://www.w3.org/2000/svg", 26) &&
		    strncmp(s, "http-equiv", 10))
			break;
	TM_CHECK(s == NULL);   /* only the SVG namespace, which is a name, not a fetch */
	TM_CHECK(!strstr(pg.html, " src="));
	TM_CHECK(!strstr(pg.html, "<link"));
	TM_CHECK(!strstr(pg.html, "@import"));
	TM_CHECK(!strstr(pg.html, "url("));
	TM_CHECK(strstr(pg.html, "Content-Security-Policy\" content=\"default-src 'none';") != NULL);
	/* An empty profile still has every key the page reads. */
	TM_CHECK_EQ_U64(jget(&pg.d, "frames")->n, 0);
	TM_CHECK(jget(&pg.d, "sites")->t == J_ARR && jget(&pg.d, "sites")->n == 0);
	TM_CHECK(jget(&pg.d, "samples")->t == J_ARR);
	TM_CHECK(jget(jget(&pg.d, "process"), "command")->t == J_NULL);
	TM_CHECK(jget(jget(&pg.d, "process"), "duration_ns")->t == J_NULL);
	TM_CHECK(strstr(pg.html, "<title>tidemark: (unknown command)</title>") != NULL);
out:
	page_free(&pg);
	tm_profile__free(p);
}

/* ------------------------------------------------------------------ */
/* diff                                                               */

enum { F_MAIN, F_GROW, F_SHRINK, F_SAME, F_GONE, F_NEW, F_MOVED, F_PY, NF };

/*
 * The same program built in two directories and run twice: every address
 * differs, module paths differ, base names agree.
 */
static struct tm_profile *build_side(int after)
{
	static const char *const names[NF] = { "main", "grow", "shrink", "same", "gone", "new", "moved", "step" };
	struct tm_profile *p = tm_profile__new();
	const char *mod = after ? "/build-b/prog" : "/build-a/prog";
	uint64_t base = after ? 0x5000 : 0x1000;
	int idx[NF + 1], i;

	for (i = 0; i < NF; i++) {
		struct tm_frame f = { i == F_PY ? TM_FRAME_PYTHON : TM_FRAME_NATIVE,
				      (uint32_t)(10 + i), names[i], i == F_PY ? "app.py" : "prog.c",
				      i == F_PY ? NULL : mod, base + 0x100 * (uint64_t)i };

		if (i == F_MOVED && after)
			f.line++;   /* the same function, one line down: another frame */
		idx[i] = tm_profile__add_frame(p, &f);
	}
	{
		/* main again at another return address but the same line: the same frame for a diff */
		struct tm_frame f = { TM_FRAME_NATIVE, 10, "main", "prog.c", mod, base + 8 };

		idx[NF] = tm_profile__add_frame(p, &f);
	}
#define SITE(inner, outer, bytes) do { \
		uint32_t fr[] = { (uint32_t)idx[inner], (uint32_t)idx[outer] }; \
		struct tm_site s = { .nframes = 2, .frames = fr, .peak_bytes = (bytes), .peak_count = 1, \
				     .alloc_bytes = 2 * (bytes), .alloc_count = 2 }; \
		TM_CHECK(tm_profile__add_site(p, &s) >= 0); \
	} while (0)
	if (after) {
		SITE(F_GROW, F_MAIN, 4000);
		SITE(F_SHRINK, F_MAIN, 1000);
		SITE(F_NEW, F_MAIN, 2000);
		SITE(F_SAME, F_MAIN, 100);
		SITE(F_SAME, NF, 200);      /* same stack by label: summed with the one above */
		SITE(F_MOVED, F_MAIN, 50);
		SITE(F_PY, F_GROW, 7);
	} else {
		SITE(F_GROW, F_MAIN, 1000);
		SITE(F_SHRINK, F_MAIN, 5000);
		SITE(F_SAME, F_MAIN, 300);
		SITE(F_GONE, F_MAIN, 700);
		SITE(F_MOVED, F_MAIN, 60);
		SITE(F_PY, F_SHRINK, 5);
	}
#undef SITE
	p->pid = after ? 200 : 100;
	p->command = tm_profile__str(p, after ? "./prog --after" : "./prog --before");
	p->peak_bytes = after ? 7357 : 7065;
	return p;
}

/* v: after's peak bytes, before's peak bytes; counts and allocs follow from them. */
static int diff_site(const struct jv *site, const int64_t *stack, size_t n, int64_t after, int64_t before)
{
	int64_t ac = after ? (after == 300 ? 2 : 1) : 0, bc = before ? 1 : 0;
	int64_t v[16] = { after, ac, 0, 0, 2 * after, 2 * ac, 0, 0,
			  before, bc, 0, 0, 2 * before, 2 * bc, 0, 0 };

	return site_is(site, stack, n, 0, v, 16);
}

static void test_diff(void)
{
	struct tm_profile *before = build_side(0), *after = build_side(1);
	const struct jv *d, *sites, *fr;
	struct page pg;
	FILE *f;

	render(&pg, before, after, NULL);
	if (!pg.parsed)
		goto out;
	d = &pg.d;
	TM_CHECK(strstr(pg.html, "<title>tidemark diff: ./prog --after</title>") != NULL);
	TM_CHECK_STR(jstr(jget(d, "page")), "diff");
	TM_CHECK_EQ_U64(jnum(jget(jget(d, "process"), "pid")), 200);
	TM_CHECK_EQ_U64(jnum(jget(jget(jget(d, "before"), "process"), "pid")), 100);
	TM_CHECK_EQ_U64(jnum(jget(jget(jget(d, "before"), "totals"), "peak_bytes")), 7065);
	TM_CHECK_EQ_U64(jget(jget(d, "before"), "dropped")->n, TM_DROP__COUNT);
	TM_CHECK(jget(jget(d, "before"), "samples")->t == J_ARR);

	/*
	 * AFTER's 9 frames, then those of BEFORE's that only BEFORE-only stacks
	 * use, in the order met: gone, main, moved, step, shrink.
	 */
	fr = jget(d, "frames");
	TM_CHECK_EQ_U64(fr->n, NF + 1 + 5);
	TM_CHECK_STR(jstr(jat(jat(fr, NF + 1), 1)), "gone");
	TM_CHECK_STR(jstr(jat(jat(fr, NF + 1), 4)), "/build-a/prog");
	TM_CHECK_STR(jstr(jat(jat(fr, NF + 2), 1)), "main");
	TM_CHECK_STR(jstr(jat(jat(fr, NF + 3), 1)), "moved");
	TM_CHECK_EQ_U64(jnum(jat(jat(fr, NF + 3), 3)), 10 + F_MOVED);
	TM_CHECK_STR(jstr(jat(jat(fr, NF + 4), 1)), "step");
	TM_CHECK_STR(jstr(jat(jat(fr, NF + 5), 1)), "shrink");

	/*
	 * One entry per distinct stack: AFTER's in their order, then BEFORE's
	 * that AFTER has not. Addresses and directories differ, yet grow,
	 * shrink and same match; the moved line does not.
	 */
	sites = jget(d, "sites");
	TM_CHECK_EQ_U64(sites->n, 9);
	TM_CHECK(diff_site(jat(sites, 0), (int64_t[]){ F_MAIN, F_GROW }, 2, 4000, 1000));
	TM_CHECK(diff_site(jat(sites, 1), (int64_t[]){ F_MAIN, F_SHRINK }, 2, 1000, 5000));
	TM_CHECK(diff_site(jat(sites, 2), (int64_t[]){ F_MAIN, F_NEW }, 2, 2000, 0));
	TM_CHECK(diff_site(jat(sites, 3), (int64_t[]){ F_MAIN, F_SAME }, 2, 300, 300));
	TM_CHECK(diff_site(jat(sites, 4), (int64_t[]){ F_MAIN, F_MOVED }, 2, 50, 0));
	TM_CHECK(diff_site(jat(sites, 5), (int64_t[]){ F_GROW, F_PY }, 2, 7, 0));
	TM_CHECK(diff_site(jat(sites, 6), (int64_t[]){ NF + 2, NF + 1 }, 2, 0, 700));
	TM_CHECK(diff_site(jat(sites, 7), (int64_t[]){ NF + 2, NF + 3 }, 2, 0, 60));
	/* BEFORE's step under shrink is not AFTER's step under grow. */
	TM_CHECK(diff_site(jat(sites, 8), (int64_t[]){ NF + 5, NF + 4 }, 2, 0, 5));
	/* The page colours growth red and shrinkage blue. */
	TM_CHECK(strstr(pg.html, "GROW = [215, 48, 31], SHRINK = [33, 102, 172]") != NULL);
	page_free(&pg);

	/* Python frames only: grow>step and shrink>step are both "step" now, and match. */
	render(&pg, before, after, &(struct tm_report_opts){ .view = TM_VIEW_ALLOCS,
							     .flags = TM_REPORT_PYTHON_ONLY });
	if (!pg.parsed)
		goto out;
	sites = jget(&pg.d, "sites");
	TM_CHECK_STR(jstr(jget(&pg.d, "view")), "allocs");
	TM_CHECK(site_is(jat(sites, 0), NULL, 0, 0,
			 (int64_t[]){ 7350, 6, 0, 0, 14700, 12, 0, 0, 7060, 5, 0, 0, 14120, 10, 0, 0 }, 16));
	TM_CHECK(site_is(jat(sites, 1), (int64_t[]){ F_PY }, 1, 0,
			 (int64_t[]){ 7, 1, 0, 0, 14, 2, 0, 0, 5, 1, 0, 0, 10, 2, 0, 0 }, 16));
	TM_CHECK_EQ_U64(sites->n, 2);
	page_free(&pg);

	TM_CHECK(tm_flamegraph__write_diff(after, after, stdout, NULL) == -EINVAL);
	TM_CHECK(tm_flamegraph__write_diff(NULL, after, stdout, NULL) == -EINVAL);
	f = fopen("/dev/full", "w");
	if (f) {
		TM_CHECK(tm_flamegraph__write_diff(before, after, f, NULL) == -EIO);
		fclose(f);
	}
out:
	tm_profile__free(before);
	tm_profile__free(after);
}

static void test_errors(void)
{
	struct tm_profile *p = build();
	struct tm_report_opts bad = { .view = TM_VIEW__COUNT };
	uint32_t saved;
	FILE *f;

	TM_CHECK(tm_flamegraph__write(NULL, stdout, NULL) == -EINVAL);
	TM_CHECK(tm_flamegraph__write(p, NULL, NULL) == -EINVAL);
	TM_CHECK(tm_flamegraph__write(p, stdout, &bad) == -EINVAL);
	/* A frame index past the table (a corrupt profile) is refused before anything is written. */
	saved = p->sites[0].frames[0];
	p->sites[0].frames[0] = (uint32_t)p->nframes;
	TM_CHECK(tm_flamegraph__write(p, stdout, NULL) == -EINVAL);
	p->sites[0].frames[0] = saved;
	f = fopen("/dev/full", "w");
	if (f) {
		TM_CHECK(tm_flamegraph__write(p, f, NULL) == -EIO);
		fclose(f);
	}
	tm_profile__free(p);
}

int main(void)
{
	test_page();
	test_self_contained();
	test_diff();
	test_errors();
	return tm_test_done("test_flamegraph");
}
