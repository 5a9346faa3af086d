#!/bin/sh
# bench/exit.sh: what the user waits for after the traced command exits (issues #15.2, #12).
#   - many stacks: tests/workloads/gt_stacks STACKS (default 75,000 distinct stacks, one malloc
#     each) under `tidemark run -v`;
#   - a 200-process tree: tests/workloads/gt_fork 199 4096 (every child holds a block at once).
# Each row is printed as it is measured: the run's wall time; from `-v`, the time from the
# command's exit to tidemark's (what the user waits for) and its parts (profile build, capture
# write, summary); the capture's size; and `tidemark report` of it as text and as JSON.
# ROUNDS (default 3) rounds, interleaved; then the medians. TM_BASE=/path/to/tidemark adds that
# build's rows (a build without the -v phases shows only its wall time, report times and size).
# Needs root. The load average is printed before and after: the figures move with it.
set -u
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
STACKS=${STACKS:-75000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh
[ "$(id -u)" = 0 ] || { echo "bench: needs root (it loads BPF)" >&2; exit 1; }
make -s all .output/workloads/gt_stacks .output/workloads/gt_fork >/dev/null || exit 1

builds="this|./tidemark"
[ -n "${TM_BASE:-}" ] && builds="$builds
base|$TM_BASE"
workloads="stacks|.output/workloads/gt_stacks $STACKS
tree|.output/workloads/gt_fork 199 4096"

now() { date +%s.%N; }
# the seconds a -v line states: phase NAME from FILE
phase() {
	case $1 in
	exit) sed -n 's/^tidemark run: \([0-9.]*\) s from the command.s exit to ours$/\1/p' "$2" ;;
	build) sed -n 's/^tidemark: after tracing: profile built in \([0-9.]*\) s.*/\1/p' "$2" ;;
	write) sed -n 's/^tidemark: after tracing: .*capture written in \([0-9.]*\) s.*/\1/p' "$2" ;;
	summary) sed -n 's/^tidemark: after tracing: .*summary in \([0-9.]*\) s$/\1/p' "$2" ;;
	esac
}

echo "# bench/exit: $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-6s %-5s %8s %8s %8s %8s %8s %10s %8s %8s\n' round build what "run s" "exit->s" \
	"build s" "write s" "summ. s" "capture B" "text s" "json s"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	echo "$workloads" | while IFS='|' read -r what cmd; do
		echo "$builds" | while IFS='|' read -r b tm; do
			cap="$TMP/$b.$what.tdm"
			rm -f "$cap"
			t0=$(now)
			# shellcheck disable=SC2086
			$tm run -v -o "$cap" -- $cmd >/dev/null 2>"$TMP/err" </dev/null
			t1=$(now)
			[ -s "$cap" ] || { echo "bench: $b $what: no capture: $(tail -n 1 "$TMP/err")" >&2; continue; }
			t2=$(now)
			$tm report -n 0 "$cap" >/dev/null 2>&1
			t3=$(now)
			$tm report --format json -n 0 "$cap" >/dev/null 2>&1
			t4=$(now)
			run=$(echo "$t1 $t0" | awk '{printf "%.3f", $1 - $2}')
			text=$(echo "$t3 $t2" | awk '{printf "%.3f", $1 - $2}')
			json=$(echo "$t4 $t3" | awk '{printf "%.3f", $1 - $2}')
			ex=$(phase exit "$TMP/err")
			bu=$(phase build "$TMP/err")
			wr=$(phase write "$TMP/err")
			su=$(phase summary "$TMP/err")
			size=$(stat -c %s "$cap")
			printf '%-5s %-6s %-5s %8s %8s %8s %8s %8s %10s %8s %8s\n' "$r" "$b" "$what" "$run" \
				"${ex:-n/a}" "${bu:-n/a}" "${wr:-n/a}" "${su:-n/a}" "$size" "$text" "$json"
			for k in run:$run exit:$ex build:$bu write:$wr summary:$su size:$size text:$text json:$json; do
				echo "$b $what ${k%%:*}|${k#*:}" >> "$TMP/results"
			done
		done
	done
	r=$((r + 1))
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# medians of $ROUNDS"
echo "$builds" | while IFS='|' read -r b tm; do
	for what in stacks tree; do
		printf '%-6s %-6s run %s s, exit->ours %s s (build %s, write %s, summary %s), capture %s B, report text %s s, json %s s\n' \
			"$b" "$what" "$(median "$b $what run")" "$(median "$b $what exit")" "$(median "$b $what build")" \
			"$(median "$b $what write")" "$(median "$b $what summary")" "$(median "$b $what size")" \
			"$(median "$b $what text")" "$(median "$b $what json")"
	done
done
