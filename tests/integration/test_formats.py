# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Issue #4's formats agree with each other and with the ground truth.

The C workload (gt_alloc, numbers from test_core.py) and the Python one (py_peak.py) are traced
once each; then text, JSON, collapsed and pprof are rendered from the same capture. Per view:
collapsed sums == JSON totals == text == known truth; per innermost function: collapsed == JSON;
pprof, decoded here and read back by `go tool pprof -top`, == JSON for every sample type.
"""
import glob
import gzip
import json
import os
import pty
import re
import shutil
import stat
import subprocess
import tempfile

from tmtest import OUT, ROOT, TIDEMARK, WORKLOADS, by_site, check, eq, main, skip, tidemark
from test_core import ALLOCS, KEPT, PEAK

GT = os.path.join(WORKLOADS, "gt_alloc")
PY_PEAK = os.path.join(ROOT, "tests", "workloads", "py_peak.py")
MB = 1_000_000
VIEWS = ("peak", "leaks", "allocs")
# pprof sample type per view: (bytes, count)
PPROF_INDEX = {"peak": ("peak_space", "peak_objects"), "leaks": ("inuse_space", "inuse_objects"),
               "allocs": ("alloc_space", "alloc_objects")}
SAMPLE_TYPES = ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space", "peak_objects", "peak_space"]


def render(cap, fmt, *args, binary=False):
    r = subprocess.run([TIDEMARK, "report", "--format", fmt, "-n", "0", *args, cap], capture_output=True,
                       text=not binary, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"report --format {fmt} {args}: {r.stderr}")
    return r.stdout


def report_json(cap, *args):
    return json.loads(render(cap, "json", *args))


# ---------------------------------------------------------------- collapsed

def collapsed(cap, view, *args):
    """[(frames outermost first, bytes)] of one view."""
    out = []
    for line in render(cap, "collapsed", "--view", view, *args).splitlines():
        stack, _, n = line.rpartition(" ")
        out.append((stack.split(";"), int(n)))
    return out


def leaf_bytes(folded):
    """{innermost label: bytes}."""
    out = {}
    for frames, n in folded:
        out[frames[-1]] = out.get(frames[-1], 0) + n
    return out


# ---------------------------------------------------------------- text

ROW = re.compile(r"^ {0,3}\d+  +([\d,]+)  ")


def text_total(cap, view, *args):
    """Sum of the bytes column of the text report's rows."""
    return sum(int(m.group(1).replace(",", "")) for line in render(cap, "text", "--view", view, *args).splitlines()
               if (m := ROW.match(line)))


# ---------------------------------------------------------------- pprof, decoded here

def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, i
        shift += 7


def _fields(b):
    """(field, value) pairs of one message; a length-delimited value is bytes."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        if key & 7 == 0:
            v, i = _varint(b, i)
        elif key & 7 == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f"wire type {key & 7}")
        yield key >> 3, v


def _ints(v):
    if isinstance(v, int):
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x)
    return out


def pprof_decode(data):
    """Strings, sample types, and per-sample (innermost function name, values)."""
    raw = gzip.decompress(data)
    strings, types, samples, locs, funcs, default = [], [], [], {}, {}, 0
    for f, v in _fields(raw):
        if f == 6:
            strings.append(v.decode("utf-8"))
        elif f == 1:
            types.append(dict(_fields(v)).get(1, 0))
        elif f == 2:
            ids, vals = [], []
            for g, w in _fields(v):
                if g == 1:
                    ids += _ints(w)
                elif g == 2:
                    vals += _ints(w)
            samples.append((ids, vals))
        elif f == 4:
            d = dict(_fields(v))
            line = dict(_fields(d[4])) if 4 in d else {}
            locs[d[1]] = line.get(1)
        elif f == 5:
            d = dict(_fields(v))
            funcs[d[1]] = d.get(2, 0)
        elif f == 14:
            default = v
    name = lambda loc: strings[funcs[locs[loc]]] if locs.get(loc) else None  # noqa: E731
    return {"types": [strings[t] for t in types], "default": strings[default],
            "samples": [(name(ids[0]) if ids else None, vals) for ids, vals in samples]}


def pprof_by_function(dec, index):
    """{innermost function: value} for one sample type, zeros left out (as the JSON views do)."""
    k = dec["types"].index(index)
    out = {}
    for fn, vals in dec["samples"]:
        if vals[k]:
            out[fn] = out.get(fn, 0) + vals[k]
    return out


# ---------------------------------------------------------------- go tool pprof

def go_tool():
    go = shutil.which("go") or ("/usr/lib/go/bin/go" if os.path.exists("/usr/lib/go/bin/go") else None)
    if not go:
        return None, "no go on PATH (Debian package golang-go; make test-deps installs it)"
    env = dict(os.environ, HOME=tempfile.mkdtemp(prefix="tm-go-"))
    env["GOCACHE"] = os.path.join(env["HOME"], "cache")
    r = subprocess.run([go, "version"], capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0:
        return None, f"'go version' fails: {r.stderr.strip()[:100]}"
    return (go, env), None


TOP_ROW = re.compile(r"^\s*(\d+)B?\s+[\d.e+-]+%\s+[\d.e+-]+%\s+(\d+)B?\s+[\d.e+-]+%\s+(.*)$")


def go_top(go, path, index):
    """`go tool pprof -top` for one sample type: ({function: flat}, total). -unit=B keeps every
    number an exact integer; -nodefraction=0 and -nodecount keep every function."""
    exe, env = go
    r = subprocess.run([exe, "tool", "pprof", "-top", "-unit=B", "-nodefraction=0", "-edgefraction=0",
                        "-nodecount=1000000", f"-sample_index={index}", path],
                       capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"go tool pprof -top -sample_index={index}: {r.stderr.strip()[:300]}")
    m = re.search(r"Total samples = (\d+)B?", r.stdout)
    flat = {}
    for line in r.stdout.splitlines():
        row = TOP_ROW.match(line)
        if row and int(row.group(1)):
            flat[row.group(3).strip()] = int(row.group(1))
    return flat, int(m.group(1)) if m else None, r.stdout


# ---------------------------------------------------------------- the captures

_caps = {}


def capture(name, cmd):
    if name not in _caps:
        cap = os.path.join(OUT, f"formats_{name}.tdm")
        r = tidemark("run", "-q", "-o", cap, "--", *cmd)
        if not os.path.exists(cap):
            raise AssertionError(f"run {cmd}: no capture ({r.returncode}, {r.stderr.strip()[:200]})")
        _caps[name] = cap
    return _caps[name]


def gt_capture():
    if not os.path.exists(GT):
        skip(f"{GT} is not built (make all)")
    return capture("gt", [GT])


def python():
    if os.path.exists("/usr/bin/python3.11"):
        return "/usr/bin/python3.11"
    for minor in range(13, 7, -1):
        hits = sorted(glob.glob(f"/root/.pyenv/versions/3.{minor}.*/bin/python3.{minor}"))
        if hits:
            return hits[-1]
    return None


def marker_lines():
    return {line.split("# ")[1].split(":")[0].strip(): n
            for n, line in enumerate(open(PY_PEAK, encoding="utf-8"), 1) if "# L_" in line}


# ---------------------------------------------------------------- tests

def test_c_text_json_collapsed():
    cap = gt_capture()
    d = report_json(cap)
    truth = {"peak": PEAK, "leaks": 361232, "allocs": 7990912}
    eq(d["totals"]["peak_bytes"], PEAK, "JSON peak_bytes")
    eq(d["totals"]["live_bytes_end"], truth["leaks"], "JSON live_bytes_end")
    eq(d["totals"]["alloc_bytes"], truth["allocs"], "JSON alloc_bytes")
    for view in VIEWS:
        js = by_site(d["views"][view])
        folded = collapsed(cap, view)
        eq(sum(n for _, n in folded), truth[view], f"{view}: collapsed adds up to the truth")
        eq(sum(b for b, _ in js.values()), truth[view], f"{view}: JSON adds up to the truth")
        eq(text_total(cap, view), truth[view], f"{view}: text rows add up to the truth")
        eq(leaf_bytes(folded), {k: b for k, (b, _) in js.items()}, f"{view}: collapsed == JSON per innermost function")
        eq(len({";".join(f) for f, _ in folded}), len(folded), f"{view}: one line per distinct stack")
        eq(folded, sorted(folded, key=lambda x: ";".join(x[0]).encode()), f"{view}: lines sorted")
        callers = {f[-2] for f, _ in folded if f[-1].startswith("site_") and len(f) > 1}
        check(callers and callers <= {"main", "thread_main", "site_mmap_whole"}, f"{view}: outermost first: callers {callers}")
    leaves = leaf_bytes(collapsed(cap, "peak"))
    for site, (b, _) in KEPT.items():
        eq(leaves.get(site), b, f"collapsed peak: {site}")
    eq(leaf_bytes(collapsed(cap, "allocs")).get("site_churn"), ALLOCS["site_churn"][0], "collapsed allocs: site_churn")
    eq(leaf_bytes(collapsed(cap, "leaks")).get("site_thread"), 200000, "collapsed leaks: site_thread")


def test_c_pprof_decoded():
    cap = gt_capture()
    d = report_json(cap)
    path = os.path.join(OUT, "formats_gt.pb.gz")
    r = tidemark("report", "--format", "pprof", "-o", path, cap)
    eq((r.returncode, r.stdout, r.stderr), (0, "", ""), "pprof -o: quiet, exit 0")
    data = open(path, "rb").read()
    piped = render(cap, "pprof", binary=True)
    eq(piped, data, "pprof to a pipe == pprof to -o FILE (and the same bytes twice)")
    dec = pprof_decode(data)
    eq(dec["types"], SAMPLE_TYPES, "sample types, in order")
    eq(dec["default"], "peak_space", "default sample type")
    for view, (space, objects) in PPROF_INDEX.items():
        js = by_site(d["views"][view])
        eq(pprof_by_function(dec, space), {k: b for k, (b, _) in js.items()}, f"pprof {space} == JSON {view}")
        got = pprof_by_function(dec, objects)
        eq({k: got.get(k) for k in js}, {k: c for k, (_, c) in js.items()}, f"pprof {objects} == JSON {view} counts")
    eq(sum(pprof_by_function(dec, "peak_space").values()), PEAK, "pprof peak_space adds up to the peak")


def test_c_go_tool_pprof():
    cap = gt_capture()
    go, why = go_tool()
    if not go:
        skip(why)
    d = report_json(cap)
    path = os.path.join(OUT, "formats_gt.pb.gz")
    if not os.path.exists(path):
        tidemark("report", "--format", "pprof", "-o", path, cap)
    for view, (space, objects) in PPROF_INDEX.items():
        js = by_site(d["views"][view])
        flat, total, out = go_top(go, path, space)
        eq(flat, {k: b for k, (b, _) in js.items()}, f"go tool pprof -top -sample_index={space} == JSON {view}")
        eq(total, sum(b for b, _ in js.values()), f"go tool pprof {space} total")
        flat, total, _ = go_top(go, path, objects)
        eq({k: flat.get(k) for k in js}, {k: c for k, (_, c) in js.items()}, f"go tool pprof {objects} == JSON {view}")
    flat, total, out = go_top(go, path, "peak_space")
    eq((flat.get("site_peak"), flat.get("site_leak"), total), (1000000, 100000, PEAK), "pprof: the peak's sites")
    print("    " + "\n    ".join(out.splitlines()[:16]))
    exe, env = go
    r = subprocess.run([exe, "tool", "pprof", "-top", path], capture_output=True, text=True, env=env, timeout=120)
    check("Type: peak_space" in r.stdout, "go tool pprof defaults to peak_space")
    r = subprocess.run([exe, "tool", "pprof", "-comments", path], capture_output=True, text=True, env=env, timeout=120)
    check("dropped: free_unmatched=4" in r.stdout and f"peak: {PEAK} bytes" in r.stdout and "status: exited with code 7"
          in r.stdout, f"comments carry drops and totals: {r.stdout!r}")


def test_python_formats():
    py = python()
    if not py:
        skip("no CPython 3.8-3.13 on this machine")
    cap = capture("py", [py, PY_PEAK])
    L = marker_lines()
    d = report_json(cap)
    dp = report_json(cap, "--python-only")
    fname = os.path.basename(PY_PEAK)
    eq(dp["totals"], d["totals"], "--python-only changes stacks, not totals")
    for view in VIEWS:
        total = sum(s["bytes"] for s in d["views"][view])
        for args in ((), ("--python-only",)):
            folded = collapsed(cap, view, *args)
            eq(sum(n for _, n in folded), total, f"{view} {args}: collapsed adds up to the JSON total")
            eq(text_total(cap, view, *args), total, f"{view} {args}: text rows add up to the JSON total")
        check(abs(total - {"peak": d["totals"]["peak_bytes"], "leaks": d["totals"]["live_bytes_end"],
                           "allocs": d["totals"]["alloc_bytes"]}[view]) == 0, f"{view}: view total == headline total")
    # Per line, from the folded labels "function (file:line)".
    def line_bytes(view, line):
        return sum(n for f, n in collapsed(cap, view, "--python-only")
                   if f[-1].endswith(f"{fname}:{line})"))
    a, b = line_bytes("peak", L["L_A"]), line_bytes("peak", L["L_B"])
    check(200 * MB <= a <= 200 * MB + 2**21 and 150 * MB <= b <= 150 * MB + 2**21,
          f"collapsed peak: line {L['L_A']} holds {a}, line {L['L_B']} holds {b}")
    check(abs(d["totals"]["peak_bytes"] - 350 * MB) <= 0.02 * 350 * MB, f"peak {d['totals']['peak_bytes']} ~ 350 MB")
    eq(line_bytes("peak", L["L_C"]), 0, "collapsed peak: the later, larger line is not in it")
    leak = line_bytes("leaks", L["L_LEAK"])
    check(abs(leak - 10 * MB) <= 0.01 * 10 * MB, f"collapsed leaks: the leak's line holds {leak}")
    folded = collapsed(cap, "peak", "--python-only")
    check(any(f[-1].startswith("use_b (") and f[-2].startswith("<module> (") for f, _ in folded),
          "python frames: function (file:line), outermost first")

    path = os.path.join(OUT, "formats_py.pb.gz")
    r = tidemark("report", "--format", "pprof", "--python-only", "-o", path, cap)
    eq(r.returncode, 0, "pprof --python-only")
    dec = pprof_decode(open(path, "rb").read())
    for view, (space, _) in PPROF_INDEX.items():
        js = {("<unknown>" if k is None else k): b for k, (b, _) in by_site(dp["views"][view]).items()}
        got = {("<unknown>" if k is None else k): v for k, v in pprof_by_function(dec, space).items()}
        # a stack with no Python frame is a sample with no location: JSON's None
        eq(got, js, f"pprof {space} == JSON {view} per innermost Python function")
    go, why = go_tool()
    if not go:
        skip(why)
    for view, (space, _) in PPROF_INDEX.items():
        js = by_site(dp["views"][view])
        flat, total, _ = go_top(go, path, space)
        want = {k: b for k, (b, _) in js.items() if k is not None}
        eq({k: v for k, v in flat.items() if k != "<unknown>"}, {k: v for k, v in want.items() if k != "<unknown>"},
           f"go tool pprof -top -sample_index={space} == JSON {view} (Python only)")
        eq(total, sum(b for b, _ in js.values()), f"go tool pprof {space} total == JSON {view} total")
    flat, _, _ = go_top(go, path, "peak_space")
    check(flat.get("make_a", 0) >= 200 * MB and flat.get("use_b", 0) >= 150 * MB,
          f"go tool pprof: make_a {flat.get('make_a')}, use_b {flat.get('use_b')} at the peak")


def tidemark_bytes(*args, cwd=None):
    return subprocess.run([TIDEMARK, *args], capture_output=True, timeout=60, cwd=cwd).stdout


def test_pprof_output_rules():
    cap = gt_capture()
    # Binary and HTML formats are not for a terminal: without -o they go to a file named after the capture.
    here = os.path.join(OUT, f"formats_named-{os.getpid()}")
    shutil.rmtree(here, ignore_errors=True)
    os.makedirs(here)
    stem = os.path.basename(cap)[:-len(".tdm")]
    for args, name in ((["--format", "pprof"], f"{stem}.pb.gz"), (["--format", "flamegraph"], f"{stem}.html"),
                       (["--format", "pprof", "--view", "leaks"], f"{stem}-leaks.pb.gz")):
        m, s = pty.openpty()
        try:
            r = subprocess.run([TIDEMARK, "report", *args, cap], stdout=s, stderr=subprocess.PIPE, text=True,
                               timeout=60, cwd=here)
        finally:
            os.close(m)
            os.close(s)
        eq((r.returncode, r.stderr), (0, f"tidemark report: wrote {name}\n"),
           f"{' '.join(args)} with a terminal on stdout: written to {name}, its path said on stderr")
        path = os.path.join(here, name)
        check(os.path.exists(path) and open(path, "rb").read() == tidemark_bytes("report", *args, cap, cwd=here),
              f"{name} holds what a pipe gets")
        check(os.path.exists(path) and os.stat(path).st_mode & 0o777 == 0o600, f"{name} is mode 0600")
    m, s = pty.openpty()
    try:
        r = subprocess.run([TIDEMARK, "diff", "--format", "flamegraph", cap, cap], stdout=s, stderr=subprocess.PIPE,
                           text=True, timeout=60, cwd=here)
    finally:
        os.close(m)
        os.close(s)
    eq((r.returncode, r.stderr), (0, f"tidemark diff: wrote {stem}-vs-{stem}.html\n"),
       "diff --format flamegraph with a terminal on stdout: to BEFORE-vs-AFTER.html")
    r = tidemark("report", "--format", "xml", cap)
    check(r.returncode == 2 and "pprof" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          f"unknown format lists the formats: {r.stderr!r}")
    r = tidemark("report", "--format", "collapsed", "-o", "/nonexistent/dir/x.folded", cap)
    check(r.returncode == 1 and "cannot write /nonexistent/dir/x.folded" in r.stderr, f"unwritable -o: {r.stderr!r}")
    path = os.path.join(OUT, "formats_gt.txt")
    r = tidemark("report", "-o", path, "-n", "0", cap)
    eq((r.returncode, r.stdout), (0, ""), "text to -o FILE: nothing on stdout")
    eq(open(path).read(), render(cap, "text"), "text to -o FILE == text on stdout")
    r = tidemark("report", "--format", "pprof", "-o", path, os.path.join(OUT, "nonexistent.tdm"))
    check(r.returncode == 1 and open(path).read() == render(cap, "text"), "a bad capture leaves -o FILE alone")
    # A write that fails: said in one line, and only a regular file we wrote is removed. A device
    # (our own node for /dev/full: major 1, minor 7) must survive it.
    full = os.path.join(OUT, "formats_full")
    if os.path.lexists(full):
        os.unlink(full)
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    for fmt in ("text", "pprof", "flamegraph"):
        r = tidemark("report", "--format", fmt, "-o", full, cap)
        check(r.returncode == 1 and f"writing {full} failed" in r.stderr and r.stderr.count("\n") == 1,
              f"{fmt} to a full device: one line, exit 1: {r.stderr!r}")
        check(os.path.exists(full) and stat.S_ISCHR(os.stat(full).st_mode), f"{fmt}: the device is still there")
    r = tidemark("diff", "-o", full, cap, cap)
    check(r.returncode == 1 and os.path.exists(full), f"diff to a full device: fails, device kept: {r.stderr!r}")
    os.unlink(full)


if __name__ == "__main__":
    main([test_c_text_json_collapsed, test_c_pprof_decoded, test_c_go_tool_pprof, test_python_formats,
          test_pprof_output_rules])
