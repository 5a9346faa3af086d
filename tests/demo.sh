#!/bin/sh
# make demo: trace the bundled example, then show its report several ways, and a diff.
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
echo
echo "\$ tidemark report --tree -n 3 $cap | tail -12"
./tidemark report --tree -n 3 "$cap" | tail -12
echo
echo "\$ tidemark report --format stats $cap | sed -n '/By allocator/,/^\$/p'"
./tidemark report --format stats "$cap" | sed -n '/By allocator/,/^$/p'
grown=tests/out/demo-grown.tdm
echo "\$ tidemark run -q -o $grown -- .output/workloads/gt_alloc --grow-peak; tidemark diff $cap $grown"
./tidemark run -q -o "$grown" -- .output/workloads/gt_alloc --grow-peak || true
./tidemark diff -n 3 "$cap" "$grown"
echo
echo "\$ tidemark report --format flamegraph -o tests/out/demo.html $cap"
./tidemark report --format flamegraph -o tests/out/demo.html "$cap"
echo "wrote tests/out/demo.html: open it in a browser (one file, no network needed)"
