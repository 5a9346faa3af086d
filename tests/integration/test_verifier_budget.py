#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The verifier's instruction counts per BPF program, printed and held to a budget.

`tidemark run -v` and `tidemark daemon -v` (the same object with other
knobs) print, for every program they load,
the instructions the verifier walked (bpf_prog_info.verified_insns: the
complexity that approaches the kernel's 1M limit) and the instructions
it translated (xlated_prog_len / 8: what runs per event). Each must stay
within the budget below, set at 1.25x (verified) and 1.1x (xlated) of what
kernel 6.18 reported when it was last raised; a program without a budget
fails, so a new one is measured before it lands. Raise a budget in the same
commit as the change that needs it, and say why there.
"""
import os
import re

from tmtest import OUT, WORKLOADS, check, eq, main, skip, tidemark

# program: (verified budget, xlated budget)   # measured on 6.18: verified, xlated
BUDGET = {
    # every allocator entry, libc's and CPython's (the probe's cookie says which)
    "alloc_enter": (49900, 1660),             # 39894, 1509
    "alloc_exit": (4000, 660),                # 3198, 596: a full allocs table still counts the allocation
    "free_enter": (450, 180),                 # 355, 163 (every free, wrapper and CPython free)
    "syscall_wrapper_enter": (45, 42),        # 36, 38 (musl and tcmalloc mmap/sbrk wrappers)
    "tp_sys_enter": (52800, 1690),            # 42218, 1535 (mmap, munmap, mremap, brk)
    "tp_sys_exit": (25500, 2020),             # 20381, 1836
    "tp_exec": (2000, 275),                   # 1593, 248 (daemon: arming, lost-notice counts)
    "tp_exit": (145, 124),                    # 116, 112 (daemon)
    "tp_oom_victim": (2100, 260),             # 1654, 232
    "tp_fork": (212, 196),                    # 169, 178 (a dead entry reported before reuse)
    "reap": (200, 170),                       # 130, 153
    "arm": (37, 28),                          # 29, 25 (probe sets go live at once)
    "hello": (8, 8),                          # 6, 7 (the loader's tgid, for the hold)
}

# What one `tidemark run` verifies in all. Before the programs were shared
# (one per allocator function and syscall, 34 of them), a run verified 855,728
# instructions on 6.18; now 108,166 (7.9x fewer), and 33,140 with --no-python,
# which leaves the CPython walk (~37,000 of alloc_enter's and tp_sys_enter's)
# out of both. The budgets are 1.25x of those.
RUN_TOTAL_BUDGET = 135200
RUN_NO_PYTHON_TOTAL_BUDGET = 41400
# The programs a run loads: the allocator probes, CPython's included, share theirs.
RUN_PROGRAMS = {"alloc_enter", "alloc_exit", "free_enter", "syscall_wrapper_enter", "tp_sys_enter",
                "tp_sys_exit", "tp_exec", "tp_exit", "tp_oom_victim", "hello", "arm"}

LINE = re.compile(r"^bpf: (\S+)\s+(\d+) instructions verified,\s+(\d+) xlated$", re.M)
TOTAL = re.compile(r"^bpf: (\d+) programs loaded, (\d+) instructions verified in all, (\d+) xlated$", re.M)


def measured(stderr):
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in LINE.finditer(stderr)}


def test_every_program_within_budget():
    if os.geteuid() != 0:
        skip("loading BPF programs needs root")
    r = tidemark("run", "-v", "-o", os.path.join(OUT, "verifier.tdm"), "--", os.path.join(WORKLOADS, "gt_alloc"))
    eq(r.returncode, 7, f"run -v: gt_alloc's own exit status: {r.stderr[-300:]!r}")
    run = measured(r.stderr)
    r = tidemark("daemon", "-v", "-d", "0.5", "--comm", "no-such-proc")
    eq(r.returncode, 0, f"daemon -v: {r.stderr[-300:]!r}")
    daemon = measured(r.stderr)
    # the daemon's knobs make some programs longer: the larger count of the two is the one held
    progs = {n: tuple(max(a, b) for a, b in zip(run.get(n, (0, 0)), daemon.get(n, (0, 0))))
             for n in set(run) | set(daemon)}
    check(len(progs) >= len(BUDGET), f"every budgeted program was loaded and counted: {sorted(set(BUDGET) - set(progs))}")
    for name, (v, x) in sorted(progs.items()):
        print(f"    measured: {name:24s} {v:7d} verified (budget {BUDGET.get(name, (0, 0))[0]}), "
              f"{x:5d} xlated (budget {BUDGET.get(name, (0, 0))[1]})")
        if name not in BUDGET:
            check(False, f"{name} has no budget: add it to BUDGET with its measured counts")
            continue
        vb, xb = BUDGET[name]
        check(v <= vb, f"{name}: {v} instructions verified, budget {vb}")
        check(x <= xb, f"{name}: {x} instructions xlated, budget {xb}")


def run_v(*args):
    r = tidemark("run", "-v", *args, "-o", os.path.join(OUT, "verifier-total.tdm"), "--",
                 os.path.join(WORKLOADS, "gt_alloc"))
    eq(r.returncode, 7, f"run -v: gt_alloc's own exit status: {r.stderr[-300:]!r}")
    m = TOTAL.search(r.stderr)
    check(m is not None, f"run -v states the verifier's total: {r.stderr[-300:]!r}")
    return measured(r.stderr), m


def test_run_total_within_budget():
    if os.geteuid() != 0:
        skip("loading BPF programs needs root")
    progs, m = run_v()
    if not m:
        return
    # the total is the sum of the lines above it, and each program is loaded (verified) once
    eq(int(m.group(1)), len(progs), "programs counted in the total")
    eq(int(m.group(2)), sum(v for v, _ in progs.values()), "verified total = the programs' sum")
    eq(int(m.group(3)), sum(x for _, x in progs.values()), "xlated total = the programs' sum")
    expect = set(RUN_PROGRAMS)
    if "tp_oom_victim" not in progs:
        expect.discard("tp_oom_victim")   # before 6.8 its tracepoint does not pass the task
    eq(set(progs), expect, "the programs a run loads")
    print(f"    measured: run total {m.group(2)} verified (budget {RUN_TOTAL_BUDGET}; 855728 before sharing)")
    check(int(m.group(2)) <= RUN_TOTAL_BUDGET, f"run: {m.group(2)} instructions verified, budget {RUN_TOTAL_BUDGET}")
    check(int(m.group(2)) * 5 <= 855728, f"run: {m.group(2)} verified is 5x fewer than 855728")


def test_no_python_leaves_the_walk_out():
    if os.geteuid() != 0:
        skip("loading BPF programs needs root")
    with_py, m_py = run_v()
    without, m = run_v("--no-python")
    if not m or not m_py:
        return
    eq(set(without), set(with_py), "--no-python loads the same programs, only shorter")
    print(f"    measured: run --no-python total {m.group(2)} verified (budget {RUN_NO_PYTHON_TOTAL_BUDGET})")
    check(int(m.group(2)) <= RUN_NO_PYTHON_TOTAL_BUDGET,
          f"run --no-python: {m.group(2)} instructions verified, budget {RUN_NO_PYTHON_TOTAL_BUDGET}")
    check(without["alloc_enter"][0] * 10 < with_py["alloc_enter"][0],
          f"the CPython walk is out of alloc_enter: {without['alloc_enter']} vs {with_py['alloc_enter']}")


if __name__ == "__main__":
    main([test_every_program_within_budget, test_run_total_within_budget, test_no_python_leaves_the_walk_out])
