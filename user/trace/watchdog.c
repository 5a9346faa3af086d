// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * watchdog.c: continue held processes when the loader dies. See watchdog.h.
 *
 * The helper is forked before the BPF objects are opened, so it holds no
 * BPF program or link: the loader's death still tears every program and
 * probe down. It keeps the pidfd of `run`'s child (no pid reuse can
 * redirect that signal), one end of a socket whose other end only the
 * loader holds, and the procs map the loader sends over it once loaded. The
 * kernel closes the loader's end when the loader exits, after tp_exit has
 * set holds_off: a stop sent before the helper's SIGCONT is cancelled by
 * it, and one sent after it sees the flag and cancels itself (notify_exec_map()
 * and hold_and_notify() in bpf/tidemark.bpf.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "tidemark_common.h"
#include "trace/watchdog.h"

#define WD_SOCK  3
#define WD_PIDFD 4
#define WD_PROCS 5

void tm_watchdog__continue_held(int procs_fd)
{
	__u32 key, next, *prev = NULL;
	struct tm_proc p;

	/* A process is held only if it has an entry with a hold flag, made before its stop. */
	while (!bpf_map_get_next_key(procs_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(procs_fd, &key, &p) || p.exit_time_ns ||
		    !(p.flags & (TM_PROC_HOLD_FOR_MAPS | TM_PROC_HOLD_AT_START)))
			continue;
		kill((pid_t)key, SIGCONT);
	}
}

/* One byte and room for one descriptor: the only message on the socket. */
struct fd_msg {
	struct msghdr msg;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char byte;
};

static void fd_msg_init(struct fd_msg *m, char byte)
{
	memset(m, 0, sizeof(*m));
	m->byte = byte;
	m->iov.iov_base = &m->byte;
	m->iov.iov_len = 1;
	m->msg.msg_iov = &m->iov;
	m->msg.msg_iovlen = 1;
	m->msg.msg_control = m->u.buf;
	m->msg.msg_controllen = sizeof(m->u.buf);
}

/* One message from the loader: 1 and a descriptor moved to WD_PROCS, 'q' (2), EOF (0), or -1. */
static int receive(void)
{
	struct fd_msg m;
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	fd_msg_init(&m, 0);
	do
		n = recvmsg(WD_SOCK, &m.msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	c = CMSG_FIRSTHDR(&m.msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		if (dup2(fd, WD_PROCS) < 0)
			_exit(1);
		if (fd != WD_PROCS)
			close(fd);
		return 1;
	}
	return m.byte == 'q' ? 2 : 1;
}

static void __attribute__((noreturn)) watchdog_main(int sfd, int pidfd)
{
	static const int ignored[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE };
	unsigned int i;
	int null, procs = 0, r;

	/* The terminal's signals are for the loader and its child: this one must outlive the loader. */
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
	prctl(PR_SET_NAME, "tidemark-hold", 0, 0, 0);
	/* Nothing else of the loader's: not its output pipes (a reader would wait on us), not its pipe to the child. */
	sfd = fcntl(sfd, F_DUPFD, WD_PROCS + 1); /* above every target: no dup2 clobbers another */
	if (pidfd >= 0)
		pidfd = fcntl(pidfd, F_DUPFD, WD_PROCS + 1);
	if (sfd < 0 || dup2(sfd, WD_SOCK) < 0 || (pidfd >= 0 && dup2(pidfd, WD_PIDFD) < 0))
		_exit(1);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	if (pidfd < 0)
		close(WD_PIDFD);
	syscall(SYS_close_range, WD_PIDFD + 1, ~0U, 0);
	while ((r = receive()) == 1)
		procs = 1;
	if (r == 2)
		_exit(0); /* stood down: nothing is held */
	/* Gone: continue what it held. Harmless for a process running or exited. */
	if (pidfd >= 0)
		syscall(SYS_pidfd_send_signal, WD_PIDFD, SIGCONT, NULL, 0);
	if (procs) {
		tm_watchdog__continue_held(WD_PROCS);
	} else {
		/*
		 * Dead before its BPF was loaded (no hold can have been made but the
		 * child's own), or the map could not be sent: `run`'s followers are in
		 * our process group (the loader's and the child's) unless they left it.
		 */
		if (pidfd >= 0)
			kill(0, SIGCONT);
	}
	_exit(0);
}

int tm_watchdog__start(int pidfd, int *keep)
{
	int fds[2], err;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds))
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (pid == 0) {
		close(fds[1]);
		watchdog_main(fds[0], pidfd);
	}
	close(fds[0]);
	*keep = fds[1];
	return 0;
}

int tm_watchdog__give_procs(int keep, int procs_fd)
{
	struct fd_msg m;
	struct cmsghdr *c;
	ssize_t n;

	fd_msg_init(&m, 'm');
	c = CMSG_FIRSTHDR(&m.msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &procs_fd, sizeof(int));
	do
		n = sendmsg(keep, &m.msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -errno;
}

void tm_watchdog__stand_down(int keep)
{
	char q = 'q';

	if (keep < 0)
		return;
	/* Should the byte not go, the helper goes at the close all the same, continuing nothing held. */
	(void)!send(keep, &q, 1, MSG_NOSIGNAL);
	close(keep);
}
