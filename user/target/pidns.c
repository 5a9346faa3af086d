// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pidns.c: a process's pid inside its PID namespace, and whether we are in
 * the initial one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/pidns.h"

/*
 * The initial PID namespace's inode number: PROC_PID_INIT_INO in the
 * kernel's include/linux/proc_ns.h, fixed since Linux 3.8.
 */
#define PROC_PID_INIT_INO 0xEFFFFFFCu

static int parse_pid(const char **p, const char *end, pid_t *out)
{
	long v = 0;
	int digits = 0;

	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	while (*p < end && **p >= '0' && **p <= '9' && digits < 10) {
		v = v * 10 + (**p - '0');
		(*p)++;
		digits++;
	}
	if (!digits || v <= 0 || v > 0x7fffffff || (*p < end && **p >= '0' && **p <= '9'))
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

int tm_pidns__parse_status(const char *text, size_t len, pid_t *outer, pid_t *inner)
{
	static const char key[] = "NSpid:";
	const char *p = text, *end = text + len, *eol;
	pid_t v;
	int n = 0;

	if (!text || !outer || !inner)
		return -EINVAL;
	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) >= sizeof(key) - 1 && !memcmp(p, key, sizeof(key) - 1)) {
			p += sizeof(key) - 1;
			while (p < eol) {
				if (parse_pid(&p, eol, &v))
					return -EINVAL;
				if (!n++)
					*outer = v;
				*inner = v;
				while (p < eol && (*p == ' ' || *p == '\t'))
					p++;
			}
			return n ? 0 : -EINVAL;
		}
		p = eol + 1;
	}
	return -ENOENT;
}

int tm_pidns__of_pid(pid_t pid, pid_t *inner)
{
	char path[64], buf[4096];
	pid_t outer;
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf)); /* NSpid comes within the first 4 KiB */
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	return tm_pidns__parse_status(buf, (size_t)n, &outer, inner);
}

int tm_pidns__self_is_init(void)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st))
		return -errno;
	return st.st_ino == PROC_PID_INIT_INO ? 0 : -EXDEV;
}
