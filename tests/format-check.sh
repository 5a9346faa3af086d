#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The C style check (make format-check).
#
#   tests/format-check.sh           count the lines that stray from .clang-format
#   tests/format-check.sh --strict  fail on any (after `make format`)
#
# .clang-format was tuned to the style the code keeps (1,918 lines of the
# tree disagreed with the kernel-style file it replaced; it was tuned option
# by option to the fewest). What still strays is mostly hand-aligned trailing
# comments and macro values, which clang-format 14 cannot leave alone. The
# count may only go down: it is checked against the ceiling in
# tests/format-stray (a change that adds stray lines fails, one that removes
# some is told to lower the ceiling). `make format` rewrites every line that
# strays; run it once no branch is in flight, then use --strict.
set -u
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
command -v "$CLANG_FORMAT" >/dev/null || { echo "format-check: needs clang-format (apt-get install clang-format)" >&2; exit 1; }
files=$(git ls-files 'user/*.[ch]' 'include/*.h' 'bpf/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]')
if [ "${1:-}" = --strict ]; then
	exec "$CLANG_FORMAT" --dry-run --Werror $files
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One clang-format run over copies (the same .clang-format), then one diff per file.
cp .clang-format "$tmp/"
for f in $files; do mkdir -p "$tmp/$(dirname "$f")"; cp "$f" "$tmp/$f"; done
(cd "$tmp" && "$CLANG_FORMAT" -i $files)
stray=0
report=""
for f in $files; do
	n=$(diff "$f" "$tmp/$f" | grep -c '^<')
	[ "$n" -gt 0 ] && report="$report$n $f
"
	stray=$((stray + n))
done
ceiling=$(cat tests/format-stray)
if [ "$stray" -gt "$ceiling" ]; then
	printf '%s' "$report" | sort -rn | head -10 >&2
	echo "format-check: $stray lines stray from .clang-format, more than the $ceiling allowed: 'clang-format -i FILE' on what you changed, or 'git clang-format' before committing" >&2
	exit 1
fi
if [ "$stray" -lt "$ceiling" ]; then
	echo "format-check: $stray lines stray from .clang-format (ceiling $ceiling: lower tests/format-stray to $stray)"
else
	echo "format-check: $stray lines stray from .clang-format (the ceiling)"
fi
