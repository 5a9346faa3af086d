# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--sample-bytes: byte-weighted sampling gives unbiased per-site estimates.

gt_sample allocates known totals at six sites (tests/workloads/gt_sample.c).
Sampled at N = 524,288 (the issue's value), every site above 10 MB must be
estimated within 10% of its true bytes; blocks of 16 N and more are always
recorded, so the leak is exact; the peak, made of 4 MiB blocks each recorded
with p = 1 - e^-8, is within 1%. The same workload unsampled is exact to the
byte. Run through `tidemark run`, and through `tidemark daemon --mode full`.
"""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

from tmtest import OUT, WORKLOADS, TIDEMARK, check, eq, main, report_json, tidemark

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


def sites_of(view):
    """{innermost function: (bytes, count)}, sites sharing a name added up."""
    out = {}
    for s in view:
        fn = s["stack"][0]["function"] if s["stack"] else None
        b, c = out.get(fn, (0, 0))
        out[fn] = (b + s["bytes"], c + s["count"])
    return out


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
    peak = sites_of(rep["views"]["peak"]).get("site_peak", (0, 0))[0]
    check(abs(peak - PEAK) <= 0.01 * PEAK, f"{how}: site_peak at the peak {peak:,} within 1% of {PEAK:,}")
    tot = rep["totals"]
    check(abs(tot["peak_bytes"] - PEAK) <= 0.02 * PEAK, f"{how}: peak {tot['peak_bytes']:,} within 2% of {PEAK:,}")
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


def test_bad_flag():
    for bad in ("abc", "-5", str((1 << 32) + 1), ""):
        r = tidemark("run", "--sample-bytes", bad, "--", "/bin/true")
        check(r.returncode == 2 and "--sample-bytes wants" in r.stderr and r.stderr.count("\n") == 1,
              f"--sample-bytes {bad!r} is refused in one line: {r.stderr!r}")


if __name__ == "__main__":
    main([test_bad_flag, test_run_exact, test_run_sampled])
