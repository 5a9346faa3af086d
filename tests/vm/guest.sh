#!/bin/sh
# tests/vm/guest.sh TREE SUITE: runs inside the test guest (see init), in the host's
# tree, the tests that SUITE lists. Each result line for the host starts with "@tm ".
set -u
tree=$1 suite=$2 per_file=${3:-900}
cd "$tree" || { echo "@tm guest: no tree $tree"; exit 1; }
echo "@tm kernel: $(uname -r)"
passed=0 failed=0 skipped=0
# Lines: "[VAR=value ...] FILE [TEST ...]" ('#' starts a comment). Variables are
# exported to that file's run; TEST names select tests (tmtest.py's TM_TESTS).
grep -v '^[[:space:]]*\(#\|$\)' "$suite" | while read -r line; do
	env=""
	set -- $line
	while [ $# -gt 0 ] && case $1 in *=*) true;; *) false;; esac; do env="$env $1"; shift; done
	file=$1; shift
	tests=$(echo "$*" | tr ' ' ',')
	start=$(cut -d' ' -f1 /proc/uptime)
	# One file that hangs must not take the rest with it: stop it (SIGABRT: Python prints
	# where it was), say so, list the processes left.
	case $file in
	*.py) out=$(env $env TM_TESTS="$tests" timeout -s ABRT -k 10 "$per_file" /usr/bin/python3 -X faulthandler "$file" 2>&1); rc=$? ;;
	*) out=$(env $env timeout -s ABRT -k 10 "$per_file" "$file" "$@" 2>&1); rc=$? ;;
	esac
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		out="$out
timed out after $per_file s; processes left:
$(ps -eo pid,ppid,stat,etime,args | grep -v ' \[')"
	fi
	end=$(cut -d' ' -f1 /proc/uptime)
	last=$(printf '%s\n' "$out" | tail -n 1)
	if ! printf '%s' "$last" | grep -qE '^[0-9]+ passed, [0-9]+ failed'; then
		last="0 passed, 1 failed, 0 skipped"
	fi
	[ $rc -ne 0 ] && printf '%s' "$last" | grep -q ' 0 failed' && last="0 passed, 1 failed, 0 skipped"
	# The whole output of a file that failed, for the host's log; test lines always.
	if [ $rc -ne 0 ]; then
		printf '%s\n' "$out" | tail -n 60 | sed 's/^/@tm |   /'
	else
		printf '%s\n' "$out" | grep -E '^(ok|FAIL|skip) |^    measured: ' | sed 's/^/@tm |   /'
	fi
	echo "@tm result $file: $last ($(echo "$end $start" | awk '{printf "%.0f", $1 - $2}') s)"
done
