#!/bin/sh
# Check the CPython layouts tm_python__detect() produces (user/target/python.c's
# table, and _Py_DebugOffsets for 3.13) against each installed
# interpreter's own headers, field by field. See offsets_check.c.
#
# Interpreters: $TM_PYTHONS (space-separated executables), else every pyenv
# 3.8-3.13 and /usr/bin/python3.8 ... python3.13. Builds into $OUT
# (default /tmp/tidemark-pyoffsets). Needs root (reads /proc/PID/mem of its
# child) and the interpreters' headers (Debian: libpython3.X-dev).
# Prints a closing line "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/tidemark-pyoffsets}
CC=${CC:-cc}
mkdir -p "$OUT"
CFLAGS="-g -O1 -Wall -Wextra -Werror -I$ROOT/include -I$ROOT/user"

# python.c and what it reads with (maps, ELF, /proc) come from the library the Makefile builds.
LIB=${LIBTIDEMARK:-$ROOT/.output/libtidemark.a}
LIB_LDLIBS="-lelf -ldw -lz -liberty -lm"
[ -f "$LIB" ] || make -C "$ROOT" --no-print-directory "${LIB#$ROOT/}" >/dev/null
if [ ! -f "$LIB" ]; then
	echo "python_offsets: cannot build $LIB"; echo "0 passed, 1 failed"; exit 1
fi

if [ -n "${TM_PYTHONS:-}" ]; then
	PYS=$TM_PYTHONS
else
	PYENV=${PYENV_ROOT:-$HOME/.pyenv}
	PYS="$(ls -d "$PYENV"/versions/3.* 2>/dev/null | sed 's|$|/bin/python3|') $(ls /usr/bin/python3.[0-9]* 2>/dev/null | grep -v -- -)"
fi

pass=0; fail=0; seen=""
for py in $PYS; do
	[ -x "$py" ] || continue
	info=$("$py" -c 'import sys, sysconfig; v = sys.version_info
print("%d %d.%d.%d %s %s" % (v[1], v[0], v[1], v[2], sysconfig.get_paths()["include"], sysconfig.get_config_var("CONFIGURE_CFLAGS") is not None))' 2>/dev/null) || continue
	set -- $info
	minor=$1; ver=$2; inc=$3
	[ "$minor" -ge 8 ] && [ "$minor" -le 13 ] || continue
	if [ ! -f "$inc/Python.h" ]; then
		echo "python_offsets: $py ($ver): SKIP: no headers in $inc"
		continue
	fi
	# Debian splits pyconfig.h into a multiarch directory.
	extra=""
	[ -d "/usr/include/x86_64-linux-gnu/python3.$minor" ] && [ "${inc#/usr/include}" != "$inc" ] &&
		extra="-I/usr/include/x86_64-linux-gnu/python3.$minor"
	bin="$OUT/offsets_check-$ver-$(echo "$py" | tr '/' '_')"
	if ! $CC -g -O0 -w -DPy_BUILD_CORE -I"$inc" -I"$inc/internal" $extra -I"$ROOT/include" -I"$ROOT/user" \
		"$HERE/offsets_check.c" "$LIB" $LIB_LDLIBS -o "$bin"; then
		echo "python_offsets: $py ($ver): FAIL: does not compile against its headers"
		fail=$((fail + 1)); continue
	fi
	res=$("$bin" "$py")
	rc=$?
	echo "$res"
	last=$(echo "$res" | tail -1)
	p=$(echo "$last" | awk '/passed/ {print $1}'); f=$(echo "$last" | awk '/passed/ {print $3}')
	[ -n "$p" ] || { p=0; f=1; }
	[ $rc = 0 ] || [ "$f" != 0 ] || f=1
	pass=$((pass + p)); fail=$((fail + f))
	seen="$seen 3.$minor"
done
for m in 8 9 10 11 12 13; do
	case " $seen " in *" 3.$m "*) ;; *) echo "python_offsets: 3.$m: SKIP: no interpreter found" ;; esac
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
