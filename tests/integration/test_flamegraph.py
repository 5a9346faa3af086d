# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The flame graph page (issue #4) end to end: gt_alloc traced for real, rendered by
`tidemark report --format flamegraph`, then run in headless Chromium, whose DOM dump must
show what the page's own JavaScript computed; a synthetic capture of 100,000 distinct
stacks (render times printed, never asserted); and a diff page with known changes.

The page writes #tm-status (what it drew, its timings, its error count) and, when opened
as page.html#tm-selftest, #tm-selftest (views, tooltip, zoom, icicle, search, driven
through their event handlers). Screenshots are kept in tests/out/."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from tmtest import OUT, ROOT, WORKLOADS, check, eq, main, report_json, skip, tidemark

GT = os.path.join(WORKLOADS, "gt_alloc")
GEN = os.path.join(ROOT, ".output", "tests", "gen_profile")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def need_chromium():
    if not os.access(CHROMIUM, os.X_OK):
        skip("chromium is not installed (Debian package chromium; `make test` installs it)")


def chromium(html, *args, fragment=""):
    """Run headless Chromium on a file in a fresh profile; returns (stdout, seconds)."""
    with tempfile.TemporaryDirectory(prefix="tm-chromium-") as profile:
        t0 = time.monotonic()
        r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args,
                            "file://" + os.path.abspath(html) + fragment],
                           capture_output=True, text=True, timeout=300)
        took = time.monotonic() - t0
    if r.returncode != 0:
        raise AssertionError(f"chromium exited {r.returncode}: {r.stderr[-800:]}")
    return r.stdout, took


def element_text(dom, elem_id):
    m = re.search(r'<div id="%s">(.*?)</div>' % elem_id, dom, re.S)
    return re.sub(r"<[^>]+>", "", m.group(1)) if m else ""


def embedded(html_path):
    html = open(html_path, encoding="utf-8").read()
    m = re.search(r'<script type="application/json" id="tm-data">(.*?)</script', html, re.S)
    return json.loads(m.group(1))


def screenshot(html, png):
    if os.path.exists(png):
        os.unlink(png)
    chromium(html, f"--screenshot={png}", "--window-size=1400,900")
    ok = os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    check(ok, f"screenshot written: {png}")
    if ok:
        print(f"    screenshot: {os.path.relpath(png, ROOT)}")


def test_gt_alloc_page():
    need_chromium()
    cap = os.path.join(OUT, "gt_flame.tdm")
    html = os.path.join(OUT, "gt_flame.html")
    r = tidemark("run", "-q", "-o", cap, "--", GT)
    eq(r.returncode, 7, "gt_alloc runs traced")
    r = tidemark("report", "--format", "flamegraph", "-o", html, cap)
    eq((r.returncode, r.stdout, r.stderr), (0, "", ""), "report -o writes the file and nothing else")
    page = open(html, encoding="utf-8").read()
    r = tidemark("report", "--format", "flamegraph", cap)
    check(r.returncode == 0 and r.stdout == page, "without -o the same page goes to stdout")

    # The data the page carries agrees with the JSON report, view by view.
    d, rep = embedded(html), report_json(cap)
    eq(d["totals"]["peak_bytes"], 1160144, "embedded peak_bytes")
    for i, view in enumerate(["peak", "leaks", "allocs"]):
        eq(sum(s[2 + 2 * i] for s in d["sites"]), sum(s["bytes"] for s in rep["views"][view]),
           f"embedded {view} bytes add up as in the JSON report")
    frames = d["frames"]
    peak_sites = [s for s in d["sites"] if s[0] and frames[s[0][-1]][1] == "site_peak"]
    eq([s[2] for s in peak_sites], [1000000], "site_peak's 1,000,000 bytes at the peak, innermost last")

    dom, took = chromium(html, "--dump-dom", fragment="#tm-selftest")
    status, selftest = element_text(dom, "tm-status"), element_text(dom, "tm-selftest")
    print(f"    page: {status}")
    check("view peak: total 1,160,144 B in 14 stacks" in status, f"the page's peak total: {status!r}")
    check("largest frame: site_peak 1,000,000 B" in status, f"the biggest frame as the page drew it: {status!r}")
    check(status.endswith("errors: 0"), f"no script errors: {status!r}")
    check('<ul id="tm-errors" hidden=""></ul>' in dom, "the error list is empty")
    check("no timeline in this capture" in dom, "a capture without samples says so in the chart")
    check("dropped free_unmatched: 4" in dom, "the nonzero drop is in the header")
    check("exited with code 7" in dom, "the exit status is in the header")
    leaks = sum(s["bytes"] for s in rep["views"]["leaks"])
    allocs = sum(s["bytes"] for s in rep["views"]["allocs"])
    # site_peak's line, as the workload's source has it now
    with open(os.path.join(ROOT, "tests/workloads/gt_alloc.c")) as f:
        peak_line = next(i for i, l in enumerate(f, 1) if "void *site_peak(" in l)
    for want in ["view peak total 1,160,144 B", f"view leaks total {leaks:,} B", f"view allocs total {allocs:,} B",
                 f"tooltip: site_peak / tests/workloads/gt_alloc.c:{peak_line}", "976.6 KiB  (1,000,000 B)", "of all / 86.2%",
                 "zoomed to site_peak, crumbs: all  \u203a  __libc_start_call_main  \u203a  main  \u203a  site_peak",
                 "icicle drawn 4", "reset to all",
                 "search: matched 976.6 KiB (1,000,000 B), 86.2% of peak in 1 frame"]:
        check(want in selftest, f"selftest shows {want!r}: {selftest!r}")
    screenshot(html, os.path.join(OUT, "flamegraph.png"))


def test_100k_stacks():
    need_chromium()
    if not os.access(GEN, os.X_OK):
        skip(f"{os.path.relpath(GEN, ROOT)} is not built (make test builds it)")
    cap = os.path.join(OUT, "stacks_100k.tdm")
    html = os.path.join(OUT, "stacks_100k.html")
    r = subprocess.run([GEN, "stacks", "100000", cap], capture_output=True, text=True, timeout=300)
    eq(r.returncode, 0, f"gen_profile stacks ({r.stderr.strip()})")
    t0 = time.monotonic()
    r = tidemark("report", "--format", "flamegraph", "-o", html, cap, timeout=300)
    took = time.monotonic() - t0
    eq(r.returncode, 0, f"report of 100,000 stacks ({r.stderr.strip()})")
    print(f"    measured: tidemark report --format flamegraph: {took:.3f} s for 100,000 stacks, "
          f"{os.path.getsize(html) / 1e6:.1f} MB of HTML")
    eq(len(embedded(html)["sites"]), 100000, "every stack is in the page")

    dom, wall = chromium(html, "--dump-dom")
    status = element_text(dom, "tm-status")
    m = re.search(r"timings: (.*?); errors", status)
    print(f"    measured: in Chromium, by the page: {m.group(1) if m else status} "
          f"({wall:.2f} s for chromium --dump-dom in all)")
    check("in 100,000 stacks" in status and "from 100,000 stacks" in status, f"all stacks merged: {status!r}")
    check(m is not None and "first render done" in m.group(1), "the page measured its own render")
    check(status.endswith("errors: 0"), f"no script errors: {status!r}")
    dom, _ = chromium(html, "--dump-dom", fragment="#tm-selftest")
    selftest = element_text(dom, "tm-selftest")
    check("zoomed to " in selftest and "search: matched" in selftest, f"controls work at 100k: {selftest[:300]!r}")
    check(element_text(dom, "tm-status").endswith("errors: 0"), "no script errors in the selftest")
    screenshot(html, os.path.join(OUT, "flamegraph_100k.png"))


def test_diff_page():
    need_chromium()
    if not os.access(GEN, os.X_OK):
        skip(f"{os.path.relpath(GEN, ROOT)} is not built (make test builds it)")
    html = os.path.join(OUT, "flamegraph_diff.html")
    r = subprocess.run([GEN, "diff", html], capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, f"gen_profile diff ({r.stderr.strip()})")
    dom, _ = chromium(html, "--dump-dom", fragment="#tm-selftest")
    status, selftest = element_text(dom, "tm-status"), element_text(dom, "tm-selftest")
    print(f"    page: {status}")
    check("largest growth: alloc_buf +600,000 B (#d7301f)" in status, f"the largest growth, full red: {status!r}")
    m = re.search(r"largest shrink: draw -350,000 B \(#(..)(..)(..)\)", status)
    check(m is not None and int(m.group(3), 16) > int(m.group(1), 16), f"the largest shrink, blue: {status!r}")
    check(status.endswith("errors: 0"), f"no script errors: {status!r}")
    check("before / 293.0 KiB  (300,000 B) / change / +585.9 KiB  (+200%)" in selftest,
          f"the tooltip gives before and change: {selftest!r}")
    check("peak 1.4 MiB (1,500,000 B) at 1.200 s" in dom, "the timeline marks the peak")
    check("dropped stack_unreadable: 2" in dom, "AFTER's nonzero drop is in the header")
    screenshot(html, os.path.join(OUT, "flamegraph_diff.png"))


if __name__ == "__main__":
    main([test_gt_alloc_page, test_100k_stacks, test_diff_page])
