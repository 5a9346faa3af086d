// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The floor: programs that do nothing, attached where tidemark attaches. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int empty_enter(void *ctx) { return 0; }

SEC("uretprobe")
int empty_exit(void *ctx) { return 0; }
