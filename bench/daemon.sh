#!/bin/sh
# bench/daemon.sh: what an always-on `tidemark daemon` costs the host's programs.
# Lite mode traces every process (no selector). Full mode (allocator probes) traces the
# workload's executables (--exe), exact and with --sample-bytes 524288. Each workload times
# itself, bare and under the daemon, interleaved, median of ROUNDS. Needs root. Workloads: the
# C malloc loop, Python object churn (json), and a numpy pipeline of large arrays (Debian
# python3.11 + python3-numpy) whose every allocation is an mmap that lite mode attributes.
# Full mode places a process's probes ~10 ms after its exec: the C loop sleeps 200 ms first (in
# every configuration); the Python workloads time themselves after the interpreter's start-up.
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
# under MODE-ARGS -- CMD...
cat > "$TMP/under" <<'EOS'
args=""
while [ "$1" != "--" ]; do args="$args $1"; shift; done
shift
./tidemark daemon $args -q > /dev/null 2>&1 &
d=$!
sleep 1.5
"$@"
kill -INT $d; wait $d 2>/dev/null
EOS
FULL="--mode full --exe $B/malloc_bench --exe $PY"

: > "$TMP/configs"
add() {   # add WORKLOAD CMD...
	w=$1; shift
	echo "$w, bare|$*" >> "$TMP/configs"
	echo "$w, daemon lite|sh $TMP/under --mode lite -- $*" >> "$TMP/configs"
	echo "$w, daemon full|sh $TMP/under $FULL -- $*" >> "$TMP/configs"
	echo "$w, daemon full sampled|sh $TMP/under $FULL --sample-bytes 524288 -- $*" >> "$TMP/configs"
}
add "C malloc loop" $B/malloc_bench 2000000 200
add "Python churn" $PY bench/py_churn.py
$PY -c 'import numpy' 2>/dev/null && add "numpy pipeline" $PY bench/py_numpy_loop.py
# The trap floor: empty programs at the same probe sites (the C loop only).
echo "C malloc loop, empty probes|$B/empty_probe -- $B/malloc_bench 2000000 200" >> "$TMP/configs"
bench_rounds
echo "tidemark daemon; median of $ROUNDS interleaved rounds (C loop in ns per malloc/free pair, Python in s):"
printf '  %-16s %10s %12s %12s %12s\n' workload bare lite full "full sampled"
for w in "C malloc loop" "Python churn" "numpy pipeline"; do
	b=$(median "$w, bare")
	[ "$b" = nan ] && continue
	l=$(median "$w, daemon lite"); f=$(median "$w, daemon full"); s=$(median "$w, daemon full sampled")
	awk -v w="$w" -v b="$b" -v l="$l" -v f="$f" -v s="$s" 'BEGIN {
		printf "  %-16s %10.3f %6.3f %.3fx %6.3f %.3fx %6.3f %.3fx\n", w, b, l, l / b, f, f / b, s, s / b }'
done
e=$(median "C malloc loop, empty probes"); f=$(median "C malloc loop, daemon full")
s=$(median "C malloc loop, daemon full sampled")
awk -v e="$e" -v f="$f" -v s="$s" 'BEGIN {
	printf "  per malloc/free pair against the trap floor (empty probes %.1f ns): full %.2fx, full sampled %.2fx\n", e, f / e, s / e }'
echo "  (lite: every process, no uprobes; full: --exe of the workload, allocator probes on it only)"
