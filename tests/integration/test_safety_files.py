# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Every file tidemark writes, attacked as issue #10 found it could be (as root, in directories
other users can write, with fs.protected_symlinks=0 and fs.protected_hardlinks=0, as containers
and some distributions run): an unprivileged user made by the test (uid 65534) plants symlinks and
hard links to a root-owned 0600 victim at every name each writer could use -- the capture (`run -o`),
`report -o`, `diff -o`, the daemon's periodic pprof files and its OOM post-mortems -- including the
predictable NAME.tmp names of old. The victim's content, mode and owner never change; every file
written is mode 0600 (even under umask 0); devices and FIFOs are written as streams and survive; the
--output-dir, --in-cgroup and small input checks refuse what they must in one line."""
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import traceback
import urllib.request

from tmtest import OUT, ROOT, TIDEMARK, WORKLOADS, check, eq, main, skip, tidemark

NOBODY = 65534
SAFE = os.path.join(OUT, "safety")
VAULT = os.path.join(SAFE, "vault")          # root's, 0755: where the victim lives
SECRET = b"root's secret: must never change\n"
SYSCTLS = ("fs.protected_symlinks", "fs.protected_hardlinks", "fs.protected_regular", "fs.protected_fifos")


def as_nobody(fn):
    """Run fn as uid/gid 65534 with no groups: the attacker."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fn()
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    _, st = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(st) != 0:
        raise AssertionError("the unprivileged user's step failed")


class Victim:
    """A root-owned 0600 file next to the attack directories (same filesystem: hard links work)."""

    def __init__(self, name):
        self.path = os.path.join(VAULT, name)
        with open(self.path, "wb") as f:
            f.write(SECRET)
        os.chmod(self.path, 0o600)
        os.chown(self.path, 0, 0)
        self.ino = os.stat(self.path).st_ino

    def unchanged(self, what):
        st = os.stat(self.path)
        eq((open(self.path, "rb").read(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_ino),
           (SECRET, 0o600, 0, 0, self.ino), f"{what}: the victim's content, mode and owner")


def attack_dir(name, sticky):
    """A directory anyone can write: /tmp-like (sticky) or not."""
    d = os.path.join(SAFE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.mkdir(d)
    os.chmod(d, 0o1777 if sticky else 0o777)
    return d


def one_line(r, words, what, rc=None):
    lines = r.stderr.strip().splitlines()
    check(r.returncode != 0 if rc is None else r.returncode == rc, f"{what}: exit status {r.returncode}")
    check(len(lines) == 1 and all(w in r.stderr for w in words), f"{what}: one line naming {words}: {lines}")


def mode_of(path):
    st = os.lstat(path)
    return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid


def umask0():
    os.umask(0)


def ours(path, what, victim=None):
    """A regular file tidemark wrote: root's, 0600 even under umask 0, not the victim's inode."""
    st = os.lstat(path)
    eq((stat.S_ISREG(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid), (True, 0o600, 0), f"{what}: root's, 0600")
    if victim:
        check(st.st_ino != victim.ino, f"{what}: a new file, not the victim's inode")


def setup():
    if os.geteuid() != 0:
        skip("needs root (BPF, other users, sysctls)")
    try:
        os.stat("/proc/sys/fs/protected_symlinks")
    except OSError:
        skip("no fs.protected_* sysctls to lower")
    shutil.rmtree(SAFE, ignore_errors=True)
    os.makedirs(VAULT)
    os.chmod(SAFE, 0o755)
    os.chmod(VAULT, 0o755)


def capture():
    """A small real capture to render (gt_alloc, traced once)."""
    cap = os.path.join(SAFE, "gt.tdm")
    if not os.path.exists(cap):
        r = tidemark("run", "-q", "-o", cap, "--", os.path.join(WORKLOADS, "gt_alloc"))
        if r.returncode != 7:
            raise AssertionError(f"run gt_alloc: {r.returncode} {r.stderr}")
    return cap


def attack_writer(label, write, full_run):
    """
    The attacks on one writer, in a sticky and a non-sticky world-writable directory.
    write(path) -> CompletedProcess writes one file at path; full_run(path) says the run succeeded.
    """
    for sticky in (True, False):
        how = f"{label} ({'sticky' if sticky else 'non-sticky'} world-writable dir)"
        d = attack_dir(f"{label}-{'sticky' if sticky else 'open'}", sticky)
        v = Victim(f"victim-{label}-{int(sticky)}")
        sub = os.path.join(d, "sub")
        names = {k: os.path.join(d, k) for k in ("sym", "hard", "theirs", "fifo")}

        def plant():
            os.symlink(v.path, names["sym"])
            os.link(v.path, names["hard"])
            # the temporaries an older tidemark used, and guesses at ours
            for n in ("hard", "sym"):
                os.symlink(v.path, names[n] + ".tmp")
                os.link(v.path, os.path.join(d, f".{n}.tmp"))
            os.symlink(VAULT, sub)
            with open(names["theirs"], "w") as f:
                f.write("theirs\n")
            os.mkfifo(names["fifo"], 0o666)
        as_nobody(plant)

        one_line(write(names["sym"]), ["symbolic link", "refusing"], f"{how}: a symlink at the name")
        eq(os.path.islink(names["sym"]), True, f"{how}: the symlink is left alone")
        one_line(write(os.path.join(sub, os.path.basename(v.path))), ["symbolic link", "refusing"],
                 f"{how}: a symlink as a directory on the way, to the victim's name")
        one_line(write(os.path.join(sub, "new")), ["symbolic link"], f"{how}: a symlink as a directory, new name")
        eq(os.path.exists(os.path.join(VAULT, "new")), False, f"{how}: nothing created through it")
        one_line(write(names["theirs"]), ["uid 65534", "refusing to replace"], f"{how}: another user's file")
        eq(open(names["theirs"]).read(), "theirs\n", f"{how}: their file is unchanged")
        one_line(write(names["fifo"]), ["FIFO of uid 65534", "refusing"], f"{how}: another user's FIFO")
        # A hard link to the victim at the name, and links at the old temporary names: written
        # beside them and renamed over the name, so only the name changes.
        r = write(names["hard"])
        check(full_run(r), f"{how}: written over a hard link's name: {r.returncode} {r.stderr[-300:]!r}")
        ours(names["hard"], f"{how}: the file at the hard link's name", v)
        for n in ("hard", "sym"):
            eq(os.path.islink(names[n] + ".tmp"), True, f"{how}: {n}.tmp (old temporary name) untouched")
            eq(os.stat(os.path.join(d, f".{n}.tmp")).st_ino, v.ino, f"{how}: .{n}.tmp untouched")
        eq(sorted(f for f in os.listdir(d) if f.endswith(".tmp")),
           [".hard.tmp", ".sym.tmp", "hard.tmp", "sym.tmp"], f"{how}: no temporary of ours left behind")
        v.unchanged(how)


def test_capture_run_o():
    setup()
    attack_writer("run", lambda p: tidemark("run", "-q", "-o", p, "--", "true", preexec_fn=umask0, timeout=60),
                  lambda r: r.returncode == 0)


def test_report_diff_o():
    setup()
    cap = capture()
    attack_writer("report", lambda p: tidemark("report", "--format", "json", "-o", p, cap, preexec_fn=umask0,
                                               timeout=60), lambda r: r.returncode == 0)
    attack_writer("diff", lambda p: tidemark("diff", "-o", p, cap, cap, preexec_fn=umask0, timeout=60),
                  lambda r: r.returncode == 0)
    # what report -o wrote is what report prints
    d = attack_dir("report-content", True)
    out = os.path.join(d, "r.json")
    eq(tidemark("report", "--format", "json", "-o", out, cap).returncode, 0, "report -o")
    eq(open(out).read(), tidemark("report", "--format", "json", cap).stdout, "report -o FILE == stdout")


def test_attach_o():
    setup()
    d = attack_dir("attach", True)
    v = Victim("victim-attach")
    target = subprocess.Popen([os.path.join(WORKLOADS, "gt_spin")])
    try:
        name = os.path.join(d, f"tidemark-{target.pid}.tdm")    # attach's default name
        as_nobody(lambda: os.symlink(v.path, name))
        r = tidemark("attach", "-p", str(target.pid), "-d", "1", cwd=d, timeout=60)
        one_line(r, ["symbolic link", "refusing"], "attach: a symlink at the default capture name, refused before tracing")
        os.unlink(name)
        as_nobody(lambda: os.link(v.path, name))
        r = tidemark("attach", "-q", "-p", str(target.pid), "-d", "1", cwd=d, preexec_fn=umask0, timeout=60)
        eq(r.returncode, 0, f"attach over a hard link's name: {r.stderr[-300:]!r}")
        ours(name, "attach: the capture", v)
        v.unchanged("attach")
    finally:
        target.kill()
        target.wait()


def daemon_until(args, logf, until, timeout=40):
    """Run tidemark daemon ARGS (stderr to logf) until until() or timeout; return its log."""
    with open(logf, "w") as log:
        p = subprocess.Popen([TIDEMARK, "daemon", *args], stderr=log)
    t0 = time.time()
    try:
        while time.time() - t0 < timeout and p.poll() is None and not until(open(logf).read()):
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            p.terminate()
        p.wait(timeout=60)
    return open(logf).read()


def utc(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def test_daemon_periodic_pprof():
    setup()
    d = attack_dir("periodic", True)
    v = Victim("victim-periodic")
    target = subprocess.Popen([os.path.join(WORKLOADS, "gt_spin")])
    pid = target.pid
    foreign = os.path.join(d, f"profile-20200101T000000Z-{pid}.pb.gz")
    now = int(time.time())
    names = [os.path.join(d, f"profile-{utc(t)}-{pid}.pb.gz") for t in range(now - 2, now + 120)]

    def plant():
        # every name of the next two minutes: a symlink at even seconds, a hard link at odd ones;
        # symlinks at the old temporary names; and another user's own profile
        for i, n in enumerate(names):
            (os.symlink if i % 2 == 0 else os.link)(v.path, n)
            os.symlink(v.path, n + ".tmp")
        with open(foreign, "w") as f:
            f.write("mine\n")
    try:
        as_nobody(plant)
        os.utime(foreign, (0, 0))   # as old as can be: pruning by age would take it
        seen, failed = set(), []

        def written(log):
            seen.update(f for f in os.listdir(d) if f.startswith("profile-") and os.path.isfile(os.path.join(d, f))
                        and os.stat(os.path.join(d, f)).st_ino != v.ino and os.stat(os.path.join(d, f)).st_uid == 0)
            if len(seen) < 3 or "refusing" not in log or "(port " not in log:
                return False
            # every refusal is counted: between the refusals logged before and after the scrape
            before = log.count("refusing")
            port = int(log.split("(port ")[1].split(")")[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                m = [ln for ln in r.read().decode().splitlines() if ln.startswith("tidemark_file_writes_failed_total ")]
            after = open(os.path.join(SAFE, "periodic.log")).read().count("refusing")
            failed.append((before, int(m[0].split()[1]) if m else None, after))
            return True
        log = daemon_until(["--pid", str(pid), "--output-dir", d, "--pprof-every", "1", "--pprof-keep", "1",
                            "--listen", "127.0.0.1:0"], os.path.join(SAFE, "periodic.log"), written)
        check(failed and failed[0][1] is not None and failed[0][0] <= failed[0][1] <= failed[0][2],
              f"tidemark_file_writes_failed_total counts the refusals (logged before, counted, logged after): {failed}")
        print(f"    measured: periodic files written and seen: {len(seen)}")
        check(len(seen) >= 3, f"the daemon wrote periodic files over the hard links' names: {sorted(seen)} {log[-400:]!r}")
        check("symbolic link" in log and "refusing" in log, "the symlinked names were refused, and said so")
        v.unchanged("daemon --pprof-every")
        eq(open(foreign).read(), "mine\n", "another user's old profile-*.pb.gz is not pruned")
        left = [f for f in seen if os.path.exists(os.path.join(d, f)) and os.stat(os.path.join(d, f)).st_ino != v.ino]
        check(len(left) < len(seen), f"our own old files were pruned ({len(left)} of {len(seen)} left)")
        for f in left:
            ours(os.path.join(d, f), f"periodic {f}", v)
        for i, n in enumerate(names):
            if i % 2 == 0:
                check(os.path.islink(n), f"{n}: the planted symlink is left alone")
    finally:
        target.kill()
        target.wait()


def test_daemon_oom_postmortem():
    setup()
    from test_oom import limited_cgroup
    cg = limited_cgroup("tidemark-test-safety", 64 << 20)
    try:
        for rnd, planter in (("symlinks", os.symlink), ("hard links", os.link)):
            d = attack_dir(f"oom-{rnd[0]}", True)
            v = Victim(f"victim-oom-{rnd[0]}")
            logf = os.path.join(SAFE, f"oom-{rnd[0]}.log")
            with open(logf, "w") as log:
                dm = subprocess.Popen([TIDEMARK, "daemon", "--cgroup", cg, "--output-dir", d], stderr=log)
            try:
                t0 = time.time()
                while "tracing" not in open(logf).read() and time.time() - t0 < 60 and dm.poll() is None:
                    time.sleep(0.2)
                py = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "workloads", "py_oom.py"),
                                       "--ready"], stdout=subprocess.PIPE, text=True,
                                      preexec_fn=lambda: open(os.path.join(cg, "cgroup.procs"), "w").write(str(os.getpid())))
                # it waits for no one: plant fast, for every second it could die in
                py.stdout.readline()
                now = int(time.time())
                cgname = os.path.basename(cg)
                names = [os.path.join(d, f"oom-{utc(t)}-{py.pid}-{cgname}{ext}")
                         for t in range(now - 5, now + 60) for ext in (".tdm", ".txt", ".json", ".pb.gz")]

                def plant():
                    for n in names:
                        planter(v.path, n)
                        os.symlink(v.path, n + ".tmp")
                as_nobody(plant)
                py.wait(timeout=120)
                eq(py.returncode, -9, f"{rnd}: py_oom is OOM-killed")
                t1 = time.time()
                while time.time() - t1 < 20:
                    log = open(logf).read()
                    if "OOM-killed; post-mortem:" in log or "refusing" in log:
                        break
                    time.sleep(0.2)
            finally:
                dm.terminate()
                dm.wait(timeout=60)
            log = open(logf).read()
            v.unchanged(f"OOM post-mortem, {rnd} planted")
            mine = [n for n in names if os.path.lexists(n) and not os.path.islink(n) and os.stat(n).st_ino != v.ino]
            if planter is os.symlink:
                check("refusing" in log and "OOM-killed; post-mortem:" not in log,
                      f"{rnd}: the post-mortem is refused, and said so: {log[-300:]!r}")
                eq(mine, [], f"{rnd}: nothing written through them")
            else:
                check("OOM-killed; post-mortem:" in log, f"{rnd}: the post-mortem is written: {log[-300:]!r}")
                eq(sorted(os.path.splitext(n)[1] for n in mine), [".gz", ".json", ".tdm", ".txt"],
                   f"{rnd}: capture, text, JSON and pprof written over the links' names")
                for n in mine:
                    ours(n, f"post-mortem {os.path.basename(n)}", v)
    finally:
        os.rmdir(cg)


def test_streams():
    """Devices and FIFOs are written in place and survive; a full device says so."""
    setup()
    cap = capture()
    null = os.path.join(VAULT, "null")
    full = os.path.join(VAULT, "full")
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    os.chmod(null, 0o666)   # not the umask's
    os.chmod(full, 0o666)
    r = tidemark("run", "-q", "-o", null, "--", "true")
    eq(r.returncode, 0, f"run -o NULLDEV: {r.stderr!r}")
    eq(mode_of(null), (stat.S_IFCHR, 0o666, 0), "the device is still a character device")
    # The real path /dev/null, in a private mount namespace where it is our node: the host's is never at risk.
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        f"mount --bind {null} /dev/null && {TIDEMARK} run -q -o /dev/null -- true; rc=$?; "
                        "stat -c %F /dev/null; exit $rc"], capture_output=True, text=True, timeout=120)
    eq((r.returncode, r.stdout.strip()), (0, "character special file"), f"run -o /dev/null: {r.stderr!r}")
    eq(mode_of(null), (stat.S_IFCHR, 0o666, 0), "/dev/null (our node) is still a character device")
    for args in (["run", "-q", "-o", full, "--", "true"], ["report", "-o", full, cap]):
        one_line(tidemark(*args), [f"writing {full} failed: no space left on device"], f"{args[0]} -o FULLDEV", rc=1)
        eq(mode_of(full), (stat.S_IFCHR, 0o666, 0), f"{args[0]}: the full device is still there")
    r = subprocess.run(f"{TIDEMARK} report {cap} > {full}", shell=True, capture_output=True, text=True)
    one_line(r, ["writing standard output failed: no space left on device"], "report > FULLDEV", rc=1)
    # A FIFO receives the bytes: the same as on stdout.
    fifo = os.path.join(VAULT, "fifo")
    os.mkfifo(fifo, 0o600)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    r = tidemark("report", "--format", "json", "-o", fifo, cap)
    reader.join(timeout=60)
    eq(r.returncode, 0, f"report -o FIFO: {r.stderr!r}")
    eq(got and got[0].decode(), tidemark("report", "--format", "json", cap).stdout, "the FIFO got report's bytes")
    eq(mode_of(fifo)[0], stat.S_IFIFO, "the FIFO is still a FIFO")
    got.clear()
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    r = tidemark("run", "-q", "-o", fifo, "--", os.path.join(WORKLOADS, "gt_alloc"))
    reader.join(timeout=60)
    eq(r.returncode, 7, f"run -o FIFO: gt_alloc's status: {r.stderr!r}")
    eq(got and got[0][:8], b"TIDEMARK", "the FIFO got a capture")
    if got:
        back = os.path.join(SAFE, "from-fifo.tdm")
        open(back, "wb").write(got[0])
        rep = tidemark("report", "--format", "json", back)
        eq(rep.returncode, 0, "the capture read from the FIFO is whole")
    # /dev/stdout: a root symlink in a root directory is followed, to the pipe
    r = tidemark("report", "--format", "json", "-o", "/dev/stdout", cap)
    eq((r.returncode, r.stdout), (0, tidemark("report", "--format", "json", cap).stdout), "report -o /dev/stdout")
    one_line(tidemark("report", "-o", VAULT, cap), ["is a directory"], "report -o DIR")


def test_output_dir_checks():
    setup()
    plain = os.path.join(SAFE, "plain")
    open(plain, "w").close()
    open_dir = attack_dir("outdir-open", False)
    theirs = os.path.join(SAFE, "outdir-theirs")
    os.mkdir(theirs)
    os.chown(theirs, NOBODY, NOBODY)
    for cmd in (["run", "-q"], ["daemon", "-d", "1"]):
        tail = ["--", "true"] if cmd[0] == "run" else []
        one_line(tidemark(*cmd, "--output-dir", plain, *tail), [plain, "not a directory"], f"{cmd[0]}: a plain file")
        one_line(tidemark(*cmd, "--output-dir", open_dir, *tail), ["writable by other users", "not sticky"],
                 f"{cmd[0]}: a world-writable, non-sticky directory")
        one_line(tidemark(*cmd, "--output-dir", theirs, *tail), ["uid 65534", "not to root or you"],
                 f"{cmd[0]}: another user's directory")
        new = os.path.join(SAFE, f"outdir-new-{cmd[0]}")
        r = tidemark(*cmd, "--output-dir", new, *tail, cwd=SAFE)
        eq(r.returncode, 0, f"{cmd[0]}: a missing --output-dir: {r.stderr[-300:]!r}")
        eq(mode_of(new), (stat.S_IFDIR, 0o700, 0), f"{cmd[0]}: a missing --output-dir is made, mode 0700")
    sticky = attack_dir("outdir-sticky", True)
    r = tidemark("run", "-q", "-o", os.path.join(SAFE, "t.tdm"), "--output-dir", sticky, "--", "true")
    eq(r.returncode, 0, f"a sticky world-writable --output-dir is accepted: {r.stderr!r}")


def test_in_cgroup_checks():
    setup()
    d = attack_dir("notcg", True)
    for bad in (d, "/tmp"):
        existed = os.path.exists(os.path.join(bad, "cgroup.procs"))
        one_line(tidemark("run", "--in-cgroup", bad, "--", "true"), [bad, "not a cgroup directory"],
                 f"--in-cgroup {bad}")
        eq(os.path.exists(os.path.join(bad, "cgroup.procs")), existed, f"{bad}/cgroup.procs not created")
    one_line(tidemark("run", "--in-cgroup", os.path.join(SAFE, "nope"), "--", "true"), ["nope"],
             "--in-cgroup that does not exist")


def test_small_inputs():
    setup()
    spin = subprocess.Popen([os.path.join(WORKLOADS, "gt_spin")])
    try:
        for bad in ("nan", "inf", "-1", "0", "-inf", "1e400"):
            one_line(tidemark("attach", "-p", str(spin.pid), "-d", bad), ["-d wants", bad], f"attach -d {bad}", rc=2)
            one_line(tidemark("daemon", "-d", bad), ["-d wants", bad], f"daemon -d {bad}", rc=2)
        one_line(tidemark("daemon", "--pprof-every", "nan", "--output-dir", SAFE), ["--pprof-every wants"],
                 "--pprof-every nan", rc=2)
    finally:
        spin.kill()
        spin.wait()
    # a zombie: a child that exited and was not reaped
    z = subprocess.Popen(["true"])
    t0 = time.time()
    while open(f"/proc/{z.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z" and time.time() - t0 < 10:
        time.sleep(0.05)
    one_line(tidemark("attach", "-p", str(z.pid), "-d", "1"), ["zombie", str(z.pid)], "attach to a zombie", rc=1)
    z.wait()
    one_line(tidemark("attach", "-p", "2", "-d", "1"), ["kernel thread"], "attach to a kernel thread (kthreadd)", rc=1)
    # A target that is gone before the probes are in (loading takes seconds): said in one line.
    short = subprocess.Popen(["sleep", "0.3"])
    r = tidemark("attach", "-p", str(short.pid), "-o", os.path.join(SAFE, "short.tdm"), timeout=120)
    short.wait()
    one_line(r, [f"pid {short.pid} exited while tidemark was loading"], "a target that exits during the load", rc=1)
    eq(os.path.exists(os.path.join(SAFE, "short.tdm")), False, "no capture of nothing is left")


def test_sanitized_run():
    """A SANITIZE=1 (ASan+UBSan+LSan) build of this tree, in a copy: run passes with no report."""
    setup()
    if os.environ.get("TM_SKIP_ASAN_BUILD"):
        skip("TM_SKIP_ASAN_BUILD is set")
    src = os.path.join(SAFE, "asan-tree")
    os.makedirs(src)
    for part in ("Makefile", "bpf", "include", "user", "vmlinux"):
        p = os.path.join(ROOT, part)
        (shutil.copytree if os.path.isdir(p) else shutil.copy)(p, os.path.join(src, part))
    r = subprocess.run(["make", "-s", "-j2", "SANITIZE=1", "tidemark"], cwd=src, capture_output=True, text=True,
                       timeout=1800)
    if r.returncode:
        raise AssertionError(f"SANITIZE=1 build failed: {r.stderr[-800:]}")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    cap = os.path.join(SAFE, "asan.tdm")
    r = subprocess.run([os.path.join(src, "tidemark"), "run", "-q", "-o", cap, "--",
                        os.path.join(WORKLOADS, "gt_alloc")], capture_output=True, text=True, timeout=300, env=env)
    eq(r.returncode, 7, f"run under ASan exits with gt_alloc's status: {r.stderr[-800:]!r}")
    for bad in ("LeakSanitizer", "AddressSanitizer", "runtime error"):
        check(bad not in r.stderr, f"no {bad} report: {r.stderr[-800:]!r}")
    r = subprocess.run([os.path.join(src, "tidemark"), "report", cap], capture_output=True, text=True, env=env)
    check(r.returncode == 0 and not r.stderr, f"report under ASan: {r.stderr[-800:]!r}")
    shutil.rmtree(src, ignore_errors=True)


def with_sysctls(tests):
    """Lower the kernel's own protections for the attacks, and put them back afterwards."""
    saved = {}
    for s in SYSCTLS:
        p = "/proc/sys/" + s.replace(".", "/")
        if os.path.exists(p) and os.geteuid() == 0:
            saved[p] = open(p).read().strip()
            open(p, "w").write("0")
    try:
        main(tests)
    finally:
        for p, v in saved.items():
            open(p, "w").write(v)


ALL = [test_capture_run_o, test_report_diff_o, test_attach_o, test_daemon_periodic_pprof, test_daemon_oom_postmortem,
       test_streams, test_output_dir_checks, test_in_cgroup_checks, test_small_inputs, test_sanitized_run]

if __name__ == "__main__":
    # python3 test_safety_files.py [test_name ...]: all, or the ones named
    with_sysctls([t for t in ALL if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]])
