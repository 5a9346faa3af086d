# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Python ground truth (issue #3) on every CPython present: the peak's lines, the leak's line,
threads (one in a GIL-releasing C call), an exit right after the peak, run and attach."""
import glob
import os
import signal
import subprocess

from tmtest import OUT, ROOT, TIDEMARK, check, eq, main, report_json, skip, tidemark

WL = os.path.join(ROOT, "tests", "workloads")
MB = 1_000_000


def interpreters():
    found = []
    for minor in range(8, 14):
        hits = sorted(glob.glob(f"/root/.pyenv/versions/3.{minor}.*/bin/python3.{minor}"))
        if hits:
            found.append((f"3.{minor} (pyenv)", hits[-1]))
    if os.path.exists("/usr/bin/python3.11"):
        found.append(("3.11 (Debian, static)", "/usr/bin/python3.11"))
    return found


def marker_lines(path):
    out = {}
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if "# L_" in line:
            out[line.split("# ")[1].split(":")[0].strip()] = n
    return out


def py_lines(site, path):
    """(line, function) of every Python frame of a site in the given file."""
    return [(f["line"], f["function"]) for f in site["stack"]
            if f["kind"] == "python" and f["file"] and f["file"].endswith(os.path.basename(path))]


def site_bytes(view, path, line):
    return sum(s["bytes"] for s in view if py_lines(s, path) and py_lines(s, path)[0][0] == line)


def check_peak(d, name, how):
    path = os.path.join(WL, "py_peak.py")
    L = marker_lines(path)
    true_peak = 350 * MB
    t = d["totals"]
    check(abs(t["peak_bytes"] - true_peak) <= 0.02 * true_peak,
          f"{name} {how}: peak_bytes {t['peak_bytes']} within 2% of {true_peak}")
    peak = d["views"]["peak"]
    a, b = site_bytes(peak, path, L["L_A"]), site_bytes(peak, path, L["L_B"])
    check(a >= 200 * MB and b >= 150 * MB, f"{name} {how}: line {L['L_A']} has {a}, line {L['L_B']} has {b} at the peak")
    check(a + b >= 0.99 * t["peak_bytes"] - 3 * MB, f"{name} {how}: >=99% of the peak on the two lines")
    eq(site_bytes(peak, path, L["L_C"]), 0, f"{name} {how}: the later, larger allocation is not in the peak")
    funcs = {fn for s in peak for ln, fn in py_lines(s, path) if ln == L["L_B"]}
    check(any(f in ("use_b",) for f in funcs), f"{name} {how}: line {L['L_B']} is in use_b: {funcs}")
    leak = site_bytes(d["views"]["leaks"], path, L["L_LEAK"])
    check(abs(leak - 100 * 100_000) <= 0.01 * 100 * 100_000, f"{name} {how}: the leak's line holds {leak}")
    check(not d["dropped"].get("py_unreadable"), f"{name} {how}: no unreadable Python stack")


def test_peak_run():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    for name, py in pys:
        cap = os.path.join(OUT, f"py_peak_{os.path.basename(py)}_{len(name)}.tdm")
        r = tidemark("run", "-q", "-o", cap, "--", py, os.path.join(WL, "py_peak.py"))
        eq(r.returncode, 0, f"{name}: run exit status ({r.stderr.strip()[:200]})")
        check_peak(report_json(cap), name, "run")


def test_peak_attach():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    for name, py in pys:
        cap = os.path.join(OUT, f"py_attach_{os.path.basename(py)}_{len(name)}.tdm")
        target = subprocess.Popen([py, os.path.join(WL, "py_peak.py"), "--wait"], stdout=subprocess.PIPE, text=True)
        eq(target.stdout.readline().strip(), "ready", f"{name}: target waits for SIGUSR1")
        tm = subprocess.Popen([TIDEMARK, "attach", "-n", "0", "-p", str(target.pid), "-o", cap],
                              stderr=subprocess.PIPE, text=True)
        line = tm.stderr.readline()
        check("attached" in line, f"{name}: attach announces itself: {line!r}")
        target.send_signal(signal.SIGUSR1)
        target.wait(timeout=60)
        tm.communicate(timeout=60)
        check_peak(report_json(cap), name, "attach")


def test_threads_and_exit_at_peak():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    path = os.path.join(WL, "py_threads.py")
    L = marker_lines(path)
    for name, py in pys:
        cap = os.path.join(OUT, f"py_threads_{os.path.basename(py)}_{len(name)}.tdm")
        r = tidemark("run", "-q", "-o", cap, "--", py, path)
        eq(r.returncode, 0, f"{name}: run exit status")
        d = report_json(cap)
        leaks = d["views"]["leaks"]
        for k in ("L_T1", "L_T2", "L_T3", "L_T4"):
            got = site_bytes(leaks, path, L[k])
            check(40 * MB <= got <= 40 * MB + 64, f"{name}: thread line {L[k]} ({k}) holds {got}")
        fn = {fn for s in leaks for ln, fn in py_lines(s, path) if ln == L["L_T4"]}
        eq(fn, {"t4"}, f"{name}: the GIL-released ctypes call is named after its thread's function")


if __name__ == "__main__":
    main([test_peak_run, test_peak_attach, test_threads_and_exit_at_peak])
