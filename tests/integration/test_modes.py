#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""run/attach --mode exact|sampled|lite: what each records, what the report says, what it cost.

Ground truth: gt_pairs N makes exactly N malloc(64)/free pairs and nothing else, so exact and
sampled mode take exactly 3N probe hits (malloc's entry and return, free's entry) and lite none;
gt_alloc's own mmap sites are the same bytes in lite as in exact; on py_numpy.py (Debian's
python3.11 with python3-numpy) lite's peak and its per-line bytes are within 2% of exact's.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tmtest import (OUT, ROOT, TIDEMARK, WORKLOADS, by_site, check, eq, main, report_json, skip,  # noqa: E402
                    tidemark)

PAIRS = os.path.join(WORKLOADS, "gt_pairs")
GT = os.path.join(WORKLOADS, "gt_alloc")
PY = "/usr/bin/python3.11"
NUMPY = os.path.join(ROOT, "tests", "workloads", "py_numpy.py")
TAG = f"modes{os.getpid()}"


def cap(name):
    return os.path.join(OUT, f"{TAG}_{name}.tdm")


def hits(stderr):
    """The probe hits the cost summary names, as a number; None when it names none."""
    m = re.search(r"tidemark: ([\d,]+) probe hits", stderr)
    return int(m.group(1).replace(",", "")) if m else None


def test_mode_report_fields():
    """Each mode is named in the JSON (and the text when not exact), and the capture keeps it."""
    for mode, sample in (("exact", 0), ("sampled", 524288), ("lite", 0)):
        c = cap(f"fields_{mode}")
        r = tidemark("run", "--mode", mode, "-o", c, "--", PAIRS, "10")
        eq(r.returncode, 0, f"--mode {mode}: exit status ({r.stderr.strip()[-300:]})")
        d = report_json(c)
        eq(d["mode"]["name"], mode, f"--mode {mode}: JSON mode.name")
        check(d["mode"]["sees"], f"--mode {mode}: JSON mode.sees says what it records")
        eq(d["mode"]["cannot_see"] is None, mode == "exact", f"--mode {mode}: JSON mode.cannot_see")
        eq(d["sample_bytes"], sample, f"--mode {mode}: sample_bytes")
        text = tidemark("report", c).stdout
        lines = [ln for ln in text.splitlines() if ln.startswith("  mode:")]
        if mode == "exact":
            eq(lines, [], "exact: the text header says nothing of the default mode")
        else:
            eq(len(lines), 1, f"--mode {mode}: one mode line in the text header")
            check(lines and lines[0].startswith(f"  mode:         {mode}: "), f"--mode {mode}: {lines}")
            check("  not seen:     " in text, f"--mode {mode}: the text says what the mode cannot see")
    # lite sees no malloc, only the heap's one growth the first malloc made: glibc's sbrk of the
    # request plus M_TOP_PAD (128 KiB), page-rounded: 33 pages. The 10 pairs reuse it.
    d = report_json(cap("fields_lite"))
    eq((d["totals"]["alloc_bytes"], d["totals"]["alloc_count"], d["totals"]["free_count"]), (135168, 1, 0),
       "lite: gt_pairs' only memory from the kernel is the heap's first growth")
    eq([s["allocator"] for s in d["views"]["allocs"]], ["brk"], "lite: that growth is a brk")


def test_mode_bad_combinations():
    """Contradictions are refused in one line on stderr, exit 2, nothing traced."""
    for args, word in ((["--mode", "fast"], "exact, sampled or lite"),
                       (["--mode", "exact", "--sample-bytes", "4096"], "--sample-bytes alone"),
                       (["--mode", "lite", "--sample-bytes", "4096"], "--mode lite"),
                       (["--mode", "lite", "--trace-python-allocators"], "--mode lite")):
        r = tidemark("run", *args, "-o", cap("bad"), "--", PAIRS, "1")
        eq(r.returncode, 2, f"{args}: exit status")
        eq(len(r.stderr.strip().splitlines()), 1, f"{args}: one line: {r.stderr!r}")
        check(word in r.stderr, f"{args}: names the fix ({word!r}): {r.stderr!r}")
    r = tidemark("run", "--sample-bytes", "4096", "-o", cap("implied"), "--", PAIRS, "1")
    eq(r.returncode, 0, "--sample-bytes alone: runs")
    eq(report_json(cap("implied"))["mode"]["name"], "sampled", "--sample-bytes alone means --mode sampled")


def test_cost_hits_exact():
    """The cost summary names exactly 3 hits a malloc/free pair, in exact and sampled mode; 0 in lite."""
    for n in (1000, 2500):
        for mode in ("exact", "sampled"):
            r = tidemark("run", "--mode", mode, "-n", "0", "-o", cap(f"hits_{mode}_{n}"), "--", PAIRS, str(n))
            eq(r.returncode, 0, f"{mode} {n}: exit status")
            eq(hits(r.stderr), 3 * n, f"{mode}: {n} pairs are {3 * n} probe hits: {r.stderr[-400:]!r}")
            check(re.search(r"added about [\d.]+ s to the traced program \([\d.]+ us a hit on this host", r.stderr),
                  f"{mode}: the summary estimates the time the hits added: {r.stderr[-400:]!r}")
    d = report_json(cap("hits_exact_1000"))
    eq((d["totals"]["alloc_count"], d["totals"]["free_count"]), (1000, 1000),
       "exact: the hits are the pairs the report counts")
    r = tidemark("run", "--mode", "lite", "-n", "0", "-o", cap("hits_lite"), "--", PAIRS, "1000")
    eq(hits(r.stderr), 0, f"lite: no probe hits: {r.stderr[-300:]!r}")
    r = tidemark("run", "-q", "-o", cap("hits_quiet"), "--", PAIRS, "10")
    eq(r.stderr, "", "-q: no cost summary either")


def test_cost_cached():
    """A hit's cost is measured once per boot and kept: the second run reads it."""
    r = tidemark("run", "-o", cap("cache1"), "--", PAIRS, "100")
    r2 = tidemark("run", "-o", cap("cache2"), "--", PAIRS, "100")
    a = re.search(r"\(([\d.]+) us a hit", r.stderr)
    b = re.search(r"\(([\d.]+) us a hit", r2.stderr)
    check(a and b and a.group(1) == b.group(1), f"the same cost twice: {a and a.group(0)} {b and b.group(0)}")
    check("measured now" not in r2.stderr, "the second run reads the cache")
    xdg = os.environ.get("XDG_CACHE_HOME")
    path = os.path.join(xdg, "tidemark", "trap-cost") if xdg and xdg.startswith("/") \
        else "/var/cache/tidemark/trap-cost"
    st = os.stat(path)
    eq(oct(st.st_mode & 0o777), "0o600", f"{path}: mode 0600")
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = f.read().strip()
    with open(path) as f:
        check(f.read().startswith(f"boot_id {boot} hit_ns "), f"{path} is this boot's")


def test_cost_over_the_wall_time():
    """A kept cost of a hit that puts the estimate above the run's wall time (measured while the host
    was busier) is measured again, used and kept instead; the line says so."""
    xdg = os.path.join(OUT, "modes", f"xdg-{os.getpid()}")
    os.makedirs(os.path.join(xdg, "tidemark"), exist_ok=True)
    os.chmod(os.path.join(xdg, "tidemark"), 0o700)
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = f.read().strip()
    path = os.path.join(xdg, "tidemark", "trap-cost")
    with open(path, "w") as f:
        f.write(f"boot_id {boot} hit_ns 999999.0\n")   # 1 ms a hit: 3,000 hits are 3 s, the run far less
    os.chmod(path, 0o600)
    r = tidemark("run", "-n", "0", "-o", cap("over_wall"), "--", PAIRS, "1000", env=dict(os.environ, XDG_CACHE_HOME=xdg))
    eq(r.returncode, 0, f"exit status: {r.stderr[-300:]!r}")
    line = [l for l in r.stderr.splitlines() if "kept from earlier in this boot (1000.00 us)" in l]
    eq(len(line), 1, f"one line says the kept cost put the estimate above the wall time: {r.stderr[-600:]!r}")
    check(line and line[0].endswith("measured again"), f"and that it was measured again: {line}")
    summary = [l for l in r.stderr.splitlines() if "probe hits added about" in l]
    eq(len(summary), 1, f"one cost line: {r.stderr[-600:]!r}")
    check(summary and ", measured now," in summary[0] and "(1000.00 us a hit" not in summary[0],
          f"the cost line uses the new measurement: {summary}")
    with open(path) as f:
        kept = f.read().split()
    eq(kept[:3], ["boot_id", boot, "hit_ns"], "the cache holds this boot's new measurement")
    check(len(kept) == 4 and float(kept[3]) != 999999.0 and float(kept[3]) > 0,
          f"the new cost replaced the kept one: {kept}")


def test_lite_sees_the_programs_mappings():
    """lite: gt_alloc's own mmap sites hold the same bytes as in exact mode."""
    out = {}
    for mode in ("exact", "lite"):
        r = tidemark("run", "--mode", mode, "-q", "-o", cap(f"gt_{mode}"), "--", GT)
        eq(r.returncode, 7, f"{mode}: gt_alloc's exit status")
        d = report_json(cap(f"gt_{mode}"))
        out[mode] = {v: by_site(d["views"][v]).get("site_mmap") for v in ("allocs", "peak", "leaks")}
    check(out["exact"]["allocs"], f"exact: site_mmap is seen: {out['exact']}")
    eq(out["lite"], out["exact"], "lite: site_mmap's bytes and counts in every view, as exact")


def test_attach_lite():
    """attach --mode lite: no uprobe in the target, the capture says lite."""
    c = cap("attach_lite")
    target = subprocess.Popen([GT, "--wait"])
    time.sleep(0.2)
    tm = subprocess.Popen([TIDEMARK, "attach", "--mode", "lite", "-p", str(target.pid), "-o", c, "-n", "0"],
                          stderr=subprocess.PIPE, text=True)
    line = tm.stderr.readline()
    check("attached to pid" in line, f"attach announces itself: {line!r}")
    with open(f"/proc/{target.pid}/maps") as f:
        libc = next(ln for ln in f if ln.rstrip().endswith("/libc.so.6") and " r-xp " in ln)
    lo, hi = (int(x, 16) for x in libc.split()[0].split("-"))
    off = int(libc.split()[2], 16)
    path = libc.split()[-1]
    with open(path, "rb") as f:
        f.seek(off)
        want = f.read(hi - lo)
    with open(f"/proc/{target.pid}/mem", "rb") as f:
        f.seek(lo)
        got = f.read(hi - lo)
    eq(got == want, True, "lite: the target's libc code is as on disk (no breakpoint anywhere in it)")
    target.send_signal(signal.SIGUSR1)
    eq(target.wait(timeout=60), 7, "target exit status")
    _, err = tm.communicate(timeout=60)
    eq(tm.returncode, 0, f"attach exit status ({err[-300:]})")
    eq(hits(err), 0, f"attach lite: 0 probe hits: {err[-300:]!r}")
    d = report_json(c)
    eq(d["mode"]["name"], "lite", "attach --mode lite: the capture says lite")
    check((by_site(d["views"]["allocs"]).get("site_mmap") or (0, 0))[1] >= 1, "attach lite: site_mmap seen")


def py_site_lines(site, path):
    return [f["line"] for f in site["stack"]
            if f["kind"] == "python" and f["file"] and f["file"].endswith(os.path.basename(path))]


def test_lite_numpy_within_2pct():
    """lite on a numpy pipeline: the peak and each line's bytes at the peak within 2% of exact."""
    if not os.path.exists(PY):
        skip(f"no {PY} (Debian's python3.11, with python3-numpy)")
    if subprocess.run([PY, "-c", "import numpy"], capture_output=True).returncode:
        skip(f"numpy is not importable by {PY}: apt-get install python3-numpy")
    lines = {}
    for n, text in enumerate(open(NUMPY, encoding="utf-8"), 1):
        m = re.search(r"# (L_NP_[A-Z]+):", text)
        if m:
            lines[m.group(1)] = n
    got = {}
    for mode in ("exact", "lite"):
        c = cap(f"numpy_{mode}")
        r = tidemark("run", "--mode", mode, "-q", "-o", c, "--", PY, NUMPY)
        eq(r.returncode, 0, f"numpy {mode}: exit status ({r.stderr[-300:]})")
        d = report_json(c)
        per_line = {}
        for s in d["views"]["peak"]:
            ls = py_site_lines(s, NUMPY)
            # the innermost frame of the workload file: numpy's own numeric.py frames are inside it
            if ls:
                per_line[ls[0]] = per_line.get(ls[0], 0) + s["bytes"]
        got[mode] = (d["totals"]["peak_bytes"], per_line)
    (pe, le), (pl, ll) = got["exact"], got["lite"]
    check(abs(pl - pe) <= 0.02 * pe, f"numpy: lite's peak {pl:,} within 2% of exact's {pe:,}")
    for name in ("L_NP_A", "L_NP_B", "L_NP_C"):
        n = lines[name]
        e, li = le.get(n, 0), ll.get(n, 0)
        check(e >= 10_000_000 and abs(li - e) <= 0.02 * e,
              f"numpy: line {n} ({name}) at the peak: lite {li:,} within 2% of exact {e:,}")


def test_py_inlined_warning():
    """--trace-python-allocators warns before the run on an interpreter that inlines PyObject_Malloc."""
    import glob
    clean = sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3.[0-9]*"))
    clean = [p for p in clean if re.search(r"python3\.\d+$", p)]
    if not os.path.exists(PY) and not clean:
        skip(f"neither {PY} (Debian's LTO build) nor a pyenv interpreter (no LTO) is installed")
    probe = "import sys; sys.stderr.write('child ran\\n')"
    if os.path.exists(PY):
        r = tidemark("run", "--trace-python-allocators", "-q", "-o", cap("inl"), "--", PY, "-c", probe)
        eq(r.returncode, 0, f"{PY}: exit status")
        err = r.stderr
        w = err.find("inlines PyObject_Malloc")
        check(w >= 0 and w < err.find("child ran"), f"{PY}: warned before the program ran: {err[:400]!r}")
    for py in clean:
        r = tidemark("run", "--trace-python-allocators", "-q", "-o", cap("noinl"), "--", py, "-c", probe)
        check("inlines PyObject_Malloc" not in r.stderr, f"{py}: no warning (not LTO): {r.stderr[:300]!r}")


if __name__ == "__main__":
    main([test_mode_report_fields, test_mode_bad_combinations, test_cost_hits_exact, test_cost_cached,
          test_cost_over_the_wall_time, test_lite_sees_the_programs_mappings, test_attach_lite, test_lite_numpy_within_2pct,
          test_py_inlined_warning])
