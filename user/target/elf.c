/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * elf.c: symbol, segment and dynamic-section lookups on libelf.
 *
 * Symbol versions come in two spellings. In .dynsym the name is bare and the
 * version sits in the parallel .gnu.version table (index into .gnu.version_d,
 * high bit set for a hidden, i.e. non-default, version). In .symtab the
 * version, when there is one, is spelled into the name: "name@@VER" for the
 * default, "name@VER" for an older one. Both are handled.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/elf.h"
#include "util/log.h"

#define VERSYM_HIDDEN 0x8000
#define VERSYM_INDEX  0x7fff

int tm_elf__open_fd(int fd, struct tm_elf *e)
{
	size_t n, i;
	int err = -ENOEXEC;

	memset(e, 0, sizeof(*e));
	e->fd = fd;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		err = -ENOSYS;
		goto fail;
	}
	e->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e->elf) {
		pr_debug("elf: %s\n", elf_errmsg(-1));
		goto fail;
	}
	if (elf_kind(e->elf) != ELF_K_ELF || gelf_getclass(e->elf) == ELFCLASSNONE ||
	    !gelf_getehdr(e->elf, &e->ehdr) || elf_getphdrnum(e->elf, &n))
		goto fail;
	e->loads = calloc(n ? n : 1, sizeof(*e->loads));
	if (!e->loads) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		e->loads[e->nr_loads++] = (struct tm_elf_load){
			.vaddr = ph.p_vaddr,
			.offset = ph.p_offset,
			.filesz = ph.p_filesz,
			.flags = ph.p_flags,
		};
	}
	return 0;
fail:
	tm_elf__close(e);
	return err;
}

int tm_elf__open(const char *path, struct tm_elf *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		memset(e, 0, sizeof(*e));
		e->fd = -1;
		return -errno;
	}
	return tm_elf__open_fd(fd, e);
}

void tm_elf__close(struct tm_elf *e)
{
	if (e->elf)
		elf_end(e->elf);
	if (e->fd > 0)
		close(e->fd);
	free(e->loads);
	memset(e, 0, sizeof(*e));
	e->fd = -1;
}

/* The name of version @idx from a .gnu.version_d section, or NULL. */
static const char *verdef_name(Elf *elf, Elf_Scn *scn, uint16_t idx)
{
	GElf_Shdr shdr;
	Elf_Data *data;
	size_t off = 0, i;

	if (!scn || !gelf_getshdr(scn, &shdr))
		return NULL;
	data = elf_getdata(scn, NULL);
	if (!data)
		return NULL;
	/* sh_info is the number of definitions; it also bounds a corrupt chain */
	for (i = 0; i < shdr.sh_info; i++) {
		GElf_Verdef vd;
		GElf_Verdaux aux;

		if (!gelf_getverdef(data, off, &vd))
			return NULL;
		if (vd.vd_ndx == idx) {
			if (!gelf_getverdaux(data, off + vd.vd_aux, &aux))
				return NULL;
			return elf_strptr(elf, shdr.sh_link, aux.vda_name);
		}
		if (!vd.vd_next)
			return NULL;
		off += vd.vd_next;
	}
	return NULL;
}

struct sym_query {
	unsigned int kinds;     /* enum tm_elf_sym_kind */
	const char *bare;       /* the name up to any '@' */
	size_t bare_len;
	const char *version;    /* after "@" or "@@"; NULL: any version */
};

struct sym_best {
	int score;              /* -1: nothing yet */
	uint64_t value;
	uint64_t size;
	bool ifunc;
};

/* Higher is better: default version first, then binding strength. */
static int sym_score(const GElf_Sym *sym, bool is_default)
{
	int score = is_default ? 4 : 0;

	switch (GELF_ST_BIND(sym->st_info)) {
	case STB_GLOBAL:
		score += 2;
		break;
	case STB_WEAK:
		score += 1;
		break;
	}
	return score;
}

static unsigned int kind_of(int type)
{
	switch (type) {
	case STT_FUNC:
	case STT_GNU_IFUNC:
		return TM_ELF_SYM_FUNC;
	case STT_OBJECT:
	case STT_TLS:
	case STT_NOTYPE:
		return TM_ELF_SYM_DATA;
	default:
		return 0;
	}
}

static void scan_symbols(Elf *elf, Elf_Scn *scn, const GElf_Shdr *shdr, Elf_Data *versym,
			 Elf_Scn *verdef, const struct sym_query *q, struct sym_best *best)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t i, n;

	if (!data || !shdr->sh_entsize)
		return;
	n = shdr->sh_size / shdr->sh_entsize;
	for (i = 0; i < n; i++) {
		const char *name, *ver = NULL;
		bool is_default = true;
		GElf_Sym sym;
		size_t len;
		int score, type;

		if (!gelf_getsym(data, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if (sym.st_shndx == SHN_UNDEF || !(kind_of(type) & q->kinds))
			continue;
		name = elf_strptr(elf, shdr->sh_link, sym.st_name);
		if (!name)
			continue;
		len = strcspn(name, "@");
		if (len != q->bare_len || memcmp(name, q->bare, len))
			continue;

		if (name[len] == '@') {
			/* versioned spelling in the name itself */
			is_default = name[len + 1] == '@';
			ver = name + len + (is_default ? 2 : 1);
		} else if (versym) {
			GElf_Versym vs;

			if (gelf_getversym(versym, (int)i, &vs)) {
				is_default = !(vs & VERSYM_HIDDEN);
				/* 0 is local, 1 the unversioned base definition */
				if ((vs & VERSYM_INDEX) > 1)
					ver = verdef_name(elf, verdef, vs & VERSYM_INDEX);
			}
		}
		if (q->version && (!ver || strcmp(ver, q->version)))
			continue;

		score = sym_score(&sym, is_default);
		if (score > best->score) {
			best->score = score;
			best->value = sym.st_value;
			best->size = sym.st_size;
			best->ifunc = type == STT_GNU_IFUNC;
		}
	}
}

int tm_elf__vaddr_to_off(const struct tm_elf *e, uint64_t vaddr, uint64_t *off)
{
	size_t i;

	for (i = 0; i < e->nr_loads; i++) {
		const struct tm_elf_load *l = &e->loads[i];

		if (vaddr >= l->vaddr && vaddr - l->vaddr < l->filesz) {
			*off = vaddr - l->vaddr + l->offset;
			return 0;
		}
	}
	return -EINVAL;
}

int tm_elf__load_bias(const struct tm_elf *e, uint64_t map_start, uint64_t map_off, uint64_t *bias)
{
	size_t i;

	for (i = 0; i < e->nr_loads; i++) {
		const struct tm_elf_load *l = &e->loads[i];
		uint64_t lo = l->offset & ~0xfffULL;  /* mappings start on a page */

		if (map_off >= lo && map_off < l->offset + l->filesz) {
			*bias = map_start - (l->vaddr - l->offset + map_off);
			return 0;
		}
	}
	return -ENOENT;
}

int tm_elf__lookup(const struct tm_elf *e, const char *name, unsigned int kinds, uint64_t *value,
		   uint64_t *size, bool *ifunc)
{
	struct sym_best best = { .score = -1 };
	Elf_Scn *scn = NULL, *verdef = NULL;
	Elf_Data *versym = NULL;
	struct sym_query q;

	if (!e || !e->elf || !name || !*name)
		return -EINVAL;
	q.kinds = kinds;
	q.bare = name;
	q.bare_len = strcspn(name, "@");
	q.version = NULL;
	if (name[q.bare_len] == '@')
		q.version = name + q.bare_len + (name[q.bare_len + 1] == '@' ? 2 : 1);

	/* version tables first: they qualify .dynsym entries */
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr shdr;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		if (shdr.sh_type == SHT_GNU_versym)
			versym = elf_getdata(scn, NULL);
		else if (shdr.sh_type == SHT_GNU_verdef)
			verdef = scn;
	}
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr shdr;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		if (shdr.sh_type == SHT_SYMTAB)
			scan_symbols(e->elf, scn, &shdr, NULL, NULL, &q, &best);
		else if (shdr.sh_type == SHT_DYNSYM)
			scan_symbols(e->elf, scn, &shdr, versym, verdef, &q, &best);
	}
	if (best.score < 0)
		return -ENOENT;
	if (value)
		*value = best.value;
	if (size)
		*size = best.size;
	if (ifunc)
		*ifunc = best.ifunc;
	return 0;
}

int tm_elf__find_symbol(const char *path, const char *name, uint64_t *file_off,
			uint64_t *vaddr, uint64_t *size)
{
	struct tm_elf e;
	uint64_t value, sz, off;
	bool ifunc;
	int err;

	if (!path || !name || !*name)
		return -EINVAL;
	err = tm_elf__open(path, &e);
	if (err)
		return err;
	err = tm_elf__lookup(&e, name, TM_ELF_SYM_FUNC, &value, &sz, &ifunc);
	if (err)
		goto out;
	if (ifunc) {
		/* matched, but a probe there would only see the resolver run once */
		pr_debug("elf: %s: %s is an indirect function\n", path, name);
		err = -ENOTSUP;
		goto out;
	}
	err = tm_elf__vaddr_to_off(&e, value, &off);
	if (err) {
		pr_debug("elf: %s: %s at 0x%llx is in no loadable segment\n", path, name,
			 (unsigned long long)value);
		goto out;
	}
	if (file_off)
		*file_off = off;
	if (vaddr)
		*vaddr = value;
	if (size)
		*size = sz;
out:
	tm_elf__close(&e);
	return err;
}

int tm_elf__find_many(const char *path, int exported, const char *const *names, size_t n,
		      struct tm_elf_sym *out)
{
	Elf_Scn *scn = NULL;
	Elf_Data *versym = NULL;
	size_t i, j, found = 0;
	struct tm_elf e;
	Elf *elf;
	int err;

	memset(out, 0, n * sizeof(*out));
	err = tm_elf__open(path, &e);
	if (err)
		return err;
	elf = e.elf;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;

		if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_GNU_versym)
			versym = elf_getdata(scn, NULL);
	}
	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		GElf_Shdr shdr;
		size_t nsym;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != (exported ? SHT_DYNSYM : SHT_SYMTAB))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !shdr.sh_entsize)
			continue;
		nsym = shdr.sh_size / shdr.sh_entsize;
		for (i = 0; i < nsym; i++) {
			int type, bind;
			const char *name;
			GElf_Versym vs;
			GElf_Sym sym;

			if (!gelf_getsym(data, (int)i, &sym))
				break;
			type = GELF_ST_TYPE(sym.st_info);
			bind = GELF_ST_BIND(sym.st_info);
			if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
			    (bind != STB_GLOBAL && bind != STB_WEAK))
				continue;
			/* an older version kept for old binaries is not what a new lookup binds to */
			if (exported && versym && gelf_getversym(versym, (int)i, &vs) && (vs & VERSYM_HIDDEN))
				continue;
			name = elf_strptr(elf, shdr.sh_link, sym.st_name);
			if (!name)
				continue;
			for (j = 0; j < n; j++) {
				if (out[j].vaddr || strcmp(name, names[j]))
					continue;
				if (type == STT_GNU_IFUNC || tm_elf__vaddr_to_off(&e, sym.st_value, &out[j].file_off))
					break;
				out[j].vaddr = sym.st_value;
				out[j].size = sym.st_size;
				found++;
				break;
			}
		}
	}
	tm_elf__close(&e);
	return found ? 0 : -ENOENT;
}

int tm_elf__read_code(const char *path, uint64_t file_off, void *buf, size_t len)
{
	size_t done = 0;
	int fd, err = 0;

	if (!path || (!buf && len))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(file_off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0) {
			err = -EIO;
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	return err;
}

static int add_needed(struct tm_elf_info *info, const char *name)
{
	char **v, *s;

	s = strdup(name);
	if (!s)
		return -ENOMEM;
	v = realloc(info->needed, (info->nr_needed + 1) * sizeof(*v));
	if (!v) {
		free(s);
		return -ENOMEM;
	}
	v[info->nr_needed++] = s;
	info->needed = v;
	if (!strncmp(name, "libc.so", 7))
		info->needs_libc = true;
	return 0;
}

static void add_path(struct tm_elf_info *info, int64_t tag, const char *dirs)
{
	if (tag == DT_RUNPATH)
		snprintf(info->runpath, sizeof(info->runpath), "%s", dirs);
	else
		snprintf(info->rpath, sizeof(info->rpath), "%s", dirs);
}

/* DT_NEEDED (and the search paths) through the section headers, the usual way. */
static int read_needed_scn(Elf *elf, Elf_Scn *scn, const GElf_Shdr *shdr, struct tm_elf_info *info)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t i, n;
	int err;

	if (!data || !shdr->sh_entsize)
		return 0;
	n = shdr->sh_size / shdr->sh_entsize;
	for (i = 0; i < n; i++) {
		const char *name;
		GElf_Dyn dyn;

		if (!gelf_getdyn(data, (int)i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH && dyn.d_tag != DT_RPATH)
			continue;
		name = elf_strptr(elf, shdr->sh_link, dyn.d_un.d_val);
		if (!name)
			continue;
		if (dyn.d_tag != DT_NEEDED) {
			add_path(info, dyn.d_tag, name);
			continue;
		}
		err = add_needed(info, name);
		if (err)
			return err;
	}
	return 0;
}

/* DT_NEEDED through PT_DYNAMIC, for files whose section headers were stripped. */
static int read_needed_phdr(const struct tm_elf *e, const GElf_Phdr *ph, struct tm_elf_info *info)
{
	Elf *elf = e->elf;
	uint64_t strtab = 0, strsz = 0, stroff;
	Elf_Data *dyn_data, *str_data;
	size_t i, n;
	int err = 0;

	dyn_data = elf_getdata_rawchunk(elf, (int64_t)ph->p_offset, ph->p_filesz, ELF_T_DYN);
	if (!dyn_data)
		return 0;
	n = ph->p_filesz / gelf_fsize(elf, ELF_T_DYN, 1, EV_CURRENT);
	for (i = 0; i < n; i++) {
		GElf_Dyn dyn;

		if (!gelf_getdyn(dyn_data, (int)i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag == DT_STRTAB)
			strtab = dyn.d_un.d_ptr;
		else if (dyn.d_tag == DT_STRSZ)
			strsz = dyn.d_un.d_val;
	}
	if (!strtab || !strsz || tm_elf__vaddr_to_off(e, strtab, &stroff))
		return 0;
	str_data = elf_getdata_rawchunk(elf, (int64_t)stroff, strsz, ELF_T_BYTE);
	if (!str_data)
		return 0;
	for (i = 0; i < n && !err; i++) {
		const char *s = str_data->d_buf;
		GElf_Dyn dyn;

		if (!gelf_getdyn(dyn_data, (int)i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if ((dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH && dyn.d_tag != DT_RPATH) ||
		    dyn.d_un.d_val >= strsz)
			continue;
		if (!memchr(s + dyn.d_un.d_val, '\0', strsz - dyn.d_un.d_val))
			continue;
		if (dyn.d_tag != DT_NEEDED)
			add_path(info, dyn.d_tag, s + dyn.d_un.d_val);
		else
			err = add_needed(info, s + dyn.d_un.d_val);
	}
	return err;
}

/* Look for NT_GNU_BUILD_ID in one note area; true when found. */
static bool find_build_id(Elf_Data *data, struct tm_elf_info *info)
{
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	while (data && off < data->d_size &&
	       (next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    !memcmp((char *)data->d_buf + name_off, "GNU", 4) &&
		    nh.n_descsz > 0 && nh.n_descsz <= TM_ELF_BUILD_ID_MAX) {
			memcpy(info->build_id, (char *)data->d_buf + desc_off, nh.n_descsz);
			info->build_id_len = nh.n_descsz;
			return true;
		}
		off = next;
	}
	return false;
}

int tm_elf__info(const char *path, struct tm_elf_info *info)
{
	GElf_Phdr dyn_ph = { .p_type = PT_NULL };
	bool have_dyn_scn = false;
	Elf_Scn *scn = NULL;
	size_t shstrndx, i, n;
	struct tm_elf e;
	GElf_Ehdr eh;
	Elf *elf;
	int err;

	if (!path || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	err = tm_elf__open(path, &e);
	if (err)
		return err;
	elf = e.elf;
	eh = e.ehdr;
	info->type = eh.e_type;
	info->machine = eh.e_machine;
	info->elf_class = (uint8_t)gelf_getclass(elf);

	if (elf_getphdrnum(elf, &n))
		n = 0;
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;
		Elf_Data *d;

		if (!gelf_getphdr(elf, (int)i, &ph))
			continue;
		switch (ph.p_type) {
		case PT_INTERP:
			d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
						 ELF_T_BYTE);
			if (!d)
				break;
			info->has_interp = true;
			snprintf(info->interp, sizeof(info->interp), "%.*s",
				 (int)strnlen(d->d_buf, d->d_size), (const char *)d->d_buf);
			break;
		case PT_NOTE:
			if (info->build_id_len)
				break;
			d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
						 ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
			find_build_id(d, info);
			break;
		case PT_DYNAMIC:
			dyn_ph = ph;
			break;
		}
	}

	if (elf_getshdrstrndx(elf, &shstrndx))
		shstrndx = SHN_UNDEF;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;
		GElf_Shdr shdr;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		switch (shdr.sh_type) {
		case SHT_SYMTAB:
			info->has_symtab = true;
			break;
		case SHT_DYNSYM:
			info->has_dynsym = true;
			break;
		case SHT_DYNAMIC:
			if (have_dyn_scn)
				break;
			have_dyn_scn = true;
			err = read_needed_scn(elf, scn, &shdr, info);
			if (err)
				goto out;
			break;
		case SHT_NOTE:
			if (!info->build_id_len)
				find_build_id(elf_getdata(scn, NULL), info);
			break;
		case SHT_PROGBITS:
			name = NULL;
			if (shstrndx != SHN_UNDEF)
				name = elf_strptr(elf, shstrndx, shdr.sh_name);
			if (name && (!strcmp(name, ".debug_info") || !strcmp(name, ".zdebug_info")))
				info->has_debug_info = true;
			break;
		}
	}
	if (!have_dyn_scn && dyn_ph.p_type == PT_DYNAMIC)
		err = read_needed_phdr(&e, &dyn_ph, info);
out:
	tm_elf__close(&e);
	if (err)
		tm_elf_info__free(info);
	return err;
}

void tm_elf_info__free(struct tm_elf_info *info)
{
	size_t i;

	if (!info)
		return;
	for (i = 0; i < info->nr_needed; i++)
		free(info->needed[i]);
	free(info->needed);
	memset(info, 0, sizeof(*info));
}

int tm_elf__search_dirs(const char *dirs, const char *origin, const char *name, char *out, size_t len)
{
	const char *p = dirs;

	if (!dirs || !name || !out || !len)
		return -EINVAL;
	while (*p) {
		const char *end = strchrnul(p, ':');
		char dir[PATH_MAX], cand[PATH_MAX];
		size_t n = 0;
		const char *q;
		struct stat st;
		int bad = 0;

		/* $ORIGIN and ${ORIGIN}; any other $TOKEN makes the entry unusable here */
		for (q = p; q < end && !bad; q++) {
			const char *tok = NULL;
			size_t skip = 0;

			if (*q == '$' && end - q >= 7 && !strncmp(q, "$ORIGIN", 7)) {
				tok = origin;
				skip = 7;
			} else if (*q == '$' && end - q >= 9 && !strncmp(q, "${ORIGIN}", 9)) {
				tok = origin;
				skip = 9;
			} else if (*q == '$') {
				bad = 1;
				break;
			}
			if (tok) {
				if (!origin || n + strlen(tok) >= sizeof(dir)) {
					bad = 1;
					break;
				}
				memcpy(dir + n, tok, strlen(tok));
				n += strlen(tok);
				q += skip - 1;
			} else {
				if (n + 1 >= sizeof(dir)) {
					bad = 1;
					break;
				}
				dir[n++] = *q;
			}
		}
		dir[n] = 0;
		/* An empty entry means the current directory to ld.so. */
		if (!bad && (size_t)snprintf(cand, sizeof(cand), "%s/%s", n ? dir : ".", name) < sizeof(cand) &&
		    !stat(cand, &st) && S_ISREG(st.st_mode)) {
			if ((size_t)snprintf(out, len, "%s", cand) >= len)
				return -ENAMETOOLONG;
			return 0;
		}
		p = *end ? end + 1 : end;
	}
	return -ENOENT;
}

int tm_elf__locate(const char *path, const struct tm_elf_info *info, const char *name, char *out, size_t len)
{
	/* glibc's built-in directories, and those Debian's /etc/ld.so.conf.d adds */
	static const char defaults[] = "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64:/usr/lib64:"
				       "/lib:/usr/lib:/usr/local/lib/x86_64-linux-gnu:/usr/local/lib";
	char real[PATH_MAX], *slash;
	const char *env;
	int err = -ENOENT;

	if (strchr(name, '/'))
		return (size_t)snprintf(out, len, "%s", name) < len ? 0 : -ENAMETOOLONG;
	if (!realpath(path, real))
		snprintf(real, sizeof(real), "%s", path);
	slash = strrchr(real, '/');
	if (slash)
		*slash = 0;
	else
		snprintf(real, sizeof(real), ".");
	if (!info->runpath[0] && info->rpath[0])
		err = tm_elf__search_dirs(info->rpath, real, name, out, len);
	env = getenv("LD_LIBRARY_PATH");
	if (err == -ENOENT && env && *env)
		err = tm_elf__search_dirs(env, real, name, out, len);
	if (err == -ENOENT && info->runpath[0])
		err = tm_elf__search_dirs(info->runpath, real, name, out, len);
	if (err == -ENOENT)
		err = tm_elf__search_dirs(defaults, NULL, name, out, len);
	return err;
}

int tm_elf__find_needed(const char *path, const char *prefix, char *out, size_t len)
{
	struct tm_elf_info info;
	const char *name = NULL;
	size_t i;
	int err;

	err = tm_elf__info(path, &info);
	if (err)
		return err;
	for (i = 0; i < info.nr_needed && !name; i++)
		if (!strncmp(info.needed[i], prefix, strlen(prefix)))
			name = info.needed[i];
	err = name ? tm_elf__locate(path, &info, name, out, len) : -ENOENT;
	tm_elf_info__free(&info);
	return err;
}

/* The [addr, addr + size) of section @name; -ENOENT without one. */
static int section_span(const struct tm_elf *e, const char *name, GElf_Shdr *out)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(e->elf, &shstrndx))
		return -ENOEXEC;
	while ((scn = elf_nextscn(e->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, out))
			continue;
		n = elf_strptr(e->elf, shstrndx, out->sh_name);
		if (n && !strcmp(n, name))
			return 0;
	}
	return -ENOENT;
}

int tm_elf__section(const struct tm_elf *e, const char *name, uint64_t *addr, const void **data, size_t *size)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(e->elf, &shstrndx))
		return -ENOEXEC;
	while ((scn = elf_nextscn(e->elf, scn))) {
		const char *n;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (!n || strcmp(n, name))
			continue;
		if (sh.sh_type == SHT_NOBITS)
			return -ENOENT;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size != sh.sh_size)
			return -EIO;
		*addr = sh.sh_addr;
		*data = d->d_buf;
		*size = d->d_size;
		return 0;
	}
	return -ENOENT;
}

/*
 * x86-64 RIP-relative loads and indirect jumps/calls at code[i]: `mov
 * disp32(%rip),%r64` (48/4c 8b, ModRM mod 00 rm 101) and `jmp/call
 * *disp32(%rip)` (ff 25 / ff 15). The address it reads, or 0. A byte scan,
 * not a decoder: a match inside another instruction's bytes is possible,
 * and rare enough for a count of hundreds against a handful.
 */
static uint64_t rip_ref(const uint8_t *code, size_t len, size_t i, uint64_t vaddr)
{
	int32_t d;

	if (i + 7 <= len && (code[i] == 0x48 || code[i] == 0x4c) && code[i + 1] == 0x8b &&
	    (code[i + 2] & 0xc7) == 0x05) {
		memcpy(&d, code + i + 3, 4);
		return vaddr + i + 7 + (int64_t)d;
	}
	if (i + 6 <= len && code[i] == 0xff && (code[i + 1] == 0x25 || code[i + 1] == 0x15)) {
		memcpy(&d, code + i + 2, 4);
		return vaddr + i + 6 + (int64_t)d;
	}
	return 0;
}

int tm_elf__slot_refs(const char *path, const char *fn, size_t head, unsigned long *refs)
{
	uint64_t value, slots[8], off;
	unsigned long n[8] = { 0 };
	size_t nslots = 0, i, j;
	GElf_Shdr text, got;
	struct tm_elf e;
	uint8_t *code = NULL;
	int err, have_got;

	*refs = 0;
	err = tm_elf__open(path, &e);
	if (err)
		return err;
	if (e.ehdr.e_machine != EM_X86_64) {
		err = -ENOTSUP;
		goto out;
	}
	err = tm_elf__lookup(&e, fn, TM_ELF_SYM_FUNC, &value, NULL, NULL);
	err = err ?: section_span(&e, ".text", &text);
	if (err)
		goto out;
	have_got = !section_span(&e, ".got", &got);
	if (value < text.sh_addr || value >= text.sh_addr + text.sh_size || text.sh_size > (1u << 30)) {
		err = -ENOENT;
		goto out;
	}
	code = malloc(text.sh_size);
	if (!code) {
		err = -ENOMEM;
		goto out;
	}
	err = tm_elf__read_code(path, text.sh_offset, code, text.sh_size);
	if (err)
		goto out;
	off = value - text.sh_addr;
	for (i = off; i < off + head && i < text.sh_size && nslots < 8; i++) {
		uint64_t s = rip_ref(code, text.sh_size, i, text.sh_addr);

		/* a GOT entry (3.12+'s &_PyRuntime) is read by half the library: not the function's own */
		if (s && !(have_got && s >= got.sh_addr && s < got.sh_addr + got.sh_size))
			slots[nslots++] = s;
	}
	for (i = 0; i < text.sh_size; i++) {
		uint64_t s = rip_ref(code, text.sh_size, i, text.sh_addr);

		for (j = 0; s && j < nslots; j++)
			n[j] += s == slots[j];
	}
	for (j = 0; j < nslots; j++)
		if (n[j] > *refs)
			*refs = n[j];
out:
	free(code);
	tm_elf__close(&e);
	return err;
}
