#!/bin/sh
# make demo: trace the bundled example, then show its report three ways.
set -eu
cd "$(dirname "$0")/.."
mkdir -p tests/out
if [ "$(id -u)" != 0 ]; then
	echo "demo: tidemark loads BPF programs: run 'sudo make demo'" >&2
	exit 1
fi
cap=tests/out/demo.tdm
echo "\$ tidemark run -o $cap -- .output/workloads/gt_alloc"
./tidemark run -o "$cap" -- .output/workloads/gt_alloc || true
echo
echo "\$ tidemark report --view leaks -n 5 $cap"
./tidemark report --view leaks -n 5 "$cap"
echo
echo "\$ tidemark report --format json -n 1 $cap | head -20"
./tidemark report --format json -n 1 "$cap" | head -20
