// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* proc.c: small /proc files of a live process (see proc.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/proc.h"

static int open_proc(pid_t pid, const char *name)
{
	char path[64];
	int fd;

	if (pid < 0)
		return -EINVAL;
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

ssize_t tm_proc__read(pid_t pid, const char *name, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;
	int fd, err = 0;

	if (!len)
		return -EINVAL;
	buf[0] = 0;
	fd = open_proc(pid, name);
	if (fd < 0)
		return fd;
	/* /proc files are generated per read(): loop until EOF or full. */
	while (n < len - 1) {
		r = read(fd, buf + n, len - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	return err ? err : (ssize_t)n;
}

int tm_proc__read_all(pid_t pid, const char *name, char **bufp, size_t *lenp)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *n;
	int fd, err = 0;

	fd = open_proc(pid, name);
	if (fd < 0)
		return fd;
	/* read to EOF: the kernel hands out whole lines, so the text stays consistent */
	for (;;) {
		ssize_t r;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			n = realloc(buf, cap);
			if (!n) {
				err = -ENOMEM;
				break;
			}
			buf = n;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* ESRCH: the process exited while we read */
			err = errno == ESRCH ? -ENOENT : -errno;
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = 0;
	*bufp = buf;
	*lenp = len;
	return 0;
}

void tm_proc__join_cmdline(char *buf, size_t n)
{
	size_t i;

	for (i = 0; n && i < n - 1; i++)
		if (!buf[i])
			buf[i] = ' ';
}

void tm_proc__cmdline(pid_t pid, char *buf, size_t len)
{
	ssize_t n = tm_proc__read(pid, "cmdline", buf, len);

	if (n > 0)
		tm_proc__join_cmdline(buf, (size_t)n);
	else if (len)
		buf[0] = 0;
}

void tm_proc__comm(pid_t pid, char *buf, size_t len)
{
	if (tm_proc__read(pid, "comm", buf, len) < 0 && len)
		buf[0] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

int tm_proc__parse_statm(const char *text, struct tm_statm *m)
{
	unsigned long long size, resident, shared;

	if (sscanf(text, "%llu %llu %llu", &size, &resident, &shared) != 3 || shared > resident)
		return -EINVAL;
	m->size = size;
	m->resident = resident;
	m->shared = shared;
	return 0;
}

/* statm's resident pages (less the shared ones when @anon), in bytes; 0 when the process is gone. */
static uint64_t statm_bytes(pid_t pid, int anon)
{
	struct tm_statm m;
	char buf[256];

	if (pid < 0 || tm_proc__read(pid, "statm", buf, sizeof(buf)) < 0 || tm_proc__parse_statm(buf, &m))
		return 0;
	return (anon ? m.resident - m.shared : m.resident) * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t tm_proc__rss(pid_t pid)
{
	return statm_bytes(pid, 0);
}

uint64_t tm_proc__rss_anon(pid_t pid)
{
	return statm_bytes(pid, 1);
}

int tm_proc__parse_stat(const char *text, size_t len, char *state, unsigned long *flags)
{
	const char *p = NULL, *end = text + len;
	unsigned long v = 0;
	const char *q;
	int field;

	/* the command name is in parentheses and may hold anything: the last ')' ends it */
	for (q = text; q < end; q++)
		if (*q == ')')
			p = q;
	if (!p || end - p < 3 || p[1] != ' ')
		return -EINVAL;
	*state = p[2];
	/* state is field 3, flags field 9 */
	for (q = p + 2, field = 3; q < end && field < 9; q++)
		if (*q == ' ')
			field++;
	if (field != 9 || q >= end || *q < '0' || *q > '9')
		return -EINVAL;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (v > (~0ul - 9) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*q - '0');
	}
	*flags = v;
	return 0;
}

int tm_proc__stat(pid_t pid, char *state, unsigned long *flags)
{
	char buf[1024];
	ssize_t n = tm_proc__read(pid, "stat", buf, sizeof(buf));

	return n < 0 ? (int)n : tm_proc__parse_stat(buf, (size_t)n, state, flags);
}
