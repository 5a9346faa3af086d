#!/bin/sh
# bench/python.sh: what Python stack capture costs. Needs root and a CPython (pyenv's 3.12, or
# Debian's 3.11). Medians of ROUNDS interleaved runs.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-$(ls /root/.pyenv/versions/3.12.*/bin/python3.12 2>/dev/null | tail -n 1)}
[ -x "${PY:-}" ] || PY=/usr/bin/python3.11
[ -x "$PY" ] || { echo "bench/python: no CPython found" >&2; exit 1; }
ROUNDS=${ROUNDS:-3}
N=${N:-100000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh
cat > "$TMP/configs" <<EOC
depth 5, bare|$PY bench/py_event.py 5 $N
depth 5, tidemark --no-python|./tidemark run -q --no-python -o $TMP/t.tdm -- $PY bench/py_event.py 5 $N
depth 5, tidemark|./tidemark run -q -o $TMP/t.tdm -- $PY bench/py_event.py 5 $N
depth 30, bare|$PY bench/py_event.py 30 $N
depth 30, tidemark --no-python|./tidemark run -q --no-python -o $TMP/t.tdm -- $PY bench/py_event.py 30 $N
depth 30, tidemark|./tidemark run -q -o $TMP/t.tdm -- $PY bench/py_event.py 30 $N
churn, bare|$PY bench/py_churn.py
churn, tidemark|./tidemark run -q -o $TMP/t.tdm -- $PY bench/py_churn.py
churn, tracemalloc|$PY -X tracemalloc bench/py_churn.py
EOC
bench_rounds
echo "Python: $($PY -V 2>&1), median of $ROUNDS rounds"
for d in 5 30; do
	b=$(median "depth $d, bare"); n=$(median "depth $d, tidemark --no-python"); t=$(median "depth $d, tidemark")
	awk -v d=$d -v b="$b" -v n="$n" -v t="$t" 'BEGIN {
		printf "  ctypes malloc/free at depth %2d: bare %7.1f ns, native-only %7.1f ns, with Python stack %7.1f ns: Python stack capture adds %.0f ns per malloc event (free captures none)\n",
			d, b, n, t, t - n }'
done
b=$(median "churn, bare"); t=$(median "churn, tidemark"); m=$(median "churn, tracemalloc")
awk -v b="$b" -v t="$t" -v m="$m" 'BEGIN {
	printf "  json churn (200k dicts): bare %.3f s, tidemark %.3f s (%.2fx), tracemalloc %.3f s (%.2fx)\n", b, t, t / b, m, m / b }'
