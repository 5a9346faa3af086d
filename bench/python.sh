#!/bin/sh
# bench/python.sh: what Python stack capture costs, what --trace-python-allocators costs, and a
# numpy pipeline. Needs root and a CPython (pyenv's 3.12, or Debian's 3.11); the numpy rows need
# Debian's python3.11 with python3-numpy. Medians of ROUNDS interleaved runs.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-$(ls /root/.pyenv/versions/3.12.*/bin/python3.12 2>/dev/null | tail -n 1)}
[ -x "${PY:-}" ] || PY=/usr/bin/python3.11
[ -x "$PY" ] || { echo "bench/python: no CPython found" >&2; exit 1; }
NPY=${NPY:-/usr/bin/python3.11}
"$NPY" -c 'import numpy' 2>/dev/null || NPY=
ROUNDS=${ROUNDS:-3}
N=${N:-100000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh
TM="./tidemark run -q -o $TMP/t.tdm --"
TMA="./tidemark run -q --trace-python-allocators -o $TMP/t.tdm --"
cat > "$TMP/configs" <<EOC
depth 5, bare|$PY bench/py_event.py 5 $N
depth 5, tidemark --no-python|./tidemark run -q --no-python -o $TMP/t.tdm -- $PY bench/py_event.py 5 $N
depth 5, tidemark|$TM $PY bench/py_event.py 5 $N
depth 30, bare|$PY bench/py_event.py 30 $N
depth 30, tidemark --no-python|./tidemark run -q --no-python -o $TMP/t.tdm -- $PY bench/py_event.py 30 $N
depth 30, tidemark|$TM $PY bench/py_event.py 30 $N
distinct 30, bare|$PY bench/py_event.py 30 $N distinct
distinct 30, tidemark --no-python|./tidemark run -q --no-python -o $TMP/t.tdm -- $PY bench/py_event.py 30 $N distinct
distinct 30, tidemark|$TM $PY bench/py_event.py 30 $N distinct
objects 5, bare|$PY bench/py_alloc.py 5 $N
objects 5, tidemark|$TM $PY bench/py_alloc.py 5 $N
objects 5, tidemark --trace-python-allocators|$TMA $PY bench/py_alloc.py 5 $N
objects 30, bare|$PY bench/py_alloc.py 30 $N
objects 30, tidemark|$TM $PY bench/py_alloc.py 30 $N
objects 30, tidemark --trace-python-allocators|$TMA $PY bench/py_alloc.py 30 $N
churn, bare|$PY bench/py_churn.py
churn, tidemark|$TM $PY bench/py_churn.py
churn, tidemark --trace-python-allocators|$TMA $PY bench/py_churn.py
churn, tracemalloc|$PY -X tracemalloc bench/py_churn.py
EOC
[ -n "$NPY" ] && cat >> "$TMP/configs" <<EOC
numpy, bare|$NPY bench/py_numpy.py
numpy, tidemark|$TM $NPY bench/py_numpy.py
numpy, tracemalloc|$NPY -X tracemalloc bench/py_numpy.py
EOC
bench_rounds
echo "Python: $($PY -V 2>&1), median of $ROUNDS rounds"
for d in 5 30; do
	b=$(median "depth $d, bare"); n=$(median "depth $d, tidemark --no-python"); t=$(median "depth $d, tidemark")
	awk -v d=$d -v b="$b" -v n="$n" -v t="$t" 'BEGIN {
		printf "  ctypes malloc/free at depth %2d: bare %7.1f ns, native-only %7.1f ns, with Python stack %7.1f ns: Python stack capture adds %.0f ns per malloc event (free captures none)\n",
			d, b, n, t, t - n }'
done
b=$(median "distinct 30, bare"); n=$(median "distinct 30, tidemark --no-python"); t=$(median "distinct 30, tidemark")
awk -v b="$b" -v n="$n" -v t="$t" 'BEGIN {
	printf "  the same at depth 30 through 30 different functions: bare %7.1f ns, native-only %7.1f ns, with Python stack %7.1f ns: Python stack capture adds %.0f ns per malloc event\n",
		b, n, t, t - n }'
for d in 5 30; do
	b=$(median "objects $d, bare"); t=$(median "objects $d, tidemark"); a=$(median "objects $d, tidemark --trace-python-allocators")
	awk -v d=$d -v b="$b" -v t="$t" -v a="$a" 'BEGIN {
		printf "  133-byte object made+freed at depth %2d: bare %6.1f ns, tidemark %6.1f ns (pymalloc: no event), --trace-python-allocators %7.1f ns: %.0f ns per PyObject_Malloc (with Python stack) + PyObject_Free pair\n",
			d, b, t, a, a - t }'
done
b=$(median "churn, bare"); t=$(median "churn, tidemark"); a=$(median "churn, tidemark --trace-python-allocators"); m=$(median "churn, tracemalloc")
awk -v b="$b" -v t="$t" -v a="$a" -v m="$m" 'BEGIN {
	printf "  json churn (200k dicts): bare %.3f s, tidemark %.3f s (%.2fx), --trace-python-allocators %.3f s (%.1fx), tracemalloc %.3f s (%.2fx)\n",
		b, t, t / b, a, a / b, m, m / b }'
if [ -n "$NPY" ]; then
	b=$(median "numpy, bare"); t=$(median "numpy, tidemark"); m=$(median "numpy, tracemalloc")
	awk -v b="$b" -v t="$t" -v m="$m" -v v="$($NPY -c 'import numpy, sys; print("numpy %s, Python %d.%d" % ((numpy.__version__,) + sys.version_info[:2]))')" 'BEGIN {
		printf "  numpy pipeline (%s): bare %.3f s, tidemark %.3f s (%.2fx), tracemalloc %.3f s (%.2fx)\n",
			v, b, t, t / b, m, m / b }'
else
	echo "  numpy pipeline: skipped: no python3-numpy for $NPY"
fi
