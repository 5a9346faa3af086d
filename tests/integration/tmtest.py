# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The smallest harness for tidemark's integration tests: real BPF, real processes.

Each test is a function test_*(); check() records without stopping; skip() says why.
The closing line is "N passed, N failed, N skipped".
"""
import json
import os
import subprocess
import sys
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIDEMARK = os.path.join(ROOT, "tidemark")
OUT = os.path.join(ROOT, "tests", "out")
WORKLOADS = os.path.join(ROOT, ".output", "workloads")

_passed = _failed = _skipped = 0


class Skip(Exception):
    pass


def skip(why):
    raise Skip(why)


def check(cond, what):
    global _passed, _failed
    if cond:
        _passed += 1
    else:
        _failed += 1
        print(f"    FAIL: {what}")


def eq(got, want, what):
    check(got == want, f"{what}: got {got!r}, want {want!r}")


GEN_PROFILE = os.path.join(ROOT, ".output", "tests", "gen_profile")


def need_gen_profile():
    """gen_profile (synthetic captures, no tracing), built and as new as the code it links."""
    import glob
    if not os.access(GEN_PROFILE, os.X_OK):
        skip(f"{os.path.relpath(GEN_PROFILE, ROOT)} is not built (make test builds it)")
    # what it links: the pure library's objects (profile, report, target, util)
    objs = [o for d in ("profile", "report", "target", "util")
            for o in glob.glob(os.path.join(ROOT, ".output", "user", d, "*.o"))]
    stale = [o for o in objs if os.path.getmtime(o) > os.path.getmtime(GEN_PROFILE)]
    if stale:
        raise AssertionError(f"{os.path.relpath(GEN_PROFILE, ROOT)} is older than "
                             f"{os.path.relpath(stale[0], ROOT)}: run 'make .output/tests/gen_profile'")
    return GEN_PROFILE


def tidemark(*args, timeout=120, **kw):
    return subprocess.run([TIDEMARK, *args], capture_output=True, text=True, timeout=timeout, **kw)


def report_json(capture):
    r = tidemark("report", "--format", "json", "-n", "0", capture)
    if r.returncode != 0:
        raise AssertionError(f"report failed: {r.stderr}")
    return json.loads(r.stdout)


def by_site(view, depth=0):
    """{innermost function name: (bytes, count)} for one view; sites sharing a name add up."""
    out = {}
    for s in view:
        fn = s["stack"][depth]["function"] if len(s["stack"]) > depth else None
        b, c = out.get(fn, (0, 0))
        out[fn] = (b + s["bytes"], c + s["count"])
    return out


def main(tests):
    os.makedirs(OUT, exist_ok=True)
    global _skipped, _failed
    # TM_TESTS=a,b runs only those tests (the kernel matrix picks its share this way).
    only = [n for n in os.environ.get("TM_TESTS", "").split(",") if n]
    unknown = set(only) - {t.__name__ for t in tests}
    if unknown:
        print(f"TM_TESTS names no test here: {', '.join(sorted(unknown))}")
        _failed += 1
    for t in tests:
        if only and t.__name__ not in only:
            continue
        name = t.__name__
        before = _failed
        try:
            t()
            print(f"{'ok  ' if _failed == before else 'FAIL'} {name}")
        except Skip as e:
            _skipped += 1
            print(f"skip {name}: {e}")
        except Exception:
            _failed += 1
            print(f"FAIL {name}: exception")
            traceback.print_exc(file=sys.stdout)
    print(f"{_passed} passed, {_failed} failed, {_skipped} skipped")
    sys.exit(1 if _failed else 0)
