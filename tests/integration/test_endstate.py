# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The end of the program and what `attach` saw (issue #12, items 1 and 5), on every CPython present.

- A script that keeps 20 x 1 MiB in a module-level list and returns normally: the leaks view
  holds that line's 20 x 1,048,577 bytes (bytearray allocates one byte more), taken where
  CPython's finalization began; `--at-exit` shows the exit, after finalization freed it.
- The same ending with os._exit(0): no finalization, the exit is the end, the same bytes.
- A native program (gt_alloc): the exit, its leaks unchanged.
- A capture from before the end section existed still opens, and reads as the exit.
- attach to gt_preattach, which allocated 40 x 100,000 bytes before and frees 10 of them after:
  only what was allocated since is counted, the header and every view agree, the 10 frees
  are freed_before_attach and not drops, and what was live before is stated.
"""
import os
import signal
import struct
import subprocess
import zlib

from test_core import GT, KEPT
from test_python import interpreters, marker_lines, site_bytes
from tmtest import OUT, ROOT, TIDEMARK, WORKLOADS, by_site, check, eq, main, report_json, skip, tidemark

WL = os.path.join(ROOT, "tests", "workloads")
PY_END = os.path.join(WL, "py_end.py")
MiB = 1 << 20
KEEP = 20 * (MiB + 1)   # bytearray(n) asks for n + 1 bytes
PRE = os.path.join(WORKLOADS, "gt_preattach")


def cap_path(name):
    return os.path.join(OUT, f"endstate_{name}_{os.getpid()}.tdm")


def report_json_at_exit(capture):
    import json
    r = tidemark("report", "--format", "json", "-n", "0", "--at-exit", capture)
    if r.returncode != 0:
        raise AssertionError(f"report --at-exit failed: {r.stderr}")
    return json.loads(r.stdout)


def agree(d, what):
    """The header's figures are the views' totals."""
    t = d["totals"]
    eq(sum(s["bytes"] for s in d["views"]["leaks"]), t["live_bytes_end"], f"{what}: leaks view adds up to live_bytes_end")
    eq(sum(s["bytes"] for s in d["views"]["peak"]), t["peak_bytes"], f"{what}: peak view adds up to peak_bytes")
    eq(sum(s["bytes"] for s in d["views"]["allocs"]), t["alloc_bytes"], f"{what}: allocs view adds up to alloc_bytes")


def test_normal_return():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    line = marker_lines(PY_END)["L_KEEP"]
    for name, py in pys:
        cap = cap_path(f"ret_{os.path.basename(py)}_{len(name)}")
        r = tidemark("run", "-q", "-o", cap, "--", py, PY_END)
        eq(r.returncode, 0, f"{name}: run exit status ({r.stderr.strip()[:200]})")
        d = report_json(cap)
        eq(d["end"]["moment"], "finalization", f"{name}: the end is where finalization began")
        check(d["end"]["time_ns"] is not None and 0 < d["end"]["time_ns"] <= d["process"]["duration_ns"],
              f"{name}: the end's time lies within the run: {d['end']['time_ns']}")
        eq(site_bytes(d["views"]["leaks"], PY_END, line), KEEP, f"{name}: line {line} holds its 20 MiB at the end")
        agree(d, name)
        x = report_json_at_exit(cap)
        eq(x["end"]["moment"], "exit", f"{name}: --at-exit: the end is the exit")
        eq(site_bytes(x["views"]["leaks"], PY_END, line), 0, f"{name}: --at-exit: finalization freed line {line}")
        eq(x["totals"]["live_bytes_end"], d["end"]["live_bytes_exit"], f"{name}: --at-exit: live at the exit")
        check(d["totals"]["live_bytes_end"] - x["totals"]["live_bytes_end"] >= KEEP,
              f"{name}: finalization freed at least the list ({d['totals']['live_bytes_end']} -> "
              f"{x['totals']['live_bytes_end']})")
        agree(x, f"{name} --at-exit")
        txt = tidemark("report", "--view", "leaks", cap).stdout
        check("when CPython's finalization began" in txt and "live at exit:" in txt,
              f"{name}: the text says which moment the end was")


def test_os_exit():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    line = marker_lines(PY_END)["L_KEEP"]
    for name, py in pys:
        cap = cap_path(f"osexit_{os.path.basename(py)}_{len(name)}")
        r = tidemark("run", "-q", "-o", cap, "--", py, PY_END, "--os-exit")
        eq(r.returncode, 0, f"{name}: run exit status ({r.stderr.strip()[:200]})")
        d = report_json(cap)
        eq(d["end"], {"moment": "exit", "time_ns": None, "live_bytes_exit": d["totals"]["live_bytes_end"]},
           f"{name}: os._exit: no finalization, the end is the exit")
        eq(site_bytes(d["views"]["leaks"], PY_END, line), KEEP, f"{name}: os._exit: line {line} holds its 20 MiB")
        agree(d, f"{name} os._exit")


def test_native_unchanged():
    cap = cap_path("native")
    r = tidemark("run", "-q", "-o", cap, "--", GT)
    eq(r.returncode, 7, "gt_alloc's exit status")
    d = report_json(cap)
    eq(d["end"]["moment"], "exit", "a native program ends at its exit")
    leaks = by_site(d["views"]["leaks"])
    for site, want in KEPT.items():
        eq(leaks.get(site), want, f"native: {site} live at the end")
    eq(report_json_at_exit(cap)["views"], d["views"], "native: --at-exit changes nothing")
    agree(d, "native")


def strip_end_section(src, dst):
    """The capture as tidemark wrote it before the end section (tag 11, the last one of a run) existed."""
    raw = open(src, "rb").read()
    head, payload = raw[:32], zlib.decompress(raw[32:])
    for k in range(0, 1 << 20):
        n = 4 + 4 + 8 + 8 + 4 + 16 * k
        at = len(payload) - 12 - n
        if at < 0:
            break
        if struct.unpack_from("<IQ", payload, at) == (11, n):
            payload = payload[:at]
            break
    else:
        raise AssertionError("no end section at the end of the payload")
    body = zlib.compress(payload)
    head = head[:16] + struct.pack("<QI", len(payload), zlib.crc32(body)) + head[28:32]
    with open(dst, "wb") as f:
        f.write(head + body)


def test_old_capture():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    name, py = pys[-1]
    cap, old = cap_path("new"), cap_path("old")
    r = tidemark("run", "-q", "-o", cap, "--", py, PY_END)
    eq(r.returncode, 0, f"{name}: run exit status")
    strip_end_section(cap, old)
    d = report_json(old)
    eq(d["end"]["moment"], "exit", "an old capture's end is the exit, where its leaks were taken")
    eq(d, report_json_at_exit(cap), "an old capture reads as the new one does with --at-exit")
    eq(tidemark("report", old).returncode, 0, "an old capture renders as text")


def test_attach_preattach():
    if not os.access(PRE, os.X_OK):
        skip(f"{os.path.relpath(PRE, ROOT)} is not built (make all builds it)")
    cap = cap_path("attach")
    target = subprocess.Popen([PRE], stdout=subprocess.PIPE, text=True)
    tm = None
    try:
        eq(target.stdout.readline().strip(), "ready", "gt_preattach allocated its 40 blocks")
        tm = subprocess.Popen([TIDEMARK, "attach", "-n", "0", "-p", str(target.pid), "-o", cap],
                              stderr=subprocess.PIPE, text=True)
        line = tm.stderr.readline()
        check("attached to pid" in line, f"attach announces itself: {line!r}")
        target.send_signal(signal.SIGUSR1)
        eq(target.stdout.readline().strip(), "end", "gt_preattach freed and allocated")
        # the target lives on: tidemark is stopped first, the tables read while it runs
        tm.send_signal(signal.SIGINT)
        err = tm.communicate(timeout=60)[1]
        eq(tm.returncode, 0, f"attach exits 0 on Ctrl-C ({err.strip()[:200]})")
    finally:
        if tm and tm.poll() is None:
            tm.kill()
        target.send_signal(signal.SIGUSR1)
        target.wait(timeout=30)
    d = report_json(cap)
    t = d["totals"]
    eq(t["live_bytes_end"], 30 * 50000, "live: the 30 blocks of site_after, nothing from before")
    eq(t["peak_bytes"], 30 * 50000, "peak: since the attach")
    eq(t["alloc_bytes"], 20 * 10000 + 30 * 50000, "allocated since the attach")
    eq(by_site(d["views"]["leaks"]), {"site_after": (1500000, 30)}, "leaks view")
    eq(by_site(d["views"]["allocs"]), {"site_temp": (200000, 20), "site_after": (1500000, 30)}, "allocs view")
    check("site_before" not in by_site(d["views"]["allocs"]), "nothing allocated before the attach is counted")
    agree(d, "attach")
    eq(d["attach"]["freed_before_attach"], 10, "the 10 frees of blocks from before the attach")
    eq(d["stats"].get("freed_before_attach"), 10, "... among the stats")
    eq({k: v for k, v in d["dropped"].items() if v}, {}, "they are not drops")
    # RssAnon: 4,000,000 touched bytes and the process's own few pages; Linux before 6.2 folds
    # each thread's count into it every 64 page faults (SPLIT_RSS_COUNTING), so up to 64 pages short
    before = d["attach"]["live_before_bytes"]
    check(40 * 100000 - 64 * 4096 <= before <= 40 * 100000 + 2 * MiB,
          f"live before the attach: {before} resident anonymous bytes for 4,000,000 touched")
    txt = tidemark("report", cap).stdout
    check("only what was allocated since the attach is counted" in txt and "10 blocks allocated before it" in txt,
          "the text header says what attach counted")
    check("Dropped / not recorded: nothing dropped" in txt, "the text lists no drops")


if __name__ == "__main__":
    main([test_normal_return, test_os_exit, test_native_unchanged, test_old_capture, test_attach_preattach])
