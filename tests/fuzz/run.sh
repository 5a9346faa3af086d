#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Run libFuzzer targets for a bounded time each and say what they did.
#
#   tests/fuzz/run.sh SECONDS FUZZER...     (make fuzz, FUZZ_SECONDS=N to change the time)
#
# Each FUZZER (.output/fuzz/fuzz_NAME) runs for SECONDS on its corpus,
# .output/fuzz/corpus/NAME, kept between runs and seeded from
# tests/fuzz/seeds/NAME plus what the build has of the kind (an ELF workload,
# a capture written by gen_profile). One line per target:
#   fuzz_NAME: N executions in S s, 0 crashes
# A crash stops that target, leaves the input in .output/fuzz/artifacts/ and
# makes the exit status non-zero. FUZZ_RUNS=N stops each at N executions instead.
# FUZZ_SEED=N fixes libFuzzer's seed (make test uses 1), so the inputs a run
# tries are the same on every machine, only how many of them the time allows.
set -u
SECONDS_EACH=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
fail=0
for f in "$@"; do
	name=$(basename "$f")
	dir=$(dirname "$f")
	corpus=$dir/corpus/$name
	mkdir -p "$corpus" "$dir/artifacts"
	[ -d "$HERE/seeds/$name" ] && cp -n "$HERE/seeds/$name"/* "$corpus"/ 2>/dev/null
	extra=""
	case $name in
	fuzz_elf)
		for s in "$ROOT"/.output/workloads/gt_alloc "$ROOT"/.output/workloads/gt_spin; do
			[ -f "$s" ] && cp -n "$s" "$corpus/seed-$(basename "$s")"
		done
		extra="-max_len=65536" ;;
	fuzz_unwind)
		# a real .eh_frame: a workload's own, CIEs and FDEs as GCC writes them
		w=$ROOT/.output/workloads/gt_alloc
		[ -f "$w" ] && [ ! -f "$corpus/seed-gt_alloc" ] &&
			objcopy -O binary --only-section=.eh_frame "$w" "$corpus/seed-gt_alloc" 2>/dev/null ;;
	fuzz_capture)
		gen=$ROOT/.output/tests/gen_profile
		[ -x "$gen" ] && [ ! -f "$corpus/seed-stacks" ] && "$gen" stacks 20 "$corpus/seed-stacks" >/dev/null 2>&1
		extra="-max_len=65536" ;;
	esac
	if [ -n "${FUZZ_RUNS:-}" ]; then limit="-runs=$FUZZ_RUNS"; else limit="-max_total_time=$SECONDS_EACH"; fi
	log=$dir/$name.log
	start=$(date +%s)
	[ -n "${FUZZ_SEED:-}" ] && extra="$extra -seed=$FUZZ_SEED"
	"$f" $limit $extra -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$dir/artifacts/$name-" "$corpus" >"$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ $rc = 0 ]; then
		echo "$name: ${execs:-?} executions in ${took} s, 0 crashes"
	else
		fail=1
		echo "$name: ${execs:-?} executions in ${took} s, CRASH (exit $rc): see $log and $dir/artifacts/" >&2
		grep -m3 -E 'ERROR|SUMMARY|runtime error' "$log" >&2
	fi
done
exit $fail
