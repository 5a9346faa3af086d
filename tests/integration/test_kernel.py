# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Runs where users run it (issue #11): without tracefs or debugfs mounted (a fresh host, a
container), gt_alloc's ground truth to the byte and `make demo`; and a host that cannot trace
(no BTF, no uprobes, bpf() refused by seccomp, no CAP_SYS_ADMIN) gets one line naming what is
missing, a non-zero exit, and nothing left attached. Each case is made real in a private mount
namespace or a child's own seccomp filter and capability set, never by faking tidemark's view.
Below the floor (6.1) is made real by booting Debian 11's 5.10 (tests/vm/run.sh --kernel 5.10):
those tests skip on a kernel that has every feature tidemark probes."""
import ctypes
import json
import os
import shutil
import struct
import subprocess
import time

from test_core import GT, assert_ground_truth, one_line_error, target_bytes
from tmtest import OUT, ROOT, TIDEMARK, WORKLOADS, check, eq, main, report_json, skip

# Unmount tracefs and debugfs (innermost first) in a private mount namespace, prove they are
# gone, then run the command there. What tidemark mounts dies with the namespace.
BARE = ("for m in /sys/kernel/debug/tracing /sys/kernel/tracing /sys/kernel/debug; do "
        "while umount -l $m 2>/dev/null; do :; done; done; "
        "if grep -qE ' - (tracefs|debugfs) ' /proc/self/mountinfo; then "
        "echo 'tracefs or debugfs still mounted' >&2; exit 99; fi; ")


def in_ns(setup, argv, **kw):
    if not shutil.which("unshare"):
        skip("no unshare(1) (util-linux)")
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", setup + 'exec "$@"',
                           "sh", *argv], capture_output=True, text=True, timeout=600, **kw)


def test_run_without_tracefs():
    r = in_ns(BARE, [TIDEMARK, "run", "-o", os.path.join(OUT, "bare_true.tdm"), "--", "/bin/true"])
    eq(r.returncode, 0, f"run -- /bin/true without tracefs ({r.stderr.strip()[-300:]})")
    check("mounted tracefs at /sys/kernel/tracing" in r.stderr, f"says it mounted tracefs: {r.stderr[:200]!r}")
    cap = os.path.join(OUT, "bare_gt.tdm")
    r = in_ns(BARE, [TIDEMARK, "run", "-q", "-o", cap, "--", GT])
    eq(r.returncode, 7, f"gt_alloc's exit status without tracefs ({r.stderr.strip()[-300:]})")
    assert_ground_truth(report_json(cap), "run without tracefs")


def test_demo_without_tracefs():
    r = in_ns(BARE, ["make", "-s", "--no-print-directory", "-C", ROOT, "demo"])
    eq(r.returncode, 0, f"make demo without tracefs ({r.stderr.strip()[-300:]})")
    # the demo's leak view shows gt_alloc's leak: 1,000 blocks of 100 bytes at site_leak
    check(any("site_leak" in ln and "100,000" in ln for ln in r.stdout.splitlines()),
          "the demo's report names site_leak with its 100,000 bytes")


def spinning_target():
    t = subprocess.Popen([os.path.join(WORKLOADS, "gt_spin")])
    time.sleep(0.1)
    return t, target_bytes(t.pid, "malloc")


def refused(argv_prefix, words, what, setup=None, preexec_fn=None):
    """attach and run both refuse with one line; the target's malloc is untouched."""
    t, clean = spinning_target()
    try:
        for cmd in (["attach", "-p", str(t.pid), "-o", os.path.join(OUT, "refused.tdm")],
                    ["run", "-o", os.path.join(OUT, "refused.tdm"), "--", "/bin/true"]):
            argv = [*argv_prefix, TIDEMARK, *cmd]
            r = in_ns(setup, argv) if setup else subprocess.run(argv, capture_output=True, text=True,
                                                                timeout=120, preexec_fn=preexec_fn)
            one_line_error(r, words, f"{what}: {cmd[0]}")
        eq(target_bytes(t.pid, "malloc"), clean, f"{what}: the target's malloc is as it was")
        check(t.poll() is None, f"{what}: the target lives on")
    finally:
        t.kill()
        t.wait()


def test_no_capabilities():
    if not shutil.which("capsh"):
        skip("no capsh (Debian libcap2-bin)")
    # capsh's "--" runs /bin/sh: tidemark goes through "-c"
    t, clean = spinning_target()
    try:
        for drop, miss in (("cap_sys_admin", "missing CAP_SYS_ADMIN:"),
                           ("cap_sys_admin,cap_bpf,cap_perfmon", "missing CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON")):
            r = subprocess.run(["capsh", f"--drop={drop}", "--", "-c",
                                f"exec {TIDEMARK} attach -p {t.pid} -o {OUT}/refused.tdm"],
                               capture_output=True, text=True, timeout=120)
            one_line_error(r, ["needs CAP_SYS_ADMIN", miss, "run as root"], f"without {drop}")
        eq(target_bytes(t.pid, "malloc"), clean, "no caps: the target's malloc is as it was")
        check(t.poll() is None, "no caps: the target lives on")
    finally:
        t.kill()
        t.wait()


def test_no_btf():
    # libbpf also looks for vmlinux files under /boot and /lib/modules: hide those as well.
    rel = os.uname().release
    extra = [p for p in (f"/boot/vmlinux-{rel}", f"/lib/modules/{rel}/vmlinux-{rel}",
                         f"/usr/lib/debug/boot/vmlinux-{rel}", f"/usr/lib/modules/{rel}/vmlinux-{rel}")
             if os.path.exists(p)]
    if extra:
        skip(f"this host also has BTF in {extra[0]}")
    refused([], ["exposes no BTF", "CONFIG_DEBUG_INFO_BTF"], "no BTF",
            setup="mount -t tmpfs none /sys/kernel/btf || exit 98; ")


def test_no_uprobes():
    refused([], ["has no uprobes", "CONFIG_UPROBE_EVENTS"], "no uprobes",
            setup="mount -t tmpfs none /sys/bus/event_source/devices/uprobe || exit 98; ")


# A seccomp filter that fails bpf() (x86-64: 321) with errno, as container runtimes' profiles do.
def seccomp_deny_bpf(errno):
    def install():
        libc = ctypes.CDLL(None, use_errno=True)
        # BPF_LD|W|ABS [nr]; JEQ 321 ? next : skip; RET ERRNO|errno; RET ALLOW
        prog = b"".join(struct.pack("HBBI", *i) for i in (
            (0x20, 0, 0, 0), (0x15, 0, 1, 321), (0x06, 0, 0, 0x00050000 | errno), (0x06, 0, 0, 0x7fff0000)))
        buf = ctypes.create_string_buffer(prog)
        fprog = struct.pack("HxxxxxxQ", 4, ctypes.addressof(buf))
        fbuf = ctypes.create_string_buffer(fprog)
        # PR_SET_SECCOMP 22, SECCOMP_MODE_FILTER 2; as root no PR_SET_NO_NEW_PRIVS is needed
        ul = ctypes.c_ulong
        if libc.prctl(22, ul(2), ul(ctypes.addressof(fbuf)), ul(0), ul(0)):
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    return install


def test_bpf_syscall_refused():
    if os.uname().machine != "x86_64":
        skip(f"the seccomp filter here names x86-64's bpf() number; this is {os.uname().machine}")
    refused([], ["bpf() system call is refused", "seccomp"], "bpf() EPERM", preexec_fn=seccomp_deny_bpf(1))
    refused([], ["has no bpf() system call", "CONFIG_BPF_SYSCALL"], "bpf() ENOSYS",
            preexec_fn=seccomp_deny_bpf(38))


# What user/trace/kernel.c probes, newest first as it names them, with the BTF enumerator that a
# kernel which has the feature declares: the kernel's own word, read apart from libbpf's probes.
FEATURES = [("bpf_loop()", "5.17", "BPF_FUNC_loop"),
            ("bpf_task_pt_regs()", "5.15", "BPF_FUNC_task_pt_regs"),
            ("BPF_PROG_TYPE_SYSCALL", "5.14", "BPF_PROG_TYPE_SYSCALL"),
            ("bpf_for_each_map_elem()", "5.13", "BPF_FUNC_for_each_map_elem"),
            ("task local storage", "5.11", "BPF_MAP_TYPE_TASK_STORAGE"),
            ("bpf_get_current_task_btf()", "5.11", "BPF_FUNC_get_current_task_btf"),
            ("the BPF ring buffer", "5.8", "BPF_MAP_TYPE_RINGBUF")]
# Debian 11's 5.10 (tests/vm/run.sh --kernel 5.10) has the ring buffer and none of the rest.
MISSING_5_10 = ["bpf_loop() (5.17)", "bpf_task_pt_regs() (5.15)", "BPF_PROG_TYPE_SYSCALL (5.14)",
                "bpf_for_each_map_elem() (5.13)", "task local storage (5.11)",
                "bpf_get_current_task_btf() (5.11)"]


def btf_enumerators():
    if not shutil.which("bpftool"):
        skip("no bpftool (Debian bpftool, a build dependency)")
    r = subprocess.run(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "raw"],
                       capture_output=True, text=True, timeout=300)
    eq(r.returncode, 0, f"bpftool dumps the kernel's BTF ({r.stderr.strip()[-200:]})")
    return {ln.split("'")[1] for ln in r.stdout.splitlines() if ln.startswith("\t'") and " val=" in ln}


def missing_by_btf():
    names = btf_enumerators()
    check("BPF_MAP_TYPE_HASH" in names, "the BTF dump lists enum bpf_map_type's enumerators")
    return [f"{what} ({since})" for what, since, enum in FEATURES if enum not in names]


def below_the_floor():
    """The line every tracing command prints here, from the kernel's BTF; skips at or above 6.1."""
    missing = missing_by_btf()
    rel = os.uname().release
    if not missing:
        skip(f"Linux {rel} has every feature tidemark probes: the refusal is proven in Debian 11's "
             "5.10 (tests/vm/run.sh --kernel 5.10)")
    if rel.startswith("5.10."):
        eq(missing, MISSING_5_10, f"what Linux {rel}'s BTF lacks")
    return lambda cmd: (f"tidemark {cmd}: Linux {rel} is below tidemark's floor (6.1): it lacks "
                        f"{', '.join(missing)}; use Linux 6.1 or later")


def traces():
    """What a refusal must leave as it found: the BPF programs loaded and the mounts."""
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, f"bpftool prog show ({r.stderr.strip()[-200:]})")
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(" ".join(ln.split()[3:5]) + " " + ln.split(" - ")[1].split()[0] for ln in f)
    return sorted(p["id"] for p in json.loads(r.stdout)), mounts


def refused_below_the_floor(r, line, what, before):
    eq(r.returncode, 1, f"{what}: exit status")
    eq(r.stderr.splitlines(), [line], f"{what}: one line on stderr")
    after = traces()
    eq(after[0], before[0], f"{what}: the BPF programs loaded are those before it")
    eq(after[1], before[1], f"{what}: the mounts are those before it (tracefs not mounted)")


def test_feature_probes_match_btf():
    """Each feature probe kernel.c makes (libbpf's, which load a program or create a map) says what
    the kernel's BTF says, on whatever kernel this runs: 6.18 on the host, 6.1 and 5.10 in guests."""
    missing = missing_by_btf()
    r = subprocess.run([TIDEMARK, "run", "-v", "-o", os.path.join(OUT, f"probes-{os.getpid()}.tdm"), "--",
                        "/bin/true"], capture_output=True, text=True, timeout=300)
    said = {}
    for ln in r.stderr.splitlines():
        if ln.startswith("tidemark: kernel feature ") and ": " in ln[25:]:
            feat, verdict = ln[25:].rsplit(": ", 1)
            said[feat] = verdict
    for what, since, enum in FEATURES:
        want = "missing" if f"{what} ({since})" in missing else "present"
        eq(said.get(f"{what} ({since})"), want, f"the probe of {what} agrees with BTF's {enum}")
    eq(r.returncode, 1 if missing else 0, f"run -v -- /bin/true's exit status ({r.stderr.strip()[-200:]})")


def test_below_the_floor_run():
    line = below_the_floor()
    before = traces()
    # gt_hold 1 prints "mapped 1" and waits for a line: not a byte of it means it never started.
    hold = os.path.join(WORKLOADS, "gt_hold")
    marker = os.path.join(OUT, f"floor-run-{os.getpid()}")
    r = subprocess.run([TIDEMARK, "run", "--", "sh", "-c", f'echo started > {marker}; exec {hold} 1'],
                       input="\n", capture_output=True, text=True, timeout=120)
    refused_below_the_floor(r, line("run"), "run", before)
    eq(r.stdout, "", "run: the command printed nothing")
    check(not os.path.exists(marker), "run: the command was not started")
    # The same command on its own does run, to its exit status 7.
    r = subprocess.run(["sh", "-c", f'echo started > {marker}; exec {hold} 1'], input="\n",
                       capture_output=True, text=True, timeout=120)
    eq((r.returncode, r.stdout), (7, "mapped 1\ndone\n"), "the command alone")
    check(os.path.exists(marker), "the command alone started")
    os.unlink(marker)


def test_below_the_floor_attach():
    line = below_the_floor()
    before = traces()
    t = subprocess.Popen([os.path.join(WORKLOADS, "gt_hold"), "1"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        eq(t.stdout.readline(), "mapped 1\n", "the target is up")
        clean = target_bytes(t.pid, "malloc")
        r = subprocess.run([TIDEMARK, "attach", "-p", str(t.pid), "-o",
                            os.path.join(OUT, f"floor-{os.getpid()}.tdm")],
                           capture_output=True, text=True, timeout=120)
        refused_below_the_floor(r, line("attach"), "attach", before)
        check(not os.path.exists(os.path.join(OUT, f"floor-{os.getpid()}.tdm")), "attach: no capture written")
        eq(target_bytes(t.pid, "malloc"), clean, "attach: the target's malloc is as it was")
        with open(f"/proc/{t.pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        eq(state, "S", "attach: the target waits on its stdin, not stopped")
        out, _ = t.communicate("\n", timeout=120)
        eq((t.returncode, out), (7, "done\n"), "attach: the target runs on to its exit status")
    finally:
        if t.poll() is None:
            t.kill()
            t.wait()


def test_below_the_floor_daemon():
    line = below_the_floor()
    before = traces()
    outdir = os.path.join(OUT, f"floor-daemon-{os.getpid()}")
    for argv, cmd in ((["daemon", "--output-dir", outdir], "daemon"),
                      (["daemon", "--mode", "full", "--comm", "nothing"], "daemon"),
                      (["top", "--once"], "top")):
        r = subprocess.run([TIDEMARK, *argv], capture_output=True, text=True, timeout=120)
        refused_below_the_floor(r, line(cmd), " ".join(argv[:3]), before)
        eq(r.stdout, "", f"{' '.join(argv[:3])}: nothing on stdout")
    check(not os.path.exists(outdir), "daemon: its --output-dir was not created")


if __name__ == "__main__":
    main([test_run_without_tracefs, test_demo_without_tracefs, test_no_capabilities, test_no_btf,
          test_no_uprobes, test_bpf_syscall_refused, test_feature_probes_match_btf, test_below_the_floor_run,
          test_below_the_floor_attach, test_below_the_floor_daemon])
