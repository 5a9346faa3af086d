#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""bench/daemon_http.py: does a crowd of HTTP clients delay the daemon's drain?

The daemon (lite, on a test cgroup) records each traced process's exit; the time from the exit in
the kernel (bpf_ktime_get_ns) to the record in the daemon is its histogram
tidemark_exit_record_latency_seconds. N processes (/bin/true) start one after another (40 ms
apart, so exits never queue behind each other) with 0, then with 100 idle HTTP clients connected
(kept at 100: those dropped at the 5 s read deadline reconnect). A fresh daemon per
configuration and round, interleaved, ROUNDS rounds. Needs root.

    sudo bench/daemon_http.py            N=200 ROUNDS=3 by default
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(os.environ.get("N", 200))
ROUNDS = int(os.environ.get("ROUNDS", 3))


def memory_cgroup(name):
    for line in open("/proc/self/mountinfo"):
        pre, post = line.split(" - ")
        fstype, _, sup = post.split()[:3]
        if (fstype == "cgroup" and "memory" in sup.split(",")) or fstype == "cgroup2":
            path = os.path.join(pre.split()[4], name)
            os.makedirs(path, exist_ok=True)
            return path
    sys.exit("bench: no memory cgroup hierarchy mounted")


def metrics(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    out = {}
    for line in data.decode().split("\r\n\r\n", 1)[1].splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def one(cg, clients):
    tmp = tempfile.mkdtemp(prefix="tm-bench-")
    log = open(os.path.join(tmp, "log"), "w+")
    d = subprocess.Popen([os.path.join(ROOT, "tidemark"), "daemon", "--cgroup", cg, "--listen", "127.0.0.1:0",
                          "--token-file", os.path.join(tmp, "token")], stderr=log, stdout=subprocess.DEVNULL)
    port = None
    while port is None:
        m = re.search(r"\(port (\d+)\)", open(log.name).read())
        port = int(m.group(1)) if m else None
        if d.poll() is not None:
            sys.exit(f"bench: the daemon did not start: {open(log.name).read()[-300:]}")
        time.sleep(0.2)
    stop = threading.Event()
    conns = []

    def keep():
        while not stop.is_set():
            conns[:] = [c for c in conns if not closed(c)]
            while len(conns) < clients:
                conns.append(socket.create_connection(("127.0.0.1", port)))
            stop.wait(0.1)
    th = threading.Thread(target=keep)
    th.start()
    time.sleep(0.5)
    enter = lambda: open(os.path.join(cg, "cgroup.procs"), "w").write(str(os.getpid()))
    for _ in range(N):
        subprocess.run(["/bin/true"], preexec_fn=enter)
        time.sleep(0.04)
    time.sleep(0.5)
    m = metrics(port)
    stop.set()
    th.join()
    for c in conns:
        c.close()
    d.terminate()
    d.wait()
    subprocess.run(["rm", "-rf", tmp])
    n = m["tidemark_exit_record_latency_seconds_count"]
    le = {k.split('le="')[1][:-2]: v for k, v in m.items() if k.startswith("tidemark_exit_record_latency_seconds_bucket")}
    return n, m["tidemark_exit_record_latency_seconds_sum"] / n, m["tidemark_exit_record_latency_max_seconds"], le


def closed(c):
    try:
        c.setblocking(False)
        return c.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def main():
    if os.geteuid():
        sys.exit("bench: needs root (it loads BPF)")
    cg = memory_cgroup("tidemark-bench-http")
    rows = {0: [], 100: []}
    try:
        for r in range(ROUNDS):
            for clients in (0, 100):
                rows[clients].append(one(cg, clients))
                n, mean, mx, le = rows[clients][-1]
                print(f"round {r + 1}, {clients:3d} idle clients: {int(n)} exits, mean {mean * 1e3:.3f} ms, "
                      f"max {mx * 1e3:.3f} ms, <=1 ms {int(le['0.001'])}, <=10 ms {int(le['0.01'])}", flush=True)
    finally:
        os.rmdir(cg)
    for clients, rs in rows.items():
        means = sorted(x[1] for x in rs)
        print(f"{clients:3d} idle HTTP clients: exit-to-record latency, median of {ROUNDS} round means "
              f"{means[len(means) // 2] * 1e3:.3f} ms, worst max {max(x[2] for x in rs) * 1e3:.3f} ms "
              f"({sum(int(x[0]) for x in rs)} exits)")


if __name__ == "__main__":
    main()
