#!/bin/sh
# bench/daemon.sh: what an always-on `tidemark daemon --mode lite` costs the host's programs.
# The daemon traces every process (no selector); each workload times itself, bare and under the
# daemon, interleaved, median of ROUNDS. Needs root. Workloads: the C malloc loop, Python object
# churn (json), and a numpy pipeline of large arrays (Debian python3.11 + python3-numpy) whose
# every allocation is an mmap that lite mode attributes.
set -u
cd "$(dirname "$0")/.."
B=.output/bench
ROUNDS=${ROUNDS:-5}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh
[ "$(id -u)" = 0 ] || { echo "bench: needs root (it loads BPF)" >&2; exit 1; }
PY=/usr/bin/python3.11
[ -x "$PY" ] || PY=$(command -v python3)

# Under the daemon: start it, wait until it traces, run the workload, stop it.
cat > "$TMP/under" <<'EOS'
./tidemark daemon --mode lite -q > /dev/null 2>&1 &
d=$!
sleep 1.5
"$@"
kill -INT $d; wait $d 2>/dev/null
EOS

cat > "$TMP/configs" <<EOC
C malloc loop, bare|$B/malloc_bench 2000000
C malloc loop, daemon lite|sh $TMP/under $B/malloc_bench 2000000
Python churn, bare|$PY bench/py_churn.py
Python churn, daemon lite|sh $TMP/under $PY bench/py_churn.py
EOC
if $PY -c 'import numpy' 2>/dev/null; then
	echo "numpy pipeline, bare|$PY bench/py_numpy_loop.py" >> "$TMP/configs"
	echo "numpy pipeline, daemon lite|sh $TMP/under $PY bench/py_numpy_loop.py" >> "$TMP/configs"
fi
bench_rounds
echo "tidemark daemon --mode lite, tracing every process; median of $ROUNDS interleaved rounds:"
for w in "C malloc loop" "Python churn" "numpy pipeline"; do
	b=$(median "$w, bare"); d=$(median "$w, daemon lite")
	[ "$b" = nan ] && continue
	awk -v w="$w" -v b="$b" -v d="$d" 'BEGIN { printf "  %-16s bare %10.3f  under the daemon %10.3f  (%.3fx)\n", w, b, d, d / b }'
done
echo "  (C loop in ns per malloc/free pair, Python in seconds; lite mode places no uprobes)"
echo "  full mode and --sample-bytes are not implemented, so they have no row"
