# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Python ground truth (issue #3) on every CPython present: the peak's lines, the leak's line,
threads (one in a GIL-releasing C call), an exit right after the peak, run and attach; objects
through CPython's own allocators (--trace-python-allocators)."""
import glob
import os
import signal
import subprocess

from tmtest import OUT, ROOT, TIDEMARK, check, eq, main, report_json, skip, tidemark

WL = os.path.join(ROOT, "tests", "workloads")
MB = 1_000_000


DEBIAN = "3.11 (Debian, static)"


def interpreters():
    # TM_PYTHONS=debian,3.8,3.13: Debian's python3.11 and those pyenv versions only
    # (the kernel matrix's share: TCG is slow)
    want = [v for v in os.environ.get("TM_PYTHONS", "").split(",") if v]
    key = lambda n: "debian" if n == DEBIAN else n.split()[0]
    found = [(n, p) for n, p in all_interpreters() if not want or key(n) in want]
    if want and not found:
        skip(f"none of TM_PYTHONS={','.join(want)} is installed")
    return found


def all_interpreters():
    found = []
    for minor in range(8, 14):
        hits = sorted(glob.glob(f"/root/.pyenv/versions/3.{minor}.*/bin/python3.{minor}"))
        if hits:
            found.append((f"3.{minor} (pyenv)", hits[-1]))
    if os.path.exists("/usr/bin/python3.11"):
        found.append((DEBIAN, "/usr/bin/python3.11"))
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
        # a warning may come first (Debian's LTO python3.11 inlines PyObject_Malloc): until "attached"
        lines = []
        while not lines or ("attached" not in lines[-1] and lines[-1] and len(lines) < 20):
            lines.append(tm.stderr.readline())
        check("attached" in lines[-1], f"{name}: attach announces itself: {lines!r}")
        if "inlines PyObject_Malloc" in "".join(lines):
            print(f"    measured: {name}: warned before attaching that it inlines PyObject_Malloc")
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


def line_total(view, path, line):
    """(bytes, count, allocators) of the sites whose innermost frame in path is at line."""
    ss = [s for s in view if py_lines(s, path) and py_lines(s, path)[0][0] == line]
    return sum(s["bytes"] for s in ss), sum(s["count"] for s in ss), {s["allocator"] for s in ss}


def check_objects(d, name, how):
    path = os.path.join(WL, "py_objects.py")
    L = marker_lines(path)
    allocs, leaks = d["views"]["allocs"], d["views"]["leaks"]
    what = f"{name} {how}"
    eq(line_total(leaks, path, L["L_SMALL"]), (20_000 * 133, 20_000, {"PyObject_Malloc"}),
       f"{what}: line {L['L_SMALL']} holds its 20,000 bytes objects of 133 bytes, and no arena")
    eq(line_total(leaks, path, L["L_BIG"]), (1_000 * 1033, 1_000, {"PyObject_Malloc"}),
       f"{what}: line {L['L_BIG']}'s 1,000 objects of 1,033 bytes count once, though malloc serves them")
    eq(line_total(allocs, path, L["L_TEMP"]), (5_000 * 233, 5_000, {"PyObject_Malloc"}),
       f"{what}: line {L['L_TEMP']} allocated 5,000 objects of 233 bytes")
    # The item array: PyMem_Calloc (3.8-3.11) or PyMem_Malloc (3.12+). Debian's LTO build inlines
    # PyMem_* into its callers, so there only the malloc() pymalloc hands it to is seen.
    item_kinds = ("PyMem_Malloc", "PyMem_Calloc") + (("malloc", "calloc") if name == DEBIAN else ())
    lst = [s for s in leaks if py_lines(s, path) and py_lines(s, path)[0][0] == L["L_LIST"]
           and s["allocator"] in item_kinds]
    eq([(s["bytes"], s["count"]) for s in lst], [(8 * 20_000, 1)], f"{what}: line {L['L_LIST']}'s item array")
    check(d["stats"]["nested"] > 0, f"{what}: calls inside traced ones were seen and not counted")
    drops = {k: v for k, v in d["dropped"].items() if v}
    b, c, kinds = line_total(leaks, path, L["L_TEMP"])
    if name == DEBIAN:
        # Its LTO build inlines PyObject_Malloc/Free into ~200 callers. Uprobes cannot see those
        # calls; the report must say so (the drops) rather than show a wrong heap silently.
        if how == "run":
            check(drops.get("py_arena_untraced", 0) >= 1, f"{what}: the inlined allocator is reported: {drops}")
        # attach cannot tell those from frees of objects made before it: counted apart there
        unseen = drops.get("free_unmatched", 0) + d["stats"].get("freed_before_attach", 0)
        check(unseen + drops.get("addr_reused", 0) >= 1, f"{what}: frees on inlined paths are reported: {drops}")
        check(kinds == {"PyObject_Malloc"} and 1 <= c <= 2 and b == 233 * c,
              f"{what}: line {L['L_TEMP']}: the last one is live, and at most one whose free was inlined: {c}")
    else:
        eq((b, c, kinds), (233, 1, {"PyObject_Malloc"}),
           f"{what}: line {L['L_TEMP']}: the last one is live, PyObject_Free took the others")
        if how == "run":
            eq(drops, {}, f"{what}: probed from the first instruction, nothing lost")
        else:
            eq(drops.get("py_arena_untraced", 0), 0, f"{what}: every arena came from a traced call")


def test_python_allocators_run():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    path = os.path.join(WL, "py_objects.py")
    L = marker_lines(path)
    for name, py in pys:
        cap = os.path.join(OUT, f"py_objects_{os.path.basename(py)}_{len(name)}.tdm")
        r = tidemark("run", "-q", "--trace-python-allocators", "-o", cap, "--", py, path)
        eq(r.returncode, 0, f"{name}: run exit status ({r.stderr.strip()[:300]})")
        check_objects(report_json(cap), name, "run")

        # Without the option, the same lines: pymalloc's arenas, and malloc for the large objects.
        r = tidemark("run", "-q", "-o", cap, "--", py, path)
        d = report_json(cap)
        arena = 256 << 10 if name.startswith(("3.8", "3.9")) else 1 << 20
        # (3.8/3.9 also grow their table of arenas there with realloc.)
        b, c, kinds = line_total([s for s in d["views"]["leaks"] if s["allocator"] != "realloc"], path,
                                 L["L_SMALL"])
        check(kinds == {"mmap"} and b and b % arena == 0,
              f"{name} default: line {L['L_SMALL']} holds whole arenas: {b} bytes in {kinds}")
        eq(line_total(d["views"]["leaks"], path, L["L_BIG"]), (1_000 * 1033, 1_000, {"malloc"}),
           f"{name} default: line {L['L_BIG']} through malloc")


def test_python_allocators_attach():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    for name, py in pys:
        cap = os.path.join(OUT, f"py_objects_attach_{os.path.basename(py)}_{len(name)}.tdm")
        target = subprocess.Popen([py, os.path.join(WL, "py_objects.py"), "--wait"], stdout=subprocess.PIPE,
                                  text=True)
        eq(target.stdout.readline().strip(), "ready", f"{name}: target waits for SIGUSR1")
        tm = subprocess.Popen([TIDEMARK, "attach", "--trace-python-allocators", "-n", "0", "-p", str(target.pid),
                               "-o", cap], stderr=subprocess.PIPE, text=True)
        # a warning may come first (Debian's LTO python3.11 inlines PyObject_Malloc): until "attached"
        lines = []
        while not lines or ("attached" not in lines[-1] and lines[-1] and len(lines) < 20):
            lines.append(tm.stderr.readline())
        check("attached" in lines[-1], f"{name}: attach announces itself: {lines!r}")
        if "inlines PyObject_Malloc" in "".join(lines):
            print(f"    measured: {name}: warned before attaching that it inlines PyObject_Malloc")
        target.send_signal(signal.SIGUSR1)
        target.wait(timeout=60)
        tm.communicate(timeout=60)
        check_objects(report_json(cap), name, "attach")


def test_numpy():
    py = "/usr/bin/python3.11"
    if not os.path.exists(py):
        skip("no Debian python3.11 (the numpy test uses it with python3-numpy)")
    if subprocess.run([py, "-c", "import numpy"], capture_output=True).returncode:
        skip(f"numpy is not importable by {py}: apt-get install python3-numpy")
    path = os.path.join(WL, "py_numpy_hybrid.py")
    L = marker_lines(path)
    cap = os.path.join(OUT, "py_numpy_hybrid.tdm")
    r = tidemark("run", "-q", "-o", cap, "--", py, path)
    eq(r.returncode, 0, f"numpy: run exit status ({r.stderr.strip()[:300]})")
    d = report_json(cap)
    for line, fn, want in ((L["L_ONES"], "f", 80_000_000), (L["L_EMPTY"], "g", 8_000_000)):
        for view in ("allocs", "leaks"):
            # The frame of our file nearest the allocation (np.ones runs numeric.py's ones() first).
            ss = [s for s in d["views"][view] if py_lines(s, path) and py_lines(s, path)[0] == (line, fn)]
            eq((sum(s["bytes"] for s in ss), sum(s["count"] for s in ss)), (want, 1),
               f"numpy {view}: line {line} in {fn}() holds exactly its array's data")
        site = next((s for s in d["views"]["leaks"] if py_lines(s, path) and py_lines(s, path)[0] == (line, fn)),
                    None)
        kinds = [f["kind"] for f in site["stack"]] if site else []
        npy = [i for i, f in enumerate(site["stack"] if site else [])
               if f["kind"] == "native" and "_multiarray_umath" in (f["module"] or "")]
        check(npy and "python" in kinds and npy[0] < kinds.index("python"),
              f"numpy: line {line}'s stack has numpy's C frame inside its Python frames: "
              f"{[(f['kind'], f['function'], f['module']) for f in site['stack']] if site else None}")


def test_shapes():
    """Generators, coroutines, __init__, recursion past the depth limit, non-ASCII names."""
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    path = os.path.join(WL, "py_shapes.py")
    uni = os.path.join(WL, "py_shapes_模块.py")
    L, U = marker_lines(path), marker_lines(uni)
    me = os.path.basename(path)

    def frames(site):
        return [(f["function"], f["line"], os.path.basename(f["file"] or "")) for f in site["stack"]
                if f["kind"] == "python"]

    for name, py in pys:
        cap = os.path.join(OUT, f"py_shapes_{os.path.basename(py)}_{len(name)}.tdm")
        r = tidemark("run", "-q", "-o", cap, "--", py, path)
        eq(r.returncode, 0, f"{name}: run exit status ({r.stderr.strip()[:300]})")
        d = report_json(cap)
        by_bytes = {s["bytes"]: s for s in d["views"]["leaks"] if s["count"] <= 2}
        init = "Holder.__init__" if name.startswith(("3.11", "3.12", "3.13")) else "__init__"
        want = {
            # both yields share a line and a stack: one site, two blocks
            2_000_005: [("gen", L["L_GEN"], me), ("consume", L["L_CONSUME"], me), ("<module>", None, me)],
            1_000_004: [("worker", L["L_ASYNC"], me), ("main_async", L["L_AWAIT"], me)],
            # 3.13's __init__ shim frame must not show between the two
            1_000_005: [(init, L["L_INIT"], me), ("make_holder", L["L_MAKE"], me), ("<module>", None, me)],
            1_000_007: [("größe_函数", U["L_UNI"], os.path.basename(uni)), ("<module>", L["L_CALL_UNI"], me)],
        }
        for size, chain in want.items():
            site = by_bytes.get(size)
            got = frames(site)[:len(chain)] if site else None
            got = [(f, ln if c[1] is not None else None, fi) for (f, ln, fi), c in zip(got, chain)] if got else None
            eq(got, chain, f"{name}: the {size}-byte site's innermost Python frames")
            check(site is not None and not site["truncated"], f"{name}: the {size}-byte site is whole")
        deep = by_bytes.get(1_000_006)
        fr = frames(deep) if deep else []
        check(deep is not None and deep["truncated"], f"{name}: 62 Python frames deep: marked truncated")
        eq(len(fr), 48, f"{name}: the deep site keeps 48 Python frames")
        eq(fr[:2], [("deep", L["L_DEEP"], me), ("deep", L["L_RECURSE"], me)], f"{name}: the deep site's innermost frames")
        check(all(f[0] == "deep" for f in fr), f"{name}: all 48 are deep()'s")


def test_code_reuse():
    """Code objects whose addresses new ones take at once: every allocation named after its own function."""
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    path = os.path.join(WL, "py_reuse.py")
    L = marker_lines(path)
    me = os.path.basename(path)
    for name, py in pys:
        cap = os.path.join(OUT, f"py_reuse_{os.path.basename(py)}_{len(name)}.tdm")
        r = tidemark("run", "-q", "-o", cap, "--", py, path)
        eq(r.returncode, 0, f"{name}: run exit status ({r.stderr.strip()[:300]})")
        words = r.stdout.split()
        rounds, reused = int(words[1]), int(words[3])
        # Without reuse this test would prove nothing.
        check(reused >= rounds, f"{name}: {reused} of {2 * rounds} code objects took a dead one's address")
        d = report_json(cap)
        sites = {s["bytes"]: s for s in d["views"]["leaks"] if s["count"] == 1}

        def frames(site):
            return [(f["function"], f["line"], os.path.basename(f["file"] or "")) for f in site["stack"]
                    if f["kind"] == "python"][:2] if site else None

        # f_kkk: its own file and first line, so names differ even where pointers coincide
        bad = [(k, frames(sites.get(3_000_000 + k))) for k in range(rounds)
               if frames(sites.get(3_000_000 + k)) != [(f"f_{k:03d}", k + 4, f"reuse_{k % 3}.py"),
                                                         ("call", L["L_CALL"], me)]]
        eq(bad[:3], [], f"{name}: {rounds} functions at reused addresses, each named after itself "
                        f"({len(bad)} wrong)")
        # g_kkk: the same shape, file and first line every round, only the name differs. 3.12+
        # numbers its code objects (co_version); before, a function at a dead one's address whose
        # name string also took the dead one's may share its fingerprint (python_common.h).
        bad = [(k, frames(sites.get(4_000_000 + k))) for k in range(rounds)
               if frames(sites.get(4_000_000 + k)) != [(f"g_{k:03d}", 2, "reuse_g.py"), ("call", L["L_CALL"], me)]]
        if name.startswith(("3.12", "3.13")):
            eq(bad[:3], [], f"{name}: {rounds} look-alike functions at reused addresses, each named after "
                            f"itself ({len(bad)} wrong)")
        else:
            print(f"    measured: {name}: look-alike functions named after a dead one: {len(bad)} of {rounds} "
                  f"(no co_version before 3.12)")


if __name__ == "__main__":
    main([test_peak_run, test_peak_attach, test_threads_and_exit_at_peak, test_python_allocators_run,
          test_python_allocators_attach, test_numpy, test_shapes, test_code_reuse])
