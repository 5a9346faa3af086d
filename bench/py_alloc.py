# py_alloc.py DEPTH N: N bytes objects of 133 bytes made and freed at Python stack depth DEPTH, each
# one PyObject_Malloc and one PyObject_Free (no other allocation in the loop); prints the ns per
# pair measured inside the process.
import itertools
import sys
import time

pat = b"x"


def loop(n):
    t = time.perf_counter_ns()
    for _ in itertools.repeat(None, n):
        tmp = pat * 100   # noqa: F841 -- freed when the next one replaces it
    return (time.perf_counter_ns() - t) / n


def at_depth(d, n):
    return at_depth(d - 1, n) if d > 1 else loop(n)


depth, n = int(sys.argv[1]), int(sys.argv[2])
loop(1000)
print(f"ns_per_pair {at_depth(depth, n):.1f}")
