#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Lite mode names native callers: syscall stacks walked out of libc by its .eh_frame rows.

Debian's libc keeps no frame pointers, so a large malloc's mmap, seen at the syscall, used to
show as sysmalloc_mmap. Ground truth: gt_lite's known sites, traced with --mode lite (no uprobe
at all), are named as the program's own functions, at their own lines, with the bytes the kernel
mapped for them:
  site_first  malloc(16), the first: glibc's heap grows by brk, 135,168 bytes (33 pages)
  site_big    3 x malloc(1,000,000): 3 mmaps of 1,003,520 bytes (+16 header, page-rounded)
  site_grow_a malloc(300,000): an mmap of 303,104 bytes, then
  site_grow   realloc to 2,000,000: an mremap to 2,002,944 bytes, live at the end
and no walk stopped inside libc (the stats' unwind_stopped is 0). attach --mode lite finds the
running process's libc: gt_alloc's site_peak, malloc(1,000,000) after the attach, is one mmap of
1,003,520 bytes at site_peak.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tmtest import OUT, ROOT, TIDEMARK, WORKLOADS, by_site, check, eq, main, report_json, skip, tidemark  # noqa: E402

GT = os.path.join(WORKLOADS, "gt_lite")
TAG = f"unwind{os.getpid()}"
LIBC_FUNCS = re.compile(r"^(sysmalloc|_int_malloc|_int_realloc|malloc|realloc|mremap|mremap_chunk|"
                        r"__mmap|mmap|mmap64|sbrk|__sbrk|__brk|brk|__default_morecore|tcache_init)\b")


def line_of(text):
    return line_of_in("gt_lite.c", text)


def line_of_in(name, text):
    with open(os.path.join(ROOT, "tests", "workloads", name)) as f:
        for n, ln in enumerate(f, 1):
            if text in ln:
                return n
    raise AssertionError(f"{text!r} not in {name}")


def innermost(view):
    """{innermost function: (bytes, count, line, allocator)} of one view."""
    out = {}
    for s in view:
        f = s["stack"][0] if s["stack"] else {}
        out[f.get("function")] = (s["bytes"], s["count"], f.get("line"), s["allocator"])
    return out


def test_lite_names_the_callers():
    if os.geteuid() != 0:
        skip("loading BPF programs needs root")
    cap = os.path.join(OUT, f"{TAG}_run.tdm")
    r = tidemark("run", "--mode", "lite", "-o", cap, "--", GT)
    eq(r.returncode, 0, f"run --mode lite gt_lite: {r.stderr.strip()[-300:]}")
    d = report_json(cap)
    eq(d["mode"]["name"], "lite", "the capture is lite mode's")
    eq(d["stats"]["unwind_stopped"], 0, "no walk stopped inside libc")
    peak = innermost(d["views"]["peak"])
    allocs = innermost(d["views"]["allocs"])
    big, grow, first = (line_of("return malloc(1000000);"), line_of("return realloc(p, 2000000);"),
                        line_of("return malloc(16);"))
    eq(peak.get("site_big"), (3 * 1003520, 3, big, "mmap"), "site_big: 3 mmaps of 1,003,520 bytes, at its line")
    eq(peak.get("site_grow"), (2002944, 1, grow, "mremap"), "site_grow: the realloc's mremap to 2,002,944 bytes")
    eq(peak.get("site_first"), (135168, 1, first, "brk"), "site_first: the heap's first growth, 33 pages")
    eq(allocs.get("site_grow_a"), (303104, 1, line_of("return malloc(300000);"), "mmap"),
       "site_grow_a: the block realloc then moved, 303,104 bytes")
    eq((d["totals"]["peak_bytes"], d["totals"]["alloc_bytes"], d["totals"]["alloc_count"]),
       (3 * 1003520 + 2002944 + 135168, 3 * 1003520 + 2002944 + 135168 + 303104, 6),
       "the peak is those three sites; allocated, those and site_grow_a's")
    for view in ("peak", "allocs"):
        names = [s["stack"][0]["function"] for s in d["views"][view] if s["stack"]]
        check(not any(LIBC_FUNCS.match(n or "") for n in names), f"{view}: no site is libc's own: {names}")
    # the frame after each site is main's: the walk goes on through the program's frame pointers
    for s in d["views"]["peak"]:
        check(len(s["stack"]) >= 2 and s["stack"][1]["function"] == "main",
              f"{s['stack'][0]['function']}: its caller is main: {[f['function'] for f in s['stack'][:3]]}")


def test_loop_pairs_exact():
    """N malloc(1 MB)/free pairs: N mmaps of 1,003,520 bytes at site_loop, none left live."""
    if os.geteuid() != 0:
        skip("loading BPF programs needs root")
    n = 200
    cap = os.path.join(OUT, f"{TAG}_loop.tdm")
    r = tidemark("run", "--mode", "lite", "-o", cap, "--", GT, "--loop", str(n))
    eq(r.returncode, 0, f"run --mode lite gt_lite --loop: {r.stderr.strip()[-300:]}")
    d = report_json(cap)
    allocs = by_site(d["views"]["allocs"])
    # the first malloc sets up its thread cache on the heap, which grows by brk (135,168 bytes)
    # there, at site_loop too; every pair is then an mmap and a munmap
    eq(allocs.get("site_loop"), (n * 1003520 + 135168, n + 1), "site_loop: n mmaps and the heap's growth")
    eq(d["stats"]["unwind_stopped"], 0, "no walk stopped inside libc")
    eq(len(allocs), 1, f"nothing else: {allocs}")


def test_attach_lite_names_the_caller():
    if os.geteuid() != 0:
        skip("loading BPF programs needs root")
    cap = os.path.join(OUT, f"{TAG}_attach.tdm")
    target = subprocess.Popen([os.path.join(WORKLOADS, "gt_alloc"), "--wait"])
    time.sleep(0.2)
    tm = subprocess.Popen([TIDEMARK, "attach", "--mode", "lite", "-p", str(target.pid), "-o", cap, "-n", "0"],
                          stderr=subprocess.PIPE, text=True)
    line = tm.stderr.readline()
    check("attached to pid" in line, f"attach announces itself: {line!r}")
    target.send_signal(signal.SIGUSR1)
    eq(target.wait(timeout=60), 7, "gt_alloc's exit status")
    _, err = tm.communicate(timeout=60)
    eq(tm.returncode, 0, f"attach exit status ({err[-300:]})")
    d = report_json(cap)
    eq(d["stats"]["unwind_stopped"], 0, "no walk stopped inside libc")
    allocs = innermost(d["views"]["allocs"])
    eq(allocs.get("site_peak"), (1003520, 1, line_of_in("gt_alloc.c", "NOINLINE void *site_peak"), "mmap"),
       f"site_peak: its malloc's mmap, 1,003,520 bytes: {sorted(allocs)}")
    names = [s["stack"][0]["function"] for s in d["views"]["allocs"] if s["stack"]]
    check(not any(LIBC_FUNCS.match(n or "") for n in names), f"no site is libc's own: {names}")


if __name__ == "__main__":
    main([test_lite_names_the_callers, test_loop_pairs_exact, test_attach_lite_names_the_caller])
