#!/bin/sh
# Regenerate vmlinux/vmlinux.h from a kernel's BTF (default: the running kernel's).
# CO-RE relocates every field access at load time, so one header serves other kernels too.
set -eu
btf=${1:-/sys/kernel/btf/vmlinux}
out=$(dirname "$0")/vmlinux.h
bpftool=${BPFTOOL:-bpftool}
[ -r "$btf" ] || { echo "gen-vmlinux: $btf not readable: the kernel needs CONFIG_DEBUG_INFO_BTF" >&2; exit 1; }
"$bpftool" btf dump file "$btf" format c > "$out.tmp"
mv "$out.tmp" "$out"
echo "gen-vmlinux: wrote $out from $btf ($(uname -r))"
