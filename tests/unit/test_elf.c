/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * test_elf: ELF lookups checked against what the dynamic loader itself says
 * about this very process: dlsym() addresses minus the load base that
 * dl_iterate_phdr() reports, file offsets derived from the in-memory program
 * headers, code bytes compared with the bytes mapped in memory, build IDs
 * and PT_INTERP read from the mapped notes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/elf.h"
#include "tm_test.h"

struct obj {
	char path[4096];
	uintptr_t base;
	const ElfW(Phdr) *phdr;
	size_t phnum;
	bool found;
};

static struct obj libc_obj, main_obj;

static int find_objs(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *base = strrchr(info->dlpi_name, '/');
	struct obj *o = NULL;

	(void)size;
	(void)data;
	base = base ? base + 1 : info->dlpi_name;
	if (!main_obj.found && !info->dlpi_name[0])
		o = &main_obj;  /* the first object, unnamed, is the executable */
	else if (!libc_obj.found && !strncmp(base, "libc.so", 7))
		o = &libc_obj;
	if (!o)
		return 0;
	snprintf(o->path, sizeof(o->path), "%s", info->dlpi_name);
	o->base = info->dlpi_addr;
	o->phdr = info->dlpi_phdr;
	o->phnum = info->dlpi_phnum;
	o->found = true;
	return 0;
}

/* The file offset of a link-time address, computed from the mapped program headers. */
static uint64_t expected_off(const struct obj *o, uint64_t vaddr)
{
	size_t i;

	for (i = 0; i < o->phnum; i++) {
		const ElfW(Phdr) *ph = &o->phdr[i];

		if (ph->p_type == PT_LOAD && vaddr >= ph->p_vaddr &&
		    vaddr < ph->p_vaddr + ph->p_filesz)
			return vaddr - ph->p_vaddr + ph->p_offset;
	}
	return UINT64_MAX;
}

/* The GNU build ID from the mapped PT_NOTE segments; returns its length. */
static size_t mapped_build_id(const struct obj *o, const uint8_t **id)
{
	size_t i;

	for (i = 0; i < o->phnum; i++) {
		const ElfW(Phdr) *ph = &o->phdr[i];
		const char *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const char *)(o->base + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const void *)p;
			size_t align = ph->p_align == 8 ? 8 : 4;
			size_t nsz = (nh->n_namesz + align - 1) & ~(align - 1);
			size_t dsz = (nh->n_descsz + align - 1) & ~(align - 1);
			const char *name = p + sizeof(*nh);

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4)) {
				*id = (const uint8_t *)name + nsz;
				return nh->n_descsz;
			}
			p += sizeof(*nh) + nsz + dsz;
		}
	}
	return 0;
}

static const char *mapped_interp(const struct obj *o)
{
	size_t i;

	for (i = 0; i < o->phnum; i++) {
		if (o->phdr[i].p_type == PT_INTERP)
			return (const char *)(o->base + o->phdr[i].p_vaddr);
	}
	return NULL;
}

/* Check one libc function against dlsym. */
static void check_libc_func(void *libc, const char *name, const char *version)
{
	char query[128];
	uint64_t off = 0, vaddr = 0, size = 0;
	uint8_t code[16];
	void *p;
	int err;

	if (version) {
		p = dlvsym(libc, name, version);
		snprintf(query, sizeof(query), "%s@%s", name, version);
	} else {
		p = dlsym(libc, name);
		snprintf(query, sizeof(query), "%s", name);
	}
	TM_CHECK(p != NULL);
	if (!p)
		return;
	err = tm_elf__find_symbol(libc_obj.path, query, &off, &vaddr, &size);
	TM_CHECK_EQ_U64(err, 0);
	if (err) {
		fprintf(stderr, "  symbol %s\n", query);
		return;
	}
	TM_CHECK_EQ_U64(vaddr, (uintptr_t)p - libc_obj.base);
	TM_CHECK_EQ_U64(off, expected_off(&libc_obj, vaddr));
	TM_CHECK(size > 0);
	/* the bytes at the file offset are the code that runs */
	TM_CHECK_EQ_U64(tm_elf__read_code(libc_obj.path, off, code, sizeof(code)), 0);
	TM_CHECK(!memcmp(code, p, sizeof(code)));
}

static __attribute__((noinline, used)) int elf_test_marker(int x)
{
	return x * 3 + 1;
}

static void test_libc_symbols(void)
{
	static const char *const funcs[] = {
		"malloc", "free", "calloc", "realloc", "aligned_alloc", "reallocarray",
		"posix_memalign", "memalign", "valloc",
	};
	uint64_t off, vaddr, size, off2, vaddr2;
	const char *lp = libc_obj.path;
	void *libc;
	size_t i;

	libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	TM_CHECK(libc != NULL);
	if (!libc)
		return;
	for (i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		check_libc_func(libc, funcs[i], NULL);

	/* two versions at two addresses: bare name is the default one */
	check_libc_func(libc, "pthread_cond_wait", NULL);
	check_libc_func(libc, "pthread_cond_wait", "GLIBC_2.2.5");
	check_libc_func(libc, "pthread_cond_wait", "GLIBC_2.3.2");
	TM_CHECK_EQ_U64(tm_elf__find_symbol(lp, "pthread_cond_wait", NULL, &vaddr, NULL), 0);
	TM_CHECK_EQ_U64(tm_elf__find_symbol(lp, "pthread_cond_wait@GLIBC_2.2.5", NULL,
					    &vaddr2, NULL), 0);
	TM_CHECK(vaddr != vaddr2);

	/* "@@" spelling, unknown version, no symbol, not a function */
	TM_CHECK_EQ_U64(tm_elf__find_symbol(lp, "malloc", &off, &vaddr, &size), 0);
	TM_CHECK_EQ_U64(tm_elf__find_symbol(lp, "malloc@@GLIBC_2.2.5", &off2, &vaddr2, NULL), 0);
	TM_CHECK_EQ_U64(off2, off);
	TM_CHECK_EQ_U64(vaddr2, vaddr);
	TM_CHECK_EQ_U64(tm_elf__find_symbol(lp, "malloc@GLIBC_9.99", &off, NULL, NULL), -ENOENT);
	TM_CHECK_EQ_U64(tm_elf__find_symbol(lp, "tm_no_such_function", &off, NULL, NULL),
			-ENOENT);
	TM_CHECK_EQ_U64(tm_elf__find_symbol(lp, "environ", &off, NULL, NULL), -ENOENT);
	TM_CHECK_EQ_U64(tm_elf__find_symbol(lp, "mall", &off, NULL, NULL), -ENOENT);

	/*
	 * memcpy's default version is an indirect function; the older plain
	 * memcpy@GLIBC_2.2.5 must not be handed out in its place.
	 */
	TM_CHECK_EQ_U64(tm_elf__find_symbol(lp, "memcpy", &off, NULL, NULL), -ENOTSUP);
	check_libc_func(libc, "memcpy", "GLIBC_2.2.5");
	dlclose(libc);
}

static void test_self(void)
{
	uint64_t off, vaddr, size, want;
	struct tm_elf_info info;
	const uint8_t *id = NULL;
	const ElfW(Ehdr) *eh = NULL;
	const char *interp;
	uint8_t code[8];
	size_t i, idlen;
	bool has_libc = false;
	int err;

	/* a local symbol: only in .symtab */
	err = tm_elf__find_symbol("/proc/self/exe", "elf_test_marker", &off, &vaddr, &size);
	TM_CHECK_EQ_U64(err, 0);
	want = (uintptr_t)elf_test_marker - main_obj.base;
	TM_CHECK_EQ_U64(vaddr, want);
	TM_CHECK_EQ_U64(off, expected_off(&main_obj, want));
	TM_CHECK(size > 0);
	TM_CHECK_EQ_U64(tm_elf__read_code("/proc/self/exe", off, code, sizeof(code)), 0);
	TM_CHECK(!memcmp(code, (const void *)(uintptr_t)elf_test_marker, sizeof(code)));
	TM_CHECK_EQ_U64(elf_test_marker(1), 4);

	err = tm_elf__info("/proc/self/exe", &info);
	TM_CHECK_EQ_U64(err, 0);
	if (err)
		return;
	for (i = 0; i < main_obj.phnum; i++) {
		const ElfW(Phdr) *ph = &main_obj.phdr[i];

		if (ph->p_type == PT_LOAD && ph->p_offset == 0) {
			eh = (const void *)(main_obj.base + ph->p_vaddr);
			break;
		}
	}
	TM_CHECK(eh != NULL);
	if (eh)
		TM_CHECK_EQ_U64(info.type, eh->e_type);
	TM_CHECK_EQ_U64(info.machine, EM_X86_64);
	TM_CHECK_EQ_U64(info.elf_class, ELFCLASS64);
	interp = mapped_interp(&main_obj);
	TM_CHECK(interp != NULL);
	TM_CHECK(info.has_interp);
	if (interp)
		TM_CHECK_STR(info.interp, interp);
	TM_CHECK(info.needs_libc);
	for (i = 0; i < info.nr_needed; i++)
		has_libc |= !strcmp(info.needed[i], "libc.so.6");
	TM_CHECK(has_libc);
	TM_CHECK(info.has_symtab);
	TM_CHECK(info.has_dynsym);
	TM_CHECK(info.has_debug_info);  /* unit tests are built with -g */
	idlen = mapped_build_id(&main_obj, &id);
	TM_CHECK_EQ_U64(info.build_id_len, idlen);
	if (idlen && info.build_id_len == idlen)
		TM_CHECK(!memcmp(info.build_id, id, idlen));
	tm_elf_info__free(&info);
	TM_CHECK_EQ_U64(info.nr_needed, 0);
	tm_elf_info__free(NULL);
}

static void test_libc_info(void)
{
	struct tm_elf_info info;
	const uint8_t *id = NULL;
	bool has_ld = false;
	size_t i, idlen;
	int err;

	err = tm_elf__info(libc_obj.path, &info);
	TM_CHECK_EQ_U64(err, 0);
	if (err)
		return;
	TM_CHECK_EQ_U64(info.type, ET_DYN);
	TM_CHECK(info.has_dynsym);
	TM_CHECK(!info.needs_libc);
	for (i = 0; i < info.nr_needed; i++)
		has_ld |= !strncmp(info.needed[i], "ld-linux", 8);
	TM_CHECK(has_ld);
	idlen = mapped_build_id(&libc_obj, &id);
	TM_CHECK(idlen > 0);
	TM_CHECK_EQ_U64(info.build_id_len, idlen);
	if (idlen && info.build_id_len == idlen)
		TM_CHECK(!memcmp(info.build_id, id, idlen));
	tm_elf_info__free(&info);
}

static void test_errors(void)
{
	char tmp[] = "/tmp/tm_test_elf_XXXXXX";
	struct tm_elf_info info;
	uint64_t off;
	uint8_t buf[64];
	int fd;

	TM_CHECK_EQ_U64(tm_elf__find_symbol("/nonexistent/tm", "malloc", &off, NULL, NULL),
			-ENOENT);
	TM_CHECK_EQ_U64(tm_elf__info("/nonexistent/tm", &info), -ENOENT);
	TM_CHECK_EQ_U64(tm_elf__read_code("/nonexistent/tm", 0, buf, 4), -ENOENT);
	TM_CHECK_EQ_U64(tm_elf__find_symbol(libc_obj.path, "", &off, NULL, NULL), -EINVAL);

	fd = mkstemp(tmp);
	TM_CHECK(fd >= 0);
	if (fd < 0)
		return;
	TM_CHECK(write(fd, "not an ELF file, just text\n", 27) == 27);
	close(fd);
	TM_CHECK_EQ_U64(tm_elf__find_symbol(tmp, "malloc", &off, NULL, NULL), -ENOEXEC);
	TM_CHECK_EQ_U64(tm_elf__info(tmp, &info), -ENOEXEC);
	TM_CHECK_EQ_U64(tm_elf__read_code(tmp, 0, buf, 27), 0);
	TM_CHECK(!memcmp(buf, "not an ELF", 10));
	TM_CHECK_EQ_U64(tm_elf__read_code(tmp, 20, buf, 8), -EIO);
	unlink(tmp);
}

/* DT_NEEDED resolution: this test's own libc, as the loader found it; search lists in a temp dir. */
static void test_find_needed(void)
{
	char dir[] = "/tmp/tm_test_elf.XXXXXX", path[256], lib[256], want[4096], got[4096], real[4096];
	FILE *f;

	/* The test binary needs libc.so.6 and the loader found it where dl_iterate_phdr says. */
	TM_CHECK_EQ_U64(tm_elf__find_needed("/proc/self/exe", "libc.so", got, sizeof(got)), 0);
	TM_CHECK(realpath(got, real) && realpath(libc_obj.path, want) && !strcmp(real, want));
	TM_CHECK_EQ_U64(tm_elf__find_needed("/proc/self/exe", "libnothing", got, sizeof(got)), -ENOENT);
	TM_CHECK_EQ_U64(tm_elf__find_needed("/proc/self/exe", "libc.so", got, 4), -ENAMETOOLONG);

	if (!mkdtemp(dir)) {
		TM_CHECK(!"mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/lib", dir);
	TM_CHECK(mkdir(path, 0700) == 0);
	snprintf(lib, sizeof(lib), "%s/lib/libpython3.99.so.1.0", dir);
	f = fopen(lib, "w");
	TM_CHECK(f != NULL);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/bin", dir);
	TM_CHECK(mkdir(path, 0700) == 0);

	/* $ORIGIN and ${ORIGIN}, after entries that do not have it */
	TM_CHECK_EQ_U64(tm_elf__search_dirs("/nonexistent:$ORIGIN/../lib", path, "libpython3.99.so.1.0", got,
					    sizeof(got)), 0);
	snprintf(want, sizeof(want), "%s/../lib/libpython3.99.so.1.0", path);
	TM_CHECK_STR(got, want);
	TM_CHECK_EQ_U64(tm_elf__search_dirs("${ORIGIN}/../lib", path, "libpython3.99.so.1.0", got, sizeof(got)),
			0);
	TM_CHECK_STR(got, want);
	/* $LIB and $PLATFORM are not expanded: the entry is skipped */
	snprintf(want, sizeof(want), "%s/$LIB", dir);
	TM_CHECK_EQ_U64(tm_elf__search_dirs(want, path, "libpython3.99.so.1.0", got, sizeof(got)), -ENOENT);
	/* without an origin, $ORIGIN cannot be used either */
	TM_CHECK_EQ_U64(tm_elf__search_dirs("$ORIGIN/../lib", NULL, "libpython3.99.so.1.0", got, sizeof(got)),
			-ENOENT);
	/* a directory is not a library */
	TM_CHECK_EQ_U64(tm_elf__search_dirs(dir, NULL, "lib", got, sizeof(got)), -ENOENT);
	TM_CHECK_EQ_U64(tm_elf__search_dirs("", NULL, "x", got, sizeof(got)), -ENOENT);
	TM_CHECK_EQ_U64(tm_elf__search_dirs(NULL, NULL, "x", got, sizeof(got)), -EINVAL);

	unlink(lib);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/lib", dir);
	rmdir(path);
	rmdir(dir);
}

int main(void)
{
	dl_iterate_phdr(find_objs, NULL);
	TM_CHECK(main_obj.found);
	TM_CHECK(libc_obj.found);
	if (!main_obj.found || !libc_obj.found)
		return tm_test_done("test_elf");

	test_libc_symbols();
	test_self();
	test_libc_info();
	test_errors();
	test_find_needed();
	return tm_test_done("test_elf");
}
