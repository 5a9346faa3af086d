// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_http: the request-line parser sees bytes from the network. */
#include <errno.h>
#include <string.h>

#include "daemon/http.h"
#include "tm_test.h"

static int parse(const char *req, char *m, char *p)
{
	return tm_http__parse_request(req, strlen(req), m, 16, p, 64);
}

int main(void)
{
	char m[16], p[64];

	TM_CHECK_EQ_U64(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", m, p), 0);
	TM_CHECK(!strcmp(m, "GET") && !strcmp(p, "/metrics"));
	TM_CHECK_EQ_U64(parse("HEAD /pprof/pid/42?seconds=1 HTTP/1.0\r\n\r\n", m, p), 0);
	TM_CHECK(!strcmp(m, "HEAD") && !strcmp(p, "/pprof/pid/42"));
	TM_CHECK_EQ_U64(parse("GET / HTTP/1.1\n\n", m, p), 0);
	TM_CHECK(!strcmp(p, "/"));
	TM_CHECK_EQ_U64(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", m, p), (uint64_t)-EAGAIN);
	TM_CHECK_EQ_U64(parse("", m, p), (uint64_t)-EAGAIN);
	TM_CHECK_EQ_U64(parse("POST /x HTTP/1.1\r\n\r\n", m, p), (uint64_t)-ENOSYS);
	TM_CHECK_EQ_U64(parse("VERYLONGMETHODNAME_X /x HTTP/1.1\r\n\r\n", m, p), (uint64_t)-ENOSYS);
	TM_CHECK_EQ_U64(parse("GET metrics HTTP/1.1\r\n\r\n", m, p), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET /metrics\r\n\r\n", m, p), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET /a\tb HTTP/1.1\r\n\r\n", m, p), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse(" /x HTTP/1.1\r\n\r\n", m, p), (uint64_t)-EINVAL);
	TM_CHECK_EQ_U64(parse("GET /xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx HTTP/1.1\r\n\r\n",
			      m, p), (uint64_t)-EINVAL);
	{
		char big[TM_HTTP_MAX_REQUEST];

		memset(big, 'a', sizeof(big));
		TM_CHECK_EQ_U64(tm_http__parse_request(big, sizeof(big), m, 16, p, 64), (uint64_t)-EINVAL);
	}
	return tm_test_done("test_http");
}
