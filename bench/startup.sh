#!/bin/sh
# bench/startup.sh: what tracing costs a run that does nothing: `tidemark run -- /bin/true`
# next to bare and heaptrack, and `run -- python3.11 -c pass` next to bare. Each row's wall
# time is printed as it is measured; ROUNDS (default 7) rounds run interleaved, back to back,
# so a run that waited for the previous one's probe removal would show; then the medians,
# the differences and the ratios. Needs root; heaptrack's rows when it is installed.
# Targets (issue 15): tidemark /bin/true <= 0.3 s on an idle machine and within 0.25 s of
# heaptrack; tidemark python3.11 -c pass within 0.4 s of bare.
# TM_BASE=/path/to/tidemark adds that build's rows (e.g. main's) and the ratios to it.
set -u
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-7}
PY=${PY:-/usr/bin/python3.11}
[ -x "$PY" ] || PY=$(command -v python3)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. bench/lib.sh

cat > "$TMP/configs" <<EOC
true, bare|/bin/true
true, tidemark|./tidemark run -q -o $TMP/t.tdm -- /bin/true
python -c pass, bare|$PY -c pass
python -c pass, tidemark|./tidemark run -q -o $TMP/t.tdm -- $PY -c pass
EOC
# TM_BASE=path/to/another/tidemark: its rows too, to compare two builds under the same load
if [ -n "${TM_BASE:-}" ]; then
	echo "true, base tidemark|$TM_BASE run -q -o $TMP/b.tdm -- /bin/true" >> "$TMP/configs"
	echo "python -c pass, base tidemark|$TM_BASE run -q -o $TMP/b.tdm -- $PY -c pass" >> "$TMP/configs"
fi
if command -v heaptrack >/dev/null 2>&1; then
	echo "true, heaptrack|heaptrack -o $TMP/ht /bin/true" >> "$TMP/configs"
fi

now() { date +%s.%N; }

echo "# bench/startup: $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	while IFS='|' read -r name cmd; do
		t0=$(now)
		sh -c "$cmd" >/dev/null 2>&1 </dev/null
		t1=$(now)
		v=$(echo "$t1 $t0" | awk '{printf "%.3f", $1 - $2}')
		echo "$name|$v" >> "$TMP/results"
		printf 'round %d  %-26s %7s s\n' "$r" "$name" "$v"
	done < "$TMP/configs"
	r=$((r + 1))
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

tb=$(median "true, bare")
tt=$(median "true, tidemark")
th=$(median "true, heaptrack")
pb=$(median "python -c pass, bare")
pt=$(median "python -c pass, tidemark")
echo "# medians of $ROUNDS (seconds of wall time)"
printf '%-28s %7s\n' "true, bare" "$tb" "true, tidemark" "$tt" "true, heaptrack" "$th" \
	"python -c pass, bare" "$pb" "python -c pass, tidemark" "$pt"
if [ -n "${TM_BASE:-}" ]; then
	bt=$(median "true, base tidemark")
	bp=$(median "python -c pass, base tidemark")
	printf '%-28s %7s\n' "true, base tidemark" "$bt" "python -c pass, base tidemark" "$bp"
	echo "$tt $bt $pt $bp" | awk '{printf "this build / base: true %.2fx, python -c pass %.2fx\n", $1 / $2, $3 / $4}'
fi
echo "$tt $th $tb $pt $pb" | awk '{
	printf "tidemark true: %.3f s (target <= 0.3 s idle)\n", $1
	if ($2 != "nan") printf "tidemark true - heaptrack true: %+.3f s (target <= 0.25 s), ratio %.2fx\n", $1 - $2, $1 / $2
	printf "tidemark python - bare python: %+.3f s (target <= 0.4 s), ratio %.2fx\n", $4 - $5, $4 / $5
}'
