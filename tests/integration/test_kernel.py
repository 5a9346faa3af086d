# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Runs where users run it (issue #11): without tracefs or debugfs mounted (a fresh host, a
container), gt_alloc's ground truth to the byte and `make demo`; and a host that cannot trace
(no BTF, no uprobes, bpf() refused by seccomp, no CAP_SYS_ADMIN) gets one line naming what is
missing, a non-zero exit, and nothing left attached. Each case is made real in a private mount
namespace or a child's own seccomp filter and capability set, never by faking tidemark's view."""
import ctypes
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


def test_below_the_floor():
    skip("needs a kernel below 6.1 to boot: Debian 12's archive has only 6.1 and 6.12 "
         "(the message is one line naming the version, the floor 6.1 and the missing features)")


if __name__ == "__main__":
    main([test_run_without_tracefs, test_demo_without_tracefs, test_no_capabilities, test_no_btf,
          test_no_uprobes, test_bpf_syscall_refused, test_below_the_floor])
