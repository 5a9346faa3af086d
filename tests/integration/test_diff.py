# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`tidemark diff`: two runs of gt_alloc, one call site changed (site_peak 1 MB -> 2 MB).

The diff must show exactly that site, in every view where it counts, and nothing else."""
import os
import re

from tmtest import OUT, WORKLOADS, check, eq, main, tidemark

GT = os.path.join(WORKLOADS, "gt_alloc")


def captures():
    before, after = os.path.join(OUT, "diff_before.tdm"), os.path.join(OUT, "diff_after.tdm")
    eq(tidemark("run", "-q", "-o", before, "--", GT).returncode, 7, "before: gt_alloc exits 7")
    eq(tidemark("run", "-q", "-o", after, "--", GT, "--grow-peak").returncode, 7, "after: exits 7")
    return before, after


ROW = re.compile(r"^\s+([+-][\d,]+)\s+([\d,]+)\s+([\d,]+)\s+(\S+)\s+(\S+)")


def changed_rows(text):
    """(change, before, after, innermost function) for each listed stack."""
    rows = []
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            rows.append(tuple(int(g.replace(",", "")) for g in m.groups()[:3]) + (m.group(5),))
    return rows


def test_one_site_changed():
    before, after = captures()
    for view, changed in (("peak", True), ("allocs", True), ("temporary", True), ("leaks", False)):
        r = tidemark("diff", "--view", view, "-n", "0", before, after)
        eq(r.returncode, 0, f"{view}: diff exits 0 ({r.stderr.strip()})")
        rows = changed_rows(r.stdout)
        if changed:
            eq(rows, [(1000000, 1000000, 2000000, "site_peak")], f"{view}: exactly site_peak grew by 1 MB")
            check("1 stack grew, 0 shrank," in r.stdout, f"{view}: one stack grew, none shrank")
        else:
            eq(rows, [], f"{view}: site_peak is freed: nothing changed among leaks")
            check("0 stacks grew, 0 shrank," in r.stdout, f"{view}: nothing grew or shrank")
    r = tidemark("diff", before, after)
    check(re.search(r"peak_bytes\s+1,160,144 ->\s+2,160,144\s+\+1,000,000\s+\+86\.2%", r.stdout),
          "the totals line: peak 1,160,144 -> 2,160,144 (+86.2%)")

    # The same diff as a flame graph page: the grown frame is in its data.
    page = os.path.join(OUT, "diff.html")
    r = tidemark("diff", "--format", "flamegraph", "-o", page, before, after)
    eq(r.returncode, 0, f"flamegraph diff exits 0 ({r.stderr.strip()})")
    html = open(page, encoding="utf-8").read()
    check("site_peak" in html and "<script" in html, "the diff page carries the stacks")

    # Bad input: one line, non-zero.
    r = tidemark("diff", before)
    check(r.returncode != 0 and "two capture files" in r.stderr and r.stderr.count("\n") == 1,
          f"one file is refused: {r.stderr!r}")
    r = tidemark("diff", before, "/nonexistent.tdm")
    check(r.returncode != 0 and "/nonexistent.tdm" in r.stderr and r.stderr.count("\n") == 1,
          f"a missing capture is named: {r.stderr!r}")
    r = tidemark("diff", "--format", "pprof", before, after)
    check(r.returncode == 2 and "text or flamegraph" in r.stderr, f"bad format: {r.stderr!r}")


if __name__ == "__main__":
    main([test_one_site_changed])
