#!/bin/sh
# bench/run.sh: what tidemark costs the program it traces, measured in one run.
# Each configuration runs ROUNDS times, each round paired with a bare run so machine noise hits
# both alike; its row (median ns per malloc(64)/free pair, its ratios) is printed as soon as it
# is measured. N fits a time budget: the trap floor (empty programs at tidemark's sites) is
# measured first, in this run, and N keeps a run near BUDGET/(2*ROUNDS) seconds at twice the
# floor (N=... overrides). Needs root (BPF). Peers run when installed: bpftrace, heaptrack,
# valgrind. bench/peers.sh compares whole workloads and tidemark's modes.
set -u
cd "$(dirname "$0")/.."
B=.output/bench
ROUNDS=${ROUNDS:-5}
BUDGET=${BUDGET:-25}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh

[ "$(id -u)" = 0 ] || { echo "bench: needs root (it loads BPF)" >&2; exit 1; }
floor=$($B/empty_probe -- $B/malloc_bench 2000 | sed -n 's/^ns_per_pair //p')
N=${N:-$(awk -v f="$floor" -v b="$BUDGET" -v r="$ROUNDS" 'BEGIN {
	n = int(b / (2 * r) * 1e9 / (2 * (f > 0 ? f : 1000))); if (n > 1000000) n = 1000000;
	if (n < 10000) n = 10000; print n }')}
echo "trap floor: $floor ns per malloc/free pair under empty programs (2000 pairs); N = $N pairs a run"
cc -g -O2 -fno-omit-frame-pointer -fno-builtin bench/malloc_bench.c -o "$TMP/malloc_bench_fp"

# name|command (the command prints "ns_per_pair X")
cat > "$TMP/configs" <<EOC
bare|$B/malloc_bench $N
empty probes (tidemark's sites)|$B/empty_probe -- $B/malloc_bench $N
tidemark|./tidemark run -q -o $TMP/t.tdm -- $B/malloc_bench $N
tidemark, frame-pointer binary|./tidemark run -q -o $TMP/t.tdm -- $TMP/malloc_bench_fp $N
tidemark --native-depth 1|./tidemark run -q --native-depth 1 -o $TMP/t.tdm -- $B/malloc_bench $N
tidemark --mode lite|./tidemark run -q --mode lite -o $TMP/t.tdm -- $B/malloc_bench $N
tidemark --mode sampled|./tidemark run -q --mode sampled -o $TMP/t.tdm -- $B/malloc_bench $N
EOC
command -v bpftrace >/dev/null && echo "bpftrace memleak.bt|bpftrace -q bench/memleak.bt -c '$B/malloc_bench $N'" >> "$TMP/configs"
command -v heaptrack >/dev/null && echo "heaptrack|heaptrack -o $TMP/ht $B/malloc_bench $N" >> "$TMP/configs"
command -v valgrind >/dev/null && echo "valgrind massif|valgrind -q --tool=massif --massif-out-file=$TMP/ms $B/malloc_bench $((N / 10))" >> "$TMP/configs"

echo "malloc(64)+free, $N pairs, median of $ROUNDS rounds each paired with a bare run (ns per pair):"
printf '  %-34s %10s %12s %14s\n' configuration ns/pair "x bare" "x empty probe"
empty=
while IFS='|' read -r name cmd; do
	: > "$TMP/t"; : > "$TMP/b"
	r=1
	while [ $r -le "$ROUNDS" ]; do
		sh -c "$B/malloc_bench $N" 2>/dev/null | sed -n 's/^ns_per_pair //p' >> "$TMP/b"
		sh -c "$cmd" 2>/dev/null | sed -n 's/^ns_per_pair //p;s/^seconds //p' >> "$TMP/t"
		r=$((r + 1))
	done
	m=$(median_of "$TMP/t"); b=$(median_of "$TMP/b")
	[ "$name" = "empty probes (tidemark's sites)" ] && empty=$m
	awk -v n="$name" -v m="$m" -v b="$b" -v e="${empty:-nan}" \
		'BEGIN { printf "  %-34s %10.1f %12.1f %14s\n", n, m, m / b, e == "nan" ? "-" : sprintf("%.2f", m / e) }'
done < "$TMP/configs"

# The probe at free's entry (test %rdi: single-stepped) vs tidemark's site.
fe=$($B/empty_probe --free-at-entry -- $B/malloc_bench $((N / 10)) | sed -n 's/^ns_per_pair //p')
awk -v fe="$fe" -v e="$empty" 'BEGIN {
	printf "\nfree probed at +0 (single-stepped): %.1f ns/pair; at tidemark'"'"'s emulated site: %.1f ns/pair (%.1fx)\n", fe, e, fe / e }'

# The fixed cost a user feels on every run: attach + detach + report. Probe
# removal finishes in a detached child after `run` returns (it serialises on
# a kernel lock, ~0.12 s a probe), so the runs are spaced to let it finish.
total=0
i=0
while [ $i -lt 5 ]; do
	sleep 3
	t0=$(date +%s%N)
	./tidemark run -q -o "$TMP/true.tdm" -- true
	t1=$(date +%s%N)
	total=$((total + t1 - t0))
	i=$((i + 1))
done
awk -v d=$total 'BEGIN { printf "tidemark run -- true: %.3f s wall (mean of 5; probe removal continues detached)\n", d / 5 / 1e9 }'
t0=$(date +%s%N)
.output/bench/empty_probe -- true
t1=$(date +%s%N)
awk -v d=$((t1 - t0)) 'BEGIN { printf "for scale, 19 probes attached and removed synchronously: %.3f s\n", d / 1e9 }'
