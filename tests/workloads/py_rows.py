"""One line that makes the peak through several bytecode offsets and call paths (test_rows.py).

Every call of line() allocates three buffers of about N bytes at the same line, each at its own
bytecode offset and through its own native path (bytearray, bytearray, bytes); line() is called
from three Python call paths, 6 + 4 + 1 times. Everything stays live to the end.
"""
N = 1_000_000
KEEP = [None] * 64
at = 0


def line(n):
    global at
    KEEP[at] = bytearray(n); KEEP[at + 1] = bytearray(n + 1); KEEP[at + 2] = bytes(n + 2); at += 3  # L_ROW


def via_a():
    line(N)  # L_A


def via_b():
    line(N)  # L_B


for _ in range(6):
    via_a()  # L_LOOP_A
for _ in range(4):
    via_b()  # L_LOOP_B
line(N)  # L_TOP
