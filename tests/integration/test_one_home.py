# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""One home per concern in the outputs, checked from the outside.

- The text diff and the flame graph's diff page pair the same stacks and
  give them the same numbers, stack by stack, in every view (one matcher).
- The JSON report, the flame graph page and the OOM post-mortem escape
  strings the same way (one escaper), and read back as exactly the strings
  the profile holds, with every byte that is not UTF-8 as U+FFFD.

The captures are gen_profile's (no tracing, no root): the diff pair, two
ragged stack sets, and one whose strings hold control characters, invalid
UTF-8, non-ASCII names, quotes, '<', '&', ';' and U+2028.
"""
import glob
import json
import os
import re
import shutil
import subprocess

from tmtest import OUT, check, eq, main, need_gen_profile, tidemark

WORK = os.path.join(OUT, "one_home")
VIEWS = ("peak", "leaks", "allocs", "temporary")


def gen(*args):
    r = subprocess.run([need_gen_profile(), *args], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"gen_profile {args[0]}: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


def captures():
    need_gen_profile()
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    c = {k: os.path.join(WORK, k + ".tdm") for k in ("before", "after", "s16", "s24", "strings")}
    gen("pair", c["before"], c["after"])
    gen("stacks", "16", c["s16"])
    gen("stacks", "24", c["s24"])
    gen("strings", c["strings"])
    return c


def page_data(path):
    html = open(path, "rb").read().decode("utf-8")
    m = re.search(r'<script type="application/json" id="tm-data">(.*?)</script', html, re.S)
    return json.loads(m.group(1)), m.group(1)


# What the text report prints for a frame (tm_report__text_frame), for ASCII names.
def label(fr):
    kind, fn, file, line, module, addr = fr
    if kind == 1:
        return f"{file or '<unknown>'}{':%d' % line if line else ''} {fn or '<unknown>'}"
    s = fn if fn is not None else (addr or "0x0")
    if file is not None:
        s += f" {file}" + (f":{line}" if line else "")
    if module is not None:
        base = module.rsplit("/", 1)[-1] or module
        s += f" ({base})"
    return s


ROW = re.compile(r"^\s*([+-]?[\d,]+)\s+([\d,]+)\s+([\d,]+)\s+(\S+)  (.*)$")
CONT = re.compile(r"^ {58}(\S.*)$")
WRAP = re.compile(r"^ {60}(\S.*)$")  # a frame wrapped to fit 120 columns goes on two columns in


def fitted(lab):
    """A label as both sides can be compared after the text fitted it into 120 columns: the text
    shortens a source path from the left (".../pkg/mod.c"), so paths compare by their last part."""
    return re.sub(r"\S*/([^/\s]+)", r"\1", lab)


def text_rows(out):
    """{labels of the stack, innermost first: (before, after)} of the text diff."""
    rows = []
    for line in out.splitlines():
        m = ROW.match(line)
        if m:
            rows.append(([m.group(5)], int(m.group(2).replace(",", "")),
                         int(m.group(3).replace(",", ""))))
        elif rows and CONT.match(line):
            rows[-1][0].append(CONT.match(line).group(1))
        elif rows and WRAP.match(line):
            rows[-1][0][-1] += " " + WRAP.match(line).group(1)
    out = {}
    for labels, b, a in rows:
        labels = [fitted(x) for x in labels]
        check(tuple(labels) not in out, f"one text row per stack {labels}")
        out[tuple(labels)] = (b, a)
    return out


def page_rows(d, view):
    """The same from the page: sites whose bytes in the view changed."""
    v = d["views"].index(view)
    rows = {}
    for site in d["sites"]:
        stack, vals = site[0], site[2:]
        after, before = vals[2 * v], vals[8 + 2 * v]
        if after == before:
            continue
        labels = tuple(fitted(label(d["frames"][i])) for i in reversed(stack))
        check(labels not in rows, f"{view}: one page site per stack {labels}")
        rows[labels or ("(no stack)",)] = (before, after)
    return rows


def test_text_and_flamegraph_diff_agree():
    c = captures()
    pairs = [("before", "after", []), ("s16", "s24", []), ("s16", "s24", ["--python-only"]),
             ("after", "strings", [])]
    for b, a, extra in pairs:
        compared = 0
        for view in VIEWS:
            what = f"diff {b} {a} {' '.join(extra)} --view {view}"
            r = tidemark("diff", "--view", view, "-n", "0", "--max-depth", "64", *extra,
                         c[b], c[a])
            eq(r.returncode, 0, f"{what}: text exits 0 ({r.stderr.strip()})")
            page = os.path.join(WORK, f"diff-{b}-{a}-{view}{len(extra)}.html")
            r2 = tidemark("diff", "--format", "flamegraph", "--view", view, *extra, "-o", page,
                          c[b], c[a])
            eq(r2.returncode, 0, f"{what}: flamegraph exits 0 ({r2.stderr.strip()})")
            t, p = text_rows(r.stdout), page_rows(page_data(page)[0], view)
            if a == "strings":
                # Labels of hostile strings differ by design (escaped text vs JSON): compare numbers.
                eq(sorted(t.values()), sorted(p.values()), f"{what}: the same changes")
            else:
                eq(t, p, f"{what}: the same stacks with the same before and after")
            compared += len(t)
        check(compared >= 4, f"diff {b} {a} {extra}: stacks changed to compare ({compared})")
    # The known answer of the pair (gen_profile.c diff_side), from both sides.
    r = tidemark("diff", "-n", "0", c["before"], c["after"])
    t = text_rows(r.stdout)
    eq(sorted(t.values()), sorted([(300000, 900000), (500000, 150000), (0, 250000), (100000, 0)]),
       "the pair: +600,000, -350,000, +250,000 new, -100,000 gone; read_file unchanged")


# The strings gen_profile's 'strings' capture holds, as Python reads them back
# from any JSON output: invalid bytes as U+FFFD, one per byte.
def dec(b):
    out = []
    i = 0
    while i < len(b):
        for n in (1, 2, 3, 4):
            try:
                out.append(b[i:i + n].decode("utf-8"))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


COMMAND = dec(b"app\x1b[2J \xe2\x80\xa8 <b>&amp; \"quoted\" \\ \xff\xc3 \xc3\xa9t\xc3\xa9 "
              b"\xf0\x9f\x90\x8d\tend")
CGROUP = dec(b"/kubepods/pod\x01\xc3\xa9\xff/app")
OOM_CGROUP = "/kubepods/pod\n</script>"
FUNCTIONS = {dec(b"alloc\x01\x1b[31m<red>"), "std::vector<int>::push_back&\"q\"",
             dec(b"handler_\xc3\xb1\xe2\x80\xa8sep"), dec(b"\xe6\x97\xa5\xe6\x9c\xac\x7f\x08\x0c"),
             "main", dec(b"\xed\xa0\x80surrogate\xc0\xafoverlong\xf4\x90toobig")}
DROPS = {dec(b"map_full\x1b]0;title\x07"), "stack_unreadable"}

# What the one escaper writes for each, in the raw JSON text of every output.
ESCAPED = [r"app\u001b[2J \u2028 \u003cb\u003e\u0026amp; \"quoted\" \\ \ufffd\ufffd été 🐍\tend",
           r"/kubepods/pod\n\u003c/script\u003e", r"日本\u007f\b\f",
           r"std::vector\u003cint\u003e::push_back\u0026\"q\"",
           r"\ufffd\ufffd\ufffdsurrogate\ufffd\ufffdoverlong\ufffd\ufffdtoobig"]


def raw_ok(raw, what):
    for s in ESCAPED:
        check(s in raw, f"{what}: the raw JSON holds {s!r}")
    for bad in ("<", ">", "&", "\x7f", "\u2028", "\u2029"):
        check(bad not in raw, f"{what}: no raw {bad!r} in the JSON")
    check(all(ord(ch) >= 0x20 or ch == "\n" for ch in raw), f"{what}: no raw control characters")


def strings_ok(proc, oom, frames_fns, drops, what):
    eq(proc["command"], COMMAND, f"{what}: the command reads back")
    eq(proc["cgroup"], CGROUP, f"{what}: the cgroup reads back")
    eq(oom["cgroup"], OOM_CGROUP, f"{what}: the OOM cgroup reads back")
    eq(oom["cgroup_limit_bytes"], 1073741824, f"{what}: the OOM cgroup limit")
    check(FUNCTIONS <= set(frames_fns), f"{what}: every function name reads back: "
          f"{sorted(FUNCTIONS - set(frames_fns))}")
    eq(set(k for k, v in drops.items() if v), DROPS, f"{what}: the nonzero drops by name")


def test_one_escaper():
    c = captures()
    # The JSON report.
    r = tidemark("report", "--format", "json", "-n", "0", c["strings"])
    eq(r.returncode, 0, "json report exits 0")
    raw = r.stdout
    raw_ok(raw, "json report")
    d = json.loads(raw)
    fns = [f["function"] for v in d["views"].values() for s in v for f in s["stack"]]
    strings_ok(d["process"], d["oom"], fns, d["dropped"], "json report")
    eq(d["sample_bytes"], 524288, "json report: sample_bytes")

    # The flame graph page: the same header, the same escaping.
    page = os.path.join(WORK, "strings.html")
    eq(tidemark("report", "--format", "flamegraph", "-o", page, c["strings"]).returncode, 0,
       "flamegraph exits 0")
    pd, praw = page_data(page)
    raw_ok(praw, "flamegraph page")
    strings_ok(pd["process"], pd["oom"], [f[1] for f in pd["frames"]], pd["dropped"],
               "flamegraph page")
    eq(pd["sample_bytes"], 524288, "flamegraph page: sample_bytes")
    for key in ("process", "oom", "totals", "sample_bytes", "dropped", "stats"):
        eq(pd[key], d[key], f"the page's {key} is the JSON report's")
    # Its <title> is HTML, not JSON: escaped for HTML, control bytes as U+FFFD.
    title = re.search(r"<title>(.*?)</title>", open(page, encoding="utf-8").read(), re.S).group(1)
    eq(title, "tidemark: app\ufffd[2J \u2028 &lt;b&gt;&amp;amp; &quot;quoted&quot; \\ \ufffd\ufffd "
              "été 🐍\tend", "the page title")

    # The OOM post-mortem's JSON, as run and the daemon write it.
    pm = os.path.join(WORK, "pm")
    os.makedirs(pm)
    base = gen("postmortem", c["strings"], pm).strip()
    praw = open(base + ".json", encoding="utf-8").read()
    raw_ok(praw, "post-mortem")
    pmd = json.loads(praw)
    fns = [f["function"] for s in pmd["views"]["leaks"] for f in s["stack"]]
    check({"main", dec(b"handler_\xc3\xb1\xe2\x80\xa8sep")} <= set(fns),
          f"post-mortem: the leak stacks' names read back: {fns}")
    strings_ok(pmd["process"], pmd["oom"], list(FUNCTIONS), pmd["dropped"], "post-mortem")
    eq(pmd, d, "the post-mortem's JSON is the JSON report of the same profile")
    check(len(glob.glob(os.path.join(pm, "oom-*"))) == 4, "post-mortem: .tdm, .txt, .json and .pb.gz")


def test_page_shows_the_shared_header():
    """The page now has the header's cgroup, OOM and sampling: it shows them, without errors."""
    from test_flamegraph import chromium, element_text, need_chromium
    need_chromium()
    c = captures()
    page = os.path.join(WORK, "strings.html")
    eq(tidemark("report", "--format", "flamegraph", "-o", page, c["strings"]).returncode, 0,
       "flamegraph exits 0")
    dom, _ = chromium(page, "--dump-dom")
    status = element_text(dom, "tm-status")
    check(status.endswith("errors: 0"), f"no script errors: {status!r}")
    facts = re.sub(r"<[^>]+>", "", re.search(r'id="facts">(.*?)</div>', dom, re.S).group(1))
    badges = re.sub(r"<[^>]+>", "|", re.search(r'id="badges">(.*?)</div>', dom, re.S).group(1))
    for want in ["cgroup /kubepods/pod\x01\u00e9\ufffd/app", "status OOM-killed, killed by signal 9 (SIGKILL)",
                 "OOM-killed at 1.200 s (memory cgroup /kubepods/pod\n&lt;/script&gt;: "
                 "usage 1.0 GiB of limit 1.0 GiB)",
                 "RSS at kill 877.4 MiB"]:
        check(want in facts, f"the page's facts hold {want!r}: {facts!r}")
    check("sampled: one point per 512.0 KiB allocated; bytes and counts are estimates" in badges,
          f"the sampling badge: {badges!r}")
    check("dropped stack_unreadable: 2" in badges, f"the drops: {badges!r}")


if __name__ == "__main__":
    main([test_text_and_flamegraph_diff_agree, test_one_escaper, test_page_shows_the_shared_header])
