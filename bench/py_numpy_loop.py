# py_numpy_loop.py [N]: a numpy pipeline of large arrays (each mmap'd by malloc), N rounds (200);
# prints its own wall time.
import sys
import time

import numpy as np

t = time.perf_counter()
acc = 0.0
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 200):
    a = np.ones(2_000_000)            # 16 MB: malloc -> mmap
    b = a * 2.0 + 1.0                 # two temporaries of 16 MB
    acc += float(b.sum())
print(f"seconds {time.perf_counter() - t:.6f}")
