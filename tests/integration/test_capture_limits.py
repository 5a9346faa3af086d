#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Hostile captures (issue 10 item 8): reading costs memory in proportion to the file.

A capture's header and counts declare sizes; the reader charges each against
TM_CAPTURE_MEM_PER_BYTE (64) bytes per byte of file + 16 MiB before it
allocates. Each crafted file below is about 1 MB and is refused with one
line on stderr while `tidemark report` runs under `prlimit --as` of 100 MB;
a genuine capture larger than them is still read whole under that limit.
No root needed: nothing is traced.
"""
import os
import shutil
import struct
import subprocess
import zlib

from tmtest import OUT, ROOT, TIDEMARK, check, eq, main, skip

LIMIT = 100 << 20
GEN = os.path.join(ROOT, ".output", "tests", "gen_profile")


def capture(chunks, plen):
    """A version-2 capture whose payload is the concatenation of chunks (bytes, or an int: that many zeros).

    Runs of zeros are written as one compressed MiB repeated: after a full flush
    deflate starts afresh, so the same input gives the same bytes, and a GiB
    costs one MiB of compression work instead of a thousand.
    """
    z = zlib.compressobj(9, zlib.DEFLATED, -15)     # raw deflate: header and trailer are ours
    out, adler = [b"\x78\xda"], 1
    mib = bytes(1 << 20)
    block = None
    for c in chunks:
        if isinstance(c, bytes):
            out.append(z.compress(c) + z.flush(zlib.Z_FULL_FLUSH))
            adler = zlib.adler32(c, adler)
            continue
        while c:
            n = min(c, len(mib))
            if n == len(mib):
                if block is None:
                    block = z.compress(mib) + z.flush(zlib.Z_FULL_FLUSH)
                out.append(block)
            else:
                out.append(z.compress(mib[:n]) + z.flush(zlib.Z_FULL_FLUSH))
            adler = zlib.adler32(mib[:n], adler)
            c -= n
    out.append(z.flush(zlib.Z_FINISH) + struct.pack(">I", adler))
    body = b"".join(out)
    header = b"TIDEMARK" + struct.pack("<IIQI", 2, 0, plen, zlib.crc32(body)) + bytes(4)
    assert len(header) == 32
    return header + body


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def report_limited(path, *args):
    return subprocess.run(["prlimit", f"--as={LIMIT}", TIDEMARK, "report", *args, path],
                          capture_output=True, text=True, timeout=300)


def refused(path, what):
    r = report_limited(path)
    eq(r.returncode, 1, f"{what}: exit status")
    lines = r.stderr.strip().splitlines()
    eq(len(lines), 1, f"{what}: one line on stderr ({r.stderr.strip()[:200]!r})")
    check("refused" in r.stderr and "bytes per byte of file" in r.stderr,
          f"{what}: says it refused and why: {r.stderr.strip()[:200]!r}")
    eq(r.stdout, "", f"{what}: nothing on stdout")


def need_tools():
    if not shutil.which("prlimit"):
        skip("prlimit (util-linux) is not installed")


def test_expansion_bomb_refused_at_header():
    """1 GiB of zeros in ~1 MB: a strings table of 268 million empty strings (was 3 GB, 48 s)."""
    need_tools()
    plen = 1 << 30
    data = capture([struct.pack("<I", (plen - 4) // 4), plen - 4], plen)
    check(900_000 < len(data) < 1_200_000, f"the crafted file is about 1 MB ({len(data)} bytes)")
    refused(write("bomb_header.tdm", data), "1 GiB payload in 1 MB")


def test_count_bomb_refused_before_allocating():
    """A payload the budget allows (61 MB in a 1 MB file) whose string count would not fit it."""
    need_tools()
    noise = os.urandom(900_000)              # incompressible: makes the file ~1 MB
    zeros = 60 << 20
    n = (zeros + len(noise) + 4) // 4        # empty strings, as many as fit
    body = [struct.pack("<II", n, len(noise)), noise, zeros]
    plen = 8 + len(noise) + zeros
    data = capture(body, plen)
    check(900_000 < len(data) < 1_200_000, f"the crafted file is about 1 MB ({len(data)} bytes)")
    check(plen < len(data) * 64 + (16 << 20), "its payload alone is within the budget")
    refused(write("bomb_count.tdm", data), "15 million strings in 1 MB")


def test_many_sites_within_budget_read():
    """200,000 one-frame sites in a 1 MB file: within its budget, so read, and under 100 MB."""
    need_tools()
    noise = bytes(b % 255 + 1 for b in os.urandom(900_000))   # a string: no NUL
    frame = struct.pack("<IIIIIQ", 0, 0, 0, 0, 0, 0x1000)
    nsites = 200_000
    # strings: 1 string (the noise); process, totals; no counters; 1 frame; nsites sites of 1 frame each
    head = struct.pack("<II", 1, len(noise)) + noise
    head += struct.pack("<iIIiIiQQ", 1, 0, 0, 0, 0, 0, 0, 0) + struct.pack("<QQqQQQ", 0, 0, 0, 0, 0, 0)
    head += struct.pack("<I", 0) + struct.pack("<I", 0) + struct.pack("<I", 1) + frame
    site = struct.pack("<III", 1, 0, 0) + bytes(64) + struct.pack("<I", 0)
    body = head + struct.pack("<I", nsites) + site * nsites
    data = capture([body], len(body))
    r = report_limited(write("sites.tdm", data), "--format", "collapsed", "--view", "allocs", "-n", "0")
    eq(r.returncode, 0, f"200,000 one-frame sites in a 1 MB file are read ({r.stderr.strip()[:200]!r})")


def test_genuine_capture_read_under_the_limit():
    """50,000 distinct stacks (a capture of 1.4 MB, 7 MB of payload) under the same limit."""
    need_tools()
    if not os.path.exists(GEN):
        skip(f"{GEN} is not built (make test builds it)")
    path = os.path.join(OUT, "limits_50k.tdm")
    os.makedirs(OUT, exist_ok=True)
    r = subprocess.run([GEN, "stacks", "50000", path], capture_output=True, text=True, timeout=300)
    eq(r.returncode, 0, f"gen_profile: {r.stderr.strip()}")
    r = report_limited(path, "--format", "collapsed", "--view", "allocs", "-n", "0")
    eq(r.returncode, 0, f"read under {LIMIT >> 20} MB: {r.stderr.strip()[:200]!r}")
    eq(len(r.stdout.splitlines()), 50000, "every one of the 50,000 stacks is there")


if __name__ == "__main__":
    main([test_expansion_bomb_refused_at_header, test_count_bomb_refused_before_allocating,
          test_many_sites_within_budget_read, test_genuine_capture_read_under_the_limit])
