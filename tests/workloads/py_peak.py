# py_peak.py: a known peak, a known leak. Lines are found by their markers.
import os
import signal
import sys

if len(sys.argv) > 1 and sys.argv[1] == "--wait":      # for `tidemark attach`
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    print("ready", flush=True)
    signal.sigwait([signal.SIGUSR1])

MB = 1_000_000


def make_a():
    return bytearray(200 * MB)                          # L_A


def use_b(a):
    b = bytearray(150 * MB)                             # L_B: the peak is a + b
    return len(a) + len(b)                              # b is freed on return


a = make_a()
use_b(a)
del a                                                   # both gone now
c = bytearray(250 * MB)                                 # L_C: larger than either, after the peak
del c
leak = []   # kept to the end: os._exit skips the finalizer that would free it
for i in range(100):
    leak.append(bytearray(100_000))                     # L_LEAK: 10 MB live at the end
os._exit(0)
