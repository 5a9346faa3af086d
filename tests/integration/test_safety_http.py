# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Issue 10, items 3 and 4 (and the 405 of item 9): who may read the daemon's HTTP endpoint, and
a daemon that slow clients and a stopped drain cannot blind.

As root, with uid/gid 65534 (nobody/nogroup) as the unprivileged local user. Every traced
process is churn_c, whose lite-mode peak is known to the byte."""
import gzip
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

from tmtest import WORKLOADS, check, eq, main, skip, TIDEMARK
from test_daemon import in_cgroup
from test_oom import limited_cgroup, memory_root

NOBODY = 65534
CHURN = os.path.join(WORKLOADS, "churn_c")
# churn_c's peak as lite mode sees it: glibc maps the 6 MiB block with its 16-byte header rounded
# up to one more page, and its malloc initialisation grows the heap once by 132 KiB with brk
# (strace: brk(+0x21000), mmap(6295552)).
CHURN_LITE_PEAK = (6 << 20) + 4096 + (132 << 10)

# A raw HTTP/1.1 client over TCP or a Unix socket, run as root here and as nobody in a child.
CLIENT = r'''
import socket
def http(addr, path, token=None, method="GET"):
    s = socket.socket(socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET)
    s.settimeout(30)
    s.connect(addr)
    req = f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
    if token is not None:
        req += f"Authorization: Bearer {token}\r\n"
    s.sendall((req + "\r\n").encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return int(lines[0].split()[1]), hdrs, body
'''
exec(CLIENT)


def as_nobody(code):
    """Run code (with http() defined) as uid/gid 65534 and no groups; its stdout, parsed as JSON."""
    r = subprocess.run(["/usr/bin/python3", "-c", CLIENT + code], capture_output=True, text=True, timeout=60,
                       user=NOBODY, group=NOBODY, extra_groups=[])
    if r.returncode:
        raise AssertionError(f"client as nobody failed: {r.stderr[-500:]}")
    return json.loads(r.stdout)


class Daemon:
    """tidemark daemon (lite) on a cgroup; stderr goes to a file, read for its start and warnings."""

    def __init__(self, cg, listen, extra=()):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="tm-daemon-", suffix=".log")
        self.p = subprocess.Popen([TIDEMARK, "daemon", "--cgroup", cg, "--listen", listen, *extra],
                                  stderr=self.log, stdout=subprocess.DEVNULL)
        self.addr = None
        for _ in range(240):
            text = self.err()
            if "listening on" in text:
                break
            if self.p.poll() is not None:
                raise AssertionError(f"daemon did not start: {text!r}")
            time.sleep(0.25)
        if listen.startswith("unix:"):
            self.addr = listen[5:]
        else:
            self.addr = ("127.0.0.1", int(text.split("(port ")[1].split(")")[0]))

    def err(self):
        return open(self.log.name).read()

    def get(self, path, token=None, method="GET"):
        return http(self.addr, path, token, method)

    def metrics(self, token=None):
        st, _, body = self.get("/metrics", token)
        assert st == 200, f"/metrics: {st} {body[:200]!r}"
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def exited(self, token=None):
        """{pid: peak} from /exited."""
        st, _, body = self.get("/exited", token)
        assert st == 200, f"/exited: {st}"
        out = {}
        for line in body.decode().splitlines():
            f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            out[int(f["pid"])] = int(f["peak"])
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        self.p.wait(timeout=60)
        return self.p.returncode, self.err()


def refused(args, what):
    """A daemon that must not start: (exit status, its stderr)."""
    r = subprocess.run([TIDEMARK, "daemon", "-d", "1", *args], capture_output=True, text=True, timeout=120)
    check(r.returncode != 0, f"{what}: exits non-zero ({r.returncode})")
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    eq(len(lines), 1, f"{what}: one line on stderr ({r.stderr!r})")
    return r.stderr


def start_target(cg, secret):
    p = subprocess.Popen([CHURN, "1", "--wait", f"--password={secret}"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, preexec_fn=in_cgroup(cg))
    eq(p.stdout.readline().strip(), "ready", "the target is ready")
    return p


def end_target(p):
    p.stdin.close()
    p.wait(timeout=60)


def check_report(st, body, pid, secret, who):
    eq(st, 200, f"{who}: /report/pid/{pid} is served")
    if st != 200:
        return
    rep = json.loads(body)
    eq(rep["process"]["pid"], pid, f"{who}: the report is the target's")
    eq(rep["totals"]["peak_bytes"], CHURN_LITE_PEAK, f"{who}: its peak to the byte")
    check(secret in (rep["process"]["command"] or ""), f"{who}: an allowed client sees the command line")


def test_unix_socket_access():
    cg = limited_cgroup("tidemark-test-http-unix", 1 << 30)
    top = tempfile.mkdtemp(prefix="tm-http-", dir="/run")
    os.chmod(top, 0o755)                     # nobody may look in: only the socket's mode stops it
    sock = os.path.join(top, "tm.sock")
    secret = secrets.token_hex(8)
    d = target = None
    try:
        d = Daemon(cg, f"unix:{sock}")
        st = os.lstat(sock)
        check(stat.S_ISSOCK(st.st_mode), "unix: a socket is created")
        eq(oct(st.st_mode & 0o7777), oct(0o600), "unix: mode 0600")
        eq((st.st_uid, st.st_gid), (0, 0), "unix: owned by root")
        target = start_target(cg, secret)
        got = as_nobody(f"""
import json
try:
    http({sock!r}, "/report/pid/{target.pid}")
    print(json.dumps("served"))
except PermissionError:
    print(json.dumps("EACCES"))
""")
        eq(got, "EACCES", "unix 0600: nobody cannot connect")
        st, _, body = d.get(f"/report/pid/{target.pid}")
        check_report(st, body, target.pid, secret, "unix 0600, root")
        end_target(target)
        target = None
        rc, err = d.stop()
        eq(rc, 0, "the daemon exits 0 on SIGTERM")
        check(not os.path.lexists(sock), "unix: the socket is removed at exit")

        # --listen-group: 0660 for that group, whose members get everything.
        d = Daemon(cg, f"unix:{sock}", ["--listen-group", str(NOBODY)])
        st = os.lstat(sock)
        eq((oct(st.st_mode & 0o7777), st.st_gid), (oct(0o660), NOBODY), "--listen-group: 0660, that group")
        target = start_target(cg, secret)
        got = as_nobody(f"""
import json
st, h, body = http({sock!r}, "/report/pid/{target.pid}")
print(json.dumps([st, body.decode()]))
""")
        check_report(got[0], got[1], target.pid, secret, "unix 0660, group member nobody")
        end_target(target)
        target = None
        # The path is ours while we listen; a socket left by a killed daemon is replaced.
        err = refused(["--cgroup", cg, "--listen", f"unix:{sock}"], "unix: a second daemon on the same path")
        check("another server is listening there" in err, f"names the problem: {err!r}")
        eq(d.get("/")[0], 200, "... and the first one still serves")
        d.p.kill()
        d.p.wait()
        check(stat.S_ISSOCK(os.lstat(sock).st_mode), "SIGKILL leaves the socket file behind")
        d = Daemon(cg, f"unix:{sock}")
        eq(d.get("/")[0], 200, "a new daemon replaces the stale socket")
        d.stop()
        d = None

        # What is at the path is never replaced unless it is a socket of ours; the directory must be ours.
        victim = os.path.join(top, "victim")
        open(victim, "w").write("root's\n")
        os.chmod(victim, 0o600)
        err = refused(["--cgroup", cg, "--listen", f"unix:{victim}"], "unix: a regular file at the path")
        check("exists and is not a socket" in err, f"names the problem: {err!r}")
        eq(open(victim).read(), "root's\n", "the regular file is untouched")
        link = os.path.join(top, "link.sock")
        os.symlink(victim, link)
        err = refused(["--cgroup", cg, "--listen", f"unix:{link}"], "unix: a symlink at the path")
        check("exists and is not a socket" in err, f"names the problem: {err!r}")
        eq((open(victim).read(), os.path.islink(link)), ("root's\n", True), "the symlink and its target untouched")
        open_dir = tempfile.mkdtemp(prefix="tm-http-open-", dir="/run")
        os.chmod(open_dir, 0o777)
        err = refused(["--cgroup", cg, "--listen", f"unix:{open_dir}/tm.sock"], "unix: a world-writable directory")
        check("others may write into" in err, f"names the problem: {err!r}")
        os.chmod(open_dir, 0o1777)
        d = Daemon(cg, f"unix:{open_dir}/tm.sock")
        check(stat.S_ISSOCK(os.lstat(f"{open_dir}/tm.sock").st_mode), "unix: a sticky directory is fine")
        d.stop()
        d = None
        os.rmdir(open_dir)
    finally:
        if target:
            end_target(target)
        if d:
            d.stop()
        subprocess.run(["rm", "-rf", top])
        os.rmdir(cg)


def test_token_access():
    cg = limited_cgroup("tidemark-test-http-token", 1 << 30)
    top = tempfile.mkdtemp(prefix="tm-http-", dir="/run")
    os.chmod(top, 0o755)
    tokfile = os.path.join(top, "token")
    secret = secrets.token_hex(8)
    d = target = None
    try:
        d = Daemon(cg, "127.0.0.1:0", ["--token-file", tokfile])
        st = os.lstat(tokfile)
        eq(oct(st.st_mode & 0o7777), oct(0o600), "a missing --token-file is made 0600")
        token = open(tokfile).read()
        check(len(token) == 65 and token.endswith("\n") and all(c in "0123456789abcdef" for c in token[:-1]),
              f"... holding 32 random bytes in hex ({len(token)} characters)")
        token = token.strip()
        target = start_target(cg, secret)
        pid = target.pid
        got = as_nobody(f"""
import json
out = {{}}
try:
    open({tokfile!r}).read()
    out["read"] = "read"
except PermissionError:
    out["read"] = "EACCES"
for name, path, tok in [("none", "/report/pid/{pid}", None), ("wrong", "/report/pid/{pid}", "x" * 64),
                        ("prefix", "/report/pid/{pid}", {token[:32]!r}), ("pprof", "/pprof/pid/{pid}", None),
                        ("cgroup", "/pprof/cgroup/", None), ("exited", "/exited", None),
                        ("unknown", "/no/such/path", None)]:
    st, h, body = http({d.addr!r}, path, tok)
    out[name] = [st, h.get("www-authenticate"), body.decode("utf-8", "replace")]
st, h, body = http({d.addr!r}, "/metrics")
out["metrics"] = [st, body.decode()]
st, h, body = http({d.addr!r}, "/report/pid/{pid}", {token!r})
out["right"] = [st, body.decode()]
print(json.dumps(out))
""")
        eq(got["read"], "EACCES", "nobody cannot read the token file")
        for name in ("none", "wrong", "prefix", "pprof", "cgroup", "exited", "unknown"):
            st, auth, body = got[name]
            eq((st, auth), (401, 'Bearer realm="tidemark"'), f"nobody, {name}: 401 with WWW-Authenticate")
            check(secret not in body and str(CHURN_LITE_PEAK) not in body, f"nobody, {name}: nothing leaks")
        st, body = got["metrics"]
        eq(st, 200, "nobody: /metrics is open")
        check(f'tidemark_process_peak_heap_bytes{{pid="{pid}",comm="churn_c",cgroup="/{os.path.basename(cg)}"}} '
              f'{CHURN_LITE_PEAK}' in body, "nobody: /metrics has the target's exact peak")
        check(secret not in body and "cmdline" not in body and "--password" not in body,
              "/metrics holds no command line by default")
        check_report(got["right"][0], got["right"][1], pid, secret, "TCP, nobody with the token")
        st, h, body = d.get("/metrics", method="POST")
        eq((st, h.get("allow")), (405, "GET, HEAD"), "POST: 405 with Allow")
        st, h, body = d.get(f"/report/pid/{pid}", token, method="HEAD")
        eq((st, body), (200, b""), "HEAD: the status, no body")
        check(int(h.get("content-length", 0)) > 0, "HEAD: the length of the body GET would send")
        d.stop()

        # No --token-file: per-process endpoints are refused to every TCP client.
        d = Daemon(cg, "127.0.0.1:0")
        st, h, body = d.get(f"/report/pid/{pid}")
        eq(st, 403, "TCP without --token-file: per-process endpoints are forbidden")
        check(b"--token-file" in body, f"... and the answer says how to enable them: {body!r}")
        eq(d.get("/metrics")[0], 200, "... /metrics stays open")
        d.stop()

        # --metrics-cmdline: the command lines are in /metrics, which then needs the token.
        d = Daemon(cg, "127.0.0.1:0", ["--token-file", tokfile, "--metrics-cmdline"])
        got = as_nobody(f"""
import json
st, h, body = http({d.addr!r}, "/metrics")
print(json.dumps(st))
""")
        eq(got, 401, "--metrics-cmdline: /metrics needs the token")
        m = d.metrics(token)
        check(any(f"--password={secret}" in k and f'pid="{pid}"' in k for k in m),
              "--metrics-cmdline: the series carry the command line")
        d.stop()
        d = None
        end_target(target)
        target = None

        # Token files that are not safe are refused, one line each.
        bad = os.path.join(top, "bad-token")
        open(bad, "w").write(secrets.token_hex(32))
        os.chmod(bad, 0o644)
        err = refused(["--cgroup", cg, "--listen", "127.0.0.1:0", "--token-file", bad], "a token file others can read")
        check(f"chmod 600 {bad}" in err, f"says how to fix it: {err!r}")
        os.chmod(bad, 0o600)
        os.chown(bad, NOBODY, NOBODY)
        err = refused(["--cgroup", cg, "--listen", "127.0.0.1:0", "--token-file", bad], "a token file of another user")
        check("owned by uid 65534" in err, f"names the owner: {err!r}")
        link = os.path.join(top, "link-token")
        os.symlink(tokfile, link)
        err = refused(["--cgroup", cg, "--listen", "127.0.0.1:0", "--token-file", link], "a token file that is a symlink")
        check("symbolic link" in err, f"names the problem: {err!r}")
        short = os.path.join(top, "short-token")
        fd = os.open(short, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"abc\n")
        os.close(fd)
        err = refused(["--cgroup", cg, "--listen", "127.0.0.1:0", "--token-file", short], "a token too short")
        check("16 to 256" in err, f"says what a token is: {err!r}")
        err = refused(["--cgroup", cg, "--listen", f"unix:{top}/x.sock", "--token-file", tokfile], "a token on a unix socket")
        check("--token-file is for a TCP --listen" in err, f"explains: {err!r}")
        # A new token is never written through a directory link another user planted:
        # nobody links /tmp/NAME to a root directory; the daemon must not create the token there.
        planted = f"/tmp/tm-token-link-{os.getpid()}"
        as_nobody(f"import os; os.symlink({top!r}, {planted!r}); print('{{}}')")
        try:
            err = refused(["--cgroup", cg, "--listen", "127.0.0.1:0", "--token-file", f"{planted}/new-token"],
                          "a new token through a planted directory link")
            check(not os.path.exists(os.path.join(top, "new-token")), "... and nothing is created behind the link")
        finally:
            os.unlink(planted)
    finally:
        if target:
            end_target(target)
        if d:
            d.stop()
        subprocess.run(["rm", "-rf", top])
        os.rmdir(cg)


def churn(cg, n):
    """n short churn_c processes, started together; their pids once all have exited."""
    ps = [subprocess.Popen([CHURN, str(1 + i % 3)], preexec_fn=in_cgroup(cg)) for i in range(n)]
    for p in ps:
        eq(p.wait(timeout=60), 0, "a churn process exits 0")
    return [p.pid for p in ps]


def wait_for(d, token, cond, timeout=60):
    t0 = time.time()
    while True:
        m = d.metrics(token)
        if cond(m) or time.time() - t0 > timeout:
            return m
        time.sleep(0.25)


def latency(m, before=None):
    n = m["tidemark_exit_record_latency_seconds_count"] - (before or {}).get("tidemark_exit_record_latency_seconds_count", 0)
    s = m["tidemark_exit_record_latency_seconds_sum"] - (before or {}).get("tidemark_exit_record_latency_seconds_sum", 0)
    return f"mean {1e3 * s / n:.2f} ms over {int(n)} exits" if n else "no exits"


def test_slow_clients_do_not_delay_tracing():
    cg = limited_cgroup("tidemark-test-http-slow", 4 << 30)
    tokdir = tempfile.mkdtemp(prefix="tm-http-", dir="/run")
    token = secrets.token_hex(32)
    fd = os.open(os.path.join(tokdir, "token"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, token.encode())
    os.close(fd)
    d = None
    idle = []
    try:
        d = Daemon(cg, "127.0.0.1:0", ["--token-file", os.path.join(tokdir, "token")])
        N = 30
        m0 = d.metrics()
        base = churn(cg, N)
        m1 = wait_for(d, token, lambda m: m["tidemark_processes_exited_total"] >= N)
        ex = d.exited(token)
        eq({p: ex.get(p) for p in base}, {p: CHURN_LITE_PEAK for p in base}, f"no clients: {N} processes, exact peaks")

        # 100 idle connections and a slowloris client (a valid request, one byte every 1.5 s).
        for _ in range(100):
            s = socket.create_connection(d.addr)
            idle.append(s)
        req = f"GET /report/pid/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        slow = {"sent": 0, "closed_after": None}

        def slowloris():
            s = socket.create_connection(d.addr)
            t0 = time.time()
            try:
                for b in req:
                    s.send(bytes([b]))
                    slow["sent"] += 1
                    s.settimeout(1.5)
                    try:
                        if s.recv(1) == b"":
                            break
                    except socket.timeout:
                        continue
            except OSError:
                pass
            slow["closed_after"] = time.time() - t0
            s.close()
        th = threading.Thread(target=slowloris)
        th.start()
        time.sleep(0.5)
        busy = churn(cg, N)
        m2 = wait_for(d, token, lambda m: m["tidemark_processes_exited_total"] >= 2 * N)
        ex = d.exited(token)
        eq({p: ex.get(p) for p in busy}, {p: CHURN_LITE_PEAK for p in busy},
           f"100 idle clients and a slowloris: {N} more processes, each traced with its exact peak")
        eq(m2["tidemark_processes_exited_total"], 2.0 * N, f"{2 * N} exits recorded")
        eq(m2['tidemark_kernel_events_total{what="procs_full"}'], 0.0, "no process went untraced")
        eq(sum(v for k, v in m2.items() if k.startswith("tidemark_ring_lost_total")), 0.0, "no notice lost")
        print(f"    note: exit-to-record latency: 0 HTTP clients {latency(m1, m0)}; "
              f"100 idle + 1 slowloris {latency(m2, m1)}; max so far {1e3 * m2['tidemark_exit_record_latency_max_seconds']:.2f} ms")

        # Both are dropped at the read deadline (5 s); nothing was answered to the slowloris.
        th.join(timeout=60)
        check(slow["closed_after"] is not None and slow["sent"] < len(req),
              f"the slowloris is dropped before its request is complete ({slow['sent']} of {len(req)} bytes)")
        for s in idle:
            s.settimeout(30)
            try:
                gone = s.recv(1) == b""
            except OSError:
                gone = True
            check(gone, "an idle connection is closed by the daemon")
        m3 = d.metrics(token)
        eq(m3['tidemark_http_connections_total{outcome="timed_out"}'], 101.0, "101 connections timed out")
        eq(m3["tidemark_http_connections_open"], 1.0, "only this scrape is open")
        for s in idle:
            s.close()
        idle = []

        # The cap: 128 open; the next one is answered 503 at once.
        for _ in range(128):
            idle.append(socket.create_connection(d.addr))
        time.sleep(0.5)
        s = socket.create_connection(d.addr)
        s.settimeout(30)
        eq(s.recv(64)[:12], b"HTTP/1.1 503", "connection 129 gets 503")
        s.close()
        for s in idle:
            s.close()
        idle = []
        time.sleep(0.5)
        m4 = d.metrics(token)
        eq(m4['tidemark_http_connections_total{outcome="refused"}'], 1.0, "one refused over the cap")
    finally:
        for s in idle:
            s.close()
        if d:
            d.stop()
        subprocess.run(["rm", "-rf", tokdir])
        os.rmdir(cg)


# Starts EXE at RATE a second for SECS seconds from inside CGROUP (fast: posix_spawn, no exec of
# its own in the cgroup, so only EXE's processes are selected); prints "started failed".
SPAWNER = r'''
import os, sys, time
cg, exe, rate, secs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
open(os.path.join(cg, "cgroup.procs"), "w").write(str(os.getpid()))
t0, n, failed = time.time(), 0, 0
def reap(flags):
    global failed
    while True:
        try:
            pid, status = os.waitpid(-1, flags)
        except ChildProcessError:
            return
        if pid == 0:
            return
        failed += status != 0
while time.time() - t0 < secs:
    os.posix_spawn(exe, [exe], os.environ)
    n += 1
    reap(os.WNOHANG)
    time.sleep(max(0.0, t0 + n / rate - time.time()))
reap(0)
print(n, failed)
'''


def test_stopped_drain_recovers():
    cg = limited_cgroup("tidemark-test-http-stop", 8 << 30)
    tokdir = tempfile.mkdtemp(prefix="tm-http-", dir="/run")
    tok = os.path.join(tokdir, "token")
    d = None
    live = []
    try:
        d = Daemon(cg, "127.0.0.1:0", ["--token-file", tok])
        token = open(tok).read().strip()
        m0 = d.metrics(token)
        # Stopped for 10 s while ~100 processes a second start and exit.
        # Three long-lived processes start at the end, when the ring is full: their start notices
        # are lost too, and they must be adopted, not left untraced.
        os.kill(d.p.pid, signal.SIGSTOP)
        t0 = time.time()
        try:
            r = subprocess.run(["/usr/bin/python3", "-c", SPAWNER, cg, "/bin/true", "100", "10"],
                               capture_output=True, text=True, timeout=120)
            for i in range(3):
                live.append(start_target(cg, f"live-{i}"))
        finally:
            os.kill(d.p.pid, signal.SIGCONT)
        eq(r.returncode, 0, f"the spawner ran ({r.stderr[-300:]})")
        n, failed = map(int, r.stdout.split())
        eq(failed, 0, "every process exited 0")
        print(f"    note: {n} processes started in {time.time() - t0:.1f} s while the daemon was stopped")
        # The ring (64 KiB) holds 61 exit notices: fewer processes than that lose nothing to recover.
        if n < 100:
            skip(f"the machine is too loaded to start processes fast: {n} in 10 s, the ring did not overflow")
        m = wait_for(d, token, lambda m: m['tidemark_map_entries{map="procs"}'] == 3 and m["tidemark_processes_tracked"] == 3
                     and m["tidemark_processes_adopted_total"] == 3)
        eq(m['tidemark_map_entries{map="procs"}'], 3.0, "procs: back to the live count (3) after the stop")
        eq(m["tidemark_processes_tracked"], 3.0, "no dead process left tracked, the 3 live ones are")
        eq(m["tidemark_processes_adopted_total"], 3.0, "the 3 whose start notice was lost are adopted")
        for t in live:
            st, _, body = d.get(f"/report/pid/{t.pid}", token)
            check_report(st, body, t.pid, f"live-{live.index(t)}", "adopted after the stop")
            end_target(t)
        m = wait_for(d, token, lambda m: m['tidemark_map_entries{map="procs"}'] == 0 and m["tidemark_processes_tracked"] == 0
                     and m['tidemark_map_entries{map="aggs"}'] == m0['tidemark_map_entries{map="aggs"}'])
        eq(m['tidemark_map_entries{map="procs"}'], 0.0, "procs: empty once they exited")
        check(m["tidemark_drain_stalls_total"] >= 1 and m["tidemark_drain_stall_longest_seconds"] >= 9,
              f"the stall is detected ({m['tidemark_drain_stalls_total']}, longest "
              f"{m['tidemark_drain_stall_longest_seconds']} s)")
        check("the drain stalled for" in d.err(), "... and said on stderr")
        lost_exit = m['tidemark_ring_lost_total{notice="exit"}']
        check(lost_exit > 0, f"exit notices lost while stopped are counted ({lost_exit})")
        lost_exec = m['tidemark_ring_lost_total{notice="exec"}']
        print(f"    note: lost notices: {int(lost_exit)} exit, {int(lost_exec)} exec; "
              f"{int(m['tidemark_processes_adopted_total'])} processes adopted")
        eq(m["tidemark_exits_recovered_total"], lost_exit, "each exit whose notice was lost is recovered from procs")
        full = m['tidemark_kernel_events_total{what="procs_full"}']
        eq(m["tidemark_processes_exited_total"] + full, float(n + 3),
           f"every process started is an exit recorded or counted as untraced (procs_full {full})")
        for mp in ("regions", "aggs", "stacks"):
            eq(m[f'tidemark_map_entries{{map="{mp}"}}'], m0[f'tidemark_map_entries{{map="{mp}"}}'],
               f"{mp}: the dead processes' entries reaped")

        # The daemon's reports say what was lost, as /metrics does.
        target = start_target(cg, "after-the-stop")
        st, _, body = d.get(f"/report/pid/{target.pid}", token)
        eq(st, 200, "a process started after the stop has its report")
        if st == 200:
            rep = json.loads(body)
            eq(rep["totals"]["peak_bytes"], CHURN_LITE_PEAK, "... with its exact peak")
            eq((rep["stats"]["lost_exit"], rep["stats"]["lost_exec"]), (lost_exit, lost_exec),
               "... and the notices lost, as /metrics counts them (JSON stats)")
        st, _, body = d.get(f"/pprof/pid/{target.pid}", token)
        check(f"ring buffer full, notices lost: exit={int(lost_exit)}".encode() in gzip.decompress(body),
              "... and as a pprof comment")
        end_target(target)
        m1 = wait_for(d, token, lambda x: x["tidemark_processes_exited_total"] == m["tidemark_processes_exited_total"] + 1)

        # New processes are traced exactly again.
        after = []
        for _ in range(10):
            after += churn(cg, 1)
        m2 = wait_for(d, token, lambda x: x["tidemark_processes_exited_total"] >= m1["tidemark_processes_exited_total"] + 10)
        ex = d.exited(token)
        eq({p: ex.get(p) for p in after}, {p: CHURN_LITE_PEAK for p in after}, "after the stop: 10 processes, exact peaks")
        eq(m2["tidemark_processes_exited_total"], m1["tidemark_processes_exited_total"] + 10, "10 more exits")
        eq(m2['tidemark_kernel_events_total{what="procs_full"}'], full, "none untraced")
    finally:
        for t in live:
            if t.poll() is None:
                end_target(t)
        if d:
            os.kill(d.p.pid, signal.SIGCONT)
            d.stop()
        subprocess.run(["rm", "-rf", tokdir])
        os.rmdir(cg)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skip: needs root (BPF, cgroups, and a second user)")
        print("0 passed, 0 failed, 1 skipped")
        raise SystemExit(0)
    if not memory_root()[0]:
        print("skip: no memory cgroup controller mounted")
        print("0 passed, 0 failed, 1 skipped")
        raise SystemExit(0)
    main([test_unix_socket_access, test_token_access, test_slow_clients_do_not_delay_tracing,
          test_stopped_drain_recovers])
