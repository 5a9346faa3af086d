// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * empty_probe [--free-at-entry] -- CMD...: run CMD with empty BPF programs
 * where tidemark probes it: every allocator function of the allocator CMD
 * binds (LD_PRELOAD included), at tidemark's sites, with a return probe
 * where tidemark has one; pid-filtered like tidemark's. The trap cost alone.
 * --free-at-entry: glibc's malloc and free only, free at +0 (single-stepped).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "target/allocator.h"
#include "target/elf.h"
#include "target/maps.h"
#include "trace/probe_site.h"
#include "empty.skel.h"

static struct empty_bpf *held;

/* Empty programs at every site tidemark would probe for CMD's allocator. */
static int attach_like_tidemark(struct empty_bpf *skel, pid_t pid, const char *cmd)
{
	struct tm_allocator a;
	struct tm_alloc_site *sites;
	size_t n, i;
	int err;

	err = tm_allocator__resolve(&a, cmd, getenv("LD_PRELOAD"), NULL, "");
	err = err ?: tm_probe_site__alloc_sites(&a, &sites, &n);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, e);
		LIBBPF_OPTS(bpf_uprobe_opts, r, .retprobe = true);

		if (!bpf_program__attach_uprobe_opts(skel->progs.empty_enter, pid, sites[i].path, sites[i].off, &e))
			err = -1;
		else if (tm_probe_site__has_return(sites[i].fn) &&
			 !bpf_program__attach_uprobe_opts(skel->progs.empty_exit, pid, sites[i].path, sites[i].off, &r))
			err = -1;
	}
	free(sites);
	tm_allocator__free(&a);
	return err;
}

int main(int argc, char **argv)
{
	int free_at_entry = argc > 1 && !strcmp(argv[1], "--free-at-entry");
	int first = free_at_entry ? 3 : 2, pfd[2], status;
	uint64_t off, vaddr, size, foff;
	struct tm_maps self = { 0 };
	struct tm_probe_site site;
	struct empty_bpf *skel;
	char libc[4096], go;
	uint8_t code[16];
	pid_t pid;

	if (argc <= first || tm_maps__read(getpid(), &self) ||
	    tm_maps__find_module(&self, "libc.so.6", libc, sizeof(libc)))
		return 2;
	if (pipe(pfd))
		return 2;
	pid = fork();
	if (!pid) {
		close(pfd[1]);
		if (read(pfd[0], &go, 1) != 1)
			_exit(127);
		execvp(argv[first], argv + first);
		_exit(127);
	}
	skel = empty_bpf__open_and_load();
	if (!skel)
		return 1;
	if (!free_at_entry) {
		if (attach_like_tidemark(skel, pid, argv[first]))
			return 1;
		goto go;
	}
	if (tm_elf__find_symbol(libc, "malloc", &off, &vaddr, &size))
		return 1;
	LIBBPF_OPTS(bpf_uprobe_opts, e);
	LIBBPF_OPTS(bpf_uprobe_opts, r, .retprobe = true);
	if (!bpf_program__attach_uprobe_opts(skel->progs.empty_enter, pid, libc, off, &e) ||
	    !bpf_program__attach_uprobe_opts(skel->progs.empty_exit, pid, libc, off, &r))
		return 1;
	if (tm_elf__find_symbol(libc, "free", &foff, &vaddr, &size) || tm_elf__read_code(libc, foff, code, sizeof(code)))
		return 1;
	tm_probe_site__choose(code, sizeof(code), TM_SITE_AFTER_NULL_TEST, &site);
	if (!bpf_program__attach_uprobe_opts(skel->progs.empty_enter, pid, libc,
					     foff + (free_at_entry ? 0 : site.offset), &e))
		return 1;
go:
	if (write(pfd[1], "g", 1) != 1)
		return 1;
	waitpid(pid, &status, 0);
	/*
	 * Removing the probes takes the kernel ~0.1 s each on a loaded host, on
	 * the clock of whoever closes the last copy of their descriptors. As
	 * `tidemark run` does, a detached child holds them until we are gone,
	 * so that our wall time is the trap cost's, not the removal's.
	 */
	fflush(NULL);
	if (fork() == 0) {
		struct pollfd gone = { .fd = (int)syscall(SYS_pidfd_open, getppid(), 0), .events = POLLIN };

		setsid();
		if (gone.fd >= 0)
			poll(&gone, 1, 10000);
		_exit(0);
	}
	held = skel; /* its descriptors are the child's too: not destroyed here, nor counted as lost */
	tm_maps__free(&self);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
