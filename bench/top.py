#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""bench/top.py: what `tidemark top` costs while it refreshes, and how fast it answers a key.

N (default 50) copies of gt_live, each holding 1 MiB + 512 KiB, are traced by
`tidemark top --comm NAME --interval 1` in a tmux pane (a real terminal). Its
own CPU time (utime + stime from /proc/PID/stat) is read over DURATION (default
30) in the host view, then over DURATION in one process's view (which builds
that process's profile every refresh). Then KEYS key presses (sort keys,
alternating), 0.2 s apart: top measures each from the key read to the screen
written (-v prints the median and maximum at exit), and this script measures
each from tmux send-keys to the change showing in capture-pane (an upper bound:
it includes tmux and this script's polling). Needs root, tmux and `make`.
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIDEMARK = os.path.join(ROOT, "tidemark")
GT_LIVE = os.path.join(ROOT, ".output", "workloads", "gt_live")
N = int(os.environ.get("N", 50))
DURATION = float(os.environ.get("DURATION", 30))
KEYS = int(os.environ.get("KEYS", 40))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def main():
    tmp = tempfile.mkdtemp(prefix="tm-bench-top-")
    name = f"tmBench{os.getpid() % 10000}"
    exe = os.path.join(tmp, name)
    shutil.copy(GT_LIVE, exe)
    procs = []
    sock = f"tm-bench-top-{os.getpid()}"
    tmux = lambda *a: subprocess.run(["tmux", "-L", sock, *a], capture_output=True, text=True)
    screen = lambda: tmux("capture-pane", "-p", "-t", "b").stdout
    err = os.path.join(tmp, "stderr")
    try:
        for _ in range(N):
            p = subprocess.Popen([exe, "1"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            assert p.stdout.readline() == b"ready\n"
            procs.append(p)
        tmux("new-session", "-d", "-s", "b", "-x", "120", "-y", "40",
             f"exec {TIDEMARK} top -v --comm {name} --interval 1 2>{err}")
        top = int(tmux("display-message", "-p", "-t", "b", "#{pane_pid}").stdout)
        end = time.monotonic() + 300
        while f"tidemark top: {N} procs" not in screen():
            assert time.monotonic() < end, "top did not list every workload"
            time.sleep(0.2)
        for p in procs:
            os.kill(p.pid, signal.SIGUSR1)
            assert p.stdout.readline() == b"held\n"
        time.sleep(2)
        hz = os.sysconf("SC_CLK_TCK")
        load = os.getloadavg()[0]
        t0, c0 = time.monotonic(), cpu_ticks(top)
        time.sleep(DURATION)
        host = (cpu_ticks(top) - c0) / hz / (time.monotonic() - t0)
        tmux("send-keys", "-t", "b", "Enter")
        time.sleep(2)
        t0, c0 = time.monotonic(), cpu_ticks(top)
        time.sleep(DURATION)
        proc = (cpu_ticks(top) - c0) / hz / (time.monotonic() - t0)
        tmux("send-keys", "-t", "b", "Escape")
        time.sleep(1)
        seen = []
        for i in range(KEYS):
            key, want = ("n", "sort pid") if i % 2 == 0 else ("l", "sort live")
            t0 = time.monotonic()
            tmux("send-keys", "-t", "b", key)
            while want not in screen():
                time.sleep(0.002)
            seen.append(time.monotonic() - t0)
            time.sleep(0.2)
        tmux("send-keys", "-t", "b", "q")
        time.sleep(1)
        with open(err) as f:
            m = re.search(r"(\d+) redraws after keys: median ([\d.]+) ms, max ([\d.]+) ms", f.read())
        print(f"tidemark top, {N} traced processes, --interval 1, load average {load:.1f} "
              f"on {os.cpu_count()} CPUs:")
        print(f"  CPU, host view:    {100 * host:.2f}% of one CPU ({DURATION:.0f} s)")
        print(f"  CPU, process view: {100 * proc:.2f}% of one CPU ({DURATION:.0f} s)")
        if m:
            print(f"  key to screen written (inside top, {m.group(1)} keys): median {m.group(2)} ms, "
                  f"max {m.group(3)} ms")
        print(f"  key to screen seen (tmux send-keys to capture-pane, {KEYS} keys): median "
              f"{1000 * statistics.median(seen):.1f} ms, max {1000 * max(seen):.1f} ms")
    finally:
        tmux("kill-server")
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
