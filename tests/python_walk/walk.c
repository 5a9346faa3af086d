// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * walk.c: end-to-end check of the BPF Python walker (bpf/python.bpf.h) on a
 * real interpreter, before the tracer uses it.
 *
 *   walk PYTHON TARGET.py            run the scenarios, compare every captured
 *                                    stack with what the target saw itself
 *   walk PYTHON TARGET.py bench D N  N mallocs at Python depth D: time spent
 *                                    in tm_py_capture() per event
 *
 * The target is started, detected (tm_python__detect), traced, and reaped
 * before any frame is named: names come only from what BPF recorded in
 * py_codes while the process lived. Needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "util/log.h"
#include "target/python.h"
#include "walk.skel.h"   /* bpftool gen skeleton ... name walk_bpf */

#define BASE 7777000ULL

struct walk_event {
	__u64 size;
	__u32 tid;
	__s32 err;
	__s32 rec_err;
	__u32 src;
	struct tm_stack st;
};

#define MAX_EVENTS 64

static struct walk_event events[MAX_EVENTS];
static int nevents;
static int passed, failed;

static int on_event(void *ctx, void *data, size_t len)
{
	(void)ctx;
	if (len < sizeof(struct walk_event) || nevents >= MAX_EVENTS)
		return 0;
	memcpy(&events[nevents++], data, sizeof(struct walk_event));
	return 0;
}

static int libc_path(pid_t pid, char *out, size_t outlen)
{
	char path[64], line[4096];
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/'), *nl;

		if (!p || !strstr(p, "/libc.so"))
			continue;
		nl = strchr(p, '\n');
		if (nl)
			*nl = 0;
		snprintf(out, outlen, "%s", p);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

static void check(int ok, const char *what, unsigned long long size)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		printf("  FAIL size %llu: %s\n", size, what);
	}
}

/* Compare one expectation line from the target with the captured event. */
/* The py_codes map, as trace/ looks it up. */
static int codes_lookup(void *ctx, const struct tm_py_code_key *key, struct tm_py_code *rec)
{
	return bpf_map_lookup_elem(*(int *)ctx, key, rec);
}

static void compare(int codes_fd, char *line)
{
	char *save = NULL, *tok;
	unsigned long long size;
	int depth, i, n, found = -1;
	struct walk_event *e;
	char msg[2048];

	tok = strtok_r(line, "\t", &save);
	if (!tok)
		return;
	size = strtoull(tok, NULL, 10);
	tok = strtok_r(NULL, "\t", &save);
	depth = tok ? atoi(tok) : 0;
	for (i = 0; i < nevents; i++)
		if (events[i].size == size)
			found = i;
	if (found < 0) {
		check(0, "no event captured", size);
		return;
	}
	e = &events[found];
	printf("size %llu (%s, tid %u): %u Python frames%s, err %d, record err %d\n", size,
	       e->src ? "mmap tracepoint" : "malloc uprobe", e->tid, e->st.n_py,
	       e->st.flags & TM_STACK_PY_TRUNCATED ? " (truncated)" : "", e->err, e->rec_err);
	check(e->err == 0, "capture returned an error", size);
	check(e->rec_err == 0, "record returned an error", size);
	n = depth < TM_MAX_PY ? depth : TM_MAX_PY;
	snprintf(msg, sizeof(msg), "captured %u frames, target saw %d", e->st.n_py, depth);
	check(e->st.n_py == n, msg, size);
	check(!!(e->st.flags & TM_STACK_PY_TRUNCATED) == (depth > TM_MAX_PY), "truncation flag", size);
	for (i = 0; i < n && i < e->st.n_py; i++) {
		char *func = strtok_r(NULL, "\t", &save);
		char *file = strtok_r(NULL, "\t", &save);
		char *ln = strtok_r(NULL, "\t", &save);
		struct tm_py_sym sym;
		int err, ok;

		if (!func || !file || !ln)
			break;
		err = tm_python__resolve_frame(codes_lookup, &codes_fd, NULL, e->st.tgid, &e->st.py[i], &sym);
		ok = !err && !strcmp(sym.function, func) && !strcmp(sym.file, file) && sym.line == atoi(ln);
		if (i < 6 || !ok)
			printf("  #%-2d %-40s %s:%d%s%s\n", i, sym.function, strrchr(sym.file, '/') ?
			       strrchr(sym.file, '/') + 1 : sym.file, sym.line,
			       e->st.py[i].flags & TM_PYF_ENTRY ? "  [entry]" : "",
			       e->st.py[i].flags & TM_PYF_GENERATOR ? "  [generator]" : "");
		if (!ok) {
			snprintf(msg, sizeof(msg), "frame %d: got %s %s:%d (err %d), want %s %s:%s", i,
				 sym.function, sym.file, sym.line, err, func, file, ln);
			check(0, msg, size);
		} else {
			passed++;
		}
	}
}

static int prog_stats(struct bpf_program *p, const char *name)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int err;

	err = bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len);
	if (err)
		return err;
	printf("verifier: %s: %u instructions verified, %u xlated bytes\n", name, info.verified_insns,
	       info.xlated_prog_len);
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = "malloc");
	int in[2], out[2], bench = argc >= 6 && !strcmp(argv[3], "bench");
	struct walk_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct tm_py_cfg cfg;
	char desc[512], libc[4096], line[65536];
	FILE *from;
	pid_t pid, cfg_pid = 0;
	int err, status;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PYTHON TARGET.py [bench DEPTH COUNT]\n", argv[0]);
		return 2;
	}
	if (pipe(in) || pipe(out))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		if (bench)
			execl(argv[1], argv[1], argv[2], "bench", argv[4], argv[5], (char *)NULL);
		else
			execl(argv[1], argv[1], argv[2], (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	from = fdopen(out[0], "r");
	if (!from || !fgets(line, sizeof(line), from) || strncmp(line, "ready", 5)) {
		fprintf(stderr, "walk: %s did not start\n", argv[1]);
		err = -EIO;
		goto out;
	}

	err = tm_python__detect(pid, &cfg, desc, sizeof(desc));
	printf("detect: %s (err %d)\n", desc, err);
	if (err)
		goto out;
	err = libc_path(pid, libc, sizeof(libc));
	if (err) {
		fprintf(stderr, "walk: no libc in pid %d\n", (int)pid);
		goto out;
	}

	skel = walk_bpf__open();
	if (!skel) {
		err = -errno;
		goto out;
	}
	skel->rodata->target_tgid = pid;
	skel->rodata->size_lo = BASE;
	skel->rodata->size_hi = BASE + 256;
	skel->rodata->emit = !bench;
	skel->rodata->record = !bench;
	err = walk_bpf__load(skel);
	if (err) {
		fprintf(stderr, "walk: load failed: %d\n", err);
		goto out;
	}
	prog_stats(skel->progs.walk_malloc, "walk_malloc (uprobe)");
	prog_stats(skel->progs.walk_mmap, "walk_mmap (tracepoint)");
	cfg_pid = pid;
	err = bpf_map_update_elem(bpf_map__fd(skel->maps.py_cfgs), &pid, &cfg, BPF_ANY);
	if (err)
		goto out;
	skel->links.walk_malloc = bpf_program__attach_uprobe_opts(skel->progs.walk_malloc, pid, libc, 0, &uopts);
	if (!skel->links.walk_malloc) {
		err = -errno;
		fprintf(stderr, "walk: attach malloc in %s: %d\n", libc, err);
		goto out;
	}
	skel->links.walk_mmap = bpf_program__attach(skel->progs.walk_mmap);
	if (!skel->links.walk_mmap) {
		err = -errno;
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.walk_events), on_event, NULL, NULL);
	if (!rb) {
		err = -errno;
		goto out;
	}

	if (write(in[1], "go\n", 3) != 3) {
		err = -EIO;
		goto out;
	}
	/* Read every expectation, then reap the target: names must outlive it. */
	{
		char *lines[MAX_EVENTS];
		int nlines = 0, i;

		while (fgets(line, sizeof(line), from) && strncmp(line, "done", 4)) {
			char *nl = strchr(line, '\n');

			if (nl)
				*nl = 0;
			if (nlines < MAX_EVENTS)
				lines[nlines++] = strdup(line);
		}
		close(in[1]);
		waitpid(pid, &status, 0);
		pid = 0;
		ring_buffer__consume(rb);
		if (bench) {
			struct walk_bpf__bss *b = skel->bss;

			printf("bench: %llu events, %.1f Python frames/event, %.0f ns in tm_py_capture per event\n",
			       (unsigned long long)b->cap_cnt, b->cap_cnt ? (double)b->cap_frames / b->cap_cnt : 0,
			       b->cap_cnt ? (double)b->cap_ns / b->cap_cnt : 0);
		}
		if (!bench && skel->bss->cap_cnt)
			printf("record: %llu events, %llu frames, %.0f ns in tm_py_record_codes per event "
			       "(every event is a first sight here)\n",
			       (unsigned long long)skel->bss->cap_cnt, (unsigned long long)skel->bss->rec_frames,
			       (double)skel->bss->rec_ns / skel->bss->cap_cnt);
		for (i = 0; i < nlines; i++) {
			compare(bpf_map__fd(skel->maps.py_codes), lines[i]);
			free(lines[i]);
		}
		if (!bench && nlines == 0)
			check(0, "the target reported no allocations", 0);
	}
	/*
	 * The code object cache: 3.13 always has the counter to key it by
	 * (3.12 only when its .symtab names it), and a counter the walker once
	 * found contradicted by a live code object's co_version is not one.
	 */
	{
		struct tm_py_cfg now;
		__u32 key = (__u32)cfg_pid;

		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.py_cfgs), &key, &now))
			memset(&now, 0, sizeof(now));
		check(TM_PY_MINOR(cfg.version) < 13 || now.code_gen, "3.13: the code counter was found", 0);
		check(!now.code_gen_bad, "the code counter was never contradicted by a code object", 0);
	}
	err = 0;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	ring_buffer__free(rb);
	walk_bpf__destroy(skel);
	if (err)
		failed++;
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
