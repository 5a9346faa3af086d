/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sample.h: the tables behind byte-weighted sampling (see
 * include/tidemark_sample.h for the model and the arithmetic).
 */
#ifndef TIDEMARK_SAMPLE_USER_H
#define TIDEMARK_SAMPLE_USER_H

#include <linux/types.h>

/* q: TM_SAMPLE_Q + 1 entries; g: TM_SAMPLE_G + 1 entries. */
void tm_sample__fill_tables(__u32 *q, __u32 *g);

#endif
