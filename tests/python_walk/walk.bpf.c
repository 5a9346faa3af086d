// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * walk.bpf.c: a standalone harness for bpf/python.bpf.h. A uprobe on libc
 * malloc and the sys_enter_mmap tracepoint capture the Python stack of the
 * traced process for requests whose size falls in [size_lo, size_hi) and
 * send it to user space; everything else costs one compare. It exists to
 * check the walker on real interpreters before the tracer itself uses it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tidemark_common.h"
#include "python.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_tgid = 0;
const volatile __u64 size_lo = 0;
const volatile __u64 size_hi = 0;
const volatile __u32 record = 1;        /* call tm_py_record_codes() */
const volatile __u32 capture = 1;       /* 0: baseline for cost measurements */
const volatile __u32 emit = 1;          /* 0: capture without sending (cost runs) */

struct walk_event {
	__u64 size;
	__u32 tid;
	__s32 err;
	__s32 rec_err;
	__u32 src;              /* 0 malloc uprobe, 1 mmap tracepoint */
	struct tm_stack st;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct walk_event);
} walk_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} walk_events SEC(".maps");

__u64 hits = 0;
__u64 cap_ns = 0;       /* time inside tm_py_capture(), summed */
__u64 cap_cnt = 0;
__u64 cap_frames = 0;
__u64 rec_ns = 0;       /* time inside tm_py_record_codes(), summed */
__u64 rec_frames = 0;

static __always_inline int walk_event(__u64 size, __u32 src)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct walk_event *e;

	if (tgid != target_tgid || size < size_lo || size >= size_hi)
		return 0;
	__sync_fetch_and_add(&hits, 1);
	e = bpf_task_storage_get(&walk_threads, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!e)
		return 0;
	e->size = size;
	e->tid = (__u32)id;
	e->src = src;
	e->st.tgid = tgid;
	e->st.flags = 0;
	e->st.n_native = 0;
	e->st.n_py = 0;
	e->err = 0;
	e->rec_err = 0;
	if (capture) {
		__u64 t0 = bpf_ktime_get_ns();

		e->err = tm_py_capture(&e->st, tgid);
		__sync_fetch_and_add(&cap_ns, bpf_ktime_get_ns() - t0);
		__sync_fetch_and_add(&cap_cnt, 1);
		__sync_fetch_and_add(&cap_frames, e->st.n_py);
	}
	if (record && capture) {
		__u64 t0 = bpf_ktime_get_ns();

		e->rec_err = tm_py_record_codes(&e->st);
		__sync_fetch_and_add(&rec_ns, bpf_ktime_get_ns() - t0);
		__sync_fetch_and_add(&rec_frames, e->st.n_py);
	}
	if (emit)
		bpf_ringbuf_output(&walk_events, e, sizeof(*e), 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(walk_malloc, __u64 size)
{
	return walk_event(size, 0);
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int walk_mmap(struct trace_event_raw_sys_enter *ctx)
{
	return walk_event(ctx->args[1], 1);
}
