/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* log.h: diagnostics go to stderr through these; stdout carries data only. */
#ifndef TIDEMARK_LOG_H
#define TIDEMARK_LOG_H

/* DEBUG is tidemark's own detail (-v); LIBBPF adds libbpf's log and the verifier's (-vv). */
enum tm_log_level { TM_LOG_WARN, TM_LOG_INFO, TM_LOG_DEBUG, TM_LOG_LIBBPF };

extern int tm_log_level;   /* TM_LOG_INFO by default; -v raises it, -q lowers it */

/* A status line is on stderr (report/progress.h): the next message wipes it first. */
extern int tm_log_status_line;

/* One -v: from below DEBUG to DEBUG, from DEBUG to LIBBPF. */
void tm_log_verbose(void);

void tm_log(enum tm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_warn(...)  tm_log(TM_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  tm_log(TM_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) tm_log(TM_LOG_DEBUG, __VA_ARGS__)

#endif
