// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * srcline.c: lines of source files for reports (see srcline.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/srcline.h"

struct tm_srcline_file {
	char *path;
	char *text; /* NULL: not readable (remembered, so not tried again) */
	size_t len;
};

static int source_name(const char *path)
{
	static const char *const ext[] = { ".py", ".pyx", ".pxd", ".pyi", ".c", ".h", ".cc", ".cpp", ".cxx",
					   ".hpp", ".hh", ".hxx", ".rs", ".go", ".java", ".js", ".ts", ".rb" };
	const char *dot = strrchr(path, '.');
	size_t i;

	if (!dot || strchr(dot, '/'))
		return 0;
	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (!strcmp(dot, ext[i]))
			return 1;
	return 0;
}

static void load(struct tm_srcline_file *f)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	if (!source_name(f->path))
		return;
	fd = open(f->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > TM_SRCLINE_FILE_MAX)
		goto out;
	f->text = malloc((size_t)st.st_size + 1);
	if (!f->text)
		goto out;
	while (got < (size_t)st.st_size && (n = read(fd, f->text + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	f->text[got] = '\0';
	f->len = got;
out:
	close(fd);
}

static struct tm_srcline_file *lookup(struct tm_srcline *c, const char *path)
{
	struct tm_srcline_file *f;
	unsigned int i;

	for (i = 0; i < TM_SRCLINE_CACHE; i++)
		if (c->f[i] && !strcmp(c->f[i]->path, path))
			return c->f[i];
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->path = strdup(path);
	if (!f->path) {
		free(f);
		return NULL;
	}
	load(f);
	i = c->next++ % TM_SRCLINE_CACHE;
	if (c->f[i]) {
		free(c->f[i]->path);
		free(c->f[i]->text);
		free(c->f[i]);
	}
	c->f[i] = f;
	return f;
}

int tm_srcline__get(struct tm_srcline *c, const char *path, uint32_t line, char *buf, size_t len)
{
	struct tm_srcline_file *f;
	const char *p, *end, *nl;
	size_t n;

	if (!path || !line || !len)
		return -ENOENT;
	f = lookup(c, path);
	if (!f || !f->text)
		return -ENOENT;
	p = f->text;
	end = f->text + f->len;
	while (--line) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return -ENOENT;
		p = nl + 1;
	}
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl)
		nl = end;
	while (p < nl && (*p == ' ' || *p == '\t'))
		p++;
	while (nl > p && (nl[-1] == ' ' || nl[-1] == '\t' || nl[-1] == '\r'))
		nl--;
	if (p == nl)
		return -ENOENT;
	n = (size_t)(nl - p) < len - 1 ? (size_t)(nl - p) : len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

void tm_srcline__free(struct tm_srcline *c)
{
	unsigned int i;

	for (i = 0; i < TM_SRCLINE_CACHE; i++) {
		if (!c->f[i])
			continue;
		free(c->f[i]->path);
		free(c->f[i]->text);
		free(c->f[i]);
		c->f[i] = NULL;
	}
}
