/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz_capture.c: libFuzzer target for the capture reader.
 *
 * The checksum stops almost every mutation of a whole file at the header,
 * so the first input byte picks what the rest is:
 *   even  a capture file, as read from disk: header, checksum and zlib
 *   odd   a payload: wrapped here in a valid header and checksum, so the
 *         mutations reach the payload decoder
 * Whatever is accepted is then rendered (both reports) and written back:
 * a profile the reader lets through must be safe to use everywhere.
 *
 * Built and run by `make fuzz` (tests/fuzz/run.sh), linked with libtidemark.a.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile/capture.h"
#include "util/log.h"
#include "profile/profile.h"
#include "report/report.h"

static void exercise(const struct tm_profile *p)
{
	struct tm_report_opts o = { .view = TM_VIEW_PEAK, .top_n = 5 };
	struct tm_profile *q = NULL;
	void *buf = NULL;
	size_t len = 0;
	char err[256];
	FILE *null;

	null = fopen("/dev/null", "w");
	if (null) {
		tm_report__text(p, null, &o);
		o.view = TM_VIEW_LEAKS;
		o.flags = TM_REPORT_PYTHON_ONLY;
		tm_report__text(p, null, &o);
		tm_report__json(p, null, &o);
		fclose(null);
	}
	/* What was read must write back and read again. */
	if (tm_capture__write_mem(p, &buf, &len))
		abort();
	if (tm_capture__read_mem(buf, len, "rewritten", &q, err, sizeof(err)))
		abort();
	tm_profile__free(q);
	free(buf);
}

static unsigned char *wrap_payload(const uint8_t *data, size_t size, size_t *out_len)
{
	uLongf clen = compressBound(size);
	unsigned char *file = malloc(TM_CAPTURE_HEADER_SIZE + clen);
	uint32_t crc;
	int i;

	if (!file)
		return NULL;
	if (compress2(file + TM_CAPTURE_HEADER_SIZE, &clen, data, size, 1) != Z_OK) {
		free(file);
		return NULL;
	}
	memcpy(file, TM_CAPTURE_MAGIC, 8);
	memset(file + 8, 0, 24);
	file[8] = TM_CAPTURE_VERSION;
	for (i = 0; i < 8; i++)
		file[16 + i] = (unsigned char)((uint64_t)size >> (8 * i));
	crc = (uint32_t)crc32(0, file + TM_CAPTURE_HEADER_SIZE, (uInt)clen);
	for (i = 0; i < 4; i++)
		file[24 + i] = (unsigned char)(crc >> (8 * i));
	*out_len = TM_CAPTURE_HEADER_SIZE + clen;
	return file;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tm_profile *p = NULL;
	unsigned char *file = NULL;
	char err[256];
	size_t len;
	int ret;

	tm_log_level = -1;
	if (!size)
		return 0;
	if (data[0] & 1) {
		file = wrap_payload(data + 1, size - 1, &len);
		if (!file)
			return 0;
		ret = tm_capture__read_mem(file, len, "fuzz", &p, err, sizeof(err));
	} else {
		ret = tm_capture__read_mem(data + 1, size - 1, "fuzz", &p, err, sizeof(err));
	}
	/* Errors must say why; success must give a profile. */
	if (ret && (p || !err[0]))
		abort();
	if (!ret) {
		if (!p)
			abort();
		exercise(p);
	}
	tm_profile__free(p);
	free(file);
	return 0;
}
