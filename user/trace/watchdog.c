// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * watchdog.c: continue a held child when the loader dies. See watchdog.h.
 *
 * The helper is forked before the BPF objects are opened, so it holds no
 * BPF descriptor: the loader's death still tears every program and probe
 * down. It keeps only the pidfd (no pid reuse can redirect the signal) and
 * the read end of a pipe whose write end only the loader holds. The kernel
 * closes that end when the loader exits, after it has set PF_EXITING: a
 * stop sent before the helper's SIGCONT is cancelled by it, and one sent
 * after it sees the loader exiting and cancels itself (notify_exec_map() in
 * bpf/tidemark.bpf.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "trace/watchdog.h"

#define WD_PIPE  3
#define WD_PIDFD 4

static void __attribute__((noreturn)) watchdog_main(int rfd, int pidfd)
{
	static const int ignored[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE };
	unsigned int i;
	int null;
	char c;

	/* The terminal's signals are for the loader and its child: this one must outlive the loader. */
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
	prctl(PR_SET_NAME, "tidemark-hold", 0, 0, 0);
	/* Nothing else of the loader's: not its output pipes (a reader would wait on us), not its pipe to the child. */
	rfd = fcntl(rfd, F_DUPFD, WD_PIDFD + 1); /* above both targets: neither dup2 clobbers the other */
	pidfd = fcntl(pidfd, F_DUPFD, WD_PIDFD + 1);
	if (rfd < 0 || pidfd < 0 || dup2(rfd, WD_PIPE) < 0 || dup2(pidfd, WD_PIDFD) < 0)
		_exit(1);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	syscall(SYS_close_range, WD_PIDFD + 1, ~0U, 0);
	for (;;) {
		ssize_t n = read(WD_PIPE, &c, 1);

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	/* Gone (or done): continue the child. Harmless if it is running or has exited. */
	syscall(SYS_pidfd_send_signal, WD_PIDFD, SIGCONT, NULL, 0);
	/*
	 * And its descendants that `run` follows, held for their probes at a fork
	 * or exec: they are in our process group (the loader's and the child's)
	 * unless they left it. A process that never stopped ignores a SIGCONT.
	 */
	kill(0, SIGCONT);
	_exit(0);
}

int tm_watchdog__start(int pidfd, int *keep)
{
	int fds[2], err;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (pid == 0)
		watchdog_main(fds[0], pidfd);
	close(fds[0]);
	*keep = fds[1];
	return 0;
}
