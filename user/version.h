/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* version.h: the one definition of tidemark's version (tidemark --version). */
#ifndef TIDEMARK_VERSION_H
#define TIDEMARK_VERSION_H

#define TM_VERSION "0.1.0"

#endif
