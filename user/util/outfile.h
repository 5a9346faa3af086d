/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * outfile.h: every file tidemark writes, written the way a root tool must
 * write into a directory other users can write.
 *
 * - The directory is reached component by component with O_NOFOLLOW; a
 *   symbolic link is followed only where nobody but root or the invoking user
 *   could have planted it (in a directory owned by one of them and writable by
 *   no group and no other user). The directory is then used by descriptor.
 * - A regular file is written to an O_TMPFILE (or, where the filesystem has
 *   none, to an O_CREAT|O_EXCL|O_NOFOLLOW file under a random name), mode
 *   0600 whatever the umask, and renamed into place once complete: a reader
 *   never sees half a file, and a failed write leaves the old one.
 * - An existing destination is replaced only when it is a regular file owned
 *   by root or the invoking user. A character device or a FIFO (owned by one
 *   of them) is written as a stream (-o /dev/null, /dev/full, a pipe); a
 *   directory, a socket, a block device or someone else's file is refused.
 *
 * "The invoking user": the real uid, and SUDO_UID under sudo. Every function
 * says what went wrong in one line on stderr, prefixed with `who`.
 */
#ifndef TIDEMARK_OUTFILE_H
#define TIDEMARK_OUTFILE_H

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

#define TM_OUTFILE_MODE 0600

enum tm_outdir_flags {
	TM_OUTDIR_CREATE = 1 << 0, /* make the last component, mode 0700, when missing */
	TM_OUTDIR_STRICT = 1 << 1, /* owned by root or the invoking user; not writable by
				    * group or others unless sticky */
};

/* Not moved while open: its FILE points back at it. */
struct tm_outfile {
	FILE *f;                 /* write here, then tm_outfile__commit() */
	const char *who;         /* message prefix, e.g. "tidemark run" */
	int fd;                  /* what f writes to */
	int dirfd;               /* the destination's directory; -1 for a stream */
	int werr;                /* -errno of the first failed write(2) */
	int stream;              /* a character device, FIFO or stdout, written in place */
	int keep_fd;             /* stdout: not ours to close */
	int replace;             /* the destination existed (a regular file we may replace) */
	char tmp[NAME_MAX + 1];  /* the temporary's name; "" while it is an O_TMPFILE */
	char name[NAME_MAX + 1]; /* the destination's name in dirfd */
	char path[PATH_MAX];     /* as given, for messages */
	ino_t ino;               /* the file written, once committed */
};

/*
 * Open directory @path (see above) into *@dirfd (an O_PATH descriptor, for
 * the *at() calls). Returns 0 or -errno, having said why.
 */
int tm_outdir__open(const char *who, const char *path, unsigned int flags, int *dirfd);

/* Get ready to write @path (anything `-o` takes). Returns 0 or -errno, having said why. */
int tm_outfile__open(struct tm_outfile *of, const char *who, const char *path);

/* Standard output, through the same FILE and error reporting (no rename). */
int tm_outfile__stdout(struct tm_outfile *of, const char *who);

/* The same for @name in a directory from tm_outdir__open(); @dir names it in messages. */
int tm_outfile__openat(struct tm_outfile *of, const char *who, int dirfd, const char *dir, const char *name);

/*
 * Flush and put the file in place (a stream: flush). @err, if not 0, is the
 * writer's own failure: the file is abandoned instead and @err returned. Says
 * what failed (a full disk as "no space left on device"). The outfile is
 * closed either way. Returns 0 or -errno.
 */
int tm_outfile__commit(struct tm_outfile *of, int err);

/* Abandon it: nothing appears at the destination. Safe on a closed or zeroed outfile. */
void tm_outfile__abort(struct tm_outfile *of);

/* strerror(-err), but ENOSPC and EDQUOT say "no space left on device". */
const char *tm_outfile__strerror(int err);

/* Is @uid root or the invoking user? */
int tm_outfile__trusted_uid(uid_t uid);

#endif /* TIDEMARK_OUTFILE_H */
