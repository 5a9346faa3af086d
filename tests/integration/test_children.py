# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`run` follows the command's children (issue #12.2): fork and exec, C and Python (multiprocessing
fork and spawn, subprocess), gcc -> cc1. Every process has its own exact numbers, the tree its
total; --no-children keeps the single-process capture of before."""
import gzip
import json
import os
import shutil
import subprocess

from test_formats import _fields, pprof_decode
from test_python import interpreters, marker_lines, py_lines, site_bytes
from tmtest import OUT, ROOT, TIDEMARK, WORKLOADS, by_site, check, eq, main, report_json, skip, tidemark

WL = os.path.join(ROOT, "tests", "workloads")
GT_FORK = os.path.join(WORKLOADS, "gt_fork")
PY = os.path.join(WL, "py_children.py")
MiB = 1 << 20
TAG = f"children-{os.getpid()}"   # colleagues run the same tests at once: our own file names


def cap(name):
    return os.path.join(OUT, f"{TAG}-{name}.tdm")


def run(capture, *cmd, opts=()):
    r = tidemark("run", "-o", capture, *opts, "--", *cmd, timeout=600)
    eq(r.returncode, 0, f"run {' '.join(os.path.basename(c) for c in cmd[:3])}: exit status ({r.stderr.strip()[-300:]})")
    return r


def check_tree(d, what):
    """The tree's own invariants: its peak is what its processes held then, and no more than their peaks."""
    t = d["tree"]
    peak_of = {}    # a pid's largest peak over its images (an exec starts another)
    for p in [d] + d["processes"]:
        pid = p["process"]["pid"]
        peak_of[pid] = max(peak_of.get(pid, 0), p["totals"]["peak_bytes"])
    eq(t["processes"], 1 + len(d["processes"]), f"{what}: tree counts every process")
    eq(sum(s["bytes"] for s in t["at_peak"]), t["peak_bytes"], f"{what}: the tree's peak is the sum of its shares")
    for s in t["at_peak"]:
        check(s["bytes"] <= peak_of.get(s["pid"], -1),
              f"{what}: pid {s['pid']} held {s['bytes']} at the tree's peak, no more than its own peak")
    eq(max(t["heap_bytes"]), t["peak_bytes"], f"{what}: the tree's peak is its largest sample")


def test_fork_c():
    """gt_fork: the parent keeps 1000 bytes, child i holds (i + 1) MiB while all hold theirs."""
    c = cap("fork")
    r = run(c, GT_FORK, "4", str(MiB))
    check("traced 5 processes" in r.stderr, f"the summary names how many processes: {r.stderr.strip()[-300:]}")
    d = report_json(c)
    root = d["process"]["pid"]
    eq(d["totals"]["peak_bytes"], 1000, "the parent's peak (top level: the root's own)")
    eq(d["totals"]["alloc_bytes"], 1000, "the parent's allocations: none of its children's")
    kids = d["processes"]
    eq(len(kids), 4, "4 children")
    peaks = sorted(k["totals"]["peak_bytes"] for k in kids)
    eq(peaks, [MiB, 2 * MiB, 3 * MiB, 4 * MiB], "each child's exact peak")
    for k in kids:
        n = k["totals"]["peak_bytes"]
        eq(k["ppid"], root, f"child {k['process']['pid']}: its parent")
        eq(k["totals"]["alloc_bytes"], n, f"child {k['process']['pid']}: only its own allocation")
        eq(by_site(k["views"]["peak"]).get("child_alloc"), (n, 1), f"child {k['process']['pid']}: child_alloc at its peak")
        eq(k["totals"]["live_bytes_end"], 0, f"child {k['process']['pid']}: freed before it exited")
    eq(d["tree"]["peak_bytes"], 1000 + 10 * MiB, "the tree's peak: every child's block and the parent's")
    eq(sorted(s["bytes"] for s in d["tree"]["at_peak"]), [1000, MiB, 2 * MiB, 3 * MiB, 4 * MiB],
       "what each process held at the tree's peak")
    check_tree(d, "gt_fork")
    # the text report: the root's views, then the process table; --pid; --tree-total
    t = tidemark("report", c)
    eq(t.returncode, 0, "report")
    check("Processes (5 traced" in t.stdout, "the text report ends with the process table")
    rows = [l.split() for l in t.stdout.split("Processes (")[1].splitlines()[3:] if l.strip()]
    eq(sorted(int(r[0]) for r in rows), sorted([root] + [k["process"]["pid"] for k in kids]), "a row per process")
    kid = max(kids, key=lambda k: k["totals"]["peak_bytes"])
    t = tidemark("report", "--pid", str(kid["process"]["pid"]), c)
    check(f"(pid {kid['process']['pid']})" in t.stdout and "peak:         4.0 MiB (4,194,304 bytes)" in t.stdout,
          f"report --pid: that child's own report: {t.stdout[:300]}")
    t = tidemark("report", "--tree-total", c)
    check(f"({1000 + 10 * MiB:,} bytes)" in t.stdout, f"report --tree-total: the tree's peak: {t.stdout[:300]}")
    t = tidemark("report", "--pid", "1", c)
    check(t.returncode == 1 and "has no process 1" in t.stderr, f"report --pid of no process: {t.stderr.strip()}")
    t = tidemark("report", "--format", "json", "--tree-total", c)
    check(t.returncode == 2 and "--tree-total" in t.stderr, f"--tree-total with JSON is refused: {t.stderr.strip()}")
    # one picture of the tree: each process its own root frame (collapsed, flame graph), pprof a pid label
    pids = sorted([root] + [k["process"]["pid"] for k in kids])
    t = tidemark("report", "--format", "collapsed", c)
    eq(sum(int(l.rsplit(" ", 1)[1]) for l in t.stdout.splitlines()), 1000, "collapsed: the root's own process by default")
    t = tidemark("report", "--format", "collapsed", "--tree-total", c)
    by_root = {}
    for line in t.stdout.splitlines():
        stack, n = line.rsplit(" ", 1)
        by_root[stack.split(";")[0]] = by_root.get(stack.split(";")[0], 0) + int(n)
    eq(sorted(by_root.values()), [1000, MiB, 2 * MiB, 3 * MiB, 4 * MiB], "collapsed: each process's peak under its root")
    eq(sorted(int(r.split(":")[0].split()[1]) for r in by_root), pids, "collapsed: the root frames name the pids")
    t = tidemark("report", "--format", "collapsed", "--pid", str(kid["process"]["pid"]), c)
    eq(t.stdout.split(";")[0], "__libc_start_call_main", "collapsed --pid: that process alone, no root frame")
    fg = os.path.join(OUT, f"{TAG}-tree.html")
    t = tidemark("report", "--format", "flamegraph", "--tree-total", "-o", fg, c)
    html = open(fg, encoding="utf-8").read() if t.returncode == 0 else ""
    check(all(f"pid {p}: " in html for p in pids), "flame graph: a root frame per process")
    pb = os.path.join(OUT, f"{TAG}-tree.pb.gz")
    t = tidemark("report", "--format", "pprof", "--tree-total", "-o", pb, c)
    data = open(pb, "rb").read()
    raw, strings, per_pid = gzip.decompress(data), [], {}
    for f, v in _fields(raw):
        if f == 6:
            strings.append(v.decode())
    dec = pprof_decode(data)
    k = dec["types"].index("peak_space") if "peak_space" in dec["types"] else None
    i = 0
    for f, v in _fields(raw):
        if f != 2:
            continue
        labels = [dict(_fields(w)) for g, w in _fields(v) if g == 3]
        pid = next((lab.get(3) for lab in labels if strings[lab[1]] == "pid"), None)
        if k is not None:
            per_pid[pid] = per_pid.get(pid, 0) + dec["samples"][i][1][k]
        i += 1
    check(k is not None, f"pprof: a peak_space sample type: {dec['types']}")
    eq(sorted(per_pid), pids, "pprof: every sample has its process's pid label")
    eq(sorted(per_pid.values()), [1000, MiB, 2 * MiB, 3 * MiB, 4 * MiB], "pprof: each pid's peak")


def test_fork_exec_c():
    """Each child execs /bin/true after freeing: two images a pid, each a process of its own."""
    true = shutil.which("true")
    c = cap("fork-exec")
    run(c, GT_FORK, "2", str(MiB), true)
    d = report_json(c)
    root = d["process"]["pid"]
    forked = [k for k in d["processes"] if k["execed"]]
    execd = [k for k in d["processes"] if not k["execed"]]
    eq(sorted(k["totals"]["peak_bytes"] for k in forked), [MiB, 2 * MiB], "the forked images' exact peaks")
    eq(sorted(k["process"]["pid"] for k in execd), sorted(k["process"]["pid"] for k in forked),
       "each pid's image after the exec is a process of its own")
    for k in execd:
        eq(k["ppid"], root, f"{k['process']['command']}: its parent is the root")
        check(k["process"]["command"].startswith(true), f"the new image's command: {k['process']['command']}")
    check_tree(d, "gt_fork exec")


def test_unprobed_child():
    """A child that execs a static, stripped binary: its malloc cannot be probed, and that is said."""
    src, exe = os.path.join(OUT, f"{TAG}-static.c"), os.path.join(OUT, f"{TAG}-static")
    with open(src, "w") as f:
        f.write("#include <stdlib.h>\nint main(void) { void *volatile p = malloc(100000); free(p); return 0; }\n")
    if subprocess.run(["gcc", "-static", "-s", "-O2", src, "-o", exe], capture_output=True).returncode:
        skip("cannot link a static binary here (libc6-dev's libc.a)")
    c = cap("static")
    r = run(c, GT_FORK, "1", "4096", exe, opts=("-q",))
    lines = [l for l in r.stderr.splitlines() if "not fully followed" in l]
    eq(len(lines), 1, f"one line on stderr says what was not followed: {r.stderr.strip()[-300:]}")
    check(lines and "statically linked and stripped" in lines[0] and exe in lines[0], f"it names the process and why: {lines}")
    d = report_json(c)
    check(d["tree"]["note"] and "statically linked and stripped" in d["tree"]["note"], "the capture keeps it (JSON tree.note)")
    img = [k for k in d["processes"] if k["process"]["command"].startswith(exe)]
    eq(len(img), 1, "the static image is still a process of the tree")
    if img:
        check(img[0]["allocator_note"] and "mappings" in img[0]["allocator_note"], "its own note: mappings only")
        eq(by_site(img[0]["views"]["allocs"]).get("malloc"), None, "its malloc is not seen (said, not guessed)")
    t = tidemark("report", c)
    check("Not fully followed: " in t.stdout, "the text report says it under the process table")


def test_no_children():
    """--no-children: the capture of before, exactly (no processes, no tree)."""
    c = cap("nochildren")
    r = run(c, GT_FORK, "4", str(MiB), opts=("--no-children",))
    check("tidemark: traced " not in r.stderr, "no tree in the summary")
    d = report_json(c)
    eq((d["totals"]["peak_bytes"], d["totals"]["alloc_bytes"], d["totals"]["alloc_count"]), (1000, 1000, 1),
       "the root's own numbers")
    check("processes" not in d and "tree" not in d, "JSON: one process, as before")
    t = tidemark("report", c)
    check(t.returncode == 0 and "Processes (" not in t.stdout, "text: no process table")
    t = tidemark("report", "--tree-total", c)
    check(t.returncode == 1 and "holds one process" in t.stderr, f"--tree-total on one process: {t.stderr.strip()}")
    t = tidemark("report", "--pid", str(d["process"]["pid"]), c)
    eq(t.returncode, 0, "--pid of the one process")


def test_attach_children():
    """attach --children: the children the target starts after the attach, each exact; without it, none."""
    for follow in (True, False):
        c = cap(f"attach-{follow}")
        env = dict(os.environ, GT_FORK_WAIT="1")
        target = subprocess.Popen([GT_FORK, "4", str(MiB)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        eq(target.stdout.readline().strip(), b"ready", "the target waits to fork")
        tm = subprocess.Popen([TIDEMARK, "attach", "-p", str(target.pid), "-o", c] + (["--children"] if follow else []),
                              stderr=subprocess.PIPE, text=True)
        line = tm.stderr.readline()
        check("attached" in line, f"attach announces itself: {line!r}")
        target.stdin.write(b"go\n")
        target.stdin.close()
        eq(target.wait(timeout=300), 0, "the target's exit status")
        err = tm.communicate(timeout=300)[1]
        eq(tm.returncode, 0, f"attach's exit status ({err.strip()[-300:]})")
        d = report_json(c)
        what = "attach --children" if follow else "attach"
        eq(d["totals"]["peak_bytes"], 0, f"{what}: the target's own peak (its block is from before the attach)")
        if not follow:
            check("processes" not in d, f"{what}: its children are not followed")
            continue
        eq(sorted(k["totals"]["peak_bytes"] for k in d["processes"]), [MiB, 2 * MiB, 3 * MiB, 4 * MiB],
           f"{what}: each child's exact peak")
        eq(d["tree"]["peak_bytes"], 10 * MiB, f"{what}: the tree's peak")
        check_tree(d, what)


def py_pool(method):
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    L = marker_lines(PY)
    n = 10_000_000
    for name, py in pys:
        c = cap(f"pool-{method}-{os.path.basename(py)}-{len(name)}")
        run(c, py, PY, "pool", method, str(n))
        d = report_json(c)
        what = f"{name} pool({method})"
        eq(site_bytes(d["views"]["peak"], PY, L["L_PARENT"]), n + 1, f"{what}: the parent's line at its peak")
        workers = {}
        for k in d["processes"]:
            b = site_bytes(k["views"]["peak"], PY, L["L_WORKER"])
            if b:
                workers[b] = k
        eq(sorted(workers), [(i + 1) * n + 1 for i in range(4)], f"{what}: each worker's line at its own peak")
        for b, k in workers.items():
            eq(k["ppid"], d["process"]["pid"], f"{what}: worker {k['process']['pid']}'s parent")
            funcs = {fn for s in k["views"]["peak"] for ln, fn in py_lines(s, PY) if ln == L["L_WORKER"]}
            eq(funcs, {"work"}, f"{what}: worker {k['process']['pid']}: its line is in work()")
            p = k["totals"]["peak_bytes"]
            # a fork worker starts from its parent's heap; a spawn worker also holds its interpreter's
            slack = 2 * MiB if method == "fork" else 16 * MiB
            check(b <= p <= b + slack, f"{what}: worker {k['process']['pid']} peak {p} is its line {b} and at most {slack} more")
        # the tree: every worker held its block at once (a barrier), and the parent its own
        t = d["tree"]
        check(t["peak_bytes"] >= n + 1 + sum(workers), f"{what}: the tree's peak {t['peak_bytes']} holds every line")
        shares = {s["pid"]: s["bytes"] for s in t["at_peak"]}
        for b, k in workers.items():
            check(shares.get(k["process"]["pid"], 0) >= b, f"{what}: worker {k['process']['pid']} held its block at the tree's peak")
        check_tree(d, what)


def test_pool_fork():
    py_pool("fork")


def test_pool_spawn():
    py_pool("spawn")


def test_subprocess():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    L = marker_lines(PY)
    n = 5_000_000
    for name, py in pys:
        c = cap(f"subprocess-{os.path.basename(py)}-{len(name)}")
        run(c, py, PY, "subprocess", str(n))
        d = report_json(c)
        what = f"{name} subprocess"
        eq(site_bytes(d["views"]["peak"], PY, L["L_KEEP"]), n + 1, f"{what}: the parent's line")
        kids = [k for k in d["processes"] if k["process"]["command"].endswith(f"child {n}")]
        eq(len(kids), 1, f"{what}: the child is one process: {[k['process']['command'] for k in d['processes']]}")
        if not kids:
            continue
        k = kids[0]
        eq(k["ppid"], d["process"]["pid"], f"{what}: the child's parent")
        eq(site_bytes(k["views"]["peak"], PY, L["L_CHILD"]), 3 * n + 1, f"{what}: the child's line at its peak")
        check(d["tree"]["peak_bytes"] >= n + 1 + 3 * n + 1, f"{what}: the tree's peak holds both lines")
        check_tree(d, what)


def test_python_under_a_shell():
    """CPython children of a command that is not CPython: no walker loaded (lean), said once on stderr and in
    each one's note; their leaks are still taken at their finalization (endstate): py_end.py keeps
    20 x (1 MiB + 1) to its end, which finalization frees before the exit."""
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    name, py = pys[-1]
    end = os.path.join(WL, "py_end.py")
    c = cap("shell-python")
    r = run(c, "/bin/sh", "-c", f"{py} {end} & {py} {end}; wait")
    warned = [l for l in r.stderr.splitlines() if "so no Python stack walker was loaded" in l]
    eq(len(warned), 1, f"{name}: said once on stderr, not once a process: {r.stderr.strip()[-400:]}")
    d = report_json(c)
    kids = [k for k in d["processes"] if k["process"]["command"].startswith(py)]
    eq(len(kids), 2, f"{name}: both CPythons are processes of the tree")
    for k in kids:
        pid = k["process"]["pid"]
        check(k["allocator_note"] and "no Python stack walker was loaded" in k["allocator_note"],
              f"{name}: pid {pid}'s own note says its stacks are native only: {k['allocator_note']!r}")
        eq(k["end"]["moment"], "finalization", f"{name}: pid {pid} ends where its finalization starts")
        top = k["views"]["leaks"][0] if k["views"]["leaks"] else {}
        eq((top.get("bytes"), top.get("count")), (20 * (MiB + 1), 20),
           f"{name}: pid {pid}'s largest leak is the list kept to the end")
    t = tidemark("report", "--format", "json", "--at-exit", c)
    eq(t.returncode, 0, f"report --at-exit: {t.stderr.strip()}")
    for k in json.loads(t.stdout)["processes"]:
        if k["process"]["command"].startswith(py):
            check(all(row["bytes"] != 20 * (MiB + 1) for row in k["views"]["leaks"]),
                  f"{name}: --at-exit applies to every process: pid {k['process']['pid']}'s list was freed by its exit")


def test_gcc():
    gcc = shutil.which("gcc")
    if not gcc:
        skip("no gcc")
    src = os.path.join(OUT, f"{TAG}-gen.c")
    with open(src, "w") as f:
        for i in range(60):
            f.write(f"int f{i}(int x) {{ int s = 0; for (int j = 0; j < x; j++) s += j * {i} ^ (s >> 3); return s; }}\n")
    c = cap("gcc")
    run(c, gcc, "-O2", "-c", src, "-o", os.path.join(OUT, f"{TAG}-gen.o"))
    d = report_json(c)
    cc1 = [k for k in d["processes"] if os.path.basename(k["process"]["command"].split()[0]) == "cc1"]
    eq(len(cc1), 1, f"cc1 is a process of the tree: {[k['process']['command'][:40] for k in d['processes']]}")
    if cc1:
        k = cc1[0]
        check(k["totals"]["peak_bytes"] > d["totals"]["peak_bytes"],
              f"cc1's peak {k['totals']['peak_bytes']} is above the driver's {d['totals']['peak_bytes']}")
        check(k["views"]["peak"] and k["views"]["peak"][0]["stack"][0]["module"],
              "cc1's own stacks, symbolized from its own image")
        check(k["ppid"] == d["process"]["pid"], "cc1's parent is the driver")
    check_tree(d, "gcc")
    # cc1's command line is ~300 characters: the process tables wrap it within 120 columns, whole
    for args in ([], ["--tree-total"]):
        text = tidemark("report", *args, c).stdout
        wide = [x for x in text.split("\n") if len(x) > 120]
        eq(wide, [], f"report {' '.join(args)}: every line within 120 columns")
        check("-fasynchronous-unwind-tables" in text and "/tmp/cc" in text,
              f"report {' '.join(args)}: cc1's command line is all there, wrapped")


if __name__ == "__main__":
    main([test_fork_c, test_fork_exec_c, test_unprobed_child, test_no_children, test_attach_children, test_pool_fork, test_pool_spawn, test_subprocess,
          test_python_under_a_shell, test_gcc])
