#!/bin/sh
# End-to-end check of bpf/python.bpf.h on every installed CPython 3.8-3.13
# (pyenv) and Debian's /usr/bin/python3.11. Builds into $OUT (default
# /tmp/tidemark-pywalk), needs root. Usage: run.sh [bench DEPTH COUNT]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/tidemark-pywalk}
CLANG=${CLANG:-clang}
BPFTOOL=${BPFTOOL:-bpftool}
CC=${CC:-cc}
mkdir -p "$OUT"
if [ "$(id -u)" != 0 ]; then echo "python_walk: SKIP: needs root (BPF)"; exit 0; fi
VMLINUX=$ROOT/vmlinux
[ -f "$VMLINUX/vmlinux.h" ] || { $BPFTOOL btf dump file /sys/kernel/btf/vmlinux format c > "$OUT/vmlinux.h"; VMLINUX=$OUT; }
set -e
$CLANG -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -Wno-unused-parameter \
	-I"$VMLINUX" -I"$ROOT/include" -I"$ROOT/bpf" -c "$HERE/walk.bpf.c" -o "$OUT/walk.bpf.o"
$BPFTOOL gen skeleton "$OUT/walk.bpf.o" name walk_bpf > "$OUT/walk.skel.h"
# The pure modules come from the library the Makefile builds (python.c and what it reads with).
LIB=${LIBTIDEMARK:-$ROOT/.output/libtidemark.a}
[ -f "$LIB" ] || make -C "$ROOT" --no-print-directory "${LIB#$ROOT/}"
$CC -g -O2 -Wall -Wextra -Werror -I"$OUT" -I"$ROOT/include" -I"$ROOT/user" \
	"$HERE/walk.c" "$LIB" -lbpf -lelf -ldw -lz -liberty -lm -o "$OUT/walk"
set +e
# A non-ASCII file name for the target, to check co_filename too.
TARGET="$OUT/wälk_目标.py"
cp "$HERE/walk_target.py" "$TARGET"
PY="$(ls -d /root/.pyenv/versions/3.* $(pyenv root 2>/dev/null)/versions/3.* 2>/dev/null | sort -u)"
total_fail=0; summary=""
for p in $PY /usr/bin/python3.11; do
	if [ -d "$p" ]; then exe=$(ls "$p"/bin/python3.[0-9]* 2>/dev/null | grep -v config | head -1); else exe=$p; fi
	[ -x "$exe" ] || continue
	ver=$("$exe" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) || continue
	case $ver in 3.[0-7].*) continue ;; esac
	echo "################ $exe ($ver)"
	"$OUT/walk" "$exe" "$TARGET" "$@"
	rc=$?
	[ $rc = 0 ] && r=PASS || { r=FAIL; total_fail=$((total_fail + 1)); }
	summary="$summary$ver $exe: $r
"
done
echo "################ summary"
printf "%s" "$summary"
exit $total_fail
