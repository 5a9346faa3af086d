# py_churn.py: object churn, json dumps/loads of ~200k dicts; prints its own wall time.
import json
import time

t = time.perf_counter()
rows = [{"id": i, "name": f"user{i}", "tags": ["a", "b", str(i)], "score": i * 0.5} for i in range(200_000)]
back = json.loads(json.dumps(rows))
assert len(back) == len(rows)
print(f"seconds {time.perf_counter() - t:.3f}")
