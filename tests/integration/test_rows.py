# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""One row per printed stack, tables that hold `import numpy`, and drops that cannot be missed
(issue #12, items 3 and 4), on every CPython present (TM_PYTHONS selects, as in test_python.py)."""
import glob
import json
import os
import subprocess

from tmtest import OUT, ROOT, check, eq, main, report_json, skip, tidemark
from test_python import interpreters, marker_lines

WL = os.path.join(ROOT, "tests", "workloads")
ROWS = os.path.join(WL, "py_rows.py")
N = 1_000_000
# py_rows.py: line() is called 6 times through via_a, 4 through via_b, once from the module.
CALLS = {"L_A": 6, "L_B": 4, "L_TOP": 1}
NUMPY_CMD = "import numpy; a = bytearray(100_000_000)"


def printed(row):
    """What a row prints: its frames as the reports show them, and whether it was cut short."""
    return (row["truncated"], tuple((f["kind"], f["function"], f["file"], f["line"],
                                     os.path.basename(f["module"]) if f["module"] else None)
                                    for f in row["stack"]))


def report(cap, *opts):
    r = tidemark("report", "--format", "json", "-n", "0", *opts, cap)
    eq(r.returncode, 0, f"report {' '.join(opts)} exit status ({r.stderr.strip()[:200]})")
    return json.loads(r.stdout)


def py_chain(row, path):
    """The lines of path in a row's Python frames, innermost first."""
    base = os.path.basename(path)
    return tuple(f["line"] for f in row["stack"]
                 if f["kind"] == "python" and f["file"] and os.path.basename(f["file"]) == base)


def lead_line(row):
    """The line of a row's innermost Python frame (what a Python row leads with); None: none."""
    py = [f for f in row["stack"] if f["kind"] == "python"]
    return py[0]["line"] if py else None


def check_unique(d, what):
    for view, rows in d["views"].items():
        seen = [printed(r) for r in rows]
        eq(len(seen), len(set(seen)), f"{what}: every {view} row prints differently")


def test_one_row_per_line():
    pys = interpreters()
    if not pys:
        skip("no CPython 3.8-3.13 on this machine")
    L = marker_lines(ROWS)
    for name, py in pys:
        cap = os.path.join(OUT, f"rows_{os.getpid()}_{os.path.basename(py)}_{len(name)}.tdm")
        r = tidemark("run", "-q", "-o", cap, "--", py, ROWS)
        eq(r.returncode, 0, f"{name}: run exit status ({r.stderr.strip()[:200]})")
        hybrid, pyonly = report(cap), report(cap, "--python-only")
        check_unique(hybrid, f"{name} hybrid")
        check_unique(pyonly, f"{name} --python-only")
        for view in ("peak", "leaks", "allocs"):
            eq(sum(r["bytes"] for r in pyonly["views"][view]),
               sum(r["bytes"] for r in hybrid["views"][view]),
               f"{name}: {view} total the same with and without --python-only")
        for caller, calls in CALLS.items():
            chain_tail = (L["L_ROW"], L[caller])
            rows = [r for r in pyonly["views"]["peak"]
                    if py_chain(r, ROWS)[:2] == chain_tail and lead_line(r) == L["L_ROW"]]
            eq(len(rows), 1, f"{name}: --python-only: one peak row for line {L['L_ROW']} called from "
               f"{caller} (line {L[caller]})")
            if not rows:
                continue
            got = rows[0]
            # Three buffers a call (n+1, n+2 and n+2 plus the bytes object's header), and
            # nothing else of that size class at that line: at least 3N a call, and well
            # under a pymalloc arena more.
            check(calls * 3 * N <= got["bytes"] <= calls * 3 * N + calls * 512 + (1 << 20),
                  f"{name}: line {L['L_ROW']} via {caller}: {got['bytes']} bytes for {calls} calls")
            check(got["count"] >= 3 * calls,
                  f"{name}: line {L['L_ROW']} via {caller}: {got['count']} allocations >= {3 * calls}")
            # The hybrid rows with that Python chain add up to the --python-only row, exactly.
            hy = [r for r in hybrid["views"]["peak"]
                  if py_chain(r, ROWS)[:2] == chain_tail and lead_line(r) == L["L_ROW"]]
            eq(sum(r["bytes"] for r in hy), got["bytes"],
               f"{name}: via {caller}: hybrid rows sum to the --python-only row")
            eq(sum(r["count"] for r in hy), got["count"],
               f"{name}: via {caller}: hybrid counts sum to the --python-only row's")
        # The text report has the same rows, the same bytes.
        t = tidemark("report", "-n", "0", "--python-only", cap)
        eq(t.returncode, 0, f"{name}: text report exit status")
        lead = f"py_rows.py:{L['L_ROW']} line"
        text_rows = [ln for ln in t.stdout.splitlines() if ln.rstrip().endswith("]") and lead in ln]
        eq(len(text_rows), 3, f"{name}: the text report has 3 rows led by {lead}")
        want = sorted(r["bytes"] for r in pyonly["views"]["peak"]
                      if r["stack"] and r["stack"][0]["line"] == L["L_ROW"] and
                      os.path.basename(r["stack"][0]["file"] or "") == "py_rows.py")
        got_text = sorted(int(ln.split()[1].replace(",", "")) for ln in text_rows)
        eq(got_text, want, f"{name}: text and JSON give those rows the same bytes")
        # The run summary takes --python-only too, and merges the same way.
        s = tidemark("run", "--python-only", "-n", "3", "-o", cap + ".s", "--", py, ROWS)
        eq(s.returncode, 0, f"{name}: run --python-only exit status ({s.stderr.strip()[:200]})")
        check(s.stderr.count(lead) == 3, f"{name}: run --python-only summary: 3 rows led by {lead}")
        check("py_rows.py" in s.stderr and "[malloc" in s.stderr,
              f"{name}: the summary's rows say their allocators")


def heaptrack_peak(raw):
    """The peak of heaptrack's interpreted file: the running sum of '+'/'-' over 'a' sizes."""
    out = subprocess.run(["zstdcat", raw], capture_output=True, check=True).stdout
    sizes, live, peak = [], 0, 0
    for line in out.splitlines():
        if line.startswith(b"a "):
            sizes.append(int(line.split()[1], 16))
        elif line.startswith(b"+ "):
            live += sizes[int(line.split()[1], 16)]
            peak = max(peak, live)
        elif line.startswith(b"- "):
            live -= sizes[int(line.split()[1], 16)]
    return peak


def numpy_python():
    py = "/usr/bin/python3.11"
    if not os.path.exists(py):
        skip("no /usr/bin/python3.11 (Debian's python3 package)")
    if subprocess.run([py, "-c", "import numpy"], capture_output=True).returncode:
        skip("Debian's python3-numpy is not installed (make test-deps)")
    return py


def test_numpy_default_tables():
    py = numpy_python()
    env = dict(os.environ, PYTHONMALLOC="malloc")
    cap = os.path.join(OUT, f"rows_numpy_{os.getpid()}.tdm")
    r = tidemark("run", "-q", "-o", cap, "--", py, "-c", NUMPY_CMD, env=env, timeout=600)
    eq(r.returncode, 0, f"run exit status ({r.stderr.strip()[:200]})")
    d = report_json(cap)
    for k in ("stack_map_full", "agg_map_full", "alloc_map_full", "untracked_bytes"):
        eq(d["dropped"][k], 0, f"import numpy under PYTHONMALLOC=malloc: {k} with the default tables")
    eq(d["exact"], True, "JSON: every number exact")
    eq(d["lower_bounds"], [], "JSON: no lower bounds")
    check(d["stats"]["stacks_new"] > 65536,
          f"it needs more stacks than the old default held: {d['stats']['stacks_new']}")
    # The 100 MB line: bytearray's buffer, 100,000,001 bytes in one allocation, at <string>:1.
    rows = [s for s in d["views"]["peak"]
            if [f for f in s["stack"] if f["kind"] == "python"][:1] and
            [f for f in s["stack"] if f["kind"] == "python"][0]["file"] == "<string>"]
    check(any(s["bytes"] == 100_000_001 and s["count"] == 1 for s in rows),
          f"a peak row of <string>:1 holds bytearray's 100,000,001 bytes: "
          f"{sorted(s['bytes'] for s in rows)[-3:]}")
    t = tidemark("report", "--python-only", "-n", "1", cap)
    first = [ln for ln in t.stdout.splitlines() if ln.startswith("   1 ")]
    check(first and "<string>:1 <module>" in first[0] and "100,000,0" in first[0],
          f"--python-only: the first row is the 100 MB line: {first}")
    check("lower bound" not in t.stdout, "text: no lower bound stated")

    # heaptrack on the same run shape: its raw file is the oracle for the peak.
    ht = os.path.join(OUT, f"rows_numpy_{os.getpid()}.heaptrack")
    for f in glob.glob(ht + "*"):
        os.unlink(f)
    h = subprocess.run(["heaptrack", "-o", ht, py, "-c", NUMPY_CMD], env=env, capture_output=True,
                       text=True, timeout=600)
    eq(h.returncode, 0, f"heaptrack exit status ({h.stderr.strip()[-200:]})")
    raws = glob.glob(ht + "*.zst")
    if not raws:
        raise AssertionError(f"heaptrack wrote no .zst file: {h.stdout[-300:]}")
    want = heaptrack_peak(raws[0])
    got = d["totals"]["peak_bytes"]
    check(abs(got - want) <= want // 1000,
          f"peak {got} within 0.1% of heaptrack's {want} ({(got - want) * 100 / want:+.3f}%)")


def test_small_tables():
    """Tables forced small: the totals stay exact, and every report says what is a lower bound."""
    py = numpy_python()
    env = dict(os.environ, PYTHONMALLOC="malloc")
    cap = os.path.join(OUT, f"rows_small_{os.getpid()}.tdm")
    r = tidemark("run", "-q", "--max-stacks", "256", "--max-allocs", "1024", "-o", cap, "--",
                 py, "-c", NUMPY_CMD, env=env, timeout=600)
    eq(r.returncode, 0, f"run exit status ({r.stderr.strip()[:200]})")
    d = report_json(cap)
    dr = d["dropped"]
    check(dr["stack_map_full"] > 0 and dr["alloc_map_full"] > 0,
          f"both tables filled: stack_map_full {dr['stack_map_full']}, alloc_map_full {dr['alloc_map_full']}")
    eq(dr["agg_map_full"], 0, "the per-stack table always has room for a row of each stack")
    eq(d["exact"], False, "JSON: exact is false")
    flags = sorted(lb["flag"] for lb in d["lower_bounds"])
    eq(flags, ["--max-allocs", "--max-stacks"], "JSON: a lower bound per full table, with its flag")
    allocs = [lb for lb in d["lower_bounds"] if lb["flag"] == "--max-allocs"][0]
    eq(allocs["by_at_most_bytes"], dr["untracked_bytes"], "JSON: by at most the untracked bytes")
    eq(allocs["events"], dr["alloc_map_full"], "JSON: as many as were not tracked")
    check(allocs["by_at_most_bytes"] >= 100_000_001 - 1 or d["totals"]["peak_bytes"] >= 100_000_001,
          "the 100 MB buffer is either in the peak or in the bound")
    # A full table never changes the totals: every allocation is counted.
    check(d["totals"]["alloc_count"] > 200_000,
          f"alloc_count {d['totals']['alloc_count']} counts the untracked blocks too")
    # Frees of the untracked blocks are not free_unmatched.
    check(dr["free_untracked"] > 0, f"free_untracked {dr['free_untracked']}")
    check(dr["free_unmatched"] < dr["free_untracked"],
          f"free_unmatched {dr['free_unmatched']} is not the untracked blocks' frees ({dr['free_untracked']})")
    full_row = [s for s in d["views"]["allocs"]
                if s["stack"] and (s["stack"][0]["function"] or "").startswith("[stacks after the stack table")]
    eq(len(full_row), 1, "one row holds the allocations made after the stack table filled")
    t = tidemark("report", "-n", "1", cap)
    # The header wraps at 120 columns, a field's value going on 16 columns in: join it back.
    head = []
    for ln in t.stdout.splitlines():
        if head and ln.startswith(" " * 16) and ln.strip():
            head[-1] += " " + ln.strip()
        else:
            head.append(ln)
    head = head[:3]
    check(len(head) > 2 and head[1].startswith("  lower bound:  peak") and "--max-allocs" in head[1],
          f"text: the second line says the peak is a lower bound: {head[1:2]}")
    check(any("--max-stacks" in ln for ln in head[1:3]), "text: the rows' bound names --max-stacks")
    check("by at most" in head[1] and f"{dr['untracked_bytes']:,} bytes" in head[1],
          "text: by how much, in bytes")
    check("Not a loss: free_untracked" in t.stdout, "text: the untracked frees are said apart")


if __name__ == "__main__":
    main([test_one_row_per_line, test_numpy_default_tables, test_small_tables])
