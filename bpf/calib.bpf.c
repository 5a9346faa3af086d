// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * calib.bpf.c: programs that do nothing, placed where tidemark places its
 * allocator probes (user/trace/calib.c, bench/empty_probe.c): what is left
 * of a hit's cost is the trap itself, the floor no tracer using uprobes can
 * go under.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int empty_enter(void *ctx)
{
	return 0;
}

SEC("uretprobe")
int empty_exit(void *ctx)
{
	return 0;
}
