# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Issue #15 item 2: uprobes in uprobe_multi links where the kernel has them (6.10+), one perf event
each where it does not (6.1, the floor). Both ways give the same exact numbers; with links a
process's dozen allocator probes go in a few links (placed in one system call each, removed with
one grace period each and under no kernel-wide lock), which is what lets the next `run` start
without waiting for the previous one's probe removal. TIDEMARK_UPROBE_MULTI=0 forces the
perf-event way, so both are tested on a kernel that has the links."""
import fcntl
import os
import re
import subprocess
import time

from tmtest import OUT, TIDEMARK, WORKLOADS, check, eq, main, report_json, skip, tidemark

GT_FORK = os.path.join(WORKLOADS, "gt_fork")
MiB = 1 << 20
TAG = f"ulinks-{os.getpid()}"


def has_links():
    r = tidemark("run", "-v", "-o", os.path.join(OUT, f"{TAG}-probe.tdm"), "--", "/bin/true")
    return "uprobes are placed in uprobe_multi links" in r.stderr


def fork_tree(env, what):
    """gt_fork 3 1MiB: the parent keeps 1000 bytes, child i holds exactly (i + 1) MiB."""
    c = os.path.join(OUT, f"{TAG}-{what}.tdm")
    r = tidemark("run", "-v", "-o", c, "--", GT_FORK, "3", str(MiB), env=env, timeout=600)
    eq(r.returncode, 0, f"{what}: run gt_fork ({r.stderr.strip()[-300:]})")
    d = report_json(c)
    eq(d["totals"]["peak_bytes"], 1000, f"{what}: the parent's exact peak")
    eq(d["totals"]["alloc_bytes"], 1000, f"{what}: the parent's allocations")
    eq(sorted(k["totals"]["peak_bytes"] for k in d["processes"]), [MiB, 2 * MiB, 3 * MiB],
       f"{what}: each child's exact peak")
    eq(d["tree"]["peak_bytes"], 1000 + 6 * MiB, f"{what}: the tree's exact peak")
    eq({k: v for k, v in d["dropped"].items() if v}, {}, f"{what}: nothing dropped")
    return r.stderr


def test_both_ways():
    """The same tree, exact, with links and with one perf event per uprobe."""
    env = dict(os.environ, TIDEMARK_UPROBE_MULTI="0")
    err = fork_tree(env, "perf-events")
    check("uprobe_multi links (" not in err, "TIDEMARK_UPROBE_MULTI=0: no uprobe_multi link placed")
    check("one perf event per uprobe" in err, f"-v says the uprobes are perf events: {err[:400]!r}")
    if not has_links():
        skip("this kernel has no uprobe_multi links that filter by process (6.10+): the perf-event way only")
        return
    err = fork_tree(dict(os.environ), "links")
    placed = [(int(n), int(k)) for n, k in re.findall(r"attach: pid \d+: (\d+) uprobes in (\d+) uprobe_multi links", err)]
    check(len(placed) >= 4, f"the parent's and each child's probes placed in links: {placed}")
    for n, k in placed:
        # glibc: the entry probes of malloc & co. (one program), free's (another), their return probes (a third)
        check(n >= 10 and k <= 4, f"{n} uprobes in {k} links (one per program and direction)")


LOCK = "/run/tidemark/probes.lock"


def removers(capture):
    """The detached removers of the run that wrote @capture: forked from it, so its command line."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if capture.encode() in f.read().split(b"\0"):
                    out.append(int(d))
        except OSError:
            pass
    return out


def test_removal_yields_to_placement():
    """A run holds the placement lock shared from its load to its end; a finished run's detached
    remover takes it exclusive for each removal, so it waits while any run is placing probes (on 6.1
    each removal holds the kernel's event_mutex for a grace period, which a placement needs), and
    removes everything once none is."""
    first = os.path.join(OUT, f"{TAG}-lock0.tdm")
    eq(tidemark("run", "-q", "-o", first, "--", "/bin/true").returncode, 0, "a run (it makes the lock file)")
    check(os.path.exists(LOCK), f"{LOCK} exists")
    st = os.stat(LOCK)
    eq((st.st_uid, st.st_mode & 0o777), (0, 0o600), "the lock file is root's, 0600")
    eq(os.stat(os.path.dirname(LOCK)).st_mode & 0o777, 0o700, "in a directory only root enters")
    # a run in progress holds it shared: an exclusive try fails, a shared one succeeds
    busy = os.path.join(OUT, f"{TAG}-lock1.tdm")
    p = subprocess.Popen([TIDEMARK, "run", "-q", "-o", busy, "--", "sleep", "10"])
    fd = os.open(LOCK, os.O_RDWR)
    try:
        held = False
        deadline = time.time() + 60
        while not held and p.poll() is None and time.time() < deadline:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                time.sleep(0.1)
            except BlockingIOError:
                held = True
        check(held, "a run in progress holds the placement lock")
        eq(p.wait(timeout=120), 0, "that run's exit status")
        # now we are the run placing probes: the next run's remover must wait for us
        fcntl.flock(fd, fcntl.LOCK_SH)
        done = os.path.join(OUT, f"{TAG}-lock2.tdm")
        eq(tidemark("run", "-q", "-o", done, "--", "/bin/true").returncode, 0, "a run while another places probes")
        time.sleep(3)
        waiting = removers(done)
        eq(len(waiting), 1, f"its remover waits for the placing run to end: {waiting}")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    deadline = time.time() + 90
    while removers(done) and time.time() < deadline:
        time.sleep(0.2)
    eq(removers(done), [], "and removes the probes once no run is placing any")


if __name__ == "__main__":
    main([test_both_ways, test_removal_yields_to_placement])
