# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Containers (issue #11 item 5, issue #10 item 6): a process in its own mount and PID
namespaces with its own root filesystem, traced from the host by `attach`, the lite daemon
and `daemon --mode full`, to the byte.

The container is built here as an image would hold it: copies (new inodes) of libc, the
dynamic loader, gt_alloc and a pyenv CPython with its standard library, in a directory that
`unshare --mount --pid --fork` enters two ways: chroot (its maps name files from the host's
root) and pivot_root (from its own root, as Docker and containerd do). A cgroup named as the
kubelet's cgroupfs driver names its own (in the memory hierarchy: v1 here) gives pod_uid and
container_id labels; a group of the cgroup2 mount (without the memory controller on this
host) selects it."""
import glob
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

from test_core import KEPT, PEAK, assert_ground_truth, target_bytes
from test_daemon import Daemon
from test_formats import _fields
from test_oom import memory_root
from test_python import marker_lines
from tmtest import OUT, ROOT, TIDEMARK, WORKLOADS, by_site, check, eq, main, report_json, skip, tidemark

CROOT = os.path.join(OUT, "container-root")
PYVER = "3.12"
PYHOME = sorted(glob.glob(f"/root/.pyenv/versions/{PYVER}.*"))[-1:] or [None]
PYHOME = PYHOME[0]
PYSCRIPT = os.path.join(ROOT, "tests", "workloads", "py_container.py")
POD_UID = "8d5f6f1e-3c2b-4a8e-9f10-2b7c1d4e5a6f"
CID = "4f2b9c1d0e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"
# under a parent of the test's own: never next to a real kubelet's kubepods
POD_REL = f"/tidemark-test-k8s/kubepods/burstable/pod{POD_UID}"


def put(host_path):
    """Copy a host file into the container's root at the same path (a copy: its own inode)."""
    dst = CROOT + host_path
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(os.path.realpath(host_path), dst)
    shutil.copymode(os.path.realpath(host_path), dst)


def needed_libs(exe):
    out = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    return re.findall(r"(/\S+) \(0x", out)


def build_root():
    """The container's image: its own libc, loader, gt_alloc and CPython."""
    if not shutil.which("unshare") or not shutil.which("pivot_root"):
        skip("needs unshare and pivot_root (util-linux)")
    shutil.rmtree(CROOT, ignore_errors=True)
    gt = os.path.join(WORKLOADS, "gt_alloc")
    for lib in needed_libs(gt):
        put(lib)
    os.makedirs(CROOT + "/bin")
    shutil.copy2(gt, CROOT + "/bin/gt_alloc")
    os.makedirs(CROOT + "/app")
    shutil.copy2(PYSCRIPT, CROOT + "/app/py_container.py")
    if PYHOME:
        py = os.path.join(PYHOME, "bin", f"python{PYVER}")
        for lib in needed_libs(py):
            put(lib)
        put(py)
        stdlib = os.path.join(PYHOME, "lib", f"python{PYVER}")
        shutil.copytree(stdlib, CROOT + stdlib, symlinks=True, ignore=shutil.ignore_patterns(
            "test", "site-packages", "idlelib", "tkinter", "ensurepip", "turtledemo", "__pycache__",
            "config-*", "lib2to3", "pydoc_data"))


_built = False


def root():
    global _built
    if not _built:
        build_root()
        _built = True
    return CROOT


def ppid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("PPid:"):
                return int(line.split()[1])


def nspid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]


class Container:
    """argv run as pid 1 of new mount and PID namespaces, rooted in CROOT (chroot or pivot_root)."""

    def __init__(self, argv, how="chroot", cgroups=(), stdin=None):
        r = root()
        # its pid 1 joins the cgroups itself (as a runtime puts a container's first process),
        # before it execs: the daemon selects at exec
        join = 'for cg in $TM_CGROUPS; do echo $$ > "$cg/cgroup.procs" || exit 125; done; '
        if how == "chroot":
            script = join + 'exec chroot "$0" "$@"'
        else:   # its root becomes a mount of its own; the host's stays reachable at /.old only
            script = join + 'mount --bind "$0" "$0" && cd "$0" && mkdir -p .old && pivot_root . .old && exec "$@"'
        cmd = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c", script, r, *argv]
        env = dict(os.environ, TM_CGROUPS=" ".join(cgroups))
        self.u = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, text=True, env=env)
        self.exe = argv[0]
        self.pid = self._inner()

    def _inner(self):
        """The host pid of the container's pid 1, once it runs argv[0]."""
        t0 = time.time()
        while time.time() - t0 < 20:
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    if ppid_of(int(d)) == self.u.pid and os.readlink(f"/proc/{d}/exe").endswith(self.exe):
                        return int(d)
                except (OSError, TypeError):
                    pass
            time.sleep(0.02)
        self.u.kill()
        raise AssertionError(f"the container did not start {self.exe}")

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=60):
        return self.u.wait(timeout=timeout)

    def kill(self):
        if self.u.poll() is None:
            self.u.kill()
            self.u.wait()


def libc_mapping(pid):
    """(path as maps names it, dev 'maj:min', inode) of the executable libc mapping, once mapped."""
    t0 = time.time()
    while time.time() - t0 < 20:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[1].startswith("r-x") and parts[5].endswith("/libc.so.6"):
                    return parts[5], parts[3], int(parts[4])
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} never mapped libc.so.6")


def same_file(path, dev, ino):
    st = os.stat(path)
    return f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}" == dev and st.st_ino == ino


def attach(pid, cap, extra=()):
    tm = subprocess.Popen([TIDEMARK, "attach", "-p", str(pid), "-o", cap, "-n", "0", *extra],
                          stderr=subprocess.PIPE, text=True)
    line = tm.stderr.readline()
    while line.startswith(("libbpf:", "bpf:", "attach:", "tidemark: pid")):
        line = tm.stderr.readline()
    check("attached to pid" in line, f"attach announces itself: {line!r}")
    return tm


def container_attach(how):
    c = Container(["/bin/gt_alloc", "--wait"], how)
    cap = os.path.join(OUT, f"ctr_{how}.tdm")
    try:
        path, dev, ino = libc_mapping(c.pid)
        host_libc = os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6")
        check(same_file(f"/proc/{c.pid}/root/lib/x86_64-linux-gnu/libc.so.6", dev, ino),
              f"{how}: it maps its own copy of libc ({path})")
        check(not same_file(host_libc, dev, ino), f"{how}: not the host's")
        eq(path, CROOT + "/lib/x86_64-linux-gnu/libc.so.6" if how == "chroot" else "/lib/x86_64-linux-gnu/libc.so.6",
           f"{how}: how its maps name the file (from our root after chroot, from its own after pivot_root)")
        eq(nspid(c.pid), [c.pid, 1], f"{how}: pid 1 in its own PID namespace")
        clean = target_bytes(c.pid, "malloc")
        tm = attach(c.pid, cap)
        eq(target_bytes(c.pid, "malloc")[0], 0xCC, f"{how}: the probe sits in the libc the container maps")
        check(clean[0] != 0xCC, f"{how}: and was not there before")
        c.signal(signal.SIGUSR1)
        eq(c.wait(), 7, f"{how}: the container's exit status")
        tm.wait(timeout=60)
        eq(tm.returncode, 0, f"{how}: attach exits 0 ({tm.stderr.read()[-300:]!r})")
        d = report_json(cap)
        eq(d["process"]["pid"], c.pid, f"{how}: the report's pid is the host's")
        eq(d["process"]["ns_pid"], 1, f"{how}: and the one inside its namespace")
        eq(d["process"]["exit_code"], 7, f"{how}: exit code")
        assert_ground_truth(d, f"container ({how}) attach")
        text = tidemark("report", "-n", "1", cap).stdout
        check(f"(pid {c.pid}; pid 1 in its PID namespace)" in text, f"{how}: the text report names both pids")
    finally:
        c.kill()


def test_attach_chroot():
    container_attach("chroot")


def test_attach_pivot_root():
    container_attach("pivot_root")


def raw_get(d, path):
    req = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}", headers={"Authorization": f"Bearer {d.token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def pprof_labels(data):
    """{key: set of values} over every sample's string labels."""
    raw = gzip.decompress(data)
    strings, labels = [], []
    for f, v in _fields(raw):
        if f == 6:
            strings.append(v.decode())
        elif f == 2:
            labels += [dict(_fields(w)) for g, w in _fields(v) if g == 3]
    out = {}
    for lab in labels:
        out.setdefault(strings[lab[1]], set()).add(strings[lab.get(2, 0)])
    return out


class PodCgroups:
    """The container's cgroup, named as the kubelet's cgroupfs driver does, in the memory
    hierarchy (v1 here; v2 on a v2-only host), and a group of the cgroup2 hierarchy that
    selects it: on a host with both, a second group of its own (v2 selection on a hybrid
    host); on a v2-only host, that same cgroup."""

    def __init__(self):
        mem, v1 = memory_root()
        v2 = next((line.split(" - ")[0].split()[4] for line in open("/proc/self/mountinfo")
                   if line.split(" - ")[1].split()[0] == "cgroup2"), None)
        if not mem or not v2:
            skip(f"needs a memory cgroup controller and a cgroup2 mount (memory at {mem}, cgroup2 at {v2})")
        self.mem = mem
        self.pod = mem + POD_REL                   # /pprof/cgroup by the mount's path
        self.ctr = os.path.join(self.pod, CID)
        self.v2 = os.path.join(v2, "tidemark-test-ctr") if v1 else self.ctr
        self.made = [self.ctr] + ([self.v2] if v1 else [])
        for cg in self.made:
            os.makedirs(cg, exist_ok=True)
        self.join = tuple(self.made)

    def remove(self):
        for cg in self.made[1:] + [self.ctr, self.pod, os.path.dirname(self.pod),
                                   os.path.dirname(os.path.dirname(self.pod)), self.mem + "/tidemark-test-k8s"]:
            try:
                os.rmdir(cg)
            except OSError:
                pass


def wait_for(pred, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


def test_daemon_full_container():
    """daemon --mode full, selected by the v2 group: exact on gt_alloc; pod and container labelled."""
    cgs = PodCgroups()
    d = Daemon(None, select=["--cgroup", cgs.v2], extra=["--mode", "full"])
    c = None
    try:
        c = Container(["/bin/gt_alloc", "--wait", "--wait-end"], "pivot_root", cgroups=cgs.join)
        m = wait_for(lambda: (lambda m: m if m.get("tidemark_uprobe_links", 0) >= 10 else None)(d.metrics()))
        eq(m and m.get("tidemark_processes_tracked"), 1.0, "the v2 group's one process is tracked")
        check(m and m.get("tidemark_uprobe_links", 0) >= 10, "the daemon placed its allocator probes in its own libc")
        eq(target_bytes(c.pid, "malloc")[0], 0xCC, "full mode: the probe sits in the container's libc")
        c.signal(signal.SIGUSR1)
        # the work is done when the four threads' blocks are live (its last step)
        rep = wait_for(lambda: (lambda r: r if by_site(r["views"]["leaks"]).get("site_thread") == (200000, 20) else None)(
            json.loads(d.get(f"/report/pid/{c.pid}"))))
        check(rep is not None, "gt_alloc finished its work under the daemon")
        rep = rep or json.loads(d.get(f"/report/pid/{c.pid}"))
        p = rep["process"]
        eq((p["pid"], p["ns_pid"]), (c.pid, 1), "daemon: the host pid and the pid in its namespace")
        eq((p["pod_uid"], p["container_id"]), (POD_UID, CID), "daemon JSON: pod_uid and container_id")
        eq(rep["totals"]["peak_bytes"], PEAK, "daemon full: peak_bytes")
        peak = by_site(rep["views"]["peak"])
        for site, want in KEPT.items():
            eq(peak.get(site), want, f"daemon full: {site} at the peak")
        eq(peak.get("site_peak"), (1000000, 1), "daemon full: site_peak at the peak")
        eq(sum(b for b, _ in peak.values()), PEAK, "daemon full: the peak view adds up")
        allocs = by_site(rep["views"]["allocs"])
        eq(allocs.get("site_churn"), (6400000, 100000), "daemon full: 100k churn blocks")
        eq(allocs.get("site_thread"), (400000, 40), "daemon full: the threads' blocks")
        check("site_child" not in allocs, "daemon full: the forked child is not the parent")

        metrics = d.get("/metrics")
        series = f'tidemark_process_peak_heap_bytes{{pid="{c.pid}",comm="gt_alloc",' \
                 f'cgroup="{POD_REL}/{CID}",pod_uid="{POD_UID}",container_id="{CID}",ns_pid="1"}} {PEAK}'
        check(series in metrics.splitlines(), f"/metrics: {series}")
        check(f'tidemark_cgroup_processes{{cgroup="{POD_REL}/{CID}",pod_uid="{POD_UID}",'
              f'container_id="{CID}"}} 1' in metrics.splitlines(), "/metrics: the container's cgroup series")
        labels = pprof_labels(raw_get(d, f"/pprof/pid/{c.pid}"))
        eq((labels.get("pod_uid"), labels.get("container_id")), ({POD_UID}, {CID}), "pprof: every sample labelled")
        # /pprof/cgroup/ as a user writes the path: the v2 mount's, and inside the memory hierarchy
        for how, path in (("cgroup2 mount", cgs.v2), ("memory hierarchy", POD_REL),
                          ("memory controller's mount", cgs.pod)):
            try:
                labels = pprof_labels(raw_get(d, "/pprof/cgroup" + path))
                eq(labels.get("allocator", set()) >= {"malloc", "calloc", "realloc"}, True, f"/pprof/cgroup by the {how}")
            except urllib.error.HTTPError as e:
                check(False, f"/pprof/cgroup{path} ({how}): HTTP {e.code}")
        c.signal(signal.SIGUSR1)
        eq(c.wait(), 7, "gt_alloc exits 7")
        ex = wait_for(lambda: [l for l in d.get("/exited").splitlines() if l.startswith(f"pid={c.pid} ")])
        check(ex and f"pid={c.pid} ns_pid=1 comm=gt_alloc" in ex[-1] and f"peak={PEAK} status=1792" in ex[-1],
              f"/exited: {ex}")
    finally:
        if c:
            c.kill()
        rc, err = d.stop()
        eq(rc, 0, f"the daemon stops cleanly ({err.strip()[-300:]!r})")
        check("cannot open" not in err, f"no libc it could not open: {err.strip()[-300:]!r}")
        cgs.remove()


def test_daemon_lite_container():
    """The lite daemon (no uprobes): gt_alloc's own mappings, exact; the Python line of a large block."""
    cgs = PodCgroups()
    d = Daemon(None, select=["--cgroup", cgs.pod])
    c = None
    try:
        c = Container(["/bin/gt_alloc", "--wait", "--wait-end"], "chroot", cgroups=cgs.join)
        wait_for(lambda: d.metrics().get("tidemark_processes_tracked") == 1)
        c.signal(signal.SIGUSR1)
        rep = wait_for(lambda: (lambda r: r if r["totals"]["alloc_count"] >= 3 and any(
            s["bytes"] == 8192 for s in r["views"]["allocs"]) else None)(json.loads(d.get(f"/report/pid/{c.pid}"))))
        check(rep is not None, "lite: gt_alloc's mappings were seen")
        rep = rep or json.loads(d.get(f"/report/pid/{c.pid}"))
        eq((rep["process"]["pid"], rep["process"]["ns_pid"]), (c.pid, 1), "lite: both pids")
        eq(rep["process"]["container_id"], CID, "lite: the container id")
        # site_mmap's 10 pages, 3 of them unmapped again; site_mmap_whole's 2 pages, all unmapped
        allocs = sorted(s["bytes"] for s in rep["views"]["allocs"] if s["bytes"] in (40960, 8192))
        eq(allocs, [8192, 40960], "lite: gt_alloc's two mappings, to the byte")
        leaks = [s["bytes"] for s in rep["views"]["leaks"] if s["bytes"] == 28672]
        eq(leaks, [28672], "lite: 7 of the 10 pages still mapped")
        c.signal(signal.SIGUSR1)
        eq(c.wait(), 7, "gt_alloc exits 7")
    finally:
        if c:
            c.kill()
        d.stop()
        cgs.remove()


def py_site(view, line):
    """(bytes, count) at the container's script line `line`, by its innermost Python frame."""
    b = n = 0
    for s in view:
        py = [f for f in s["stack"] if f["kind"] == "python"]
        if py and py[0]["file"] == "/app/py_container.py" and py[0]["line"] == line:
            b, n = b + s["bytes"], n + s["count"]
    return b, n


def test_python_in_container():
    """attach to the container's own CPython: the line, through /proc/PID/root."""
    if not PYHOME:
        skip(f"no pyenv CPython {PYVER} under /root/.pyenv/versions")
    L = marker_lines(PYSCRIPT)["L_BIG"]
    py = os.path.join(PYHOME, "bin", f"python{PYVER}")
    for how in ("chroot", "pivot_root"):
        c = Container([py, "-I", "/app/py_container.py"], how, stdin=subprocess.PIPE)
        cap = os.path.join(OUT, f"ctr_py_{how}.tdm")
        try:
            path, dev, ino = libc_mapping(c.pid)
            check(same_file(f"/proc/{c.pid}/root/lib/x86_64-linux-gnu/libc.so.6", dev, ino),
                  f"python ({how}): its own libc")
            tm = attach(c.pid, cap)
            c.u.stdin.write("go\n")
            c.u.stdin.flush()
            eq(c.u.stdout.readline(), "done\n", f"python ({how}): the allocation is made")
            c.u.stdin.write("end\n")
            c.u.stdin.flush()
            eq(c.wait(), 0, f"python ({how}) exits 0")
            tm.wait(timeout=60)
            eq(tm.returncode, 0, f"python ({how}): attach exits 0")
            d = report_json(cap)
            eq(d["process"]["ns_pid"], 1, f"python ({how}): pid 1 inside")
            eq(py_site(d["views"]["peak"], L), (8388609, 1),
               f"python ({how}): line {L} of /app/py_container.py holds the bytearray at the peak")
            eq(py_site(d["views"]["allocs"], L), (8388609, 1), f"python ({how}): and allocated it once")
        finally:
            c.kill()


def test_daemon_python_container():
    """Both daemon modes on the container's own CPython: the line of its 8 MiB bytearray."""
    if not PYHOME:
        skip(f"no pyenv CPython {PYVER} under /root/.pyenv/versions")
    cgs = PodCgroups()
    L = marker_lines(PYSCRIPT)["L_BIG"]
    py = os.path.join(PYHOME, "bin", f"python{PYVER}")
    # lite sees the block as the mapping malloc makes for it: 8388609 bytes and malloc's 8-byte
    # header rounded up to pages; full mode sees the malloc itself
    for mode, want in (("lite", (8392704, 1)), ("full", (8388609, 1))):
        d = Daemon(None, select=["--cgroup", cgs.v2], extra=["--mode", mode])
        c = None
        try:
            c = Container([py, "-I", "/app/py_container.py"], "pivot_root", cgroups=cgs.join,
                          stdin=subprocess.PIPE)
            libc_mapping(c.pid)
            ready = wait_for(lambda: (lambda m: m.get("tidemark_processes_tracked") == 1 and (
                mode == "lite" or m.get("tidemark_uprobe_links", 0) >= 10))(d.metrics()))
            check(ready, f"{mode}: the container's python is tracked (and probed in full mode)")
            c.u.stdin.write("go\n")
            c.u.stdin.flush()
            eq(c.u.stdout.readline(), "done\n", f"{mode}: the allocation is made")
            rep = json.loads(d.get(f"/report/pid/{c.pid}"))
            eq(rep["process"]["ns_pid"], 1, f"{mode}: pid 1 inside")
            eq(py_site(rep["views"]["leaks"], L), want, f"daemon {mode}: line {L} of /app/py_container.py")
            c.u.stdin.write("end\n")
            c.u.stdin.flush()
            eq(c.wait(), 0, f"{mode}: python exits 0")
        finally:
            if c:
                c.kill()
            d.stop()
    cgs.remove()


def one_line_error(r, words, what):
    lines = r.stderr.strip().splitlines()
    check(r.returncode != 0, f"{what}: non-zero exit (got {r.returncode})")
    check(len(lines) == 1, f"{what}: one line on stderr, got {lines}")
    check(all(w in r.stderr for w in words), f"{what}: {words} in {r.stderr!r}")


def test_inside_a_pid_namespace_refuses():
    """tidemark in a PID namespace: its pids are not the kernel's, so it refuses in one line."""
    for args in (["run", "--", "/bin/true"], ["attach", "-p", "1"], ["daemon", "--comm", "x", "-d", "1"]):
        r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", TIDEMARK, *args],
                           capture_output=True, text=True, timeout=60)
        one_line_error(r, ["inside a PID namespace", "host's PID namespace"], f"tidemark {args[0]} in a PID namespace")


if __name__ == "__main__":
    main([test_attach_chroot, test_attach_pivot_root, test_python_in_container, test_daemon_full_container,
          test_daemon_lite_container, test_daemon_python_container, test_inside_a_pid_namespace_refuses])
