#!/bin/sh
# bench/children.sh: what `tidemark run` following children costs (issue #12.2).
#   - per fork and per exec followed: bench/forker forks N children one after the other (each
#     mallocs and frees 100 bytes, then exits or execs /bin/true) and times its own loop: bare,
#     under `tidemark run --no-children` (the parent traced, its children not) and under
#     `tidemark run` (every child held at its fork or exec until its probes are placed);
#     interleaved, median of ROUNDS; the cost per child is (followed - no-children) / N.
#   - a 200-process tree (gt_fork 199: every child holds a block at once): the capture's size
#     and how long `tidemark report` takes to read it and print text and JSON.
# Needs root. The machine's load at the time is printed: the figures move with it.
set -u
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-50}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh
[ "$(id -u)" = 0 ] || { echo "bench: needs root (it loads BPF)" >&2; exit 1; }
make -s all .output/bench/forker .output/workloads/gt_fork >/dev/null || exit 1
F=.output/bench/forker
TRUE=$(which true)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cat > "$TMP/configs" <<EOC
fork bare|$F $N
fork no-children|./tidemark run -q -o /dev/null --no-children -- $F $N
fork followed|./tidemark run -q -o /dev/null -- $F $N
exec bare|$F $N $TRUE
exec no-children|./tidemark run -q -o /dev/null --no-children -- $F $N $TRUE
exec followed|./tidemark run -q -o /dev/null -- $F $N $TRUE
EOC
bench_rounds
for what in fork exec; do
	bare=$(median "$what bare")
	no=$(median "$what no-children")
	fol=$(median "$what followed")
	awk -v w="$what" -v b="$bare" -v n="$no" -v f="$fol" -v N="$N" 'BEGIN {
		printf "%s: %d children: bare %.3f s, --no-children %.3f s, followed %.3f s (x%.1f bare); %.1f ms per %s followed\n",
			w, N, b, n, f, f / b, (f - n) * 1000 / N, w }'
done
cap="$TMP/tree.tdm"
t0=$(date +%s.%N)
./tidemark run -q -o "$cap" -- .output/workloads/gt_fork 199 4096 || exit 1
t1=$(date +%s.%N)
size=$(stat -c %s "$cap")
for fmt in text json; do
	r0=$(date +%s.%N)
	./tidemark report --format $fmt -n 0 "$cap" > "$TMP/out.$fmt" || exit 1
	r1=$(date +%s.%N)
	awk -v f=$fmt -v a="$r0" -v b="$r1" -v s="$(stat -c %s "$TMP/out.$fmt")" \
		'BEGIN { printf "200-process tree: report --format %s in %.3f s (%d bytes out)\n", f, b - a, s }'
done
awk -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN { printf "200-process tree: run %.1f s, capture %d bytes (%.1f KiB a process)\n", b - a, s, s / 1024 / 200 }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
