#!/bin/sh
# bench/nowait.sh: does a `run` wait for the previous run's probe removal? (issue 15, item 2)
# The command traced (a shell whose 10 command substitutions are 10 followed children: ~190
# uprobes and the syscall tracepoints to remove at its end) runs after IDLE seconds of quiet
# (default 20: longer than the perf-event way takes to remove that many probes here), then once
# more right after; the difference of the medians of ROUNDS (default 3) is what the removal
# still in progress cost the second run. TM_BASE=/path/to/another/tidemark adds that build's
# rows (e.g. one before uprobe_multi links); TIDEMARK_UPROBE_MULTI=0 in the environment
# measures the perf-event way of this build. Each round takes ~IDLE + 2 runs. Needs root.
set -u
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-20}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh

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
echo "# tidemark run -- sh prev.sh (10 followed children): after ${IDLE} s idle, then right after"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	for b in $builds; do
		name=${b%%|*}
		tm=${b#*|}
		sleep "$IDLE"
		q=$(timed "$tm" run -q -o "$TMP/p.tdm" -- sh "$TMP/prev.sh")
		a=$(timed "$tm" run -q -o "$TMP/p.tdm" -- sh "$TMP/prev.sh")
		echo "$name, after idle|$q" >> "$TMP/results"
		echo "$name, right after|$a" >> "$TMP/results"
		printf 'round %d  %-5s after %s s idle %6s s, right after %6s s\n' "$r" "$name" "$IDLE" "$q" "$a"
	done
	r=$((r + 1))
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# medians of $ROUNDS (seconds of wall time)"
for b in $builds; do
	name=${b%%|*}
	q=$(median "$name, after idle")
	a=$(median "$name, right after")
	printf '%-5s after idle %6s s, right after %6s s: waited %+.3f s\n' "$name" "$q" "$a" \
		"$(echo "$a $q" | awk '{print $1 - $2}')"
done
