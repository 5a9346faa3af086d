# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--sample-bytes: byte-weighted sampling gives unbiased per-site estimates.

gt_sample allocates known totals at six sites (tests/workloads/gt_sample.c).
Sampled at N = 524,288 (the issue's value), every site above 10 MB must be
estimated within 10% of its true bytes; blocks of 16 N and more are always
recorded, so the leak is exact; the peak, made of 40 live 4 MiB blocks each
recorded with p = 1 - e^-8, is its recorded blocks at 4 MiB / p each, all 40
but in 1.3% of runs (then one is missed: -2.5%; the 1% bound this file asserted
before failed that often). The same workload unsampled is exact to the byte. Run through `tidemark run`, and through `tidemark daemon --mode full`.
"""
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time

from tmtest import OUT, WORKLOADS, check, eq, main, report_json, tidemark
from test_daemon import Daemon
from test_formats import pprof_by_function, pprof_decode

GT = os.path.join(WORKLOADS, "gt_sample")
N = 524288
# site -> (block size, blocks): the workload's own table
SITES = {
    "site_small": (512, 2000000),
    "site_mid": (65536, 16000),
    "site_big": (1 << 20, 400),
    "site_peak": (4 << 20, 40),
    "site_leak": (8 << 20, 8),
    "site_tiny": (1024, 1000),
}
PEAK = 40 * (4 << 20)
LEAK = 8 * (8 << 20)
# a recorded 4 MiB block's estimate: its size over its chance of being recorded, 1 - e^-8
PER_BLOCK = (4 << 20) / (1 - math.exp(-(4 << 20) / N))


def sites_of(view):
    """{innermost function: (bytes, count)}, sites sharing a name added up."""
    out = {}
    for s in view:
        fn = s["stack"][0]["function"] if s["stack"] else None
        b, c = out.get(fn, (0, 0))
        out[fn] = (b + s["bytes"], c + s["count"])
    return out


def check_peak_blocks(peak, how):
    """The peak's 40 live 4 MiB blocks, each recorded with p = 1 - e^-8: the estimate is k
    blocks of 4 MiB / p. All 40 but in 1.3% of runs (40 e^-8), when one is missed (-2.5%);
    two are missed in 0.009% of runs. So: k blocks to the byte, and at most one missed. The
    number of blocks recorded, k."""
    k = round(peak / PER_BLOCK)
    check(abs(peak - k * PER_BLOCK) <= 64 * max(k, 1),
          f"{how}: site_peak at the peak {peak:,} is {k} recorded blocks of 4 MiB / p")
    check(k in (39, 40), f"{how}: the peak's 40 blocks recorded, or all but one ({k})")
    if k == 39:
        print(f"    measured: {how}: one of the peak's 40 blocks went unsampled (1.3% of runs): "
              f"{peak:,}, {100 * (peak - PEAK) / PEAK:+.2f}%")
    return k


def check_estimates(rep, how):
    eq(rep["sample_bytes"], N, f"{how}: the report says it sampled every {N} bytes")
    allocs = sites_of(rep["views"]["allocs"])
    for site, (size, n) in SITES.items():
        truth = size * n
        got, cnt = allocs.get(site, (0, 0))
        err = (got - truth) / truth
        print(f"    measured: {how}: {site:10s} true {truth:>13,} B, estimated {got:>13,} B "
              f"({100 * err:+.2f}%), count {cnt:,} of {n:,}")
        if truth > 10_000_000:
            check(abs(err) <= 0.10, f"{how}: {site}: estimate {got:,} within 10% of {truth:,}")
            check(abs(cnt - n) <= 0.15 * n, f"{how}: {site}: count {cnt:,} within 15% of {n:,}")
    leaks = sites_of(rep["views"]["leaks"])
    eq(leaks.get("site_leak", (0, 0)), (LEAK, 8), f"{how}: 8 MiB blocks are always recorded: the leak is exact")
    k = check_peak_blocks(sites_of(rep["views"]["peak"]).get("site_peak", (0, 0))[0], how)
    tot = rep["totals"]
    check(abs(tot["peak_bytes"] - k * PER_BLOCK) <= 0.02 * PEAK,
          f"{how}: peak {tot['peak_bytes']:,} within 2% of {PEAK:,} of its {k} recorded blocks")
    eq(rep["dropped"].get("free_unmatched", 0), 0, f"{how}: frees of unrecorded blocks are not losses")


def test_run_sampled():
    cap = os.path.join(OUT, "sample.tdm")
    r = tidemark("run", "-q", "--sample-bytes", str(N), "-o", cap, "--", GT, timeout=300)
    eq(r.returncode, 0, f"run --sample-bytes exits with gt_sample's 0 ({r.stderr.strip()})")
    rep = report_json(cap)
    check_estimates(rep, "run")
    text = tidemark("report", cap).stdout
    check("sampled:      one point per 512.0 KiB (524,288 bytes)" in text, "the text report says it is sampled")


def test_run_exact():
    cap = os.path.join(OUT, "sample_exact.tdm")
    r = tidemark("run", "-q", "--sample-bytes", "0", "-o", cap, "--", GT, timeout=300)
    eq(r.returncode, 0, f"run --sample-bytes 0 exits 0 ({r.stderr.strip()})")
    rep = report_json(cap)
    eq(rep["sample_bytes"], 0, "--sample-bytes 0: exact")
    allocs = sites_of(rep["views"]["allocs"])
    for site, (size, n) in SITES.items():
        eq(allocs.get(site), (size * n, n), f"exact: {site} to the byte")


def test_run_small():
    """The same machinery at 1/100 of the churn, for the 6.1 guest (tests/vm/suite): exact to the
    byte unsampled; sampled, the always-recorded blocks exact and the peak within 1%."""
    div = 100
    cap = os.path.join(OUT, "sample_small_exact.tdm")
    r = tidemark("run", "-q", "--sample-bytes", "0", "-o", cap, "--", GT, "--div", str(div), timeout=300)
    eq(r.returncode, 0, f"run --sample-bytes 0 gt_sample --div {div} exits 0 ({r.stderr.strip()})")
    allocs = sites_of(report_json(cap)["views"]["allocs"])
    for site, (size, n) in SITES.items():
        if site not in ("site_peak", "site_leak"):
            n //= div
        eq(allocs.get(site), (size * n, n), f"exact, 1/{div}: {site} to the byte")
    cap = os.path.join(OUT, "sample_small.tdm")
    r = tidemark("run", "-q", "--sample-bytes", str(N), "-o", cap, "--", GT, "--div", str(div), timeout=300)
    eq(r.returncode, 0, f"run --sample-bytes {N} gt_sample --div {div} exits 0 ({r.stderr.strip()})")
    rep = report_json(cap)
    eq(rep["sample_bytes"], N, f"sampled, 1/{div}: the report says it sampled every {N} bytes")
    eq(sites_of(rep["views"]["leaks"]).get("site_leak", (0, 0)), (LEAK, 8),
       f"sampled, 1/{div}: 8 MiB blocks are always recorded: the leak is exact")
    check_peak_blocks(sites_of(rep["views"]["peak"]).get("site_peak", (0, 0))[0], f"sampled, 1/{div}")
    eq(rep["dropped"].get("free_unmatched", 0), 0, f"sampled, 1/{div}: frees of unrecorded blocks are not losses")


def test_bad_flag():
    for bad in ("abc", "-5", str((1 << 32) + 1), ""):
        r = tidemark("run", "--sample-bytes", bad, "--", "/bin/true")
        check(r.returncode == 2 and "--sample-bytes wants" in r.stderr and r.stderr.count("\n") == 1,
              f"--sample-bytes {bad!r} is refused in one line: {r.stderr!r}")


def daemon_run(extra, linger=0.0, snapshot=None):
    """gt_sample under `daemon --mode full --comm gt_sample EXTRA`: its report after the work."""
    d = Daemon(None, select=["--comm", "gt_sample"], extra=["--mode", "full", *extra])
    p = None
    try:
        p = subprocess.Popen([GT, "--wait-first", "--wait"], stdout=subprocess.PIPE, text=True)
        # Tracked, and its probes placed (they go in place ~10 ms after the exec).
        t0 = time.time()
        while time.time() - t0 < 20:
            m = d.metrics()
            if m.get("tidemark_processes_tracked") == 1 and m.get("tidemark_uprobe_links", 0) >= 10:
                break
            time.sleep(0.1)
        check(d.metrics().get("tidemark_uprobe_links", 0) >= 10, "the daemon placed gt_sample's allocator probes")
        p.send_signal(signal.SIGUSR1)
        eq(p.stdout.readline(), "done\n", "gt_sample did its work")
        rep = json.loads(d.get(f"/report/pid/{p.pid}"))
        rep["pid"] = p.pid
        time.sleep(linger)
        if snapshot:   # the directory's files while the process still lives
            rep["files"] = {f: open(os.path.join(snapshot, f), "rb").read() for f in os.listdir(snapshot)}
        p.send_signal(signal.SIGUSR1)
        eq(p.wait(timeout=30), 0, "gt_sample exits 0")
        # Its probes go with it.
        t0 = time.time()
        while time.time() - t0 < 10 and d.metrics().get("tidemark_uprobe_links", 1):
            time.sleep(0.2)
        eq(d.metrics().get("tidemark_uprobe_links"), 0, "its probes are released when it exits")
        return rep
    finally:
        if p and p.poll() is None:
            p.kill()
        rc, err = d.stop()
        check(rc == 0, f"the daemon stops cleanly ({err.strip()[-300:]!r})")


def test_daemon_full_sampled():
    rep = daemon_run(["--sample-bytes", str(N)])
    check_estimates(rep, "daemon --mode full --sample-bytes")


def test_daemon_full_exact():
    rep = daemon_run([])
    eq(rep["sample_bytes"], 0, "daemon --mode full: exact")
    allocs = sites_of(rep["views"]["allocs"])
    for site, (size, n) in SITES.items():
        eq(allocs.get(site), (size * n, n), f"daemon full, exact: {site} to the byte")
    eq(sites_of(rep["views"]["leaks"]).get("site_leak"), (LEAK, 8), "daemon full: the leak")
    eq(rep["totals"]["peak_bytes"] >= PEAK, True, "daemon full: the peak holds the 40 live 4 MiB blocks")


def test_daemon_per_process_caps():
    # 4 live blocks at most: of the 40 peak blocks 36 are not tracked, then 4 of the 8 leaked ones.
    rep = daemon_run(["--max-allocs-per-proc", "4"])
    eq(rep["dropped"]["proc_cap"], 40, "--max-allocs-per-proc 4: 36 peak blocks and 4 leaked ones counted as proc_cap")
    eq(sites_of(rep["views"]["leaks"]).get("site_leak"), (4 * (8 << 20), 4), "the 4 leaked blocks tracked")
    eq(sites_of(rep["views"]["allocs"]).get("site_small"), (512 * 2000000, 2000000),
       "one live block at a time is never capped")
    # 3 stacks: the first three sites keep theirs; everything after is counted under one entry.
    rep = daemon_run(["--max-stacks-per-proc", "3"])
    allocs = sites_of(rep["views"]["allocs"])
    over = allocs.get("[stacks over the per-process cap]", (0, 0))
    rest = sum(size * n for site, (size, n) in SITES.items() if site not in ("site_small", "site_mid", "site_big"))
    eq({k for k in allocs if k.startswith("site_")}, {"site_small", "site_mid", "site_big"},
       "--max-stacks-per-proc 3: the first three stacks are named")
    eq(over[0], rest, "the rest is counted, to the byte, under the over-cap entry")
    eq(rep["dropped"]["proc_cap"], over[1], "each allocation under it is counted as proc_cap")


def test_daemon_periodic_pprof():
    out = tempfile.mkdtemp(prefix="tm-periodic-")
    try:
        rep = daemon_run(["--pprof-every", "1", "--pprof-keep", "2", "--output-dir", out], linger=4.5,
                         snapshot=out)
        files = sorted(f for f in rep["files"] if f.startswith("profile-") and f.endswith(f"-{rep['pid']}.pb.gz"))
        print(f"    measured: periodic files for pid {rep['pid']} after 4.5 s: {files}")
        check(2 <= len(files) <= 4, f"--pprof-every 1 --pprof-keep 2: 2 to 4 files kept, not {len(files)}")
        check(not [f for f in rep["files"] if f.endswith(".tmp")], "no partial files")
        dec = pprof_decode(rep["files"][files[-1]])
        eq(pprof_by_function(dec, "inuse_space").get("site_leak"), LEAK, "the newest profile holds the leak, exact")
        eq(pprof_by_function(dec, "alloc_space").get("site_small"), 512 * 2000000, "... and site_small's bytes")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_daemon_follows_fork():
    """gt_alloc forks a child (no exec) that mallocs 5,000,000 B and exits: it gets its own record."""
    d = Daemon(None, select=["--comm", "gt_alloc"])
    try:
        r = subprocess.run([os.path.join(WORKLOADS, "gt_alloc")], timeout=60)
        eq(r.returncode, 7, "gt_alloc exits 7")
        t0, lines = time.time(), []
        while time.time() - t0 < 10:
            lines = [ln for ln in d.get("/exited").splitlines() if "comm=gt_alloc" in ln]
            if len(lines) >= 2:
                break
            time.sleep(0.2)
        print(f"    measured: /exited: {lines}")
        eq(len(lines), 2, "the parent and its forked child, each on its own line")
        pids = {int(ln.split()[0][4:]) for ln in lines}
        eq(len(pids), 2, "under two pids")
        # The child's only allocation: malloc(5,000,000) is one mmap of 1,221 pages (lite mode sees it).
        check(any("peak=5001216 status=0" in ln for ln in lines), "the child's peak is its 5,000,000 B block")
    finally:
        d.stop()


def test_bad_daemon_flags():
    r = tidemark("daemon", "--mode", "full", "-d", "1")
    check(r.returncode == 2 and "--mode full needs a selection" in r.stderr and r.stderr.count("\n") == 1,
          f"full mode without a selection is refused: {r.stderr!r}")
    r = tidemark("daemon", "--sample-bytes", str(N), "--comm", "x", "-d", "1")
    check(r.returncode == 2 and "go with --mode full" in r.stderr, f"--sample-bytes in lite mode: {r.stderr!r}")
    r = tidemark("daemon", "--mode", "full", "--comm", "x", "--pprof-every", "5")
    check(r.returncode == 2 and "--pprof-every writes into --output-dir" in r.stderr, f"no dir: {r.stderr!r}")
    r = tidemark("daemon", "--mode", "full", "--comm", "x", "--sample-bytes", "lots")
    check(r.returncode == 2 and "--sample-bytes wants" in r.stderr, f"bad --sample-bytes: {r.stderr!r}")


if __name__ == "__main__":
    main([test_bad_flag, test_bad_daemon_flags, test_run_exact, test_run_sampled, test_run_small,
          test_daemon_full_sampled, test_daemon_full_exact, test_daemon_per_process_caps, test_daemon_periodic_pprof,
          test_daemon_follows_fork])
