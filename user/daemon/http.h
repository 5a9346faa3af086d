/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * http.h: the smallest HTTP/1.1 server that a Prometheus scrape and curl
 * need: GET and HEAD, one request per connection (Connection: close),
 * answered in the caller's loop. No library: the daemon must not grow a
 * dependency for a text endpoint. Requests come from the network, so the
 * parser is pure and unit-tested.
 */
#ifndef TIDEMARK_HTTP_H
#define TIDEMARK_HTTP_H

#include <stddef.h>
#include <stdio.h>

#define TM_HTTP_MAX_REQUEST 8192
#define TM_HTTP_MAX_PATH 1024

struct tm_http;

/* A handler writes the body into `body` and returns the status (200, 404, ...). */
typedef int (*tm_http_handler_fn)(void *ctx, const char *path, FILE *body, const char **content_type);

/*
 * Listen on "[HOST:]PORT" (HOST defaults to 127.0.0.1: loopback unless told
 * otherwise; "[::1]:PORT" for IPv6). Returns 0 or -errno.
 */
int tm_http__listen(struct tm_http **out, const char *addr);
/* The listening socket, for the caller's poll(). */
int tm_http__fd(const struct tm_http *h);
/* The port actually bound (useful with port 0). */
int tm_http__port(const struct tm_http *h);
/* Accept and answer one connection (when the listening socket is readable). */
int tm_http__serve_one(struct tm_http *h, tm_http_handler_fn fn, void *ctx);
void tm_http__close(struct tm_http *h);   /* accepts NULL */

/*
 * Parse the request line of buf[0..len): 0 with method ("GET"/"HEAD") and the
 * path without its query string; -EAGAIN while the header is incomplete;
 * -EINVAL for anything malformed; -ENOSYS for another method.
 */
int tm_http__parse_request(const char *buf, size_t len, char *method, size_t mlen, char *path, size_t plen);

#endif /* TIDEMARK_HTTP_H */
