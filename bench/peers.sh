#!/bin/sh
# bench/peers.sh: tidemark's three modes next to the other heap tracers, on four workloads.
#
# Tracers: tidemark run --mode exact, sampled and lite; heaptrack; valgrind --tool=massif; the
# bpftrace memleak script (bench/memleak.bt); libbpf-tools' memleak. One that is not installed is
# skipped, saying so. Workloads: a C malloc(64)/free loop (malloc_bench), sqlite3 building and
# querying a table of 200k rows, a Python json churn (py_churn.py) and a numpy pipeline
# (py_numpy_loop.py; Debian's python3.11 with python3-numpy).
#
# Each row (workload x tracer) is ROUNDS interleaved pairs: the bare workload, then the same under
# the tracer. Two ratios per pair, tracer over bare: wall (the command as a user waits for it,
# start-up and tear-down included) and inner (the workload's own timing of its loop); the row shows
# the median of each. Sizes fit a time budget: two calibration runs (1/1000 and 1/100 of the
# nominal size) give the tracer's fixed cost and its cost per unit, and so the size that keeps a
# run near BUDGET/(2*ROUNDS) seconds (capped at wl_max, never below the first), so
# a row takes about BUDGET seconds whatever the host's trap cost; a row whose calibration run alone
# takes over BUDGET/ROUNDS (its fixed cost: start-up) is skipped, saying so. Each row is printed as soon as it is measured. The trap
# floor (empty BPF programs at tidemark's probe sites, bench/empty_probe) is measured in the same
# run, first, and tidemark's C loop rows are also given per malloc/free pair against it.
#
#   ROUNDS (3)  BUDGET (25 s)  ONLY="C sqlite json numpy" (workloads)  TRACERS="..." (names)
# Needs root (BPF). Prints the load average before and after.
set -u
cd "$(dirname "$0")/.."
B=.output/bench
ROUNDS=${ROUNDS:-3}
BUDGET=${BUDGET:-25}
ONLY=${ONLY:-C sqlite json numpy}
PY=/usr/bin/python3.11
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ "$(id -u)" = 0 ] || { echo "bench/peers.sh: needs root (it loads BPF)" >&2; exit 1; }
[ -x ./tidemark ] && [ -x $B/malloc_bench ] && [ -x $B/empty_probe ] ||
	{ echo "bench/peers.sh: build first: make all $B/malloc_bench $B/empty_probe" >&2; exit 1; }
PER_RUN=$(awk -v b="$BUDGET" -v r="$ROUNDS" 'BEGIN { print b / (2 * r) }')

# The workloads: nominal size, and the command for size N (its stdin is $TMP/in).
wl_cmd() {   # wl_cmd WORKLOAD N
	case $1 in
	C) echo "$B/malloc_bench $2" ;;
	sqlite) # the SQL goes on stdin; .timer prints each statement's time
		{ echo ".timer on"
		  echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);"
		  echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $2)"
		  echo "  INSERT INTO t SELECT x, 'name' || x, x * 0.5 FROM c;"
		  echo "CREATE INDEX tn ON t(name);"
		  echo "SELECT count(*), sum(v) FROM t WHERE name LIKE '%77%';"; } > "$TMP/sql.$2"
		echo "sqlite3 :memory:" ;;
	json) echo "$PY bench/py_churn.py $2" ;;
	numpy) echo "$PY bench/py_numpy_loop.py $2" ;;
	esac
}
wl_nominal() {
	case $1 in C) echo 2000000 ;; sqlite) echo 200000 ;; json) echo 200000 ;; numpy) echo 200 ;; esac
}
# The largest size a row may reach (~3.5-4 s bare on the 2-CPU VM tidemark is built on): a cheap
# tracer's row runs the workload about that long, as a real job would, so that its fixed cost
# (start-up, tear-down) weighs what it would there; a dear one's is sized down to the budget.
wl_max() {
	case $1 in C) echo 600000000 ;; sqlite) echo 4000000 ;; json) echo 500000 ;; numpy) echo 2500 ;; esac
}
wl_name() {
	case $1 in C) echo "C malloc loop" ;; sqlite) echo "sqlite3 rows" ;; json) echo "Python json churn" ;;
	numpy) echo "numpy pipeline" ;; esac
}

# The tracers: name|prefix (CMD follows; %CMD% is replaced by CMD as one string where needed).
: > "$TMP/tracers"
tr_add() { case " ${TRACERS:-$1} " in *" $1 "*) echo "$1|$2" >> "$TMP/tracers" ;; esac; }
tr_add exact "./tidemark run -q --mode exact -o $TMP/t.tdm --"
tr_add sampled "./tidemark run -q --mode sampled -o $TMP/t.tdm --"
tr_add lite "./tidemark run -q --mode lite -o $TMP/t.tdm --"
if command -v heaptrack > /dev/null; then tr_add heaptrack "heaptrack -o $TMP/ht"
else echo "skip heaptrack: not installed (apt-get install heaptrack)"; fi
if command -v valgrind > /dev/null; then tr_add massif "valgrind -q --tool=massif --massif-out-file=$TMP/ms"
else echo "skip valgrind massif: not installed (apt-get install valgrind)"; fi
if command -v bpftrace > /dev/null; then tr_add bpftrace "bpftrace -q bench/memleak.bt -c %CMD%"
else echo "skip bpftrace memleak.bt: not installed (apt-get install bpftrace)"; fi
if command -v memleak > /dev/null; then tr_add memleak "memleak -c %CMD%"
else echo "skip libbpf-tools memleak: no memleak on PATH (Debian 12's libbpf-tools 0.26 has none)"; fi

# run1 PREFIX CMD: one run; sets WALL (s) and INNER (s, the workload's own figure; nan if none).
# (sh has no locals: its variables are _-prefixed so as not to clobber the caller's)
run1() {
	_p=$1 _c=$2 _n=$3
	case $_p in
	*%CMD%*) _full=$(echo "$_p" | sed "s|%CMD%|'$_c'|") ;;
	*) _full="$_p $_c" ;;
	esac
	_in=/dev/null
	[ -f "$TMP/sql.$_n" ] && case $_c in sqlite3*) _in="$TMP/sql.$_n" ;; esac
	_t0=$(date +%s%N)
	sh -c "$_full" < "$_in" > "$TMP/out" 2>&1
	_t1=$(date +%s%N)
	WALL=$(awk -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
	INNER=$(awk -v n="$_n" '
		/^ns_per_pair / { v = $2 * n / 1e9; got = 1 }
		/^seconds / { v = $2; got = 1 }
		/^Run Time: real / { v += $4; got = 1 }
		END { if (got) printf "%.6f", v; else print "nan" }' "$TMP/out")
}

med() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "nan" }'; }

echo "bench/peers.sh: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS interleaved pairs a row, ~${BUDGET} s a row"

# The trap floor, first: empty programs where tidemark probes, on the C loop.
# (sized as the rows are: 2,000 pairs first, then what fits a run's budget)
run1 "$B/empty_probe --" "$B/malloc_bench 2000" 2000
FN=$(awk -v t="$INNER" -v per="$PER_RUN" 'BEGIN { n = int(2000 * per / 2 / (t > 0 ? t : 1e-3));
	if (n > 2000000) n = 2000000; if (n < 2000) n = 2000; print n }')
run1 "" "$B/malloc_bench $FN" $FN; fb=$INNER
run1 "$B/empty_probe --" "$B/malloc_bench $FN" $FN; fe=$INNER
FLOOR=$(awk -v e="$fe" -v b="$fb" -v n=$FN 'BEGIN { printf "%.1f", (e - b) * 1e9 / n }')
echo "trap floor: $FLOOR ns per malloc/free pair (3 hits) above bare, empty programs at tidemark's sites ($FN pairs)"
printf '%-18s %-10s %9s %9s %9s %9s %s\n' workload tracer size "wall x" "inner x" "bare s" "(median of pairs)"

for w in $ONLY; do
	case $w in numpy | json)
		[ -x "$PY" ] || { echo "skip $(wl_name $w): no $PY (Debian's python3.11)"; continue; } ;;
	esac
	[ "$w" = numpy ] && ! $PY -c 'import numpy' 2> /dev/null &&
		{ echo "skip $(wl_name $w): numpy not importable by $PY (apt-get install python3-numpy)"; continue; }
	[ "$w" = sqlite ] && ! command -v sqlite3 > /dev/null &&
		{ echo "skip $(wl_name $w): no sqlite3 (apt-get install sqlite3)"; continue; }
	nom=$(wl_nominal $w)
	while IFS='|' read -r tname prefix; do
		# calibration under the tracer at 1/1000 and 1/100 of the nominal size: its fixed cost
		# (start-up, tear-down) and its cost per unit, so the size is what fits a run's budget
		n0=$((nom / 1000))
		[ $n0 -lt 1 ] && n0=1
		run1 "$prefix" "$(wl_cmd $w $n0)" $n0
		t0=$WALL
		n1=$((n0 * 10))
		if awk -v t="$t0" -v per="$PER_RUN" 'BEGIN { exit !(t > 2 * per) }'; then
			WALL=$t0
		else
			# the second size grows tenfold until the work shows past the fixed cost (0.5 s
			# over the first): a cheap tracer's 10x of a tiny size measured start-up noise
			run1 "$prefix" "$(wl_cmd $w $n1)" $n1
			while awk -v t0="$t0" -v t="$WALL" -v n=$n1 -v max="$(wl_max $w)" \
				'BEGIN { exit !(t - t0 < 0.5 && n * 10 <= max) }'; do
				n1=$((n1 * 10))
				run1 "$prefix" "$(wl_cmd $w $n1)" $n1
			done
		fi
		n=$(awk -v n0=$n0 -v n1=$n1 -v t0="$t0" -v t1="$WALL" -v per="$PER_RUN" -v nom="$(wl_max $w)" 'BEGIN {
			u = (t1 - t0) / (n1 - n0); f = t0 - u * n0; if (f < 0) f = 0;
			n = u > 0 ? int((per - f) / u) : nom; if (n > nom) n = nom; if (n < n0) n = n0; print n }')
		if awk -v t="$t0" -v per="$PER_RUN" 'BEGIN { exit !(t > 2 * per) }'; then
			WALL=$t0
			printf '%-18s %-10s skipped: one run at size %s took %.1f s: %s traced runs would not fit %s s\n' \
				"$(wl_name $w)" "$tname" $n0 "$WALL" "$ROUNDS" "$BUDGET"
			continue
		fi
		cmd=$(wl_cmd $w $n)
		: > "$TMP/rw"; : > "$TMP/ri"; : > "$TMP/bi"; : > "$TMP/ti"
		r=1
		while [ $r -le "$ROUNDS" ]; do
			run1 "" "$cmd" $n; bw=$WALL; bi=$INNER
			run1 "$prefix" "$cmd" $n; tw=$WALL; ti=$INNER
			echo "$bw $tw" | awk '{ printf "%.6f\n", $2 / $1 }' >> "$TMP/rw"
			echo "$bi $ti" | awk '$1 != "nan" && $2 != "nan" && $1 > 0 { printf "%.6f\n", $2 / $1 }' >> "$TMP/ri"
			echo "$bi" >> "$TMP/bi"
			echo "$ti" >> "$TMP/ti"
			r=$((r + 1))
		done
		rw=$(med < "$TMP/rw"); ri=$(med < "$TMP/ri"); bi=$(med < "$TMP/bi"); ti=$(med < "$TMP/ti")
		printf '%-18s %-10s %9s %9.3f %9s %9s' "$(wl_name $w)" "$tname" $n "$rw" \
			"$(awk -v v="$ri" 'BEGIN { if (v == "nan") print "-"; else printf "%.3f", v }')" \
			"$(awk -v v="$bi" 'BEGIN { if (v == "nan") print "-"; else printf "%.3f", v }')"
		if [ "$w" = C ] && [ "$ti" != nan ]; then
			awk -v t="$ti" -v b="$bi" -v n=$n -v f="$FLOOR" 'BEGIN {
				e = (t - b) * 1e9 / n; printf "   %.1f ns/pair above bare = %.2fx the floor", e, e / f }'
		fi
		echo
	done < "$TMP/tracers"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
