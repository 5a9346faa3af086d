/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz_http: libFuzzer target for tm_http__parse_request, the parser of what
 * any local client sends the daemon, and tm_http__token_equal, the check of
 * its bearer token. Beyond "no crash": an accepted request is GET or HEAD
 * with a path that starts with '/', NUL-terminated within its buffer and
 * free of the query string, and a bearer token that is NUL-terminated and
 * free of spaces; nothing else than the four documented results comes back;
 * the token compare agrees with memcmp.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char want[] = "0123456789abcdef0123";
	struct tm_http_req req;
	char *buf;
	int r;

	if (size > TM_HTTP_MAX_REQUEST)
		size = TM_HTTP_MAX_REQUEST;
	/* An exact-size heap copy: ASan sees any read past the end. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	r = tm_http__parse_request(buf, size, &req);
	if (r != 0 && r != -EAGAIN && r != -EINVAL && r != -ENOSYS)
		abort();
	if (!r) {
		if ((strcmp(req.method, "GET") && strcmp(req.method, "HEAD")) ||
		    !memchr(req.path, 0, sizeof(req.path)) || req.path[0] != '/' || strchr(req.path, '?') ||
		    !memchr(req.bearer, 0, sizeof(req.bearer)) || strchr(req.bearer, ' '))
			abort();
	}
	if (tm_http__token_equal(buf, size, want, sizeof(want) - 1) !=
	    (size == sizeof(want) - 1 && !memcmp(buf, want, size)))
		abort();
	free(buf);
	return 0;
}
