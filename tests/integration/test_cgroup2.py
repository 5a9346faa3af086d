# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""cgroup v2 (issue #11 item 4): a Python process in a v2 group with memory.max is
OOM-killed, and the post-mortem names the allocating line, the group's memory.max,
memory.current, memory.peak (Linux 5.19+) and the oom_kill count of memory.events;
`daemon --cgroup` selects the v2 group and `/pprof/cgroup/PATH` takes the path as a user
writes it. Needs a cgroup2 hierarchy that holds the memory controller: most Kubernetes
nodes, and the 6.1 guest of tests/vm. On a host whose memory controller is bound to v1
(this development machine) it skips, saying so."""
import glob
import json
import os
import shutil
import subprocess
import time
import urllib.request

from test_daemon import Daemon
from test_oom import LIMIT, check_postmortem
from test_python import marker_lines
from tmtest import OUT, ROOT, check, eq, main, skip, tidemark

WL = os.path.join(ROOT, "tests", "workloads")
PY_OOM = os.path.join(WL, "py_oom.py")
PYTHON = "/usr/bin/python3"


def cgroup2_memory():
    """The cgroup2 mount whose root offers the memory controller, with it enabled for children."""
    for line in open("/proc/self/mountinfo"):
        pre, post = line.split(" - ")
        if post.split()[0] != "cgroup2":
            continue
        mnt = pre.split()[4]
        if "memory" in open(os.path.join(mnt, "cgroup.controllers")).read().split():
            with open(os.path.join(mnt, "cgroup.subtree_control"), "w") as f:
                f.write("+memory")
            return mnt
    skip("no cgroup2 hierarchy with the memory controller here (it is bound to cgroup v1): "
         "this test runs in the Linux 6.1 guest of tests/vm")


def v2_group(name, limit=LIMIT):
    mnt = cgroup2_memory()
    path = os.path.join(mnt, name)
    if os.path.isdir(path):
        os.rmdir(path)
    os.mkdir(path)
    with open(os.path.join(path, "memory.max"), "w") as f:
        f.write(str(limit))
    if os.path.exists(os.path.join(path, "memory.swap.max")):
        with open(os.path.join(path, "memory.swap.max"), "w") as f:
            f.write("0")      # killed at the limit, not swapped out
    return mnt, path


def check_v2_files(d, how, has_peak):
    """The group's own files in the post-mortem: its limit, its usage after, its peak, one kill."""
    oom = d["oom"] or {}
    eq(oom.get("memory_max_bytes"), LIMIT, f"{how}: memory.max")
    cur = oom.get("memory_current_bytes")
    check(cur is not None and cur <= LIMIT, f"{how}: memory.current after the kill ({cur}) within the limit")
    peak = oom.get("memory_peak_bytes")
    if has_peak:
        check(peak is not None and 0.9 * LIMIT <= peak <= LIMIT, f"{how}: memory.peak {peak} reached the limit")
    else:
        eq(peak, None, f"{how}: no memory.peak before Linux 5.19")
    eq(oom.get("oom_kill"), 1, f"{how}: memory.events counts one OOM kill")


def test_run_oom_in_v2_group():
    mnt, cg = v2_group("tidemark-test-v2-oom")
    has_peak = os.path.exists(os.path.join(cg, "memory.peak"))
    out = os.path.join(OUT, "oom_v2_run")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    try:
        r = tidemark("run", "-o", os.path.join(out, "oom.tdm"), "--in-cgroup", cg, "--output-dir", out,
                     "--", PYTHON, PY_OOM, timeout=300)
        eq(r.returncode, 128 + 9, f"run: the script is OOM-killed ({r.stderr[-300:]!r})")
        js = glob.glob(os.path.join(out, "oom-*.json"))
        eq(len(js), 1, "one JSON post-mortem")
        if js:
            d = json.load(open(js[0]))
            check_postmortem(d, PY_OOM, cg, "v2 run")
            check_v2_files(d, "v2 run", has_peak)
            txt = open(js[0][:-5] + ".txt").read()
            check(f"memory.max {LIMIT / (1 << 20):.1f} MiB" in txt and "oom_kill 1" in txt,
                  "the text post-mortem names memory.max and oom_kill")
    finally:
        os.rmdir(cg)


def test_daemon_selects_v2_group():
    mnt, cg = v2_group("tidemark-test-v2-daemon")
    has_peak = os.path.exists(os.path.join(cg, "memory.peak"))
    out = os.path.join(OUT, "oom_v2_daemon")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    d = Daemon(cg, out)
    try:
        def enter():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        # a process that stays: its profile by the group's path, written both ways a user would
        q = subprocess.Popen([PYTHON, "-c", "import sys; x = bytearray(8 << 20); print('ready', flush=True); "
                              "sys.stdin.readline()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             preexec_fn=enter)
        eq(q.stdout.readline(), "ready\n", "a Python process runs in the v2 group")
        rel = "/" + os.path.basename(cg)
        for path in (cg, rel):
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{d.port}/pprof/cgroup{path}",
                                             headers={"Authorization": f"Bearer {d.token}"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    eq(r.status, 200, f"/pprof/cgroup{path}")
            except urllib.error.HTTPError as e:
                check(False, f"/pprof/cgroup{path}: HTTP {e.code}")
        q.stdin.close()
        eq(q.wait(timeout=60), 0, "it exits")
        p = subprocess.Popen([PYTHON, PY_OOM], stdout=subprocess.PIPE, text=True, preexec_fn=enter)
        eq(p.wait(timeout=300), -9, "the script is OOM-killed")
        for _ in range(50):
            if glob.glob(os.path.join(out, "*.json")):
                break
            time.sleep(0.1)
        js = glob.glob(os.path.join(out, f"oom-*-{p.pid}-*.json"))
        eq(len(js), 1, "daemon: one post-mortem")
        if js:
            rep = json.load(open(js[0]))
            check_postmortem(rep, PY_OOM, cg, "v2 daemon")
            check_v2_files(rep, "v2 daemon", has_peak)
            L = marker_lines(PY_OOM)["L_GROW"]
            check(any(f["kind"] == "python" and f["line"] == L for s in rep["views"]["leaks"][:1] for f in s["stack"]),
                  f"daemon: the top site is line {L}")
        m = d.metrics()
        eq(m.get(f'tidemark_cgroup_oom_kills_total{{cgroup="{rel}"}}'), 1.0, "the kill counted for the v2 group")
    finally:
        rc, err = d.stop()
        eq(rc, 0, f"daemon exits 0 ({err[-200:]!r})")
        os.rmdir(cg)


if __name__ == "__main__":
    main([test_run_oom_in_v2_group, test_daemon_selects_v2_group])
