// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_http: the request parser and the token compare see bytes from the network. */
#include <errno.h>
#include <string.h>

#include "daemon/http.h"
#include "tm_test.h"

static struct tm_http_req r;

static int parse(const char *req)
{
	return tm_http__parse_request(req, strlen(req), &r);
}

static int teq(const char *a, const char *b)
{
	return tm_http__token_equal(a, strlen(a), b, strlen(b));
}

int main(void)
{
	TM_CHECK_EQ_U64(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
	TM_CHECK(!strcmp(r.method, "GET") && !strcmp(r.path, "/metrics") && !r.bearer[0]);
	TM_CHECK_EQ_U64(parse("HEAD /pprof/pid/42?seconds=1 HTTP/1.0\r\n\r\n"), 0);
	TM_CHECK(!strcmp(r.method, "HEAD") && !strcmp(r.path, "/pprof/pid/42"));
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\n\n"), 0);
	TM_CHECK(!strcmp(r.path, "/"));
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\n\n"), 0);
	TM_CHECK(!strcmp(r.path, "/"));
	TM_CHECK_EQ_U64(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n"), (uint64_t)-EAGAIN);
	TM_CHECK_EQ_U64(parse(""), (uint64_t)-EAGAIN);
	TM_CHECK_EQ_U64(parse("POST /x HTTP/1.1\r\n\r\n"), (uint64_t)-ENOSYS);
	TM_CHECK_EQ_U64(parse("VERYLONGMETHODNAME_X /x HTTP/1.1\r\n\r\n"), (uint64_t)-ENOSYS);
	TM_CHECK_EQ_U64(parse("GET metrics HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET /metrics\r\n\r\n"), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET /metrics HTTP/2.0\r\n\r\n"), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET /metrics HTTP/1.1x\r\n\r\n"), (uint64_t)-EINVAL);
	/* The request line is the first line: a space in a header does not make it one. */
	TM_CHECK_EQ_U64(parse("GET /metrics\r\nHost: a HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET /a\tb HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse(" /x HTTP/1.1\r\n\r\n"), (uint64_t)-EINVAL);

	/* Bearer tokens: the scheme in any case, whitespace around, one header only. */
	TM_CHECK_EQ_U64(parse("GET /report/pid/1 HTTP/1.1\r\nAuthorization: Bearer abc.DEF-123_~+/=\r\n\r\n"), 0);
	TM_CHECK_STR(r.bearer, "abc.DEF-123_~+/=");
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\nhost: x\r\nauthorization:bearer \t tok \r\nX: y\r\n\r\n"), 0);
	TM_CHECK_STR(r.bearer, "tok");
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\nAUTHORIZATION: BEARER t0k\n\n"), 0);
	TM_CHECK_STR(r.bearer, "t0k");
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwdw==\r\n\r\n"), 0);
	TM_CHECK_STR(r.bearer, "");
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n"), 0);
	TM_CHECK_STR(r.bearer, "");
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\nAuthorization: Bearertok\r\n\r\n"), 0);
	TM_CHECK_STR(r.bearer, "");
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\nAuthorization: Bearer a b\r\n\r\n"), 0);
	TM_CHECK_STR(r.bearer, "");
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n"),
			(uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\nAuthorization : Bearer a\r\n\r\n"), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\nno colon here\r\n\r\n"), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), (uint64_t)-EINVAL);
	{
		/* a token longer than we keep is no token (never a prefix of one) */
		char req[600];
		char tok[TM_HTTP_MAX_TOKEN + 2];

		memset(tok, 'k', sizeof(tok) - 1);
		tok[sizeof(tok) - 1] = 0;
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n", tok);
		TM_CHECK_EQ_U64(parse(req), 0);
		TM_CHECK_STR(r.bearer, "");
		tok[TM_HTTP_MAX_TOKEN] = 0;
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n", tok);
		TM_CHECK_EQ_U64(parse(req), 0);
		TM_CHECK_EQ_U64(strlen(r.bearer), TM_HTTP_MAX_TOKEN);
	}
	TM_CHECK_EQ_U64(parse("GET /xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx HTTP/1.1\r\n\r\n"),
			0);
	{
		char big[TM_HTTP_MAX_REQUEST], path[TM_HTTP_MAX_PATH + 40];

		memset(big, 'a', sizeof(big));
		TM_CHECK_EQ_U64(tm_http__parse_request(big, sizeof(big), &r), (uint64_t)-EINVAL);
		memset(path, 'p', sizeof(path));
		memcpy(big, "GET /", 5);
		memcpy(big + 5, path, sizeof(path));
		memcpy(big + 5 + sizeof(path), " HTTP/1.1\r\n\r\n", 13);
		TM_CHECK_EQ_U64(tm_http__parse_request(big, 5 + sizeof(path) + 13, &r), (uint64_t)-EINVAL);
	}

	TM_CHECK(teq("secret-token-123", "secret-token-123"));
	TM_CHECK(!teq("secret-token-124", "secret-token-123"));
	TM_CHECK(!teq("secret-token-12", "secret-token-123"));
	TM_CHECK(!teq("secret-token-1234", "secret-token-123"));
	TM_CHECK(!teq("", "secret-token-123"));
	TM_CHECK(!teq("", "")); /* no token configured: nothing matches it */
	return tm_test_done("test_http");
}
