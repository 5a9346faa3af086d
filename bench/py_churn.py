# py_churn.py [N]: object churn, json dumps/loads of N dicts (200k); prints its own wall time.
import json
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000

t = time.perf_counter()
rows = [{"id": i, "name": f"user{i}", "tags": ["a", "b", str(i)], "score": i * 0.5} for i in range(N)]
back = json.loads(json.dumps(rows))
assert len(back) == len(rows)
print(f"seconds {time.perf_counter() - t:.6f}")
