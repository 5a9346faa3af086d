// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * http.c: see http.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/http.h"
#include "util/log.h"

struct tm_http {
	int fd;
	int port;
};

int tm_http__parse_request(const char *buf, size_t len, char *method, size_t mlen, char *path, size_t plen)
{
	const char *end = NULL, *sp1, *sp2, *q;
	size_t i, n;

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
	sp1 = memchr(buf, ' ', end - buf);
	if (!sp1 || sp1 == buf)
		return -EINVAL;
	sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1);
	if (!sp2 || sp2 == sp1 + 1 || sp1[1] != '/')
		return -EINVAL;
	if ((size_t)(end - sp2) < 9 || memcmp(sp2 + 1, "HTTP/1.", 7))
		return -EINVAL;
	for (q = buf; q < sp2; q++)
		if ((unsigned char)*q < 0x21 && q != sp1)
			return -EINVAL;
	n = sp1 - buf;
	if (n + 1 > mlen)
		return -ENOSYS;
	memcpy(method, buf, n);
	method[n] = 0;
	q = memchr(sp1 + 1, '?', sp2 - sp1 - 1);
	n = (q ? q : sp2) - (sp1 + 1);
	if (n + 1 > plen)
		return -EINVAL;
	memcpy(path, sp1 + 1, n);
	path[n] = 0;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return -ENOSYS;
	return 0;
}

int tm_http__listen(struct tm_http **out, const char *addr)
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
	struct tm_http *h;

	port = strtol(colon ? colon + 1 : addr, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -EINVAL;
	if (colon) {
		size_t n = colon - addr;

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
		return -EINVAL;   /* an address, not a name: nothing to resolve, nothing to surprise */
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 16)) {
		err = -errno;
		close(fd);
		return err;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
		h->port = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
	*out = h;
	return 0;
}

int tm_http__fd(const struct tm_http *h)
{
	return h->fd;
}

int tm_http__port(const struct tm_http *h)
{
	return h->port;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 501: return "Not Implemented";
	default: return "Internal Server Error";
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (errno != EAGAIN || poll(&pfd, 1, 2000) <= 0)
				return -errno;
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int tm_http__serve_one(struct tm_http *h, tm_http_handler_fn fn, void *ctx)
{
	char req[TM_HTTP_MAX_REQUEST], method[16], path[TM_HTTP_MAX_PATH], head[256];
	const char *ctype = "text/plain; charset=utf-8";
	size_t len = 0, blen = 0;
	char *body = NULL;
	int c, status, err = -EAGAIN;
	FILE *bf;

	c = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return errno == EAGAIN ? 0 : -errno;
	/* A slow or silent client gets 2 s, then is dropped: the daemon's loop must not stall. */
	while (len < sizeof(req)) {
		struct pollfd pfd = { .fd = c, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 2000) <= 0)
			break;
		r = recv(c, req + len, sizeof(req) - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
		err = tm_http__parse_request(req, len, method, sizeof(method), path, sizeof(path));
		if (err != -EAGAIN)
			break;
	}
	if (err == -EAGAIN) {
		close(c);
		return 0;
	}
	bf = open_memstream(&body, &blen);
	if (!bf) {
		close(c);
		return -ENOMEM;
	}
	if (err == -ENOSYS) {
		status = 405;
		fputs("only GET and HEAD\n", bf);
	} else if (err) {
		status = 400;
		fputs("bad request\n", bf);
	} else {
		status = fn(ctx, path, bf, &ctype);
	}
	fclose(bf);
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		 status, reason(status), ctype, blen);
	if (!write_all(c, head, strlen(head)) && !(err == 0 && !strcmp(method, "HEAD")))
		write_all(c, body, blen);
	free(body);
	close(c);
	return 0;
}

void tm_http__close(struct tm_http *h)
{
	if (!h)
		return;
	close(h->fd);
	free(h);
}
