# py_numpy_hybrid.py: numpy arrays of known sizes made at known lines (for Debian's python3.11 with
# python3-numpy). A float64 array's data is one allocation of exactly 8 bytes per element by
# numpy's default handler; buffers this large come from an mmap inside malloc. The array object
# and its shape are separate small allocations. Lines are found by their markers.
import os

import numpy as np


def f():
    return np.ones(10_000_000)                          # L_ONES: 80,000,000 bytes of data


def g():
    return np.empty((1000, 1000))                       # L_EMPTY: 8,000,000 bytes of data


a = f()
b = g()
os._exit(0)   # both live at the end
