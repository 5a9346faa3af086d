# Ground truth for tests/unit/test_pyline.c, produced by the interpreter
# that runs this script (any CPython 3.8-3.13).
#
# Output, one record per line:
#   V <PY_VERSION_HEX in hex>
#   C <co_firstlineno> <line table in hex or "-"> <n> <line(0)> ... <line(n-1)>
# where line(i) is CPython's own PyCode_Addr2Line() for the instruction at
# code unit i (byte offset 2*i), -1 for "no line". The table is co_lnotab
# on 3.8/3.9 and co_linetable from 3.10, the bytes a tracer reads.
#
# Code objects: a built-in sample of awkward constructs plus stdlib
# modules (the first TM_PYLINE_MODULES of them, sorted; default 40;
# "all" for every one).
import ctypes, glob, os, sys, sysconfig

SAMPLE = '''
import os
def plain(a, b=1, *c, **d):
    x = a + b
    y = [i * i for i in range(x)
         if i % 3]
    return (x,
            y,
            c)



''' + '\n' * 300 + '''
def after_gap():
    return 1 + \\
        2
class K:
    attr = 1
    def method(self):
        try:
            v = 1 / 0
        except ZeroDivisionError as e:
            v = e
        finally:
            v = None
        with open(os.devnull) as f:
            pass
        return lambda q: (q,
                          q)
    @staticmethod
    def gen():
        yield 1
        yield from range(3)
async def coro():
    async with ctx() as c:
        await c
    async for i in aiter():
        pass
def long_one():
''' + ''.join('    v%d = %d * %d + len("%s")\n' % (i, i, i, 'x' * (i % 7)) for i in range(400)) + '''
    return v0
def closure():
    cell = 1
    def inner():
        nonlocal cell
        cell += 1
        return cell
    return inner
def matchy(p):
    if p:
        return {k: v for k, v in p.items()}
    while p:
        p = p[1:]
    else:
        pass
'''


def codes(co):
    yield co
    for c in co.co_consts:
        if hasattr(c, 'co_code'):
            yield from codes(c)


def main():
    api = ctypes.pythonapi
    addr2line = api.PyCode_Addr2Line
    addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
    addr2line.restype = ctypes.c_int
    minor = sys.version_info[1]
    print('V %x' % sys.hexversion, flush=True)
    if not (3, 8) <= sys.version_info[:2] <= (3, 13):
        return                      # the reader stops here: not a version we decode

    sources = [('<sample>', SAMPLE)]
    want = os.environ.get('TM_PYLINE_MODULES', '40')
    files = sorted(glob.glob(os.path.join(sysconfig.get_paths()['stdlib'], '*.py')))
    if want != 'all':
        files = files[:int(want)]
    for fn in files:
        try:
            with open(fn, encoding='utf-8') as f:
                sources.append((fn, f.read()))
        except (OSError, UnicodeDecodeError):
            pass

    ncodes = noffs = nlines_disagree = 0
    for name, src in sources:
        try:
            top = compile(src, name, 'exec', dont_inherit=True)
        except SyntaxError:
            continue
        for co in codes(top):
            table = co.co_lnotab if minor <= 9 else co.co_linetable
            n = len(co.co_code) // 2
            lines = [addr2line(co, 2 * i) for i in range(n)]
            if minor >= 10:
                # co_lines() must agree with PyCode_Addr2Line: two views, one truth.
                for start, end, line in co.co_lines():
                    for off in range(start, end, 2):
                        if off // 2 < n and lines[off // 2] != (-1 if line is None else line):
                            nlines_disagree += 1
            print('C %d %s %d %s' % (co.co_firstlineno, table.hex() or '-', n,
                                     ' '.join(map(str, lines))))
            ncodes += 1
            noffs += n
    sys.stderr.write('gen_pyline_cases: %s: %d code objects, %d offsets, '
                     'co_lines() disagreements %d\n'
                     % (sys.version.split()[0], ncodes, noffs, nlines_disagree))


main()
