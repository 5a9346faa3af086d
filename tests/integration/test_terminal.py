# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The terminal reports (issue #16.3) and the progress line (#16.5).

- A real Python program with a wide stack (a deep directory, long function names, a long command
  line) traced by `run`: every text view (the four views, the tree, inverted, stats, diff) fits
  120 columns, and its numbers (the allocating line, the site's bytes) are printed whole.
- The `^ peak at` caret sits in the chart column of the peak, computed here from the capture.
- The size histogram's bars are proportional to the bytes column beside them.
- With --filter / --min-bytes the header says how many sites and bytes the percentages are of.
- `run` and `attach` print one status line on a terminal (driven through script(1)), none into a pipe.
"""
import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
import unicodedata

from tmtest import OUT, ROOT, TIDEMARK, WORKLOADS, check, eq, main, need_gen_profile, report_json, skip, tidemark

WIDTH = 120
WORK = os.path.join(OUT, f"terminal-{os.getpid()}")
LONG_FN = "allocate_the_working_set_for_a_function_whose_name_is_much_longer_than_any_terminal_column"
SIZE = 8 << 20


def cols(line):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def wide_lines(text):
    return [(cols(line), line) for line in text.split("\n") if cols(line) > WIDTH]


def wide_program():
    """A program whose stacks and command line are far wider than 120 columns; (path, line of the allocation)."""
    # (a capture keeps 256 bytes of a file name)
    d = os.path.join(WORK, *(["a_rather_long_package_directory_name"] * 3))
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "mod_wide.py")
    src = ["import sys", "held = []", ""]
    names = [f"{LONG_FN}_{i}" for i in range(6)]
    for i, fn in enumerate(names):
        src.append(f"def {fn}():")
        if i + 1 < len(names):
            src.append(f"    {names[i + 1]}()")
        else:
            src.append(f"    held.append(bytearray({SIZE}))  # L_ALLOC")
            alloc_line = len(src)
        src.append("")
    src += [f"{names[0]}()", "sys.exit(0)", ""]
    with open(path, "w") as f:
        f.write("\n".join(src))
    return path, alloc_line


def test_wide_stack_fits_120_columns():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    path, line = wide_program()
    cap = os.path.join(WORK, "wide.tdm")
    args = [f"--an-option-long-enough-to-matter-{i}=value" for i in range(6)]
    r = tidemark("run", "-q", "-o", cap, "--", "/usr/bin/python3", path, *args)
    eq(r.returncode, 0, f"the wide program runs traced ({r.stderr[-300:]})")
    if r.returncode:
        return
    d = json.loads(tidemark("report", "--format", "json", "-n", "0", cap).stdout)
    top = d["views"]["peak"][0]
    py = [f for f in top["stack"] if f["kind"] == "python" and (f["file"] or "").endswith(os.path.basename(path))]
    eq(py and (py[0]["line"], py[0]["function"]), (line, f"{LONG_FN}_5"), "the top site is the allocating line")
    eq(top["bytes"], SIZE + 1, "bytearray(8 MiB) asks for 8 MiB and a terminating byte")
    where = re.compile(r"/mod_wide\.py:%d\b" % line)
    views = [
        ("peak", ["--view", "peak"], True), ("leaks", ["--view", "leaks", "-n", "0"], False),
        ("allocs", ["--view", "allocs", "-n", "0"], True), ("temporary", ["--view", "temporary"], False),
        ("tree", ["--tree", "-n", "3"], True), ("tree inverted", ["--tree", "--inverted", "-n", "3"], True),
        ("tree depth 16", ["--tree", "--max-depth", "16", "-n", "1"], True),
        ("python-only", ["--python-only", "--tree", "-n", "0"], True),
        ("stats", ["--format", "stats"], False),
    ]
    for name, a, has_line in views:
        out = tidemark("report", *a, cap)
        eq(out.returncode, 0, f"report {name} exits 0")
        eq(wide_lines(out.stdout), [], f"report {name}: no line is wider than {WIDTH} columns")
        if has_line:
            check(where.search(out.stdout), f"report {name}: the allocating file:line is printed whole")
    peak = tidemark("report", "-n", "1", cap).stdout
    check(re.search(r"^ +1 +8,388,609 +8\.0 MiB ", peak, re.M), "report: the top site's bytes printed whole")
    check(f"{LONG_FN}_5" in re.sub(r"\n +", "", peak), "report: the long function name printed whole (wrapped, not cut)")
    diff = tidemark("diff", "-n", "0", cap, cap)
    eq(diff.returncode, 0, "diff of the capture with itself exits 0")
    eq(wide_lines(diff.stdout), [], f"diff: no line is wider than {WIDTH} columns")
    # the command line: the header and the diff wrap it, every argument whole
    for a in args:
        check(a in peak.replace("\n" + " " * 4, " ").replace("\n", " "),
              f"report: the command line keeps {a}")


def capture(kind):
    need_gen_profile()
    os.makedirs(WORK, exist_ok=True)
    out = os.path.join(WORK, f"{kind}.tdm")
    if kind == "after":
        subprocess.run([need_gen_profile(), "pair", os.path.join(WORK, "before.tdm"), out], check=True)
    else:
        subprocess.run([need_gen_profile(), *({"stacks": ["stacks", "24"]}.get(kind, [kind])), out], check=True)
    return out


def test_caret_under_the_peak():
    for kind in ("after", "strings"):
        cap = capture(kind)
        d = json.loads(tidemark("report", "--format", "json", cap).stdout)
        peak_ns, last_ns = d["totals"]["peak_time_ns"], d["timeline"]["time_ns"][-1]
        span = max(last_ns, peak_ns)
        want = min(peak_ns // ((span + 63) // 64), 63)
        text = tidemark("report", cap).stdout.split("\n")
        chart = next((i for i, line in enumerate(text) if line.endswith("|") and " |" in line), None)
        check(chart is not None, f"{kind}: the report has a chart")
        if chart is None:
            continue
        bar = text[chart].index("|") + 1
        caret = [line for line in text[chart + 1:chart + 4] if "peak at" in line]
        eq(len(caret), 1, f"{kind}: one caret line")
        if caret:
            eq(caret[0].index("^") - bar, want, f"{kind}: the caret's column is the peak's ({peak_ns} ns of {span})")
        eq(text[chart][bar:].index("\u2588"), want, f"{kind}: the chart's full block is in that column")


def test_stats_bars_by_bytes():
    cap = capture("strings")
    text = tidemark("report", "--format", "stats", cap).stdout
    rows = re.findall(r"^\[[^)]*\) +([\d,]+) +[\d.]+% +([\d,]+)  (\u2587*)$", text, re.M)
    eq([(int(c.replace(",", "")), int(b.replace(",", ""))) for c, b, _ in rows],
       [(7, 140), (3, 15000), (1, 1048576)], "the size classes gen_profile wrote")
    top = max(int(b.replace(",", "")) for _, b, _ in rows) if rows else 1
    eq([len(bar) for _, _, bar in rows], [math.ceil(int(b.replace(",", "")) * 40 / top) for _, b, _ in rows],
       "each bar is its bytes over the largest, in 40 columns")
    eq([len(bar) for _, _, bar in rows], [1, 1, 40], "the 1 MiB class has the full bar; count (7) does not scale them")


def test_filtered_percentages_say_their_base():
    cap = capture("stacks")
    d = json.loads(tidemark("report", "--format", "json", "-n", "0", cap).stdout)
    sites = [s["bytes"] for s in d["views"]["peak"]]
    kept = [b for b in sites if b >= 20000]
    for a in (["-n", "0"], ["--tree", "-n", "0"]):
        text = tidemark("report", "--min-bytes", "20000", *a, cap).stdout
        want = (f"(--min-bytes 20,000 keeps {len(kept)} of the view's {len(sites)} sites, {sum(kept):,} of its "
                f"{sum(sites):,} bytes: the percentages are of those)")
        eq(text.count(want), 2 if "--tree" in a else 1, f"report {' '.join(a)}: the base of the percentages is said")
    plain = tidemark("report", "-n", "0", cap).stdout
    check("keeps" not in plain, "without --filter or --min-bytes, no such line")
    text = tidemark("report", "--filter", "step8", "-n", "0", cap).stdout
    flt = [s for s in d["views"]["peak"] if any("step8" in (f["function"] or "") + (f["file"] or "") for f in s["stack"])]
    check(f"(--filter 'step8' keeps {len(flt)} of the view's {len(sites)} sites, {sum(s['bytes'] for s in flt):,} of"
          in text, f"--filter: the sites and bytes it keeps ({len(flt)})")
    pct = [float(x) for x in re.findall(r"^ +\d+ +[\d,]+ +[\d.]+ \S+ +([\d.]+)% ", text, re.M)]
    check(pct and abs(sum(pct) - 100) < 0.1 * len(pct), f"--filter: the percentages add up to 100 ({sum(pct)})")


STATUS = re.compile(r"\rtidemark: (\d+\.\d) s \| ([\d,]+) allocs/s \| live (-?[\d.]+ \S+) \| peak ([\d.]+ \S+) "
                    r"\| not recorded ([\d,]+)\x1b\[K")
GT = os.path.join(WORKLOADS, "gt_alloc")
GT_PEAK = "1.1 MiB"  # test_core.PEAK, 1,160,144 bytes


def descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def on_a_terminal(cmd, until, then=None, timeout=90):
    """Run cmd under script(1) (a pty as its stdin, stdout and stderr); read until until(output) holds,
    call then(script's pid), read to the end. The output, as bytes."""
    if not shutil.which("script"):
        skip("script(1) is not installed (Debian package bsdutils)")
    p = subprocess.Popen(["script", "-qfec", " ".join(cmd), "/dev/null"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, deadline = b"", time.monotonic() + timeout
    try:
        os.set_blocking(p.stdout.fileno(), False)
        while time.monotonic() < deadline and p.poll() is None and not until(out):
            time.sleep(0.05)
            out += p.stdout.read() or b""
        if then:
            then(p.pid)
        os.set_blocking(p.stdout.fileno(), True)
        out += p.communicate(timeout=timeout)[0]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return out.decode(errors="replace")


def header_value(cap, field):
    text = tidemark("report", cap).stdout
    m = re.search(r"^  %s: +(-?[\d.]+ \S+) " % field, text, re.M)
    return m.group(1) if m else None


def dropped(cap):
    line = next((x for x in tidemark("report", cap).stdout.split("\n") if x.startswith("Dropped / not recorded:")), "")
    return sum(int(n.replace(",", "")) for n in re.findall(r" ([\d,]+)(?:,|$)", line))


def test_progress_line_run():
    cap = os.path.join(WORK, "progress-run.tdm")
    os.makedirs(WORK, exist_ok=True)

    def release(script_pid):
        for k in descendants(script_pid):
            if exe_of(k) == os.path.realpath(GT):
                os.kill(k, signal.SIGUSR1)

    # gt_alloc says "end" with its final heap, then waits: a status line drawn after that has it.
    # --no-children: the process's own numbers (its forked child is the next run's).
    out = on_a_terminal([TIDEMARK, "run", "--no-children", "-o", cap, "--", GT, "--wait-end"],
                        lambda o: b"end" in o and STATUS.search(o.split(b"end", 1)[1].decode(errors="replace")),
                        release)
    lines = STATUS.findall(out)
    check(lines, f"run on a terminal draws a status line: {out[:300]!r}")
    after = STATUS.findall(out.split("end", 1)[1]) if "end" in out else []
    check(after, "a status line drawn after the workload's last allocation")
    if after:
        eq(after[-1][3], GT_PEAK, "its peak is gt_alloc's peak")
        eq((after[-1][2], after[-1][3]), (header_value(cap, "live at end"), header_value(cap, "peak")),
           "its live heap and peak are the capture's")
        eq(int(after[-1][4].replace(",", "")), dropped(cap), "what went unrecorded is the capture's")
    eq([float(e) for e, *_ in lines], sorted(float(e) for e, *_ in lines), "the elapsed time only grows")
    eq(out.count("allocs/s"), len(lines),
       "each status line is redrawn in place (carriage return, the line, erase to its end)")
    check(re.search(r"\r\x1b\[K(tidemark: wrote|tidemark report:)", out),
          "the line is wiped before the summary")
    check("\n" not in "".join(re.findall(r"\rtidemark: [^\r]*?allocs/s[^\r]*?\x1b\[K", out)),
          "one line: no status line holds a newline")
    # Children followed (the default): the tree's line. gt_alloc's forked child (5,000,000 bytes, ended
    # before "end") is in the peak, which is at least its largest process's; the live heap is the root's.
    out = on_a_terminal([TIDEMARK, "run", "-o", cap, "--", GT, "--wait-end"],
                        lambda o: b"end" in o and STATUS.search(o.split(b"end", 1)[1].decode(errors="replace")),
                        release)
    after = STATUS.findall(out.split("end", 1)[1]) if "end" in out else []
    check(after, "with children: a status line drawn after the workload's last allocation")
    d = report_json(cap)
    kids = [q for q in d["processes"] if "gt_alloc" in q["process"]["command"]]
    eq([q["totals"]["peak_bytes"] for q in kids], [5000000], "gt_alloc's forked child is followed, its own peak")
    if after:
        eq(after[-1][3], "4.8 MiB", "the tree's peak: at least its child's 5,000,000 bytes")
        eq(after[-1][2], header_value(cap, "live at end"), "the tree's live heap: the root's, its child ended")
    # Not a terminal: nothing.
    r = subprocess.run([TIDEMARK, "run", "-o", cap, "--", os.path.join(WORKLOADS, "gt_alloc")],
                       capture_output=True, timeout=120)
    eq(r.returncode, 7, "gt_alloc exits 7")
    check(b"allocs/s" not in r.stderr and b"\r" not in r.stderr and b"\x1b" not in r.stderr,
          "stderr into a pipe gets no status line")
    r = on_a_terminal([TIDEMARK, "run", "-q", "-o", cap, "--", GT], lambda o: False)
    check("allocs/s" not in r, "-q: no status line either")


def test_progress_line_attach():
    spin = subprocess.Popen([os.path.join(WORKLOADS, "gt_spin")])
    cap = os.path.join(WORK, "progress-attach.tdm")
    os.makedirs(WORK, exist_ok=True)
    try:
        def stop(script_pid):
            for k in descendants(script_pid):
                if exe_of(k) == os.path.realpath(TIDEMARK):
                    os.kill(k, signal.SIGINT)

        # traced until three lines were drawn, then Ctrl-C (however long the probes took to go on)
        out = on_a_terminal([TIDEMARK, "attach", "-p", str(spin.pid), "-o", cap],
                            lambda o: o.count(b"allocs/s") >= 3, stop)
        lines = STATUS.findall(out)
        check(len(lines) >= 2, f"attach on a terminal draws a status line and updates it: {out[:300]!r}")
        check(any(int(r.replace(",", "")) > 0 for _, r, *_ in lines), "gt_spin's malloc/free pairs are counted per second")
        if lines:
            eq(lines[-1][3], header_value(cap, "peak"), "the last line's peak is the capture's")
        r = subprocess.run([TIDEMARK, "attach", "-p", str(spin.pid), "-d", "1", "-o", cap], capture_output=True,
                           timeout=120)
        eq(r.returncode, 0, "attach into a pipe exits 0")
        check(b"allocs/s" not in r.stderr and b"\r" not in r.stderr, "stderr into a pipe gets no status line")
    finally:
        spin.kill()
        spin.wait()


if __name__ == "__main__":
    main([test_wide_stack_fits_120_columns, test_caret_under_the_peak, test_stats_bars_by_bytes,
          test_filtered_percentages_say_their_base, test_progress_line_run, test_progress_line_attach])
