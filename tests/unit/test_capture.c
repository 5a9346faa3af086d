/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * test_capture.c: capture files round-trip every field, always encode the
 * same way, and a reader given damaged or forged input says what is wrong
 * instead of crashing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tidemark_common.h"
#include "profile/capture.h"
#include "util/log.h"
#include "profile/profile.h"
#include "tm_test.h"

static char tmpdir[] = "/tmp/tm_test_capture.XXXXXX";

static struct tm_profile *build_profile(void)
{
	struct tm_profile *p = tm_profile__new();
	struct tm_frame f[] = {
		{ TM_FRAME_NATIVE, 42, "make_buffer", "/src/prog/main.c", "/usr/bin/prog", 0x401234 },
		{ TM_FRAME_NATIVE, 0, "ns::process_file(int)+0x1c", NULL, "/usr/bin/prog", 0x401400,
		  "_ZN2ns12process_fileEi" },
		{ TM_FRAME_NATIVE, 0, NULL, NULL, NULL, 0xffffffffffffffffULL },
		{ TM_FRAME_PYTHON, 12, "load \"data\"", "app/\xc3\xa9t\xc3\xa9.py", NULL, 0x7f0000001000 },
		{ TM_FRAME_NATIVE, 7, "main", "/src/prog/main.c", "/usr/bin/prog", 0x401000 },
	};
	uint32_t s0[] = { 0, 1, 4 }, s1[] = { 3, 2, 1, 4 }, s2[] = { 2 };
	struct tm_site sites[] = {
		{ .nframes = 3, .frames = s0, .kind = TM_KIND_MALLOC, .alloc_bytes = 8388608,
		  .alloc_count = 2, .free_bytes = 4194304, .free_count = 1, .live_bytes = 4194304,
		  .live_count = 1, .peak_bytes = 8388608, .peak_count = 2 },
		{ .nframes = 4, .frames = s1, .kind = TM_KIND_POSIX_MEMALIGN,
		  .flags = TM_STACK_NATIVE_TRUNCATED | TM_STACK_PY_TRUNCATED,
		  .alloc_bytes = UINT64_MAX, .alloc_count = UINT64_MAX - 1, .free_bytes = 3,
		  .free_count = 4, .live_bytes = -5, .live_count = INT64_MIN,
		  .peak_bytes = INT64_MAX, .peak_count = 77 },
		{ .nframes = 0, .frames = NULL, .kind = 99, .alloc_bytes = 1, .alloc_count = 1 },
		{ .nframes = 1, .frames = s2, .kind = TM_KIND_MMAP, .alloc_bytes = 4096,
		  .alloc_count = 1, .live_bytes = 4096, .live_count = 1, .peak_bytes = 4096,
		  .peak_count = 1, .temp_bytes = 3, .temp_count = UINT64_MAX },
	};
	struct tm_sample tl[] = {
		{ 0, 0, 0 }, { 1000, -8, 4096 }, { 1000, INT64_MAX, UINT64_MAX },
	};
	size_t i;

	p->pid = 4242;
	p->command = tm_profile__str(p, "./prog --name \"x\"\n\ttab \xe2\x82\xac");
	p->has_exit_code = 1;
	p->exit_code = -3;
	p->has_signal = 1;
	p->signal = 9;
	p->start_time_ns = 1000000000123ULL;
	p->end_time_ns = 1003100000456ULL;
	p->peak_bytes = 12897345;
	p->peak_time_ns = 1204000000;
	p->live_bytes_end = -17;
	p->alloc_bytes = 41943040;
	p->alloc_count = 12345;
	p->free_count = 12000;
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		tm_profile__add_frame(p, &f[i]);
	for (i = 0; i < sizeof(sites) / sizeof(sites[0]); i++)
		tm_profile__add_site(p, &sites[i]);
	for (i = 0; i < sizeof(tl) / sizeof(tl[0]); i++)
		tm_profile__add_sample(p, &tl[i]);
	p->cgroup = tm_profile__str(p, "/kubepods/pod-\xc3\xa9");
	p->oom.killed = 1;
	p->oom.time_ns = 77;
	p->oom.rss_anon = 1;
	p->oom.rss_file = 2;
	p->oom.rss_shmem = UINT64_MAX;
	p->oom.cgroup = tm_profile__str(p, "/kubepods");
	p->oom.cgroup_limit = 4096;
	p->oom.cgroup_usage = 4095;
	p->sample_bytes = 524288;
	p->allocator_note = tm_profile__str(p, "malloc comes from /usr/bin/prog, an allocator tidemark does not know");
	p->ns_pid = 1;
	p->oom.cg_have = 15;
	p->oom.cg_max = 4096;
	p->oom.cg_current = 12;
	p->oom.cg_peak = 4096;
	p->oom.cg_oom_kill = 3;
	p->end_moment = TM_END_FINALIZE;
	p->end_moment_ns = 1100000000;
	p->live_bytes_exit = 4096;
	p->sites[0].exit_bytes = 0; /* freed by finalization */
	p->sites[1].exit_bytes = -5;
	p->sites[1].exit_count = INT64_MIN;
	p->sites[3].exit_bytes = 4096;
	p->sites[3].exit_count = 1;
	p->attached = 1;
	p->attach_rss_anon = 123456789;
	p->size_hist[0].count = 1;
	p->size_hist[6].count = 2;
	p->size_hist[6].bytes = 128;
	p->size_hist[TM_PROFILE_SIZE_BUCKETS - 1].bytes = UINT64_MAX;
	tm_profile__set_counter(p, 1, "stack_map_full", 12);
	tm_profile__set_counter(p, 1, "py_unreadable", UINT64_MAX);
	tm_profile__set_counter(p, 1, "from_the_future", 3);
	tm_profile__set_counter(p, 0, "stacks_new", 5);
	tm_profile__set_counter(p, 0, "nested", 1);
	return p;
}

static int str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Every field, one check each, so a failure names the field. */
static void check_equal(const struct tm_profile *a, const struct tm_profile *b)
{
	size_t i;
	uint32_t j;
	int ok;

	TM_CHECK_EQ_U64(a->pid, b->pid);
	TM_CHECK(str_eq(a->command, b->command));
	TM_CHECK_EQ_U64(a->has_exit_code, b->has_exit_code);
	TM_CHECK_EQ_U64(a->exit_code, b->exit_code);
	TM_CHECK_EQ_U64(a->has_signal, b->has_signal);
	TM_CHECK_EQ_U64(a->signal, b->signal);
	TM_CHECK_EQ_U64(a->start_time_ns, b->start_time_ns);
	TM_CHECK_EQ_U64(a->end_time_ns, b->end_time_ns);
	TM_CHECK_EQ_U64(a->peak_bytes, b->peak_bytes);
	TM_CHECK_EQ_U64(a->peak_time_ns, b->peak_time_ns);
	TM_CHECK_EQ_U64(a->live_bytes_end, b->live_bytes_end);
	TM_CHECK_EQ_U64(a->alloc_bytes, b->alloc_bytes);
	TM_CHECK_EQ_U64(a->alloc_count, b->alloc_count);
	TM_CHECK_EQ_U64(a->free_count, b->free_count);
	TM_CHECK_EQ_U64(a->live_bytes_exit, b->live_bytes_exit);
	TM_CHECK_EQ_U64(a->end_moment, b->end_moment);
	TM_CHECK_EQ_U64(a->end_moment_ns, b->end_moment_ns);
	TM_CHECK_EQ_U64(a->attached, b->attached);
	TM_CHECK_EQ_U64(a->attach_rss_anon, b->attach_rss_anon);

	TM_CHECK_EQ_U64(a->ndrops, b->ndrops);
	for (i = 0; i < a->ndrops && i < b->ndrops; i++) {
		TM_CHECK_STR(a->drops[i].name, b->drops[i].name);
		TM_CHECK_EQ_U64(a->drops[i].value, b->drops[i].value);
	}
	TM_CHECK_EQ_U64(a->nstats, b->nstats);
	for (i = 0; i < a->nstats && i < b->nstats; i++) {
		TM_CHECK_STR(a->stats[i].name, b->stats[i].name);
		TM_CHECK_EQ_U64(a->stats[i].value, b->stats[i].value);
	}

	TM_CHECK(str_eq(a->cgroup, b->cgroup));
	TM_CHECK_EQ_U64(a->oom.killed, b->oom.killed);
	TM_CHECK_EQ_U64(a->oom.time_ns, b->oom.time_ns);
	TM_CHECK_EQ_U64(a->oom.rss_anon, b->oom.rss_anon);
	TM_CHECK_EQ_U64(a->oom.rss_file, b->oom.rss_file);
	TM_CHECK_EQ_U64(a->oom.rss_shmem, b->oom.rss_shmem);
	TM_CHECK(str_eq(a->oom.cgroup, b->oom.cgroup));
	TM_CHECK(str_eq(a->allocator_note, b->allocator_note));
	TM_CHECK_EQ_U64(a->oom.cgroup_limit, b->oom.cgroup_limit);
	TM_CHECK_EQ_U64(a->oom.cgroup_usage, b->oom.cgroup_usage);
	TM_CHECK_EQ_U64(a->sample_bytes, b->sample_bytes);
	TM_CHECK_EQ_U64(a->ns_pid, b->ns_pid);
	TM_CHECK_EQ_U64(a->oom.cg_have, b->oom.cg_have);
	TM_CHECK_EQ_U64(a->oom.cg_max, b->oom.cg_max);
	TM_CHECK_EQ_U64(a->oom.cg_current, b->oom.cg_current);
	TM_CHECK_EQ_U64(a->oom.cg_peak, b->oom.cg_peak);
	TM_CHECK_EQ_U64(a->oom.cg_oom_kill, b->oom.cg_oom_kill);
	for (i = 0; i < TM_PROFILE_SIZE_BUCKETS; i++) {
		TM_CHECK_EQ_U64(a->size_hist[i].count, b->size_hist[i].count);
		TM_CHECK_EQ_U64(a->size_hist[i].bytes, b->size_hist[i].bytes);
	}

	TM_CHECK_EQ_U64(a->nframes, b->nframes);
	for (i = 0; i < a->nframes && i < b->nframes; i++) {
		const struct tm_frame *x = &a->frames[i], *y = &b->frames[i];

		TM_CHECK_EQ_U64(x->kind, y->kind);
		TM_CHECK_EQ_U64(x->line, y->line);
		TM_CHECK(str_eq(x->function, y->function));
		TM_CHECK(str_eq(x->file, y->file));
		TM_CHECK(str_eq(x->module, y->module));
		TM_CHECK(str_eq(x->system_name, y->system_name));
		TM_CHECK_EQ_U64(x->address, y->address);
	}

	TM_CHECK_EQ_U64(a->nsites, b->nsites);
	for (i = 0; i < a->nsites && i < b->nsites; i++) {
		const struct tm_site *x = &a->sites[i], *y = &b->sites[i];

		TM_CHECK_EQ_U64(x->nframes, y->nframes);
		TM_CHECK_EQ_U64(x->flags, y->flags);
		TM_CHECK_EQ_U64(x->kind, y->kind);
		TM_CHECK_EQ_U64(x->alloc_bytes, y->alloc_bytes);
		TM_CHECK_EQ_U64(x->alloc_count, y->alloc_count);
		TM_CHECK_EQ_U64(x->free_bytes, y->free_bytes);
		TM_CHECK_EQ_U64(x->free_count, y->free_count);
		TM_CHECK_EQ_U64(x->live_bytes, y->live_bytes);
		TM_CHECK_EQ_U64(x->live_count, y->live_count);
		TM_CHECK_EQ_U64(x->peak_bytes, y->peak_bytes);
		TM_CHECK_EQ_U64(x->peak_count, y->peak_count);
		TM_CHECK_EQ_U64(x->temp_bytes, y->temp_bytes);
		TM_CHECK_EQ_U64(x->temp_count, y->temp_count);
		TM_CHECK_EQ_U64(x->exit_bytes, y->exit_bytes);
		TM_CHECK_EQ_U64(x->exit_count, y->exit_count);
		ok = 1;
		for (j = 0; j < x->nframes && j < y->nframes; j++)
			if (x->frames[j] != y->frames[j])
				ok = 0;
		TM_CHECK(ok);
	}
}

static void path_in_tmp(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void test_roundtrip(void)
{
	struct tm_profile *p = build_profile(), *q = NULL, *e = NULL;
	char path[256], tmp[300], err[256];
	void *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0;
	struct stat st;
	const unsigned char *h;

	path_in_tmp(path, sizeof(path), "capture.tdm");
	TM_CHECK_EQ_U64(tm_capture__write(p, path), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	TM_CHECK(stat(tmp, &st) && errno == ENOENT);
	TM_CHECK(!stat(path, &st));
	/* Aggregated data: a few hundred bytes here, not a trace of events. */
	TM_CHECK(st.st_size > TM_CAPTURE_HEADER_SIZE && st.st_size < 2048);

	TM_CHECK_EQ_U64(tm_capture__read(path, &q, err, sizeof(err)), 0);
	TM_CHECK_STR(err, "");
	TM_CHECK(q != NULL);
	if (q)
		check_equal(p, q);
	/* Strings in the new profile are interned into its own pool. */
	if (q && q->nframes > 0)
		TM_CHECK(q->frames[0].module == q->frames[1].module);

	/* The same profile always gives the same bytes, also after a round trip. */
	TM_CHECK_EQ_U64(tm_capture__write_mem(p, &b1, &l1), 0);
	TM_CHECK_EQ_U64(tm_capture__write_mem(q, &b2, &l2), 0);
	TM_CHECK_EQ_U64(l1, l2);
	TM_CHECK(l1 == l2 && !memcmp(b1, b2, l1));
	TM_CHECK_EQ_U64(l1, st.st_size);

	/* The header, byte for byte. */
	h = b1;
	TM_CHECK(!memcmp(h, "TIDEMARK", 8));
	TM_CHECK(h[8] == 2 && h[9] == 0 && h[10] == 0 && h[11] == 0);
	TM_CHECK(!h[12] && !h[13] && !h[14] && !h[15]);
	TM_CHECK(!h[28] && !h[29] && !h[30] && !h[31]);
	TM_CHECK_EQ_U64(crc32(0, h + 32, (uInt)(l1 - 32)),
			(uint32_t)h[24] | (uint32_t)h[25] << 8 | (uint32_t)h[26] << 16 |
			(uint32_t)h[27] << 24);

	/* Writing over an existing capture replaces it. */
	e = tm_profile__new();
	TM_CHECK_EQ_U64(tm_capture__write(e, path), 0);
	tm_profile__free(q);
	q = NULL;
	TM_CHECK_EQ_U64(tm_capture__read(path, &q, err, sizeof(err)), 0);
	if (q) {
		check_equal(e, q);
		TM_CHECK(q->command == NULL);
		TM_CHECK_EQ_U64(q->nsites, 0);
		TM_CHECK_EQ_U64(q->ndrops, TM_DROP__COUNT);
	}
	unlink(path);

	free(b1);
	free(b2);
	tm_profile__free(e);
	tm_profile__free(q);
	tm_profile__free(p);
}

/*
 * The end of the program: a file without the end section (every one written
 * before it existed, and native programs' now) ends at the exit, where its
 * live values were taken; --at-exit turns a finalization's profile into that.
 */
static void test_end_moment(void)
{
	struct tm_profile *p = build_profile(), *q = NULL, *r = NULL;
	char err[256];
	void *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0, i;

	/* as a native program, or a file from before: exit values are the live ones */
	p->end_moment = TM_END_EXIT;
	p->end_moment_ns = 0;
	p->live_bytes_exit = p->live_bytes_end;
	p->attached = 0;
	p->attach_rss_anon = 0;
	for (i = 0; i < p->nsites; i++) {
		p->sites[i].exit_bytes = p->sites[i].live_bytes;
		p->sites[i].exit_count = p->sites[i].live_count;
	}
	TM_CHECK_EQ_U64(tm_capture__write_mem(p, &b1, &l1), 0);
	TM_CHECK_EQ_U64(tm_capture__read_mem(b1, l1, "c.tdm", &q, err, sizeof(err)), 0);
	if (q)
		check_equal(p, q);

	/* the same at finalization: 104 bytes more before compression, read back as written */
	p->end_moment = TM_END_FINALIZE;
	p->end_moment_ns = 5;
	p->sites[0].exit_bytes = 0;
	p->sites[0].exit_count = 0;
	p->live_bytes_exit = p->live_bytes_end - p->sites[0].live_bytes;
	TM_CHECK_EQ_U64(tm_capture__write_mem(p, &b2, &l2), 0);
	TM_CHECK_EQ_U64(tm_capture__read_mem(b2, l2, "c.tdm", &r, err, sizeof(err)), 0);
	if (r) {
		check_equal(p, r);
		TM_CHECK_STR(tm_end_moment_name(r->end_moment), "finalization");
		tm_profile__at_exit(r);
		TM_CHECK_EQ_U64(r->end_moment, TM_END_EXIT);
		TM_CHECK_EQ_U64(r->live_bytes_end, p->live_bytes_exit);
		TM_CHECK_EQ_U64(r->sites[0].live_bytes, 0);
		TM_CHECK_EQ_U64(r->sites[0].live_count, 0);
		TM_CHECK_EQ_U64(r->sites[3].live_bytes, 4096);
	}
	TM_CHECK(tm_end_moment_name(2) == NULL);
	free(b1);
	free(b2);
	tm_profile__free(p);
	tm_profile__free(q);
	tm_profile__free(r);
}

static void test_file_errors(void)
{
	struct tm_profile *p = build_profile(), *q = (struct tm_profile *)1;
	char path[256], err[256];
	struct stat st;

	path_in_tmp(path, sizeof(path), "missing.tdm");
	TM_CHECK_EQ_U64(tm_capture__read(path, &q, err, sizeof(err)), -ENOENT);
	TM_CHECK(q == NULL);
	TM_CHECK(!strncmp(err, path, strlen(path)));
	TM_CHECK(strstr(err, "No such file") != NULL);

	TM_CHECK_EQ_U64(tm_capture__read(tmpdir, &q, err, sizeof(err)), -EISDIR);
	TM_CHECK(q == NULL);

	/* The warning is expected: keep the test's output clean. */
	path_in_tmp(path, sizeof(path), "no/such/dir/capture.tdm");
	tm_log_level = -1;
	TM_CHECK_EQ_U64(tm_capture__write(p, path), -ENOENT);
	tm_log_level = TM_LOG_INFO;
	TM_CHECK(stat(path, &st) != 0);

	/* err may be NULL or tiny; the result is the same. */
	path_in_tmp(path, sizeof(path), "missing.tdm");
	TM_CHECK_EQ_U64(tm_capture__read(path, &q, NULL, 0), -ENOENT);
	TM_CHECK_EQ_U64(tm_capture__read(path, &q, err, 1), -ENOENT);
	TM_CHECK_STR(err, "");
	TM_CHECK_EQ_U64(tm_capture__write(NULL, path), -EINVAL);
	tm_profile__free(p);
}

static int read_fails(const void *buf, size_t len, char *err, size_t errlen)
{
	struct tm_profile *q = (struct tm_profile *)1;
	int ret = tm_capture__read_mem(buf, len, "c.tdm", &q, err, errlen);

	if (ret == 0) {
		tm_profile__free(q);
		return 0;
	}
	/* On error: no profile, and a message that names the input. */
	return q == NULL && ret == -EINVAL && !strncmp(err, "c.tdm: ", 7) && strlen(err) > 8;
}

static void test_damage(void)
{
	struct tm_profile *p = build_profile(), *q = NULL;
	unsigned char *buf = NULL, *copy;
	char err[256];
	size_t len = 0, i;
	int bit, ok_trunc = 1, ok_flip = 1, ok_bits = 1, ok_reserved = 1;

	TM_CHECK_EQ_U64(tm_capture__write_mem(p, (void **)&buf, &len), 0);
	copy = malloc(len);

	/* Cut at every length. */
	for (i = 0; i < len; i++) {
		memcpy(copy, buf, i);
		if (!read_fails(copy, i, err, sizeof(err))) {
			fprintf(stderr, "truncated at %zu: not detected (%s)\n", i, err);
			ok_trunc = 0;
		}
	}
	TM_CHECK(ok_trunc);
	TM_CHECK(read_fails(NULL, 0, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: empty file, not a tidemark capture");
	TM_CHECK(read_fails(buf, 20, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: truncated (file is 20 bytes, its header alone needs 32)");
	TM_CHECK(read_fails(buf, 32, err, sizeof(err)));
	TM_CHECK(strstr(err, "c.tdm: truncated (expected ") == err);
	TM_CHECK(strstr(err, " bytes of payload, found 0)") != NULL);
	TM_CHECK(read_fails(buf, len - 10, err, sizeof(err)));
	TM_CHECK(strstr(err, "c.tdm: truncated (expected ") == err);

	/* Every byte changed, every single bit flipped: all detected, except
	 * in the reserved word, which readers ignore. */
	for (i = 0; i < len; i++) {
		memcpy(copy, buf, len);
		copy[i] ^= 0xff;
		if (i >= 28 && i < 32) {
			if (read_fails(copy, len, err, sizeof(err)))
				ok_reserved = 0;
			continue;
		}
		if (!read_fails(copy, len, err, sizeof(err))) {
			fprintf(stderr, "byte %zu changed: not detected\n", i);
			ok_flip = 0;
		}
		for (bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, len);
			copy[i] ^= (unsigned char)(1u << bit);
			if (!read_fails(copy, len, err, sizeof(err)))
				ok_bits = 0;
		}
	}
	TM_CHECK(ok_flip);
	TM_CHECK(ok_bits);
	TM_CHECK(ok_reserved);

	memcpy(copy, buf, len);
	copy[len - 3] ^= 0x40;
	TM_CHECK(read_fails(copy, len, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: checksum mismatch: file is corrupt");

	memcpy(copy, buf, len);
	copy[0] = 'X';
	TM_CHECK(read_fails(copy, len, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: not a tidemark capture (bad magic)");
	TM_CHECK(read_fails("GIF89a", 6, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: not a tidemark capture (bad magic)");

	memcpy(copy, buf, len);
	copy[8] = 3;
	TM_CHECK(read_fails(copy, len, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: unsupported capture format version 3 (this tidemark reads 1 to 2)");
	copy[8] = 0;
	TM_CHECK(read_fails(copy, len, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: unsupported capture format version 0 (this tidemark reads 1 to 2)");

	memcpy(copy, buf, len);
	copy[13] = 1;
	TM_CHECK(read_fails(copy, len, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: unsupported capture flags 0x100 (written by a newer tidemark?)");

	/* A payload length no zlib stream of this size could produce. */
	memcpy(copy, buf, len);
	copy[22] = 0x01;
	TM_CHECK(read_fails(copy, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "too large") || strstr(err, "cannot come from"));

	/* A short message buffer is filled, terminated, and nothing more. */
	memset(err, 'z', sizeof(err));
	TM_CHECK_EQ_U64(tm_capture__read_mem(copy, 6, "c.tdm", &q, err, 5), -EINVAL);
	TM_CHECK(q == NULL);
	TM_CHECK_STR(err, "c.td");
	TM_CHECK(err[5] == 'z');

	free(copy);
	free(buf);
	tm_profile__free(p);
}

/* ------------------------------------------------------------------ */
/* forged payloads: valid header and checksum around a bad body          */

struct pl {
	unsigned char b[4096];
	size_t n;
};

static void pl_u32(struct pl *w, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		w->b[w->n++] = (unsigned char)(v >> (8 * i));
}

static void pl_u64(struct pl *w, uint64_t v)
{
	pl_u32(w, (uint32_t)v);
	pl_u32(w, (uint32_t)(v >> 32));
}

static void pl_str(struct pl *w, const char *s, size_t len)
{
	pl_u32(w, (uint32_t)len);
	memcpy(w->b + w->n, s, len);
	w->n += len;
}

/* Wrap a payload into a capture file; `declared` is the header's length. */
static unsigned char wrap_version = 1;

static size_t wrap(unsigned char *out, size_t cap, const struct pl *w, uint64_t declared,
		   const void *extra, size_t extra_len)
{
	uLongf clen = cap - 32;
	uint32_t crc;
	int i;

	compress2(out + 32, &clen, w->b, w->n, 9);
	if (extra_len)
		memcpy(out + 32 + clen, extra, extra_len);
	clen += extra_len;
	memcpy(out, "TIDEMARK", 8);
	memset(out + 8, 0, 24);
	out[8] = wrap_version;
	for (i = 0; i < 8; i++)
		out[16 + i] = (unsigned char)(declared >> (8 * i));
	crc = (uint32_t)crc32(0, out + 32, (uInt)clen);
	for (i = 0; i < 4; i++)
		out[24 + i] = (unsigned char)(crc >> (8 * i));
	return 32 + clen;
}

enum forge {
	FORGE_NONE,
	FORGE_NSTRINGS,
	FORGE_STRREF,
	FORGE_NUL,
	FORGE_FLAG,
	FORGE_COUNTER_NULL,
	FORGE_COUNTER_EMPTY,
	FORGE_FRAME_KIND,
	FORGE_FRAME_INDEX,
	FORGE_SITE_NFRAMES,
	FORGE_NSITES,
	FORGE_TRAILING,
	FORGE_SHORT,
};

/*
 * A small valid payload: strings {"main", "prog", "stack_map_full"}, two
 * frames that are the same frame, one site using both.
 */
static void forge(struct pl *w, enum forge what)
{
	int i;

	w->n = 0;
	pl_u32(w, what == FORGE_NSTRINGS ? 0xffffffffu : 3);
	pl_str(w, what == FORGE_NUL ? "ma\0n" : "main", 4);
	pl_str(w, "prog", 4);
	if (what == FORGE_COUNTER_EMPTY)
		pl_str(w, "", 0);
	else
		pl_str(w, "stack_map_full", 14);
	/* process */
	pl_u32(w, 77);
	pl_u32(w, what == FORGE_STRREF ? 4 : 2);
	pl_u32(w, what == FORGE_FLAG ? 2 : 1);
	pl_u32(w, 3);
	pl_u32(w, 0);
	pl_u32(w, 0);
	pl_u64(w, 10);
	pl_u64(w, 20);
	/* totals */
	for (i = 0; i < 6; i++)
		pl_u64(w, 100 + i);
	/* drops, stats */
	pl_u32(w, 1);
	pl_u32(w, what == FORGE_COUNTER_NULL ? 0 : 3);
	pl_u64(w, 9);
	pl_u32(w, 0);
	/* frames */
	pl_u32(w, 2);
	for (i = 0; i < 2; i++) {
		pl_u32(w, what == FORGE_FRAME_KIND ? 7 : 0);
		pl_u32(w, 5);
		pl_u32(w, 1);
		pl_u32(w, 0);
		pl_u32(w, 2);
		pl_u64(w, 0x1000);
	}
	/* sites */
	pl_u32(w, what == FORGE_NSITES ? 1000 : 1);
	pl_u32(w, what == FORGE_SITE_NFRAMES ? 0x40000000u : 2);
	pl_u32(w, 0);
	pl_u32(w, TM_KIND_CALLOC);
	for (i = 0; i < 8; i++)
		pl_u64(w, 1000 + i);
	pl_u32(w, 1);
	pl_u32(w, what == FORGE_FRAME_INDEX ? 2 : 0);
	if (what == FORGE_TRAILING)
		w->b[w->n++] = 0;
	/* Cut inside the totals. */
	if (what == FORGE_SHORT)
		w->n = 4 + 3 * 4 + 4 + 4 + 14 + 6 * 4 + 2 * 8 + 20;
}

static void test_forged(void)
{
	unsigned char file[8192];
	struct tm_profile *q = NULL;
	char err[256];
	struct pl w;
	size_t len;

	/* The format, pinned by hand: this must keep reading in future versions. */
	forge(&w, FORGE_NONE);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK_EQ_U64(tm_capture__read_mem(file, len, "c.tdm", &q, err, sizeof(err)), 0);
	TM_CHECK_STR(err, "");
	if (q) {
		TM_CHECK_EQ_U64(q->pid, 77);
		TM_CHECK_STR(q->command, "prog");
		TM_CHECK_EQ_U64(q->has_exit_code, 1);
		TM_CHECK_EQ_U64(q->exit_code, 3);
		TM_CHECK_EQ_U64(q->has_signal, 0);
		TM_CHECK_EQ_U64(q->start_time_ns, 10);
		TM_CHECK_EQ_U64(q->end_time_ns, 20);
		TM_CHECK_EQ_U64(q->peak_bytes, 100);
		TM_CHECK_EQ_U64(q->peak_time_ns, 101);
		TM_CHECK_EQ_U64(q->live_bytes_end, 102);
		TM_CHECK_EQ_U64(q->alloc_bytes, 103);
		TM_CHECK_EQ_U64(q->alloc_count, 104);
		TM_CHECK_EQ_U64(q->free_count, 105);
		/* The file named one drop; the others exist anyway, at 0. */
		TM_CHECK_EQ_U64(q->ndrops, TM_DROP__COUNT);
		TM_CHECK_EQ_U64(q->drops[TM_DROP_STACK_MAP_FULL].value, 9);
		TM_CHECK_EQ_U64(q->drops[TM_DROP_ALLOC_MAP_FULL].value, 0);
		TM_CHECK_EQ_U64(q->nstats, TM_STAT__COUNT);
		/* Duplicate frames in the file collapse into one. */
		TM_CHECK_EQ_U64(q->nframes, 1);
		TM_CHECK_STR(q->frames[0].function, "main");
		TM_CHECK(q->frames[0].file == NULL);
		TM_CHECK_STR(q->frames[0].module, "prog");
		TM_CHECK_EQ_U64(q->frames[0].line, 5);
		TM_CHECK_EQ_U64(q->frames[0].address, 0x1000);
		TM_CHECK_EQ_U64(q->nsites, 1);
		TM_CHECK_EQ_U64(q->sites[0].nframes, 2);
		TM_CHECK_EQ_U64(q->sites[0].frames[0], 0);
		TM_CHECK_EQ_U64(q->sites[0].frames[1], 0);
		TM_CHECK_EQ_U64(q->sites[0].kind, TM_KIND_CALLOC);
		TM_CHECK_EQ_U64(q->sites[0].alloc_bytes, 1000);
		TM_CHECK_EQ_U64(q->sites[0].peak_count, 1007);
	}
	tm_profile__free(q);

	/* Each forgery is refused with a message naming the problem. */
	forge(&w, FORGE_NSTRINGS);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "4294967295 strings cannot fit") != NULL);

	forge(&w, FORGE_STRREF);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "command refers to string 4 of 3") != NULL);

	forge(&w, FORGE_NUL);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "NUL") != NULL);

	forge(&w, FORGE_FLAG);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "has_exit_code is 2") != NULL);

	forge(&w, FORGE_COUNTER_NULL);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "counter has no name") != NULL);

	forge(&w, FORGE_COUNTER_EMPTY);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "counter has no name") != NULL);

	forge(&w, FORGE_FRAME_KIND);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "frame 0 has unknown kind 7") != NULL);

	forge(&w, FORGE_FRAME_INDEX);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "site 0 refers to frame 2 of 2") != NULL);

	forge(&w, FORGE_SITE_NFRAMES);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "claims 1073741824 frames") != NULL);

	forge(&w, FORGE_NSITES);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "1000 sites cannot fit") != NULL);

	forge(&w, FORGE_TRAILING);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "1 unexpected bytes at the end") != NULL);

	forge(&w, FORGE_SHORT);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: corrupt payload: totals cut short at offset 94 of 98");

	/* The header's length disagrees with the stream, both ways. */
	forge(&w, FORGE_NONE);
	len = wrap(file, sizeof(file), &w, w.n + 1, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "the header says") != NULL);
	len = wrap(file, sizeof(file), &w, w.n - 1, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "longer than") != NULL);

	/* Garbage after the zlib stream, covered by the checksum. */
	len = wrap(file, sizeof(file), &w, w.n, "junk", 4);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "after the compressed payload") != NULL);

	/* Not zlib at all, with a matching checksum. */
	w.n = 0;
	len = wrap(file, sizeof(file), &w, 16, NULL, 0);
	memset(file + 32, 0xee, 16);
	len = 48;
	{
		uint32_t crc = (uint32_t)crc32(0, file + 32, 16);
		int i;

		for (i = 0; i < 4; i++)
			file[24 + i] = (unsigned char)(crc >> (8 * i));
	}
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK_STR(err, "c.tdm: corrupt compressed data");
}

/* Version 2: the same body, then tagged sections. */
static void test_sections(void)
{
	unsigned char file[8192];
	struct tm_profile *q = NULL;
	char err[256];
	struct pl w;
	size_t len, base;

	wrap_version = 2;
	forge(&w, FORGE_NONE);
	base = w.n;
	/* No sections at all is valid: nothing was recorded. */
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK_EQ_U64(tm_capture__read_mem(file, len, "c.tdm", &q, err, sizeof(err)), 0);
	if (q)
		TM_CHECK_EQ_U64(q->nsamples, 0);
	tm_profile__free(q);
	q = NULL;

	pl_u32(&w, 99);         /* from a newer tidemark: skipped */
	pl_u64(&w, 3);
	pl_u32(&w, 0xabcdef);
	w.n--;
	pl_u32(&w, 1);          /* temporary */
	pl_u64(&w, 4 + 16);
	pl_u32(&w, 1);
	pl_u64(&w, 640);
	pl_u64(&w, 10);
	pl_u32(&w, 3);          /* sizes: fewer classes than the profile is fine */
	pl_u64(&w, 4 + 16);
	pl_u32(&w, 1);
	pl_u64(&w, 3);
	pl_u64(&w, 2);
	pl_u32(&w, 2);          /* timeline */
	pl_u64(&w, 4 + 2 * 24);
	pl_u32(&w, 2);
	pl_u64(&w, 5);
	pl_u64(&w, 100);
	pl_u64(&w, 8192);
	pl_u64(&w, 7);
	pl_u64(&w, (uint64_t)-4);
	pl_u64(&w, 0);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK_EQ_U64(tm_capture__read_mem(file, len, "c.tdm", &q, err, sizeof(err)), 0);
	TM_CHECK_STR(err, "");
	if (q) {
		TM_CHECK_EQ_U64(q->sites[0].temp_bytes, 640);
		TM_CHECK_EQ_U64(q->sites[0].temp_count, 10);
		TM_CHECK_EQ_U64(q->size_hist[0].count, 3);
		TM_CHECK_EQ_U64(q->size_hist[0].bytes, 2);
		TM_CHECK_EQ_U64(q->nsamples, 2);
		if (q->nsamples == 2) {
			TM_CHECK_EQ_U64(q->samples[0].time_ns, 5);
			TM_CHECK_EQ_U64(q->samples[0].heap_bytes, 100);
			TM_CHECK_EQ_U64(q->samples[0].rss_bytes, 8192);
			TM_CHECK_EQ_U64(q->samples[1].time_ns, 7);
			TM_CHECK(q->samples[1].heap_bytes == -4);
		}
	}
	tm_profile__free(q);

	/* Sampling: N as written; 0 or above TM_SAMPLE_MAX_N is refused (an absent section means exact). */
	w.n = base;
	pl_u32(&w, 5);
	pl_u64(&w, 8);
	pl_u64(&w, 524288);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	q = NULL;
	TM_CHECK_EQ_U64(tm_capture__read_mem(file, len, "c.tdm", &q, err, sizeof(err)), 0);
	if (q)
		TM_CHECK_EQ_U64(q->sample_bytes, 524288);
	tm_profile__free(q);
	w.n = base;
	pl_u32(&w, 5);
	pl_u64(&w, 8);
	pl_u64(&w, 0);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "sampling every 0 bytes") != NULL);

	/* A container's pid: a positive one; 0 or less is refused (absent means the same as pid). */
	w.n = base;
	pl_u32(&w, 8);
	pl_u64(&w, 8);
	pl_u32(&w, 17);
	pl_u32(&w, 0);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	q = NULL;
	TM_CHECK_EQ_U64(tm_capture__read_mem(file, len, "c.tdm", &q, err, sizeof(err)), 0);
	if (q)
		TM_CHECK_EQ_U64(q->ns_pid, 17);
	tm_profile__free(q);
	w.n = base;
	pl_u32(&w, 8);
	pl_u64(&w, 8);
	pl_u32(&w, (uint32_t)-5);
	pl_u32(&w, 0);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "namespace pid -5") != NULL);

	/* Temporary counts for a different number of sites. */
	w.n = base;
	pl_u32(&w, 1);
	pl_u64(&w, 4);
	pl_u32(&w, 2);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "temporary counts for 2 sites, the capture has 1") != NULL);

	/* A timeline that goes back in time. */
	w.n = base;
	pl_u32(&w, 2);
	pl_u64(&w, 4 + 2 * 24);
	pl_u32(&w, 2);
	pl_u64(&w, 9);
	pl_u64(&w, 0);
	pl_u64(&w, 0);
	pl_u64(&w, 8);
	pl_u64(&w, 0);
	pl_u64(&w, 0);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "timeline sample 1 goes back in time") != NULL);

	/* A section longer than what is left, and one whose content is shorter than its length. */
	w.n = base;
	pl_u32(&w, 77);
	pl_u64(&w, 1000);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "section 77 claims 1000 bytes, 0 left") != NULL);
	w.n = base;
	pl_u32(&w, 2);
	pl_u64(&w, 8);
	pl_u32(&w, 0);
	pl_u32(&w, 0);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "section 2 is 8 bytes, its content 4") != NULL);
	/* More size classes than a profile has. */
	w.n = base;
	pl_u32(&w, 3);
	pl_u64(&w, 4);
	pl_u32(&w, 49);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "49 size classes, at most 48") != NULL);
	/* A section header cut short. */
	w.n = base;
	pl_u32(&w, 2);
	len = wrap(file, sizeof(file), &w, w.n, NULL, 0);
	TM_CHECK(read_fails(file, len, err, sizeof(err)));
	TM_CHECK(strstr(err, "section cut short") != NULL);
	wrap_version = 1;
}

/*
 * A tree (`run` following children): each process nested once in the root's
 * payload, the tree's sum beside it; a reader of before skips both (they are
 * sections), and the root's own fields are where they always were.
 */
static void test_tree(void)
{
	struct tm_tree_share shares[] = { { .pid = 11, .bytes = 3000 }, { .pid = 10, .bytes = 1000 } };
	struct tm_sample tl[] = { { 0, 0, 0 }, { 20, 4000, 0 }, { 40, 1000, 0 } };
	struct tm_profile *root = build_profile(), *kid = build_profile(), *kid2 = tm_profile__new(), *q = NULL;
	const struct tm_profile *k;
	void *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0;
	char err[256];

	root->pid = 10;
	kid->pid = 11;
	kid->ppid = 10;
	kid->execed = 1;
	kid->command = tm_profile__str(kid, "worker");
	kid2->pid = 11;
	kid2->ppid = 10;
	kid2->peak_bytes = 77;
	root->tree.peak_bytes = 4000;
	root->tree.peak_time_ns = 20;
	root->tree.interval_ns = 20;
	root->tree.nprocs = 3;
	root->tree.note = tm_profile__str(root, "pid 12 (static): not probed");
	root->tree.at_peak = malloc(sizeof(shares));
	root->tree.samples = malloc(sizeof(tl));
	TM_CHECK(root->tree.at_peak && root->tree.samples);
	if (!root->tree.at_peak || !root->tree.samples)
		goto out;
	memcpy(root->tree.at_peak, shares, sizeof(shares));
	root->tree.nat_peak = 2;
	memcpy(root->tree.samples, tl, sizeof(tl));
	root->tree.nsamples = 3;
	TM_CHECK_EQ_U64(tm_profile__add_proc(root, kid), 0);
	TM_CHECK_EQ_U64(tm_profile__add_proc(root, kid2), 0);
	kid = kid2 = NULL;

	TM_CHECK_EQ_U64(tm_capture__write_mem(root, &b1, &l1), 0);
	TM_CHECK_EQ_U64(tm_capture__read_mem(b1, l1, "tree", &q, err, sizeof(err)), 0);
	TM_CHECK_STR(err, "");
	if (!q)
		goto out;
	check_equal(root, q);
	TM_CHECK_EQ_U64(q->nprocs, 2);
	if (q->nprocs == 2) {
		check_equal(root->procs[0], q->procs[0]);
		TM_CHECK_EQ_U64(q->procs[0]->ppid, 10);
		TM_CHECK_EQ_U64(q->procs[0]->execed, 1);
		TM_CHECK_STR(q->procs[0]->command, "worker");
		TM_CHECK_EQ_U64(q->procs[1]->peak_bytes, 77);
		TM_CHECK_EQ_U64(q->procs[1]->nprocs, 0);
	}
	TM_CHECK_EQ_U64(q->tree.peak_bytes, 4000);
	TM_CHECK_EQ_U64(q->tree.nprocs, 3);
	TM_CHECK_STR(q->tree.note, "pid 12 (static): not probed");
	TM_CHECK_EQ_U64(q->tree.nat_peak, 2);
	TM_CHECK_EQ_U64(q->tree.nat_peak == 2 ? (uint64_t)q->tree.at_peak[0].bytes : 0, 3000);
	TM_CHECK_EQ_U64(q->tree.nsamples, 3);
	TM_CHECK_EQ_U64(q->tree.nsamples == 3 ? (uint64_t)q->tree.samples[1].heap_bytes : 0, 4000);
	/* --pid: the root, or a pid's latest image */
	TM_CHECK(tm_profile__find_pid(q, 10) == q);
	k = tm_profile__find_pid(q, 11);
	TM_CHECK(k && k->peak_bytes == 77);
	TM_CHECK(tm_profile__find_pid(q, 12) == NULL);
	/* the same bytes again */
	TM_CHECK_EQ_U64(tm_capture__write_mem(q, &b2, &l2), 0);
	TM_CHECK(l1 == l2 && !memcmp(b1, b2, l1));
	/* one level only: a process may not hold processes */
	tm_profile__free(kid);
	kid = tm_profile__new();
	TM_CHECK_EQ_U64(tm_profile__add_proc(q->procs[1], kid), 0);
	kid = NULL;
	free(b2);
	b2 = NULL;
	TM_CHECK_EQ_U64(tm_capture__write_mem(q, &b2, &l2), (uint64_t)-EINVAL);
out:
	free(b1);
	free(b2);
	tm_profile__free(kid);
	tm_profile__free(kid2);
	tm_profile__free(q);
	tm_profile__free(root);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_roundtrip();
	test_end_moment();
	test_file_errors();
	test_damage();
	test_forged();
	test_sections();
	test_tree();
	rmdir(tmpdir);
	return tm_test_done("test_capture");
}
