#!/bin/sh
# tests/run.sh UNIT_BIN...: unit tests (no root), then the integration tests
# (root: real BPF, real processes). Prints one closing "N passed, N failed" line.
set -u
cd "$(dirname "$0")/.."
unit_only=0
[ "${1:-}" = "--unit-only" ] && { unit_only=1; shift; }
passed=0 failed=0 skipped=0
# Add a result line's "N passed, N failed, N skipped" to the totals; sets f to its failures.
add_counts() {
	p=$(printf '%s' "$1" | sed -n 's/.* \([0-9]*\) passed.*/\1/p')
	f=$(printf '%s' "$1" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	s=$(printf '%s' "$1" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
}
mkdir -p tests/out

for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | tail -n 1)
	add_counts "$line"
	if [ $rc -ne 0 ]; then
		[ "${f:-0}" = 0 ] && failed=$((failed + 1))
		printf '%s\n' "$out" | sed 's/^/  /' >&2
		echo "FAIL $t" >&2
	else
		echo "ok   $line"
	fi
done

if [ $unit_only = 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "skip integration tests: they load BPF and trace processes, which needs root" >&2
		skipped=$((skipped + 1))
	else
		# The CPython walker on every installed interpreter (skips the absent ones).
		for t in tests/python_offsets/check.sh tests/python_walk/run.sh; do
			out=$("$t" 2>&1); rc=$?
			# a script whose last line is "N passed, N failed" totals itself; else add its lines up
			sums=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed')
			printf '%s\n' "$out" | tail -n 1 | grep -qE '^[0-9]+ passed, [0-9]+ failed' && \
				sums=$(printf '%s\n' "$out" | tail -n 1)
			p=$(printf '%s\n' "$sums" | sed -n 's/^\([0-9]*\) passed.*/\1/p' | awk '{s+=$1} END {print s+0}')
			f=$(printf '%s\n' "$sums" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p' | awk '{s+=$1} END {print s+0}')
			passed=$((passed + p)); failed=$((failed + f))
			[ $rc -ne 0 ] && [ "$f" = 0 ] && failed=$((failed + 1))
			[ $rc -ne 0 ] && printf '%s\n' "$out" | tail -n 30 | sed 's/^/  /' >&2
			echo "$t: $p passed, $f failed"
		done
		for t in tests/integration/test_*.py; do
			[ -e "$t" ] || continue
			out=$(/usr/bin/python3 "$t" 2>&1); rc=$?
			printf '%s\n' "$out" | grep -E '^(ok|FAIL|skip) |^    (measured|FAIL): ' | sed 's/^/  /'
			line=$(printf '%s\n' "$out" | tail -n 1)
			add_counts "$line"
			if [ $rc -ne 0 ] && [ "${f:-0}" = 0 ]; then
				failed=$((failed + 1))
				printf '%s\n' "$out" | tail -n 30 | sed 's/^/  /' >&2
			fi
			echo "$(basename "$t"): $line"
		done
		# The kernel matrix: tests/vm/suite inside Debian 12's 6.1 (the floor), then
		# tests/vm/floor.suite inside Debian 11's 5.10 (below it), each under QEMU.
		if [ "${TM_VM:-1}" != 0 ]; then
			stuck=
			for kv in 6.1 5.10; do
				log=tests/out/vm-$kv.log
				[ $kv = 6.1 ] && log=tests/out/vm.log
				tests/vm/run.sh --kernel $kv > $log 2>&1; rc=$?
				grep -E "^guest-$kv: " $log | grep -v ': [0-9]* passed, [0-9]* failed' | sed 's/^/  /'
				line=$(grep -E "^guest-$kv: [0-9]+ passed, [0-9]+ failed" $log | tail -n 1)
				add_counts "$line"
				if [ $rc -ne 0 ] && [ "${f:-0}" = 0 ]; then
					failed=$((failed + 1))
					tail -n 30 $log | sed 's/^/  /' >&2
					# a guest that never finished: where its kernel was, again at the end
					stuck="$stuck$(grep -A 60 "^guest-$kv: the guest did not finish" $log)"
				fi
				echo "${line:-guest-$kv: no result ($log)}"
			done
			[ -n "$stuck" ] && printf '%s\n' "$stuck" >&2
		fi
	fi
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
