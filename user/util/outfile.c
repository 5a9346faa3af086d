// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * outfile.c: the one place tidemark creates files (see outfile.h).
 *
 * The attacks this stops, as root, in a directory another user can write
 * (with fs.protected_symlinks=0 and fs.protected_hardlinks=0, as containers
 * and some distributions run): a symlink or hard link at the destination, at
 * the temporary's name or at a directory on the way, pointing at a file only
 * root may write; a device node or FIFO at the destination replaced by a
 * regular file; a FIFO planted to read what root writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/outfile.h"

#define MAX_LINKS 40 /* the kernel's own limit on symlinks in one lookup */

int tm_outfile__trusted_uid(uid_t uid)
{
	unsigned long v;
	const char *s;
	char *end;

	if (uid == 0 || uid == getuid())
		return 1;
	/* sudo: root runs it for this user (only root could have set SUDO_UID for a root process) */
	s = getenv("SUDO_UID");
	if (!s || !*s || getuid() != 0)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	return !errno && !*end && v == (unsigned long)uid;
}

/* Only root or the invoking user can add, remove or rename entries here. */
static int dir_private(const struct stat *st)
{
	return tm_outfile__trusted_uid(st->st_uid) && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

const char *tm_outfile__strerror(int err)
{
	if (err == -ENOSPC || err == -EDQUOT)
		return "no space left on device";
	return strerror(err < 0 ? -err : err);
}

struct walk {
	const char *who, *path; /* for messages */
	int links;
	int said; /* a message was printed */
};

static int open_dir_at(int at, const char *name)
{
	int fd = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* The text of symlink @name in @at, if a symlink there may be followed. */
static int follow(struct walk *w, int at, const char *name, char *target, size_t len)
{
	struct stat dst, lst;
	ssize_t n;

	if (fstat(at, &dst) || fstatat(at, name, &lst, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (!dir_private(&dst)) {
		const char *base = strrchr(w->path, '/');

		if (!strcmp(base ? base + 1 : w->path, name))
			pr_warn(
				"%s: %s is a symbolic link (owner uid %u) in a directory other users can write: "
				"refusing to follow it (give the path it points to)\n",
				w->who, w->path, (unsigned int)lst.st_uid);
		else
			pr_warn(
				"%s: %s: '%s' is a symbolic link (owner uid %u) in a directory other users can "
				"write: refusing to follow it (give the path it points to)\n",
				w->who, w->path, name, (unsigned int)lst.st_uid);
		w->said = 1;
		return -ELOOP;
	}
	if (++w->links > MAX_LINKS) {
		pr_warn("%s: %s: too many levels of symbolic links\n", w->who, w->path);
		w->said = 1;
		return -ELOOP;
	}
	n = readlinkat(at, name, target, len);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	target[n] = 0;
	return 0;
}

/* Open directory @path, relative to @at, into *@out (O_PATH). */
static int walk_dir(struct walk *w, int at, const char *path, int *out)
{
	char comp[NAME_MAX + 1], target[PATH_MAX];
	const char *p = path;
	struct stat st;
	int cur, next, err;

	cur = *path == '/' ? open_dir_at(AT_FDCWD, "/") : open_dir_at(at, ".");
	if (cur < 0)
		return cur;
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (!n)
			break;
		if (n > NAME_MAX) {
			err = -ENAMETOOLONG;
			goto fail;
		}
		memcpy(comp, p, n);
		comp[n] = 0;
		p += n;
		if (!strcmp(comp, "."))
			continue;
		if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW)) {
			err = -errno;
			goto fail;
		}
		if (S_ISLNK(st.st_mode)) {
			err = follow(w, cur, comp, target, sizeof(target));
			if (!err)
				err = walk_dir(w, cur, target, &next);
		} else {
			next = open_dir_at(cur, comp);
			err = next < 0 ? next : 0;
		}
		if (err)
			goto fail;
		close(cur);
		cur = next;
	}
	*out = cur;
	return 0;
fail:
	close(cur);
	return err;
}

/* Split @path into its directory (into @dir) and its last component. */
static const char *split(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(dir, len, ".");
		return path;
	}
	if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
	return slash + 1;
}

int tm_outdir__open(const char *who, const char *path, unsigned int flags, int *dirfd)
{
	struct walk w = { .who = who, .path = path };
	char parent[PATH_MAX];
	const char *name;
	struct stat st;
	int pfd = -1, fd = -1, err;

	*dirfd = -1;
	if (!*path) {
		err = -ENOENT;
		goto out;
	}
	if (strlen(path) >= sizeof(parent)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	err = walk_dir(&w, AT_FDCWD, path, &fd);
	if (err == -ENOENT && (flags & TM_OUTDIR_CREATE)) {
		/* the parent must exist; the directory itself is made private */
		char trimmed[PATH_MAX];
		size_t l = strlen(path);

		snprintf(trimmed, sizeof(trimmed), "%s", path);
		while (l > 1 && trimmed[l - 1] == '/')
			trimmed[--l] = 0;
		name = split(trimmed, parent, sizeof(parent));
		err = walk_dir(&w, AT_FDCWD, parent, &pfd);
		if (!err && mkdirat(pfd, name, 0700) && errno != EEXIST)
			err = -errno;
		if (!err) {
			pr_info("%s: made %s (mode 0700)\n", who, path);
			err = walk_dir(&w, pfd, name, &fd);
		}
	}
	if (err == -ENOTDIR) {
		pr_warn("%s: %s is not a directory: give a directory\n", who, path);
		w.said = 1;
	}
	if (err)
		goto out;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if ((flags & TM_OUTDIR_STRICT) && !tm_outfile__trusted_uid(st.st_uid)) {
		pr_warn("%s: %s belongs to uid %u, not to root or you: give a directory of your own\n", who,
			path, (unsigned int)st.st_uid);
		err = -EPERM;
		w.said = 1;
		goto out;
	}
	if ((flags & TM_OUTDIR_STRICT) && (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		pr_warn("%s: %s is writable by other users and not sticky (mode %04o): "
			"chmod go-w (or +t) it, or give another directory\n",
			who, path, (unsigned int)(st.st_mode & 07777));
		err = -EPERM;
		w.said = 1;
		goto out;
	}
	*dirfd = fd;
	fd = -1;
out:
	if (err && !w.said)
		pr_warn("%s: cannot use the directory %s: %s\n", who, path, tm_outfile__strerror(err));
	if (pfd >= 0)
		close(pfd);
	if (fd >= 0)
		close(fd);
	return err;
}

/* ---- the FILE: every write(2) failure is kept with its errno --------- */

static ssize_t cookie_write(void *c, const char *buf, size_t len)
{
	struct tm_outfile *of = c;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(of->fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!of->werr)
				of->werr = n < 0 ? -errno : -EIO;
			return 0; /* fopencookie: 0 is the error */
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int cookie_close(void *c)
{
	struct tm_outfile *of = c;
	int fd = of->fd;

	of->fd = -1;
	if (of->keep_fd || fd < 0)
		return 0;
	return close(fd);
}

static int make_file(struct tm_outfile *of, int fd)
{
	static const cookie_io_functions_t io = { .write = cookie_write, .close = cookie_close };

	of->fd = fd;
	of->f = fopencookie(of, "w", io);
	if (!of->f) {
		of->fd = -1;
		if (!of->keep_fd)
			close(fd);
		return -ENOMEM;
	}
	return 0;
}

static void random_name(char *out, size_t len, const char *name)
{
	unsigned char r[8];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		/* cannot happen after boot; still never a predictable name */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		memcpy(r, &ts.tv_nsec, sizeof(r) < sizeof(ts.tv_nsec) ? sizeof(r) : sizeof(ts.tv_nsec));
		r[0] ^= (unsigned char)getpid();
	}
	/* ".<name>.<16 hex>.tmp", the name cut to fit NAME_MAX */
	i = (size_t)snprintf(out, len, ".%.*s.", (int)(len - 1 - 1 - 1 - 16 - 4 - 1), name);
	for (size_t k = 0; k < sizeof(r) && i + 2 < len; k++)
		i += (size_t)snprintf(out + i, len - i, "%02x", r[k]);
	snprintf(out + i, len - i, ".tmp");
}

/* A new file in of->dirfd that becomes of->name at commit. */
static int create_tmp(struct tm_outfile *of)
{
	int fd, tries;

	of->tmp[0] = 0;
	fd = openat(of->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, TM_OUTFILE_MODE);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* no O_TMPFILE on this filesystem (or kernel): a fresh name nobody can guess */
		for (tries = 0; tries < 16; tries++) {
			random_name(of->tmp, sizeof(of->tmp), of->name);
			fd = openat(of->dirfd, of->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				    TM_OUTFILE_MODE);
			if (fd >= 0 || errno != EEXIST)
				break;
		}
		if (fd < 0)
			of->tmp[0] = 0;
	}
	if (fd < 0)
		return -errno;
	/* 0600 whatever the umask */
	if (fchmod(fd, TM_OUTFILE_MODE)) {
		int err = -errno;

		close(fd);
		if (of->tmp[0])
			unlinkat(of->dirfd, of->tmp, 0);
		of->tmp[0] = 0;
		return err;
	}
	return make_file(of, fd);
}

/* Write to a device or FIFO in place: @fd is an O_PATH descriptor of it, reopened for writing. */
static int open_stream(struct tm_outfile *of, int fd)
{
	char proc[64];
	int wfd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wfd = open(proc, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (wfd < 0)
		return -errno;
	of->stream = 1;
	return make_file(of, wfd);
}

static const char *kind(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISLNK(m)  ? "a symbolic link"
			     : "a regular file";
}

/* of->dirfd and of->name are set: decide what writing there means, and open it. */
static int open_last(struct tm_outfile *of, struct walk *w)
{
	char target[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	int fd, err;

	for (;;) {
		if (!of->name[0] || !strcmp(of->name, ".") || !strcmp(of->name, "..")) {
			pr_warn("%s: %s is a directory: give a file name\n", of->who, of->path);
			w->said = 1;
			return -EISDIR;
		}
		if (fstatat(of->dirfd, of->name, &st, AT_SYMLINK_NOFOLLOW)) {
			if (errno != ENOENT)
				return -errno;
			return create_tmp(of); /* a new file */
		}
		if (S_ISREG(st.st_mode)) {
			/* renaming over it only drops this name: hard links elsewhere keep their content */
			if (!tm_outfile__trusted_uid(st.st_uid)) {
				pr_warn(
					"%s: %s is a file of uid %u, not of root or you: refusing to replace it "
					"(remove it or choose another path)\n",
					of->who, of->path, (unsigned int)st.st_uid);
				w->said = 1;
				return -EPERM;
			}
			of->replace = 1;
			return create_tmp(of);
		}
		if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
			/* a FIFO someone else planted would hand them what we write */
			if (!tm_outfile__trusted_uid(st.st_uid)) {
				pr_warn(
					"%s: %s is %s of uid %u, not of root or you: refusing to write to it\n",
					of->who, of->path, kind(st.st_mode), (unsigned int)st.st_uid);
				w->said = 1;
				return -EPERM;
			}
			fd = openat(of->dirfd, of->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return -errno;
			err = open_stream(of, fd);
			close(fd);
			return err;
		}
		if (!S_ISLNK(st.st_mode)) {
			pr_warn("%s: %s is %s: give a file, a FIFO or a character device\n", of->who,
				of->path, kind(st.st_mode));
			w->said = 1;
			return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		}
		/* a symbolic link where only root or the invoking user could have put it */
		err = follow(w, of->dirfd, of->name, target, sizeof(target));
		if (err)
			return err;
		fd = openat(of->dirfd, of->name, O_PATH | O_CLOEXEC);
		if (fd >= 0) {
			/* /dev/stdout and /proc/self/fd/N point at pipes and terminals this way */
			struct stat t;

			err = fstat(fd, &t) ? -errno : 0;
			if (!err && S_ISFIFO(t.st_mode) && !tm_outfile__trusted_uid(t.st_uid)) {
				pr_warn(
					"%s: %s leads to a FIFO of uid %u, not of root or you: refusing to write "
					"to it\n",
					of->who, of->path, (unsigned int)t.st_uid);
				w->said = 1;
				err = -EPERM;
			} else if (!err && (S_ISCHR(t.st_mode) || S_ISFIFO(t.st_mode)))
				err = open_stream(of, fd);
			else if (!err && !S_ISREG(t.st_mode)) {
				pr_warn("%s: %s leads to %s: give a file, a FIFO or a character device\n",
					of->who, of->path, kind(t.st_mode));
				w->said = 1;
				err = S_ISDIR(t.st_mode) ? -EISDIR : -EINVAL;
			} else if (!err) {
				err = 1; /* a regular file: go where the link says */
			}
			close(fd);
			if (err <= 0)
				return err;
		}
		/* go to the link's target and apply the same rules there */
		{
			const char *base = split(target, dir, sizeof(dir));
			int nd;

			if (strlen(base) > NAME_MAX)
				return -ENAMETOOLONG;
			err = walk_dir(w, of->dirfd, dir, &nd);
			if (err)
				return err;
			close(of->dirfd);
			of->dirfd = nd;
			snprintf(of->name, sizeof(of->name), "%s", base);
		}
	}
}

static void init(struct tm_outfile *of, const char *who, const char *path)
{
	memset(of, 0, sizeof(*of));
	of->who = who;
	of->fd = -1;
	of->dirfd = -1;
	snprintf(of->path, sizeof(of->path), "%s", path);
}

static int opened(struct tm_outfile *of, struct walk *w, int err)
{
	if (!err)
		return 0;
	if (!w->said)
		pr_warn("%s: cannot write %s: %s\n", of->who, of->path, tm_outfile__strerror(err));
	tm_outfile__abort(of);
	return err;
}

int tm_outfile__open(struct tm_outfile *of, const char *who, const char *path)
{
	struct walk w = { .who = who, .path = path };
	char dir[PATH_MAX];
	const char *base;
	int err;

	init(of, who, path);
	if (!*path || strlen(path) >= sizeof(dir))
		return opened(of, &w, *path ? -ENAMETOOLONG : -ENOENT);
	base = split(path, dir, sizeof(dir));
	if (strlen(base) > NAME_MAX)
		return opened(of, &w, -ENAMETOOLONG);
	snprintf(of->name, sizeof(of->name), "%s", base);
	err = walk_dir(&w, AT_FDCWD, dir, &of->dirfd);
	if (!err)
		err = open_last(of, &w);
	return opened(of, &w, err);
}

int tm_outfile__openat(struct tm_outfile *of, const char *who, int dirfd, const char *dir, const char *name)
{
	struct walk w = { .who = who };
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	init(of, who, path);
	w.path = of->path;
	if (strlen(name) > NAME_MAX || strchr(name, '/'))
		return opened(of, &w, -EINVAL);
	snprintf(of->name, sizeof(of->name), "%s", name);
	of->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	err = of->dirfd < 0 ? -errno : open_last(of, &w);
	return opened(of, &w, err);
}

int tm_outfile__stdout(struct tm_outfile *of, const char *who)
{
	init(of, who, "standard output");
	of->stream = 1;
	of->keep_fd = 1;
	return make_file(of, STDOUT_FILENO);
}

/* Give the O_TMPFILE a name: the random temporary one (linkat never replaces). */
static int link_tmpfile(struct tm_outfile *of)
{
	char proc[64];
	int tries;

	for (tries = 0; tries < 16; tries++) {
		random_name(of->tmp, sizeof(of->tmp), of->name);
		/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd does not */
		if (!linkat(of->fd, "", of->dirfd, of->tmp, AT_EMPTY_PATH))
			return 0;
		if (errno == ENOENT || errno == EPERM) {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", of->fd);
			if (!linkat(AT_FDCWD, proc, of->dirfd, of->tmp, AT_SYMLINK_FOLLOW))
				return 0;
		}
		if (errno != EEXIST)
			break;
	}
	of->tmp[0] = 0;
	return -errno;
}

int tm_outfile__commit(struct tm_outfile *of, int err)
{
	struct stat st;
	int ferr;

	if (!of->f) {
		tm_outfile__abort(of);
		return err ? err : -EBADF;
	}
	ferr = fflush(of->f) ? -EIO : 0;
	/* the writer's -EIO, or ours, says less than the write(2) that failed */
	if (of->werr && (!err || err == -EIO))
		err = of->werr;
	if (!err && ferr)
		err = ferr;
	if (!err && !of->stream && fsync(of->fd))
		err = -errno;
	if (!err && !of->stream && !fstat(of->fd, &st))
		of->ino = st.st_ino;
	if (!err && !of->stream && !of->tmp[0])
		err = link_tmpfile(of);
	if (fclose(of->f) && !err)
		err = -errno;
	of->f = NULL;
	if (!err && !of->stream) {
		/* a destination that did not exist must not have appeared meanwhile */
		if (of->replace || renameat2(of->dirfd, of->tmp, of->dirfd, of->name, RENAME_NOREPLACE)) {
			if (!of->replace && errno != EINVAL)
				err = -errno;
			else if (renameat(of->dirfd, of->tmp, of->dirfd, of->name))
				err = -errno;
		}
		if (!err)
			of->tmp[0] = 0;
	}
	if (err)
		pr_warn("%s: writing %s failed: %s\n", of->who, of->path, tm_outfile__strerror(err));
	tm_outfile__abort(of);
	return err;
}

void tm_outfile__abort(struct tm_outfile *of)
{
	if (!of->who)
		return; /* zeroed, never opened */
	if (of->f) {
		fclose(of->f);
		of->f = NULL;
	}
	if (of->tmp[0] && of->dirfd >= 0)
		unlinkat(of->dirfd, of->tmp, 0);
	of->tmp[0] = 0;
	if (of->dirfd >= 0)
		close(of->dirfd);
	of->dirfd = -1;
}
