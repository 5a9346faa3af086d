#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Issue #16 item 4: help, version, the man page, and what -v and -vv print.

The options each command accepts are read from the code (the getopt_long tables and
short-option strings in user/main.c, and the `if (strcmp(cmd, "X"))` guards that keep an
option of a shared table to one command), so an option added without help fails here.
"""
import os
import re
import shutil
import subprocess

from tmtest import OUT, ROOT, TIDEMARK, check, eq, main, skip, tidemark

MAIN_C = os.path.join(ROOT, "user", "main.c")
MAN = os.path.join(ROOT, "tidemark.1")


def source():
    with open(MAIN_C) as f:
        return f.read()


def functions(src):
    """name -> body of each top-level function in src."""
    out = {}
    for m in re.finditer(r"^(?:static )?int (\w+)\([^)]*\)\n\{\n(.*?)^\}", src, re.S | re.M):
        out[m.group(1)] = m.group(2)
    return out


def tables(src):
    """name -> [(long name, val)] of every `struct option NAME[]` table."""
    out = {}
    for m in re.finditer(r"struct option (\w+)\[\] = \{(.*?)\n\t*\};", src, re.S):
        out[m.group(1)] = re.findall(r'\{ "([\w-]+)", \w+, NULL, (\'.\'|\w+) \}', m.group(2))
    return out


def commands(src):
    """command name -> the cmd_* function main() dispatches it to."""
    body = functions(src)["main"]
    return dict(re.findall(r'!strcmp\(argv\[1\], "(\w+)"\)\)\s*return (cmd_\w+)\(', body))


def accepted(src):
    """command -> the set of options it accepts, e.g. {'--output', '-o', ...}."""
    fns, tabs = functions(src), tables(src)
    out = {}
    for cmd, fn in commands(src).items():
        parser = fns[fn]
        if "getopt_long(" not in parser:   # a shared parser: parse_trace_opts(...)
            called = [c for c in re.findall(r"(\w+)\(", parser) if c in fns and "getopt_long(" in fns[c]]
            assert len(called) == 1, f"{fn}: which function parses its options? {called}"
            parser = fns[called[0]]
        m = re.search(r'getopt_long\(argc, argv, "([^"]*)", (\w+), NULL\)', parser)
        assert m, f"{fn}: no getopt_long call found"
        shorts, table = m.group(1), m.group(2)
        # The function's own table, or a file-level one (the names of local tables repeat).
        entries = tables(parser).get(table) or tabs[table]
        # Case blocks guarded by `if (strcmp(cmd, "X"))` are for X alone.
        only = {}
        for block in re.finditer(r"((?:\t\tcase [^:\n]+:\n)+)(.*?)(?=\t\tcase |\t\tdefault:)", parser, re.S):
            g = re.match(r'\t\t\tif \(strcmp\(cmd, "(\w+)"\)\)', block.group(2))
            if g:
                for label in re.findall(r"case ([^:\n]+):", block.group(1)):
                    only[label] = g.group(1)
        opts = set()
        for name, val in entries:
            if only.get(val, cmd) == cmd:
                opts.add("--" + name)
        for ch in re.findall(r"(\w):?", shorts.lstrip("+")):
            if only.get(f"'{ch}'", cmd) == cmd:
                opts.add("-" + ch)
        out[cmd] = opts
    return out


def help_options(text):
    """The options a help text documents: those in its option column."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"  ( *-.*?)(?:  |$)", line)
        if m:
            opts.update(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", m.group(1)))
    return opts


def mentions(text, opt):
    return re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text) is not None


def man_text():
    if not shutil.which("groff"):
        skip("groff is not installed (Debian: groff-base, in DEB_TEST_PKGS)")
    r = subprocess.run(["groff", "-ww", "-man", "-Tascii", "-P", "-cbou", MAN], capture_output=True,
                       text=True, timeout=60)
    return r


def test_every_command_has_help():
    src = source()
    acc = accepted(src)
    eq(sorted(acc), ["attach", "daemon", "diff", "report", "run", "top"], "the commands main() dispatches")
    for cmd, opts in acc.items():
        r = tidemark(cmd, "--help")
        eq(r.returncode, 0, f"{cmd} --help exit status")
        eq(r.stderr, "", f"{cmd} --help: nothing on stderr")
        check(r.stdout.startswith(f"usage: tidemark {cmd} "), f"{cmd} --help starts with its usage line")
        eq(tidemark(cmd, "-h").stdout, r.stdout, f"{cmd} -h is {cmd} --help")
        eq(tidemark("help", cmd).stdout, r.stdout, f"tidemark help {cmd} is {cmd} --help")
        documented = help_options(r.stdout)
        eq(sorted(opts - documented), [], f"{cmd}: options accepted but not in --help")
        eq(sorted(documented - opts), [], f"{cmd}: options in --help the command refuses")
    r = tidemark("--help")
    eq(r.returncode, 0, "tidemark --help exit status")
    for cmd in acc:
        check(re.search(rf"^{cmd} ", r.stdout, re.M), f"tidemark --help describes {cmd}")
    eq(tidemark("-h").stdout, r.stdout, "tidemark -h is tidemark --help")
    r = tidemark("help", "nosuch")
    eq((r.returncode, r.stdout, r.stderr.count("\n")), (2, "", 1), "help of an unknown command: one line, 2")
    r = tidemark("report", "--nosuch", "x.tdm")
    eq((r.returncode, r.stderr.count("\n")), (2, 1), "an unknown option: one line on stderr, status 2")


def test_version():
    with open(os.path.join(ROOT, "user", "version.h")) as f:
        version = re.search(r'#define TM_VERSION "([^"]+)"', f.read()).group(1)
    for flag in ("--version", "-V"):
        r = tidemark(flag)
        eq((r.returncode, r.stdout, r.stderr), (0, f"tidemark {version}\n", ""), f"tidemark {flag}")


def test_man_page():
    r = man_text()
    eq(r.stderr, "", "groff -ww -man renders tidemark.1 without a warning")
    eq(r.returncode, 0, "groff's exit status")
    text = r.stdout
    if shutil.which("man"):
        m = subprocess.run(["man", "--warnings", "-l", MAN], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat"})
        eq((m.returncode, m.stderr), (0, ""), "man ./tidemark.1 renders without warnings")
    src = source()
    for cmd, opts in accepted(src).items():
        check(re.search(rf"^ +{cmd}\b", text, re.M), f"the man page describes {cmd}")
        documented = help_options(tidemark(cmd, "--help").stdout)
        for opt in sorted(opts | documented):
            check(mentions(text, opt), f"the man page names {cmd}'s option {opt}")
    formats = re.findall(r'\{ "(\w+)", tm_\w+, (?:NULL|"[.\w]+"), [01] \}', src)
    eq(sorted(formats), ["collapsed", "flamegraph", "json", "pprof", "stats", "text"], "report's formats")
    with open(os.path.join(ROOT, "user", "report", "view.c")) as f:
        views = re.findall(r'\[TM_VIEW_\w+\] = "(\w+)"', f.read())
    eq(sorted(views), ["allocs", "leaks", "peak", "temporary"], "the views")
    for name in formats + views:
        check(re.search(rf"^ {{7}}{name}(?: |$)", text, re.M), f"the man page has an entry for {name}")
    sect = text[text.index("EXIT STATUS"):]
    for code in ("0", "1", "2", "128+N", "127"):
        check(mentions(sect, code), f"EXIT STATUS names {code}")
    with open(os.path.join(ROOT, "Makefile")) as f:
        check("tidemark.1 $(DESTDIR)$(PREFIX)/share/man/man1/tidemark.1" in f.read(),
              "make install puts tidemark.1 in $(PREFIX)/share/man/man1")


def test_install_man():
    dest = os.path.join(OUT, "help-install")
    shutil.rmtree(dest, ignore_errors=True)
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    eq(r.returncode, 0, f"make install DESTDIR=...: {r.stderr}")
    page = os.path.join(dest, "usr", "share", "man", "man1", "tidemark.1")
    with open(page, "rb") as a, open(MAN, "rb") as b:
        check(a.read() == b.read(), "make install copies tidemark.1 to PREFIX/share/man/man1")
    eq(oct(os.stat(page).st_mode & 0o777), "0o644", "the installed page's mode")
    shutil.rmtree(dest, ignore_errors=True)


def verbose_run(*flags):
    if os.geteuid() != 0:
        skip("tracing needs root")
    cap = os.path.join(OUT, "help-verbose.tdm")
    if os.path.exists(cap):
        os.unlink(cap)
    r = tidemark("run", *flags, "-o", cap, "--", "/bin/true")
    eq(r.returncode, 0, f"run {' '.join(flags)} -- /bin/true: {r.stderr[-500:]}")
    os.unlink(cap)
    lines = r.stderr.splitlines()
    libbpf = [l for l in lines if l.startswith("libbpf:")]
    facts = [l for l in lines if re.match(r"bpf: alloc_enter +\d+ instructions verified, +\d+ xlated$", l)]
    return libbpf, facts


def test_verbose_is_tidemark_only():
    libbpf, facts = verbose_run("-v")
    eq(len(libbpf), 0, "-v: lines of libbpf's log")
    eq(len(facts), 1, "-v: tidemark's verifier count for alloc_enter")


def test_vv_adds_libbpf():
    for flags in (("-vv",), ("-v", "--verbose")):
        libbpf, facts = verbose_run(*flags)
        check(len(libbpf) > 100, f"{' '.join(flags)}: libbpf's log is there ({len(libbpf)} lines)")
        eq(len(facts), 1, f"{' '.join(flags)}: tidemark's verifier count for alloc_enter")


if __name__ == "__main__":
    main([test_every_command_has_help, test_version, test_man_page, test_install_man,
          test_verbose_is_tidemark_only, test_vv_adds_libbpf])
