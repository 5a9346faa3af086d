#!/bin/sh
# bench/allocators.sh: what tidemark costs per malloc(64)/free pair under each
# allocator a service uses, against empty BPF programs at the same sites (the
# trap floor; bench/empty_probe.c resolves the allocator as tidemark does).
# Each configuration runs ROUNDS times, interleaved; medians are reported.
# Needs root (BPF). An allocator that is not installed is left out, and said.
set -u
cd "$(dirname "$0")/.."
B=.output/bench
N=${N:-200000}
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh

[ "$(id -u)" = 0 ] || { echo "bench: needs root (it loads BPF)" >&2; exit 1; }
L=/usr/lib/x86_64-linux-gnu

# name|environment|command
: > "$TMP/allocs"
echo "glibc||$B/malloc_bench" >> "$TMP/allocs"
for a in jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 mimalloc:libmimalloc.so.2; do
	if [ -e "$L/${a#*:}" ]; then
		echo "${a%%:*}|LD_PRELOAD=$L/${a#*:}|$B/malloc_bench" >> "$TMP/allocs"
	else
		echo "bench: $L/${a#*:} is not installed: ${a%%:*} left out" >&2
	fi
done
if command -v musl-gcc >/dev/null; then
	musl-gcc -static -O2 -fno-builtin bench/malloc_bench.c -o "$TMP/malloc_bench_musl"
	echo "musl (static)||$TMP/malloc_bench_musl" >> "$TMP/allocs"
else
	echo "bench: no musl-gcc (musl-tools): musl left out" >&2
fi

: > "$TMP/configs"
while IFS='|' read -r name env cmd; do
	echo "$name: bare|env $env $cmd $N" >> "$TMP/configs"
	echo "$name: empty probes|env $env $B/empty_probe -- $cmd $N" >> "$TMP/configs"
	echo "$name: tidemark|env $env ./tidemark run -q -o $TMP/t.tdm -- $cmd $N" >> "$TMP/configs"
done < "$TMP/allocs"

bench_rounds
echo "malloc(64)+free, $N pairs, median of $ROUNDS interleaved rounds (ns per pair):"
printf '  %-16s %10s %14s %10s %16s\n' allocator bare "empty probes" tidemark "tidemark-empty"
while IFS='|' read -r name env cmd; do
	b=$(median "$name: bare")
	e=$(median "$name: empty probes")
	t=$(median "$name: tidemark")
	awk -v n="$name" -v b="$b" -v e="$e" -v t="$t" \
		'BEGIN { printf "  %-16s %10.1f %14.1f %10.1f %16.1f\n", n, b, e, t, t - e }'
done < "$TMP/allocs"
