# py_numpy.py [--wait]: a peak made of numpy arrays of known sizes at known lines.
import sys

import numpy as np

MB = 1_000_000


def build():
    a = np.ones(40 * MB, dtype=np.uint8)                 # L_NP_A: 40 MB
    b = np.ones(5 * MB, dtype=np.float64)                # L_NP_B: 40 MB
    c = np.ones((1000, 2500), dtype=np.int32)            # L_NP_C: 10 MB
    return a, b, c


arrays = build()                                          # the peak: 90 MB
del arrays
small = np.ones(1 * MB, dtype=np.uint8)                   # L_NP_AFTER: after the peak
if len(sys.argv) > 1 and sys.argv[1] == "--wait":
    print("ready", flush=True)
    sys.stdin.read()
