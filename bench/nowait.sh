#!/bin/sh
# bench/nowait.sh: does a `run` wait for the previous runs' probe removal? (issue 15, item 2)
# The command traced is a shell whose 10 command substitutions are 10 followed children: ~190
# uprobes and the syscall tracepoints to remove at its end. After IDLE seconds of quiet (default
# 30) it runs RUNS times back to back (default 5), each run's wall time printed as measured: a
# run that waits for its predecessors' removal is slower than the first, and more so as their
# removers pile up. TM_BASE=/path/to/another/tidemark then does the same with that build (e.g.
# one from before uprobe_multi links), last, since its removers may outlive the series;
# TIDEMARK_UPROBE_MULTI=0 in the environment measures the perf-event way of this build. Needs root.
set -u
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
IDLE=${IDLE:-30}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cat > "$TMP/prev.sh" <<'EOS'
for i in 1 2 3 4 5 6 7 8 9 10; do x=$(echo "$i"); done
EOS
now() { date +%s.%N; }
timed() {
	t0=$(now)
	"$@" >/dev/null 2>&1 </dev/null
	t1=$(now)
	echo "$t1 $t0" | awk '{printf "%.3f", $1 - $2}'
}

builds="this|./tidemark"
[ -n "${TM_BASE:-}" ] && builds="$builds base|$TM_BASE"
echo "# bench/nowait: $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# tidemark run -- sh prev.sh (10 followed children), $RUNS times back to back after ${IDLE} s idle"
for b in $builds; do
	name=${b%%|*}
	tm=${b#*|}
	sleep "$IDLE"
	first= all=
	r=1
	while [ "$r" -le "$RUNS" ]; do
		v=$(timed "$tm" run -q -o "$TMP/p.tdm" -- sh "$TMP/prev.sh")
		printf '%-5s run %d: %6s s\n' "$name" "$r" "$v"
		[ -z "$first" ] && first=$v
		all="$all $v"
		r=$((r + 1))
	done
	echo "$name$all" | awk -v f="$first" '{ m = 0; for (i = 2; i <= NF; i++) if ($i > m) m = $i
		printf "%-5s first %.3f s, last %.3f s, slowest %.3f s: the slowest waited %+.3f s more than the first\n", $1, f, $NF, m, m - f }'
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
