/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * symbolize.c: the native symbolizer.
 *
 * Per address: a binary search in the memory map, a hash lookup for the
 * module, a walk over its few PT_LOAD headers for the load bias, a binary
 * search in its symbol table and, when it has DWARF, one libdwfl line
 * lookup (libdw caches each CU's line table after the first). Everything
 * expensive happens once per module, on the first address that needs it,
 * and the answer once per distinct address: a cache keyed by module and
 * link-time address serves the repeats (a profile's stacks share frames).
 *
 * libdwfl finds an address's compile unit through .debug_aranges, which
 * clang does not emit unless asked (-gdwarf-aranges). When that lookup
 * misses, a table of every CU's address ranges, built once per module from
 * the CU DIEs themselves, finds it instead.
 *
 * Load bias. A mapping maps file offset e->offset at e->start. The PT_LOAD
 * segment holding that offset says which link-time address the offset has
 * (p_vaddr - p_offset apart), so
 *     bias = e->start - e->offset - (p_vaddr - p_offset)
 * which is 0 for a non-PIE executable and the load base for PIE and shared
 * libraries. It is computed per mapping, not per module: in a merged map the
 * same library may have been loaded at two places over time.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>

#include "util/log.h"
#include "target/maps.h"
#include "target/elf.h"
#include "target/symbolize.h"
#include "util/hash.h"
#include "util/heap.h"

/* How far back to look for a symbol (or CU range) that encloses a nested one. */
#define ENCLOSING_WALK 16

struct sym_ent {
	uint64_t addr;
	uint64_t size;
	const char *name;
	uint32_t rank;          /* lower is preferred among aliases */
};

struct cu_range {
	uint64_t lo;            /* [lo, hi), DWARF addresses */
	uint64_t hi;
	Dwarf_Die cu;
};

struct module {
	struct module *next;    /* hash chain */
	uint64_t dev;
	uint64_t ino;           /* 0: keyed by name */
	char *name;             /* the mapping's path, as reported */
	int err;                /* 0: usable; -errno: unreadable (cached) */
	bool opened;
	bool has_symtab;
	struct tm_elf file;     /* open once opened: fd, libelf handle, PT_LOADs */
	char *open_path;
	struct sym_ent *syms;
	size_t nr_syms;
	bool dw_tried;
	Dwfl *dwfl;
	Dwfl_Module *dwmod;
	GElf_Addr dwbias;       /* libdwfl address = link-time vaddr + dwbias */
	bool cus_built;
	Dwarf *dw;
	Dwarf_Addr dw_cu_bias;  /* libdwfl address = DWARF address + dw_cu_bias */
	struct cu_range *cus;
	size_t nr_cus;
};

/*
 * What an address resolved to, kept per (module, link-time address looked
 * up): a profile's frames repeat the same few thousand return addresses, and
 * a lookup in a module without .symtab (Debian's libc) walks its symbols
 * through libdwfl every time. The strings belong to the module.
 */
struct addr_ent {
	const struct module *mod; /* NULL: a free slot */
	uint64_t vlook;
	const char *function;
	uint64_t fn_off; /* vlook - the function's start */
	const char *file;
	uint32_t line;
};

/*
 * Modules read ahead in a thread (tm_symbolizer__prefetch), not yet in the
 * cache: the first lookup in one of them waits for the thread and adopts it.
 * Only the thread writes mods[] until it is joined; a forked child (the
 * detached teardown) has no such thread and leaves them alone.
 */
struct prefetch {
	pthread_t thread;
	pid_t owner; /* the process that started the thread; 0: none started */
	bool joined;
	char **paths;
	struct module **mods; /* by path; NULL once adopted (or never opened) */
	size_t n;
};

struct tm_symbolizer {
	struct prefetch pf;
	struct module **buckets;
	size_t nr_buckets;
	size_t nr_modules;
	struct module *last;    /* consecutive frames often share a module */
	uint64_t page_size;
	struct addr_ent *addrs; /* open addressing, at most half full */
	size_t nr_addrs, cap_addrs;
};

/* Where separate debug files are installed: by build ID, or by path (Debian's *-dbg, *-dbgsym). */
#define DEBUG_ROOT "/usr/lib/debug"

/* Open @path if it is a regular file; -1 otherwise. */
static int open_debug_file(const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The CRC-32 of the whole file @fd (what .gnu_debuglink records), or -errno. */
static int file_crc32(int fd, uint32_t *crc)
{
	unsigned char buf[65536];
	uLong c = crc32(0, Z_NULL, 0);
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		c = crc32(c, buf, (uInt)n);
		off += n;
	}
	if (n < 0)
		return -errno;
	*crc = (uint32_t)c;
	return 0;
}

/*
 * libdwfl's find_debuginfo, local files only. The standard one ends at
 * debuginfod: it dlopens libdebuginfod (and with it libcurl, gnutls,
 * kerberos, ldap: ~25 libraries, measured 10-20 ms here) whenever a module
 * has no local debug file, and queries the network when DEBUGINFOD_URLS is
 * set. A root tool does neither. Looked at, in libdwfl's own order:
 * /usr/lib/debug/.build-id/xx/yyyy.debug, then the .gnu_debuglink name
 * next to the file, in its .debug/ and under /usr/lib/debug/DIR/; a
 * debuglink candidate counts only when its CRC matches. @modname is the
 * path the process mapped, @file_name the one the file was opened by.
 */
static int find_local_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
				const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
				char **debuginfo_file_name)
{
	char path[PATH_MAX], dir[2][PATH_MAX] = { "", "" };
	const unsigned char *id;
	GElf_Addr id_vaddr;
	const char *slash;
	int n, fd, i, k;

	(void)userdata;
	(void)base;
	n = dwfl_module_build_id(mod, &id, &id_vaddr);
	if (n > 1) {
		int len = snprintf(path, sizeof(path), DEBUG_ROOT "/.build-id/%02x/", id[0]);

		for (i = 1; i < n && len > 0 && len < (int)sizeof(path) - 8; i++)
			len += snprintf(path + len, sizeof(path) - len, "%02x", id[i]);
		if (len > 0 && len < (int)sizeof(path) - 8) {
			snprintf(path + len, sizeof(path) - len, ".debug");
			fd = open_debug_file(path);
			if (fd >= 0) {
				*debuginfo_file_name = strdup(path);
				return fd;
			}
		}
	}
	if (!debuglink_file || !*debuglink_file || strchr(debuglink_file, '/'))
		goto none;
	/*
	 * Next to the file as opened (/proc/PID/root/... for a container's), and
	 * as the process mapped it: a file reached through /proc/PID/map_files
	 * (overlayfs before 6.6 shows another device in maps) has no directory.
	 */
	for (k = 0; k < 2; k++) {
		static const char *const fmt[] = { "%s/%s", "%s/.debug/%s", DEBUG_ROOT "%s/%s" };
		const char *of = k ? modname : file_name;

		if (!of || of[0] != '/' || !(slash = strrchr(of, '/')) || slash - of >= (ptrdiff_t)sizeof(dir[k]))
			continue;
		snprintf(dir[k], sizeof(dir[k]), "%.*s", (int)(slash - of), of);
		if (k && !strcmp(dir[1], dir[0]))
			continue; /* looked at already */
		for (i = 0; i < 3; i++) {
			uint32_t crc = 0;

			if (snprintf(path, sizeof(path), fmt[i], dir[k], debuglink_file) >= (int)sizeof(path))
				continue;
			fd = open_debug_file(path);
			if (fd < 0)
				continue;
			/* the name alone may be the stripped file itself, or another build's */
			if (!file_crc32(fd, &crc) && crc == debuglink_crc) {
				*debuginfo_file_name = strdup(path);
				return fd;
			}
			close(fd);
		}
	}
none:
	errno = ENOENT;
	return -1;
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = find_local_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* A file is its (dev, inode); a file without an inode (a pseudo-path) its name. */
static uint64_t key_hash(uint64_t dev, uint64_t ino, const char *name)
{
	uint64_t h = TM_HASH_INIT;

	if (ino) {
		h = tm_hash(h, &dev, sizeof(dev));
		return tm_hash(h, &ino, sizeof(ino));
	}
	return tm_hash_str(h, name);
}

static bool key_match(const struct module *mod, uint64_t dev, uint64_t ino, const char *name)
{
	if (ino || mod->ino)
		return mod->ino == ino && mod->dev == dev;
	return !strcmp(mod->name, name);
}

struct tm_symbolizer *tm_symbolizer__new(void)
{
	struct tm_symbolizer *s;
	long ps;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = ENOSYS;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->nr_buckets = 64;
	s->buckets = calloc(s->nr_buckets, sizeof(*s->buckets));
	if (!s->buckets) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	ps = sysconf(_SC_PAGESIZE);
	s->page_size = ps > 0 ? (uint64_t)ps : 4096;
	return s;
}

static void module_free(struct module *mod)
{
	if (mod->dwfl)
		dwfl_end(mod->dwfl);
	tm_elf__close(&mod->file);
	free(mod->cus);
	free(mod->syms);
	free(mod->open_path);
	free(mod->name);
	free(mod);
}

static void prefetch_join(struct tm_symbolizer *s)
{
	if (!s->pf.owner || s->pf.joined || s->pf.owner != getpid())
		return;
	pthread_join(s->pf.thread, NULL);
	s->pf.joined = true;
}

void tm_symbolizer__free(struct tm_symbolizer *s)
{
	size_t i;

	if (!s)
		return;
	prefetch_join(s);
	for (i = 0; i < s->pf.n; i++) {
		/* not joined (a forked child): the thread's half-made modules are not ours to free */
		if (s->pf.joined && s->pf.mods[i])
			module_free(s->pf.mods[i]);
		free(s->pf.paths[i]);
	}
	free(s->pf.mods);
	free(s->pf.paths);
	for (i = 0; i < s->nr_buckets; i++) {
		struct module *mod = s->buckets[i], *next;

		for (; mod; mod = next) {
			next = mod->next;
			module_free(mod);
		}
	}
	free(s->buckets);
	free(s->addrs);
	free(s);
}

static size_t addr_slot(const struct addr_ent *tab, size_t cap, const struct module *mod, uint64_t vlook)
{
	uint64_t h = TM_HASH_INIT;
	size_t i;

	h = tm_hash(h, &mod, sizeof(mod));
	h = tm_hash(h, &vlook, sizeof(vlook));
	for (i = h & (cap - 1); tab[i].mod && (tab[i].mod != mod || tab[i].vlook != vlook); i = (i + 1) & (cap - 1))
		;
	return i;
}

static const struct addr_ent *addr_find(const struct tm_symbolizer *s, const struct module *mod, uint64_t vlook)
{
	const struct addr_ent *e;

	if (!s->cap_addrs)
		return NULL;
	e = &s->addrs[addr_slot(s->addrs, s->cap_addrs, mod, vlook)];
	return e->mod ? e : NULL;
}

/* Keep @ent; a failure to grow only costs the next lookup its speed. */
static void addr_add(struct tm_symbolizer *s, const struct addr_ent *ent)
{
	if (2 * (s->nr_addrs + 1) > s->cap_addrs) {
		size_t cap = s->cap_addrs ? 2 * s->cap_addrs : 1024, i;
		struct addr_ent *tab = calloc(cap, sizeof(*tab));

		if (!tab)
			return;
		for (i = 0; i < s->cap_addrs; i++)
			if (s->addrs[i].mod)
				tab[addr_slot(tab, cap, s->addrs[i].mod, s->addrs[i].vlook)] = s->addrs[i];
		free(s->addrs);
		s->addrs = tab;
		s->cap_addrs = cap;
	}
	s->addrs[addr_slot(s->addrs, s->cap_addrs, ent->mod, ent->vlook)] = *ent;
	s->nr_addrs++;
}

static int grow_buckets(struct tm_symbolizer *s)
{
	size_t n = s->nr_buckets * 2, i;
	struct module **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (i = 0; i < s->nr_buckets; i++) {
		struct module *mod = s->buckets[i], *next;

		for (; mod; mod = next) {
			size_t h = key_hash(mod->dev, mod->ino, mod->name) & (n - 1);

			next = mod->next;
			mod->next = b[h];
			b[h] = mod;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nr_buckets = n;
	return 0;
}

/* The cache entry for @e's file, created (unopened) on first sight. */
static struct module *module_get(struct tm_symbolizer *s, const struct tm_map_entry *e)
{
	uint64_t dev = makedev(e->dev_major, e->dev_minor), ino = e->inode;
	struct module *mod;
	size_t h;

	if (s->last && key_match(s->last, dev, ino, e->path))
		return s->last;
	h = key_hash(dev, ino, e->path) & (s->nr_buckets - 1);
	for (mod = s->buckets[h]; mod; mod = mod->next) {
		if (key_match(mod, dev, ino, e->path))
			return s->last = mod;
	}

	if (s->nr_modules >= s->nr_buckets * 2 && !grow_buckets(s))
		h = key_hash(dev, ino, e->path) & (s->nr_buckets - 1);
	mod = calloc(1, sizeof(*mod));
	if (!mod)
		return NULL;
	mod->file.fd = -1;
	mod->dev = dev;
	mod->ino = ino;
	mod->name = strdup(e->path);
	if (!mod->name) {
		free(mod);
		return NULL;
	}
	mod->next = s->buckets[h];
	s->buckets[h] = mod;
	s->nr_modules++;
	return s->last = mod;
}

/* Open @e's file as @pid maps it (tm_maps__entry_path checks that it is that file). */
static int module_open_fd(const struct tm_map_entry *e, pid_t pid, char **used)
{
	char path[4096];
	struct stat st;
	int fd, err;

	err = tm_maps__entry_path(pid, e, path, sizeof(path));
	if (err) {
		if (err == -ESTALE)
			pr_debug("symbolize: %s is no longer the file that was mapped\n", e->path);
		return err;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOEXEC;
	}
	*used = strdup(path);
	if (!*used) {
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym_ent *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Among aliases at one address, report a sized, global, default-version name
 * without leading underscores: "free", not "cfree@GLIBC_2.2.5" (an old
 * version) or "__libc_free".
 */
static uint32_t sym_rank(const GElf_Sym *sym, const char *name, bool hidden)
{
	uint32_t r = 0;

	if (!sym->st_size)
		r += 16;
	if (hidden || strchr(name, '@'))
		r += 8;
	if (name[0] == '_')
		r += 4;
	if (GELF_ST_BIND(sym->st_info) == STB_LOCAL)
		r += 2;
	else if (GELF_ST_BIND(sym->st_info) == STB_WEAK)
		r += 1;
	return r;
}

static int module_load_symbols(struct module *mod)
{
	Elf_Data *versym = NULL;
	Elf_Scn *scn = NULL;
	size_t cap = 0, i, out;

	/* .gnu.version parallels .dynsym: its high bit marks non-default versions */
	while ((scn = elf_nextscn(mod->file.elf, scn))) {
		GElf_Shdr shdr;

		if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_GNU_versym)
			versym = elf_getdata(scn, NULL);
	}
	while ((scn = elf_nextscn(mod->file.elf, scn))) {
		Elf_Data *data;
		GElf_Shdr shdr;
		size_t n;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		if (shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM)
			continue;
		if (shdr.sh_type == SHT_SYMTAB)
			mod->has_symtab = true;
		data = elf_getdata(scn, NULL);
		if (!data || !shdr.sh_entsize)
			continue;
		n = shdr.sh_size / shdr.sh_entsize;
		for (i = 0; i < n; i++) {
			bool hidden = false;
			const char *name;
			GElf_Versym vs;
			GElf_Sym sym;
			int type;

			if (!gelf_getsym(data, (int)i, &sym))
				break;
			type = GELF_ST_TYPE(sym.st_info);
			if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
			    sym.st_shndx == SHN_UNDEF || !sym.st_value)
				continue;
			name = elf_strptr(mod->file.elf, shdr.sh_link, sym.st_name);
			if (!name || !*name)
				continue;
			if (shdr.sh_type == SHT_DYNSYM && versym &&
			    gelf_getversym(versym, (int)i, &vs))
				hidden = vs & 0x8000;
			if (mod->nr_syms == cap) {
				struct sym_ent *v;

				cap = cap ? cap * 2 : 1024;
				v = realloc(mod->syms, cap * sizeof(*v));
				if (!v)
					return -ENOMEM;
				mod->syms = v;
			}
			mod->syms[mod->nr_syms++] = (struct sym_ent){
				.addr = sym.st_value,
				.size = sym.st_size,
				.name = name,
				.rank = sym_rank(&sym, name, hidden),
			};
		}
	}
	if (!mod->nr_syms)
		return 0;
	qsort(mod->syms, mod->nr_syms, sizeof(*mod->syms), sym_cmp);
	/* one name per address: the best ranked sorts first */
	for (i = 1, out = 1; i < mod->nr_syms; i++) {
		if (mod->syms[i].addr != mod->syms[out - 1].addr)
			mod->syms[out++] = mod->syms[i];
	}
	mod->nr_syms = out;
	return 0;
}

/*
 * If the prefetch thread read @mod's file, take what it made (waiting for
 * it to finish); true when @mod is open that way.
 */
static bool module_adopt(struct tm_symbolizer *s, struct module *mod)
{
	struct module *pm = NULL, *next = mod->next;
	char *name = mod->name;
	size_t i;

	if (!s->pf.n || !mod->ino)
		return false;
	for (i = 0; i < s->pf.n; i++) {
		/* the same file: mods[] is the thread's until joined, so ask paths[] first */
		struct stat st;

		if (!stat(s->pf.paths[i], &st) && st.st_ino == mod->ino && st.st_dev == mod->dev)
			break;
	}
	if (i == s->pf.n)
		return false;
	prefetch_join(s);
	if (!s->pf.joined)
		return false;
	pm = s->pf.mods[i];
	/* what the thread could not read is read again here, the usual way */
	if (!pm || pm->err || pm->ino != mod->ino || pm->dev != mod->dev)
		return false;
	s->pf.mods[i] = NULL;
	*mod = *pm;
	mod->next = next;
	mod->name = name;
	free(pm->name);
	free(pm);
	return true;
}

/* Open @mod's file and read its symbols (mod->err says how it went). */
static int module_read(struct module *mod, const struct tm_map_entry *e, pid_t pid)
{
	int err;

	mod->opened = true;
	if (e->path[0] != '/')
		return mod->err = -ENOENT;  /* [vdso], [heap], ...: nothing to open */

	err = module_open_fd(e, pid, &mod->open_path);
	if (err < 0)
		goto fail;
	err = tm_elf__open_fd(err, &mod->file);
	if (err)
		goto fail;
	if (!mod->file.nr_loads) {
		err = -ENOEXEC;
		goto fail;
	}
	err = module_load_symbols(mod);
	if (err)
		goto fail;
	return 0;

fail:
	pr_debug("symbolize: %s: %s\n", mod->name, strerror(-err));
	return mod->err = err;
}

static int module_open(struct tm_symbolizer *s, struct module *mod, const struct tm_map_entry *e, pid_t pid)
{
	if (module_adopt(s, mod))
		return mod->err;
	return module_read(mod, e, pid);
}

/* Lazily: only modules whose addresses need a line pay for libdwfl. */
static void module_open_dwfl(struct module *mod)
{
	Dwfl_Module *dm;
	GElf_Addr bias;
	int fd;

	mod->dw_tried = true;
	/*
	 * Hand libdwfl a duplicate of our descriptor rather than the path:
	 * reopening could race with the process's exit. A module that libdwfl
	 * accepts owns the descriptor (dwfl_end closes it); a refused one
	 * does not.
	 */
	fd = dup(mod->file.fd);
	if (fd < 0)
		return;
	mod->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!mod->dwfl) {
		close(fd);
		return;
	}
	dwfl_report_begin(mod->dwfl);
	/*
	 * Base 0 without p_vaddr: module addresses are link-time addresses
	 * (plus dwbias, which is 0 except for prelinked libraries).
	 */
	dm = dwfl_report_elf(mod->dwfl, mod->name, mod->open_path, fd, 0, false);
	dwfl_report_end(mod->dwfl, NULL, NULL);
	if (!dm)
		close(fd);
	if (!dm || !dwfl_module_getelf(dm, &bias)) {
		pr_debug("symbolize: %s: no line information: %s\n", mod->name, dwfl_errmsg(-1));
		dwfl_end(mod->dwfl);
		mod->dwfl = NULL;
		return;
	}
	mod->dwmod = dm;
	mod->dwbias = bias;
}

/* The thread of tm_symbolizer__prefetch: each file's symbols, and its DWARF wherever it is. */
static void *prefetch_main(void *arg)
{
	struct prefetch *pf = arg;
	size_t i;

	/* this thread's heap, for what libdw inflates: libc6-dbg's sections are 9.6 MB */
	tm_heap__populate(16u << 20);
	for (i = 0; i < pf->n; i++) {
		struct tm_map_entry e = { .path = pf->paths[i], .flags = TM_MAP_EXEC };
		struct module *mod;
		Dwarf_Addr bias;
		struct stat st;

		if (stat(pf->paths[i], &st))
			continue;
		e.dev_major = major(st.st_dev);
		e.dev_minor = minor(st.st_dev);
		e.inode = st.st_ino;
		mod = calloc(1, sizeof(*mod));
		if (!mod)
			break;
		mod->file.fd = -1;
		mod->dev = st.st_dev;
		mod->ino = st.st_ino;
		mod->name = strdup(pf->paths[i]);
		if (!mod->name) {
			free(mod);
			break;
		}
		/* what a first lookup does, the separate debug file's sections inflated included */
		if (!module_read(mod, &e, 0)) {
			module_open_dwfl(mod);
			if (mod->dwmod)
				dwfl_module_getdwarf(mod->dwmod, &bias);
		}
		pf->mods[i] = mod;
	}
	return NULL;
}

/* The load bias of mapping @e, or -ENOENT if no segment backs it. */
static int mapping_bias(const struct tm_symbolizer *s, const struct module *mod,
			const struct tm_map_entry *e, uint64_t *bias)
{
	const struct tm_elf_load *best = NULL;
	int best_score = -1;
	size_t i;

	for (i = 0; i < mod->file.nr_loads; i++) {
		const struct tm_elf_load *l = &mod->file.loads[i];
		uint64_t first = l->offset & ~(s->page_size - 1);
		int score = 0;

		if (e->offset < first || e->offset >= l->offset + l->filesz)
			continue;
		/*
		 * Two segments can share a file page (text ending, data starting):
		 * prefer the one the mapping starts with, then matching permissions.
		 */
		if (first == e->offset)
			score += 2;
		if (!!(l->flags & PF_X) == !!(e->flags & TM_MAP_EXEC))
			score += 1;
		if (score > best_score) {
			best = l;
			best_score = score;
		}
	}
	if (!best)
		return -ENOENT;
	*bias = e->start - e->offset - (best->vaddr - best->offset);
	return 0;
}

static const struct sym_ent *find_sym(const struct module *mod, uint64_t vaddr)
{
	size_t lo = 0, hi = mod->nr_syms, k, walked;

	/* lo = number of symbols starting at or below vaddr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mod->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = lo, walked = 0; k > 0 && walked < ENCLOSING_WALK; k--, walked++) {
		const struct sym_ent *sym = &mod->syms[k - 1];

		if (sym->size) {
			if (vaddr - sym->addr < sym->size)
				return sym;
			continue;
		}
		/* unsized (hand-written assembly): good up to the next symbol only */
		if (k == lo)
			return sym;
	}
	return NULL;
}

static int cu_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

static void module_build_cus(struct module *mod)
{
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Die cudie;
	uint8_t unit_type;
	Dwarf_Half version;
	size_t cap = 0;

	mod->cus_built = true;
	mod->dw = dwfl_module_getdwarf(mod->dwmod, &mod->dw_cu_bias);
	if (!mod->dw)
		return;
	while (dwarf_get_units(mod->dw, cu, &next, &version, &unit_type, &cudie, NULL) == 0) {
		Dwarf_Addr base, lo, hi;
		ptrdiff_t it = 0;

		cu = next;
		if (unit_type != DW_UT_compile && unit_type != DW_UT_partial &&
		    unit_type != DW_UT_skeleton)
			continue;
		while ((it = dwarf_ranges(&cudie, it, &base, &lo, &hi)) > 0) {
			if (lo >= hi)
				continue;
			if (mod->nr_cus == cap) {
				struct cu_range *v;

				cap = cap ? cap * 2 : 64;
				v = realloc(mod->cus, cap * sizeof(*v));
				if (!v)
					return;  /* keep what we have */
				mod->cus = v;
			}
			mod->cus[mod->nr_cus++] =
				(struct cu_range){ .lo = lo, .hi = hi, .cu = cudie };
		}
	}
	qsort(mod->cus, mod->nr_cus, sizeof(*mod->cus), cu_cmp);
}

/* The line at libdwfl address @dwaddr through the CU range table. */
static Dwarf_Line *cu_getsrc(struct module *mod, Dwarf_Addr dwaddr)
{
	size_t lo = 0, hi, k, walked;
	Dwarf_Addr a;

	if (!mod->cus_built)
		module_build_cus(mod);
	if (!mod->nr_cus || dwaddr < mod->dw_cu_bias)
		return NULL;
	a = dwaddr - mod->dw_cu_bias;
	hi = mod->nr_cus;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mod->cus[mid].lo <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = lo, walked = 0; k > 0 && walked < ENCLOSING_WALK; k--, walked++) {
		struct cu_range *r = &mod->cus[k - 1];

		if (a < r->hi)
			return dwarf_getsrc_die(&r->cu, a);
	}
	return NULL;
}

int tm_symbolizer__open_modules(struct tm_symbolizer *s, const struct tm_maps *m, pid_t pid)
{
	char path[4096];
	struct module *mod;
	size_t i;

	if (!s || !m)
		return -EINVAL;
	for (i = 0; i < m->nr; i++) {
		const struct tm_map_entry *e = &m->entries[i];

		if (!(e->flags & TM_MAP_EXEC) || e->path[0] != '/')
			continue;
		mod = module_get(s, e);
		if (!mod)
			return -ENOMEM;
		if (mod->opened || !tm_maps__entry_path(0, e, path, sizeof(path)))
			continue; /* open already, or reachable by its path later */
		module_open(s, mod, e, pid);
	}
	return 0;
}

/* What link-time address @vlook of @mod is: function, offset in it, file and line. */
static void resolve_vaddr(struct module *mod, uint64_t vlook, struct addr_ent *out)
{
	const struct sym_ent *sym = find_sym(mod, vlook);

	memset(out, 0, sizeof(*out));
	out->mod = mod;
	out->vlook = vlook;
	if (sym) {
		out->function = sym->name;
		out->fn_off = vlook - sym->addr;
	}

	if (!mod->dw_tried)
		module_open_dwfl(mod);
	if (mod->dwmod) {
		Dwarf_Addr dwaddr = vlook + mod->dwbias;
		Dwfl_Line *line;
		int lineno = 0;

		/* no .symtab here: a separate debug file may still have one */
		if (!sym && !mod->has_symtab) {
			GElf_Off off;
			GElf_Sym gs;
			const char *name;

			name = dwfl_module_addrinfo(mod->dwmod, dwaddr, &off, &gs, NULL, NULL,
						    NULL);
			if (name) {
				out->function = name;
				out->fn_off = off;
			}
		}
		line = dwfl_module_getsrc(mod->dwmod, dwaddr);
		if (line) {
			out->file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
		} else {
			Dwarf_Line *dl = cu_getsrc(mod, dwaddr);

			if (dl && dwarf_lineno(dl, &lineno) == 0)
				out->file = dwarf_linesrc(dl, NULL, NULL);
		}
		out->line = out->file && lineno > 0 ? (uint32_t)lineno : 0;
		if (!out->line)
			out->file = NULL;
	}
}

int tm_symbolizer__resolve(struct tm_symbolizer *s, const struct tm_maps *m, pid_t pid,
			   uint64_t addr, unsigned int flags, struct tm_sym *out)
{
	uint64_t look = addr, bias, vlook;
	const struct tm_map_entry *e;
	const struct addr_ent *hit;
	struct addr_ent ent;
	struct module *mod;

	if (!s || !m || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if ((flags & TM_SYM_RETADDR) && addr)
		look = addr - 1;

	e = tm_maps__find(m, look);
	if (!e)
		return -ENOENT;
	out->is_exec = !!(e->flags & TM_MAP_EXEC);
	if (!e->path[0])
		return 0; /* anonymous: JIT code or a bad frame */

	mod = module_get(s, e);
	if (!mod)
		return -ENOMEM;
	out->module = mod->name;
	if (!mod->opened)
		module_open(s, mod, e, pid);
	if (mod->err || mapping_bias(s, mod, e, &bias))
		return 0;
	out->vaddr = addr - bias;
	vlook = look - bias;

	hit = addr_find(s, mod, vlook);
	if (!hit) {
		resolve_vaddr(mod, vlook, &ent);
		addr_add(s, &ent);
		hit = &ent;
	}
	out->function = hit->function;
	out->offset = hit->function ? hit->fn_off + (addr - look) : 0;
	out->file = hit->file;
	out->line = hit->line;
	return 0;
}

int tm_symbolizer__prefetch(struct tm_symbolizer *s, const char *const *paths, size_t n)
{
	size_t i;
	int err;

	if (!s || s->pf.paths)
		return -EINVAL; /* once per symbolizer */
	if (!n)
		return 0;
	s->pf.paths = calloc(n, sizeof(*s->pf.paths));
	s->pf.mods = calloc(n, sizeof(*s->pf.mods));
	if (!s->pf.paths || !s->pf.mods)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		/* as the maps name it: absolute (a command run as ./app or .output/app names a relative one) */
		s->pf.paths[s->pf.n] = realpath(paths[i], NULL);
		if (s->pf.paths[s->pf.n])
			s->pf.n++;
	}
	if (!s->pf.n)
		return 0;
	err = -pthread_create(&s->pf.thread, NULL, prefetch_main, &s->pf);
	if (err)
		return err;
	s->pf.owner = getpid();
	return 0;
}
