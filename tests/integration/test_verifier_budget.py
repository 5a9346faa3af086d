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
    "malloc_enter": (48900, 1450),            # 39077, 1313
    "calloc_enter": (49100, 1490),            # 39228, 1353
    "realloc_enter": (49200, 1540),           # 39332, 1395
    "reallocarray_enter": (98200, 1580),      # 78524, 1433
    "posix_memalign_enter": (48900, 1460),    # 39090, 1323
    "aligned_alloc_enter": (48900, 1450),     # 39079, 1315
    "memalign_enter": (48900, 1450),          # 39079, 1315
    "valloc_enter": (48900, 1450),            # 39079, 1315
    "pvalloc_enter": (48900, 1450),           # 39083, 1317
    "free_enter": (400, 160),                 # 260, 140
    "pyobject_malloc_enter": (48900, 1450),   # 39079, 1315
    "pyobject_calloc_enter": (49100, 1490),   # 39228, 1353
    "pyobject_realloc_enter": (49100, 1530),  # 39233, 1387
    "pymem_malloc_enter": (48900, 1450),      # 39079, 1315
    "pymem_calloc_enter": (49100, 1490),      # 39228, 1353
    "pymem_realloc_enter": (49100, 1530),     # 39233, 1387
    "pyfree_enter": (400, 160),               # 250, 137
    "pymalloc_free_enter": (400, 160),        # 250, 137
    "alloc_exit": (4000, 660),                # 3198, 596: a full allocs table still counts the allocation
    "tp_enter_mmap": (51600, 1540),           # 41203, 1398
    "tp_exit_mmap": (23300, 1940),            # 18629, 1763
    "tp_enter_munmap": (200, 80),             # 89, 70
    "tp_exit_munmap": (23300, 1940),          # 18629, 1763
    "tp_enter_mremap": (51400, 1500),         # 41041, 1362
    "tp_exit_mremap": (23300, 1940),          # 18629, 1763
    "tp_enter_brk": (51300, 1500),            # 41037, 1358
    "tp_exit_brk": (23300, 1940),             # 18629, 1763
    "tp_exec": (2000, 275),                   # 1593, 248 (daemon: arming, lost-notice counts)
    "tp_exit": (145, 124),                    # 116, 112 (daemon)
    "tp_oom_victim": (2100, 240),             # 1638, 210
    "tp_fork": (212, 196),                    # 169, 178 (a dead entry reported before reuse)
    "reap": (200, 170),                       # 130, 153
    "arm": (37, 28),                          # 29, 25 (probe sets go live at once)
    "hello": (8, 8),                          # 6, 7 (the loader's tgid, for the hold)
    "free_wrapper_enter": (400, 160),         # 254, 140 (allocators whose free is a wrapper)
    "syscall_wrapper_enter": (45, 42),        # 36, 38 (musl and tcmalloc mmap/sbrk wrappers)
}

LINE = re.compile(r"^bpf: (\S+)\s+(\d+) instructions verified,\s+(\d+) xlated$", re.M)


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


if __name__ == "__main__":
    main([test_every_program_within_budget])
