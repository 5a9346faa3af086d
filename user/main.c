// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * main.c: the tidemark command line: run, attach, report.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "profile/capture.h"
#include "target/cgroup.h"
#include "report/collapsed.h"
#include "daemon/daemon.h"
#include "report/diff.h"
#include "target/elf.h"
#include "report/flamegraph.h"
#include "util/log.h"
#include "target/maps.h"
#include "report/postmortem.h"
#include "report/pprof.h"
#include "profile/profile.h"
#include "report/report.h"
#include "profile/timeline.h"
#include "trace/trace.h"

static const char usage[] =
"usage: tidemark run [-o FILE] [options] -- CMD [ARGS...]\n"
"       tidemark attach -p PID [-d SECONDS] [-o FILE] [options]\n"
"       tidemark report [--format FORMAT] [--view VIEW] [options] [-o FILE] FILE\n"
"       tidemark diff [--format text|flamegraph] [--view VIEW] [options] [-o FILE] BEFORE AFTER\n"
"       tidemark daemon [--pid PID] [--comm NAME] [--exe PATH] [--cgroup PATH] [options]\n"
"\n"
"run      start CMD traced from its first instruction, wait for it, write the capture,\n"
"         print a summary on stderr, and exit with CMD's status\n"
"attach   trace a running process until it exits, SECONDS pass, or Ctrl-C\n"
"report   render a capture on stdout (or -o FILE) in one of the formats below\n"
"diff     per-stack change of a view between two captures (stacks matched by\n"
"         function/file/line, not address), as text or a coloured flame graph\n"
"daemon   trace every process on the host, or the selected ones (each selector repeatable;\n"
"         any match selects), including those started later; OOM post-mortems, metrics\n"
"\n"
"options for run and attach:\n"
"  -o, --output FILE      capture file (default: tidemark-PID.tdm)\n"
"      --native-depth N   native frames per stack, 1-32 (default 32)\n"
"      --max-allocs N     live blocks tracked at once (default 1048576, 8388608 with\n"
"                         --trace-python-allocators; above 1048576 allocated as needed)\n"
"      --max-stacks N     distinct stacks (default 65536)\n"
"      --no-python        native stacks only, even when the target is CPython\n"
"      --trace-python-allocators\n"
"                         also trace CPython's PyObject_/PyMem_ Malloc, Calloc, Realloc\n"
"                         and Free: every object, not pymalloc's arenas (slower)\n"
"      --native-all       keep the interpreter's own frames between Python frames\n"
"      --sample-bytes N   record an allocation of s bytes with probability 1-exp(-s/N)\n"
"                         and scale it up: unbiased estimates for a fraction of the\n"
"                         work (try 524288); 0 = every allocation (the default)\n"
"  -n N                   sites in the summary (default 5)\n"
"  -v, --verbose          say where each probe sits and what the verifier counted\n"
"      --in-cgroup DIR    run: start CMD inside this cgroup (e.g. a memory-limited one)\n"
"      --output-dir DIR   run: where an OOM post-mortem goes (default: the capture's directory)\n"
"  -q, --quiet            no summary on stderr\n"
"\n"
"options for report:\n"
"      --format F         text (default), json, stats (allocators, sizes, hot spots),\n"
"                         pprof (gzipped profile.proto), collapsed (folded stacks),\n"
"                         flamegraph (one self-contained HTML page)\n"
"  -o, --output FILE      write there, not to stdout (pprof never goes to a terminal)\n"
"      --view V           peak (default), leaks, allocs or temporary (freed before\n"
"                         their thread allocated again)\n"
"  -n N                   sites per view (default 10; 0 = all)\n"
"      --tree             text: add the call tree, callers above callees\n"
"      --inverted         text: the tree from the allocating frames outwards\n"
"      --min-bytes N      leave out sites and tree nodes below N bytes\n"
"      --max-depth N      frames shown per stack (tree depth)\n"
"      --filter TEXT      only stacks with a frame whose function or file contains TEXT\n"
"      --python-only      hide native frames\n"
"\n"
"options for daemon:\n"
"      --mode lite        syscall tracepoints only, no uprobes (the default)\n"
"      --mode full        also the allocator probes of run/attach, on the selected\n"
"                         processes only (needs --pid, --comm, --exe or --cgroup)\n"
"      --sample-bytes N   full: record allocations as run --sample-bytes does\n"
"      --max-allocs-per-proc N, --max-stacks-per-proc N\n"
"                         full: live blocks and stacks one process may hold in the\n"
"                         kernel's tables (default: a quarter of each; 0 = no cap)\n"
"      --pprof-every S    write a pprof profile of every traced process into\n"
"                         --output-dir each S seconds, keeping the newest --pprof-keep\n"
"                         (default 60)\n"
"      --output-dir DIR   write OOM post-mortems here\n"
"      --listen [HOST:]PORT  serve /metrics (Prometheus) and /report/pid/PID; HOST 127.0.0.1\n"
"      --max-procs N      processes traced at once (default 1024)\n"
"      --max-series N     processes and cgroups with their own metric labels (default 100)\n"
"  -d, --duration SECONDS stop after this long (default: SIGINT/SIGTERM)\n";

struct opts {
	const char *in_cgroup;
	const char *output_dir;
	const char *output;
	struct tm_trace_opts trace;
	unsigned int top;
	pid_t pid;
	double duration;
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* --sample-bytes N: 0 (every allocation) or a mean of 1 .. 4 GiB between sample points. */
static int parse_sample_bytes(const char *cmd, const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || !*s || *end || *s == '-' || v > TM_SAMPLE_MAX_N) {
		pr_warn("tidemark %s: --sample-bytes wants 0 (record every allocation) or a byte count up to "
			"%llu, not '%s'\n", cmd, (unsigned long long)TM_SAMPLE_MAX_N, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_uint(const char *cmd, const char *flag, const char *s, unsigned long min,
		      unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v < min || v > max) {
		pr_warn("tidemark %s: %s wants a number from %lu to %lu, not '%s'\n", cmd, flag, min, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Root, or at least the capabilities BPF tracing needs; and BTF. */
static int preflight(const char *cmd)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		pr_warn("tidemark %s: this kernel has no BTF (/sys/kernel/btf/vmlinux): "
			"use a kernel built with CONFIG_DEBUG_INFO_BTF=y\n", cmd);
		return -ENOTSUP;
	}
	if (geteuid() != 0) {
		pr_warn("tidemark %s: needs CAP_BPF and CAP_PERFMON (run as root, e.g. sudo tidemark %s ...)\n",
			cmd, cmd);
		return -EPERM;
	}
	return 0;
}

/* The capture must be writable before the target is touched. */
static int check_output(const char *cmd, const char *path)
{
	char buf[PATH_MAX];
	char *dir;

	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	if (access(dir, W_OK)) {
		pr_warn("tidemark %s: cannot write %s: %s (choose another path with -o)\n", cmd, path,
			strerror(errno));
		return -errno;
	}
	return 0;
}

static int self_libc(char *path, size_t len)
{
	struct tm_maps m = { 0 };
	int err = tm_maps__read(getpid(), &m);

	if (!err)
		err = tm_maps__find_module(&m, "libc.so.6", path, len);
	tm_maps__free(&m);
	return err;
}

/* Find CMD on PATH the way execvp will. */
static int resolve_cmd(const char *cmd, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return access(out, X_OK) ? -errno : 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchrnul(path, ':');
		int n = (int)(colon - path);

		snprintf(buf, sizeof(buf), "%.*s/%s", n ? n : 1, n ? path : ".", cmd);
		if (!access(buf, X_OK)) {
			snprintf(out, len, "%s", buf);
			return 0;
		}
		path = *colon ? colon + 1 : colon;
	}
	return -ENOENT;
}

/*
 * The ELF that runs for @exe: @exe itself, or the interpreter its #! line
 * names (through `env NAME` too). 0, or -ENOENT.
 */
static int exec_elf(const char *exe, char *out, size_t len)
{
	char line[PATH_MAX], interp[PATH_MAX];
	FILE *f;

	f = fopen(exe, "r");
	if (!f)
		return -errno;
	if (fgets(line, sizeof(line), f) && line[0] == '#' && line[1] == '!') {
		char *p = line + 2, *sp;

		fclose(f);
		while (*p == ' ')
			p++;
		p[strcspn(p, "\n")] = 0;
		sp = strchr(p, ' ');
		if (sp && !strcmp(basename(p), "env")) {
			char *arg = sp + 1;

			arg[strcspn(arg, " ")] = 0;
			if (resolve_cmd(arg, interp, sizeof(interp)))
				return -ENOENT;
		} else {
			if (sp)
				*sp = 0;
			snprintf(interp, sizeof(interp), "%s", p);
		}
		return exec_elf(interp, out, len);
	}
	fclose(f);
	snprintf(out, len, "%s", exe);
	return 0;
}

/* Say what is and is not traced when CMD's allocator is not glibc's. */
static void check_target_libc(const char *exe)
{
	struct tm_elf_info info;
	char elf[PATH_MAX];

	if (exec_elf(exe, elf, sizeof(elf)))
		return;
	memset(&info, 0, sizeof(info));
	if (tm_elf__info(elf, &info))
		return;
	if (!info.has_interp || !info.needs_libc)
		pr_warn("tidemark: %s is %s: its malloc/free are not traced (tidemark probes glibc's "
			"libc.so.6); its mmap/munmap/mremap/brk are\n", elf,
			info.has_interp ? "not linked against glibc" : "statically linked");
	tm_elf_info__free(&info);
}

/*
 * The file holding CPython's allocator functions that CMD will map: a
 * python linked statically exports them itself; otherwise its
 * libpython3.X.so, found as the dynamic loader will find it.
 */
static int python_elf(const char *exe, char *out, size_t len)
{
	char elf[PATH_MAX];
	int err;

	err = exec_elf(exe, elf, sizeof(elf));
	if (err)
		return err;
	if (!tm_elf__find_symbol(elf, "PyObject_Malloc", NULL, NULL, NULL)) {
		snprintf(out, len, "%s", elf);
		return 0;
	}
	return tm_elf__find_needed(elf, "libpython3.", out, len);
}

static void fill_command(struct tm_profile *prof, pid_t pid, char **argv)
{
	char buf[4096];
	size_t n = 0;
	int i;

	buf[0] = 0;
	if (argv) {
		for (i = 0; argv[i] && n < sizeof(buf) - 1; i++)
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "", argv[i]);
	} else {
		char path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		f = fopen(path, "r");
		if (f) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = 0;
			for (i = 0; n && i < (int)n - 1; i++)
				if (!buf[i])
					buf[i] = ' ';
		}
	}
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	prof->command = tm_profile__str(prof, buf);
}

/* Put pid into the cgroup directory dir (v1 or v2: both have cgroup.procs). */
static int join_cgroup(const char *dir, pid_t pid)
{
	char path[PATH_MAX + 16];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", (int)pid) < 0)
		err = -errno;
	if (f && fclose(f) && !err)
		err = -errno;
	if (err)
		pr_warn("tidemark run: cannot join cgroup %s: %s (is it a cgroup directory?)\n", dir, strerror(-err));
	return err;
}

/* The child was OOM-killed: its post-mortem goes next to the capture unless --output-dir. */
static void write_postmortem(const struct tm_profile *prof, const struct opts *o, const char *capture)
{
	char dir[PATH_MAX], base[PATH_MAX + 300];

	snprintf(dir, sizeof(dir), "%s", capture);
	if (o->output_dir)
		snprintf(dir, sizeof(dir), "%s", o->output_dir);
	else
		snprintf(dir, sizeof(dir), "%s", dirname(dir));
	if (!tm_postmortem__write(dir, prof, base, sizeof(base)))
		pr_info("tidemark: pid %d was OOM-killed: post-mortem in %s.txt and .json\n", prof->pid, base);
}

/*
 * One timeline point when one is due: the live heap the kernel counts and
 * the RSS the kernel reports. Nothing before the process is counted (a `run`
 * child before its exec). `final` records the end whatever the interval.
 */
static void sample(struct tm_trace *t, struct tm_timeline *tl, pid_t pid, uint64_t start_ns, int final)
{
	uint64_t now = now_ns() - start_ns;
	struct tm_sample s;
	struct tm_proc p;

	if (!tl->s || (!final && !tm_timeline__due(tl, now)) || tm_trace__proc(t, pid, &p))
		return;
	s.time_ns = now;
	s.heap_bytes = p.live_bytes;
	s.rss_bytes = tm_timeline__rss(pid);
	tm_timeline__add(tl, &s);
}

/* Build, write and summarise the capture. */
static int finish(struct tm_trace *t, struct tm_profile *prof, pid_t pid, const struct opts *o,
		  struct tm_timeline *tl, const char *output)
{
	struct tm_report_opts ro = { .view = TM_VIEW_PEAK, .top_n = o->top };
	size_t i;
	int err;

	struct tm_proc p;

	err = tm_trace__proc(t, pid, &p);
	if (!err)
		err = tm_trace__build_profile_from(t, pid, &p, prof);
	tm_postmortem__fill(prof, &p);
	if (err) {
		pr_warn("tidemark: pid %d was never counted: %s\n", pid, strerror(-err));
		return err;
	}
	for (i = 0; i < prof->ndrops; i++)
		if (!strcmp(prof->drops[i].name, tm_drop_name(TM_DROP_PY_ARENA_UNTRACED)) && prof->drops[i].value)
			pr_warn("tidemark: %llu pymalloc arenas were mapped outside the probed PyObject_/PyMem_ calls: "
				"this interpreter makes objects where uprobes cannot see (an LTO build such as Debian's "
				"python3.11 inlines PyObject_Malloc into its callers): small objects are undercounted\n",
				(unsigned long long)prof->drops[i].value);
	/* The peak itself, which 10 ms sampling may step over (RSS unknown there: 0). */
	if (prof->peak_bytes && tl->s) {
		struct tm_sample pk = { prof->peak_time_ns, (int64_t)prof->peak_bytes, 0 };

		tm_timeline__insert(tl, &pk);
	}
	err = tm_timeline__to_profile(tl, prof);
	if (err) {
		pr_warn("tidemark: timeline: %s\n", strerror(-err));
		return err;
	}
	err = tm_capture__write(prof, output);
	if (err) {
		pr_warn("tidemark: writing %s failed: %s\n", output, strerror(-err));
		return err;
	}
	if (tm_log_level >= TM_LOG_INFO) {
		tm_report__text(prof, stderr, &ro);
		pr_info("tidemark: wrote %s (tidemark report %s)\n", output, output);
	}
	return 0;
}

enum { OPT_NATIVE_DEPTH = 256, OPT_MAX_ALLOCS, OPT_MAX_STACKS, OPT_FORMAT, OPT_VIEW, OPT_NO_PYTHON,
       OPT_TREE, OPT_INVERTED, OPT_MIN_BYTES, OPT_MAX_DEPTH, OPT_FILTER, OPT_IN_CGROUP,
       OPT_OUTPUT_DIR, OPT_PY_ALLOC, OPT_NATIVE_ALL, OPT_SAMPLE_BYTES };

static const struct option trace_longopts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "pid", required_argument, NULL, 'p' },
	{ "duration", required_argument, NULL, 'd' },
	{ "native-depth", required_argument, NULL, OPT_NATIVE_DEPTH },
	{ "max-allocs", required_argument, NULL, OPT_MAX_ALLOCS },
	{ "max-stacks", required_argument, NULL, OPT_MAX_STACKS },
	{ "no-python", no_argument, NULL, OPT_NO_PYTHON },
	{ "in-cgroup", required_argument, NULL, OPT_IN_CGROUP },
	{ "output-dir", required_argument, NULL, OPT_OUTPUT_DIR },
	{ "trace-python-allocators", no_argument, NULL, OPT_PY_ALLOC },
	{ "native-all", no_argument, NULL, OPT_NATIVE_ALL },
	{ "sample-bytes", required_argument, NULL, OPT_SAMPLE_BYTES },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int parse_trace_opts(const char *cmd, int argc, char **argv, struct opts *o)
{
	unsigned long v;
	char *end;
	int c;

	o->trace.native_depth = TM_MAX_NATIVE;
	o->trace.max_allocs = 0;
	o->trace.max_stacks = 65536;
	o->trace.python = 1;
	o->top = 5;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:p:d:n:vqh", trace_longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->output = optarg;
			break;
		case 'p':
			if (strcmp(cmd, "attach")) {
				pr_warn("tidemark %s: -p is for attach; see 'tidemark --help'\n", cmd);
				return -EINVAL;
			}
			if (parse_uint(cmd, "-p", optarg, 1, INT32_MAX, &v))
				return -EINVAL;
			o->pid = (pid_t)v;
			break;
		case 'd':
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || *end || o->duration <= 0) {
				pr_warn("tidemark %s: -d wants a positive number of seconds, not '%s'\n", cmd, optarg);
				return -EINVAL;
			}
			break;
		case 'n':
			if (parse_uint(cmd, "-n", optarg, 0, 1000000, &v))
				return -EINVAL;
			o->top = v;
			break;
		case OPT_NATIVE_DEPTH:
			if (parse_uint(cmd, "--native-depth", optarg, 1, TM_MAX_NATIVE, &v))
				return -EINVAL;
			o->trace.native_depth = v;
			break;
		case OPT_MAX_ALLOCS:
			if (parse_uint(cmd, "--max-allocs", optarg, 1024, 1u << 26, &v))
				return -EINVAL;
			o->trace.max_allocs = v;
			break;
		case OPT_MAX_STACKS:
			if (parse_uint(cmd, "--max-stacks", optarg, 256, 1u << 22, &v))
				return -EINVAL;
			o->trace.max_stacks = v;
			break;
		case OPT_IN_CGROUP:
		case OPT_OUTPUT_DIR:
			if (strcmp(cmd, "run")) {
				pr_warn("tidemark %s: %s is for run; see 'tidemark --help'\n", cmd, argv[optind - 1]);
				return -EINVAL;
			}
			if (c == OPT_IN_CGROUP)
				o->in_cgroup = optarg;
			else
				o->output_dir = optarg;
			break;
		case OPT_NO_PYTHON:
			o->trace.python = 0;
			break;
		case OPT_PY_ALLOC:
			o->trace.py_alloc = 1;
			break;
		case OPT_NATIVE_ALL:
			o->trace.native_all = 1;
			break;
		case OPT_SAMPLE_BYTES:
			if (parse_sample_bytes(cmd, optarg, &o->trace.sample_bytes))
				return -EINVAL;
			break;
		case 'v':
			tm_log_level = TM_LOG_DEBUG;
			break;
		case 'q':
			tm_log_level = TM_LOG_WARN;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			if (optopt && optopt < 256)
				pr_warn("tidemark %s: unknown option '-%c'; see 'tidemark --help'\n", cmd, optopt);
			else
				pr_warn("tidemark %s: unknown option '%s'; see 'tidemark --help'\n", cmd,
					argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (!o->trace.max_allocs)
		o->trace.max_allocs = o->trace.py_alloc ? TM_DEFAULT_MAX_ALLOCS_PY : TM_DEFAULT_MAX_ALLOCS;
	if (o->trace.py_alloc && !o->trace.python) {
		pr_warn("tidemark %s: --trace-python-allocators needs Python stacks: drop --no-python\n", cmd);
		return -EINVAL;
	}
	return optind;
}

static int cmd_run(int argc, char **argv)
{
	struct opts o = { 0 };
	struct tm_trace *t = NULL;
	struct tm_profile *prof = NULL;
	struct tm_timeline tl = { 0 };
	char exe[PATH_MAX], libc[PATH_MAX], output[PATH_MAX], cgroup[PATH_MAX];
	int pipefd[2] = { -1, -1 }, status = 0, err, first, rc = 1;
	pid_t child = -1;

	first = parse_trace_opts("run", argc, argv, &o);
	if (first < 0)
		return 2;
	if (first >= argc) {
		pr_warn("tidemark run: no command given: tidemark run [options] -- CMD [ARGS...]\n");
		return 2;
	}
	if (preflight("run"))
		return 1;
	if (resolve_cmd(argv[first], exe, sizeof(exe))) {
		pr_warn("tidemark run: %s: command not found\n", argv[first]);
		return 127;
	}
	if (o.output && check_output("run", o.output))
		return 1;
	if (o.output_dir && access(o.output_dir, W_OK)) {
		pr_warn("tidemark run: cannot write into %s: %s (give another --output-dir)\n", o.output_dir,
			strerror(errno));
		return 1;
	}
	check_target_libc(exe);
	if (self_libc(libc, sizeof(libc))) {
		pr_warn("tidemark run: cannot find the system's libc.so.6 in this process's maps\n");
		return 1;
	}

	if (pipe2(pipefd, O_CLOEXEC)) {
		pr_warn("tidemark run: pipe: %s\n", strerror(errno));
		return 1;
	}
	child = fork();
	if (child < 0) {
		pr_warn("tidemark run: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		char go = 0;

		close(pipefd[1]);
		/* Wait until the probes are in place; EOF means the tracer gave up. */
		if (read(pipefd[0], &go, 1) != 1 || go != 'g')
			_exit(127);
		execvp(exe, argv + first);
		fprintf(stderr, "tidemark run: cannot execute %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(pipefd[0]);
	if (o.in_cgroup && join_cgroup(o.in_cgroup, child))
		goto out;

	/* Ctrl-C reaches the child (same process group); we report once it exits. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);

	prof = tm_profile__new();
	if (!prof)
		goto out;
	err = tm_trace__open(&t, &o.trace);
	if (err)
		goto out;
	tm_trace__print_verifier_stats(t);
	err = tm_trace__watch(t, child, 1);
	if (!err)
		err = tm_trace__attach_libc(t, child, libc);
	if (err)
		goto out;
	if (o.trace.py_alloc) {
		char py[PATH_MAX];

		/* Before the exec, so that every object is seen; else when the interpreter shows up. */
		if (!python_elf(exe, py, sizeof(py)))
			tm_trace__attach_python_allocators(t, child, py);
		else
			pr_debug("tidemark run: %s: cannot tell its libpython before it runs\n", exe);
	}

	prof->pid = child;
	fill_command(prof, child, argv + first);
	if (!tm_cgroup__of_pid(child, cgroup, sizeof(cgroup)))
		prof->cgroup = tm_profile__str(prof, cgroup);
	if (tm_timeline__init(&tl, TM_TIMELINE_MAX, TM_TIMELINE_INTERVAL_NS))
		pr_warn("tidemark: no memory for the timeline; the capture will have none\n");
	prof->start_time_ns = now_ns();
	if (write(pipefd[1], "g", 1) != 1) {
		pr_warn("tidemark run: cannot start %s: %s\n", exe, strerror(errno));
		goto out;
	}
	close(pipefd[1]);
	pipefd[1] = -1;

	for (;;) {
		pid_t r = waitpid(child, &status, WNOHANG);

		if (r == child)
			break;
		if (r < 0 && errno != EINTR) {
			pr_warn("tidemark run: waitpid: %s\n", strerror(errno));
			goto out;
		}
		tm_trace__poll(t, 20);
		sample(t, &tl, child, prof->start_time_ns, 0);
	}
	tm_trace__poll(t, 0);
	sample(t, &tl, child, prof->start_time_ns, 1);
	child = -1;
	prof->end_time_ns = now_ns();
	if (WIFEXITED(status)) {
		prof->has_exit_code = 1;
		prof->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		prof->has_signal = 1;
		prof->signal = WTERMSIG(status);
	}
	snprintf(output, sizeof(output), "%s", o.output ? o.output : "");
	if (!o.output)
		snprintf(output, sizeof(output), "tidemark-%d.tdm", prof->pid);
	if (finish(t, prof, prof->pid, &o, &tl, output))
		goto out;
	if (prof->oom.killed)
		write_postmortem(prof, &o, output);
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	/* The child is gone: its probes can come off after we have returned. */
	tm_trace__destroy_detached(t);
	t = NULL;
out:
	if (pipefd[1] >= 0)
		close(pipefd[1]);   /* the child sees EOF and exits 127 */
	if (child > 0)
		waitpid(child, NULL, 0);
	tm_trace__destroy(t);
	tm_timeline__free(&tl);
	tm_profile__free(prof);
	return rc;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int cmd_attach(int argc, char **argv)
{
	struct opts o = { 0 };
	struct tm_trace *t = NULL;
	struct tm_profile *prof = NULL;
	struct tm_timeline tl = { 0 };
	struct tm_maps maps = { 0 };
	char libc[PATH_MAX], output[PATH_MAX];
	uint64_t deadline = 0;
	int first, pidfd = -1, err, rc = 1, has_libc;
	struct tm_proc p;

	first = parse_trace_opts("attach", argc, argv, &o);
	if (first < 0)
		return 2;
	if (first < argc) {
		pr_warn("tidemark attach: unexpected argument '%s'; see 'tidemark --help'\n", argv[first]);
		return 2;
	}
	if (!o.pid) {
		pr_warn("tidemark attach: which process? give -p PID\n");
		return 2;
	}
	if (kill(o.pid, 0) && errno == ESRCH) {
		pr_warn("tidemark attach: pid %d not found\n", o.pid);
		return 1;
	}
	if (preflight("attach"))
		return 1;
	if (o.output && check_output("attach", o.output))
		return 1;
	pidfd = pidfd_open_(o.pid);
	err = tm_maps__read(o.pid, &maps);
	if (pidfd < 0 || err) {
		pr_warn("tidemark attach: pid %d not found\n", o.pid);
		goto out;
	}
	has_libc = !tm_maps__find_module(&maps, "libc.so.6", libc, sizeof(libc));
	if (!has_libc)
		pr_warn("tidemark attach: pid %d does not map glibc's libc.so.6 (static or another libc): "
			"its malloc/free are not traced; its mmap/munmap/mremap/brk are\n", o.pid);

	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	prof = tm_profile__new();
	if (!prof)
		goto out;
	err = tm_trace__open(&t, &o.trace);
	if (err)
		goto out;
	tm_trace__print_verifier_stats(t);
	prof->pid = o.pid;
	fill_command(prof, o.pid, NULL);
	if (tm_timeline__init(&tl, TM_TIMELINE_MAX, TM_TIMELINE_INTERVAL_NS))
		pr_warn("tidemark: no memory for the timeline; the capture will have none\n");
	prof->start_time_ns = now_ns();
	err = tm_trace__watch(t, o.pid, 0);
	if (!err && has_libc)
		err = tm_trace__attach_libc(t, o.pid, libc);
	if (err)
		goto out;
	if (o.duration > 0)
		deadline = prof->start_time_ns + (uint64_t)(o.duration * 1e9);
	pr_info("tidemark: attached to pid %d; Ctrl-C to stop\n", o.pid);

	while (!stop_requested) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

		if (poll(&pfd, 1, 0) > 0)
			break;   /* the target exited */
		if (deadline && now_ns() >= deadline)
			break;
		tm_trace__poll(t, 20);
		sample(t, &tl, o.pid, prof->start_time_ns, 0);
	}
	tm_trace__poll(t, 0);
	sample(t, &tl, o.pid, prof->start_time_ns, 1);
	prof->end_time_ns = now_ns();
	if (!tm_trace__proc(t, o.pid, &p) && p.exit_time_ns) {
		if (WIFSIGNALED(p.exit_code)) {
			prof->has_signal = 1;
			prof->signal = WTERMSIG(p.exit_code);
		} else {
			prof->has_exit_code = 1;
			prof->exit_code = WEXITSTATUS(p.exit_code);
		}
	}
	snprintf(output, sizeof(output), "%s", o.output ? o.output : "");
	if (!o.output)
		snprintf(output, sizeof(output), "tidemark-%d.tdm", o.pid);
	if (finish(t, prof, o.pid, &o, &tl, output))
		goto out;
	rc = 0;
out:
	if (pidfd >= 0)
		close(pidfd);
	tm_maps__free(&maps);
	tm_trace__destroy(t);   /* detaches every probe */
	tm_timeline__free(&tl);
	tm_profile__free(prof);
	return rc;
}

/* Every format renders the same profile with the same options. */
static const struct report_format {
	const char *name;
	int (*render)(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);
	int binary;             /* never to a terminal */
} report_formats[] = {
	{ "text", tm_report__text, 0 },
	{ "json", tm_report__json, 0 },
	{ "pprof", tm_pprof__write, 1 },
	{ "collapsed", tm_collapsed__write, 0 },
	{ "stats", tm_report__stats, 0 },
	{ "flamegraph", tm_flamegraph__write, 0 },
};

/*
 * The options report and diff share. Returns 0 when c was one of them, 1 when
 * it was not, -1 after saying what is wrong with it.
 */
static int view_opt(const char *cmd, int c, struct tm_report_opts *ro, const char **output)
{
	unsigned long v;

	switch (c) {
	case OPT_VIEW:
		if (tm_report__view_parse(optarg, &ro->view)) {
			pr_warn("tidemark %s: --view is peak, leaks, allocs or temporary, not '%s'\n", cmd,
				optarg);
			return -1;
		}
		return 0;
	case OPT_TREE:
		ro->flags |= TM_REPORT_TREE;
		return 0;
	case OPT_INVERTED:
		ro->flags |= TM_REPORT_TREE | TM_REPORT_INVERTED;
		return 0;
	case OPT_MIN_BYTES:
		if (parse_uint(cmd, "--min-bytes", optarg, 0, ULONG_MAX, &v))
			return -1;
		ro->min_bytes = v;
		return 0;
	case OPT_MAX_DEPTH:
		if (parse_uint(cmd, "--max-depth", optarg, 1, 1000, &v))
			return -1;
		ro->max_depth = (unsigned int)v;
		return 0;
	case OPT_FILTER:
		ro->filter = optarg;
		return 0;
	case 'n':
		if (parse_uint(cmd, "-n", optarg, 0, 100000000, &v))
			return -1;
		ro->top_n = v;
		return 0;
	case 'o':
		*output = optarg;
		return 0;
	case 'P':
		ro->flags |= TM_REPORT_PYTHON_ONLY;
		return 0;
	default:
		return 1;
	}
}

/* Where report and diff write: FILE (opened only once the inputs have been read) or stdout. */
static FILE *open_output(const char *cmd, const char *output)
{
	FILE *out = output ? fopen(output, "w") : stdout;

	if (!out)
		pr_warn("tidemark %s: cannot write %s: %s\n", cmd, output, strerror(errno));
	return out;
}

/* Flush and close what open_output() gave; on any failure, say so and leave no half a file. */
static int close_output(const char *cmd, const char *output, FILE *out, int rc)
{
	struct stat st;
	int regular;

	if (!rc && fflush(out))
		rc = -EIO;
	/* Only a regular file is ours to remove: -o /dev/full must not delete the device. */
	regular = output && !fstat(fileno(out), &st) && S_ISREG(st.st_mode);
	if (output && fclose(out) && !rc)
		rc = -EIO;
	if (!rc)
		return 0;
	pr_warn("tidemark %s: writing %s failed: %s\n", cmd, output ? output : "the report", strerror(-rc));
	if (regular)
		unlink(output);
	return 1;
}

static int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "view", required_argument, NULL, OPT_VIEW },
		{ "output", required_argument, NULL, 'o' },
		{ "python-only", no_argument, NULL, 'P' },
		{ "tree", no_argument, NULL, OPT_TREE },
		{ "inverted", no_argument, NULL, OPT_INVERTED },
		{ "min-bytes", required_argument, NULL, OPT_MIN_BYTES },
		{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tm_report_opts ro = { .view = TM_VIEW_PEAK, .top_n = TM_REPORT_TOP_DEFAULT };
	const struct report_format *fmt = &report_formats[0];
	const char *output = NULL;
	struct tm_profile *prof = NULL;
	FILE *out;
	char err[512];
	size_t i;
	int c, r, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:o:h", longopts, NULL)) != -1) {
		r = view_opt("report", c, &ro, &output);
		if (r < 0)
			return 2;
		if (!r)
			continue;
		switch (c) {
		case OPT_FORMAT:
			for (i = 0; i < sizeof(report_formats) / sizeof(report_formats[0]); i++)
				if (!strcmp(optarg, report_formats[i].name))
					break;
			if (i == sizeof(report_formats) / sizeof(report_formats[0])) {
				pr_warn("tidemark report: --format is text, json, stats, pprof, collapsed "
					"or flamegraph, not '%s'\n", optarg);
				return 2;
			}
			fmt = &report_formats[i];
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			pr_warn("tidemark report: unknown option '%s'; see 'tidemark --help'\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		pr_warn("tidemark report: give exactly one capture file: tidemark report [options] FILE\n");
		return 2;
	}
	if (fmt->binary && !output && isatty(STDOUT_FILENO)) {
		pr_warn("tidemark report: %s is binary: give -o FILE or redirect stdout\n", fmt->name);
		return 2;
	}
	if (tm_capture__read(argv[optind], &prof, err, sizeof(err))) {
		pr_warn("tidemark report: %s\n", err);
		return 1;
	}
	/* Opened only now: a capture that cannot be read leaves FILE as it was. */
	out = open_output("report", output);
	if (!out) {
		tm_profile__free(prof);
		return 1;
	}
	rc = fmt->render(prof, out, &ro);
	tm_profile__free(prof);
	return close_output("report", output, out, rc);
}

/* tidemark diff BEFORE AFTER: what changed, stack by stack. */
static int cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "view", required_argument, NULL, OPT_VIEW },
		{ "output", required_argument, NULL, 'o' },
		{ "python-only", no_argument, NULL, 'P' },
		{ "min-bytes", required_argument, NULL, OPT_MIN_BYTES },
		{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tm_report_opts ro = { .view = TM_VIEW_PEAK, .top_n = TM_REPORT_TOP_DEFAULT };
	struct tm_profile *before = NULL, *after = NULL;
	const char *output = NULL;
	int c, r, rc = 1, flame = 0;
	FILE *out;
	char err[512];

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:o:h", longopts, NULL)) != -1) {
		r = view_opt("diff", c, &ro, &output);
		if (r < 0)
			return 2;
		if (!r)
			continue;
		switch (c) {
		case OPT_FORMAT:
			if (strcmp(optarg, "text") && strcmp(optarg, "flamegraph")) {
				pr_warn("tidemark diff: --format is text or flamegraph, not '%s'\n", optarg);
				return 2;
			}
			flame = !strcmp(optarg, "flamegraph");
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			pr_warn("tidemark diff: unknown option '%s'; see 'tidemark --help'\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 2) {
		pr_warn("tidemark diff: give two capture files: tidemark diff [options] BEFORE AFTER\n");
		return 2;
	}
	if (tm_capture__read(argv[optind], &before, err, sizeof(err)) ||
	    tm_capture__read(argv[optind + 1], &after, err, sizeof(err))) {
		pr_warn("tidemark diff: %s\n", err);
		goto out;
	}
	out = open_output("diff", output);
	if (!out)
		goto out;
	rc = flame ? tm_flamegraph__write_diff(before, after, out, &ro) :
		     tm_diff__text(before, after, out, &ro);
	rc = close_output("diff", output, out, rc);
out:
	tm_profile__free(before);
	tm_profile__free(after);
	return rc;
}

enum { OPT_D_MODE = 300, OPT_D_PID, OPT_D_COMM, OPT_D_EXE, OPT_D_CGROUP, OPT_D_OUTDIR, OPT_D_LISTEN,
	OPT_D_MAXPROCS, OPT_D_MAXSERIES, OPT_D_SAMPLE, OPT_D_CAP_ALLOCS, OPT_D_CAP_STACKS, OPT_D_PPROF_EVERY,
	OPT_D_PPROF_KEEP };

static int cmd_daemon(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, OPT_D_MODE },
		{ "pid", required_argument, NULL, OPT_D_PID },
		{ "comm", required_argument, NULL, OPT_D_COMM },
		{ "exe", required_argument, NULL, OPT_D_EXE },
		{ "cgroup", required_argument, NULL, OPT_D_CGROUP },
		{ "output-dir", required_argument, NULL, OPT_D_OUTDIR },
		{ "listen", required_argument, NULL, OPT_D_LISTEN },
		{ "max-procs", required_argument, NULL, OPT_D_MAXPROCS },
		{ "max-series", required_argument, NULL, OPT_D_MAXSERIES },
		{ "sample-bytes", required_argument, NULL, OPT_D_SAMPLE },
		{ "max-allocs-per-proc", required_argument, NULL, OPT_D_CAP_ALLOCS },
		{ "max-stacks-per-proc", required_argument, NULL, OPT_D_CAP_STACKS },
		{ "pprof-every", required_argument, NULL, OPT_D_PPROF_EVERY },
		{ "pprof-keep", required_argument, NULL, OPT_D_PPROF_KEEP },
		{ "duration", required_argument, NULL, 'd' },
		{ "no-python", no_argument, NULL, OPT_NO_PYTHON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tm_daemon_opts o = { .mode = TM_MODE_LITE, .max_series = 100, .pprof_keep = 60 };
	int cap_allocs = -1, cap_stacks = -1;
	unsigned long v;
	char *end;
	int c;

	o.trace.native_depth = TM_MAX_NATIVE;
	o.trace.max_allocs = 1024;      /* lite: no allocator probes, nothing goes in allocs */
	o.trace.max_stacks = 65536;
	o.trace.max_procs = 1024;
	o.trace.python = 1;
	o.trace.daemon = 1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_D_MODE:
			if (!strcmp(optarg, "lite")) {
				o.mode = TM_MODE_LITE;
			} else if (!strcmp(optarg, "full")) {
				o.mode = TM_MODE_FULL;
			} else {
				pr_warn("tidemark daemon: --mode is lite or full, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_D_PID:
		case OPT_D_COMM:
		case OPT_D_EXE:
		case OPT_D_CGROUP: {
			unsigned int *n = c == OPT_D_PID ? &o.npids : c == OPT_D_COMM ? &o.ncomms :
					  c == OPT_D_EXE ? &o.nexes : &o.ncgroups;

			if (*n >= TM_DAEMON_MAX_SEL) {
				pr_warn("tidemark daemon: at most %d of %s\n", TM_DAEMON_MAX_SEL, argv[optind - 2]);
				return 2;
			}
			if (c == OPT_D_PID) {
				if (parse_uint("daemon", "--pid", optarg, 1, INT32_MAX, &v))
					return 2;
				o.pids[(*n)++] = (pid_t)v;
			} else if (c == OPT_D_COMM) {
				if (strlen(optarg) > 15) {
					pr_warn("tidemark daemon: --comm '%s': the kernel keeps 15 characters of a name\n",
						optarg);
					return 2;
				}
				o.comms[(*n)++] = optarg;
				o.trace.sel_flags |= TM_SEL_COMM;
			} else if (c == OPT_D_EXE) {
				o.exes[(*n)++] = optarg;
				o.trace.sel_flags |= TM_SEL_EXE;
			} else {
				o.cgroups[(*n)++] = optarg;
				o.trace.sel_flags |= TM_SEL_CGROUP;
			}
			break;
		}
		case OPT_D_OUTDIR:
			if (access(optarg, W_OK)) {
				pr_warn("tidemark daemon: cannot write into %s: %s\n", optarg, strerror(errno));
				return 1;
			}
			o.output_dir = optarg;
			break;
		case OPT_D_LISTEN:
			o.listen = optarg;
			break;
		case OPT_D_MAXPROCS:
			if (parse_uint("daemon", "--max-procs", optarg, 16, 1u << 20, &v))
				return 2;
			o.trace.max_procs = v;
			break;
		case OPT_D_MAXSERIES:
			if (parse_uint("daemon", "--max-series", optarg, 1, 100000, &v))
				return 2;
			o.max_series = v;
			break;
		case OPT_D_SAMPLE:
			if (parse_sample_bytes("daemon", optarg, &o.trace.sample_bytes))
				return 2;
			break;
		case OPT_D_CAP_ALLOCS:
		case OPT_D_CAP_STACKS:
			if (parse_uint("daemon", c == OPT_D_CAP_ALLOCS ? "--max-allocs-per-proc" : "--max-stacks-per-proc",
				       optarg, 0, 1u << 26, &v))
				return 2;
			*(c == OPT_D_CAP_ALLOCS ? &cap_allocs : &cap_stacks) = (int)v;
			break;
		case OPT_D_PPROF_EVERY:
			errno = 0;
			o.pprof_every = strtod(optarg, &end);
			if (errno || *end || o.pprof_every < 1) {
				pr_warn("tidemark daemon: --pprof-every wants seconds, at least 1, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_D_PPROF_KEEP:
			if (parse_uint("daemon", "--pprof-keep", optarg, 1, 100000, &v))
				return 2;
			o.pprof_keep = v;
			break;
		case 'd':
			errno = 0;
			o.duration = strtod(optarg, &end);
			if (errno || *end || o.duration <= 0) {
				pr_warn("tidemark daemon: -d wants a positive number of seconds, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_NO_PYTHON:
			o.trace.python = 0;
			break;
		case 'v':
			tm_log_level = TM_LOG_DEBUG;
			break;
		case 'q':
			tm_log_level = TM_LOG_WARN;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			pr_warn("tidemark daemon: unknown option '%s'; see 'tidemark --help'\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		pr_warn("tidemark daemon: unexpected argument '%s'; see 'tidemark --help'\n", argv[optind]);
		return 2;
	}
	/* No selector: everything. Only --pid: just those (sel_flags 0: nothing new is picked up). */
	if (!o.npids && !o.trace.sel_flags)
		o.trace.sel_flags = TM_SEL_ALL;
	if (o.mode == TM_MODE_FULL) {
		if (o.trace.sel_flags & TM_SEL_ALL) {
			pr_warn("tidemark daemon: --mode full needs a selection (--pid, --comm, --exe or --cgroup): "
				"allocator probes on every process would make every malloc on the host trap\n");
			return 2;
		}
		/* Live blocks, as run's; each process gets a quarter of the tables unless told otherwise. */
		o.trace.max_allocs = TM_DEFAULT_MAX_ALLOCS;
		o.trace.alloc_probes = 1;
		o.trace.max_allocs_per_proc = cap_allocs >= 0 ? (unsigned int)cap_allocs : o.trace.max_allocs / 4;
		o.trace.max_stacks_per_proc = cap_stacks >= 0 ? (unsigned int)cap_stacks : o.trace.max_stacks / 4;
	} else if (o.trace.sample_bytes || cap_allocs >= 0 || cap_stacks >= 0) {
		pr_warn("tidemark daemon: --sample-bytes and the per-process caps go with --mode full "
			"(lite mode has no allocator probes)\n");
		return 2;
	}
	if (o.pprof_every && !o.output_dir) {
		pr_warn("tidemark daemon: --pprof-every writes into --output-dir: give one\n");
		return 2;
	}
	if (preflight("daemon"))
		return 1;
	return tm_daemon__run(&o);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "attach"))
		return cmd_attach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(argv[1], "diff"))
		return cmd_diff(argc - 1, argv + 1);
	if (!strcmp(argv[1], "daemon"))
		return cmd_daemon(argc - 1, argv + 1);
	pr_warn("tidemark: unknown command '%s': use run, attach, report, diff or daemon (tidemark --help)\n",
		argv[1]);
	return 2;
}
