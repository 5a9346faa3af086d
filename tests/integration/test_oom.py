# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""OOM post-mortems (issue #5): a Python script grows at a known line in a memory-limited
cgroup (v1 memory controller or v2) until the kernel kills it; the post-mortem, written from
what the kernel's maps held, names that line and accounts for >= 90% of the group's usage."""
import glob
import json
import os
import re
import shutil

from test_flamegraph import embedded
from test_formats import pprof_by_function, pprof_decode
from tmtest import OUT, ROOT, check, eq, main, skip, tidemark
from test_python import marker_lines

WL = os.path.join(ROOT, "tests", "workloads")
LIMIT = 256 << 20


def memory_root():
    """(mount point of the memory controller, is v1)."""
    for line in open("/proc/self/mountinfo"):
        pre, post = line.split(" - ")
        fstype, _, sup = post.split()[:3]
        if fstype == "cgroup" and "memory" in sup.split(","):
            return pre.split()[4], True
    for line in open("/proc/self/mountinfo"):
        pre, post = line.split(" - ")
        if post.split()[0] == "cgroup2":
            return pre.split()[4], False
    return None, False


def limited_cgroup(name, limit=LIMIT):
    """A memory cgroup of our own: the test's pid in its name, so runs of the suite from other
    checkouts on the same machine never share (and trace, and remove) each other's."""
    root, v1 = memory_root()
    if not root:
        skip("no memory cgroup controller mounted")
    path = os.path.join(root, f"{name}-{os.getpid()}")
    if os.path.isdir(path):
        os.rmdir(path)
    os.mkdir(path)
    with open(os.path.join(path, "memory.limit_in_bytes" if v1 else "memory.max"), "w") as f:
        f.write(str(limit))
    if v1 and os.path.exists(os.path.join(path, "memory.swappiness")):
        open(os.path.join(path, "memory.swappiness"), "w").write("0")
    return path


def python_frames(site, path):
    return [f for f in site["stack"] if f["kind"] == "python" and (f["file"] or "").endswith(os.path.basename(path))]


def check_postmortem(d, path, cg, how):
    L = marker_lines(path)
    oom = d["oom"]
    check(oom is not None, f"{how}: the report says OOM-killed")
    if not oom:
        return
    eq(oom["cgroup"], "/" + os.path.basename(cg), f"{how}: the memory cgroup that ran out")
    eq(oom["cgroup_limit_bytes"], LIMIT, f"{how}: its limit")
    usage = oom["cgroup_usage_bytes"]
    check(0.9 * LIMIT <= usage <= LIMIT, f"{how}: its usage at the kill ({usage}) is near the limit")
    # the group's own files, read after the kill (v2 names; v1 limit/max_usage/oom_control)
    eq((oom.get("memory_max_bytes"), oom.get("oom_kill")), (LIMIT, 1), f"{how}: the group's limit and its one OOM kill")
    peak = oom.get("memory_peak_bytes")
    check(peak is None or 0.9 * LIMIT <= peak <= LIMIT, f"{how}: the group's peak usage ({peak}) reached the limit")
    check(oom["rss_anon_bytes"] >= 0.8 * usage, f"{how}: anonymous RSS at the kill {oom['rss_anon_bytes']}")
    eq(d["process"]["signal"], 9, f"{how}: killed by SIGKILL")
    live = d["totals"]["live_bytes_end"]
    check(live >= 0.9 * usage, f"{how}: the live heap at the kill ({live}) is >= 90% of the usage ({usage})")
    leaks = d["views"]["leaks"]
    top = leaks[0] if leaks else None
    check(top is not None and python_frames(top, path) and python_frames(top, path)[0]["line"] == L["L_GROW"],
          f"{how}: the top site is line {L['L_GROW']}: {top and top['stack'][:3]}")
    at_line = sum(s["bytes"] for s in leaks if python_frames(s, path) and python_frames(s, path)[0]["line"] == L["L_GROW"])
    check(at_line >= 0.9 * usage, f"{how}: line {L['L_GROW']} holds {at_line} of {usage}")


def near_limit(text):
    """"usage U MiB of limit 256.0 MiB", U within 10% of the limit (on 6.1 the kill can come at 255.9)."""
    m = re.search(r"usage (\d+\.\d) MiB of limit 256\.0 MiB", text)
    return m is not None and 0.9 * 256 <= float(m.group(1)) <= 256


def check_capture(tdm, txt, js, path, how):
    """The capture post-mortem opens in report, the flame graph and diff, with the text's numbers."""
    L = marker_lines(path)
    r = tidemark("report", "--view", "leaks", "-n", "10", tdm)
    eq(r.returncode, 0, f"{how}: report opens the capture post-mortem ({r.stderr[-200:]})")
    text = open(txt).read()
    check(text.startswith(r.stdout) and "tidemark report " + os.path.basename(tdm) in text[len(r.stdout):],
          f"{how}: the text post-mortem is the capture's report, then names the capture")
    ranks = [int(m) for m in re.findall(r"^ {0,3}(\d+)  +[\d,]+ ", text, re.M)]
    check(ranks and ranks == list(range(1, len(ranks) + 1)) and len(ranks) <= 10,
          f"{how}: the text post-mortem lists its top sites, at most 10: ranks {ranks}")
    if js:
        full = json.loads(tidemark("report", "--format", "json", "--view", "leaks", "-n", "0", tdm).stdout)
        d = json.load(open(js))
        eq(full["views"]["leaks"], d["views"]["leaks"], f"{how}: the capture holds every site of the JSON post-mortem")
        eq(full["totals"], d["totals"], f"{how}: and its totals")
    fg = os.path.splitext(tdm)[0] + ".html"
    r = tidemark("report", "--format", "flamegraph", "--view", "leaks", "-o", fg, tdm)
    eq(r.returncode, 0, f"{how}: the flame graph opens the capture post-mortem")
    if r.returncode == 0:
        page = embedded(fg)
        check(any(f[2] and f[2].endswith("py_oom.py") and f[3] == L["L_GROW"] for f in page["frames"]),
              f"{how}: the flame graph has line {L['L_GROW']}")
        if js:
            eq(page["oom"], d["oom"], f"{how}: the flame graph's page has the post-mortem's OOM facts")
    return r.returncode == 0


def check_diff(tdm, capture, how):
    """diff opens the capture post-mortem: against the run's own capture, nothing changed."""
    r = tidemark("diff", "--view", "leaks", capture, tdm)
    eq(r.returncode, 0, f"{how}: diff opens the capture post-mortem ({r.stderr[-200:]})")
    check(re.search(r"^0 stacks grew, 0 shrank, [1-9][0-9]* unchanged; the view changed by 0 bytes", r.stdout, re.M),
          f"{how}: its live heap is the run capture's, stack for stack: {r.stdout[-200:]!r}")


def test_run_child_oom_killed():
    cg = limited_cgroup("tidemark-test-oom")
    path = os.path.join(WL, "py_oom.py")
    out = os.path.join(OUT, "oom_run")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    try:
        r = tidemark("run", "-o", os.path.join(out, "oom.tdm"), "--in-cgroup", cg, "--output-dir", out,
                     "--", "/usr/bin/python3", path)
        eq(r.returncode, 128 + 9, f"run exits 128+SIGKILL ({r.stderr[-300:]})")
        check("OOM-killed at" in r.stderr, "the summary says OOM-killed")
        pid = r.stderr.split("pid ")[1].split(")")[0] if "pid " in r.stderr else "?"
        tdm = glob.glob(os.path.join(out, f"oom-*-{pid}-{os.path.basename(cg)}.tdm"))
        txt = glob.glob(os.path.join(out, f"oom-*-{pid}-{os.path.basename(cg)}.txt"))
        js = glob.glob(os.path.join(out, f"oom-*-{pid}-{os.path.basename(cg)}.json"))
        pb = glob.glob(os.path.join(out, f"oom-*-{pid}-{os.path.basename(cg)}.pb.gz"))
        eq((len(tdm), len(txt), len(js), len(pb)), (1, 1, 1, 1),
           "capture, text, JSON and pprof post-mortems, named by time, pid and cgroup")
        for f in tdm + txt + js + pb:
            check(f in r.stderr, f"run prints the path it wrote: {f}")
        if tdm and txt:
            check_capture(tdm[0], txt[0], js[0] if js else None, path, "run")
            check_diff(tdm[0], os.path.join(out, "oom.tdm"), "run")
        if pb and js:
            dec = pprof_decode(open(pb[0], "rb").read())
            total = sum(v for fn, v in pprof_by_function(dec, "inuse_space").items())
            eq(total, sum(s["bytes"] for s in json.load(open(js[0]))["views"]["leaks"]),
               "the pprof post-mortem holds the same live heap as the JSON one")
        if js:
            d = json.load(open(js[0]))
            eq(d["version"], 1, "JSON v1")
            check_postmortem(d, path, cg, "run")
        if txt:
            text = open(txt[0]).read()
            check("status:       OOM-killed at" in text and near_limit(text),
                  "the text post-mortem names the kill, the limit and the usage")
            check(f"py_oom.py:{marker_lines(path)['L_GROW']} grow" in text, "the text names the line")
        # The capture keeps the kill too: a later `tidemark report` says what happened.
        cap = tidemark("report", os.path.join(out, "oom.tdm"))
        check("status:       OOM-killed at" in cap.stdout and near_limit(cap.stdout),
              f"the capture's report names the kill, the limit and the usage: {cap.stdout[:400]!r}")
        if js:
            again = json.loads(tidemark("report", "--format", "json", os.path.join(out, "oom.tdm")).stdout)
            eq(again.get("oom"), d.get("oom"), "the capture's JSON has the post-mortem's oom object")
    finally:
        os.rmdir(cg)


def test_run_tree_worker_oom_killed():
    """run follows children: a worker the OOM killer chose (here under a shell) gets its own
    post-mortem, with its own numbers, while the tree's capture keeps every process."""
    cg = limited_cgroup("tidemark-test-oom-tree")
    path = os.path.join(WL, "py_oom.py")
    out = os.path.join(OUT, "oom_tree")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    try:
        r = tidemark("run", "-o", os.path.join(out, "tree.tdm"), "--in-cgroup", cg, "--output-dir", out,
                     "--", "/bin/sh", "-c", f"/usr/bin/python3 {path}; exit 3")
        eq(r.returncode, 3, f"the shell outlives its OOM-killed child and exits 3 ({r.stderr[-300:]})")
        tree = json.loads(tidemark("report", "--format", "json", os.path.join(out, "tree.tdm")).stdout)
        kids = [q for q in tree["processes"] if "py_oom.py" in q["process"]["command"]]
        eq([q["process"]["signal"] for q in kids], [9], "the worker is in the tree, killed by SIGKILL")
        eq(tree.get("oom"), None, "the shell itself was not OOM-killed")
        pid = kids[0]["process"]["pid"] if kids else "?"
        files = sorted(os.path.basename(f)[len("oom-"):].split("-", 1)[1]
                       for f in glob.glob(os.path.join(out, f"oom-*-{pid}-*")))
        eq(files, [f"{pid}-{os.path.basename(cg)}{e}" for e in (".json", ".pb.gz", ".tdm", ".txt")],
           "the worker's four post-mortem files, named by its pid")
        tdm = glob.glob(os.path.join(out, f"oom-*-{pid}-*.tdm"))
        if tdm and kids:
            d = json.loads(tidemark("report", "--format", "json", tdm[0]).stdout)
            eq(d["process"]["pid"], pid, "the post-mortem is the worker's")
            check(d.get("oom") and d["oom"]["cgroup"].endswith(os.path.basename(cg)) and d["oom"]["oom_kill"] == 1,
                  f"and says it was OOM-killed in the test's cgroup: {d.get('oom')}")
            eq(d["totals"]["peak_bytes"], kids[0]["totals"]["peak_bytes"],
               "its peak is the worker's in the tree's capture")
            check(tdm[0] in r.stderr, "run prints the path it wrote")
    finally:
        os.rmdir(cg)


def test_run_normal_exit_has_no_postmortem():
    out = os.path.join(OUT, "oom_none")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    r = tidemark("run", "-q", "-o", os.path.join(out, "t.tdm"), "--output-dir", out, "--", "true")
    eq(r.returncode, 0, "true exits 0")
    eq(sorted(os.listdir(out)), ["t.tdm"], "no post-mortem without an OOM kill")


if __name__ == "__main__":
    main([test_run_child_oom_killed, test_run_tree_worker_oom_killed, test_run_normal_exit_has_no_postmortem])
