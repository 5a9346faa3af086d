// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * main.c: the tidemark command line: commands and their options, checked
 * and handed to the module that does the work: run and attach to
 * session.c, report and diff to report/, daemon to daemon/, top to top/.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "profile/capture.h"
#include "profile/profile.h"
#include "report/collapsed.h"
#include "report/diff.h"
#include "report/flamegraph.h"
#include "report/pprof.h"
#include "report/procs.h"
#include "report/report.h"
#include "session.h"
#include "top/top.h"
#include "trace/trace.h"
#include "util/log.h"
#include "util/outfile.h"
#include "util/path.h"
#include "version.h"

/*
 * Help: `tidemark --help` names the commands, `tidemark COMMAND --help` gives
 * that command's options. Every option in a command's getopt table appears in
 * its help and in tidemark.1 (tests/integration/test_help.py checks both).
 */
static const char help_main[] =
	"usage: tidemark run [options] -- CMD [ARGS...]\n"
	"       tidemark attach -p PID [options]\n"
	"       tidemark report [options] FILE\n"
	"       tidemark diff [options] BEFORE AFTER\n"
	"       tidemark daemon [options]\n"
	"       tidemark top [options]\n"
	"       tidemark COMMAND --help | tidemark --version\n"
	"\n"
	"run      start CMD traced from its first instruction, wait for it, write the capture,\n"
	"         print a summary on stderr, and exit with CMD's status\n"
	"attach   trace a running process until it exits, SECONDS pass, or Ctrl-C\n"
	"report   render a capture on stdout (or -o FILE): text, json, stats, pprof,\n"
	"         collapsed or flamegraph\n"
	"diff     per-stack change of a view between two captures (stacks matched by\n"
	"         function/file/line, not address), as text or a coloured flame graph\n"
	"daemon   trace every process on the host, or the selected ones, including those\n"
	"         started later; OOM post-mortems, metrics, periodic pprof profiles\n"
	"top      live view of the traced processes (and cgroups) by live heap, and of one\n"
	"         process's stacks; plain text every interval when stdout is not a terminal\n"
	"\n"
	"'tidemark COMMAND --help' lists a command's options; 'man tidemark' has them all.\n"
	"Exit status: 0 done, 1 failed (said why on stderr), 2 bad command line;\n"
	"run exits with CMD's status (128+N when a signal N killed it).\n";

#define HELP_TRACE_COMMON \
	"      --mode M           exact (the default): every allocator call, a probe hit each;\n" \
	"                         sampled: the same probes, a byte-weighted sample recorded\n" \
	"                         (--sample-bytes, default 524288); lite: no uprobes, only what\n" \
	"                         comes from the kernel (mmap, mremap, brk: heap growth, pymalloc\n" \
	"                         arenas, large blocks) with its stacks, at a tracepoint's cost\n" \
	"  -o, --output FILE      capture file (default: tidemark-PID.tdm), mode 0600; a device or\n" \
	"                         FIFO is written as a stream\n" \
	"      --native-depth N   native frames per stack, 1-32 (default 32)\n" \
	"      --max-allocs N     live blocks tracked at once (default 1048576, 8388608 with\n" \
	"                         --trace-python-allocators; the table is allocated as needed)\n" \
	"      --max-stacks N     distinct stacks (default 262144, 16384 in lite mode; the table\n" \
	"                         grows as stacks are seen, about 1 KiB each)\n" \
	"      --no-python        native stacks only, even when the target is CPython\n" \
	"      --trace-python-allocators\n" \
	"                         also trace CPython's PyObject_/PyMem_ Malloc, Calloc, Realloc\n" \
	"                         and Free: every object, not pymalloc's arenas (slower)\n" \
	"      --native-all       keep the interpreter's own frames between Python frames\n" \
	"      --sample-bytes N   record an allocation of s bytes with probability 1-exp(-s/N)\n" \
	"                         and scale it up: unbiased estimates for a fraction of the\n" \
	"                         work (try 524288); 0 = every allocation (the default)\n" \
	"  -n N                   sites in the summary (default 5)\n" \
	"      --live             show the target's stacks live while tracing (tidemark top's\n" \
	"                         process view; needs a terminal); q closes the view\n" \
	"      --interval S       --live: seconds between refreshes (default 1)\n" \
	"      --python-only      the summary hides native frames (the capture keeps them)\n" \
	"  -v, --verbose          say where each probe sits and what the verifier counted;\n" \
	"                         twice (-vv) also libbpf's own log\n" \
	"  -q, --quiet            no summary on stderr\n" \
	"  -h, --help             this help\n"

static const char help_run[] =
	"usage: tidemark run [options] -- CMD [ARGS...]\n"
	"Start CMD traced from its first instruction, wait for it, write the capture, print a\n"
	"summary on stderr, and exit with CMD's status (128+N when signal N killed it).\n"
	"\n"
	"CMD's children (fork, exec, subprocess, multiprocessing workers) are traced too, each\n"
	"as a process of its own in the capture, with the tree's total.\n"
	"\n"
	"options:\n" HELP_TRACE_COMMON
	"      --no-children      trace CMD's own process only, not the processes it starts\n"
	"      --in-cgroup DIR    start CMD inside this cgroup (e.g. a memory-limited one)\n"
	"      --output-dir DIR   where an OOM post-mortem goes (default: the capture's directory;\n"
	"                         made 0700 when missing)\n";

static const char help_attach[] =
	"usage: tidemark attach -p PID [options]\n"
	"Trace a running process until it exits, SECONDS pass, or Ctrl-C, then write the\n"
	"capture and print a summary on stderr; the process runs on undisturbed.\n"
	"\n"
	"options:\n"
	"  -p, --pid PID          the process to trace (required)\n"
	"  -d, --duration SECONDS stop after this long (default: until it exits or Ctrl-C)\n"
	"      --children         also trace the processes PID starts from now on, each as a\n"
	"                         process of its own in the capture (as run does)\n" HELP_TRACE_COMMON;

#define HELP_VIEW_COMMON \
	"  -o, --output FILE      write there, not to stdout\n" \
	"      --view V           peak (default), leaks (live when the program finished),\n" \
	"                         allocs or temporary (freed before their thread allocated again)\n" \
	"  -n N                   sites per view (default 10; 0 = all)\n" \
	"      --min-bytes N      leave out sites and tree nodes below N bytes\n" \
	"      --max-depth N      frames shown per stack (tree depth)\n" \
	"      --filter TEXT      only stacks with a frame whose function or file contains TEXT\n" \
	"      --python-only      hide native frames\n" \
	"      --at-exit          leaks: what was live at the process's exit, not when the\n" \
	"                         program finished (CPython: where its finalization began)\n" \
	"  -h, --help             this help\n"

static const char help_report[] =
	"usage: tidemark report [options] FILE\n"
	"Render the capture FILE on stdout (or -o FILE). pprof and flamegraph are never\n"
	"written to a terminal: without -o they go to FILE's name with .pb.gz or .html\n"
	"(-pidPID for --pid, -tree for --tree-total, -VIEW for another view than peak,\n"
	"before it) in the current directory.\n"
	"\n"
	"options:\n"
	"      --format F         text (default), json, stats (allocators, sizes, hot spots),\n"
	"                         pprof (gzipped profile.proto), collapsed (folded stacks),\n"
	"                         flamegraph (one self-contained HTML page)\n"
	"      --tree             text: add the call tree, callers above callees\n"
	"      --inverted         text: the tree from the allocating frames outwards\n"
	"      --pid PID          one process of a traced tree (run follows children): its views;\n"
	"                         the default is the command's own process, then the process table\n"
	"      --tree-total       the whole tree: text, its peak (the sum of its processes' live\n"
	"                         heaps) and what each process held then; flamegraph, pprof,\n"
	"                         collapsed, every process under a root frame of its own\n" HELP_VIEW_COMMON;

static const char help_diff[] =
	"usage: tidemark diff [options] BEFORE AFTER\n"
	"Per-stack change of a view between two captures, stacks matched by function, file\n"
	"and line (not address).\n"
	"\n"
	"options:\n"
	"      --format F         text (default) or flamegraph (coloured by growth; without -o\n"
	"                         and with a terminal on stdout: to BEFORE-vs-AFTER.html)\n" HELP_VIEW_COMMON;

static const char help_daemon[] =
	"usage: tidemark daemon [options]\n"
	"Trace every process on the host, or the selected ones (each selector repeatable; any\n"
	"match selects), including those started later: OOM post-mortems, metrics, profiles.\n"
	"\n"
	"options:\n"
	"      --pid PID          select this process\n"
	"      --comm NAME        select processes with this command name (15 characters)\n"
	"      --exe PATH         select processes running this executable\n"
	"      --cgroup PATH      select processes in this cgroup (and below)\n"
	"      --mode lite        syscall tracepoints only, no uprobes (the default)\n"
	"      --mode full        also the allocator probes of run/attach, on the selected\n"
	"                         processes only (needs --pid, --comm, --exe or --cgroup)\n"
	"      --no-python        native stacks only, even when a target is CPython\n"
	"      --sample-bytes N   full: record allocations as run --sample-bytes does\n"
	"      --max-allocs-per-proc N, --max-stacks-per-proc N\n"
	"                         full: live blocks and stacks one process may hold in the\n"
	"                         kernel's tables (default: a quarter of each; 0 = no cap)\n"
	"      --pprof-every S    write a pprof profile of every traced process into\n"
	"                         --output-dir each S seconds, keeping the newest --pprof-keep\n"
	"      --pprof-keep N     profiles kept per process (default 60)\n"
	"      --output-dir DIR   write OOM post-mortems here (made 0700 when missing; yours or\n"
	"                         root's, not writable by others unless sticky)\n"
	"      --listen [HOST:]PORT  serve /metrics (Prometheus), /report/pid/PID, /pprof/...;\n"
	"                         HOST 127.0.0.1. Per-process endpoints need --token-file\n"
	"      --listen unix:PATH the same on a Unix socket, mode 0600 (root only): the file\n"
	"                         mode is the access check; its directory must be root's\n"
	"      --listen-group G   unix: mode 0660 for group G\n"
	"      --token-file F     TCP: clients send 'Authorization: Bearer <F's content>' for\n"
	"                         per-process endpoints; F is made (0600, random) if missing\n"
	"      --metrics-cmdline  label /metrics series with command lines (then /metrics\n"
	"                         needs the same credentials)\n"
	"      --max-procs N      processes traced at once (default 1024)\n"
	"      --max-series N     processes and cgroups with their own metric labels (default 100)\n"
	"  -d, --duration SECONDS stop after this long (default: SIGINT/SIGTERM)\n"
	"  -v, --verbose          tidemark's own facts; twice (-vv) also libbpf's log\n"
	"  -q, --quiet            warnings only\n"
	"  -h, --help             this help\n";

static const char help_top[] =
	"usage: tidemark top [options]\n"
	"Live view of traced processes by live heap, peak, RSS and growth over the last minute,\n"
	"with command and container (c: by cgroup); Enter opens a process's stacks by live\n"
	"bytes now, by bytes allocated, or by growth since it was opened (v switches).\n"
	"With no selector every process on the host is traced in lite mode (mmap/brk, no\n"
	"allocator probes, as the daemon); --pid, --comm or --cgroup trace the selected\n"
	"processes (and those that start later) with the allocator probes of run/attach.\n"
	"Keys: l p r g n m sort, / filter, space pause, +/- interval, y Python-only/hybrid\n"
	"frames, Esc back, q quit (every probe comes off; the processes run on).\n"
	"When stdout is not a terminal the table is printed as plain text (exact bytes)\n"
	"every interval.\n"
	"\n"
	"options:\n"
	"  -p, --pid PID          trace this process and open its view (repeatable)\n"
	"      --comm NAME        trace processes with this command name (repeatable)\n"
	"      --cgroup PATH      trace processes in this cgroup and below (repeatable)\n"
	"      --interval S       seconds between refreshes (default 1)\n"
	"      --once             print one table after one interval and exit\n"
	"      --no-python        native stacks only, even when a target is CPython\n"
	"      --max-procs N      processes traced at once (default 1024)\n"
	"  -v, --verbose          tidemark's own facts; twice (-vv) also libbpf's log\n"
	"  -q, --quiet            warnings only\n"
	"  -h, --help             this help\n";

static const struct command_help {
	const char *name;
	const char *text;
} command_helps[] = {
	{ "run", help_run },
	{ "attach", help_attach },
	{ "report", help_report },
	{ "diff", help_diff },
	{ "daemon", help_daemon },
	{ "top", help_top },
};

/* `COMMAND --help`, `help COMMAND`: the command's own help on stdout. */
static int print_help(const char *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(command_helps) / sizeof(command_helps[0]); i++) {
		if (!strcmp(cmd, command_helps[i].name)) {
			fputs(command_helps[i].text, stdout);
			return 0;
		}
	}
	pr_warn("tidemark help: unknown command '%s': use run, attach, report, diff, daemon or top\n", cmd);
	return 2;
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

/* -d SECONDS: a positive, finite number of seconds (nan, inf, 0 and negatives refused). */
static int parse_seconds(const char *cmd, const char *flag, const char *s, double min, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || !*s || *end || !isfinite(v) || v < min || v <= 0 || v > 1e9) {
		pr_warn("tidemark %s: %s wants a number of seconds, %s%g to 1e9, not '%s'\n", cmd, flag,
			min > 0 ? "" : "above ", min, s);
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

enum { OPT_NATIVE_DEPTH = 256,
       OPT_MAX_ALLOCS,
       OPT_MAX_STACKS,
       OPT_FORMAT,
       OPT_VIEW,
       OPT_NO_PYTHON,
       OPT_TREE,
       OPT_INVERTED,
       OPT_MIN_BYTES,
       OPT_MAX_DEPTH,
       OPT_FILTER,
       OPT_IN_CGROUP,
       OPT_OUTPUT_DIR,
       OPT_PY_ALLOC,
       OPT_NATIVE_ALL,
       OPT_SAMPLE_BYTES,
       OPT_LIVE,
       OPT_INTERVAL,
       OPT_MODE,
       OPT_SUMMARY_PY_ONLY,
       OPT_NO_CHILDREN,
       OPT_PID,
       OPT_TREE_TOTAL,
       OPT_CHILDREN,
       OPT_AT_EXIT };

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
	{ "no-children", no_argument, NULL, OPT_NO_CHILDREN },
	{ "children", no_argument, NULL, OPT_CHILDREN },
	{ "live", no_argument, NULL, OPT_LIVE },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "python-only", no_argument, NULL, OPT_SUMMARY_PY_ONLY },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int parse_trace_opts(const char *cmd, int argc, char **argv, struct tm_session_opts *o)
{
	unsigned long v;
	int c;

	tm_session_opts__init(o);
	o->trace.children = !strcmp(cmd, "run"); /* run follows CMD's children unless told not to */
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
			if (strcmp(cmd, "attach")) {
				pr_warn("tidemark %s: -d is for attach (run traces CMD until it exits); "
					"see 'tidemark %s --help'\n",
					cmd, cmd);
				return -EINVAL;
			}
			if (parse_seconds(cmd, "-d", optarg, 0, &o->duration))
				return -EINVAL;
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
		case OPT_NO_CHILDREN:
			if (strcmp(cmd, "run")) {
				pr_warn("tidemark %s: %s is for run; see 'tidemark --help'\n", cmd, argv[optind - 1]);
				return -EINVAL;
			}
			if (c == OPT_IN_CGROUP)
				o->in_cgroup = optarg;
			else if (c == OPT_OUTPUT_DIR)
				o->output_dir = optarg;
			else
				o->trace.children = 0;
			break;
		case OPT_CHILDREN:
			if (strcmp(cmd, "attach")) {
				pr_warn("tidemark %s: --children is for attach (run follows children unless "
					"--no-children)\n",
					cmd);
				return -EINVAL;
			}
			o->trace.children = 1;
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
		case OPT_SUMMARY_PY_ONLY:
			o->summary_flags |= TM_REPORT_PYTHON_ONLY;
			break;
		case OPT_SAMPLE_BYTES:
			if (parse_sample_bytes(cmd, optarg, &o->trace.sample_bytes))
				return -EINVAL;
			break;
		case OPT_LIVE:
			o->live = 1;
			break;
		case OPT_INTERVAL:
			if (parse_seconds(cmd, "--interval", optarg, 0.1, &o->live_interval))
				return -EINVAL;
			break;
		case OPT_MODE: {
			unsigned int m;

			if (tm_profile_mode__parse(optarg, &m)) {
				pr_warn("tidemark %s: --mode is exact, sampled or lite, not '%s'\n", cmd, optarg);
				return -EINVAL;
			}
			o->mode = (int)m;
			break;
		}
		case 'v':
			tm_log_verbose();
			break;
		case 'q':
			tm_log_level = TM_LOG_WARN;
			break;
		case 'h':
			exit(print_help(cmd));
		default:
			if (optopt && optopt < 256)
				pr_warn("tidemark %s: unknown option '-%c'; see 'tidemark --help'\n", cmd, optopt);
			else
				pr_warn("tidemark %s: unknown option '%s'; see 'tidemark --help'\n", cmd,
					argv[optind - 1]);
			return -EINVAL;
		}
	}
	return tm_session_opts__check(cmd, o) ?: optind;
}

static int cmd_run(int argc, char **argv)
{
	struct tm_session_opts o;
	int first;

	first = parse_trace_opts("run", argc, argv, &o);
	if (first < 0)
		return 2;
	if (first >= argc) {
		pr_warn("tidemark run: no command given: tidemark run [options] -- CMD [ARGS...]\n");
		return 2;
	}
	if (tm_session__preflight("run"))
		return 1;
	return tm_session__run(&o, argv + first);
}

static int cmd_attach(int argc, char **argv)
{
	struct tm_session_opts o;
	int first;

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
	if (tm_session__preflight("attach"))
		return 1;
	return tm_session__attach(&o);
}

/* Every format renders the same profile with the same options. */
static const struct report_format {
	const char *name;
	int (*render)(const struct tm_profile *p, FILE *out, const struct tm_report_opts *o);
	const char *ext; /* binary or a page: never to a terminal, to a file named after the capture */
	int one_picture; /* --tree-total: every process at once, each under a root frame of its own */
} report_formats[] = {
	{ "text", tm_report__text, NULL, 0 },
	{ "json", tm_report__json, NULL, 0 },
	{ "pprof", tm_pprof__write, ".pb.gz", 1 },
	{ "collapsed", tm_collapsed__write, NULL, 1 },
	{ "stats", tm_report__stats, NULL, 0 },
	{ "flamegraph", tm_flamegraph__write, ".html", 1 },
};

/* A capture's name without its directory and ".tdm": "/tmp/app.tdm" -> "app". */
static void capture_stem(char *out, size_t len, const char *capture)
{
	const char *base = tm_basename(capture);
	size_t n = strlen(base);

	if (n > 4 && !strcmp(base + n - 4, ".tdm"))
		n -= 4;
	snprintf(out, len, "%.*s", (int)n, base);
}

/*
 * Without -o, a binary format or a page is not for a terminal: it goes to a
 * file in the current directory named after the capture(s), the process shown
 * (part: "-pid4242", "-tree" or ""), the view when not the peak, and the
 * format: app.html, app-leaks.pb.gz, app-pid4242.html, before-vs-after.html.
 */
static const char *named_output(char *out, size_t len, const char *before, const char *capture,
				const char *part, const struct tm_report_opts *ro, const char *ext)
{
	char a[NAME_MAX + 1], b[NAME_MAX + 1] = "", v[32] = "";

	capture_stem(a, sizeof(a), capture);
	if (before)
		capture_stem(b, sizeof(b), before);
	if (ro->view != TM_VIEW_PEAK)
		snprintf(v, sizeof(v), "-%s", tm_report__view_name(ro->view));
	snprintf(out, len, "%s%s%s%s%s%s", b, before ? "-vs-" : "", a, part, v, ext);
	return out;
}

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
	case OPT_AT_EXIT:
		ro->flags |= TM_REPORT_AT_EXIT;
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
static int open_output(struct tm_outfile *of, const char *who, const char *output)
{
	return output ? tm_outfile__open(of, who, output) : tm_outfile__stdout(of, who);
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
		{ "pid", required_argument, NULL, OPT_PID },
		{ "tree-total", no_argument, NULL, OPT_TREE_TOTAL },
		{ "at-exit", no_argument, NULL, OPT_AT_EXIT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tm_report_opts ro = { .view = TM_VIEW_PEAK, .top_n = TM_REPORT_TOP_DEFAULT };
	const struct report_format *fmt = &report_formats[0];
	const char *output = NULL, *said = NULL;
	char named[PATH_MAX], part[32] = "";
	struct tm_profile *prof = NULL;
	const struct tm_profile *shown;
	struct tm_profile *merged;
	struct tm_outfile out;
	unsigned long pid = 0;
	int c, r, rc, tree_total = 0;
	char err[512];
	size_t i;

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
		case OPT_PID:
			if (parse_uint("report", "--pid", optarg, 1, INT32_MAX, &pid))
				return 2;
			break;
		case OPT_TREE_TOTAL:
			tree_total = 1;
			break;
		case 'h':
			return print_help("report");
		default:
			pr_warn("tidemark report: unknown option '%s'; see 'tidemark --help'\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		pr_warn("tidemark report: give exactly one capture file: tidemark report [options] FILE\n");
		return 2;
	}
	if (tree_total && (pid || (strcmp(fmt->name, "text") && !fmt->one_picture))) {
		pr_warn("tidemark report: --tree-total is the whole tree, as text, flamegraph, pprof or collapsed: "
			"drop --pid, or --format %s (JSON always has \"tree\" and \"processes\")\n",
			fmt->name);
		return 2;
	}
	if (pid)
		snprintf(part, sizeof(part), "-pid%lu", pid);
	else if (tree_total)
		snprintf(part, sizeof(part), "-tree");
	if (fmt->ext && !output && isatty(STDOUT_FILENO))
		output = said = named_output(named, sizeof(named), NULL, argv[optind], part, &ro, fmt->ext);
	if (tm_capture__read(argv[optind], &prof, err, sizeof(err))) {
		pr_warn("tidemark report: %s\n", err);
		return 1;
	}
	/* every process of a tree: --pid and --tree-total show the exit's leaks too */
	if (ro.flags & TM_REPORT_AT_EXIT)
		tm_profile__at_exit(prof);
	shown = pid ? tm_profile__find_pid(prof, (int32_t)pid) : prof;
	if (!shown) {
		pr_warn("tidemark report: %s has no process %lu: 'tidemark report %s' lists its processes\n",
			argv[optind], pid, argv[optind]);
		tm_profile__free(prof);
		return 1;
	}
	if (tree_total && !tm_procs__is_tree(prof)) {
		pr_warn("tidemark report: %s holds one process, no tree (traced with --no-children, by attach, "
			"or before tidemark followed children): drop --tree-total\n",
			argv[optind]);
		tm_profile__free(prof);
		return 1;
	}
	/* Opened only now: a capture that cannot be read leaves FILE as it was. */
	if (open_output(&out, "tidemark report", output)) {
		tm_profile__free(prof);
		return 1;
	}
	/* --tree-total as one picture: every process under a root frame of its own */
	merged = NULL;
	if (tree_total && fmt->one_picture && tm_procs__merged(prof, &merged)) {
		pr_warn("tidemark report: no memory to draw every process at once: give --pid PID\n");
		tm_outfile__abort(&out);
		tm_profile__free(prof);
		return 1;
	}
	if (merged)
		rc = fmt->render(merged, out.f, &ro);
	else
		rc = tree_total ? tm_procs__text_total(prof, out.f) : fmt->render(shown, out.f, &ro);
	tm_profile__free(merged);
	tm_profile__free(prof);
	if (tm_outfile__commit(&out, rc))
		return 1;
	if (said)
		pr_info("tidemark report: wrote %s\n", said);
	return 0;
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
		{ "at-exit", no_argument, NULL, OPT_AT_EXIT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tm_report_opts ro = { .view = TM_VIEW_PEAK, .top_n = TM_REPORT_TOP_DEFAULT };
	struct tm_profile *before = NULL, *after = NULL;
	const char *output = NULL, *said = NULL;
	char named[PATH_MAX];
	int c, r, rc = 1, flame = 0;
	struct tm_outfile out;
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
			return print_help("diff");
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
	if (flame && !output && isatty(STDOUT_FILENO))
		output = said = named_output(named, sizeof(named), argv[optind], argv[optind + 1], "", &ro, ".html");
	if (ro.flags & TM_REPORT_AT_EXIT) {
		tm_profile__at_exit(before);
		tm_profile__at_exit(after);
	}
	if (open_output(&out, "tidemark diff", output))
		goto out;
	rc = flame ? tm_flamegraph__write_diff(before, after, out.f, &ro) :
		     tm_diff__text(before, after, out.f, &ro);
	rc = tm_outfile__commit(&out, rc) ? 1 : 0;
	if (!rc && said)
		pr_info("tidemark diff: wrote %s\n", said);
out:
	tm_profile__free(before);
	tm_profile__free(after);
	return rc;
}

/* The options daemon and top share (host_opt); each command's own table says which selectors it has. */
enum { OPT_H_COMM = 500,
       OPT_H_EXE,
       OPT_H_CGROUP,
       OPT_H_MAXPROCS };

/* 1 (after saying so) when a selector's list is full. */
static int sel_full(const char *cmd, unsigned int n, const char *flag)
{
	if (n < TM_MAX_SEL)
		return 0;
	pr_warn("tidemark %s: at most %d of %s\n", cmd, TM_MAX_SEL, flag);
	return 1;
}

/*
 * An option of a host-wide session (daemon, top) that is not the command's
 * own: a selector (--pid/-p, --comm, --exe, --cgroup: each repeatable, any
 * match selects), --max-procs, --no-python, -v, -q, -h, or none at all.
 * -1 to go on parsing, else the exit status to return now.
 */
static int host_opt(const char *cmd, int c, char **argv, struct tm_select *sel, struct tm_trace_opts *trace)
{
	unsigned long v;

	switch (c) {
	case 'p':
		if (sel_full(cmd, sel->npids, "--pid") || parse_uint(cmd, "--pid", optarg, 1, INT32_MAX, &v))
			return 2;
		sel->pids[sel->npids++] = (pid_t)v;
		break;
	case OPT_H_COMM:
		if (sel_full(cmd, sel->ncomms, "--comm"))
			return 2;
		if (strlen(optarg) > 15) {
			pr_warn("tidemark %s: --comm '%s': the kernel keeps 15 characters of a name\n", cmd, optarg);
			return 2;
		}
		sel->comms[sel->ncomms++] = optarg;
		trace->sel_flags |= TM_SEL_COMM;
		break;
	case OPT_H_EXE:
		if (sel_full(cmd, sel->nexes, "--exe"))
			return 2;
		sel->exes[sel->nexes++] = optarg;
		trace->sel_flags |= TM_SEL_EXE;
		break;
	case OPT_H_CGROUP:
		if (sel_full(cmd, sel->ncgroups, "--cgroup"))
			return 2;
		sel->cgroups[sel->ncgroups++] = optarg;
		trace->sel_flags |= TM_SEL_CGROUP;
		break;
	case OPT_H_MAXPROCS:
		if (parse_uint(cmd, "--max-procs", optarg, 16, 1u << 20, &v))
			return 2;
		trace->max_procs = v;
		break;
	case OPT_NO_PYTHON:
		trace->python = 0;
		break;
	case 'v':
		tm_log_verbose();
		break;
	case 'q':
		tm_log_level = TM_LOG_WARN;
		break;
	case 'h':
		return print_help(cmd);
	default:
		pr_warn("tidemark %s: unknown option '%s'; see 'tidemark %s --help'\n", cmd, argv[optind - 1], cmd);
		return 2;
	}
	return -1;
}

/* After the options of a host-wide session: nothing else may follow. 0, or the exit status 2. */
static int host_opts_end(const char *cmd, int argc, char **argv)
{
	if (optind < argc) {
		pr_warn("tidemark %s: unexpected argument '%s'; see 'tidemark %s --help'\n", cmd, argv[optind], cmd);
		return 2;
	}
	return 0;
}

enum { OPT_D_MODE = 300,
       OPT_D_OUTDIR,
       OPT_D_LISTEN,
       OPT_D_MAXSERIES,
       OPT_D_SAMPLE,
       OPT_D_CAP_ALLOCS,
       OPT_D_CAP_STACKS,
       OPT_D_PPROF_EVERY,
       OPT_D_PPROF_KEEP,
       OPT_D_TOKEN_FILE,
       OPT_D_LISTEN_GROUP,
       OPT_D_METRICS_CMDLINE };

static int cmd_daemon(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, OPT_D_MODE },
		{ "pid", required_argument, NULL, 'p' },
		{ "comm", required_argument, NULL, OPT_H_COMM },
		{ "exe", required_argument, NULL, OPT_H_EXE },
		{ "cgroup", required_argument, NULL, OPT_H_CGROUP },
		{ "output-dir", required_argument, NULL, OPT_D_OUTDIR },
		{ "listen", required_argument, NULL, OPT_D_LISTEN },
		{ "token-file", required_argument, NULL, OPT_D_TOKEN_FILE },
		{ "listen-group", required_argument, NULL, OPT_D_LISTEN_GROUP },
		{ "metrics-cmdline", no_argument, NULL, OPT_D_METRICS_CMDLINE },
		{ "max-procs", required_argument, NULL, OPT_H_MAXPROCS },
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
	struct tm_daemon_opts o;
	unsigned long v;
	int c, rc;

	tm_daemon_opts__init(&o);
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
		case OPT_D_OUTDIR:
			o.output_dir = optarg;   /* checked (made when missing) by the daemon */
			break;
		case OPT_D_LISTEN:
			o.listen = optarg;
			break;
		case OPT_D_TOKEN_FILE:
			o.token_file = optarg;
			break;
		case OPT_D_LISTEN_GROUP:
			o.listen_group = optarg;
			break;
		case OPT_D_METRICS_CMDLINE:
			o.metrics_cmdline = 1;
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
			*(c == OPT_D_CAP_ALLOCS ? &o.cap_allocs : &o.cap_stacks) = (int)v;
			break;
		case OPT_D_PPROF_EVERY:
			if (parse_seconds("daemon", "--pprof-every", optarg, 1, &o.pprof_every))
				return 2;
			break;
		case OPT_D_PPROF_KEEP:
			if (parse_uint("daemon", "--pprof-keep", optarg, 1, 100000, &v))
				return 2;
			o.pprof_keep = v;
			break;
		case 'd':
			if (parse_seconds("daemon", "-d", optarg, 0, &o.duration))
				return 2;
			break;
		default:
			rc = host_opt("daemon", c, argv, &o.sel, &o.trace);
			if (rc >= 0)
				return rc;
		}
	}
	if (host_opts_end("daemon", argc, argv))
		return 2;
	if (tm_daemon_opts__check(&o))
		return 2;
	if (tm_session__preflight("daemon"))
		return 1;
	return tm_daemon__run(&o);
}

enum { OPT_T_INTERVAL = 400,
       OPT_T_ONCE };

static int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "comm", required_argument, NULL, OPT_H_COMM },
		{ "cgroup", required_argument, NULL, OPT_H_CGROUP },
		{ "interval", required_argument, NULL, OPT_T_INTERVAL },
		{ "once", no_argument, NULL, OPT_T_ONCE },
		{ "no-python", no_argument, NULL, OPT_NO_PYTHON },
		{ "max-procs", required_argument, NULL, OPT_H_MAXPROCS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tm_top_opts o;
	int c, rc;

	tm_top_opts__init(&o);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_T_INTERVAL:
			if (parse_seconds("top", "--interval", optarg, 0.1, &o.interval))
				return 2;
			break;
		case OPT_T_ONCE:
			o.once = 1;
			break;
		default:
			rc = host_opt("top", c, argv, &o.sel, &o.trace);
			if (rc >= 0)
				return rc;
			/* top opens a --pid at start: one that is not there is an error now */
			if (c == 'p' && kill(o.sel.pids[o.sel.npids - 1], 0) && errno == ESRCH) {
				pr_warn("tidemark top: pid %d not found\n", (int)o.sel.pids[o.sel.npids - 1]);
				return 1;
			}
		}
	}
	if (host_opts_end("top", argc, argv))
		return 2;
	if (tm_top_opts__check(&o))
		return 2;
	if (tm_session__preflight("top"))
		return 1;
	return tm_top__run(&o);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(help_main, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		if (argc > 2)
			return print_help(argv[2]);
		fputs(help_main, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("tidemark %s\n", TM_VERSION);
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
	if (!strcmp(argv[1], "top"))
		return cmd_top(argc - 1, argv + 1);
	pr_warn("tidemark: unknown command '%s': use run, attach, report, diff, daemon or top (tidemark --help)\n",
		argv[1]);
	return 2;
}
