# py_event.py DEPTH N: N libc malloc/free pairs through ctypes at Python stack depth DEPTH;
# prints the ns per pair measured inside the process.
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


depth, n = int(sys.argv[1]), int(sys.argv[2])
loop(1000)
print(f"ns_per_pair {at_depth(depth, n):.1f}")
