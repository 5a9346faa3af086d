/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz_http: libFuzzer target for tm_http__parse_request, the parser of what
 * any local client sends the daemon. Beyond "no crash": an accepted request
 * is GET or HEAD with a path that starts with '/', NUL-terminated within its
 * buffer and free of the query string; nothing else than the four
 * documented results comes back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char method[8], path[TM_HTTP_MAX_PATH], *buf;
	int r;

	if (size > TM_HTTP_MAX_REQUEST)
		size = TM_HTTP_MAX_REQUEST;
	/* An exact-size heap copy: ASan sees any read past the end. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	r = tm_http__parse_request(buf, size, method, sizeof(method), path, sizeof(path));
	if (r != 0 && r != -EAGAIN && r != -EINVAL && r != -ENOSYS)
		abort();
	if (!r) {
		if ((strcmp(method, "GET") && strcmp(method, "HEAD")) || !memchr(path, 0, sizeof(path)) ||
		    path[0] != '/' || strchr(path, '?'))
			abort();
	}
	free(buf);
	return 0;
}
