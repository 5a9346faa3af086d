#!/usr/bin/env python3
# bench/finalize.py: what the end-of-program snapshot costs. A CPython program whose N stacks
# each hold a block at the end (bench/py_finalize.py) is timed from its atexit handler (inside
# Py_FinalizeEx, just after tidemark's probe) to its exit (a pidfd becomes readable): bare,
# traced by this tidemark, and traced by TM_BASE (a tidemark without the probe) when given.
# ROUNDS interleaved runs, medians. Needs root.
import os
import select
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.environ.get("PY", "/root/.pyenv/versions/3.12.1/bin/python3.12")
N = os.environ.get("N", "50000")
ROUNDS = int(os.environ.get("ROUNDS", "5"))
WL = [PY, os.path.join(ROOT, "bench", "py_finalize.py"), N]
configs = [("bare", WL), ("tidemark", [os.path.join(ROOT, "tidemark"), "run", "-q", "-o", "/dev/null", "--", *WL])]
if os.environ.get("TM_BASE"):
    configs.append(("tidemark without the probe", [os.environ["TM_BASE"], "run", "-q", "-o", "/dev/null", "--", *WL]))


def once(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    pid = int(p.stdout.readline().split()[1])
    fd = os.pidfd_open(pid)
    t0 = int(p.stdout.readline().split()[1])
    select.select([fd], [], [])
    t1 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    os.close(fd)
    p.wait()
    return (t1 - t0) / 1e6


res = {n: [] for n, _ in configs}
for _ in range(ROUNDS):
    for n, cmd in configs:
        res[n].append(once(cmd))
for n, _ in configs:
    print(f"{n:30s} finalization to exit: median {statistics.median(res[n]):8.2f} ms  "
          f"(runs: {', '.join(f'{v:.1f}' for v in res[n])})")
