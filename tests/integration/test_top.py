#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Issue #16 item 1: `tidemark top`, driven in a real terminal through tmux (send-keys,
capture-pane), and its plain-text mode.

Workloads are copies of gt_live under names unique to this run (tests pick them with
--comm): each holds MIB MiB at site_top plus 512 KiB at site_small from its first
SIGUSR1, and 1 MiB more at site_grow at each later one. The probes are in place before
they allocate, so their live heaps are known to the byte.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from tmtest import TIDEMARK, WORKLOADS, check, eq, main, skip, tidemark

MIB = 1 << 20
SMALL = 512 * 1024
GT_LIVE = os.path.join(WORKLOADS, "gt_live")


def need_tmux():
    if not shutil.which("tmux"):
        skip("tmux is not installed (make test-deps installs it)")


def wait_for(what, fn, timeout=30):
    """fn() until it returns something true; its value, or an AssertionError naming what."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Workload:
    """A copy of gt_live named NAME (its comm), started, said "ready"."""

    def __init__(self, tmp, name, mib):
        self.path = os.path.join(tmp, name)
        shutil.copy(GT_LIVE, self.path)
        self.name, self.mib = name, mib
        self.p = subprocess.Popen([self.path, str(mib)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        eq(self.p.stdout.readline(), b"ready\n", f"{name} started")
        self.pid = self.p.pid

    def signal_and_wait(self):
        os.kill(self.pid, signal.SIGUSR1)
        eq(self.p.stdout.readline(), b"held\n", f"{self.name} allocated")

    def live(self):
        return self.mib * MIB + SMALL

    def running(self):
        """Alive and not stopped (a probe left behind or a stop would show in its state)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        return self.p.poll() is None and state in ("S", "R")

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


class Tmux:
    """A private tmux server (its own socket) running one command in a WxH pane. A shell
    around the command writes its exit status to a file (tmux does not always say it)."""

    def __init__(self, args, width=100, height=30):
        self.sock = f"tm-top-{os.getpid()}-{time.monotonic_ns()}"
        fd, self.rcfile = tempfile.mkstemp(prefix="tm-top-rc-")
        os.close(fd)
        os.unlink(self.rcfile)
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "sh", "-c",
                  f'"$@"; echo $? > {self.rcfile}; sleep 600', "sh", *args)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True, timeout=30)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t").stdout

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def pid(self):
        """The command's pid (the shell's child)."""
        sh = int(self.tmux("display-message", "-p", "-t", "t", "#{pane_pid}").stdout)
        with open(f"/proc/{sh}/task/{sh}/children") as f:
            return int(f.read().split()[0])

    def exited(self):
        """The command's exit status once it has exited, else None."""
        try:
            with open(self.rcfile) as f:
                rc = f.read()
        except FileNotFoundError:
            return None
        return rc.endswith("\n") and (int(rc),)

    def kill(self):
        self.tmux("kill-server")
        if os.path.exists(self.rcfile):
            os.unlink(self.rcfile)


def host_rows(screen):
    """{pid: (comm, live, peak)} of the host table's rows as drawn."""
    rows = {}
    for line in screen.splitlines():
        m = re.match(r"\s*(\d+) (\S+)\s+\S+\s+(-?[\d.]+ (?:B|KiB|MiB|GiB))\s+(-?[\d.]+ (?:B|KiB|MiB|GiB))", line)
        if m:
            rows[int(m.group(1))] = (m.group(2), m.group(3), m.group(4))
    return rows


def row_order(screen, pids):
    return [p for p in (int(m.group(1)) for m in re.finditer(r"^\s*(\d+) ", screen, re.M)) if p in pids]


def human(n):
    """n bytes as the terminal view shows them (report/fmt.c: tenths, rounded half up)."""
    for i, unit in enumerate(("KiB", "MiB", "GiB")):
        scale = 1024 ** (i + 1)
        if n < scale * 1024:
            tenths = n // scale * 10 + ((n % scale) * 10 + scale // 2) // scale
            return f"{tenths // 10}.{tenths % 10} {unit}"
    raise ValueError(n)


def link_ids(pid):
    """The BPF links process pid holds (from its fds' fdinfo)."""
    ids = set()
    fddir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fddir):
        try:
            with open(os.path.join(fddir, fd)) as f:
                m = re.search(r"^link_id:\s*(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids


def links_alive():
    out = subprocess.run(["bpftool", "link", "show", "-j"], capture_output=True, text=True, timeout=60)
    return {l["id"] for l in json.loads(out.stdout or "[]")}


def test_host_view_keys_and_quit():
    """Three workloads: the host view's live bytes, sorting, filtering, Enter on one, its
    growth view, and q leaving them all running with none of top's links left."""
    need_tmux()
    tmp = tempfile.mkdtemp(prefix="tm-top-")
    tag = os.getpid() % 100000
    # started in this order: pids ascending A, B, C; live heaps B > C > A
    names = [f"tmA{tag}", f"tmB{tag}", f"tmC{tag}"]
    wls = [Workload(tmp, names[0], 3), Workload(tmp, names[1], 7), Workload(tmp, names[2], 5)]
    a, b, c = wls
    pids = {w.pid for w in wls}
    args = [TIDEMARK, "top", "--interval", "0.3"]
    for w in wls:
        args += ["--comm", w.name]
    t = Tmux(args, width=80, height=24)  # the smallest terminal it supports
    try:
        screen = wait_for("three rows", lambda: len(host_rows(t.screen()).keys() & pids) == 3 and t.screen())
        check("GROWTH/1m" in screen, f"80 columns hold every number column:\n{screen}")
        check("live 0 B, full," in screen, f"selected processes get the allocator probes:\n{screen}")
        top_pid = wait_for("top's pid", t.pid)
        ours = link_ids(top_pid)
        check(len(ours) > 0, "top holds its probes' links while it runs")
        for w in wls:
            w.signal_and_wait()

        def all_live():
            s = t.screen()
            rows = host_rows(s)
            return all(rows.get(w.pid, (0, ""))[1] == human(w.live()) for w in wls) and s
        screen = wait_for("the three live heaps", all_live)
        rows = host_rows(screen)
        for w in wls:
            eq(rows[w.pid][1], human(w.live()), f"{w.name} live ({w.mib} MiB + 512 KiB)")
            eq(rows[w.pid][2], human(w.live()), f"{w.name} peak")
        eq(row_order(screen, pids), [b.pid, c.pid, a.pid], "sorted by live (the default)")
        check(f"sort live" in screen, "the title names the sort")
        check("l p r g n m sort" in screen and "q quit" in screen, f"the footer shows the keys:\n{screen}")

        t.keys("n")
        screen = wait_for("sort by pid", lambda: "sort pid" in t.screen() and t.screen())
        eq(row_order(screen, pids), sorted(pids), "sorted by pid")
        t.keys("l")
        screen = wait_for("sort by live", lambda: "sort live" in t.screen() and t.screen())
        eq(row_order(screen, pids), [b.pid, c.pid, a.pid], "sorted by live again")

        t.keys("c")
        screen = wait_for("the cgroup view", lambda: "PROCS" in t.screen() and t.screen())
        cg = [l.split() for l in screen.splitlines()[screen.splitlines().index(
            next(l for l in screen.splitlines() if "PROCS" in l)) + 1:] if re.match(r"\S+\s+\d+ ", l)]
        eq([(r[1], r[2] + " " + r[3]) for r in cg], [("3", human(sum(w.live() for w in wls)))],
           "one cgroup row (they share ours): three processes, their live heaps' sum")
        t.keys("c")
        wait_for("back to processes", lambda: "PID COMMAND" in t.screen())

        t.keys("/", *c.name, "Enter")
        screen = wait_for("the filter", lambda: f"filter {c.name}" in t.screen() and t.screen())
        eq(row_order(screen, pids), [c.pid], "the filter leaves the one process it names")

        t.keys("Enter")
        top_line = re.compile(r"^\s*(\S+ \S+)\s+(\d+)\s+(\S+ \S+) ([ ^]) (site_\w+)", re.M)

        def proc_view():
            s = t.screen()
            return f"pid {c.pid} {c.name}: live" in s and "site_top" in s and s
        screen = wait_for("the process view", proc_view)
        sites = {m.group(5): m.groups() for m in top_line.finditer(screen)}
        check("site_top" in sites, f"site_top listed:\n{screen}")
        if "site_top" in sites:
            eq(sites["site_top"][0], human(c.mib * MIB), "site_top's live bytes")
            eq(sites["site_top"][1], "1", "site_top's live blocks")
            eq(sites["site_top"][3], "^", "site_top is marked as the most at the peak")
        if "site_small" in sites:
            eq(sites["site_small"][0], human(SMALL), "site_small's live bytes")
        check("site_small" in sites, "site_small listed")
        first = [m.group(5) for m in top_line.finditer(screen)][:1]
        eq(first, ["site_top"], "the top line is site_top")

        t.keys("v", "v")
        wait_for("the growth view", lambda: "growth since opened" in t.screen())
        c.signal_and_wait()
        screen = wait_for("site_grow's growth", lambda: re.search(r"^\s*\+1\.0 MiB\s+1\.0 MiB\s+site_grow", t.screen(),
                                                                  re.M) and t.screen())
        check(not re.search(r"site_top", screen), f"site_top did not grow since the view opened:\n{screen}")

        t.keys("Escape")
        wait_for("back to the host view", lambda: "PID COMMAND" in t.screen())
        t.keys("q")
        (status,) = wait_for("top to exit", t.exited, timeout=120)
        eq(status, 0, "top exits 0 on q")
        for w in wls:
            check(w.running(), f"{w.name} still runs, not stopped")
        left = ours & links_alive()
        eq(sorted(left), [], "none of top's BPF links is left")
        # and they run on as before: one more allocation each, answered
        for w in wls:
            w.signal_and_wait()
    finally:
        t.kill()
        for w in wls:
            w.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def plain_once(args, wls, interval="3"):
    """tidemark top --once (stdout a pipe) on wls: they allocate during its one interval."""
    p = subprocess.Popen([TIDEMARK, "top", "--once", "--interval", interval, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    said = []
    while not said or not said[-1].startswith("tidemark top: tracing") and said[-1]:
        said.append(p.stderr.readline())  # after what tidemark says first (a tracefs mount)
    check(re.match(r"tidemark top: tracing \d+ process", said[-1]), f"top says what it traces: {said!r}")
    for w in wls:
        w.signal_and_wait()
    out, err = p.communicate(timeout=60)
    eq(p.returncode, 0, f"top --once exits 0 ({err.strip()})")
    return out


def test_once_plain_text():
    """Not a terminal: one plain table after one interval, exact bytes; -p opens the process."""
    tmp = tempfile.mkdtemp(prefix="tm-top-")
    tag = os.getpid() % 100000
    wls = [Workload(tmp, f"tmP{tag}", 2), Workload(tmp, f"tmQ{tag}", 6)]
    try:
        out = plain_once(["--comm", wls[0].name, "--comm", wls[1].name], wls)
        check("\x1b" not in out, "no escape codes in plain text")
        rows = {int(m.group(1)): (m.group(2), int(m.group(3)), int(m.group(4)))
                for m in re.finditer(r"^\s*(\d+) (\S+)\s+\S+\s+(-?\d+)\s+(\d+)\s", out, re.M)}
        for w in wls:
            eq(rows.get(w.pid), (w.name, w.live(), w.live()), f"{w.name}: comm, live and peak, to the byte")
        eq(row_order(out, {w.pid for w in wls}), [wls[1].pid, wls[0].pid], "largest live heap first")
        eq(out.count("PID COMMAND"), 1, "one table")

        w = Workload(tmp, f"tmR{tag}", 4)
        wls.append(w)
        out = plain_once(["-p", str(w.pid)], [w])
        sites = {m.group(4): (int(m.group(1)), int(m.group(2))) for m in
                 re.finditer(r"^\s*(\d+)\s+(\d+)\s+(\d+) [ ^] (site_\w+)", out, re.M)}
        eq(sites.get("site_top"), (4 * MIB, 1), "-p: site_top's live bytes and blocks")
        eq(sites.get("site_small"), (SMALL, 1), "-p: site_small's live bytes and blocks")
        check(f"pid {w.pid} {w.name}: live {w.live()}, peak {w.live()}" in out, f"-p: the process's header:\n{out}")
        for x in wls:
            check(x.running(), f"{x.name} still runs after top --once")
    finally:
        for w in wls:
            w.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_names_escaped():
    """A process named with an escape sequence is shown escaped, never sent to the terminal."""
    tmp = tempfile.mkdtemp(prefix="tm-top-")
    name = f"tmE\x1b[7m{os.getpid() % 100000}"
    w = Workload(tmp, name, 1)
    try:
        out = plain_once(["--comm", name], [w])
        check("\x1b" not in out, f"no escape byte on stdout: {out!r}")
        shown = name.replace("\x1b", "\\x1b")
        m = re.search(rf"^\s*{w.pid} (\S+)\s+\S+\s+(\d+)", out, re.M)
        eq(m and (m.group(1), int(m.group(2))), (shown, w.live()), "the name escaped as reports escape it, live exact")
    finally:
        w.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_periodic_plain_and_ctrl_c():
    """Piped without --once: a table every interval until SIGINT (Ctrl-C), then exit 0."""
    tmp = tempfile.mkdtemp(prefix="tm-top-")
    w = Workload(tmp, f"tmS{os.getpid() % 100000}", 1)
    try:
        p = subprocess.Popen([TIDEMARK, "top", "--interval", "0.2", "--comm", w.name], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        for line in iter(p.stderr.readline, ""):
            if line.startswith("tidemark top: tracing"):
                break
        w.signal_and_wait()
        lines = []
        while sum(1 for l in lines if l.startswith("#")) < 6:
            lines.append(p.stdout.readline())
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        eq(p.returncode, 0, f"SIGINT: exit 0 ({err.strip()})")
        tables = "".join(lines).split("\n# ")
        check(len(tables) >= 6, "a table every interval")
        last = re.search(rf"^\s*{w.pid} {w.name}\s+\S+\s+(\d+)", tables[-2], re.M)
        eq(last and int(last.group(1)), w.live(), "the latest table has the live heap to the byte")
        check(w.running(), "Ctrl-C leaves the process running")
        w.signal_and_wait()
    finally:
        w.stop()
        shutil.rmtree(tmp, ignore_errors=True)


HOLD_PY = """import signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
print("ready", flush=True)
signal.sigwait({signal.SIGUSR1})
held = bytearray(8 << 20)  # line 5
print("held", flush=True)
signal.sigwait({signal.SIGUSR1})
"""


def test_python_only_key():
    """top -p PYTHON_PID: y switches the rows between hybrid frames and the Python line."""
    need_tmux()
    from test_python import interpreters
    pys = interpreters()
    if not pys:
        skip("no CPython interpreter found")
    tmp = tempfile.mkdtemp(prefix="tm-top-")
    script = os.path.join(tmp, "hold.py")
    with open(script, "w") as f:
        f.write(HOLD_PY)
    py = subprocess.Popen([pys[-1][1], script], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    eq(py.stdout.readline(), b"ready\n", "the Python workload started")
    t = Tmux([TIDEMARK, "top", "-p", str(py.pid), "--interval", "0.3"], width=100, height=24)
    row = re.compile(r"^\s*8\.0 MiB\s+1\s+8\.0 MiB \^ (.*)$", re.M)
    try:
        wait_for("the process view", lambda: f"pid {py.pid} " in t.screen(), timeout=120)
        time.sleep(1)  # the view opens once every probe is in place
        os.kill(py.pid, signal.SIGUSR1)
        eq(py.stdout.readline(), b"held\n", "bytearray(8 MiB) made")
        hybrid = wait_for("the 8 MiB row", lambda: row.search(t.screen())).group(1).strip()
        check("frames hybrid" in t.screen(), "hybrid frames by default")
        check(not hybrid.startswith(script), f"hybrid: the innermost frame is native: {hybrid!r}")
        t.keys("y")
        wait_for("python-only frames", lambda: "frames python-only" in t.screen())
        m = wait_for("the Python line", lambda: (m := row.search(t.screen())) and script in m.group(1) and m)
        eq(m.group(1).strip(), f"{script}:5 <module>", "python-only: the row names the Python line")
        t.keys("y")
        m = wait_for("hybrid again", lambda: (m := row.search(t.screen())) and script not in m.group(1) and m)
        eq(m.group(1).strip(), hybrid, "y again: the native frame again")
        t.keys("q")
        (status,) = wait_for("top to exit", t.exited, timeout=120)
        eq(status, 0, "top exits 0 on q")
        check(py.poll() is None, "the Python process runs on")
    finally:
        t.kill()
        py.kill()
        py.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def test_run_live():
    """run --live: the process view of CMD while it runs; q closes the view, run goes on."""
    need_tmux()
    tmp = tempfile.mkdtemp(prefix="tm-top-")
    name = f"tmL{os.getpid() % 100000}"
    exe = os.path.join(tmp, name)
    shutil.copy(GT_LIVE, exe)
    cap = os.path.join(tmp, "live.tdm")
    t = Tmux([TIDEMARK, "run", "--live", "--interval", "0.3", "-o", cap, "--", exe, "6"], width=80, height=24)
    try:
        screen = wait_for("the live view", lambda: re.search(rf"pid (\d+) {name}", t.screen()), timeout=120)
        pid = int(screen.group(1))
        os.kill(pid, signal.SIGUSR1)
        screen = wait_for("site_top in the view", lambda: re.search(r"^\s*6\.0 MiB\s+1\s+6\.0 MiB \^ site_top",
                                                                    t.screen(), re.M) and t.screen())
        check(re.search(rf"pid {pid} {name}: live 6\.5 MiB, peak 6\.5 MiB \d+ s ago, rss", screen),
              f"the header: live and peak, in 80 columns:\n{screen}")
        t.keys("q")
        wait_for("the view to close", lambda: "live view closed" in t.screen())
        check(os.path.exists(f"/proc/{pid}"), "q leaves CMD running")
        os.kill(pid, signal.SIGTERM)
        (status,) = wait_for("run to exit", t.exited, timeout=120)
        eq(status, 128 + signal.SIGTERM, "run exits with CMD's status")
        r = tidemark("report", "--format", "json", "--view", "leaks", "-n", "0", cap)
        eq(r.returncode, 0, f"the capture reads ({r.stderr.strip()})")
        if r.returncode == 0:
            leaks = {s["stack"][0]["function"]: s["bytes"] for s in json.loads(r.stdout)["views"]["leaks"]}
            eq(leaks.get("site_top"), 6 * MIB, "the capture has site_top's 6 MiB")
    finally:
        t.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def test_attach_live():
    """attach --live: the view of a running process; q stops as Ctrl-C would, it runs on."""
    need_tmux()
    tmp = tempfile.mkdtemp(prefix="tm-top-")
    w = Workload(tmp, f"tmT{os.getpid() % 100000}", 3)
    cap = os.path.join(tmp, "attach.tdm")
    t = Tmux([TIDEMARK, "attach", "--live", "--interval", "0.3", "-p", str(w.pid), "-o", cap], width=80, height=24)
    try:
        wait_for("the live view", lambda: f"pid {w.pid} {w.name}" in t.screen(), timeout=120)
        time.sleep(1)  # the view opens once every probe is in place
        w.signal_and_wait()
        wait_for("site_top in the view", lambda: re.search(r"^\s*3\.0 MiB\s+1\s+3\.0 MiB \^ site_top", t.screen(),
                                                           re.M))
        t.keys("q")
        t0 = time.monotonic()
        (status,) = wait_for("attach to exit", t.exited, timeout=120)
        print(f"    attach exited {time.monotonic() - t0:.1f} s after q")
        eq(status, 0, "attach exits 0 on q")
        check(w.running(), "q leaves the process running")
        r = tidemark("report", "--format", "json", "--view", "leaks", "-n", "0", cap)
        eq(r.returncode, 0, f"the capture reads ({r.stderr.strip()})")
        if r.returncode == 0:
            leaks = {s["stack"][0]["function"]: s["bytes"] for s in json.loads(r.stdout)["views"]["leaks"]}
            eq(leaks.get("site_top"), 3 * MIB, "the capture has site_top's 3 MiB")
        w.signal_and_wait()  # and it runs on as before
    finally:
        t.kill()
        w.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_bad_input():
    """One line on stderr naming the problem and the fix; exit 2 (1 for a pid not found)."""
    for args, code, words in (
        (["top", "--interval", "0"], 2, "--interval"),
        (["top", "--comm", "a-name-longer-than-15"], 2, "15 characters"),
        (["top", "--bogus"], 2, "unknown option"),
        (["top", "extra"], 2, "unexpected argument"),
        (["top", "-p", "2147483647"], 1, "not found"),
        (["run", "--interval", "1", "--", "true"], 2, "add --live"),
    ):
        r = tidemark(*args)
        eq(r.returncode, code, f"tidemark {' '.join(args)}: exit status")
        eq(len(r.stderr.strip().splitlines()), 1, f"tidemark {' '.join(args)}: one line: {r.stderr!r}")
        check(words in r.stderr, f"tidemark {' '.join(args)}: names {words!r}: {r.stderr!r}")
        eq(r.stdout, "", f"tidemark {' '.join(args)}: nothing on stdout")


if __name__ == "__main__":
    main([test_host_view_keys_and_quit, test_once_plain_text, test_names_escaped,
          test_periodic_plain_and_ctrl_c, test_python_only_key, test_run_live, test_attach_live, test_bad_input])
