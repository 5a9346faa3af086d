# Target for tests/python_walk: allocations at known Python stacks.
#
# Protocol (stdin/stdout with the loader): print "ready", wait for one line
# on stdin, run the scenarios, print one expectation per allocation, "done".
# An expectation is tab-separated: size, depth (all Python frames, as
# sys._getframe() sees them), then func, file, line per frame, innermost
# first. Every allocation size is unique, in [BASE, BASE + 256).
#
# Usage: walk_target.py [bench DEPTH COUNT]
import sys, threading, ctypes, mmap, time

BASE = 7777000
libc = ctypes.CDLL(None)            # CDLL: the GIL is released around each call
_malloc = libc.malloc
_malloc.restype = ctypes.c_void_p
_malloc.argtypes = [ctypes.c_size_t]
_free = libc.free
_free.argtypes = [ctypes.c_void_p]
_out = []


def _name(code):
    return getattr(code, 'co_qualname', code.co_name)


def _expect(size, frame, line):
    frames = [(_name(frame.f_code), frame.f_code.co_filename, line)]
    f = frame.f_back
    while f is not None:
        frames.append((_name(f.f_code), f.f_code.co_filename, f.f_lineno))
        f = f.f_back
    _out.append('\t'.join([str(size), str(len(frames))] +
                          ['%s\t%s\t%d' % fr for fr in frames]))


def alloc(k):
    size = BASE + k
    _expect(size, sys._getframe(0), sys._getframe(0).f_lineno + 1)
    p = _malloc(size)
    _free(p)


def alloc_mmap(k):
    size = BASE + k
    _expect(size, sys._getframe(0), sys._getframe(0).f_lineno + 1)
    m = mmap.mmap(-1, size)
    m.close()


# 1. plain calls
def leaf():
    alloc(1)


def middle():
    leaf()


# 2. a thread in a GIL-releasing call while another thread spins in Python
def worker(started, stop):
    started.set()
    alloc(2)
    stop.set()


def threads():
    started, stop = threading.Event(), threading.Event()
    t = threading.Thread(target=worker, args=(started, stop))
    t.start()
    n = 0
    while not stop.is_set():
        n += 1                      # hold the GIL as much as we can
    t.join()


# 3. generators, driven from Python and from C
def gen(k):
    yield 1
    alloc(k)
    yield 2


def generators():
    for _ in gen(3):
        pass
    list(gen(4))
    g = gen(5)
    next(g)
    next(g)


# 4. class __init__ reached through a specialized call (3.13 pushes a shim frame)
class Made:
    def __init__(self, i):
        if i == 4999:
            alloc(6)


def make():
    for i in range(5000):
        Made(i)


# 5. a Python callback called from C
def keyfn(x):
    if x == 2:
        alloc(7)
    return x


def callbacks():
    sorted([3, 1, 2], key=keyfn)


# 6. closures (cells made before the frame starts) and lambdas
def closure():
    v = 8

    def inner():
        return (lambda: alloc(v))()
    inner()


# 7. deep recursion: more frames than the capture holds
def recurse(n):
    if n == 0:
        alloc(9)
    else:
        recurse(n - 1)


# 8. non-ASCII names: Latin-1, UCS-2, UCS-4 storage
def grüße():
    alloc(10)


def 函数():
    grüße()


def 𠀀():
    函数()


# 9. the mmap syscall tracepoint
def mapper():
    alloc_mmap(11)


def scenarios():
    middle()
    threads()
    generators()
    make()
    callbacks()
    closure()
    recurse(100)
    𠀀()
    mapper()


def bench(depth, count):
    if depth > 0:
        return bench(depth - 1, count)
    for _ in range(count):
        p = _malloc(BASE + 200)
        _free(p)


def main():
    print('ready', flush=True)
    sys.stdin.readline()
    if len(sys.argv) > 1 and sys.argv[1] == 'bench':
        # bench(depth) adds `depth` frames on top of main and <module>
        bench(int(sys.argv[2]) - 2, int(sys.argv[3]))
    else:
        scenarios()
    for line in _out:
        print(line)
    print('done', flush=True)


main()
