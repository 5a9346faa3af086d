# py_lines.py SITE [--wait]: holds 6 MB from one of three known lines, then exits
# (or, with --wait, says "ready" and exits when stdin closes).
import sys
import time

if len(sys.argv) > 2 and sys.argv[2] == "--wait":
    # The daemon configures its Python walker after the exec event reaches user space; under
    # 50 concurrent starts on 2 cores that can take a second (each start parses its libpython: not cached yet). Allocations before it have native
    # stacks only (README, "Daemon").
    time.sleep(2)


def one():
    return b"1" * (6 * 1000 * 1000)                     # L_ONE


def two():
    return b"2" * (6 * 1000 * 1000)                     # L_TWO


def three():
    return b"3" * (6 * 1000 * 1000)                     # L_THREE


keep = [one, two, three][int(sys.argv[1]) - 1]()
if len(sys.argv) > 2 and sys.argv[2] == "--wait":
    print("ready", flush=True)
    sys.stdin.read()
