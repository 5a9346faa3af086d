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
        peak_line, peak_src = next((i, l.strip()) for i, l in enumerate(f, 1) if "void *site_peak(" in l)
    for want in ["view peak total 1,160,144 B", f"view leaks total {leaks:,} B", f"view allocs total {allocs:,} B",
                 f"tooltip: site_peak / tests/workloads/gt_alloc.c:{peak_line}  \u00b7  gt_alloc / {peak_src} / ",
                 "976.6 KiB  (1,000,000 B)", "of all / 86.2%",
                 "zoomed to site_peak, crumbs: all  \u203a  __libc_start_call_main  \u203a  main  \u203a  site_peak",
                 "flame drawn 4", "icicle drawn 4", "reset to all",
                 "search: matched 976.6 KiB (1,000,000 B), 86.2% of peak in 1 frame"]:
        check(want in selftest, f"selftest shows {want!r}: {selftest!r}")
    eq(embedded(html)["source"].get(str(next(i for i, f in enumerate(frames) if f[1] == "site_peak"))), peak_src,
       "the page carries site_peak's source line, read when it was made")
    screenshot(html, os.path.join(OUT, "flamegraph.png"))


def opened_on(html, size=(1400, 900)):
    """(label, x, y, w, h, window w, window h) of the frame the page opened on, as the page measured it."""
    dom, _ = chromium(html, "--dump-dom", f"--window-size={size[0]},{size[1]}")
    status = element_text(dom, "tm-status")
    m = re.search(r"opened on (.*) at (-?\d+),(-?\d+),(\d+),(\d+) in a (\d+)x(\d+) window, the graph scrolled "
                  r"(\d+) px", status)
    check(status.endswith("errors: 0"), f"no script errors: {status!r}")
    return (m.group(1), *map(int, m.groups()[1:])) if m else None, dom


def frame_label(f):
    """The page's label of a frame (frameLabel in flamegraph.html)."""
    if f[0] == 1:
        return f"{f[1] or '<unknown>'} ({f[2] or '<unknown>'}{':' + str(f[3]) if f[3] else ''})"
    return f[1] or f"{f[5] or '0x?'}{' (' + os.path.basename(f[4]) + ')' if f[4] else ''}"


DEEP = """import sys
sys.setrecursionlimit(10000)
held = []
def deep_import_chain(n):
    if n:
        return deep_import_chain(n - 1)
    held.extend(bytes(64) + bytes([k % 256]) for k in range(2000))  # L_SMALL
def nested(n):
    if n:
        return nested(n - 1)
    held.append(bytearray(64 << 20))  # L_BIG
deep_import_chain(110)
nested(45)
"""


def test_opens_on_the_largest_path():
    """A Python program whose small allocations sit under a 110-deep stack (as numpy's imports do) and
    whose 64 MiB one is 45 frames down: at 1400x900 the page opens with that frame on the screen."""
    need_chromium()
    work = os.path.join(OUT, f"flame-deep-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    prog, cap, html = os.path.join(work, "deep.py"), os.path.join(work, "deep.tdm"), os.path.join(work, "deep.html")
    open(prog, "w").write(DEEP)
    big = next(i for i, l in enumerate(DEEP.split("\n"), 1) if "L_BIG" in l)
    r = tidemark("run", "-q", "-o", cap, "--", "/usr/bin/python3", prog)
    eq(r.returncode, 0, f"the deep program runs traced ({r.stderr[-300:]})")
    r = tidemark("report", "--format", "flamegraph", "-o", html, cap)
    eq(r.returncode, 0, "its flame graph")
    d = embedded(html)
    depth = max(len(s[0]) for s in d["sites"])
    check(depth >= 40, f"the deepest stack is {depth} frames")
    top = max(d["sites"], key=lambda s: s[2])
    check(top[2] >= 64 << 20 and any(d["frames"][k][3] == big for k in top[0]),
          f"the largest site at the peak is the 64 MiB bytearray of line {big}")
    got, dom = opened_on(html)
    check(got is not None, "the page says what it opened on")
    if got:
        label, x, y, w, h, ww, wh, scrolled = got
        check(scrolled > 0, f"the graph is taller than the window: the page scrolled it {scrolled} px to the frame")
        eq(label, frame_label(d["frames"][top[0][-1]]), "it opened on that stack's innermost frame (the most bytes of its own)")
        check(0 <= x and x + w <= ww and 0 <= y and y + h <= wh,
              f"that frame's rectangle {x},{y},{w},{h} is inside the {ww}x{wh} window, no scrolling")
        check(ww == 1400 and 700 <= wh <= 900, f"the window is 1400x900 less the browser's own bars: {ww}x{wh}")
    screenshot(html, os.path.join(work, "deep.png"))
    # the gt_alloc page too: site_peak on the screen as it opens
    gcap, gt = os.path.join(work, "gt.tdm"), os.path.join(work, "gt.html")
    if tidemark("run", "-q", "-o", gcap, "--", GT).returncode == 7 and \
            tidemark("report", "--format", "flamegraph", "-o", gt, gcap).returncode == 0:
        got, _ = opened_on(gt)
        check(got and got[0] == "site_peak" and 0 <= got[2] and got[2] + got[4] <= got[6] and got[7] == 0,
              f"gt_alloc's page opens with site_peak in the window: {got}")


def test_header_of_an_oom_capture():
    """The page's header says OOM-killed, by which signal, in which cgroup with which limit."""
    need_chromium()
    if not os.access(GEN, os.X_OK):
        skip(f"{os.path.relpath(GEN, ROOT)} is not built (make test builds it)")
    cap, html = os.path.join(OUT, "flame_oom.tdm"), os.path.join(OUT, "flame_oom.html")
    r = subprocess.run([GEN, "strings", cap], capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, f"gen_profile strings ({r.stderr.strip()})")
    r = tidemark("report", "--format", "flamegraph", "-o", html, cap)
    eq(r.returncode, 0, "its flame graph")
    dom, _ = chromium(html, "--dump-dom", "--window-size=1400,900")
    fate = re.search(r'<span class="badge bad" id="tm-fate">(.*?)</span>', dom, re.S)
    check(fate is not None, "the header has a fate badge")
    if fate:
        # gen_profile: OOM at 1.2 s, cgroup "/kubepods/pod\n</script>", usage 1,073,700,000 of 1 GiB
        eq(fate.group(1), "OOM-killed at 1.200 s: cgroup /kubepods/pod\n&lt;/script&gt; at 1.0 GiB of its 1.0 GiB limit",
           "the badge: when, which cgroup, its usage and limit")
    check("OOM-killed, killed by signal 9 (SIGKILL)" in dom, "the status says OOM-killed and the signal")
    check("(limit 1.0 GiB)" in dom, "the cgroup fact gives its limit")
    check(element_text(dom, "tm-status").endswith("errors: 0"), "no script errors")


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
    main([test_gt_alloc_page, test_opens_on_the_largest_path, test_header_of_an_oom_capture, test_100k_stacks,
          test_diff_page])
