# py_numpy.py [ITER]: a numpy pipeline of fixed work (create, transform, reduce arrays, and some
# Python floats from them), about 2 s bare on the benchmark VM; prints its own wall time.
import sys
import time

import numpy as np

iters = int(sys.argv[1]) if len(sys.argv) > 1 else 800
t = time.perf_counter()
rng = np.random.default_rng(42)
total = 0.0
for i in range(iters):
    a = rng.standard_normal((400, 400))          # 1.28 MB buffers: malloc -> mmap
    b = np.ones_like(a) * i
    c = np.sqrt(a * a + b * b)                    # temporaries
    d = c.reshape(-1, 100).mean(axis=1)
    total += float(d.sum()) + float(np.median(c[::7, ::7]))
    total += sum([float(x) for x in d[:200]])     # small Python objects
print(f"seconds {time.perf_counter() - t:.3f}")
