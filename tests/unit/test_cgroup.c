/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * test_cgroup: /proc/PID/cgroup per hierarchy, Kubernetes and container
 * runtime cgroup names, memory.events; and NSpid in /proc/PID/status.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "target/cgroup.h"
#include "target/pidns.h"
#include "tm_test.h"

#define UID  "8d5f6f1e-3c2b-4a8e-9f10-2b7c1d4e5a6f"
#define UID_ "8d5f6f1e_3c2b_4a8e_9f10_2b7c1d4e5a6f"
#define CID  "4f2b9c1d0e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"

static void ids(const char *path, int want_err, const char *pod, const char *cid)
{
	struct tm_container_ids got;
	int err = tm_cgroup__container_ids(path, &got);

	TM_CHECK_EQ_U64(err, want_err);
	TM_CHECK_STR(got.pod_uid, pod);
	TM_CHECK_STR(got.container_id, cid);
	if (err != want_err || strcmp(got.pod_uid, pod) || strcmp(got.container_id, cid))
		fprintf(stderr, "    for %s\n", path);
}

static void test_container_ids(void)
{
	/* systemd driver (cgroup v2 nodes), each runtime, each QoS class */
	ids("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/cri-containerd-" CID
	    ".scope",
	    0, UID, CID);
	ids("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/docker-" CID ".scope",
	    0, UID, CID);
	ids("/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" CID ".scope", 0, UID, CID);
	/* the pod's own cgroup: a pod, no container */
	ids("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice", 0, UID, "");
	/* cgroupfs driver, v1 (as the memory controller shows it) and v2 */
	ids("/kubepods/burstable/pod" UID "/" CID, 0, UID, CID);
	ids("/kubepods/pod" UID "/" CID, 0, UID, CID);
	ids("/kubepods/besteffort/pod" UID, 0, UID, "");
	/* plain docker: a container, no pod */
	ids("/system.slice/docker-" CID ".scope", 0, "", CID);
	ids("/docker/" CID, 0, "", CID);
	/* nothing of the kind */
	ids("/", -ENOENT, "", "");
	ids("/user.slice/user-0.slice/session-3.scope", -ENOENT, "", "");
	ids("/system.slice/cron.service", -ENOENT, "", "");
	ids("/tidemark-test/pod" UID, -ENOENT, "", ""); /* "pod" outside kubepods */
	ids("/kubepods/burstable/podnot-a-uid/" CID, -ENOENT, "", "");
	ids("/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" CID ".scope", 0, UID, "");
	ids("/system.slice/docker-xyz.scope", -ENOENT, "", "");
}

static void test_parse_proc(void)
{
	static const char hybrid[] =
		"12:pids:/user.slice\n"
		"5:memory:/kubepods/burstable/pod" UID "/" CID "\n"
		"1:name=systemd:/user.slice/session-1.scope\n"
		"0::/kubepods.slice/x.scope\n";
	static const char unified[] = "0::/a/b\n";
	char out[512];

	TM_CHECK_EQ_U64(tm_cgroup__parse_proc(hybrid, out, sizeof(out)), 0);
	TM_CHECK_STR(out, "/kubepods/burstable/pod" UID "/" CID);
	TM_CHECK_EQ_U64(tm_cgroup__parse_proc_in(hybrid, TM_CG_V2, out, sizeof(out)), 0);
	TM_CHECK_STR(out, "/kubepods.slice/x.scope");
	TM_CHECK_EQ_U64(tm_cgroup__parse_proc_in(hybrid, TM_CG_V1_MEMORY, out, sizeof(out)), 0);
	TM_CHECK_STR(out, "/kubepods/burstable/pod" UID "/" CID);
	TM_CHECK_EQ_U64(tm_cgroup__parse_proc(unified, out, sizeof(out)), 0);
	TM_CHECK_STR(out, "/a/b");
	TM_CHECK_EQ_U64(tm_cgroup__parse_proc_in(unified, TM_CG_V1_MEMORY, out, sizeof(out)), -ENOENT);
	TM_CHECK_EQ_U64(tm_cgroup__parse_proc_in("10:memory:/m\n", TM_CG_V2, out, sizeof(out)), -ENOENT);
}

static void test_oom_kill(void)
{
	uint64_t n = 99;

	/* v2 memory.events */
	TM_CHECK_EQ_U64(tm_cgroup__parse_oom_kill("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n", &n),
			0);
	TM_CHECK_EQ_U64(n, 1);
	/* v1 memory.oom_control */
	TM_CHECK_EQ_U64(tm_cgroup__parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", &n), 0);
	TM_CHECK_EQ_U64(n, 3);
	TM_CHECK_EQ_U64(tm_cgroup__parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n", &n), -ENOENT);
	TM_CHECK_EQ_U64(tm_cgroup__parse_oom_kill("oom_kill x\n", &n), -ENOENT);
}

static void test_nspid(void)
{
	static const char nested[] = "Name:\tgt_alloc\nTgid:\t24404\nPid:\t24404\nNSpid:\t24404\t17\t1\n";
	static const char flat[] = "Name:\tbash\nNSpid:\t4242\nNSsid:\t1\n";
	pid_t outer = 0, inner = 0;

	TM_CHECK_EQ_U64(tm_pidns__parse_status(nested, sizeof(nested) - 1, &outer, &inner), 0);
	TM_CHECK_EQ_U64(outer, 24404);
	TM_CHECK_EQ_U64(inner, 1);
	TM_CHECK_EQ_U64(tm_pidns__parse_status(flat, sizeof(flat) - 1, &outer, &inner), 0);
	TM_CHECK_EQ_U64(outer, 4242);
	TM_CHECK_EQ_U64(inner, 4242);
	TM_CHECK_EQ_U64(tm_pidns__parse_status("Name:\tx\n", 8, &outer, &inner), -ENOENT);
	TM_CHECK_EQ_U64(tm_pidns__parse_status("NSpid:\t12x\n", 11, &outer, &inner), -EINVAL);
	TM_CHECK_EQ_U64(tm_pidns__parse_status("NSpid:\t\n", 8, &outer, &inner), -EINVAL);
	TM_CHECK_EQ_U64(tm_pidns__parse_status("NSpid:\t99999999999\n", 19, &outer, &inner), -EINVAL);
	/* cut at the buffer's end: what is there is read, no further */
	TM_CHECK_EQ_U64(tm_pidns__parse_status("NSpid:\t7\t3", 10, &outer, &inner), 0);
	TM_CHECK_EQ_U64(inner, 3);
}

static void test_under(void)
{
	TM_CHECK_EQ_U64(tm_cgroup__under("/", "/a/b"), 1);
	TM_CHECK_EQ_U64(tm_cgroup__under("/a", "/a"), 1);
	TM_CHECK_EQ_U64(tm_cgroup__under("/a", "/a/b"), 1);
	TM_CHECK_EQ_U64(tm_cgroup__under("/a", "/ab"), 0); /* a prefix of a name is not a parent */
	TM_CHECK_EQ_U64(tm_cgroup__under("/a/b", "/a"), 0);
}

int main(void)
{
	test_container_ids();
	test_parse_proc();
	test_oom_kill();
	test_nspid();
	test_under();
	return tm_test_done("test_cgroup");
}
