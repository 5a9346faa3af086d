// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * http.c: see http.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/http.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/outfile.h"

#define LISTENER UINT32_MAX /* epoll tag of the listening socket; clients are tagged by slot */

enum conn_state { CONN_FREE,
		  CONN_READ,
		  CONN_WRITE };

struct conn {
	int fd;
	enum conn_state state;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	size_t inlen;
	char *out; /* the whole answer, head and body */
	size_t outlen, outoff;
	char in[TM_HTTP_MAX_REQUEST];
};

struct tm_http {
	int fd; /* listening socket */
	int ep; /* epoll: the listener and every client */
	int port;
	int is_unix;
	int dirfd;      /* unix: the socket's directory, opened once */
	char name[108]; /* ... and its name in it */
	dev_t sock_dev; /* ... and what we bound, so close removes only that */
	ino_t sock_ino;
	char token[TM_HTTP_MAX_TOKEN + 1];
	size_t token_len; /* 0: TCP serves public paths only */
	struct tm_http_stats st;
	struct conn conns[TM_HTTP_MAX_CLIENTS];
};

/* ---- the parser (pure) --------------------------------------------- */

static int ows(char c)
{
	return c == ' ' || c == '\t';
}

/* One header line [p, e): only Authorization matters to us. */
static int parse_header(const char *p, const char *e, struct tm_http_req *req, int *seen_auth)
{
	const char *colon, *q, *v;
	size_t n;

	if (e <= p)
		return -EINVAL; /* an empty line before the end of the head: a stray CR */
	colon = memchr(p, ':', (size_t)(e - p));

	for (q = p; q < e; q++)
		if ((unsigned char)*q < 0x20 && *q != '\t')
			return -EINVAL; /* a bare CR or a NUL inside a line: not HTTP */
	if (!colon || colon == p)
		return -EINVAL;
	for (q = p; q < colon; q++)
		if (ows(*q))
			return -EINVAL; /* whitespace before the colon (RFC 9112 5.1) */
	if ((size_t)(colon - p) != 13 || strncasecmp(p, "authorization", 13))
		return 0;
	if ((*seen_auth)++)
		return -EINVAL; /* two credentials: which one? neither */
	for (v = colon + 1; v < e && ows(*v); v++)
		;
	while (e > v && ows(e[-1]))
		e--;
	if (e - v < 7 || strncasecmp(v, "bearer", 6) || !ows(v[6]))
		return 0; /* another scheme: no bearer token */
	for (v += 6; v < e && ows(*v); v++)
		;
	n = (size_t)(e - v);
	if (!n || n > TM_HTTP_MAX_TOKEN)
		return 0;
	for (q = v; q < e; q++)
		if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e)
			return 0;
	memcpy(req->bearer, v, n);
	req->bearer[n] = 0;
	return 0;
}

int tm_http__parse_request(const char *buf, size_t len, struct tm_http_req *req)
{
	const char *end = NULL, *eol, *le, *line, *sp1, *sp2, *q;
	int seen_auth = 0, err;
	size_t i, n;

	req->method[0] = req->path[0] = req->bearer[0] = 0;
	for (i = 0; i + 3 < len; i++) {
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			end = buf + i;
			break;
		}
	}
	if (!end) {
		/* bare LF line ends are tolerated (RFC 9112 2.2) */
		for (i = 0; i + 1 < len; i++)
			if (buf[i] == '\n' && buf[i + 1] == '\n') {
				end = buf + i;
				break;
			}
	}
	if (!end)
		return len >= TM_HTTP_MAX_REQUEST ? -EINVAL : -EAGAIN;

	/* The request line: METHOD SP PATH SP HTTP/1.x */
	eol = memchr(buf, '\n', (size_t)(end - buf));
	if (!eol)
		eol = end;
	le = eol > buf && eol[-1] == '\r' ? eol - 1 : eol;
	sp1 = memchr(buf, ' ', (size_t)(le - buf));
	if (!sp1 || sp1 == buf)
		return -EINVAL;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1 || sp1[1] != '/')
		return -EINVAL;
	if (le - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) || (sp2[8] != '0' && sp2[8] != '1'))
		return -EINVAL;
	for (q = buf; q < sp2; q++)
		if (((unsigned char)*q < 0x21 || (unsigned char)*q == 0x7f) && q != sp1)
			return -EINVAL;
	n = (size_t)(sp1 - buf);
	if (n + 1 > sizeof(req->method))
		return -ENOSYS;
	memcpy(req->method, buf, n);
	req->method[n] = 0;
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	n = (size_t)((q ? q : sp2) - (sp1 + 1));
	if (n + 1 > sizeof(req->path))
		return -EINVAL;
	memcpy(req->path, sp1 + 1, n);
	req->path[n] = 0;

	for (line = eol + 1; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		le = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
		err = parse_header(line, le, req, &seen_auth);
		if (err)
			return err;
	}
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
		return -ENOSYS;
	return 0;
}

int tm_http__token_equal(const char *got, size_t got_len, const char *want, size_t want_len)
{
	volatile unsigned char diff = got_len != want_len;
	size_t i;

	/* Every byte of `want` is looked at whatever `got` holds: no early exit to time. */
	for (i = 0; i < want_len; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
	return want_len && !diff;
}

/* ---- listening ------------------------------------------------------ */

/* --token-file: read it, or make one (0600) when it does not exist. */
static int load_token(struct tm_http *h, const char *path)
{
	char buf[TM_HTTP_MAX_TOKEN + 3];
	unsigned char rnd[32];
	struct tm_outfile of;
	struct stat st;
	ssize_t n;
	size_t i;
	int fd, err;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			err = -errno;
			pr_warn("tidemark daemon: --token-file %s: no randomness for a token: %s\n", path, strerror(-err));
			return err;
		}
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(h->token + 2 * i, 3, "%02x", rnd[i]);
		h->token_len = 2 * sizeof(rnd);
		/* The one writer of files as root: directories walked without following planted links, 0600. */
		err = tm_outfile__open(&of, "tidemark daemon: --token-file", path);
		if (err)
			return err;
		fprintf(of.f, "%.*s\n", (int)h->token_len, h->token);
		err = tm_outfile__commit(&of, 0);
		if (err)
			return err;
		pr_info("tidemark daemon: wrote a new token to %s (mode 0600): clients send "
			"'Authorization: Bearer <its content>'\n",
			path);
		return 0;
	}
	if (fd < 0) {
		err = -errno;
		pr_warn("tidemark daemon: --token-file %s: %s\n", path,
			err == -ELOOP ? "is a symbolic link: give the file itself" : strerror(-err));
		return err;
	}
	err = -EPERM;
	if (fstat(fd, &st)) {
		err = -errno;
		pr_warn("tidemark daemon: --token-file %s: %s\n", path, strerror(-err));
	} else if (!S_ISREG(st.st_mode)) {
		pr_warn("tidemark daemon: --token-file %s: not a regular file\n", path);
	} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
		pr_warn("tidemark daemon: --token-file %s: owned by uid %u: it must be ours (chown root %s)\n", path,
			(unsigned int)st.st_uid, path);
	} else if (st.st_mode & 077) {
		pr_warn("tidemark daemon: --token-file %s: others may read or write it (mode %04o): chmod 600 %s\n",
			path, (unsigned int)(st.st_mode & 07777), path);
	} else {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n < 0)
			n = 0;
		buf[n] = 0;
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = 0;
		err = n < TM_HTTP_MIN_TOKEN || n > TM_HTTP_MAX_TOKEN ? -EINVAL : 0;
		for (i = 0; !err && i < (size_t)n; i++)
			if ((unsigned char)buf[i] < 0x21 || (unsigned char)buf[i] > 0x7e)
				err = -EINVAL;
		if (err) {
			pr_warn("tidemark daemon: --token-file %s: holds no token of %d to %d visible characters on one "
				"line (remove it and one is made)\n",
				path, TM_HTTP_MIN_TOKEN, TM_HTTP_MAX_TOKEN);
		} else {
			memcpy(h->token, buf, (size_t)n + 1);
			h->token_len = (size_t)n;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return err;
}

static int listen_tcp(struct tm_http *h, const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	char host[256] = "127.0.0.1";
	const char *colon = strrchr(addr, ':');
	char *end;
	long port;
	int fd, one = 1, err;
	socklen_t sl;

	port = strtol(colon ? colon + 1 : addr, &end, 10);
	if (!*(colon ? colon + 1 : addr) || *end || port < 0 || port > 65535)
		return -EINVAL;
	if (colon) {
		size_t n = (size_t)(colon - addr);

		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr, n);
		host[n] = 0;
		if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
			memmove(host, host + 1, n - 2);
			host[n - 2] = 0;
		}
		if (!host[0])
			snprintf(host, sizeof(host), "127.0.0.1");
	}
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		sl = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*in6);
	} else {
		return -EINVAL; /* an address, not a name: nothing to resolve, nothing to surprise */
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	h->fd = fd;
	if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
		h->port = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
	return 0;
}

static int group_id(const char *name, gid_t *gid)
{
	char buf[4096], *end;
	struct group gr, *res = NULL;
	unsigned long v;

	if (!getgrnam_r(name, &gr, buf, sizeof(buf), &res) && res) {
		*gid = res->gr_gid;
		return 0;
	}
	errno = 0;
	v = strtoul(name, &end, 10);
	if (!*name || *end || errno || v >= (gid_t)-1)
		return -ENOENT;
	*gid = (gid_t)v;
	return 0;
}

/*
 * unix:PATH. The directory is opened once (never through a final symlink)
 * and must be ours and not writable by others unless sticky; the socket is
 * bound through /proc/self/fd/N, so nothing can swap the directory between
 * the checks and the bind, and is created with its final mode by the umask.
 * A socket we left behind is replaced; anything else there is refused.
 */
static int listen_unix(struct tm_http *h, const char *path, const char *group)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	char dir[4096];
	struct stat st;
	gid_t gid = 0;
	mode_t old;
	int fd, err, r;

	if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || strlen(base) >= sizeof(h->name)) {
		pr_warn("tidemark daemon: --listen unix:%s: give the socket's file name after its directory\n", path);
		return -EINVAL;
	}
	if (group && group_id(group, &gid)) {
		pr_warn("tidemark daemon: --listen-group %s: no such group\n", group);
		return -EINVAL;
	}
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	h->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (h->dirfd < 0) {
		err = -errno;
		pr_warn("tidemark daemon: --listen unix:%s: cannot open %s: %s\n", path, dir,
			err == -ELOOP || err == -ENOTDIR ? "not a directory (or a symbolic link to one)" : strerror(-err));
		return err;
	}
	if (fstat(h->dirfd, &st))
		return -errno;
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
		pr_warn("tidemark daemon: --listen unix:%s: others may write into %s: use a directory only root can "
			"write (or a sticky one)\n",
			path, dir);
		return -EPERM;
	}
	snprintf(h->name, sizeof(h->name), "%s", base);
	r = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", h->dirfd, base);
	if (r < 0 || (size_t)r >= sizeof(sa.sun_path)) {
		pr_warn("tidemark daemon: --listen unix:%s: the file name is too long for a socket\n", path);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (!fstatat(h->dirfd, base, &st, AT_SYMLINK_NOFOLLOW)) {
		err = -EEXIST;
		if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
			pr_warn("tidemark daemon: --listen unix:%s: exists and is not a socket of ours: remove it or "
				"choose another path\n",
				path);
		else if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || errno == EAGAIN)
			pr_warn("tidemark daemon: --listen unix:%s: another server is listening there\n", path);
		else if (unlinkat(h->dirfd, base, 0) && errno != ENOENT)
			err = -errno;
		else
			err = 0; /* a socket left by an earlier run: replaced */
		if (err) {
			close(fd);
			return err;
		}
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
	}
	/* the mode is right from the start: no window where others may connect */
	old = umask(group ? 0117 : 0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	err = r ? -errno : 0;
	umask(old);
	if (!err && group && fchownat(h->dirfd, base, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW))
		err = -errno;
	if (!err && fstatat(h->dirfd, base, &st, AT_SYMLINK_NOFOLLOW))
		err = -errno;
	if (!err && listen(fd, 64))
		err = -errno;
	if (err) {
		pr_warn("tidemark daemon: --listen unix:%s: %s\n", path, strerror(-err));
		close(fd);
		return err;
	}
	h->sock_dev = st.st_dev;
	h->sock_ino = st.st_ino;
	h->fd = fd;
	h->is_unix = 1;
	return 0;
}

int tm_http__listen(struct tm_http **out, const struct tm_http_opts *o)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = LISTENER };
	struct tm_http *h;
	size_t i;
	int err;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fd = h->ep = h->dirfd = -1;
	for (i = 0; i < TM_HTTP_MAX_CLIENTS; i++)
		h->conns[i].fd = -1;
	if (!strncmp(o->listen, "unix:", 5)) {
		if (o->token_file) {
			pr_warn("tidemark daemon: --token-file is for a TCP --listen: a unix: socket is guarded by "
				"its file mode (--listen-group)\n");
			err = -EINVAL;
			goto fail;
		}
		err = listen_unix(h, o->listen + 5, o->unix_group);
	} else {
		if (o->unix_group) {
			pr_warn("tidemark daemon: --listen-group is for --listen unix:PATH\n");
			err = -EINVAL;
			goto fail;
		}
		err = o->token_file ? load_token(h, o->token_file) : 0;
		if (!err) {
			err = listen_tcp(h, o->listen);
			if (err)
				pr_warn("tidemark daemon: cannot listen on %s: %s\n", o->listen,
					err == -EINVAL ? "give [HOST:]PORT with a numeric address, or unix:PATH" : strerror(-err));
		}
	}
	if (err)
		goto fail;
	h->ep = epoll_create1(EPOLL_CLOEXEC);
	if (h->ep < 0 || epoll_ctl(h->ep, EPOLL_CTL_ADD, h->fd, &ev)) {
		err = -errno;
		pr_warn("tidemark daemon: --listen %s: epoll: %s\n", o->listen, strerror(-err));
		goto fail;
	}
	*out = h;
	return 0;
fail:
	tm_http__close(h);
	return err;
}

int tm_http__fd(const struct tm_http *h)
{
	return h->ep;
}

int tm_http__port(const struct tm_http *h)
{
	return h->port;
}

void tm_http__stats(const struct tm_http *h, struct tm_http_stats *st)
{
	*st = h->st;
}

/* ---- serving -------------------------------------------------------- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static void conn_close(struct tm_http *h, struct conn *c)
{
	if (c->state == CONN_FREE)
		return;
	epoll_ctl(h->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->state = CONN_FREE;
	h->st.open--;
}

/* Send what the socket takes now; close once all is sent or the client went away. */
static void conn_write(struct tm_http *h, struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			conn_close(h, c);
			return;
		}
		c->outoff += (size_t)w;
	}
	h->st.served++;
	conn_close(h, c);
}

/* The request is in (or is bad): build the whole answer, then send it as the client takes it. */
static void conn_answer(struct tm_http *h, struct conn *c, int perr, const struct tm_http_req *req,
			tm_http_handler_fn fn, void *ctx)
{
	const char *ctype = "text/plain; charset=utf-8", *extra = "";
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)(c - h->conns) };
	int status, authorized = 0;
	size_t blen = 0, hlen;
	char *body = NULL, head[512];
	FILE *bf = open_memstream(&body, &blen);

	if (!bf) {
		conn_close(h, c);
		return;
	}
	if (perr == -ENOSYS) {
		status = 405;
		extra = "Allow: GET, HEAD\r\n";
		fputs("only GET and HEAD\n", bf);
	} else if (perr) {
		status = 400;
		fputs("bad request\n", bf);
	} else {
		authorized = h->is_unix || (h->token_len && tm_http__token_equal(req->bearer, strlen(req->bearer),
										 h->token, h->token_len));
		status = fn(ctx, req->path, authorized, bf, &ctype);
	}
	if (status == 401 || status == 403) {
		/* what the handler wrote is not for this client: say only how to get in */
		fclose(bf);
		free(body);
		body = NULL;
		bf = open_memstream(&body, &blen);
		if (!bf) {
			conn_close(h, c);
			return;
		}
		ctype = "text/plain; charset=utf-8";
		if (h->token_len) {
			status = 401;
			extra = "WWW-Authenticate: Bearer realm=\"tidemark\"\r\n";
			fputs("per-process data needs 'Authorization: Bearer <token>' (the daemon's --token-file)\n", bf);
		} else {
			status = 403;
			fputs("per-process data is served only to authenticated clients: start the daemon with "
			      "--token-file FILE, or --listen unix:PATH\n",
			      bf);
		}
		h->st.unauthorized++;
	} else if (status == 400 || status == 405) {
		h->st.bad++;
	}
	if (fclose(bf)) {
		free(body);
		conn_close(h, c);
		return;
	}
	hlen = (size_t)snprintf(head, sizeof(head),
				"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
				"Cache-Control: no-store\r\nConnection: close\r\n\r\n",
				status, reason(status), ctype, blen, extra);
	if (!perr && !strcmp(req->method, "HEAD"))
		blen = 0;
	c->out = malloc(hlen + blen);
	if (!c->out) {
		free(body);
		conn_close(h, c);
		return;
	}
	memcpy(c->out, head, hlen);
	if (blen)
		memcpy(c->out + hlen, body, blen);
	free(body);
	c->outlen = hlen + blen;
	c->outoff = 0;
	c->state = CONN_WRITE;
	c->deadline_ns = tm_now_ns() + TM_HTTP_WRITE_MS * 1000000ull;
	epoll_ctl(h->ep, EPOLL_CTL_MOD, c->fd, &ev);
	conn_write(h, c);
}

static void conn_read(struct tm_http *h, struct conn *c, tm_http_handler_fn fn, void *ctx)
{
	struct tm_http_req req;
	ssize_t r;
	int err;

	r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(h, c);
		return;
	}
	c->inlen += (size_t)r;
	err = tm_http__parse_request(c->in, c->inlen, &req);
	if (err != -EAGAIN)
		conn_answer(h, c, err, &req, fn, ctx);
}

static void accept_all(struct tm_http *h)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n"
				   "Connection: close\r\n\r\n";
	int n;

	/* a bounded batch: the daemon's loop drains the ring between two */
	for (n = 0; n < 32; n++) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn *c = NULL;
		size_t i;
		int fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return;
		for (i = 0; i < TM_HTTP_MAX_CLIENTS && !c; i++)
			if (h->conns[i].state == CONN_FREE)
				c = &h->conns[i];
		if (!c) {
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				pr_debug("tidemark daemon: a client over the cap went away first\n");
			close(fd);
			h->st.refused_full++;
			continue;
		}
		ev.data.u32 = (uint32_t)(c - h->conns);
		if (epoll_ctl(h->ep, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = CONN_READ;
		c->inlen = 0;
		c->deadline_ns = tm_now_ns() + TM_HTTP_READ_MS * 1000000ull;
		h->st.open++;
	}
}

int tm_http__serve(struct tm_http *h, tm_http_handler_fn fn, void *ctx)
{
	struct epoll_event evs[64];
	uint64_t now;
	int n, i;

	n = epoll_wait(h->ep, evs, 64, 0);
	if (n < 0 && errno != EINTR)
		return -errno;
	for (i = 0; i < n; i++) {
		struct conn *c;

		if (evs[i].data.u32 == LISTENER) {
			accept_all(h);
			continue;
		}
		if (evs[i].data.u32 >= TM_HTTP_MAX_CLIENTS)
			continue;
		c = &h->conns[evs[i].data.u32];
		if (c->state == CONN_READ)
			conn_read(h, c, fn, ctx);
		else if (c->state == CONN_WRITE)
			conn_write(h, c);
	}
	/* A client that is slow to ask or to read is dropped: nobody holds a slot for long. */
	now = tm_now_ns();
	for (i = 0; i < TM_HTTP_MAX_CLIENTS; i++) {
		struct conn *c = &h->conns[i];

		if (c->state != CONN_FREE && now >= c->deadline_ns) {
			conn_close(h, c);
			h->st.timed_out++;
		}
	}
	return 0;
}

void tm_http__close(struct tm_http *h)
{
	struct stat st;
	size_t i;

	if (!h)
		return;
	for (i = 0; i < TM_HTTP_MAX_CLIENTS; i++)
		conn_close(h, &h->conns[i]);
	if (h->ep >= 0)
		close(h->ep);
	if (h->fd >= 0)
		close(h->fd);
	/* remove our socket, and only it */
	if (h->is_unix && !fstatat(h->dirfd, h->name, &st, AT_SYMLINK_NOFOLLOW) && S_ISSOCK(st.st_mode) &&
	    st.st_dev == h->sock_dev && st.st_ino == h->sock_ino)
		unlinkat(h->dirfd, h->name, 0);
	if (h->dirfd >= 0)
		close(h->dirfd);
	explicit_bzero(h->token, sizeof(h->token));
	free(h);
}
