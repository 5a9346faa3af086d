#!/bin/sh
# bench/allocators.sh: what tidemark costs per malloc(64)/free pair under each
# allocator a service uses (glibc, jemalloc, tcmalloc, mimalloc: Debian's
# libraries, preloaded; musl: musl-gcc builds, dynamic and static), against
# empty BPF programs at the same sites (the trap floor; bench/empty_probe.c
# resolves the allocator as tidemark does).
#
# Each figure is the program's own, per pair: its thread's CPU time (user and
# system: the trap's work), and for the ratio the wall clock too.
# A row is one allocator: bare, floor and tidemark, ROUNDS times, interleaved
# (bare, floor, tidemark, bare, ...) so that machine noise hits all three
# alike; the medians are printed as soon as the row is measured. Its size N
# fits BUDGET seconds: one calibration round of 2,000 pairs gives each
# configuration's fixed cost (loading BPF, placing probes) and its cost per
# pair, and N keeps the ROUNDS rounds within what the calibration left of
# BUDGET (at least 2,000 pairs: then the calibration round is the first
# round). A round that would end past BUDGET + 5 s is not started: the row
# says how many rounds it has. An allocator that is not installed is left
# out, and said. Needs root (BPF).
#   ROUNDS (3)  BUDGET (20 s a row)  N=... (pairs a run: no calibration)
set -u
cd "$(dirname "$0")/.."
B=.output/bench
ROUNDS=${ROUNDS:-3}
BUDGET=${BUDGET:-20}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

[ "$(id -u)" = 0 ] || { echo "bench/allocators.sh: needs root (it loads BPF)" >&2; exit 1; }
[ -x ./tidemark ] && [ -x $B/malloc_bench ] && [ -x $B/empty_probe ] ||
	{ echo "bench/allocators.sh: build first: make all $B/malloc_bench $B/empty_probe" >&2; exit 1; }
L=/usr/lib/x86_64-linux-gnu

# name|environment|command
: > "$TMP/allocs"
echo "glibc||$B/malloc_bench" >> "$TMP/allocs"
for a in jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 mimalloc:libmimalloc.so.2; do
	if [ -e "$L/${a#*:}" ]; then
		echo "${a%%:*}|LD_PRELOAD=$L/${a#*:}|$B/malloc_bench" >> "$TMP/allocs"
	else
		echo "skip ${a%%:*}: $L/${a#*:} is not installed"
	fi
done
if command -v musl-gcc > /dev/null; then
	musl-gcc -O2 -fno-builtin bench/malloc_bench.c -o "$TMP/malloc_bench_musl"
	musl-gcc -static -O2 -fno-builtin bench/malloc_bench.c -o "$TMP/malloc_bench_musl_static"
	echo "musl (dynamic)||$TMP/malloc_bench_musl" >> "$TMP/allocs"
	echo "musl (static)||$TMP/malloc_bench_musl_static" >> "$TMP/allocs"
else
	echo "skip musl: no musl-gcc (apt-get install musl-tools)"
fi

# run1 ENV PREFIX CMD N: one run; sets WALL (s, the whole command), NS (its wall ns per pair)
# and CPU (its CPU ns per pair: the thread's user and system time), or nan.
run1() {
	_t0=$(date +%s%N)
	env $1 $2 $3 $4 > "$TMP/out" 2> /dev/null
	_t1=$(date +%s%N)
	WALL=$(awk -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
	NS=$(sed -n 's/^ns_per_pair //p' "$TMP/out" | grep . || echo nan)
	CPU=$(sed -n 's/^cpu_ns_per_pair //p' "$TMP/out" | grep . || echo nan)
}

# the median (of an even count, the mean of the middle two)
med() {
	grep -v nan | sort -n | awk '{ a[NR] = $1 } END { if (!NR) print "nan"; else if (NR % 2) print a[(NR + 1) / 2];
		else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo "bench/allocators.sh: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); malloc(64)+free pairs," \
	"median of $ROUNDS interleaved rounds, ~$BUDGET s a row"
echo "  CPU ns per pair (the thread's user + system time: a trap's work, not the waits for a CPU);"
echo "  x floor: tidemark / floor, of CPU time and of the wall clock"
printf '  %-15s %8s %8s %9s %11s %8s %9s %8s\n' allocator pairs bare floor tidemark "x floor" "- floor" "wall x"
while IFS='|' read -r name env cmd; do
	t0=$(date +%s%N)
	# the three configurations: label|prefix
	{ echo "bare|"
	  echo "floor|$B/empty_probe --"
	  echo "tidemark|./tidemark run -q -o $TMP/t.tdm --"; } > "$TMP/configs"
	for f in bare floor tidemark; do : > "$TMP/$f"; : > "$TMP/$f.cpu"; done
	done_rounds=0
	if [ -n "${N:-}" ]; then
		n=$N
	else
		: > "$TMP/cal"
		while IFS='|' read -r label prefix; do
			run1 "$env" "$prefix" "$cmd" 2000
			echo "$WALL $NS" >> "$TMP/cal"
			echo "$NS" >> "$TMP/$label"
			echo "$CPU" >> "$TMP/$label.cpu"
		done < "$TMP/configs"
		# fixed = wall - 2000 pairs; N so that ROUNDS x (fixed + N x (sum of ns a pair)) fits what is left
		n=$(awk -v b="$BUDGET" -v r="$ROUNDS" -v t0="$t0" -v now="$(date +%s%N)" '
			{ ns = ($2 == "nan" ? 0 : $2); fixed += $1 - 2000 * ns / 1e9; per += ns / 1e9 }
			END { left = b - (now - t0) / 1e9; n = int((left / r - fixed) / (per > 0 ? per : 1e-6));
				if (n > 2000000) n = 2000000; if (n < 2000) n = 2000; print n }' "$TMP/cal")
	fi
	# the calibration round was of this size: it is the first round
	if [ "$n" = 2000 ] && [ -z "${N:-}" ]; then
		done_rounds=1
	else
		for f in bare floor tidemark; do : > "$TMP/$f"; : > "$TMP/$f.cpu"; done
	fi
	t1=$(date +%s%N)
	k=0
	while [ $done_rounds -lt "$ROUNDS" ]; do
		# how long a round takes: those of this loop, else the calibration round
		late=$(awk -v t0="$t0" -v t1="$t1" -v now="$(date +%s%N)" -v k=$k -v b="$BUDGET" 'BEGIN {
			per = k ? (now - t1) / k : t1 - t0; print ((now - t0 + per) / 1e9 > b + 5) }')
		[ "$late" = 1 ] && [ $done_rounds -gt 0 ] && break
		while IFS='|' read -r label prefix; do
			run1 "$env" "$prefix" "$cmd" "$n"
			echo "$NS" >> "$TMP/$label"
			echo "$CPU" >> "$TMP/$label.cpu"
		done < "$TMP/configs"
		done_rounds=$((done_rounds + 1))
		k=$((k + 1))
	done
	b=$(med < "$TMP/bare.cpu"); f=$(med < "$TMP/floor.cpu"); t=$(med < "$TMP/tidemark.cpu")
	fw=$(med < "$TMP/floor"); tw=$(med < "$TMP/tidemark")
	awk -v name="$name" -v n="$n" -v b="$b" -v f="$f" -v t="$t" -v fw="$fw" -v tw="$tw" -v k=$done_rounds \
		-v r="$ROUNDS" -v s="$(( ($(date +%s%N) - t0) / 1000000000 ))" 'BEGIN {
		ok = f != "nan" && t != "nan" && f > 0; okw = fw != "nan" && tw != "nan" && fw > 0
		printf "  %-15s %8d %8s %9s %11s %8s %9s %8s  (%d s%s)\n", name, n, b, f, t,
			ok ? sprintf("%.2f", t / f) : "-", ok ? sprintf("%.1f", t - f) : "-",
			okw ? sprintf("%.2f", tw / fw) : "-", s, k < r ? sprintf(", %d of %d rounds", k, r) : "" }'
done < "$TMP/allocs"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
