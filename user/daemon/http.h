/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * http.h: the smallest HTTP/1.1 server that a Prometheus scrape and curl
 * need: GET and HEAD, one request per connection (Connection: close). No
 * library: the daemon must not grow a dependency for a text endpoint.
 *
 * It never blocks the daemon's loop: every socket is non-blocking, clients
 * wait in an epoll set the loop polls with the ring buffer, each connection
 * has a deadline (TM_HTTP_READ_MS to send its request, TM_HTTP_WRITE_MS to
 * take the answer) and at most TM_HTTP_MAX_CLIENTS are open at once; the
 * next one is answered 503 and closed.
 *
 * Who may ask for what: the caller's handler decides which paths are
 * private and answers 401 to a request that is not `authorized`. A request
 * is authorized when it came over a Unix socket (created 0600, or 0660 for
 * one group: the file mode is the check) or carries the bearer token of
 * --token-file (compared in constant time). A TCP listener without a token
 * serves only the public paths.
 *
 * Requests come from the network: tm_http__parse_request() is a pure
 * function of its buffer, unit-tested and fuzzed.
 */
#ifndef TIDEMARK_HTTP_H
#define TIDEMARK_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TM_HTTP_MAX_REQUEST 8192
#define TM_HTTP_MAX_PATH    1024
#define TM_HTTP_MAX_TOKEN   256 /* bytes of a bearer token */
#define TM_HTTP_MIN_TOKEN   16
#define TM_HTTP_MAX_CLIENTS 128   /* connections open at once */
#define TM_HTTP_READ_MS     5000  /* from accept to the end of the request's header */
#define TM_HTTP_WRITE_MS    30000 /* to take the whole answer */

struct tm_http;

/* One parsed request. */
struct tm_http_req {
	char method[16];
	char path[TM_HTTP_MAX_PATH];        /* without its query string */
	char bearer[TM_HTTP_MAX_TOKEN + 1]; /* Authorization: Bearer <this>; "" = none */
};

struct tm_http_opts {
	const char *listen;     /* "[HOST:]PORT" (HOST defaults to 127.0.0.1) or "unix:PATH" */
	const char *token_file; /* TCP: clients must send this file's token; created 0600 if missing */
	const char *unix_group; /* unix: the socket is 0660 for this group instead of 0600 */
};

/* What the server did, for the daemon's metrics. */
struct tm_http_stats {
	uint64_t served;       /* answers sent in full */
	uint64_t refused_full; /* connections over TM_HTTP_MAX_CLIENTS: 503 */
	uint64_t timed_out;    /* dropped at their deadline */
	uint64_t unauthorized; /* 401 and 403 answers */
	uint64_t bad;          /* 400 and 405 answers */
	unsigned int open;     /* connections open now */
};

/*
 * A handler writes the body into `body` and returns the status (200, 404,
 * ...). `authorized` says whether the client proved it may see per-process
 * data; the handler returns 401 for a private path when it did not (the
 * server then writes the body and the headers that say how to authenticate).
 */
typedef int (*tm_http_handler_fn)(void *ctx, const char *path, int authorized, FILE *body,
				  const char **content_type);

/* Listen as o says. Returns 0 or -errno; a one-line reason is logged for each refusal. */
int tm_http__listen(struct tm_http **out, const struct tm_http_opts *o);
/* A descriptor that polls readable when a client needs attention. */
int tm_http__fd(const struct tm_http *h);
/* The TCP port actually bound (useful with port 0); 0 for a Unix socket. */
int tm_http__port(const struct tm_http *h);
/*
 * Accept, read, answer and expire without waiting on any client. Call it
 * when tm_http__fd() is readable and at least every few hundred ms (for
 * the deadlines). Returns 0 or -errno.
 */
int tm_http__serve(struct tm_http *h, tm_http_handler_fn fn, void *ctx);
void tm_http__stats(const struct tm_http *h, struct tm_http_stats *st);
/* Close every connection and the listener (and remove its Unix socket). Accepts NULL. */
void tm_http__close(struct tm_http *h);

/*
 * Parse the request head in buf[0..len): 0 with the method ("GET"/"HEAD"),
 * the path and the bearer token if any; -EAGAIN while the head is
 * incomplete; -EINVAL for anything malformed (also two Authorization
 * headers); -ENOSYS for another method. Pure: no state, no allocation.
 */
int tm_http__parse_request(const char *buf, size_t len, struct tm_http_req *req);

/* Equal tokens, in time that depends only on the length of `want`. */
int tm_http__token_equal(const char *got, size_t got_len, const char *want, size_t want_len);

#endif /* TIDEMARK_HTTP_H */
