# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Every output format, byte for byte, against tests/golden/.

The captures are synthetic (gen_profile: no tracing, no root), so the outputs
never change unless the code that renders them does. A refactoring of the
report code must leave every file here as it is; a deliberate change of an
output regenerates the golden files in the same commit and says why:

    python3 tests/integration/test_golden.py --update

Covered: the text report in every view (with the tree, inverted, filtered,
Python-only, limited depth and size), stats, JSON, collapsed, pprof, the flame
graph page, the diff as text and as a flame graph page, and the OOM
post-mortem (capture, text, JSON, pprof) as `tidemark run` and the daemon write it.
"""
import glob
import os
import shutil
import subprocess
import sys

from tmtest import OUT, ROOT, TIDEMARK, check, main, need_gen_profile

GOLDEN = os.path.join(ROOT, "tests", "golden")
UPDATE = "--update" in sys.argv
WORK = os.path.join(OUT, "golden")

# name -> how gen_profile makes it
CAPTURES = {
    "stacks": ["stacks", "24"],        # 24 ragged stacks, a third of the pool Python
    "stacks16": ["stacks", "16"],      # the first 16 of them: a diff where 8 are new
    "strings": ["strings"],            # hostile strings in every field; OOM, cgroup, sampling
}

REPORTS = [
    # (name, arguments before the capture)
    ("text-peak", ["--view", "peak", "-n", "0"]),
    ("text-leaks", ["--view", "leaks", "-n", "0"]),
    ("text-allocs", ["--view", "allocs", "-n", "0"]),
    ("text-temporary", ["--view", "temporary", "-n", "0"]),
    ("text-top3", ["-n", "3"]),
    ("text-tree", ["--tree", "-n", "5"]),
    ("text-tree-inverted", ["--tree", "--inverted", "--view", "allocs", "-n", "5"]),
    ("text-tree-min", ["--tree", "--min-bytes", "20000", "--max-depth", "4", "-n", "0"]),
    ("text-python", ["--python-only", "--tree", "-n", "0"]),
    ("text-filter", ["--filter", "layer2_step3", "--view", "allocs", "-n", "0"]),
    ("text-filter-strings", ["--filter", "main", "-n", "0"]),
    ("text-depth2", ["--max-depth", "2", "-n", "0"]),
    ("stats", ["--format", "stats"]),
    ("stats-n2", ["--format", "stats", "-n", "2", "--max-depth", "1"]),
    ("json", ["--format", "json", "-n", "0"]),
    ("json-python", ["--format", "json", "--python-only", "--max-depth", "2", "-n", "4"]),
    ("json-min", ["--format", "json", "--min-bytes", "50000", "--filter", "step"]),
    ("collapsed-peak", ["--format", "collapsed"]),
    ("collapsed-leaks", ["--format", "collapsed", "--view", "leaks"]),
    ("collapsed-python", ["--format", "collapsed", "--python-only", "--view", "allocs"]),
    ("pprof", ["--format", "pprof"]),
    ("pprof-python", ["--format", "pprof", "--python-only"]),
    ("flamegraph", ["--format", "flamegraph"]),
    ("flamegraph-leaks-python", ["--format", "flamegraph", "--view", "leaks", "--python-only"]),
]

DIFFS = [
    # (name, before, after, arguments)
    ("diff-pair", "before", "after", ["-n", "0"]),
    ("diff-pair-allocs", "before", "after", ["--view", "allocs", "-n", "2"]),
    ("diff-pair-leaks-min", "before", "after", ["--view", "leaks", "--min-bytes", "200000"]),
    ("diff-pair-flamegraph", "before", "after", ["--format", "flamegraph"]),
    ("diff-stacks", "stacks16", "stacks", ["-n", "0"]),
    ("diff-stacks-python", "stacks16", "stacks", ["--python-only", "--view", "allocs", "-n", "0"]),
    ("diff-stacks-flamegraph", "stacks16", "stacks", ["--format", "flamegraph", "--view", "leaks"]),
    ("diff-strings", "after", "strings", ["-n", "0"]),
    ("diff-strings-flamegraph", "after", "strings", ["--format", "flamegraph"]),
]


def gen(args):
    r = subprocess.run([need_gen_profile(), *args], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"gen_profile {args[0]}: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


def captures():
    need_gen_profile()
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    caps = {}
    for name, args in CAPTURES.items():
        caps[name] = os.path.join(WORK, name + ".tdm")
        gen(args + [caps[name]])
    caps["before"], caps["after"] = os.path.join(WORK, "before.tdm"), os.path.join(WORK, "after.tdm")
    gen(["pair", caps["before"], caps["after"]])
    return caps


def compare(name, got):
    path = os.path.join(GOLDEN, name)
    if UPDATE:
        with open(path, "wb") as f:
            f.write(got)
        return
    try:
        with open(path, "rb") as f:
            want = f.read()
    except FileNotFoundError:
        check(False, f"{name}: no golden file (run with --update and commit it)")
        return
    if got == want:
        check(True, name)
        return
    # Name the first difference so that a failure says where to look.
    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
    line = want[:i].count(b"\n") + 1
    check(False, f"{name}: differs from tests/golden/{name} at byte {i} (line {line}): "
                 f"got {got[max(0, i - 40):i + 40]!r}, want {want[max(0, i - 40):i + 40]!r}")


def run(args, files, name):
    out = os.path.join(WORK, name + ".out")
    r = subprocess.run([TIDEMARK, *args, "-o", out, *files], capture_output=True, timeout=120)
    if r.returncode != 0:
        check(False, f"{name}: tidemark {' '.join(args)} exits {r.returncode}: {r.stderr!r}")
        return
    with open(out, "rb") as f:
        compare(name, f.read())


def test_golden():
    caps = captures()
    os.makedirs(GOLDEN, exist_ok=True)
    seen = set()
    for cap in ("stacks", "strings", "after"):
        for name, args in REPORTS:
            run(["report", *args], [caps[cap]], f"{cap}.{name}")
            seen.add(f"{cap}.{name}")
    for name, before, after, args in DIFFS:
        run(["diff", *args], [caps[before], caps[after]], name)
        seen.add(name)

    # The post-mortem, as `tidemark run` and the daemon write it (the name holds the time).
    pm = os.path.join(WORK, "postmortem")
    os.makedirs(pm)
    base = gen(["postmortem", caps["strings"], pm]).strip()
    for ext in ("tdm", "txt", "json", "pb.gz"):
        files = glob.glob(os.path.join(pm, "oom-*-31337-*." + ext))
        check(len(files) == 1 and files[0] == f"{base}.{ext}", f"one post-mortem .{ext}: {files}")
        if files:
            with open(files[0], "rb") as f:
                # the text names its capture, whose name holds the time of the run
                got = f.read().replace(os.path.basename(base).encode(), b"oom-TIME-31337-CGROUP")
                compare(f"postmortem.{ext}", got)
            seen.add(f"postmortem.{ext}")
    # The capture is the post-mortem: its report is the text one, every site instead of the top ones.
    if os.path.exists(base + ".tdm") and os.path.exists(base + ".txt"):
        r = subprocess.run([TIDEMARK, "report", "--view", "leaks", "-n", "10", base + ".tdm"], capture_output=True)
        text = open(base + ".txt", "rb").read()
        check(text.startswith(r.stdout) and text[len(r.stdout):].startswith(b"\nEvery site, the call tree"),
              "the text post-mortem is `report --view leaks -n 10` of its capture, then where the rest is")

    if UPDATE:
        for stale in set(os.listdir(GOLDEN)) - seen:
            os.unlink(os.path.join(GOLDEN, stale))
        print(f"wrote {len(seen)} golden files to {os.path.relpath(GOLDEN, ROOT)}")
    else:
        stale = sorted(set(os.listdir(GOLDEN)) - seen)
        check(not stale, f"golden files no test writes: {stale}")


if __name__ == "__main__":
    main([test_golden])
