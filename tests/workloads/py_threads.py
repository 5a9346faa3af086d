# py_threads.py: 4 threads allocate 40 MB each at 4 lines, one inside a C call
# that released the GIL; the process exits at once after its peak.
import ctypes
import os
import threading

MB = 1_000_000
barrier = threading.Barrier(5)
keep = {}
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]


def t1():
    keep[1] = bytearray(40 * MB)                        # L_T1
    barrier.wait()


def t2():
    keep[2] = bytearray(40 * MB)                        # L_T2
    barrier.wait()


def t3():
    keep[3] = bytearray(40 * MB)                        # L_T3
    barrier.wait()


def t4():
    keep[4] = libc.malloc(40 * MB)                      # L_T4: ctypes releases the GIL
    barrier.wait()


threads = [threading.Thread(target=f) for f in (t1, t2, t3, t4)]
for t in threads:
    t.start()
barrier.wait()
os._exit(0)
