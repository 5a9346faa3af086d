# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Probe sets go live whole (issue #10, item 7): `attach` and `daemon --mode full` place a
process's allocator probes one at a time, so a free could be missed while malloc's probe
was already live, leaving its block live and the peak inflated. Nothing of a process is
counted until its whole set is in place. Ground truth: tests/workloads/gt_alloc.c, busy
with malloc/free pairs while the probes go on, then its known allocations; exact 20 times
out of 20 each way."""
import copy
import json
import os
import signal
import subprocess
import time
import urllib.error

from tmtest import OUT, TIDEMARK, WORKLOADS, by_site, check, eq, main, report_json
from test_core import assert_ground_truth
from test_daemon import Daemon, spawn
from test_oom import limited_cgroup

GT = os.path.join(WORKLOADS, "gt_alloc")
RUNS = 20
SIGUSR1_BIT = 1 << (signal.SIGUSR1 - 1)


def wait_handler(pid):
    """Until pid catches SIGUSR1 (gt_alloc --busy-wait installed its handler)."""
    for _ in range(2000):
        with open(f"/proc/{pid}/status") as f:
            caught = [int(l.split()[1], 16) for l in f if l.startswith("SigCgt:")]
        if caught and caught[0] & SIGUSR1_BIT:
            return
        time.sleep(0.005)
    raise AssertionError(f"pid {pid} never installed its SIGUSR1 handler")


def without_busy(d, how):
    """The report less the busy-wait pairs (site_busy) counted after arming.

    Each pair is 64 bytes made and freed: none live at the peak or at the end. The
    one pair in flight when counting starts may have its free seen without its malloc:
    at most one free_unmatched more than the 4 of the threads' tcaches."""
    d = copy.deepcopy(d)
    b, n = by_site(d["views"]["allocs"]).get("site_busy", (0, 0))
    eq(b, 64 * n, f"{how}: site_busy, {n} pairs of 64 bytes")
    check("site_busy" not in by_site(d["views"]["peak"]), f"{how}: no busy pair live at the peak")
    check("site_busy" not in by_site(d["views"]["leaks"]), f"{how}: no busy pair live at the end")
    for v in ("allocs", "temporary"):
        d["views"][v] = [s for s in d["views"][v] if not (s["stack"] and s["stack"][0]["function"] == "site_busy")]
    for c in d["sizes"]:
        if c["from"] == 64:
            c["count"] -= n
            c["bytes"] -= b
    d["sizes"] = [c for c in d["sizes"] if c["count"]]
    d["totals"]["alloc_count"] -= n
    d["totals"]["alloc_bytes"] -= b
    if d.get("attach"):   # frees of blocks attach never saw allocated are counted apart
        un = d["attach"]["freed_before_attach"]
        check(un in (4, 5), f"{how}: freed_before_attach {un}: the threads' 4 tcaches and at most the pair in flight")
        d["attach"]["freed_before_attach"] = 4
    else:
        un = d["dropped"].get("free_unmatched", 0)
        check(un in (4, 5), f"{how}: free_unmatched {un}: the threads' 4 tcaches and at most the pair in flight")
        d["dropped"]["free_unmatched"] = 4
    return d


def test_attach_exact_20_times():
    for i in range(RUNS):
        how = f"attach, try {i + 1}"
        cap = os.path.join(OUT, "atomic_attach.tdm")
        target = subprocess.Popen([GT, "--busy-wait"])
        try:
            wait_handler(target.pid)
            tm = subprocess.Popen([TIDEMARK, "attach", "-p", str(target.pid), "-o", cap, "-n", "0"],
                                  stderr=subprocess.PIPE, text=True)
            line = tm.stderr.readline()
            check("attached to pid" in line, f"{how}: attach announces itself: {line!r}")
            target.send_signal(signal.SIGUSR1)
            eq(target.wait(timeout=60), 7, f"{how}: target exit status")
            tm.communicate(timeout=60)
            eq(tm.returncode, 0, f"{how}: attach exit status")
        finally:
            if target.poll() is None:
                target.kill()
                target.wait()
        d = report_json(cap)
        eq(d["process"]["exit_code"], 7, f"{how}: exit code")
        assert_ground_truth(without_busy(d, how), how)


def daemon_report(d, pid):
    """pid's live report once the daemon counts it (every probe in place), else None."""
    try:
        rep = json.loads(d.get(f"/report/pid/{pid}"))
    except urllib.error.HTTPError:
        return None
    return rep if d.metrics().get("tidemark_processes_unarmed") == 0 else None


def test_daemon_full_exact_20_times():
    cg = limited_cgroup("tidemark-test-atomic", 4 << 30)
    d = Daemon(cg, extra=["--mode", "full"])
    try:
        for i in range(RUNS):
            how = f"daemon --mode full, try {i + 1}"
            p = spawn(cg, [GT, "--busy-wait", "--wait-end"])
            try:
                for _ in range(2000):
                    if daemon_report(d, p.pid):
                        break
                    time.sleep(0.005)
                check(daemon_report(d, p.pid) is not None, f"{how}: the daemon counts pid {p.pid}")
                wait_handler(p.pid)
                p.send_signal(signal.SIGUSR1)
                eq(p.stdout.readline().strip(), "end", f"{how}: the workload reached its end")
                rep = json.loads(d.get(f"/report/pid/{p.pid}"))
                p.send_signal(signal.SIGUSR1)
                eq(p.wait(timeout=60), 7, f"{how}: target exit status")
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            assert_ground_truth(without_busy(rep, how), how, timeline=False)
    finally:
        d.stop()
        os.rmdir(cg)


if __name__ == "__main__":
    main([test_attach_exact_20_times, test_daemon_full_exact_20_times])
