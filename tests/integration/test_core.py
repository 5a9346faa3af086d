# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Core tracer ground truth: tests/workloads/gt_alloc.c's allocations, to the byte,
through `tidemark run` and `tidemark attach`; lifecycle; bad input."""
import ctypes
import os
import signal
import subprocess
import time

from tmtest import OUT, TIDEMARK, WORKLOADS, by_site, check, eq, main, report_json, skip, tidemark

GT = os.path.join(WORKLOADS, "gt_alloc")

# What gt_alloc.c keeps live at its peak (site -> bytes, blocks), and its totals.
KEPT = {
    "site_malloc": (1000, 1), "site_calloc": (3000, 1), "site_grow_b": (5000, 1),
    "site_shrink_b": (2000, 1), "site_realloc_null": (600, 1), "site_reallocarray": (1000, 1),
    "site_posix_memalign": (4096, 1), "site_aligned_alloc": (2048, 1), "site_memalign": (1536, 1),
    "site_valloc": (3000, 1), "site_pvalloc": (8192, 1), "site_mmap": (28672, 1),
    "site_leak": (100000, 1000),
}
PEAK = sum(b for b, _ in KEPT.values()) + 1000000
ALLOCS = {
    "site_churn": (6400000, 100000), "site_peak": (1000000, 1), "site_thread": (400000, 40),
    "site_shrink_a": (8000, 1), "site_zero_a": (700, 1), "site_grow_a": (500, 1),
}


def assert_ground_truth(d, how, timeline=True):
    """d: a JSON report of gt_alloc; timeline=False for a live report (the daemon's), which has none."""
    t = d["totals"]
    eq(PEAK, 1160144, "the test's own arithmetic")
    eq(t["peak_bytes"], PEAK, f"{how}: peak_bytes")
    peak = by_site(d["views"]["peak"])
    for site, want in KEPT.items():
        eq(peak.get(site), want, f"{how}: {site} at the peak")
    eq(peak.get("site_peak"), (1000000, 1), f"{how}: site_peak at the peak")
    check("site_churn" not in peak, f"{how}: 100k malloc/free pairs hold nothing at the peak")
    check("site_thread" not in peak, f"{how}: thread allocations came after the peak")
    eq(sum(b for b, _ in peak.values()), PEAK, f"{how}: the peak view adds up to peak_bytes")

    leaks = by_site(d["views"]["leaks"])
    for site, want in KEPT.items():
        eq(leaks.get(site), want, f"{how}: {site} live at the end")
    eq(leaks.get("site_thread"), (200000, 20), f"{how}: 4 threads x 5 blocks of 10,000 left")
    check("site_peak" not in leaks and "site_zero_a" not in leaks, f"{how}: freed blocks are not leaks")

    allocs = by_site(d["views"]["allocs"])
    for site, want in {**KEPT, **ALLOCS}.items():
        if site == "site_mmap":
            want = (40960 + 8192, 2)   # the partly and the wholly unmapped mapping
        eq(allocs.get(site), want, f"{how}: {site} allocated")
    check("site_child" not in allocs, f"{how}: the forked child's 5 MB is not the parent's")
    check(all(s["bytes"] != 5000000 for s in d["views"]["allocs"]), f"{how}: no 5 MB block anywhere")

    # Temporary (memray's definition): freed before the thread allocated again.
    temp = by_site(d["views"]["temporary"])
    eq(temp, {"site_churn": (6400000, 100000), "site_peak": (1000000, 1), "site_zero_a": (700, 1)},
       f"{how}: temporary allocations (the threads' blocks outlive their next malloc)")

    # The kernel's size classes: the workload's own, where nothing else of that size is made.
    sizes = {c["from"]: (c["count"], c["bytes"]) for c in d["sizes"]}
    eq(sizes.get(64), (101000, 6400000 + 100000), f"{how}: [64, 128): churn and leak blocks")
    eq(sizes.get(8192), (42, 400000 + 8192 + 8192), f"{how}: [8 KiB, 16 KiB): threads, pvalloc, mmap")
    eq(sizes.get(32768), (1, 40960), f"{how}: [32 KiB, 64 KiB): the mapping")
    eq(sizes.get(524288), (1, 1000000), f"{how}: [512 KiB, 1 MiB): the peak block")
    eq(sum(c for c, _ in sizes.values()), t["alloc_count"], f"{how}: every allocation in a size class")
    eq(sum(b for _, b in sizes.values()), t["alloc_bytes"], f"{how}: every byte in a size class")

    # glibc frees each exiting thread's tcache, which it allocated without malloc().
    # attach counts frees of blocks it never saw allocated apart (freed_before_attach): not losses.
    if d.get("attach"):
        eq({k: v for k, v in d["dropped"].items() if v}, {}, f"{how}: drops")
        eq(d["attach"]["freed_before_attach"], 4, f"{how}: the 4 tcache frees, apart from the drops")
    else:
        eq({k: v for k, v in d["dropped"].items() if v}, {"free_unmatched": 4}, f"{how}: drops")

    if not timeline:
        return
    # The timeline: never above the peak, and its last point is the heap at the end.
    tl = d["timeline"]
    check(len(tl["time_ns"]) >= 2, f"{how}: a timeline was sampled ({len(tl['time_ns'])} points)")
    check(all(h <= PEAK for h in tl["heap_bytes"]), f"{how}: no sample above the peak")
    check(tl["time_ns"] == sorted(tl["time_ns"]), f"{how}: samples in time order")
    if tl["heap_bytes"]:
        eq(tl["heap_bytes"][-1], t["live_bytes_end"], f"{how}: the last sample is the heap at the end")
    check(any(r > 0 for r in tl["rss_bytes"]), f"{how}: RSS was sampled")


def test_run_ground_truth():
    cap = os.path.join(OUT, "gt_run.tdm")
    r = tidemark("run", "-q", "-o", cap, "--", GT)
    eq(r.returncode, 7, "run exits with the child's status")
    eq(r.stderr, "", "run -q prints nothing")
    d = report_json(cap)
    eq(d["process"]["exit_code"], 7, "exit code in the report")
    assert_ground_truth(d, "run")


def test_attach_ground_truth():
    cap = os.path.join(OUT, "gt_attach.tdm")
    target = subprocess.Popen([GT, "--wait"])
    time.sleep(0.2)
    tm = subprocess.Popen([TIDEMARK, "attach", "-p", str(target.pid), "-o", cap, "-n", "0"],
                          stderr=subprocess.PIPE, text=True)
    line = tm.stderr.readline()
    check("attached to pid" in line, f"attach announces itself: {line!r}")
    target.send_signal(signal.SIGUSR1)
    eq(target.wait(timeout=60), 7, "target exit status")
    tm.wait(timeout=60)
    eq(tm.returncode, 0, "attach exit status")
    d = report_json(cap)
    eq(d["process"]["exit_code"], 7, "attach learns the exit code from the kernel")
    assert_ground_truth(d, "attach")


def test_killed_target_still_reports():
    cap = os.path.join(OUT, "gt_killed.tdm")
    r = tidemark("run", "-q", "-o", cap, "--", os.path.join(WORKLOADS, "gt_killed"))
    eq(r.returncode, 128 + 9, "run exits 128+SIGKILL")
    d = report_json(cap)
    eq(d["process"]["signal"], 9, "signal in the report")
    eq(by_site(d["views"]["leaks"]).get("site_doomed"), (12345, 1), "the victim's live block")
    eq(d["totals"]["live_bytes_end"], 12345, "live at the end")


def target_bytes(pid, fn):
    """First bytes of libc function fn as mapped in pid (0xcc where a uprobe sits)."""
    libc = ctypes.CDLL("libc.so.6")
    mine = ctypes.cast(getattr(libc, fn), ctypes.c_void_p).value

    def base(p):
        # a process just started may not have mapped libc yet (TCG guests are slow): wait for it
        for _ in range(200):
            with open(f"/proc/{p}/maps") as f:
                for line in f:
                    if line.rstrip().endswith("/libc.so.6"):
                        return int(line.split("-")[0], 16)
            time.sleep(0.05)
        raise AssertionError(f"pid {p} never mapped libc.so.6")
    addr = base(pid) + (mine - base("self"))
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.seek(addr)
        return f.read(16)


def test_sigkill_tracer_leaves_no_probe():
    target = subprocess.Popen([os.path.join(WORKLOADS, "gt_spin")])
    try:
        time.sleep(0.1)
        clean = target_bytes(target.pid, "malloc")
        tm = subprocess.Popen([TIDEMARK, "attach", "-p", str(target.pid), "-o", os.path.join(OUT, "spin.tdm")],
                              stderr=subprocess.PIPE, text=True)
        tm.stderr.readline()
        traced = target_bytes(target.pid, "malloc")
        eq(traced[0], 0xCC, "while traced, malloc's first byte is the uprobe's int3")
        tm.kill()
        tm.wait()
        time.sleep(0.2)
        eq(target_bytes(target.pid, "malloc"), clean, "after SIGKILL of tidemark, malloc is as it was")
        check(target.poll() is None, "the target lives on, undisturbed")
    finally:
        target.kill()
        target.wait()


def test_ctrl_c_on_attach_writes_report():
    target = subprocess.Popen([os.path.join(WORKLOADS, "gt_spin")])
    cap = os.path.join(OUT, "spin_int.tdm")
    try:
        tm = subprocess.Popen([TIDEMARK, "attach", "-n", "0", "-p", str(target.pid), "-o", cap],
                              stderr=subprocess.PIPE, text=True)
        check("attached to pid" in tm.stderr.readline(), "attach announces itself")
        time.sleep(1.0)
        tm.send_signal(signal.SIGINT)
        eq(tm.wait(timeout=30), 0, "attach exits 0 on Ctrl-C")
        d = report_json(cap)
        a = by_site(d["views"]["allocs"]).get("site_spin", (0, 0))
        check(a[1] > 50 and a[0] == 256 * a[1], f"site_spin allocations seen while attached: {a}")
        check(target.poll() is None, "the target lives on after detach")
        time.sleep(0.1)
        check(target_bytes(target.pid, "malloc")[0] != 0xCC, "detached: no int3 left")
    finally:
        target.kill()
        target.wait()


def one_line_error(r, words, what):
    lines = r.stderr.strip().splitlines()
    check(r.returncode != 0, f"{what}: non-zero exit (got {r.returncode})")
    check(len(lines) == 1, f"{what}: one line on stderr, got {lines}")
    check(all(w in r.stderr for w in words), f"{what}: {words} in {r.stderr!r}")


def test_bad_input():
    one_line_error(tidemark("attach", "-p", "999999"), ["pid 999999 not found"], "no such pid")
    one_line_error(tidemark("run", "--bogus", "--", "true"), ["unknown option", "--bogus"], "bad flag")
    one_line_error(tidemark("frobnicate"), ["unknown command"], "bad command")
    one_line_error(tidemark("run", "-o", "/nonexistent/dir/x.tdm", "--", "true"),
                   ["cannot write /nonexistent/dir/x.tdm"], "unwritable output")
    one_line_error(tidemark("run", "--", "/no/such/cmd"), ["/no/such/cmd", "not found"], "no such command")
    one_line_error(tidemark("report", "/nonexistent.tdm"), ["/nonexistent.tdm"], "missing capture")

    cap = os.path.join(OUT, "gt_run.tdm")
    if not os.path.exists(cap):
        skip("needs gt_run.tdm from test_run_ground_truth")
    data = open(cap, "rb").read()
    bad = os.path.join(OUT, "corrupt.tdm")
    open(bad, "wb").write(data[: len(data) // 2])
    one_line_error(tidemark("report", bad), ["truncated"], "truncated capture")
    flipped = bytearray(data)
    flipped[-5] ^= 0xFF
    open(bad, "wb").write(flipped)
    one_line_error(tidemark("report", bad), ["corrupt"], "corrupt capture")

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)
    r = subprocess.run([TIDEMARK, "run", "--", "true"], capture_output=True, text=True, preexec_fn=as_nobody)
    one_line_error(r, ["CAP_BPF", "root"], "not root")


def test_static_binary_is_explained():
    exe = os.path.join(OUT, "static_true")
    c = subprocess.run(["cc", "-static", "-x", "c", "-", "-o", exe], input="int main(void){return 0;}",
                       capture_output=True, text=True)
    if c.returncode != 0:
        skip(f"no static libc to link with: {c.stderr.strip()[:80]}")
    # With its symbols, a static glibc is probed inside the executable (test_allocators.py has its numbers).
    r = tidemark("run", "-q", "-o", os.path.join(OUT, "static.tdm"), "--", exe)
    eq(r.returncode, 0, "a static binary runs traced")
    eq(r.stderr, "", "a static glibc with symbols is traced as glibc: nothing to say")
    subprocess.run(["strip", exe], check=True)
    r = tidemark("run", "-q", "-o", os.path.join(OUT, "static.tdm"), "--", exe)
    eq(r.returncode, 0, "a stripped static binary still runs traced")
    lines = r.stderr.splitlines()
    eq(len(lines), 1, f"one line says what cannot be traced: {r.stderr!r}")
    check("stripped" in lines[0] and "mappings" in lines[0], f"... and what is counted instead: {lines}")
    d = report_json(os.path.join(OUT, "static.tdm"))
    check(d["allocator_note"] is not None and "stripped" in d["allocator_note"], "the report says it too")


if __name__ == "__main__":
    main([test_run_ground_truth, test_attach_ground_truth, test_killed_target_still_reports,
          test_sigkill_tracer_leaves_no_probe, test_ctrl_c_on_attach_writes_report, test_bad_input,
          test_static_binary_is_explained])
