#!/bin/sh
# bench/unwind.sh: what lite mode's walk out of libc costs per syscall (issue #15.4).
#   bench/big_malloc N: malloc(1,000,000)/free pairs, each an mmap and a munmap made inside libc,
#   timed inside the process in its own CPU time (the tracepoint programs run in its system
#   time; wall time on a shared, loaded machine is mostly waiting), bare and under `tidemark run --mode lite` twice: with the walk
#   (glibc's rows loaded, the mmap's stack walked out of libc to big_malloc's main) and without
#   it (the same libc, copied under another name, which tidemark does not recognise as libc.so.6:
#   the programs run the same path up to the walk, whose first step finds no rows and reads
#   [rsp]). Interleaved, median of ROUNDS. The walk's cost per mmap is the difference in the
#   kernel's own count of the time spent in tp_sys_enter (run -v: bpf_enable_stats), per pair:
#   the pair's CPU time moves by more than the walk costs from one run to the next (page faults).
#   tp_sys_enter also runs for every other process's syscalls (leaving at its first lookup).
#   N fits a time budget: each run near BUDGET/(3*ROUNDS) seconds at the slowest configuration,
#   from a first measured guess; every row printed as measured.
# Needs root. The machine's load at the time is printed: the figures move with it.
set -u
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
BUDGET=${BUDGET:-30}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh
[ "$(id -u)" = 0 ] || { echo "bench: needs root (it loads BPF)" >&2; exit 1; }
make -s all .output/bench/big_malloc >/dev/null || exit 1
B=.output/bench/big_malloc
libc=$(ldd "$B" | awk '/libc\.so\.6/ {print $3}')
[ -f "$libc" ] || { echo "bench: big_malloc maps no libc.so.6" >&2; exit 1; }
# the copy: another file name, so /proc/PID/maps names no libc.so.6
mkdir "$TMP/lib"
cp "$libc" "$TMP/lib/libc-copy.so"
ln -s libc-copy.so "$TMP/lib/libc.so.6"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# The first guess: 200 pairs under the walk.
g=$(./tidemark run -q --mode lite -o /dev/null -- $B 200 | sed -n 's/^ns_per_pair //p')
N=$(awk -v g="$g" -v b="$BUDGET" -v r="$ROUNDS" 'BEGIN {
	n = int(b / (3 * r) * 1e9 / (g > 0 ? g : 1e5)); if (n < 200) n = 200; if (n > 2000000) n = 2000000; print n }')
echo "N = $N pairs a run (a pair took ${g} ns under the walk in a first run of 200)"
cat > "$TMP/configs" <<EOC
bare|$B $N
lite, no walk|LD_LIBRARY_PATH=$TMP/lib ./tidemark run -v --mode lite -o /dev/null -- $B $N
lite, walk|./tidemark run -v --mode lite -o /dev/null -- $B $N
EOC
# Each round: the pair's CPU time (big_malloc's own figure) and, under tidemark, the kernel's
# count of the time spent in tp_sys_enter (bpf_enable_stats, printed by -v), per mmap.
r=1
while [ "$r" -le "$ROUNDS" ]; do
	while IFS='|' read -r name cmd; do
		sh -c "$cmd" > "$TMP/out" 2> "$TMP/err"
		v=$(sed -n 's/^ns_per_pair //p' "$TMP/out")
		p=$(sed -n 's/^bpf: tp_sys_enter  *ran [0-9]* times, \([0-9]*\) ns in all.*/\1/p' "$TMP/err")
		echo "$name|$v" >> "$TMP/results"
		[ -n "$p" ] && echo "$p" >> "$TMP/prog $name"
		echo "  round $r: $name: ${v:-nan} ns of CPU a pair${p:+; tp_sys_enter $p ns in all}"
	done < "$TMP/configs"
	r=$((r + 1))
done
bare=$(median "bare")
nowalk=$(median "lite, no walk")
walk=$(median "lite, walk")
pn=$(median_of "$TMP/prog lite, no walk")
pw=$(median_of "$TMP/prog lite, walk")
awk -v b="$bare" -v n="$nowalk" -v w="$walk" -v pn="$pn" -v pw="$pw" -v N="$N" -v R="$ROUNDS" 'BEGIN {
	printf "malloc(1 MB)/free pairs (an mmap and a munmap each), median of %d, N = %d:\n", R, N
	printf "  bare          %9.1f ns of CPU a pair\n", b
	printf "  lite, no walk %9.1f ns of CPU a pair (x%.3f bare); tp_sys_enter %.0f ns a pair\n", n, n / b, pn / N
	printf "  lite, walk    %9.1f ns of CPU a pair (x%.3f bare, x%.3f no walk); tp_sys_enter %.0f ns a pair\n", w, w / b, w / n, pw / N
	printf "  the walk out of libc, in the kernel'"'"'s count of tp_sys_enter'"'"'s time: %.0f ns per mmap\n", (pw - pn) / N }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
