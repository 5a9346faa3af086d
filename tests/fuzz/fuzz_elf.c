/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz_elf: libFuzzer target for target/elf.c, the one ELF reader, which
 * opens files a traced process maps: anything its owner can write. The input
 * is the file, in a memfd: tm_elf__info() (program headers, dynamic section,
 * notes, section names), symbol lookups of both kinds with and without a
 * version, file offsets and load biases.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/elf.h"

static void lookups(const struct tm_elf *e)
{
	static const char *const names[] = { "malloc", "malloc@@GLIBC_2.2.5", "_PyRuntime", "main", "x@" };
	uint64_t v, sz, off, bias;
	bool ifunc;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!tm_elf__lookup(e, names[i], TM_ELF_SYM_FUNC, &v, &sz, &ifunc))
			tm_elf__vaddr_to_off(e, v, &off);
		tm_elf__lookup(e, names[i], TM_ELF_SYM_DATA | TM_ELF_SYM_FUNC, &v, NULL, NULL);
	}
	if (e->nr_loads) {
		tm_elf__load_bias(e, 0x7f0000000000ull, e->loads[0].offset, &bias);
		tm_elf__load_bias(e, 0x1000, 0x2000, &bias);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tm_elf_info info;
	struct tm_elf e;
	char path[64];
	uint64_t off;
	int fd;

	fd = memfd_create("fuzz_elf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (!tm_elf__info(path, &info))
		tm_elf_info__free(&info);
	tm_elf__find_symbol(path, "malloc", &off, NULL, NULL);
	if (!tm_elf__open(path, &e)) {
		lookups(&e);
		tm_elf__close(&e);
	}
	close(fd);
	return 0;
}
