#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A profile of tens of thousands of stacks, built fast after the exit and exact to the byte.

Ground truth: gt_stacks N makes N allocations through N distinct stacks. Allocation c goes
through d<digit> for each of the five decimal digits of c (most significant outermost), so
the function names of a stack spell c; it mallocs 16 + c % 1000 bytes and frees the block
when c % 3 == 0. Every one of the N sites is asserted: its allocated bytes and count, its
live bytes at the end and at the peak, the freed ones as temporary; and the totals.

75,000 stacks (TM_EXITFAST_STACKS=N for another number; the 6.1 guest takes 20,000, whose
JSON report TCG renders in a minute): the process owns the whole aggregates table, so its
stacks table is streamed in batches. 1,000 stacks: too few to stream, its stacks are looked
up one by one. Both paths must give the same exact numbers.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tmtest import OUT, WORKLOADS, check, eq, main, tidemark  # noqa: E402

STACKS = os.path.join(WORKLOADS, "gt_stacks")
TAG = f"exitfast{os.getpid()}"
MANY = int(os.environ.get("TM_EXITFAST_STACKS", "75000"))


def size(c):
    return 16 + c % 1000


def code(stack):
    """The c a gt_stacks stack spells, or None when it is not one of them."""
    names = [f["function"] for f in stack]
    if not names or names[0] != "site_leaf":
        return None
    digits = []
    for name in names[1:]:
        m = re.fullmatch(r"d(\d)", name or "")
        if not m:
            break
        digits.append(m.group(1))
    if len(digits) != 5:
        return None
    return int("".join(reversed(digits)))


def per_code(view, what):
    """{c: (bytes, count)} of one view; fails on a site seen twice or not a gt_stacks site."""
    out, other, twice = {}, [], []
    for s in view:
        c = code(s["stack"])
        if c is None:
            other.append([f["function"] for f in s["stack"]][:3])
        elif c in out:
            twice.append(c)
        else:
            out[c] = (s["bytes"], s["count"])
    eq(other[:5], [], f"{what}: sites that are not gt_stacks's")
    eq(twice[:5], [], f"{what}: stacks seen as two sites")
    return out


def run_and_check(n):
    cap = os.path.join(OUT, f"{TAG}_{n}.tdm")
    r = tidemark("run", "-v", "-o", cap, "--", STACKS, str(n), timeout=600)
    eq(r.returncode, 0, f"gt_stacks {n}: exit status ({r.stderr.strip()[-300:]})")
    # tens of thousands of sites in four views: minutes under TCG
    j = tidemark("report", "--format", "json", "-n", "0", cap, timeout=900)
    eq(j.returncode, 0, f"gt_stacks {n}: report ({j.stderr.strip()[-300:]})")
    d = json.loads(j.stdout)
    freed = [c for c in range(n) if c % 3 == 0]
    live = [c for c in range(n) if c % 3]
    t = d["totals"]
    eq((t["alloc_count"], t["alloc_bytes"], t["free_count"]), (n, sum(map(size, range(n))), len(freed)),
       f"gt_stacks {n}: allocations, bytes, frees")
    eq(t["live_bytes_end"], sum(map(size, live)), f"gt_stacks {n}: live at the end")
    # the peak: the live heap after each malloc, before the free that may follow it
    cur = top = top_at = 0
    for c in range(n):
        cur += size(c)
        if cur > top:
            top, top_at = cur, c
        if c % 3 == 0:
            cur -= size(c)
    eq(t["peak_bytes"], top, f"gt_stacks {n}: peak")
    eq(d["exact"], True, f"gt_stacks {n}: nothing dropped")

    v = d["views"]
    allocs = per_code(v["allocs"], f"gt_stacks {n} allocs")
    eq(len(allocs), n, f"gt_stacks {n}: one site per stack")
    bad = [c for c in range(n) if allocs.get(c) != (size(c), 1)]
    eq(bad[:5], [], f"gt_stacks {n}: sites whose allocated bytes and count are not 16 + c % 1000, 1")
    leaks = per_code(v["leaks"], f"gt_stacks {n} leaks")
    eq(sorted(leaks), live, f"gt_stacks {n}: the leaking sites are those of c % 3 != 0")
    bad = [c for c in live if leaks.get(c) != (size(c), 1)]
    eq(bad[:5], [], f"gt_stacks {n}: leaked bytes and count")
    peak = per_code(v["peak"], f"gt_stacks {n} peak")
    at_peak = {c: (size(c), 1) for c in range(top_at + 1) if c % 3 or c == top_at}
    eq(peak, at_peak, f"gt_stacks {n}: the peak view is what was live after allocation {top_at}")
    temp = per_code(v["temporary"], f"gt_stacks {n} temporary")
    eq(temp, {c: (size(c), 1) for c in freed}, f"gt_stacks {n}: the freed blocks are temporary")
    return r.stderr


def test_many_stacks_streamed():
    """75,000 stacks: every site exact; the stacks table streamed, each frame symbolized once."""
    err = run_and_check(MANY)
    m = re.search(r"pid \d+: (\d+) sites \(of (\d+) in the table, read in batches\), their stacks streamed, "
                  r"(\d+) distinct frames", err)
    check(m, "-v says the sites were read in batches and the stacks streamed")
    if m:
        eq(int(m.group(1)), MANY, "-v: the process's sites")
        # site_leaf, d0-d9 from the bottom and from above, main, libc's start: a few dozen, not 525,000
        check(int(m.group(3)) < 64, f"-v: {m.group(3)} distinct frames symbolized")


def test_few_stacks_looked_up():
    """1,000 stacks (under the streaming threshold): looked up one by one, the same exact numbers."""
    err = run_and_check(1000)
    check(re.search(r"pid \d+: 1000 sites \(of \d+ in the table, read in batches\), their stacks looked up",
                    err), "-v says the stacks were looked up")


if __name__ == "__main__":
    main([test_many_stacks_streamed, test_few_stacks_looked_up])
