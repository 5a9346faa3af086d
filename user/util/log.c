/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* log.c: the pr_warn/pr_info/pr_debug layer (see log.h): one level, one stream, stderr. */
#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

int tm_log_level = TM_LOG_INFO;
int tm_log_status_line;

void tm_log(enum tm_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > tm_log_level)
		return;
	if (tm_log_status_line) {
		fputs("\r\033[K", stderr); /* carriage return, erase to the end of the line */
		tm_log_status_line = 0;
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void tm_log_verbose(void)
{
	tm_log_level = tm_log_level < TM_LOG_DEBUG ? TM_LOG_DEBUG : TM_LOG_LIBBPF;
}
