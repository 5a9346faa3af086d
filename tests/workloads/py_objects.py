# py_objects.py: objects of exactly known sizes made through CPython's allocators at known lines,
# for --trace-python-allocators. A bytes object of length n is one PyObject_Malloc of 33 + n bytes
# (offsetof(PyBytesObject, ob_sval) + n + 1) on 3.8-3.13, and bytes have no free list. `pat * n`
# is not constant-folded because pat is a variable. Lines are found by their markers.
import os
import signal
import sys

if len(sys.argv) > 1 and sys.argv[1] == "--wait":      # for `tidemark attach`
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    print("ready", flush=True)
    signal.sigwait([signal.SIGUSR1])

pat = b"x"
N_SMALL, N_BIG, N_TEMP = 20_000, 1_000, 5_000

small = [None] * N_SMALL                                # L_LIST: the item array, 8 * N_SMALL bytes
for i in range(N_SMALL):
    small[i] = pat * 100                                # L_SMALL: 133 bytes each, from pymalloc's pools
big = [None] * N_BIG
for i in range(N_BIG):
    big[i] = pat * 1000                                 # L_BIG: 1033 bytes each: pymalloc hands them to malloc
for i in range(N_TEMP):
    tmp = pat * 200                                     # L_TEMP: 233 bytes, each freed by the next
os._exit(0)   # everything above is still live at the end
