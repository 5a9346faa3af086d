# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Separate debug files are found on this host, and only there.

A program built with -g is split as distributions do (objcopy
--only-keep-debug, then --strip-debug --add-gnu-debuglink): its lines live in
a separate file that only .gnu_debuglink names (no /usr/lib/debug/.build-id
entry). `tidemark run` must still print the allocating line, exactly, when
that file sits next to the program or in its .debug/ directory; a file of
that name from another build (its CRC differs) gives no line. Every run has
DEBUGINFOD_URLS pointing at a closed local port and runs under strace: no
connect(2) at all, and no libdebuginfod (or libcurl) opened. libdwfl's
standard lookup dlopens libdebuginfod for any module without a local debug
file (python3.11 on every run here) and queries the network when the
variable is set.
"""
import os
import shutil
import subprocess

from tmtest import OUT, TIDEMARK, check, eq, main, report_json, skip

WORK = os.path.join(OUT, f"debuginfo-{os.getpid()}")
SITE_LINE = 9  # the malloc call's line in SOURCE
SOURCE = """\
#include <stdlib.h>

static void *volatile sink;

/* the site: its malloc call is on line 9 */
__attribute__((noinline)) void *dbg_site(size_t n)
{
	void *p;
	p = malloc(n); __asm__ volatile("" ::: "memory");
	return p;
}

int main(void)
{
	sink = dbg_site(%d);
	return 0;
}
"""
SIZE = 424242


def need_tools():
    for tool in ("gcc", "objcopy", "strace"):
        if not shutil.which(tool):
            skip(f"{tool} is not installed (make test-deps)")
    if os.geteuid() != 0:
        skip("tracing needs root")


def build(d, size):
    """dbg_prog in @d, stripped, naming dbg_prog.debug (also in @d) by .gnu_debuglink."""
    os.makedirs(d, exist_ok=True)
    src = os.path.join(d, "dbg_prog.c")
    exe = os.path.join(d, "dbg_prog")
    with open(src, "w") as f:
        f.write(SOURCE % size)
    subprocess.run(["gcc", "-g", "-O1", "-o", exe, src], check=True)
    subprocess.run(["objcopy", "--only-keep-debug", exe, exe + ".debug"], check=True)
    subprocess.run(["objcopy", "--strip-debug", "--add-gnu-debuglink=" + exe + ".debug", exe], check=True)
    return exe


def traced_run(exe, tag):
    """run EXE under strace with DEBUGINFOD_URLS set: (the site's frame, strace's lines)."""
    cap = os.path.join(WORK, f"{tag}.tdm")
    log = os.path.join(WORK, f"{tag}.strace")
    env = dict(os.environ, DEBUGINFOD_URLS="http://127.0.0.1:9/")
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect,openat,open", "-o", log,
                        TIDEMARK, "run", "-q", "-o", cap, "--", exe],
                       capture_output=True, text=True, timeout=120, env=env)
    eq(r.returncode, 0, f"{tag}: tidemark run exits 0 ({r.stderr.strip()})")
    with open(log) as f:
        lines = f.read().splitlines()
    frame = None
    for site in report_json(cap)["views"]["peak"]:
        if site["bytes"] == SIZE:
            frame = site["stack"][0]
    check(frame is not None, f"{tag}: the {SIZE}-byte block is in the peak view")
    return frame or {}, lines


def no_network(tag, lines):
    connects = [ln for ln in lines if " connect(" in ln]
    eq(connects, [], f"{tag}: no connect(2)")
    dlopened = [ln for ln in lines if "libdebuginfod" in ln or "libcurl" in ln]
    eq(dlopened, [], f"{tag}: libdebuginfod and libcurl never opened")


def test_debuglink_next_to_file():
    need_tools()
    d = os.path.join(WORK, "next")
    exe = build(d, SIZE)
    frame, lines = traced_run(exe, "next")
    eq(frame.get("function"), "dbg_site", "next: the site's function")
    eq(frame.get("line"), SITE_LINE, "next: the site's line, from the debug file next to it")
    check((frame.get("file") or "").endswith("dbg_prog.c"), f"next: the site's file ({frame.get('file')})")
    no_network("next", lines)


def test_debuglink_in_dot_debug():
    need_tools()
    d = os.path.join(WORK, "dotdebug")
    exe = build(d, SIZE)
    os.makedirs(os.path.join(d, ".debug"), exist_ok=True)
    os.rename(exe + ".debug", os.path.join(d, ".debug", "dbg_prog.debug"))
    frame, lines = traced_run(exe, "dotdebug")
    eq(frame.get("function"), "dbg_site", "dotdebug: the site's function")
    eq(frame.get("line"), SITE_LINE, "dotdebug: the site's line, from .debug/")
    no_network("dotdebug", lines)


def test_debuglink_crc_mismatch():
    need_tools()
    d = os.path.join(WORK, "other")
    exe = build(d, SIZE)
    # the same name from another build (another size): its CRC is not the one recorded
    other = build(os.path.join(WORK, "other-build"), SIZE + 1)
    shutil.copyfile(other + ".debug", exe + ".debug")
    frame, lines = traced_run(exe, "other")
    # without a line a native frame is named function+offset
    check((frame.get("function") or "").startswith("dbg_site+0x"),
          f"other: the site's function, from .symtab ({frame.get('function')})")
    eq(frame.get("line"), None, "other: no line from another build's debug file")
    no_network("other", lines)


def test_no_debug_file():
    """The case that reached debuginfod: a module with no local debug file at all."""
    need_tools()
    d = os.path.join(WORK, "none")
    exe = build(d, SIZE)
    os.unlink(exe + ".debug")
    subprocess.run(["objcopy", "--remove-section=.gnu_debuglink", exe], check=True)
    frame, lines = traced_run(exe, "none")
    check((frame.get("function") or "").startswith("dbg_site+0x"),
          f"none: the site's function, from .symtab ({frame.get('function')})")
    eq(frame.get("line"), None, "none: no line")
    no_network("none", lines)


if __name__ == "__main__":
    shutil.rmtree(WORK, ignore_errors=True)
    main([test_debuglink_next_to_file, test_debuglink_in_dot_debug, test_debuglink_crc_mismatch,
          test_no_debug_file])
