# py_event.py DEPTH N [distinct]: N libc malloc/free pairs through ctypes at Python stack depth
# DEPTH; prints the ns per pair measured inside the process. By default one function recurses
# DEPTH times; with "distinct" DEPTH different functions call one another, as real stacks do
# (each frame then has a code object of its own).
import ctypes
import sys
import time

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
malloc, free = libc.malloc, libc.free


def loop(n):
    t = time.perf_counter_ns()
    for _ in range(n):
        free(malloc(64))
    return (time.perf_counter_ns() - t) / n


def at_depth(d, n):
    return at_depth(d - 1, n) if d > 1 else loop(n)


def distinct(d):
    """f0 -> f1 -> ... -> f{d-1} -> loop, each its own function."""
    ns = {"loop": loop}
    for i in reversed(range(d)):
        callee = f"f{i + 1}" if i + 1 < d else "loop"
        exec(f"def f{i}(n):\n    return {callee}(n)\n", ns)
    return ns["f0"]


depth, n = int(sys.argv[1]), int(sys.argv[2])
loop(1000)
if len(sys.argv) > 3 and sys.argv[3] == "distinct":
    print(f"ns_per_pair {distinct(depth)(n):.1f}")
else:
    print(f"ns_per_pair {at_depth(depth, n):.1f}")
