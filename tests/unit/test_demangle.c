/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#include <errno.h>

#include "util/demangle.h"
#include "tm_test.h"

static void check(const char *sym, int want, const char *readable)
{
	char out[256] = "untouched";

	TM_CHECK_EQ_U64(tm_demangle(sym, out, sizeof(out)), want);
	TM_CHECK_STR(out, readable);
}

int main(void)
{
	char small[8];

	/* C++ (Itanium ABI): operator new, a constructor, a template, an overload */
	check("_Znwm", 1, "operator new(unsigned long)");
	check("_ZdlPvm", 1, "operator delete(void*, unsigned long)");
	check("_ZN13TCMallocGuardC1Ev", 1, "TCMallocGuard::TCMallocGuard()");
	check("_ZN6shapes4PoolINS_4NodeEE4makeEv", 1, "shapes::Pool<shapes::Node>::make()");
	check("_ZN6shapes11make_bufferEm", 1, "shapes::make_buffer(unsigned long)");
	/* Rust, legacy (hash dropped) and v0 */
	check("_ZN4core3fmt5write17h0123456789abcdefE", 1, "core::fmt::write");
	check("_RNvCs1234_7mycrate3foo", 1, "mycrate::foo");
	check("_RNvMs_NtCs4fqI2P2rA04_4core3fmtNtB4_9Formatter3pad", 1, "<core::fmt::Formatter>::pad");
	/* C names and junk are left alone */
	check("malloc", 0, "untouched");
	check("_start", 0, "untouched");
	check("_Zjunk", 0, "untouched");
	check("", 0, "untouched");
	TM_CHECK_EQ_U64(tm_demangle(NULL, small, sizeof(small)), 0);
	TM_CHECK_EQ_U64(tm_demangle("_ZN13TCMallocGuardC1Ev", small, sizeof(small)), -ENAMETOOLONG);
	return tm_test_done("demangle");
}
