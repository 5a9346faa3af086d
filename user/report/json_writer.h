/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * json_writer.h: the one JSON writer of every output that carries JSON:
 * the JSON report (and so the post-mortems and the daemon's /report), and
 * the data of the flame graph page.
 *
 * Strings come from the traced program and from capture files that anyone
 * can write, and the same JSON is served over HTTP and embedded in a
 * <script> element, so one escaping serves every place:
 *   '"' '\\' and \b \f \n \r \t   their two-character escapes (RFC 8259)
 *   other control bytes, DEL      \u00XX
 *   '<' '>' '&'                   \u003c \u003e \u0026: no "</script>" or
 *                                 "<!--" can end or bend a script element
 *   U+2028, U+2029                \u2028 \u2029 (line ends to JavaScript)
 *   bytes that are not UTF-8      \ufffd, one per byte
 * Everything else, non-ASCII included, is written as it is.
 */
#ifndef TIDEMARK_JSON_WRITER_H
#define TIDEMARK_JSON_WRITER_H

#include <stdio.h>

#include "profile/profile.h"

/* s as a JSON string, escaped as above; NULL as null. */
void tm_json__str(FILE *out, const char *s);

/*
 * The members that describe the process and what was counted, the same in
 * every JSON output, each on its own line after indent spaces and followed
 * by ",\n":
 *   "process"       pid, command, exit_code, signal, duration_ns, cgroup
 *   "oom"           null, or what the kernel counted at the OOM kill
 *   "totals"        peak_bytes, peak_time_ns, live_bytes_end, alloc_bytes,
 *                   alloc_count, free_count
 *   "end"           moment ("exit" or "finalization"): when the leaks view and
 *                   live_bytes_end were taken; time_ns (null at the exit);
 *                   live_bytes_exit
 *   "attach"        null for `run`; live_before_bytes (resident anonymous memory
 *                   at the attach), freed_before_attach (blocks from before it)
 *   "sample_bytes"  0 = every allocation recorded; N = --sample-bytes N, estimates
 *   "mode"          {"name": exact|sampled|lite, "sees": ..., "cannot_see": ... or null}
 *   "dropped", "stats"  every counter by name
 */
void tm_json__profile_header(FILE *out, const struct tm_profile *p, int indent);

#endif /* TIDEMARK_JSON_WRITER_H */
