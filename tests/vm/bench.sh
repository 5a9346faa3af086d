#!/bin/sh
# tests/vm/bench.sh: the kernel-dependent part of bench/run.sh, for a guest
# (tests/vm/run.sh tests/vm/bench.suite): ns per malloc(64)/free pair bare,
# under empty BPF programs at tidemark's probe sites and under tidemark, and
# the wall time of `tidemark run -- true`. Prints "measured:" lines and a
# closing tmtest line so the guest's runner reports it like a test file.
set -u
cd "$(dirname "$0")/../.."
B=.output/bench
N=${N:-200000}
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh
for f in $B/malloc_bench $B/empty_probe tidemark; do
	[ -x $f ] || { echo "skip bench: $f is not built (make all $B/malloc_bench $B/empty_probe)"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
done
cat > "$TMP/configs" <<EOC
bare|$B/malloc_bench $N
empty probes (tidemark's sites)|$B/empty_probe -- $B/malloc_bench $N
tidemark|./tidemark run -q -o $TMP/t.tdm -- $B/malloc_bench $N
EOC
bench_rounds
bare=$(median "bare")
empty=$(median "empty probes (tidemark's sites)")
tm=$(median "tidemark")
echo "    measured: $(uname -r): malloc(64)+free, $N pairs, median of $ROUNDS rounds:" \
	"bare $bare ns, empty probes $empty ns, tidemark $tm ns per pair" \
	"($(awk -v t="$tm" -v e="$empty" 'BEGIN { printf "%.2f", t / e }')x the empty probes)"
total=0 i=0
while [ $i -lt 3 ]; do
	sleep 3         # probe removal finishes in a detached child after `run` returns
	t0=$(date +%s%N)
	./tidemark run -q -o "$TMP/true.tdm" -- true
	t1=$(date +%s%N)
	total=$((total + t1 - t0))
	i=$((i + 1))
done
echo "    measured: $(uname -r): tidemark run -- true: $(awk -v d=$total 'BEGIN { printf "%.3f", d / 3 / 1e9 }') s wall (mean of 3)"
echo "0 passed, 0 failed, 0 skipped"
