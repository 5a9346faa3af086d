# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A child is never left stopped (issue #10, item 5). `tidemark run` holds its child
(SIGSTOP from BPF) at each new executable mapping until it has read the maps; killed
there, it used to leave the child stopped forever under init. Here tidemark is frozen,
the child seen held (State: T), tidemark SIGKILLed: its watchdog must continue the
child, which then completes normally (its output, exit status 7), with no probe left in
it. The test is the subreaper, so the orphaned child and the watchdog come back to it.
`attach --children` holds each child of its target at its fork until the child's probes
are placed: SIGKILLed there, its watchdog must continue the child, and the tree finish."""
import ctypes
import os
import signal
import subprocess
import time

from test_core import target_bytes
from tmtest import OUT, TIDEMARK, WORKLOADS, check, eq, main

HOLD = os.path.join(WORKLOADS, "gt_hold")
GT_FORK = os.path.join(WORKLOADS, "gt_fork")
TRIES = 5
MAPS = 100000
PR_SET_CHILD_SUBREAPER = 36


def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def wait_until(cond, what, timeout=30):
    """Poll cond() until true; a guard against hanging, not a timing assertion."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.002)
    raise AssertionError(f"never happened: {what}")


def reap(pid):
    """Exit status of pid (our child now, as subreaper), waiting at most 30 s."""
    def done():
        r, st = os.waitpid(pid, os.WNOHANG)
        return (st,) if r == pid else None
    return wait_until(done, f"pid {pid} exits")[0]


def hold_and_kill(attempts=2000):
    """Start run on gt_hold; freeze tidemark until its child is seen held; SIGKILL it.
    Returns (tidemark, child pid, watchdog pid)."""
    tm = subprocess.Popen([TIDEMARK, "run", "-q", "-o", os.path.join(OUT, "hold.tdm"), "--", HOLD, str(MAPS)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    kids = wait_until(lambda: [c for c in children(tm.pid) if comm(c) == "gt_hold"] and children(tm.pid),
                      "the child execs gt_hold")
    child = [c for c in kids if comm(c) == "gt_hold"][0]
    dogs = [c for c in kids if comm(c) == "tidemark-hold"]
    for _ in range(attempts):
        os.kill(tm.pid, signal.SIGSTOP)
        wait_until(lambda: state(tm.pid) == "T", "tidemark stops")
        if state(child) == "T":
            break    # held, and the only one who would continue it is frozen
        os.kill(tm.pid, signal.SIGCONT)
        time.sleep(0.001)
    held = state(child) == "T"
    tm.kill()
    tm.wait()
    return tm, child, dogs, held


def test_sigkill_at_hold_leaves_child_running():
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "the test is the subreaper")
    clean = target_bytes(os.getpid(), "malloc")
    for i in range(TRIES):
        how = f"try {i + 1}"
        tm, child, dogs, held = hold_and_kill()
        check(held, f"{how}: tidemark was killed while the child was held (State: T)")
        eq(len(dogs), 1, f"{how}: run started one watchdog")
        wait_until(lambda: state(child) not in ("T", None), f"{how}: the child runs again")
        eq(target_bytes(child, "malloc"), clean, f"{how}: no probe left in the child's malloc")
        eq(tm.stdout.readline().strip(), f"mapped {MAPS}", f"{how}: the child finished its work")
        tm.stdin.write("go\n")
        tm.stdin.flush()
        eq(tm.stdout.readline().strip(), "done", f"{how}: the child's last output")
        st = reap(child)
        check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 7, f"{how}: the child exits 7 (status {st:#x})")
        for d in dogs:
            eq(reap(d), 0, f"{how}: the watchdog exits 0 once it has continued the child")
        tm.stdin.close()
        tm.stdout.close()


def test_sigkill_attach_children_at_hold():
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "the test is the subreaper")
    for i in range(3):
        how = f"attach try {i + 1}"
        target = subprocess.Popen([GT_FORK, "2", str(1 << 20)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=dict(os.environ, GT_FORK_WAIT="1"))
        eq(target.stdout.readline().strip(), b"ready", f"{how}: the target waits to fork")
        tm = subprocess.Popen([TIDEMARK, "attach", "--children", "-p", str(target.pid),
                               "-o", os.path.join(OUT, "hold-attach.tdm")], stderr=subprocess.PIPE, text=True)
        line = tm.stderr.readline()
        check("attached" in line, f"{how}: attach announces itself: {line!r}")
        dogs = [c for c in children(tm.pid) if comm(c) == "tidemark-hold"]
        eq(len(dogs), 1, f"{how}: attach --children started one watchdog")
        os.kill(tm.pid, signal.SIGSTOP)
        wait_until(lambda: state(tm.pid) == "T", "tidemark stops")
        target.stdin.write(b"go\n")
        target.stdin.flush()
        kid = wait_until(lambda: children(target.pid), f"{how}: the target forks")[0]
        wait_until(lambda: state(kid) == "T", f"{how}: its child is held at its fork")
        tm.kill()
        tm.wait()
        # the child, continued, allocates and reports; its sibling follows; the parent lets both go
        try:
            rc = target.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rc = f"still running, its child in state {state(kid)}"
            target.kill()
            target.wait()
        eq(rc, 0, f"{how}: the tree finished (its held child continued by the watchdog)")
        for d in dogs:
            eq(reap(d), 0, f"{how}: the watchdog exits 0 once it has continued the child")
        target.stdin.close()
        target.stdout.close()
        tm.stderr.close()


if __name__ == "__main__":
    main([test_sigkill_at_hold_leaves_child_running, test_sigkill_attach_children_at_hold])
