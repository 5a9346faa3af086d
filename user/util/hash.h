/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * hash.h: the one hash of tidemark's in-memory tables: 64-bit FNV-1a
 * (offset basis 0xcbf29ce484222325, prime 0x100000001b3). Short keys, a
 * good enough spread for open-addressing tables kept at most half full.
 * Not for anything an attacker chooses to collide: tables that hold
 * attacker-controlled keys bound their probing instead.
 */
#ifndef TIDEMARK_UTIL_HASH_H
#define TIDEMARK_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define TM_HASH_INIT  0xcbf29ce484222325ULL
#define TM_HASH_PRIME 0x100000001b3ULL

/* Continue hash @h over @len bytes at @data; start with TM_HASH_INIT. */
static inline uint64_t tm_hash(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * TM_HASH_PRIME;
	return h;
}

/* The same over a NUL-terminated string (the NUL not included). */
static inline uint64_t tm_hash_str(uint64_t h, const char *s)
{
	while (*s)
		h = (h ^ (unsigned char)*s++) * TM_HASH_PRIME;
	return h;
}

#endif
