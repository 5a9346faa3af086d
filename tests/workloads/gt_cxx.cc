// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gt_cxx: C++ allocations known to the byte, through operator new and the
 * sized and aligned operator delete (C++17: g++ calls operator
 * delete(void*, size_t) for a complete type). tests/integration/
 * test_allocators.py builds it with g++ and holds the same numbers.
 *
 *   kept at the end: 50 Nodes (2,000 bytes), 6 Wides (1,152), 5 buffers (5,000)
 */
#include <cstddef>
#include <new>

#define NOINLINE __attribute__((noinline))

namespace shapes
{

struct Node {
	char payload[40];
};

struct alignas(64) Wide {
	char payload[192];
};

template <typename T>
struct Pool {
	NOINLINE static T *make()
	{
		return new T;
	}
	NOINLINE static void drop(T *p)
	{
		delete p;
	}
};

NOINLINE char *make_buffer(std::size_t n)
{
	return new char[n];
}
NOINLINE void drop_buffer(char *p)
{
	delete[] p;
}

} // namespace shapes

static void *volatile sink;

int main()
{
	static shapes::Node *nodes[100];
	static shapes::Wide *wides[10];
	static char *bufs[10];
	int i;

	for (i = 0; i < 100; i++)
		nodes[i] = shapes::Pool<shapes::Node>::make(); /* 100 x 40 */
	for (i = 0; i < 50; i++)
		shapes::Pool<shapes::Node>::drop(nodes[i]); /* sized delete */
	for (i = 0; i < 10; i++)
		wides[i] = shapes::Pool<shapes::Wide>::make(); /* 10 x 192, aligned new */
	for (i = 0; i < 4; i++)
		shapes::Pool<shapes::Wide>::drop(wides[i]); /* sized aligned delete */
	for (i = 0; i < 10; i++)
		bufs[i] = shapes::make_buffer(1000); /* 10 x 1,000, new[] */
	for (i = 0; i < 5; i++)
		shapes::drop_buffer(bufs[i]); /* delete[] */
	sink = nodes[99];
	sink = wides[9];
	sink = bufs[9];
	return 0;
}
